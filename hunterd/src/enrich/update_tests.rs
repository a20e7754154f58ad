//! Keeping databases fresh: the `geoip-databases` age report and the `geoip-download` job against a
//! local fake of MaxMind's download service.

use super::download::{self, target_for};
use super::freshness::{self, assess, build_date};
use super::tests::{Files, asn_db, city_db, ip2proxy_db};
use super::{EnrichmentService, SourceInfo};
use crate::config::EnrichmentConfig;
use chrono::{NaiveDate, TimeZone, Utc};
use std::path::PathBuf;
use std::time::Duration;
use wiremock::matchers::{basic_auth, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DAY: u64 = 86_400;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn epoch(y: i32, m: u32, d: u32) -> u64 {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap().timestamp() as u64
}

fn loaded(name: &'static str, path: &str, build: &str) -> SourceInfo {
    SourceInfo { name, path: PathBuf::from(path), build: Some(build.into()), error: None, warning: None }
}

#[test]
fn build_dates_are_read_from_maxmind_epochs_and_bin_headers() {
    let mm = build_date(&format!("GeoLite2-City@{}", epoch(2026, 11, 1))).unwrap();
    assert_eq!((mm.label.as_str(), mm.date), ("GeoLite2-City", date(2026, 11, 1)));
    let bin = build_date("IP2Proxy PX11 2026-10-01").unwrap();
    assert_eq!((bin.label.as_str(), bin.date), ("IP2Proxy PX11", date(2026, 10, 1)));
    assert_eq!(build_date("something else"), None);
}

#[test]
fn fresh_databases_are_summarised_with_build_date_and_age() {
    let sources = [
        loaded("maxmind-city", "/db/city.mmdb", &format!("GeoLite2-City@{}", epoch(2026, 11, 1))),
        loaded("ip2proxy", "/db/px.bin", "IP2Proxy PX11 2026-10-01"),
    ];
    let summary = assess(&sources, date(2026, 11, 23), Duration::from_secs(60 * DAY)).into_result().unwrap();
    assert_eq!(summary, "GeoLite2-City build 2026-11-01 (22 days old); IP2Proxy PX11 build 2026-10-01 (53 days old)");
}

#[test]
fn a_database_older_than_max_age_fails_naming_the_file_and_its_age() {
    let sources = [
        loaded("maxmind-city", "/db/city.mmdb", &format!("GeoLite2-City@{}", epoch(2026, 11, 1))),
        loaded("ip2proxy", "/db/px.bin", "IP2Proxy PX11 2026-10-01"),
    ];
    let error = assess(&sources, date(2026, 11, 23), Duration::from_secs(35 * DAY)).into_result().unwrap_err();
    let error = error.to_string();
    assert!(error.contains("/db/px.bin is 53 days old"), "{error}");
    assert!(!error.contains("/db/city.mmdb is"), "{error}");
    assert!(error.contains("GeoLite2-City build 2026-11-01 (22 days old)"), "the summary is kept: {error}");
}

#[test]
fn a_missing_or_corrupt_database_fails_with_its_error() {
    let broken = SourceInfo {
        name: "maxmind-asn",
        path: "/db/asn.mmdb".into(),
        build: None,
        error: Some("maxmind-asn database /db/asn.mmdb: corrupt, truncated or unreadable: file not found".into()),
        warning: None,
    };
    let error = assess(&[broken], date(2026, 11, 23), Duration::from_secs(35 * DAY)).into_result().unwrap_err();
    assert!(error.to_string().contains("/db/asn.mmdb"), "{error}");
}

#[test]
fn enrichment_on_with_no_database_configured_fails() {
    let error = assess(&[], date(2026, 11, 23), Duration::from_secs(35 * DAY)).into_result().unwrap_err();
    assert!(error.to_string().contains("no database is configured"), "{error}");
}

#[test]
fn the_job_reports_real_files_and_picks_up_a_replaced_one() {
    let files = Files::new();
    let asn_path = files.put("asn.mmdb", &asn_db(epoch(2026, 9, 1)));
    let config = EnrichmentConfig {
        maxmind_city_db: Some(files.put("city.mmdb", &city_db())),
        maxmind_asn_db: Some(asn_path.clone()),
        ip2proxy_db: Some(files.put("proxy.bin", &ip2proxy_db())),
        ..EnrichmentConfig::default()
    };
    let service = EnrichmentService::open(&config);
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    let max_age = config.max_age.0;

    // city_db() is from 2023 and the ASN file from September: both too old.
    let error = freshness::check(&service, now, max_age).unwrap_err().to_string();
    assert!(error.contains("city.mmdb is 1105 days old"), "{error}");
    assert!(error.contains("asn.mmdb is 83 days old"), "{error}");
    assert!(error.contains("IP2Proxy PX11 build 2026-11-01 (22 days old)"), "{error}");

    std::fs::write(
        config.maxmind_city_db.clone().unwrap(),
        super::tests::mmdb(
            "GeoLite2-City",
            epoch(2026, 11, 20),
            vec![("52.101.0.0/16", [("x", 1u32)].into_iter().collect::<std::collections::BTreeMap<_, _>>())],
        ),
    )
    .unwrap();
    std::fs::write(&asn_path, asn_db(epoch(2026, 11, 17))).unwrap();
    let summary = freshness::check(&service, now, max_age).unwrap();
    assert_eq!(
        summary,
        "GeoLite2-City build 2026-11-20 (3 days old); GeoLite2-ASN build 2026-11-17 (6 days old); \
         IP2Proxy PX11 build 2026-11-01 (22 days old)"
    );
}

#[test]
fn editions_go_to_the_configured_asn_or_city_file() {
    let config = EnrichmentConfig {
        maxmind_city_db: Some("/db/city.mmdb".into()),
        maxmind_asn_db: Some("/db/asn.mmdb".into()),
        ..EnrichmentConfig::default()
    };
    assert_eq!(target_for("GeoLite2-ASN", &config).unwrap(), PathBuf::from("/db/asn.mmdb"));
    assert_eq!(target_for("GeoLite2-City", &config).unwrap(), PathBuf::from("/db/city.mmdb"));
    assert_eq!(target_for("GeoIP2-Country", &config).unwrap(), PathBuf::from("/db/city.mmdb"));
    let none = EnrichmentConfig::default();
    assert!(target_for("GeoLite2-ASN", &none).unwrap_err().to_string().contains("enrichment.maxmind_asn_db"));
}

#[test]
fn downloads_need_the_flag_an_account_and_a_key() {
    let with_account = EnrichmentConfig {
        maxmind_account_id: Some("12345".into()),
        maxmind_license_key_file: Some("/etc/hunter/maxmind.key".into()),
        ..EnrichmentConfig::default()
    };
    assert!(download::configured(true, &with_account));
    assert!(!download::configured(false, &with_account));
    assert!(!download::configured(true, &EnrichmentConfig { maxmind_license_key_file: None, ..with_account }));
}

/// A `.tar.gz` laid out like MaxMind's: `<edition>_<date>/<edition>.mmdb` plus a licence file.
fn tarball(edition: &str, mmdb: &[u8]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in [("LICENSE.txt", b"licence".as_slice()), (&format!("{edition}.mmdb") as &str, mmdb)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("{edition}_20261120/{name}"), bytes).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

const ACCOUNT: &str = "123456";
const KEY: &str = "s3cret-licence-key";

/// Serves `edition` only to the right account and key, with `checksum` as its `.sha256`.
async fn maxmind(edition: &str, archive: &[u8], checksum: &str) -> MockServer {
    let server = MockServer::start().await;
    let at = format!("/geoip/databases/{edition}/download");
    Mock::given(method("GET"))
        .and(path(at.clone()))
        .and(query_param("suffix", "tar.gz"))
        .and(basic_auth(ACCOUNT, KEY))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(archive.to_vec()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at))
        .and(query_param("suffix", "tar.gz.sha256"))
        .and(basic_auth(ACCOUNT, KEY))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!("{checksum}  {edition}_20261120.tar.gz\n")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_string("Invalid license key"))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

fn download_config(files: &Files, server: &MockServer, key: &str) -> EnrichmentConfig {
    EnrichmentConfig {
        maxmind_asn_db: Some(files.put("asn.mmdb", &asn_db(epoch(2026, 9, 1)))),
        maxmind_account_id: Some(ACCOUNT.into()),
        maxmind_license_key_file: Some(files.put("maxmind.key", format!("{key}\n").as_bytes())),
        maxmind_editions: vec!["GeoLite2-ASN".into()],
        maxmind_download_url: server.uri(),
        ..EnrichmentConfig::default()
    }
}

#[tokio::test]
async fn a_downloaded_edition_is_verified_installed_and_reloaded() {
    let new_db = asn_db(epoch(2026, 11, 20));
    let archive = tarball("GeoLite2-ASN", &new_db);
    let server = maxmind("GeoLite2-ASN", &archive, &download::sha256_hex(&archive)).await;
    let files = Files::new();
    let config = download_config(&files, &server, KEY);
    let service = EnrichmentService::open(&config);

    let summary = download::run(&config, Some(&service)).await.unwrap();

    assert!(summary.contains(&format!("GeoLite2-ASN installed (GeoLite2-ASN@{})", epoch(2026, 11, 20))), "{summary}");
    assert_eq!(std::fs::read(config.maxmind_asn_db.as_ref().unwrap()).unwrap(), new_db);
    assert!(service.source_version().contains(&epoch(2026, 11, 20).to_string()), "{}", service.source_version());
    let mut leftovers: Vec<_> = std::fs::read_dir(files.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    leftovers.sort();
    assert_eq!(leftovers, ["asn.mmdb", "asn.mmdb.sha256", "maxmind.key"], "no temporary file is left behind");
}

#[tokio::test]
async fn a_checksum_mismatch_leaves_the_old_file_untouched() {
    let archive = tarball("GeoLite2-ASN", &asn_db(epoch(2026, 11, 20)));
    let server = maxmind("GeoLite2-ASN", &archive, &"0".repeat(64)).await;
    let files = Files::new();
    let config = download_config(&files, &server, KEY);
    let before = std::fs::read(config.maxmind_asn_db.as_ref().unwrap()).unwrap();

    let error = download::run(&config, None).await.unwrap_err().to_string();

    assert!(error.contains("checksum mismatch"), "{error}");
    assert_eq!(std::fs::read(config.maxmind_asn_db.as_ref().unwrap()).unwrap(), before);
}

#[tokio::test]
async fn a_rejected_license_key_is_reported_without_revealing_it() {
    let archive = tarball("GeoLite2-ASN", &asn_db(epoch(2026, 11, 20)));
    let server = maxmind("GeoLite2-ASN", &archive, &download::sha256_hex(&archive)).await;
    let files = Files::new();
    let config = download_config(&files, &server, "wrong-key");

    let error = download::run(&config, None).await.unwrap_err().to_string();

    assert!(error.contains("HTTP 401"), "{error}");
    assert!(!error.contains("wrong-key"), "{error}");
}

#[tokio::test]
async fn an_archive_without_a_database_is_rejected() {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let archive = tar::Builder::new(gz).into_inner().unwrap().finish().unwrap();
    let server = maxmind("GeoLite2-ASN", &archive, &download::sha256_hex(&archive)).await;
    let files = Files::new();
    let config = download_config(&files, &server, KEY);
    let before = std::fs::read(config.maxmind_asn_db.as_ref().unwrap()).unwrap();

    let error = download::run(&config, None).await.unwrap_err().to_string();

    assert!(error.contains("no .mmdb file inside"), "{error}");
    assert_eq!(std::fs::read(config.maxmind_asn_db.as_ref().unwrap()).unwrap(), before);
}

/// How many times the archive itself (not its `.sha256`) was fetched.
async fn archive_downloads(server: &MockServer) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.url.query() == Some("suffix=tar.gz")).count()
}

