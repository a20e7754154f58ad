//! Enrichment against small databases built here: MaxMind DBs via `maxminddb-writer`, IP2Location and
//! IP2Proxy BIN files via [`write_bin`].

use super::ip2bin::{BinDb, BinRow, Product, write_bin};
use super::*;
use crate::config::{EnrichmentConfig, HumanDuration};
use maxminddb_writer::metadata::IpVersion;
use maxminddb_writer::paths::IpAddrWithMask;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Addresses of mail servers, as a scan hands them over.
pub(super) fn mail(ips: &[IpAddr]) -> Vec<(IpAddr, AddressRole)> {
    ips.iter().map(|ip| (*ip, AddressRole::Mail)).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[derive(Serialize)]
struct Names {
    en: String,
}

#[derive(Serialize)]
struct CountryRec {
    iso_code: String,
    names: Names,
}

#[derive(Serialize)]
struct CityName {
    names: Names,
}

#[derive(Serialize)]
struct CityRec {
    country: CountryRec,
    city: CityName,
    subdivisions: Vec<CityName>,
}

#[derive(Serialize)]
struct AsnRec {
    autonomous_system_number: u32,
    autonomous_system_organization: String,
}

/// The network in an IPv6 tree: IPv4 networks live under `::/96`.
fn network(cidr: &str) -> IpAddrWithMask {
    let (addr, mask) = cidr.split_once('/').unwrap();
    let mask: u8 = mask.parse().unwrap();
    match ip(addr) {
        IpAddr::V4(v4) => IpAddrWithMask::new(IpAddr::V6(Ipv6Addr::from(u128::from(u32::from(v4)))), 96 + mask),
        v6 => IpAddrWithMask::new(v6, mask),
    }
}

pub(super) fn mmdb<T: Serialize>(kind: &str, build_epoch: u64, entries: Vec<(&str, T)>) -> Vec<u8> {
    let mut db = maxminddb_writer::Database::default();
    db.metadata.ip_version = IpVersion::V6;
    db.metadata.database_type = kind.into();
    db.metadata.binary_format_major_version = 2;
    db.metadata.build_epoch = build_epoch;
    db.metadata.languages = vec!["en".into()];
    for (cidr, value) in entries {
        let data = db.insert_value(value).unwrap();
        db.insert_node(network(cidr), data);
    }
    db.write_to(Vec::new()).unwrap()
}

fn city(code: &str, country: &str, region: &str, city: &str) -> CityRec {
    CityRec {
        country: CountryRec { iso_code: code.into(), names: Names { en: country.into() } },
        city: CityName { names: Names { en: city.into() } },
        subdivisions: vec![CityName { names: Names { en: region.into() } }],
    }
}

fn asn(number: u32, org: &str) -> AsnRec {
    AsnRec { autonomous_system_number: number, autonomous_system_organization: org.into() }
}

pub(super) fn city_db() -> Vec<u8> {
    mmdb(
        "GeoLite2-City",
        1_700_000_000,
        vec![
            ("52.101.0.0/16", city("IE", "Ireland", "Leinster", "Dublin")),
            ("2a01:111::/32", city("IE", "Ireland", "Leinster", "Dublin")),
        ],
    )
}

pub(super) fn asn_db(build: u64) -> Vec<u8> {
    mmdb(
        "GeoLite2-ASN",
        build,
        vec![
            ("52.101.0.0/16", asn(8075, "MICROSOFT-CORP-MSN-AS-BLOCK")),
            ("2a01:111::/32", asn(8075, "MICROSOFT-CORP-MSN-AS-BLOCK")),
        ],
    )
}

fn row(from: &str, f: impl FnOnce(&mut BinRow)) -> BinRow {
    let mut r = BinRow::new(ip(from));
    f(&mut r);
    r
}

/// DB26 (every field we read), ranges: 5.9.0.0–5.9.255.255 Hetzner data centre in Germany,
/// 2a01:4f8:: Hetzner over IPv6; everything else "-".
pub(super) fn ip2location_db(date: (u8, u8, u8)) -> Vec<u8> {
    let hetzner = |r: &mut BinRow| {
        r.country_short = Some("DE".into());
        r.country_long = Some("Germany".into());
        r.region = Some("Bayern".into());
        r.city = Some("Nuremberg".into());
        r.isp = Some("Hetzner Online GmbH".into());
        r.usage_type = Some("DCH".into());
        r.asn = Some(24940);
        r.as_name = Some("Hetzner Online GmbH".into());
    };
    write_bin(
        Product::Ip2Location,
        26,
        date,
        &[
            row("0.0.0.0", |_| {}),
            row("5.9.0.0", hetzner),
            row("5.10.0.0", |_| {}),
            row("::", |_| {}),
            row("2a01:4f8::", hetzner),
            row("2a01:4f9::", |_| {}),
        ],
    )
    .unwrap()
}

/// PX11: 198.51.100.0/24 a VPN exit, 203.0.113.0/24 a data-centre range, 5.9.0.0/16 nothing
/// (country `-` = not a proxy), 2001:db8:: a TOR exit.
pub(super) fn ip2proxy_db() -> Vec<u8> {
    write_bin(
        Product::Ip2Proxy,
        11,
        (26, 11, 1),
        &[
            row("0.0.0.0", |_| {}),
            row("198.51.100.0", |r| {
                r.proxy_type = Some("VPN".into());
                r.country_short = Some("NL".into());
                r.country_long = Some("Netherlands".into());
                r.provider = Some("ExampleVPN".into());
                r.isp = Some("M247 Europe".into());
            }),
            row("198.51.101.0", |_| {}),
            row("203.0.113.0", |r| {
                r.proxy_type = Some("DCH".into());
                r.country_short = Some("US".into());
                r.country_long = Some("United States of America".into());
                r.isp = Some("Amazon Technologies Inc.".into());
                r.usage_type = Some("DCH".into());
            }),
            row("203.0.114.0", |_| {}),
            row("::", |_| {}),
            row("2001:db8::", |r| {
                r.proxy_type = Some("TOR".into());
                r.country_short = Some("DE".into());
                r.country_long = Some("Germany".into());
            }),
            row("2001:db9::", |_| {}),
        ],
    )
    .unwrap()
}

pub(super) struct Files {
    pub(super) dir: tempfile::TempDir,
}

impl Files {
    pub(super) fn new() -> Files {
        Files { dir: tempfile::tempdir().unwrap() }
    }

    pub(super) fn put(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// All four sources, freshly written.
    fn all(&self) -> EnrichmentConfig {
        EnrichmentConfig {
            maxmind_city_db: Some(self.put("city.mmdb", &city_db())),
            maxmind_asn_db: Some(self.put("asn.mmdb", &asn_db(1_700_000_000))),
            ip2location_db: Some(self.put("loc.bin", &ip2location_db((26, 11, 1)))),
            ip2proxy_db: Some(self.put("proxy.bin", &ip2proxy_db())),
            ..EnrichmentConfig::default()
        }
    }
}

#[test]
fn an_ipv4_mail_server_gets_country_city_and_asn_from_maxmind() {
    let files = Files::new();
    let service = EnrichmentService::open(&files.all());
    let e = service.lookup_uncached(ip("52.101.10.5"));
    assert_eq!(e.country.as_deref(), Some("IE"));
    assert_eq!(e.country_name.as_deref(), Some("Ireland"));
    assert_eq!(e.region.as_deref(), Some("Leinster"));
    assert_eq!(e.city.as_deref(), Some("Dublin"));
    assert_eq!(e.asn, Some(8075));
    assert_eq!(e.as_org.as_deref(), Some("MICROSOFT-CORP-MSN-AS-BLOCK"));
    assert_eq!(e.sources.get("country").map(String::as_str), Some(MAXMIND_CITY));
    assert_eq!(e.sources.get("asn").map(String::as_str), Some(MAXMIND_ASN));
}

#[test]
fn an_ipv6_mail_server_is_looked_up_in_the_ipv6_tree() {
    let files = Files::new();
    let service = EnrichmentService::open(&files.all());
    let e = service.lookup_uncached(ip("2a01:111:f400::1"));
    assert_eq!((e.country.as_deref(), e.asn), (Some("IE"), Some(8075)));
}

#[test]
fn an_address_no_database_knows_is_empty_and_has_no_summary() {
    let files = Files::new();
    let config = EnrichmentConfig { ip2proxy_db: None, ..files.all() };
    let service = EnrichmentService::open(&config);
    let e = service.lookup_uncached(ip("192.0.2.1"));
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(infrastructure_summary(&[e]), None);
}

#[test]
fn ip2location_supplies_isp_usage_type_and_the_data_centre_flag() {
    let files = Files::new();
    let config = EnrichmentConfig {
        ip2location_db: Some(files.put("loc.bin", &ip2location_db((26, 11, 1)))),
        ..EnrichmentConfig::default()
    };
    let e = EnrichmentService::open(&config).lookup_uncached(ip("5.9.33.4"));
    assert_eq!(e.country.as_deref(), Some("DE"));
    assert_eq!(e.city.as_deref(), Some("Nuremberg"));
    assert_eq!(e.isp.as_deref(), Some("Hetzner Online GmbH"));
    assert_eq!(e.usage_type.as_deref(), Some("DCH"));
    assert_eq!(e.asn, Some(24940));
    assert_eq!(e.is_data_center, Some(true));
    assert_eq!(e.hosting_provider.as_deref(), Some("Hetzner Online GmbH"));
    assert_eq!(e.is_proxy, None, "no proxy database, so proxy status is unknown");
    assert_eq!(e.sources.get("isp").map(String::as_str), Some(IP2LOCATION));
}

#[test]
fn ip2location_answers_ipv6_and_ipv4_mapped_addresses() {
    let db = BinDb::from_bytes(ip2location_db((26, 11, 1)), Product::Ip2Location).unwrap();
    let v6 = db.lookup(ip("2a01:4f8:c17::2")).unwrap().unwrap();
    assert_eq!(v6.country_short.as_deref(), Some("DE"));
    let mapped = db.lookup(ip("::ffff:5.9.1.1")).unwrap().unwrap();
    assert_eq!(mapped.isp.as_deref(), Some("Hetzner Online GmbH"));
    let outside = db.lookup(ip("5.10.0.1")).unwrap().unwrap();
    assert_eq!(outside, ip2bin::BinRecord::default());
}

#[test]
fn ip2proxy_vpn_ranges_are_proxies_of_type_vpn() {
    let files = Files::new();
    let config =
        EnrichmentConfig { ip2proxy_db: Some(files.put("proxy.bin", &ip2proxy_db())), ..EnrichmentConfig::default() };
    let e = EnrichmentService::open(&config).lookup_uncached(ip("198.51.100.77"));
    assert_eq!(e.is_proxy, Some(true));
    assert_eq!(e.is_vpn, Some(true));
    assert_eq!(e.is_tor, Some(false));
    assert_eq!(e.proxy_type.as_deref(), Some("VPN"));
    assert_eq!(e.sources.get("is_proxy").map(String::as_str), Some(IP2PROXY));
    assert_eq!(
        infrastructure_summary(&[e]).as_deref(),
        Some("Mail servers hosted by M247 Europe in Netherlands; proxy/VPN signals: VPN")
    );
}

#[test]
fn ip2proxy_tor_exits_are_found_over_ipv6() {
    let db = BinDb::from_bytes(ip2proxy_db(), Product::Ip2Proxy).unwrap();
    let r = db.lookup(ip("2001:db8::42")).unwrap().unwrap();
    assert_eq!((r.proxy_type.as_deref(), r.is_proxy), (Some("TOR"), Some(1)));
}

#[test]
fn an_ip2proxy_data_centre_range_is_a_data_centre_not_a_proxy_signal() {
    let files = Files::new();
    let config =
        EnrichmentConfig { ip2proxy_db: Some(files.put("proxy.bin", &ip2proxy_db())), ..EnrichmentConfig::default() };
    let e = EnrichmentService::open(&config).lookup_uncached(ip("203.0.113.9"));
    assert_eq!(e.is_proxy, Some(true), "IP2Proxy is_proxy 2 (data centre) counts as ≥ 1");
    assert_eq!(e.is_data_center, Some(true));
    assert_eq!(e.hosting_provider.as_deref(), Some("Amazon Technologies Inc."));
    assert_eq!(
        infrastructure_summary(&[e]).as_deref(),
        Some(
            "Mail servers hosted by Amazon Technologies Inc. in United States of America (data centre); no proxy/VPN signals"
        )
    );
}

#[test]
fn a_range_ip2proxy_marks_with_dash_is_not_a_proxy() {
    let db = BinDb::from_bytes(ip2proxy_db(), Product::Ip2Proxy).unwrap();
    let r = db.lookup(ip("5.9.1.1")).unwrap().unwrap();
    assert_eq!(r.is_proxy, Some(0));
}

#[test]
fn all_sources_merge_into_the_salespersons_sentence() {
    let files = Files::new();
    let service = EnrichmentService::open(&files.all());
    let e = service.lookup_uncached(ip("52.101.10.5"));
    assert_eq!(e.is_proxy, Some(false));
    let mut named = e.clone();
    named.as_org = Some("Microsoft".into());
    assert_eq!(
        infrastructure_summary(&[named]).as_deref(),
        Some("Mail servers hosted by Microsoft (AS8075) in Ireland; no proxy/VPN signals")
    );
}

#[test]
fn several_hosting_places_are_all_named_in_order() {
    let files = Files::new();
    let service = EnrichmentService::open(&files.all());
    let ips: Vec<IpEnrichment> =
        ["52.101.10.5", "5.9.1.1", "52.101.99.1"].iter().map(|a| service.lookup_uncached(ip(a))).collect();
    assert_eq!(
        infrastructure_summary(&ips).as_deref(),
        Some(
            "Mail servers hosted by MICROSOFT-CORP-MSN-AS-BLOCK (AS8075) in Ireland and hosted by Hetzner Online GmbH (AS24940) in Germany (data centre); no proxy/VPN signals"
        )
    );
}

/// A known address with a role, for the sentence tests.
fn at(org: &str, country: &str, roles: &[AddressRole]) -> IpEnrichment {
    let mut e = IpEnrichment {
        as_org: Some(org.into()),
        country_name: Some(country.into()),
        is_proxy: Some(false),
        roles: roles.to_vec(),
        ..IpEnrichment::default()
    };
    e.sources.insert("as_org".into(), MAXMIND_ASN.into());
    e
}

#[test]
fn the_website_gets_its_own_clause_when_it_is_hosted_elsewhere() {
    let ips =
        [at("Microsoft", "Ireland", &[AddressRole::Mail]), at("Cloudflare", "United States", &[AddressRole::Www])];
    assert_eq!(
        infrastructure_summary(&ips).as_deref(),
        Some(
            "Mail servers hosted by Microsoft in Ireland; website hosted by Cloudflare in United States; no proxy/VPN signals"
        )
    );
}

#[test]
fn mail_and_website_in_the_same_places_are_named_once() {
    let ips = [
        at("Hetzner", "Germany", &[AddressRole::Mail, AddressRole::Domain]),
        at("Hetzner", "Germany", &[AddressRole::Www]),
    ];
    assert_eq!(
        infrastructure_summary(&ips).as_deref(),
        Some("Mail servers and website hosted by Hetzner in Germany; no proxy/VPN signals")
    );
}

#[test]
fn a_domain_without_known_mail_servers_is_described_by_its_website() {
    let ips = [at("OVH", "France", &[AddressRole::Domain])];
    assert_eq!(infrastructure_summary(&ips).as_deref(), Some("Website hosted by OVH in France; no proxy/VPN signals"));
}

#[test]
fn the_headline_address_is_a_mail_server_even_when_the_website_comes_first() {
    let report = EnrichmentReport {
        ips: vec![at("OVH", "France", &[AddressRole::Domain]), at("Microsoft", "Ireland", &[AddressRole::Mail])],
        ..EnrichmentReport::default()
    };
    assert_eq!(report.primary().and_then(|e| e.as_org.as_deref()), Some("Microsoft"));
    let web_only =
        EnrichmentReport { ips: vec![at("OVH", "France", &[AddressRole::Www])], ..EnrichmentReport::default() };
    assert_eq!(web_only.primary().and_then(|e| e.as_org.as_deref()), Some("OVH"), "the website stands in");
}

#[test]
fn a_mail_server_unknown_to_the_databases_is_not_replaced_by_the_website() {
    let unknown_mail = IpEnrichment { roles: vec![AddressRole::Mail], ..IpEnrichment::default() };
    let report = EnrichmentReport {
        ips: vec![unknown_mail, at("OVH", "France", &[AddressRole::Domain])],
        ..EnrichmentReport::default()
    };
    assert_eq!(report.primary(), None);
}

#[test]
fn a_report_stored_before_roles_existed_reads_as_mail_servers() {
    let old = serde_json::json!({ "ip": "5.9.1.1", "as_org": "Hetzner", "sources": { "as_org": "maxmind-asn" } });
    let e: IpEnrichment = serde_json::from_value(old).unwrap();
    assert!(e.serves_mail() && !e.serves_web());
}

#[tokio::test]
async fn an_address_with_several_roles_is_looked_up_once_and_listed_with_all_of_them() {
    let files = Files::new();
    let service = EnrichmentService::open(&files.all());
    let (mx, web) = (ip("52.101.10.5"), ip("5.9.1.1"));
    let report = service
        .enrich(&[(mx, AddressRole::Mail), (web, AddressRole::Domain), (mx, AddressRole::Www), (web, AddressRole::Www)])
        .await;
    let listed: Vec<(Option<IpAddr>, Vec<AddressRole>)> = report.ips.iter().map(|e| (e.ip, e.roles.clone())).collect();
    assert_eq!(
        listed,
        [
            (Some(mx), vec![AddressRole::Mail, AddressRole::Www]),
            (Some(web), vec![AddressRole::Domain, AddressRole::Www])
        ]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn scans_are_answered_from_the_cache_loaded_at_start_without_asking_postgresql(pool: sqlx::PgPool) {
    let files = Files::new();
    let config = files.all();
    let first = EnrichmentService::open(&config);
    first.attach_cache(pool.clone()).await;
    first.enrich(&mail(&[ip("52.101.10.5")])).await;
    first.flush_cache().await;
    tamper(&pool, "52.101.10.5").await;
    let second = EnrichmentService::open(&config);
    second.attach_cache(pool.clone()).await;
    // PostgreSQL goes away: the scan path still answers, from what was loaded.
    pool.close().await;
    let report = second.enrich(&mail(&[ip("52.101.10.5"), ip("5.9.1.1")])).await;
    let cities: Vec<Option<&str>> = report.ips.iter().map(|e| e.city.as_deref()).collect();
    assert_eq!(cities[0], Some("FromCache"), "the loaded cache answered");
    assert_eq!(report.ips[1].isp.as_deref(), Some("Hetzner Online GmbH"), "a miss is looked up in the files");
}

#[sqlx::test(migrations = "../migrations")]
async fn new_lookups_reach_postgresql_without_an_explicit_flush(pool: sqlx::PgPool) {
    let files = Files::new();
    let service = EnrichmentService::open(&files.all());
    service.attach_cache(pool.clone()).await;
    service.enrich(&mail(&[ip("52.101.10.5"), ip("5.9.1.1")])).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let cached: i64 = sqlx::query_scalar("SELECT count(*) FROM ip_enrichment").fetch_one(&pool).await.unwrap();
        if cached == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "written behind within a few seconds, found {cached}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_names_file(error: &str, path: &Path) {
    assert!(error.contains(&path.display().to_string()), "{error}");
}

#[test]
fn a_truncated_bin_file_is_reported_with_its_name() {
    let files = Files::new();
    let full = ip2location_db((26, 11, 1));
    let path = files.put("cut.bin", &full[..full.len() / 3]);
    let service =
        EnrichmentService::open(&EnrichmentConfig { ip2location_db: Some(path.clone()), ..Default::default() });
    let reason = service.absent_reason().unwrap();
    assert_names_file(&reason, &path);
    assert!(reason.contains("truncated"), "{reason}");
    assert!(service.lookup_uncached(ip("5.9.1.1")).is_empty());
}

#[test]
fn a_corrupt_maxmind_file_is_reported_with_its_name_and_the_others_still_answer() {
    let files = Files::new();
    let mut config = files.all();
    let bad = files.put("garbage.mmdb", &[7u8; 4096]);
    config.maxmind_asn_db = Some(bad.clone());
    let service = EnrichmentService::open(&config);
    let broken = service.sources().into_iter().find(|s| s.name == MAXMIND_ASN).unwrap();
    assert_names_file(broken.error.as_deref().unwrap(), &bad);
    assert_eq!(service.absent_reason(), None);
    assert_eq!(service.lookup_uncached(ip("52.101.10.5")).country.as_deref(), Some("IE"));
}

#[test]
fn an_ip2proxy_file_given_as_ip2location_is_refused() {
    assert!(matches!(
        BinDb::from_bytes(ip2proxy_db(), Product::Ip2Location),
        Err(ip2bin::BinError::WrongProduct { .. })
    ));
}

#[tokio::test]
async fn missing_files_make_enrichment_absent_with_a_reason() {
    let config = EnrichmentConfig { maxmind_city_db: Some("/nonexistent/city.mmdb".into()), ..Default::default() };
    let report = EnrichmentService::open(&config).enrich(&mail(&[ip("52.101.10.5")])).await;
    assert!(report.ips.is_empty());
    assert!(report.absent_reason.as_deref().unwrap().contains("/nonexistent/city.mmdb"));
}

#[tokio::test]
async fn no_configured_files_make_enrichment_absent_with_a_reason() {
    let report = EnrichmentService::open(&EnrichmentConfig::default()).enrich(&mail(&[ip("52.101.10.5")])).await;
    assert!(report.absent_reason.as_deref().unwrap().contains("no IP enrichment database configured"));
}

#[tokio::test]
async fn the_same_inputs_give_the_same_report() {
    let files = Files::new();
    let config = files.all();
    let addresses = [ip("52.101.10.5"), ip("5.9.1.1"), ip("52.101.10.5")];
    let a = EnrichmentService::open(&config).enrich(&mail(&addresses)).await;
    let b = EnrichmentService::open(&config).enrich(&mail(&addresses)).await;
    assert_eq!(a, b);
    assert_eq!(a.ips.len(), 2, "duplicate addresses are looked up once");
}

#[test]
fn a_replaced_file_is_swapped_in_without_a_restart() {
    let files = Files::new();
    let config = files.all();
    let service = EnrichmentService::open(&config).with_poll_interval(Duration::ZERO);
    let before = service.source_version();
    assert!(!service.reload_if_changed(), "nothing changed yet");
    let in_flight = service.lookup_uncached(ip("52.101.10.5"));
    files.put("asn.mmdb", &asn_db(1_800_000_000));
    assert!(service.reload_if_changed());
    assert_ne!(service.source_version(), before);
    assert!(service.source_version().contains("GeoLite2-ASN@1800000000"));
    assert_eq!(service.lookup_uncached(ip("52.101.10.5")), in_flight);
}

#[test]
fn a_cached_entry_is_fresh_only_for_the_same_databases_within_the_ttl() {
    let now = chrono::Utc::now();
    let ttl = Duration::from_secs(3600);
    assert!(cache::is_fresh("v1", now - chrono::Duration::minutes(59), "v1", now, ttl));
    assert!(!cache::is_fresh("v1", now - chrono::Duration::minutes(61), "v1", now, ttl));
    assert!(!cache::is_fresh("v0", now, "v1", now, ttl));
}

/// Marks the cached row so a later answer can only have come from the cache.
pub(super) async fn tamper(pool: &sqlx::PgPool, address: &str) {
    sqlx::query("UPDATE ip_enrichment SET result = jsonb_set(result, '{city}', '\"FromCache\"') WHERE ip = $1")
        .bind(address)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn a_second_lookup_is_answered_from_postgresql(pool: sqlx::PgPool) {
    let files = Files::new();
    let config = files.all();
    let first = EnrichmentService::open(&config);
    first.attach_cache(pool.clone()).await;
    assert_eq!(first.lookup(ip("52.101.10.5")).await.city.as_deref(), Some("Dublin"));
    tamper(&pool, "52.101.10.5").await;
    let second = EnrichmentService::open(&config);
    second.attach_cache(pool.clone()).await;
    assert_eq!(second.lookup(ip("52.101.10.5")).await.city.as_deref(), Some("FromCache"));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_new_database_build_bypasses_the_cache(pool: sqlx::PgPool) {
    let files = Files::new();
    let config = files.all();
    let first = EnrichmentService::open(&config);
    first.attach_cache(pool.clone()).await;
    first.lookup(ip("52.101.10.5")).await;
    tamper(&pool, "52.101.10.5").await;
    files.put("asn.mmdb", &asn_db(1_800_000_000));
    let second = EnrichmentService::open(&config);
    second.attach_cache(pool.clone()).await;
    assert_eq!(second.lookup(ip("52.101.10.5")).await.city.as_deref(), Some("Dublin"));
    let version: String = sqlx::query_scalar("SELECT source_version FROM ip_enrichment WHERE ip = '52.101.10.5'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(version.contains("GeoLite2-ASN@1800000000"), "{version}");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_entry_older_than_the_ttl_is_looked_up_again(pool: sqlx::PgPool) {
    let files = Files::new();
    let config = EnrichmentConfig { cache_ttl: HumanDuration::from_secs(60), ..files.all() };
    let first = EnrichmentService::open(&config);
    first.attach_cache(pool.clone()).await;
    first.lookup(ip("52.101.10.5")).await;
    tamper(&pool, "52.101.10.5").await;
    sqlx::query("UPDATE ip_enrichment SET looked_up_at = now() - interval '2 minutes'").execute(&pool).await.unwrap();
    let second = EnrichmentService::open(&config);
    second.attach_cache(pool.clone()).await;
    assert_eq!(second.lookup(ip("52.101.10.5")).await.city.as_deref(), Some("Dublin"));
}

#[test]
fn merged_fields_record_the_source_that_answered() {
    let files = Files::new();
    let e = EnrichmentService::open(&files.all()).lookup_uncached(ip("5.9.1.1"));
    let expected: BTreeMap<&str, &str> = [
        ("country", IP2LOCATION),
        ("isp", IP2LOCATION),
        ("asn", IP2LOCATION),
        ("is_proxy", IP2PROXY),
        ("is_data_center", IP2LOCATION),
    ]
    .into_iter()
    .collect();
    for (field, source) in expected {
        assert_eq!(e.sources.get(field).map(String::as_str), Some(source), "{field}");
    }
}

/// An ASN database whose numbers are stored as strings: it opens, but its records do not decode.
fn asn_db_with_string_numbers() -> Vec<u8> {
    #[derive(Serialize)]
    struct OddAsn {
        autonomous_system_number: String,
        autonomous_system_organization: String,
    }
    let odd = || OddAsn { autonomous_system_number: "8075".into(), autonomous_system_organization: "MSFT".into() };
    mmdb("GeoLite2-ASN", 1_700_000_000, vec![("52.101.0.0/16", odd()), ("2a01:111::/32", odd())])
}

#[test]
fn an_asn_database_whose_records_cannot_be_decoded_is_in_use_with_a_warning_naming_file_and_network() {
    let files = Files::new();
    let path = files.put("odd-asn.mmdb", &asn_db_with_string_numbers());
    let service =
        EnrichmentService::open(&EnrichmentConfig { maxmind_asn_db: Some(path.clone()), ..Default::default() });
    let info = service.sources();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].error, None, "the file opens");
    let warning = info[0].warning.as_deref().expect("a warning about the undecodable records");
    assert_names_file(warning, &path);
    assert!(warning.contains("52.101.0.0/16") && warning.contains("cannot be decoded"), "{warning}");
}

#[test]
fn an_undecodable_record_makes_the_geoip_databases_job_fail_with_the_warning() {
    let files = Files::new();
    let path = files.put("odd-asn.mmdb", &asn_db_with_string_numbers());
    let service =
        EnrichmentService::open(&EnrichmentConfig { maxmind_asn_db: Some(path.clone()), ..Default::default() });
    let error = super::freshness::check(&service, chrono::Utc::now(), Duration::from_secs(3650 * 86_400))
        .expect_err("the job reports the undecodable records");
    assert!(error.to_string().contains("cannot be decoded"), "{error}");
}

#[test]
fn well_formed_databases_carry_no_warning() {
    let files = Files::new();
    let service = EnrichmentService::open(&files.all());
    let warnings: Vec<_> = service.sources().into_iter().filter_map(|s| s.warning).collect();
    assert_eq!(warnings, Vec::<String>::new());
}

#[test]
fn an_ip2location_row_pointing_outside_the_file_is_a_warning_not_a_load_failure() {
    let files = Files::new();
    let mut bytes = ip2location_db((26, 11, 1));
    // The first IPv4 row's first string pointer (its country), set far past the end of the file.
    let base = u32::from_le_bytes(bytes[9..13].try_into().unwrap()) as usize - 1;
    bytes[base + 4..base + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let path = files.put("loc.bin", &bytes);
    let service =
        EnrichmentService::open(&EnrichmentConfig { ip2location_db: Some(path.clone()), ..Default::default() });
    let info = &service.sources()[0];
    assert_eq!(info.error, None);
    let warning = info.warning.as_deref().expect("a warning");
    assert_names_file(warning, &path);
    assert!(warning.contains("IPv4 row 1 cannot be read"), "{warning}");
}
