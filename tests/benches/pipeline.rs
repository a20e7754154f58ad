//! The whole scan pipeline in a real (release) hunterd: queue → DNS scan → detection → score → store,
//! for synthetic domains served by the loopback test DNS server, with instant and 20 ms answers.
//! Prints domains/s, the daemon's CPU and peak RSS; asserts nothing.
//!
//! Run: `cargo bench -p hunter-tests --bench pipeline` (needs PostgreSQL at DATABASE_URL).
//! `PIPELINE_BENCH_SIZES=10000,100000` and `PIPELINE_BENCH_DELAYS_MS=0,20` change the runs.

use hunter_tests::dns::{DnsServer, synthetic};
use hunter_tests::{Daemon, DaemonOptions, TestDb, scratch_dir};
use protocol::{Request, Response};
use std::time::{Duration, Instant};

fn list(var: &str, default: &str) -> Vec<u64> {
    std::env::var(var).unwrap_or_else(|_| default.into()).split(',').filter_map(|v| v.trim().parse().ok()).collect()
}

/// (user+system CPU seconds, peak RSS in MiB) of a process.
fn process_usage(pid: i32) -> (f64, f64) {
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let cpu = fields.get(11).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kb = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu / ticks, hwm_kb / 1024.0)
}

async fn run(size: u64, delay_ms: u64) {
    let dns = DnsServer::builder().synthetic().delay(Duration::from_millis(delay_ms)).threads(1).start();
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.extra_env = vec![
        ("HUNTER_SCAN__NAMESERVERS".into(), dns.nameserver()),
        ("HUNTER_WHOIS__ENABLED".into(), "false".into()),
        ("RUST_LOG".into(), "warn".into()),
    ];
    let daemon = Daemon::start(&options).await;
    let pool = db.pool().await;
    let domains: Vec<String> = (0..size).map(synthetic::domain).collect();
    sqlx::query("INSERT INTO companies (domain, source) SELECT d, 'bench' FROM unnest($1::text[]) d")
        .bind(&domains)
        .execute(&pool)
        .await
        .unwrap();
    let client = daemon.client().await;
    let (cpu_before, _) = process_usage(daemon.pid());
    let queries_before = dns.queries();
    let start = Instant::now();
    let Response::Queued { batch_id: Some(batch), .. } = client.request(Request::RescanAll).await.unwrap() else {
        panic!("rescan not queued")
    };
    loop {
        let Response::BatchProgress(p) =
            client.request(Request::BatchProgress { batch_id: batch.clone() }).await.unwrap()
        else {
            panic!("no progress")
        };
        if p.done >= p.total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (cpu_after, rss_mb) = process_usage(daemon.pid());
    let queries = dns.queries() - queries_before;
    println!(
        "pipeline {size:>7} domains, {delay_ms:>2} ms answers: {:>7.0} domains/s  {:>7.0} DNS queries/s  daemon CPU {:>4.0}%  daemon peak RSS {:>5.1} MiB  ({elapsed:.1} s)",
        size as f64 / elapsed,
        queries as f64 / elapsed,
        (cpu_after - cpu_before) / elapsed * 100.0,
        rss_mb,
    );
    pool.close().await;
    drop(daemon);
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        for delay in list("PIPELINE_BENCH_DELAYS_MS", "0,20") {
            for size in list("PIPELINE_BENCH_SIZES", "10000") {
                run(size, delay).await;
            }
        }
    });
}