/// A fake serving `db` as GeoLite2-ASN with its correct checksum.
async fn serving(db: &[u8]) -> (MockServer, String) {
    let archive = tarball("GeoLite2-ASN", db);
    let checksum = download::sha256_hex(&archive);
    (maxmind("GeoLite2-ASN", &archive, &checksum).await, checksum)
}

#[tokio::test]
async fn a_second_run_with_an_unchanged_checksum_does_not_download_again() {
    let new_db = asn_db(epoch(2026, 11, 20));
    let (server, _) = serving(&new_db).await;
    let files = Files::new();
    let config = download_config(&files, &server, KEY);
    let target = config.maxmind_asn_db.clone().unwrap();
    download::run(&config, None).await.unwrap();

    let summary = download::run(&config, None).await.unwrap();

    let build = format!("GeoLite2-ASN@{}", epoch(2026, 11, 20));
    assert_eq!(summary, format!("GeoLite2-ASN up to date ({build}) at {}", target.display()));
    assert_eq!(archive_downloads(&server).await, 1, "only the first run fetched the archive");
    assert_eq!(std::fs::read(&target).unwrap(), new_db);
}

#[tokio::test]
async fn a_changed_remote_checksum_downloads_and_installs_the_new_edition() {
    let (first, _) = serving(&asn_db(epoch(2026, 11, 20))).await;
    let files = Files::new();
    let config = download_config(&files, &first, KEY);
    download::run(&config, None).await.unwrap();
    let newer_db = asn_db(epoch(2026, 11, 27));
    let (second, checksum) = serving(&newer_db).await;
    let config = EnrichmentConfig { maxmind_download_url: second.uri(), ..config };

    let summary = download::run(&config, None).await.unwrap();

    assert!(summary.contains(&format!("GeoLite2-ASN installed (GeoLite2-ASN@{})", epoch(2026, 11, 27))), "{summary}");
    let target = config.maxmind_asn_db.as_ref().unwrap();
    assert_eq!(std::fs::read(target).unwrap(), newer_db);
    assert_eq!(download::InstallRecord::load(target).map(|r| r.archive), Some(checksum), "the record follows");
}

