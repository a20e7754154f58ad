//! The Dataverse + identity fake in a process of its own, for benchmarks: service-protection limits
//! as Dataverse applies them (6,000 requests per 300 s window, 52 concurrent requests per user).
//!
//! `test-dataverse [REQUESTS_PER_WINDOW] [WINDOW_SECS]` prints `org_url authority_url` on the first
//! line of stdout, then answers each line read on stdin with `requests throttled leads` so far. It
//! stops when stdin closes.

use hunter_tests::fakes::dataverse::{FakeDataverse, Limits};
use std::io::{BufRead, Write};
use std::time::Duration;

fn main() {
    let arg = |i: usize, default: u64| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (requests, window) = (arg(1, 6000), arg(2, 300));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let fake = runtime.block_on(async {
        let fake = FakeDataverse::start().await;
        fake.set_limits(Limits {
            requests: Some((requests as usize, Duration::from_secs(window))),
            concurrency: Some(52),
            retry_after_secs: 5,
        });
        fake
    });
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{} {}", fake.org_url(), fake.authority_url());
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
        let requests = fake.requests();
        let throttled = requests.iter().filter(|r| r.status == 429).count();
        let _ = writeln!(out, "{} {throttled} {}", requests.len(), fake.leads().len());
        let _ = out.flush();
    }
}
