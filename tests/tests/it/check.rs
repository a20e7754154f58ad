//! `hunterd check`: one line per dependency, non-zero exit on any failure, and read-only.

use hunter_tests::dns::{DnsServer, Zone};
use hunter_tests::{Daemon, DaemonOptions, TestDb, hunterd_command, scratch_dir};
use std::path::Path;

/// Runs `hunterd check` for a daemon set up in `dir` on `db_url` (`""`: the embedded default);
/// returns (exit code, stdout).
fn check(dir: &Path, db_url: &str, extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let config = dir.join("hunterd.toml");
    if !config.exists() {
        std::fs::write(&config, "").unwrap();
    }
    let (config, state, socket) = (
        config.display().to_string(),
        dir.join("state").display().to_string(),
        dir.join("hunterd.sock").display().to_string(),
    );
    let mut env = vec![
        ("HUNTER_CONFIG", config.as_str()),
        ("HUNTER_STATE_DIR", state.as_str()),
        ("HUNTER_SOCKET", socket.as_str()),
        // Long enough for a loaded machine, short enough for the silent-resolver case.
        ("HUNTER_SCAN__TIMEOUT_MS", "2000"),
        ("HUNTER_SCAN__RETRIES", "0"),
    ];
    if !db_url.is_empty() {
        env.push(("HUNTER_DATABASE__URL", db_url));
    }
    env.extend_from_slice(extra);
    let out = hunterd_command(&["check"], &env);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn line<'a>(report: &'a str, status: &str, name: &str) -> Option<&'a str> {
    report.lines().find(|l| l.split_whitespace().take(2).eq([status, name]))
}

#[tokio::test]
async fn everything_in_order_with_a_live_daemon_passes() {
    let dns = DnsServer::start([Zone::new("contoso.com")]);
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let _daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;

    let nameserver = dns.nameserver();
    let (code, report) = check(dir.path(), &db.url, &[("HUNTER_SCAN__NAMESERVERS", &nameserver)]);

    assert_eq!(code, Some(0), "{report}");
    for name in ["config", "rules", "database", "schema", "socket", "dns", "enrichment"] {
        assert!(line(&report, "ok", name).is_some(), "{name} is not ok:\n{report}");
    }
    assert!(line(&report, "ok", "socket").unwrap().contains(&format!("protocol {}", protocol::PROTOCOL_VERSION)));
    assert!(line(&report, "ok", "schema").unwrap().contains("up to date"), "{report}");
}

#[tokio::test]
async fn a_resolver_that_does_not_answer_fails_the_check_and_is_named() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = silent.local_addr().unwrap().to_string();

    let (code, report) = check(dir.path(), &db.url, &[("HUNTER_SCAN__NAMESERVERS", &silent)]);

    assert_eq!(code, Some(1), "{report}");
    let dns = line(&report, "FAIL", "dns").unwrap_or_else(|| panic!("{report}"));
    assert!(dns.contains(&silent) && dns.contains("timeout"), "{dns}");
}

#[tokio::test]
async fn a_new_database_is_a_warning_and_is_left_untouched() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let dns = DnsServer::start([Zone::new("contoso.com")]);
    let nameserver = dns.nameserver();

    let (code, report) = check(dir.path(), &db.url, &[("HUNTER_SCAN__NAMESERVERS", &nameserver)]);

    assert_eq!(code, Some(0), "warnings do not fail the check:\n{report}");
    assert!(line(&report, "warn", "schema").is_some_and(|l| l.contains("hunterd migrate")), "{report}");
    assert!(line(&report, "warn", "socket").is_some_and(|l| l.contains("not started")), "{report}");
    let pool = db.pool().await;
    let migrated: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&pool).await.unwrap();
    assert!(!migrated, "check must not migrate");
    pool.close().await;
}

#[tokio::test]
async fn a_missing_enrichment_database_fails_naming_the_file() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let missing = dir.path().join("GeoLite2-ASN.mmdb").display().to_string();

    let (code, report) = check(
        dir.path(),
        &db.url,
        &[("HUNTER_FEATURES__IP_ENRICHMENT", "true"), ("HUNTER_ENRICHMENT__MAXMIND_ASN_DB", &missing)],
    );

    assert_eq!(code, Some(1), "{report}");
    let enrichment = line(&report, "FAIL", "enrichment").unwrap_or_else(|| panic!("{report}"));
    assert!(enrichment.contains(&missing) && enrichment.contains("file not found"), "{enrichment}");
}

/// An ASN database whose numbers are stored as strings: a layout the reader does not expect.
fn asn_db_with_string_numbers() -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct OddAsn {
        autonomous_system_number: String,
        autonomous_system_organization: String,
    }
    let mut db = maxminddb_writer::Database::default();
    db.metadata.ip_version = maxminddb_writer::metadata::IpVersion::V6;
    db.metadata.database_type = "GeoLite2-ASN".into();
    db.metadata.binary_format_major_version = 2;
    db.metadata.build_epoch = chrono::Utc::now().timestamp() as u64;
    let data = db
        .insert_value(OddAsn { autonomous_system_number: "8075".into(), autonomous_system_organization: "MSFT".into() })
        .unwrap();
    let v4_in_v6 = std::net::IpAddr::V6(std::net::Ipv6Addr::from(u128::from(0x3465_0000u32)));
    db.insert_node(maxminddb_writer::paths::IpAddrWithMask::new(v4_in_v6, 96 + 16), data);
    db.write_to(Vec::new()).unwrap()
}