#[tokio::test]
async fn a_target_changed_by_hand_is_downloaded_again_despite_an_unchanged_checksum() {
    let new_db = asn_db(epoch(2026, 11, 20));
    let (server, _) = serving(&new_db).await;
    let files = Files::new();
    let config = download_config(&files, &server, KEY);
    let target = config.maxmind_asn_db.clone().unwrap();
    download::run(&config, None).await.unwrap();
    std::fs::write(&target, asn_db(epoch(2026, 10, 1))).unwrap();

    let summary = download::run(&config, None).await.unwrap();

    assert!(summary.contains("GeoLite2-ASN installed"), "{summary}");
    assert_eq!(archive_downloads(&server).await, 2);
    assert_eq!(std::fs::read(&target).unwrap(), new_db);
}

#[tokio::test]
async fn a_garbled_record_leads_to_a_download_not_an_error() {
    let new_db = asn_db(epoch(2026, 11, 20));
    let (server, checksum) = serving(&new_db).await;
    let files = Files::new();
    let config = download_config(&files, &server, KEY);
    let target = config.maxmind_asn_db.clone().unwrap();
    download::run(&config, None).await.unwrap();
    std::fs::write(download::InstallRecord::path_for(&target), b"archive not-a-digest\n\xff\x00").unwrap();

    let summary = download::run(&config, None).await.unwrap();

    assert!(summary.contains("GeoLite2-ASN installed"), "{summary}");
    assert_eq!(archive_downloads(&server).await, 2);
    assert_eq!(download::InstallRecord::load(&target).map(|r| r.archive), Some(checksum), "the record is rewritten");
}

