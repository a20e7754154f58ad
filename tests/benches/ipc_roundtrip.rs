//! Small-request round trips over the local socket against a real hunterd (release build).
//! Prints latency percentiles and throughput with 1 and 16 concurrent clients; asserts nothing.
//!
//! Run: `cargo bench -p hunter-tests --bench ipc_roundtrip` (needs PostgreSQL at DATABASE_URL).

use hunter_tests::{Daemon, DaemonOptions, TestDb, scratch_dir};
use protocol::{Request, Response};
use std::time::{Duration, Instant};

const WARMUP: usize = 500;
const PER_CLIENT: usize = 20_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

async fn run(daemon: &Daemon, clients: usize) {
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..clients {
        let client = daemon.client().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..WARMUP {
                client.request(Request::Ping).await.unwrap();
            }
            let mut samples = Vec::with_capacity(PER_CLIENT);
            for _ in 0..PER_CLIENT {
                let t = Instant::now();
                let resp = client.request(Request::Ping).await.unwrap();
                samples.push(t.elapsed());
                assert_eq!(resp, Response::Pong);
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    println!(
        "ipc ping, {clients:>2} client(s): {:>8.0} req/s   p50 {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs   ({} requests)",
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.50).as_secs_f64() * 1e6,
        percentile(&all, 0.99).as_secs_f64() * 1e6,
        all.last().map_or(0.0, |d| d.as_secs_f64() * 1e6),
        all.len()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs benches in test mode with no such flag: do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let db = TestDb::create().await;
        let dir = scratch_dir();
        let daemon = Daemon::start(&DaemonOptions::in_dir(dir.path(), Some(db.url.clone()))).await;
        run(&daemon, 1).await;
        run(&daemon, 16).await;
        drop(daemon);
    });
}
