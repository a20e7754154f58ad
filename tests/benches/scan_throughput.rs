//! Full mail-DNS scans of 10k and 100k synthetic domains (`d{i}.bench.test`: a realistic mix of
//! Microsoft 365, Google, hosters, self-hosted and dead domains; see `hunter_tests::dns::synthetic`)
//! through `Scanner` against the loopback test DNS server, with instant answers and with every
//! answer delayed by 20 ms. Prints domains/s, DNS queries/s, queries per domain, CPU (whole process
//! and the test server's thread alone) and peak RSS; asserts nothing.
//!
//! Run: `cargo bench -p hunter-tests --bench scan_throughput`. The DNS server runs in this process
//! on its own thread and runtime, so the CPU figures include it: it is shown separately.

use hunter_tests::dns::{DnsServer, synthetic};
use hunterd::config::ScanConfig;
use hunterd::scan::{ScanStatus, Scanner};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Domains being scanned at once: enough to keep `scan.concurrency` queries in flight at 20 ms.
const DOMAINS_IN_FLIGHT: usize = 4_000;

/// A knob from the environment (for exploring, e.g. `SCAN_BENCH_CONCURRENCY=2048`), else `default`.
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn process_cpu() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS, so each run reports its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn run(dns: &DnsServer, config: &ScanConfig, domains: u64, label: &str) {
    let scanner = Scanner::new(config).expect("scanner");
    reset_peak_rss();
    let (cpu0, server_cpu0, server_q0) = (process_cpu(), dns.cpu_time(), dns.queries());
    let next = Arc::new(AtomicU64::new(0));
    let queries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..knob("SCAN_BENCH_IN_FLIGHT", DOMAINS_IN_FLIGHT as u64) {
        let (scanner, next, queries) = (scanner.clone(), next.clone(), queries.clone());
        workers.push(tokio::spawn(async move {
            let mut statuses: BTreeMap<&'static str, u64> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= domains {
                    return statuses;
                }
                let result = scanner.scan(&synthetic::domain(i)).await;
                queries.fetch_add(u64::from(result.queries), Ordering::Relaxed);
                *statuses.entry(result.status.as_str()).or_default() += 1;
            }
        }));
    }
    let mut statuses: BTreeMap<&'static str, u64> = BTreeMap::new();
    for worker in workers {
        for (status, n) in worker.await.expect("scan worker") {
            *statuses.entry(status).or_default() += n;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (process_cpu() - cpu0).as_secs_f64();
    let server_cpu = (dns.cpu_time() - server_cpu0).as_secs_f64();
    let sent = queries.load(Ordering::Relaxed);
    let received = dns.queries() - server_q0;
    let failed: u64 =
        statuses.iter().filter(|(s, _)| **s == ScanStatus::Timeout.as_str() || **s == "servfail").map(|(_, n)| n).sum();
    println!(
        "scan {label:>7}, {domains:>6} domains: {:>7.0} domains/s  {:>7.0} queries/s  {:>5.2} queries/domain  \
         CPU {:>4.0} % of a core (server {:>3.0} %, scanner+harness {:>4.0} %)  peak RSS {:>4} MB  {:>6.1} s  ({} server-side queries, {failed} failed scans)",
        domains as f64 / elapsed,
        sent as f64 / elapsed,
        sent as f64 / domains as f64,
        cpu / elapsed * 100.0,
        server_cpu / elapsed * 100.0,
        (cpu - server_cpu) / elapsed * 100.0,
        status_kb("VmHWM:") / 1024,
        elapsed,
        received,
    );
    println!(
        "    statuses: {statuses:?}; load average after: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs benches in test mode with no such flag: do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dns = DnsServer::builder().synthetic().start();
    let mut config = ScanConfig { nameservers: vec![dns.nameserver()], ..ScanConfig::default() };
    config.concurrency = knob("SCAN_BENCH_CONCURRENCY", u64::from(config.concurrency)) as u32;
    let sizes: Vec<u64> = std::env::var("SCAN_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let delays: Vec<u64> = std::env::var("SCAN_BENCH_DELAYS_MS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 20]);
    println!(
        "scanner config: concurrency {} in-flight queries, timeout {} ms, retries {}, {} DKIM selectors; {} domains in flight",
        config.concurrency,
        config.timeout_ms,
        config.retries,
        Scanner::new(&config).expect("scanner").dkim_selectors().len(),
        knob("SCAN_BENCH_IN_FLIGHT", DOMAINS_IN_FLIGHT as u64),
    );
    rt.block_on(async {
        for delay in delays {
            dns.set_delay(Duration::from_millis(delay));
            let label = if delay == 0 { "instant".to_string() } else { format!("{delay} ms") };
            for &domains in &sizes {
                run(&dns, &config, domains, &label).await;
            }
        }
    });
}