#[tokio::test]
async fn a_record_that_cannot_be_written_does_not_fail_the_install() {
    let new_db = asn_db(epoch(2026, 11, 20));
    let (server, _) = serving(&new_db).await;
    let files = Files::new();
    let config = download_config(&files, &server, KEY);
    let target = config.maxmind_asn_db.clone().unwrap();
    // A directory where the record goes: renaming a file over it fails.
    std::fs::create_dir(download::InstallRecord::path_for(&target)).unwrap();

    let summary = download::run(&config, None).await.unwrap();

    assert!(summary.contains("GeoLite2-ASN installed"), "{summary}");
    assert_eq!(std::fs::read(&target).unwrap(), new_db);
    let again = download::run(&config, None).await.unwrap();
    assert!(again.contains("GeoLite2-ASN installed"), "without a record the next run downloads: {again}");
}

#[test]
fn an_install_record_reads_back_what_it_wrote_and_nothing_else() {
    let record = download::InstallRecord { archive: "a".repeat(64), mmdb: "b".repeat(64) };
    assert_eq!(download::InstallRecord::parse(&record.to_text()), Some(record.clone()));
    for garbled in [
        "".to_string(),
        format!("archive {}\n", "a".repeat(64)),
        format!("archive {}\nmmdb {}\n", "a".repeat(63), "b".repeat(64)),
        format!("archive {}\nmmdb {} extra\n", "a".repeat(64), "b".repeat(64)),
        format!("{}mmdb {}\n", record.to_text(), "c".repeat(64)),
        format!("{}size 12\n", record.to_text()),
    ] {
        assert_eq!(download::InstallRecord::parse(&garbled), None, "{garbled:?}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_scan_caches_each_address_once_and_a_later_scan_reads_them_back(pool: sqlx::PgPool) {
    let files = Files::new();
    let config = EnrichmentConfig {
        maxmind_city_db: Some(files.put("city.mmdb", &city_db())),
        maxmind_asn_db: Some(files.put("asn.mmdb", &asn_db(1_700_000_000))),
        ..EnrichmentConfig::default()
    };
    let (dublin, v6, unknown) =
        ("52.101.10.5".parse().unwrap(), "2a01:111::1".parse().unwrap(), "192.0.2.1".parse().unwrap());
    let first = EnrichmentService::open(&config);
    first.attach_cache(pool.clone()).await;
    let report = first.enrich(&super::tests::mail(&[dublin, v6, dublin, unknown])).await;
    assert_eq!(report.ips.len(), 3, "duplicates are looked up once");
    first.flush_cache().await;
    let cached: i64 = sqlx::query_scalar("SELECT count(*) FROM ip_enrichment").fetch_one(&pool).await.unwrap();
    assert_eq!(cached, 3);

    super::tests::tamper(&pool, "52.101.10.5").await;
    let second = EnrichmentService::open(&config);
    second.attach_cache(pool.clone()).await;
    let again = second.enrich(&super::tests::mail(&[v6, dublin])).await;
    let cities: Vec<Option<&str>> = again.ips.iter().map(|e| e.city.as_deref()).collect();
    assert_eq!(cities, [Some("Dublin"), Some("FromCache")], "order kept; the cached row answered");
}
