//! The test DNS server in a process of its own, for benchmarks that must not share a process (and
//! its CPU accounting) with the server: serves the synthetic benchmark zones on a loopback port.
//!
//! `test-dns-server [DELAY_MS]` prints `ip:port` on the first line of stdout, then answers each line
//! read on stdin with the number of queries received so far. It stops when stdin closes.

use hunter_tests::dns::DnsServer;
use std::io::{BufRead, Write};
use std::time::Duration;

fn main() {
    let delay_ms: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(0);
    let dns = DnsServer::builder().synthetic().delay(Duration::from_millis(delay_ms)).threads(1).start();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", dns.nameserver());
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
        let _ = writeln!(out, "{}", dns.queries());
        let _ = out.flush();
    }
}
