//! Registration lookups run off the scan path: a real daemon scans against the test DNS server while
//! its registry (a port-43 WHOIS server on loopback) answers, never answers, or times out.

use hunter_tests::dns::{DnsServer, Zone};
use hunter_tests::{Daemon, DaemonOptions, TestDb, scan_env, scratch_dir, wait_for_batch};
use hunter_tui::client::Client;
use protocol::{LeadDetail, Request, Response};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const DOMAIN: &str = "contoso.example";

fn zone() -> Zone {
    Zone::new(DOMAIN).mx(10, "mail.contoso.example").a("mail.contoso.example", "192.0.2.10").txt("v=spf1 mx -all")
}

/// A registry that accepts connections and never says a word.
fn blackhole() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind the blackhole")
}

/// A WHOIS server answering every query with one registration; counts the queries.
fn registry(asked: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the registry");
    let addr = listener.local_addr().expect("registry address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut query = [0u8; 256];
            let _ = stream.read(&mut query);
            asked.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(
                b"Domain Name: CONTOSO.EXAMPLE\r\nRegistrar: Example Registrar, Inc.\r\n\
                  Creation Date: 2001-02-03T00:00:00Z\r\nRegistry Expiry Date: 2031-02-03T00:00:00Z\r\n\
                  Name Server: NS1.EXAMPLE.NET\r\n",
            );
        }
    });
    addr
}

/// A daemon scanning against `dns` with registration lookups on, `.example` served by `whois`.
async fn start(db: &TestDb, dir: &Path, dns: &DnsServer, whois: std::net::SocketAddr, timeout_ms: u64) -> Daemon {
    let config = dir.join("hunterd.toml");
    std::fs::write(
        &config,
        format!(
            "[whois]\nenabled = true\nrdap_timeout_ms = {timeout_ms}\nwhois_timeout_ms = {timeout_ms}\n\
             [whois.servers]\nexample = \"{whois}\"\n"
        ),
    )
    .unwrap();
    let mut options = DaemonOptions::in_dir(dir, Some(db.url.clone()));
    options.extra_env = scan_env(dns).into_iter().filter(|(k, _)| k != "HUNTER_WHOIS__ENABLED").collect();
    options.config = Some(config);
    Daemon::start(&options).await
}

/// Adds the domain and waits for its scan (`--wait` semantics: DNS and scoring only).
async fn scan(db: &TestDb, client: &Client) {
    let pool = db.pool().await;
    sqlx::query("INSERT INTO companies (domain, source) VALUES ($1, 'test') ON CONFLICT DO NOTHING")
        .bind(DOMAIN)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let Response::Queued { batch_id: Some(batch), .. } =
        client.request(Request::Rescan { domains: vec![DOMAIN.into()] }).await.unwrap()
    else {
        panic!("not queued")
    };
    wait_for_batch(client, &batch, Duration::from_secs(60)).await;
}

async fn detail(client: &Client) -> LeadDetail {
    let Response::Lead(detail) = client.request(Request::LeadDetail { domain: DOMAIN.into() }).await.unwrap() else {
        panic!("no lead detail")
    };
    *detail
}