#[tokio::test]
async fn an_enrichment_database_whose_records_cannot_be_decoded_is_a_warning_naming_file_and_network() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let path = dir.path().join("GeoLite2-ASN.mmdb");
    std::fs::write(&path, asn_db_with_string_numbers()).unwrap();
    let path = path.display().to_string();

    let (_, report) = check(
        dir.path(),
        &db.url,
        &[("HUNTER_FEATURES__IP_ENRICHMENT", "true"), ("HUNTER_ENRICHMENT__MAXMIND_ASN_DB", &path)],
    );

    let enrichment = line(&report, "warn", "enrichment").unwrap_or_else(|| panic!("{report}"));
    assert!(enrichment.contains(&path) && enrichment.contains("52.101.0.0/16"), "{enrichment}");
    assert!(enrichment.contains("cannot be decoded"), "{enrichment}");
}

#[tokio::test]
async fn a_bad_config_file_is_a_failed_config_line_naming_the_line() {
    let dir = scratch_dir();
    std::fs::write(dir.path().join("hunterd.toml"), "[scan]\ntimeout = 5\n").unwrap();

    let (code, report) = check(dir.path(), "postgres://postgres@127.0.0.1:5432/postgres", &[]);

    assert_eq!(code, Some(1), "{report}");
    let config = line(&report, "FAIL", "config").unwrap_or_else(|| panic!("{report}"));
    assert!(config.contains("hunterd.toml") && config.contains("line 2"), "{config}");
}

#[tokio::test]
async fn the_database_password_is_never_printed() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let with_password = db.url.replacen("postgres@", "postgres:s3cret-pw@", 1);
    assert_ne!(with_password, db.url, "the test URL has the expected shape");

    let (_, report) = check(dir.path(), &with_password, &[]);

    assert!(line(&report, "ok", "database").is_some(), "{report}");
    assert!(!report.contains("s3cret-pw"), "{report}");
}

#[tokio::test]
async fn next_to_an_embedded_daemon_the_check_uses_its_database_and_leaves_it_running() {
    let dns = DnsServer::start([Zone::new("contoso.com")]);
    let dir = scratch_dir();
    let daemon = Daemon::start(&DaemonOptions::in_dir(dir.path(), None)).await;

    let nameserver = dns.nameserver();
    let (code, report) = check(dir.path(), "", &[("HUNTER_SCAN__NAMESERVERS", &nameserver)]);

    assert_eq!(code, Some(0), "{report}");
    let database = line(&report, "ok", "database").unwrap_or_else(|| panic!("{report}"));
    assert!(database.contains("embedded") && database.contains("in use by hunterd pid"), "{database}");
    assert!(line(&report, "ok", "schema").is_some(), "{report}");
    let status = daemon.client().await.request(protocol::Request::Status).await;
    assert!(matches!(status, Ok(protocol::Response::Status(_))), "the daemon and its database still answer");
    let client = daemon.client().await;
    let leads = client.request(protocol::Request::ListLeads(Box::default())).await;
    assert!(matches!(leads, Ok(protocol::Response::Leads(_))), "its database still answers: {leads:?}");
}

#[tokio::test]
async fn a_malformed_config_line_holding_a_password_is_reported_without_it() {
    let dir = scratch_dir();
    std::fs::write(dir.path().join("hunterd.toml"), "[database]\nurl = \"postgres://hunter:s3cret-pw@db/hunter\n")
        .unwrap();

    let (code, report) = check(dir.path(), "", &[]);

    assert_eq!(code, Some(1), "{report}");
    assert!(line(&report, "FAIL", "config").is_some(), "{report}");
    assert!(!report.contains("s3cret-pw"), "{report}");
}

#[tokio::test]
async fn a_secret_file_other_users_can_read_fails_the_check_and_says_how_to_fix_it() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let key = dir.path().join("maxmind.key");
    std::fs::write(&key, "not-a-real-key\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let key_path = key.display().to_string();
    let env = [
        ("HUNTER_ENRICHMENT__MAXMIND_ACCOUNT_ID", "12345"),
        ("HUNTER_ENRICHMENT__MAXMIND_LICENSE_KEY_FILE", key_path.as_str()),
    ];

    let (code, report) = check(dir.path(), &db.url, &env);
    assert_eq!(code, Some(1), "{report}");
    let secrets = line(&report, "FAIL", "secrets").unwrap_or_else(|| panic!("{report}"));
    assert!(secrets.contains(&key_path) && secrets.contains("chmod o-rwx"), "{secrets}");
    assert!(!report.contains("not-a-real-key"), "{report}");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, report) = check(dir.path(), &db.url, &env);
    assert!(line(&report, "ok", "secrets").is_some(), "{report}");
}
