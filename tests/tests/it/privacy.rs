//! Lead data stays private to the daemon: its files are not readable by other local accounts, one
//! client cannot write into another's upload, and what clients say about themselves cannot forge
//! log lines.

use hunter_tests::dns::DnsServer;
use hunter_tests::{Daemon, TestDb, scratch_dir};
use hunter_tui::client::ClientError;
use protocol::{ErrorKind, Request, Response};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn daemon(db: &TestDb, dir: &Path) -> Daemon {
    let dns = DnsServer::start([]);
    Daemon::start_scanning(db, dir, &dns).await
}

#[tokio::test]
async fn logs_and_uploads_are_private_to_the_daemons_account_and_upload_names_are_not_sequential() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = daemon(&db, dir.path()).await;
    let client = daemon.client().await;
    let mut ids = Vec::new();
    for name in ["a.csv", "b.csv"] {
        match client.request(Request::ImportBegin { file_name: name.into() }).await.unwrap() {
            Response::ImportStarted { upload_id } => ids.push(upload_id),
            other => panic!("upload not started: {other:?}"),
        }
    }
    assert!(ids[1].abs_diff(ids[0]) > 1_000, "upload ids look sequential: {ids:?}");

    let state = &daemon.options.state_dir;
    let uploads = state.join("uploads");
    assert_eq!(mode(&uploads), 0o700);
    for entry in std::fs::read_dir(&uploads).unwrap().flatten() {
        assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
        assert!(!entry.file_name().to_string_lossy().contains(&std::process::id().to_string()));
    }
    let logs = state.join("logs");
    assert_eq!(mode(&logs), 0o700);
    let files: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
    assert!(!files.is_empty(), "no log file");
    for entry in files {
        assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
    }
}

#[tokio::test]
async fn a_client_cannot_append_to_or_finish_another_clients_upload() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = daemon(&db, dir.path()).await;
    let (alice, mallory) = (daemon.client().await, daemon.client().await);
    let Response::ImportStarted { upload_id } =
        alice.request(Request::ImportBegin { file_name: "leads.csv".into() }).await.unwrap()
    else {
        panic!("upload not started")
    };
    alice.request(Request::ImportChunk { upload_id, data: b"domain\ncontoso.com\n".to_vec() }).await.unwrap();

    for request in
        [Request::ImportChunk { upload_id, data: b"evil.com\n".to_vec() }, Request::ImportFinish { upload_id }]
    {
        match mallory.request(request).await {
            Err(ClientError::Remote(e)) => assert_eq!(e.kind, ErrorKind::NotFound, "{}", e.message),
            other => panic!("another client's upload was usable: {other:?}"),
        }
    }
    let Response::Imported(report) = alice.request(Request::ImportFinish { upload_id }).await.unwrap() else {
        panic!("import failed")
    };
    assert_eq!(report.accepted, 1);
    let pool = db.pool().await;
    let domains: Vec<String> = sqlx::query_scalar("SELECT domain FROM companies").fetch_all(&pool).await.unwrap();
    assert_eq!(domains, ["contoso.com"]);
}

#[tokio::test]
async fn a_client_version_with_a_newline_cannot_forge_a_log_line() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = daemon(&db, dir.path()).await;
    let mut stream = tokio::net::UnixStream::connect(&daemon.options.socket).await.unwrap();
    let mut hello = protocol::Hello::new("hunter-tui");
    // An old protocol is refused, and the refusal (with the version) is logged.
    hello.protocol = 1;
    hello.build_version = "0.0.1\nERROR forged: the database was deleted".into();
    protocol::frame::send(&mut stream, &hello).await.unwrap();
    let _ = protocol::frame::read_frame(&mut stream, 1 << 20).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = daemon.log();
        if log.contains("forged") || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(log.contains(r"0.0.1\nERROR forged"), "the refusal is logged, escaped:\n{log}");
    assert!(!log.lines().any(|l| l.starts_with("ERROR forged")), "a forged line:\n{log}");
}

#[tokio::test]
async fn after_a_sigkill_the_restarted_daemon_reclaims_its_own_leases_at_once() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    // Answers slow enough that scans are in flight when the daemon is killed.
    let dns = hunter_tests::dns::DnsServer::builder().synthetic().delay(Duration::from_millis(1500)).start();
    let mut options = hunter_tests::DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.extra_env = vec![
        ("HUNTER_SCAN__NAMESERVERS".into(), dns.nameserver()),
        ("HUNTER_SCAN__TIMEOUT_MS".into(), "5000".into()),
        ("HUNTER_WHOIS__ENABLED".into(), "false".into()),
    ];
    let mut daemon = Daemon::start(&options).await;
    let pool = db.pool().await;
    let domains: Vec<String> = (0..20).map(hunter_tests::dns::synthetic::domain).collect();
    sqlx::query("INSERT INTO companies (domain, source) SELECT d, 'test' FROM unnest($1::text[]) d")
        .bind(&domains)
        .execute(&pool)
        .await
        .unwrap();
    let Response::Queued { batch_id: Some(batch), .. } =
        daemon.client().await.request(Request::RescanAll).await.unwrap()
    else {
        panic!("not queued")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running: i64 = sqlx::query_scalar("SELECT count(*) FROM job_queue WHERE state = 'running'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if running > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no scan started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.kill_hard();

    let daemon = Daemon::start(&options).await;
    // Far less than the 5-minute lease.
    hunter_tests::wait_for_batch(&daemon.client().await, &batch, Duration::from_secs(90)).await;
}
