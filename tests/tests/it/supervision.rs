//! The database going away under a running daemon: the embedded cluster is restarted, an external
//! server is reconnected to, `status` keeps answering, and every scan in flight is stored once.

use hunter_tests::dns::{DnsServer, synthetic};
use hunter_tests::{Daemon, DaemonOptions, embedded_postmaster_pid, scratch_dir};
use hunter_tui::client::Client;
use hunterd::db::EmbeddedCluster;
use protocol::{Request, Response};
use std::path::Path;
use std::time::{Duration, Instant};

const DOMAINS: u64 = 60;

/// Scans against synthetic domains answered slowly enough that some are in flight at any moment.
fn scanning_options(dir: &Path, url: Option<String>, dns: &DnsServer) -> DaemonOptions {
    let mut options = DaemonOptions::in_dir(dir, url);
    options.extra_env = vec![
        ("HUNTER_SCAN__NAMESERVERS".into(), dns.nameserver()),
        ("HUNTER_SCAN__TIMEOUT_MS".into(), "5000".into()),
        ("HUNTER_SCAN__CONCURRENCY".into(), "8".into()),
        ("HUNTER_WHOIS__ENABLED".into(), "false".into()),
    ];
    options
}

async fn insert_companies(pool: &sqlx::PgPool) {
    let domains: Vec<String> = (0..DOMAINS).map(synthetic::domain).collect();
    sqlx::query("INSERT INTO companies (domain, source) SELECT d, 'test' FROM unnest($1::text[]) d")
        .bind(&domains)
        .execute(pool)
        .await
        .unwrap();
}

async fn rescan_all(client: &Client) -> String {
    match client.request(Request::RescanAll).await.unwrap() {
        Response::Queued { batch_id: Some(batch), .. } => batch,
        other => panic!("rescan not queued: {other:?}"),
    }
}

/// Scanned members of the batch; `None` while the daemon cannot tell (database down).
async fn progress(client: &Client, batch: &str) -> Option<(u64, u64)> {
    match client.request_timeout(Request::BatchProgress { batch_id: batch.into() }, Duration::from_secs(15)).await {
        Ok(Response::BatchProgress(p)) => Some((p.done, p.total)),
        _ => None,
    }
}

