//! Pushing leads to Dynamics 365 as a user does: a real (release) hunterd, `hunter-tui push --filter …
//! --wait`, the Dataverse + identity fake in its own process with Dataverse's service-protection
//! limits (6,000 requests per 5 minutes, 52 concurrent). Prints wall time, Dataverse requests used,
//! requests per lead and 429s, with the alternate key (`$batch` of upserts) and without (look up,
//! then create: two requests a lead); asserts nothing.
//!
//! Run: `cargo bench -p hunter-tests --bench d365_push` (needs PostgreSQL on this machine).
//! `D365_BENCH_SIZE=10000` and `D365_BENCH_MODES=key,lookup` change the runs.

use hunter_tests::fakes::dataverse::{CLIENT_ID, SECRET, TENANT};
use hunter_tests::{Daemon, DaemonOptions, TestDb, scratch_dir, tui_command};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let size: usize = std::env::var("D365_BENCH_SIZE").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let modes = std::env::var("D365_BENCH_MODES").unwrap_or_else(|_| "key".into());
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    for mode in modes.split(',').map(str::trim) {
        runtime.block_on(run(size, mode == "key"));
    }
}

async fn run(size: usize, with_key: bool) {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(std::path::Path::parent).unwrap();
    let mut fake = Command::new(dir.join("test-dataverse"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start test-dataverse (cargo build --release -p hunter-tests --bin test-dataverse)");
    let mut fake_in = fake.stdin.take().unwrap();
    let mut fake_out = BufReader::new(fake.stdout.take().unwrap());
    let mut line = String::new();
    fake_out.read_line(&mut line).unwrap();
    let mut urls = line.split_whitespace();
    let (org, authority) = (urls.next().unwrap().to_string(), urls.next().unwrap().to_string());

    let db = TestDb::create().await;
    let pool = db.pool().await;
    hunterd::db::MIGRATOR.run(&pool).await.unwrap();
    sqlx::query(
        "WITH c AS (INSERT INTO companies (domain, company_name, source)
                    SELECT 'lead' || i || '.example', 'Lead ' || i, 'bench' FROM generate_series(1, $1) i RETURNING id)
         INSERT INTO lead_state (company_id, scan_status, scanned_at, provider, score, segment, technical_heat, priority)
         SELECT id, 'ok', now(), 'Google Workspace', 82, 'Migration', 'Hot', 'P1' FROM c",
    )
    .bind(size as i32)
    .execute(&pool)
    .await
    .unwrap();
    let scratch = scratch_dir();
    let secret = scratch.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut options = DaemonOptions::in_dir(scratch.path(), Some(db.url.clone()));
    options.extra_env = vec![
        ("HUNTER_FEATURES__DYNAMICS_PUSH".into(), "true".into()),
        ("HUNTER_DYNAMICS__ORG_URL".into(), org),
        ("HUNTER_DYNAMICS__AUTHORITY_URL".into(), authority),
        ("HUNTER_DYNAMICS__TENANT_ID".into(), TENANT.into()),
        ("HUNTER_DYNAMICS__CLIENT_ID".into(), CLIENT_ID.into()),
        ("HUNTER_DYNAMICS__CLIENT_SECRET_FILE".into(), secret.display().to_string()),
        ("HUNTER_WHOIS__ENABLED".into(), "false".into()),
        ("HUNTER_SCAN__NAMESERVERS".into(), "127.0.0.1:9".into()),
    ];
    if with_key {
        options.extra_env.push(("HUNTER_DYNAMICS__LEAD_KEY".into(), "hnt_domain".into()));
    }
    let _daemon = Daemon::start(&options).await;
    let socket = options.socket.display().to_string();
    let started = Instant::now();
    let out = tui_command(&["--socket", &socket, "push", "--filter", "segment=Migration", "--wait"], &[]);
    let wall = started.elapsed();
    writeln!(fake_in).unwrap();
    line.clear();
    fake_out.read_line(&mut line).unwrap();
    let counts: Vec<u64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    let (requests, throttled, leads) = (counts[0], counts[1], counts[2]);
    println!(
        "d365_push {} leads, {}: exit {:?}, {:.1} s, {} Dataverse requests ({:.3}/lead), {} throttled (429), {} leads in the fake",
        size,
        if with_key { "alternate key ($batch upserts)" } else { "look up then create" },
        out.status.code(),
        wall.as_secs_f64(),
        requests,
        requests as f64 / size as f64,
        throttled,
        leads
    );
    drop(fake_in);
    let _ = fake.wait();
}
