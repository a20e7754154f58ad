//! Lookups per second through `EnrichmentService`, with all four sources loaded: MaxMind City and
//! ASN (20k /24 networks each) and IP2Location DB26 / IP2Proxy PX11 BIN files (100k ranges each).
//! Cold = every address asked of the databases (no cache); cached = the in-memory cache answering.
//! Prints the figures; asserts nothing.
//!
//! Run: `cargo bench -p hunter-tests --bench enrichment`.

use hunterd::config::EnrichmentConfig;
use hunterd::enrich::ip2bin::{Product, write_bin};
use hunterd::enrich::{AddressRole, EnrichmentService};
use maxminddb_writer::metadata::IpVersion;
use maxminddb_writer::paths::IpAddrWithMask;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

const RANGES: u32 = 100_000;
const NETWORKS: u32 = 20_000;
const ADDRESSES: u32 = 200_000;

#[derive(serde::Serialize)]
struct Names {
    en: String,
}

#[derive(serde::Serialize)]
struct Country {
    iso_code: String,
    names: Names,
}

#[derive(serde::Serialize)]
struct City {
    country: Country,
}

#[derive(serde::Serialize)]
struct Asn {
    autonomous_system_number: u32,
    autonomous_system_organization: String,
}

/// The `i`-th test address, spread over the whole IPv4 space.
fn address(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_654_435_761)))
}

fn main() {
    println!("enrichment benchmark: building databases …");
    let dir = tempfile::tempdir().unwrap();
    let rows = |product: Product| hunter_tests::synthetic_bin_rows(product, RANGES);
    let loc = dir.path().join("loc.bin");
    let proxy = dir.path().join("proxy.bin");
    std::fs::write(&loc, write_bin(Product::Ip2Location, 26, (26, 11, 1), &rows(Product::Ip2Location)).unwrap())
        .unwrap();
    std::fs::write(&proxy, write_bin(Product::Ip2Proxy, 11, (26, 11, 1), &rows(Product::Ip2Proxy)).unwrap()).unwrap();
    let city = dir.path().join("city.mmdb");
    let asn = dir.path().join("asn.mmdb");
    std::fs::write(&city, mmdb_city()).unwrap();
    std::fs::write(&asn, mmdb_asn()).unwrap();
    let config = EnrichmentConfig {
        maxmind_city_db: Some(city),
        maxmind_asn_db: Some(asn),
        ip2location_db: Some(loc),
        ip2proxy_db: Some(proxy),
        ..EnrichmentConfig::default()
    };
    let service = EnrichmentService::open(&config);
    assert_eq!(service.absent_reason(), None, "{:?}", service.sources());

    let started = Instant::now();
    let mut found = 0u32;
    for i in 0..ADDRESSES {
        found += u32::from(!service.lookup_uncached(address(i)).is_empty());
    }
    let cold = started.elapsed();
    println!(
        "cold (4 sources, no cache):  {ADDRESSES} lookups in {:.3}s = {:.0} lookups/s ({found} with data)",
        cold.as_secs_f64(),
        f64::from(ADDRESSES) / cold.as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let warm_set = 10_000u32;
        let started = Instant::now();
        for i in 0..warm_set {
            service.lookup(address(i)).await;
        }
        let first = started.elapsed();
        println!(
            "first lookups (fill cache):  {warm_set} lookups in {:.3}s = {:.0} lookups/s",
            first.as_secs_f64(),
            f64::from(warm_set) / first.as_secs_f64()
        );
        let rounds = 100u32;
        let started = Instant::now();
        for _ in 0..rounds {
            for i in 0..warm_set {
                std::hint::black_box(service.lookup(address(i)).await);
            }
        }
        let cached = started.elapsed();
        let n = f64::from(rounds * warm_set);
        println!(
            "cached (in-memory):          {n} lookups in {:.3}s = {:.0} lookups/s",
            cached.as_secs_f64(),
            n / cached.as_secs_f64()
        );

        // What a scan does: a report (summary included) for its two MX addresses.
        let scans = 50_000u32;
        let mail = |i: u32| [(address(2 * i), AddressRole::Mail), (address(2 * i + 1), AddressRole::Mail)];
        for (label, offset) in [("scan reports, cache misses:", warm_set), ("scan reports, cache hits:  ", 0)] {
            let started = Instant::now();
            for i in 0..scans {
                let i = if offset == 0 { i % (warm_set / 2) } else { offset + i };
                std::hint::black_box(service.enrich(&mail(i)).await);
            }
            let took = started.elapsed();
            println!(
                "{label} {scans} reports in {:.3}s = {:.1} µs per scan",
                took.as_secs_f64(),
                took.as_secs_f64() * 1e6 / f64::from(scans)
            );
        }
    });
}

fn mmdb_city() -> Vec<u8> {
    build("GeoLite2-City", |n| City {
        country: Country { iso_code: "IE".into(), names: Names { en: format!("Country {}", n % 200) } },
    })
}

fn mmdb_asn() -> Vec<u8> {
    build("GeoLite2-ASN", |n| Asn {
        autonomous_system_number: 64_512 + n % 1000,
        autonomous_system_organization: format!("AS org {}", n % 1000),
    })
}

fn build<T: serde::Serialize>(kind: &str, value: impl Fn(u32) -> T) -> Vec<u8> {
    let mut db = maxminddb_writer::Database::default();
    db.metadata.ip_version = IpVersion::V6;
    db.metadata.database_type = kind.into();
    db.metadata.binary_format_major_version = 2;
    db.metadata.build_epoch = 1_700_000_000;
    for n in 0..NETWORKS {
        let net = (n * (u32::MAX / NETWORKS)) & 0xffff_ff00;
        let data = db.insert_value(value(n)).unwrap();
        db.insert_node(IpAddrWithMask::new(IpAddr::V6(Ipv6Addr::from(u128::from(net))), 96 + 24), data);
    }
    db.write_to(Vec::new()).unwrap()
}