/// Polls the lead detail until `done` holds, failing after a minute.
async fn detail_until(client: &Client, done: impl Fn(&LeadDetail) -> bool) -> LeadDetail {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = detail(client).await;
        if done(&d) {
            return d;
        }
        assert!(Instant::now() < deadline, "registration never reached the expected state: {:?}", d.registration_note);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn registration_item_state(db: &TestDb) -> Option<String> {
    let pool = db.pool().await;
    let state = sqlx::query_scalar("SELECT state FROM job_queue WHERE kind = 'registration' ORDER BY id DESC LIMIT 1")
        .fetch_optional(&pool)
        .await
        .unwrap();
    pool.close().await;
    state
}

#[tokio::test]
async fn a_scan_is_stored_and_shown_while_the_registry_never_answers() {
    let (dns, hole, db, dir) = (DnsServer::start([zone()]), blackhole(), TestDb::create().await, scratch_dir());
    let daemon = start(&db, dir.path(), &dns, hole.local_addr().unwrap(), 120_000).await;
    let client = daemon.client().await;
    scan(&db, &client).await;
    let d = detail(&client).await;
    assert_eq!(d.row.scan_status.as_deref(), Some("ok"));
    assert!(d.row.score.is_some(), "scored without the registration");
    assert_eq!(d.registration, None);
    let note = d.registration_note.unwrap_or_default();
    assert!(note.contains("registration pending"), "{note}");
}

#[tokio::test]
async fn the_registration_merges_into_the_lead_when_it_arrives_and_is_not_asked_again_while_fresh() {
    let asked = Arc::new(AtomicUsize::new(0));
    let whois = registry(asked.clone());
    let (dns, db, dir) = (DnsServer::start([zone()]), TestDb::create().await, scratch_dir());
    let daemon = start(&db, dir.path(), &dns, whois, 5_000).await;
    let client = daemon.client().await;
    scan(&db, &client).await;
    let d = detail_until(&client, |d| d.registration.is_some()).await;
    let registration = d.registration.unwrap();
    assert_eq!(registration.registrar.as_deref(), Some("Example Registrar, Inc."));
    assert_eq!(registration.expires.as_deref(), Some("2031-02-03"));
    assert_eq!(d.registration_note, None);

    scan(&db, &client).await;
    assert_eq!(registration_item_state(&db).await.as_deref(), Some("done"), "no new lookup was queued");
    assert_eq!(asked.load(Ordering::SeqCst), 1, "the registry was asked once");
}

#[tokio::test]
async fn a_registry_that_times_out_is_reported_unavailable_with_the_reason() {
    let (dns, hole, db, dir) = (DnsServer::start([zone()]), blackhole(), TestDb::create().await, scratch_dir());
    let daemon = start(&db, dir.path(), &dns, hole.local_addr().unwrap(), 300).await;
    let client = daemon.client().await;
    scan(&db, &client).await;
    let d = detail_until(&client, |d| d.registration_note.as_deref().is_some_and(|n| n.contains("unavailable"))).await;
    let note = d.registration_note.unwrap();
    assert!(note.contains("no answer within 300 ms") && note.contains("retrying later"), "{note}");
    assert_eq!(registration_item_state(&db).await.as_deref(), Some("queued"), "retried later with backoff");
}

#[tokio::test]
async fn shutdown_hands_back_a_lookup_in_flight_instead_of_waiting_for_it() {
    let (dns, hole, db, dir) = (DnsServer::start([zone()]), blackhole(), TestDb::create().await, scratch_dir());
    let mut daemon = start(&db, dir.path(), &dns, hole.local_addr().unwrap(), 600_000).await;
    let client = daemon.client().await;
    scan(&db, &client).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while registration_item_state(&db).await.as_deref() != Some("running") {
        assert!(Instant::now() < deadline, "the lookup never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(client);
    let status = daemon.stop();
    assert!(status.success(), "{status}");
    assert_eq!(registration_item_state(&db).await.as_deref(), Some("queued"), "handed back for the next daemon");
}

#[tokio::test]
async fn a_busy_registry_server_leaves_the_rest_of_the_queue_alone_instead_of_cycling_through_it() {
    let (dns, hole, db, dir) = (DnsServer::start([zone()]), blackhole(), TestDb::create().await, scratch_dir());
    let config = dir.path().join("hunterd.toml");
    std::fs::write(
        &config,
        format!(
            "[whois]\nenabled = true\nper_server_per_minute = 1\nrdap_timeout_ms = 600000\n\
             whois_timeout_ms = 600000\n[whois.servers]\nexample = \"{}\"\n",
            hole.local_addr().unwrap()
        ),
    )
    .unwrap();
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.extra_env = scan_env(&dns).into_iter().filter(|(k, _)| k != "HUNTER_WHOIS__ENABLED").collect();
    options.config = Some(config);
    let _daemon = Daemon::start(&options).await;
    let pool = db.pool().await;
    for sql in [
        "INSERT INTO companies (domain, source) SELECT 'r' || i || '.example', 'test' FROM generate_series(1, 200) i",
        "INSERT INTO job_queue (kind, payload)
         SELECT 'registration', jsonb_build_object('company_id', id) FROM companies WHERE domain LIKE 'r%.example'",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // One lookup a minute: one item runs, a few were claimed and put back until their server's turn;
    // the rest must not have been claimed and put back in a loop.
    let put_back: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_queue WHERE kind = 'registration' AND state = 'queued' AND run_after > now()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let running: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_queue WHERE kind = 'registration' AND state = 'running'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(running, 1);
    assert!((1..=48).contains(&put_back), "{put_back} of 200 items were claimed and put back in 3 s");
    pool.close().await;
}