async fn wait_until_done_at_least(client: &Client, batch: &str, n: u64, patience: Duration) {
    let deadline = Instant::now() + patience;
    loop {
        if let Some((done, total)) = progress(client, batch).await
            && (done >= n || done == total)
        {
            return;
        }
        assert!(Instant::now() < deadline, "batch {batch} did not reach {n} scanned within {patience:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_until_complete(daemon: &Daemon, client: &Client, batch: &str, patience: Duration) {
    let deadline = Instant::now() + patience;
    loop {
        if let Some((done, total)) = progress(client, batch).await
            && done == total
        {
            return;
        }
        assert!(Instant::now() < deadline, "batch {batch} not complete within {patience:?}; log:\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn status(client: &Client) -> protocol::DaemonStatus {
    match client.request_timeout(Request::Status, Duration::from_secs(8)).await {
        Ok(Response::Status(status)) => *status,
        other => panic!("status did not answer: {other:?}"),
    }
}

/// Every domain has exactly one scan row: none lost, none done twice.
async fn assert_scanned_exactly_once(pool: &sqlx::PgPool) {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.domain, count(s.id) FROM companies c LEFT JOIN scans s ON s.company_id = c.id GROUP BY c.domain",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(counts.len() as u64, DOMAINS);
    let wrong: Vec<_> = counts.iter().filter(|(_, n)| *n != 1).collect();
    assert!(wrong.is_empty(), "domains not scanned exactly once: {wrong:?}");
}

async fn embedded_pool(state_dir: &Path) -> sqlx::PgPool {
    let cluster = EmbeddedCluster::locate(&state_dir.join("postgres")).unwrap();
    sqlx::PgPool::connect_with(cluster.connect_options()).await.expect("connect to the embedded cluster")
}

#[tokio::test]
async fn a_killed_embedded_postmaster_is_restarted_and_the_scan_completes_with_every_domain_scanned_once() {
    let dns = DnsServer::builder().synthetic().delay(Duration::from_millis(100)).start();
    let dir = scratch_dir();
    let options = scanning_options(dir.path(), None, &dns);
    let daemon = Daemon::start(&options).await;
    let pool = embedded_pool(&options.state_dir).await;
    insert_companies(&pool).await;
    pool.close().await;
    let client = daemon.client().await;
    let batch = rescan_all(&client).await;
    wait_until_done_at_least(&client, &batch, 5, Duration::from_secs(60)).await;

    let postmaster = embedded_postmaster_pid(&options.state_dir).expect("cluster running");
    let killed = Instant::now();
    kill(postmaster);
    // Status answers at once, database or not.
    assert!(status(&client).await.database.location.contains("postgres"));

    // Completions the crash undid (results commit without waiting for the WAL flush) are handed back
    // once the cluster is back, not after their 5-minute lease.
    let (back, complete) = wait_until_back_and_complete(&daemon, &client, &batch, Duration::from_secs(90)).await;
    eprintln!(
        "figures: postmaster death to database answering again {:.1} s; to the whole batch ({DOMAINS} domains) scanned {:.1} s",
        (back - killed).as_secs_f64(),
        (complete - killed).as_secs_f64()
    );
    let restarted = embedded_postmaster_pid(&options.state_dir).expect("cluster running again");
    assert_ne!(restarted, postmaster);
    assert_eq!(status(&client).await.database.problem, None);
    let pool = embedded_pool(&options.state_dir).await;
    assert_scanned_exactly_once(&pool).await;
    pool.close().await;
    drop(daemon);
}

fn kill(pid: i32) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
}

/// When status first said the database answers, and when the batch was complete.
async fn wait_until_back_and_complete(
    daemon: &Daemon,
    client: &Client,
    batch: &str,
    patience: Duration,
) -> (Instant, Instant) {
    let deadline = Instant::now() + patience;
    let mut back = None;
    loop {
        if back.is_none() && status(client).await.database.problem.is_none() {
            back = Some(Instant::now());
        }
        if let Some((done, total)) = progress(client, batch).await
            && done == total
            && let Some(back) = back
        {
            return (back, Instant::now());
        }
        assert!(Instant::now() < deadline, "batch {batch} not complete within {patience:?}; log:\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The lease owner name the daemon's claims carry (`<state id>:<host>:<pid>`).
fn daemon_owner(daemon: &Daemon) -> String {
    let id = std::fs::read_to_string(daemon.options.state_dir.join("daemon-id")).expect("daemon id");
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    format!("{}:{host}:{}", id.trim(), daemon.pid())
}

#[tokio::test]
async fn a_scan_whose_completion_the_crash_undid_is_handed_back_after_the_restart_not_after_its_lease() {
    let dns = DnsServer::builder().synthetic().start();
    let dir = scratch_dir();
    let options = scanning_options(dir.path(), None, &dns);
    let daemon = Daemon::start(&options).await;
    let pool = embedded_pool(&options.state_dir).await;
    // What an unflushed commit lost to the crash leaves: the item still `running` under this daemon's
    // own name, with a lease of minutes, and no task of the daemon working on it.
    let batch: String = sqlx::query_scalar(
        "WITH c AS (INSERT INTO companies (domain, source) VALUES ($1, 'test') RETURNING id),
              q AS (INSERT INTO job_queue (kind, payload, dedup_key, state, leased_by, lease_expires_at, attempts)
                    SELECT 'scan', jsonb_build_object('company_id', id), id::text, 'running', $2,
                           now() + interval '5 minutes', 1 FROM c),
              b AS (INSERT INTO batches (id, kind) VALUES (gen_random_uuid(), 'rescan') RETURNING id),
              m AS (INSERT INTO batch_members (batch_id, company_id) SELECT b.id, c.id FROM b, c)
         SELECT id::text FROM b",
    )
    .bind(synthetic::domain(0))
    .bind(daemon_owner(&daemon))
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    let client = daemon.client().await;

    kill(embedded_postmaster_pid(&options.state_dir).expect("cluster running"));

    wait_until_back_and_complete(&daemon, &client, &batch, Duration::from_secs(60)).await;
    let pool = embedded_pool(&options.state_dir).await;
    let scans: i64 = sqlx::query_scalar("SELECT count(*) FROM scans").fetch_one(&pool).await.unwrap();
    assert_eq!(scans, 1);
    pool.close().await;
}

/// A PostgreSQL server of the test's own (a cluster in a temporary directory, reached by URL), so it
/// can be restarted without disturbing the shared test server.
struct OwnServer {
    cluster: EmbeddedCluster,
    _dir: tempfile::TempDir,
}

impl OwnServer {
    async fn start() -> OwnServer {
        let dir = scratch_dir();
        let cluster = EmbeddedCluster::locate(&dir.path().join("pg")).unwrap();
        cluster.start().await.unwrap();
        OwnServer { cluster, _dir: dir }
    }

    fn url(&self) -> String {
        let options = self.cluster.connect_options();
        // The password is hex: nothing in it needs escaping in a URL.
        format!(
            "postgres://{}:{}@localhost/{}?host={}&port={}",
            options.get_username(),
            self.cluster.daemon_password().expect("the daemon role's password"),
            options.get_database().unwrap_or("postgres"),
            self.cluster.socket_dir().display(),
            options.get_port()
        )
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        if let Some(pid) = self.cluster.postmaster_pid() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGQUIT);
        }
    }
}

#[tokio::test]
async fn an_external_server_restarted_mid_scan_is_reconnected_and_status_says_it_was_down_meanwhile() {
    let server = OwnServer::start().await;
    let dns = DnsServer::builder().synthetic().delay(Duration::from_millis(100)).start();
    let dir = scratch_dir();
    let options = scanning_options(dir.path(), Some(server.url()), &dns);
    let daemon = Daemon::start(&options).await;
    let pool = sqlx::PgPool::connect_with(server.cluster.connect_options()).await.unwrap();
    insert_companies(&pool).await;
    pool.close().await;
    let client = daemon.client().await;
    let batch = rescan_all(&client).await;
    wait_until_done_at_least(&client, &batch, 5, Duration::from_secs(60)).await;

    server.cluster.stop().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let problem = loop {
        if let Some(problem) = status(&client).await.database.problem {
            break problem;
        }
        assert!(Instant::now() < deadline, "status never said the database was down");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(problem.contains("not reachable") || problem.contains("no answer"), "{problem}");

    if let Err(e) = server.cluster.start().await {
        let log = std::fs::read_to_string(server.cluster.root().join("postgres.log")).unwrap_or_default();
        panic!("restart failed: {e}\n{log}");
    }
    wait_until_complete(&daemon, &client, &batch, Duration::from_secs(120)).await;
    assert_eq!(status(&client).await.database.problem, None);
    let pool = sqlx::PgPool::connect_with(server.cluster.connect_options()).await.unwrap();
    assert_scanned_exactly_once(&pool).await;
    pool.close().await;
    drop(daemon);
}
