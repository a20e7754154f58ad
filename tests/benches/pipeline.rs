//! The whole scan pipeline in a real (release) hunterd: queue → DNS scan → detection → score → store,
//! for synthetic domains served by the loopback test DNS server, with instant and 20 ms answers.
//! Prints domains/s, the daemon's CPU and peak RSS; asserts nothing.
//!
//! Run: `cargo bench -p hunter-tests --bench pipeline` (needs PostgreSQL at DATABASE_URL).
//! `PIPELINE_BENCH_SIZES=10000,100000` and `PIPELINE_BENCH_DELAYS_MS=0,20` change the runs.
//! `PIPELINE_BENCH_ENRICHMENT=1` also runs each with `features.ip_enrichment` on and all four
//! databases loaded (small MaxMind City/ASN and IP2Location/IP2Proxy BIN files written here), to
//! measure what enrichment adds to a full scan (goal: < 5 %). `PIPELINE_BENCH_REPEAT=5` alternates the
//! off/on runs that many times and prints the median of each, since single runs vary by ±10 % here.

use hunter_tests::dns::{DnsServer, synthetic};
use hunter_tests::{Daemon, DaemonOptions, TestDb, scratch_dir};
use protocol::{Request, Response};
use std::time::{Duration, Instant};

use hunter_tests::process_usage;

fn list(var: &str, default: &str) -> Vec<u64> {
    std::env::var(var).unwrap_or_else(|_| default.into()).split(',').filter_map(|v| v.trim().parse().ok()).collect()
}

/// Writes small databases of all four kinds to `dir`; returns the daemon's environment for them.
fn enrichment_env(dir: &std::path::Path) -> Vec<(String, String)> {
    use hunterd::enrich::ip2bin::{Product, write_bin};
    use std::net::{IpAddr, Ipv6Addr};
    const RANGES: u32 = 10_000;
    let rows = |product: Product| hunter_tests::synthetic_bin_rows(product, RANGES);
    let mmdb = |kind: &str| -> Vec<u8> {
        let mut db = maxminddb_writer::Database::default();
        db.metadata.ip_version = maxminddb_writer::metadata::IpVersion::V6;
        db.metadata.database_type = kind.into();
        db.metadata.binary_format_major_version = 2;
        db.metadata.build_epoch = 1_700_000_000;
        for n in 0..RANGES {
            let net = u128::from((n * (u32::MAX / RANGES)) & 0xffff_ff00);
            let mut value = std::collections::BTreeMap::new();
            value.insert("autonomous_system_number", serde_json::json!(64_512 + n % 1000));
            value.insert("country", serde_json::json!({"iso_code": "IE", "names": {"en": "Ireland"}}));
            let data = db.insert_value(value).unwrap();
            let at = maxminddb_writer::paths::IpAddrWithMask::new(IpAddr::V6(Ipv6Addr::from(net)), 96 + 24);
            db.insert_node(at, data);
        }
        db.write_to(Vec::new()).unwrap()
    };
    let put = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };
    vec![
        ("HUNTER_FEATURES__IP_ENRICHMENT".into(), "true".into()),
        ("HUNTER_ENRICHMENT__MAXMIND_CITY_DB".into(), put("city.mmdb", mmdb("GeoLite2-City"))),
        ("HUNTER_ENRICHMENT__MAXMIND_ASN_DB".into(), put("asn.mmdb", mmdb("GeoLite2-ASN"))),
        (
            "HUNTER_ENRICHMENT__IP2LOCATION_DB".into(),
            put("loc.bin", write_bin(Product::Ip2Location, 26, (26, 11, 1), &rows(Product::Ip2Location)).unwrap()),
        ),
        (
            "HUNTER_ENRICHMENT__IP2PROXY_DB".into(),
            put("proxy.bin", write_bin(Product::Ip2Proxy, 11, (26, 11, 1), &rows(Product::Ip2Proxy)).unwrap()),
        ),
    ]
}

/// Returns domains per second.
async fn run(size: u64, delay_ms: u64, enrichment: bool) -> f64 {
    let dns = DnsServer::builder().synthetic().delay(Duration::from_millis(delay_ms)).threads(1).start();
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.extra_env = vec![
        ("HUNTER_SCAN__NAMESERVERS".into(), dns.nameserver()),
        ("HUNTER_WHOIS__ENABLED".into(), "false".into()),
        ("RUST_LOG".into(), "warn".into()),
    ];
    if enrichment {
        options.extra_env.extend(enrichment_env(dir.path()));
    }
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
        "pipeline {size:>7} domains, {delay_ms:>2} ms answers, enrichment {:<3}: {:>7.0} domains/s  {:>7.0} DNS queries/s  daemon CPU {:>4.0}%  daemon peak RSS {:>5.1} MiB  ({elapsed:.1} s)",
        if enrichment { "on" } else { "off" },
        size as f64 / elapsed,
        queries as f64 / elapsed,
        (cpu_after - cpu_before) / elapsed * 100.0,
        rss_mb,
    );
    pool.close().await;
    drop(daemon);
    size as f64 / elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let with_enrichment = std::env::var("PIPELINE_BENCH_ENRICHMENT").is_ok_and(|v| v == "1");
        let repeat = list("PIPELINE_BENCH_REPEAT", "1").first().copied().unwrap_or(1).max(1);
        for delay in list("PIPELINE_BENCH_DELAYS_MS", "0,20") {
            for size in list("PIPELINE_BENCH_SIZES", "10000") {
                let (mut off, mut on) = (Vec::new(), Vec::new());
                for _ in 0..repeat {
                    off.push(run(size, delay, false).await);
                    if with_enrichment {
                        on.push(run(size, delay, true).await);
                    }
                }
                if with_enrichment && repeat > 1 {
                    let (off, on) = (median(off), median(on));
                    println!(
                        "pipeline {size:>7} domains, {delay_ms:>2} ms answers: median of {repeat}: off {off:.0}/s, on {on:.0}/s, enrichment adds {:.1} % to scan time",
                        (off / on - 1.0) * 100.0,
                        delay_ms = delay
                    );
                }
            }
        }
    });
}
