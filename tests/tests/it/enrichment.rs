//! IP enrichment in the engine: a real scan of a domain served by a real DNS server, with and without
//! `features.ip_enrichment`. Enrichment informs the salesperson and never moves the score.

use hunter_tests::dns::{DnsServer, Zone};
use hunterd::config::Config;
use hunterd::enrich::AddressRole;
use hunterd::enrich::ip2bin::{BinRow, Product, write_bin};
use hunterd::pipeline::engine::Engine;

fn contoso() -> Zone {
    Zone::new("contoso.com")
        .mx(10, "mail.contoso.com")
        .mx(20, "backup.contoso.com")
        .a("mail.contoso.com", "5.9.1.1")
        .aaaa("backup.contoso.com", "2001:db8::25")
        .txt("v=spf1 ip4:5.9.1.1 -all")
        .dmarc("v=DMARC1; p=reject")
}

fn bin(product: Product, db_type: u8, rows: Vec<BinRow>) -> Vec<u8> {
    write_bin(product, db_type, (26, 11, 1), &rows).unwrap()
}

fn config(dns: &DnsServer, dir: &std::path::Path, enrichment_on: bool) -> Config {
    let mut hetzner = BinRow::new("5.9.0.0".parse().unwrap());
    hetzner.country_short = Some("DE".into());
    hetzner.country_long = Some("Germany".into());
    hetzner.isp = Some("Hetzner Online GmbH".into());
    hetzner.usage_type = Some("DCH".into());
    hetzner.asn = Some(24940);
    let mut vpn = BinRow::new("2001:db8::".parse().unwrap());
    vpn.country_short = Some("NL".into());
    vpn.proxy_type = Some("VPN".into());
    let location = dir.join("loc.bin");
    let proxy = dir.join("proxy.bin");
    std::fs::write(&location, bin(Product::Ip2Location, 26, vec![hetzner])).unwrap();
    std::fs::write(&proxy, bin(Product::Ip2Proxy, 11, vec![BinRow::new("0.0.0.0".parse().unwrap()), vpn])).unwrap();

    let mut config = Config::default();
    config.scan.nameservers = vec![dns.nameserver()];
    // Generous for a loaded machine; no retries, so query counts are exact.
    config.scan.timeout_ms = 5_000;
    config.scan.retries = 0;
    config.whois.enabled = false;
    config.features.ip_enrichment = enrichment_on;
    config.enrichment.ip2location_db = Some(location);
    config.enrichment.ip2proxy_db = Some(proxy);
    config
}

/// A migrated test database holding the company contoso.com, and its id.
async fn database_with_contoso() -> (hunter_tests::TestDb, sqlx::PgPool, i64) {
    let db = hunter_tests::TestDb::create().await;
    let pool = db.pool().await;
    hunterd::db::MIGRATOR.run(&pool).await.unwrap();
    let company_id: i64 =
        sqlx::query_scalar("INSERT INTO companies (domain, source) VALUES ('contoso.com', 'test') RETURNING id")
            .fetch_one(&pool)
            .await
            .unwrap();
    (db, pool, company_id)
}

#[tokio::test]
async fn the_score_is_identical_with_enrichment_on_and_off() {
    let dns = DnsServer::start([contoso()]);
    let dir = tempfile::tempdir().unwrap();
    let off = Engine::from_config(&config(&dns, dir.path(), false), dir.path()).unwrap();
    let on = Engine::from_config(&config(&dns, dir.path(), true), dir.path()).unwrap();
    let without = off.evaluate(1, "contoso.com", None).await;
    let with = on.evaluate(1, "contoso.com", None).await;

    let report = with.enrichment.as_ref().unwrap();
    assert_eq!(report.absent_reason, None);
    assert_eq!(report.ips.len(), 2, "{report:?}");
    assert_eq!(
        report.infrastructure_summary.as_deref(),
        Some(
            "Mail servers hosted by Hetzner Online GmbH (AS24940) in Germany and located in NL (data centre); proxy/VPN signals: VPN"
        )
    );
    assert!(without.enrichment.as_ref().unwrap().absent_reason.as_deref().unwrap().contains("features.ip_enrichment"));

    let (a, b) = (&without.score, &with.score);
    assert_eq!((a.score, &a.segment, &a.reason, &a.breakdown), (b.score, &b.segment, &b.reason, &b.breakdown));
    assert_eq!(
        (&a.priority, &a.technical_heat, &a.commercial_heat),
        (&b.priority, &b.technical_heat, &b.commercial_heat)
    );
    assert_eq!(a.legacy_priority, b.legacy_priority);
}

#[tokio::test]
async fn a_stored_scan_carries_its_enrichment_into_the_lead_list() {
    let dns = DnsServer::start([contoso()]);
    let dir = tempfile::tempdir().unwrap();
    let (_db, pool, company_id) = database_with_contoso().await;
    let engine = Engine::from_config(&config(&dns, dir.path(), true), dir.path()).unwrap();
    engine.enrichment.as_ref().unwrap().attach_cache(pool.clone()).await;
    let outcome = engine.evaluate(company_id, "contoso.com", None).await;
    hunterd::pipeline::store::store(&pool, &outcome, None).await.unwrap();

    let page = hunterd::leads::list_leads(&pool, &hunterd::leads::LeadCache::new(), &protocol::LeadQuery::default())
        .await
        .unwrap();
    let row = &page.rows[0];
    assert_eq!(row.ip_country.as_deref(), Some("DE"));
    assert_eq!(row.ip_asn, Some(24940));
    assert_eq!(row.ip_org.as_deref(), Some("Hetzner Online GmbH"));
    assert_eq!(row.ip_proxy, Some(false));
    assert_eq!(row.infrastructure_summary, outcome.enrichment.as_ref().unwrap().infrastructure_summary);
    let stored: serde_json::Value = sqlx::query_scalar("SELECT enrichment FROM scans WHERE company_id = $1")
        .bind(company_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored["ips"][0]["isp"], "Hetzner Online GmbH");
    engine.enrichment.as_ref().unwrap().flush_cache().await;
    let cached: i64 = sqlx::query_scalar("SELECT count(*) FROM ip_enrichment").fetch_one(&pool).await.unwrap();
    assert_eq!(cached, 2, "both MX addresses are cached");
    pool.close().await;
}

#[tokio::test]
async fn a_lead_shows_each_mail_server_address_with_its_host_and_sources() {
    let dns = DnsServer::start([contoso()]);
    let dir = tempfile::tempdir().unwrap();
    let (_db, pool, company_id) = database_with_contoso().await;
    let engine = Engine::from_config(&config(&dns, dir.path(), true), dir.path()).unwrap();
    let outcome = engine.evaluate(company_id, "contoso.com", None).await;
    hunterd::pipeline::store::store(&pool, &outcome, None).await.unwrap();

    let (ips, note) = hunterd::leads::lead_ip_details(&pool, "contoso.com").await.unwrap();

    assert_eq!(note, None);
    assert_eq!(ips.len(), 2, "{ips:?}");
    let mail = &ips[0];
    assert_eq!((mail.ip.as_str(), mail.host.as_deref()), ("5.9.1.1", Some("mail.contoso.com")));
    assert_eq!(
        (mail.country.as_deref(), mail.asn, mail.isp.as_deref()),
        (Some("DE"), Some(24940), Some("Hetzner Online GmbH"))
    );
    assert_eq!((mail.is_data_center, mail.is_proxy), (Some(true), Some(false)));
    assert_eq!(mail.sources.get("isp").map(String::as_str), Some("ip2location"));
    let backup = &ips[1];
    assert_eq!((backup.ip.as_str(), backup.host.as_deref()), ("2001:db8::25", Some("backup.contoso.com")));
    assert_eq!((backup.is_vpn, backup.proxy_type.as_deref()), (Some(true), Some("VPN")));
    assert_eq!(backup.sources.get("proxy_type").map(String::as_str), Some("ip2proxy"));
    // The lead detail clients get carries the same per-IP view.
    let detail = hunterd::leads::lead_detail(&pool, "contoso.com").await.unwrap();
    assert_eq!(detail.ip_details, ips);
    assert_eq!(detail.enrichment_note, None);
    assert!(detail.row.infrastructure_summary.is_some());
    pool.close().await;
}

#[tokio::test]
async fn a_lead_scanned_without_enrichment_says_why_it_has_no_ip_details() {
    let dns = DnsServer::start([contoso()]);
    let dir = tempfile::tempdir().unwrap();
    let (_db, pool, company_id) = database_with_contoso().await;
    let engine = Engine::from_config(&config(&dns, dir.path(), false), dir.path()).unwrap();
    let outcome = engine.evaluate(company_id, "contoso.com", None).await;
    hunterd::pipeline::store::store(&pool, &outcome, None).await.unwrap();

    let (ips, note) = hunterd::leads::lead_ip_details(&pool, "contoso.com").await.unwrap();

    assert!(ips.is_empty());
    assert!(note.as_deref().unwrap_or_default().contains("features.ip_enrichment"), "{note:?}");
    let detail = hunterd::leads::lead_detail(&pool, "contoso.com").await.unwrap();
    assert_eq!(detail.enrichment_note, note, "the TUI says why enrichment is absent");
    pool.close().await;
}

/// The sync screen lists every job with its last result: a missing database shows there by name.
#[tokio::test]
async fn the_daemon_reports_database_ages_and_a_missing_file_on_the_sync_screen() {
    use protocol::{JobOutcome, JobState, Request, Response};
    let db = hunter_tests::TestDb::create().await;
    let dir = hunter_tests::scratch_dir();
    let proxy = dir.path().join("proxy.bin");
    std::fs::write(&proxy, bin(Product::Ip2Proxy, 11, vec![BinRow::new("0.0.0.0".parse().unwrap())])).unwrap();
    let missing = dir.path().join("missing-asn.mmdb");
    let mut options = hunter_tests::DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.extra_env = vec![
        ("HUNTER_FEATURES__IP_ENRICHMENT".into(), "true".into()),
        ("HUNTER_ENRICHMENT__IP2PROXY_DB".into(), proxy.display().to_string()),
        ("HUNTER_ENRICHMENT__MAXMIND_ASN_DB".into(), missing.display().to_string()),
        ("HUNTER_WHOIS__ENABLED".into(), "false".into()),
    ];
    let daemon = hunter_tests::Daemon::start(&options).await;
    let client = daemon.client().await;

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (databases, download) = loop {
        let Response::Status(status) = client.request(Request::Status).await.unwrap() else { panic!("not a status") };
        let job = |name: &str| status.jobs.iter().find(|j| j.name == name).cloned();
        if let Some(databases) = job("geoip-databases").filter(|j| j.last_result.is_some()) {
            break (databases, job("geoip-download").expect("the download job is listed"));
        }
        assert!(std::time::Instant::now() < deadline, "geoip-databases never ran on start: {:?}", status.jobs);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };

    let Some(JobOutcome::Failed { error }) = &databases.last_result else { panic!("{databases:?}") };
    assert!(error.contains(&missing.display().to_string()), "{error}");
    assert!(error.contains("IP2Proxy PX11 build 2026-11-01"), "{error}");
    assert_eq!(download.state, JobState::Disabled, "no MaxMind account is configured");
}

/// contoso.com with its website: the apex on the mail server, `www` on another Hetzner address.
fn contoso_with_website() -> Zone {
    contoso().a("contoso.com", "5.9.1.1").cname("www.contoso.com", "web.contoso.com").a("web.contoso.com", "5.9.3.3")
}

fn with_targets(mut config: Config, targets: &[AddressRole]) -> Config {
    config.enrichment.targets = targets.to_vec();
    config
}

#[tokio::test]
async fn the_domain_and_www_addresses_are_enriched_when_configured() {
    let dns = DnsServer::start([contoso_with_website()]);
    let dir = tempfile::tempdir().unwrap();
    let config =
        with_targets(config(&dns, dir.path(), true), &[AddressRole::Mail, AddressRole::Domain, AddressRole::Www]);
    let engine = Engine::from_config(&config, dir.path()).unwrap();

    let outcome = engine.evaluate(1, "contoso.com", None).await;

    let report = outcome.enrichment.as_ref().unwrap();
    let listed: Vec<(String, Vec<AddressRole>)> =
        report.ips.iter().map(|e| (e.ip.unwrap().to_string(), e.roles.clone())).collect();
    assert_eq!(
        listed,
        [
            ("5.9.1.1".to_string(), vec![AddressRole::Mail, AddressRole::Domain]),
            ("2001:db8::25".to_string(), vec![AddressRole::Mail]),
            ("5.9.3.3".to_string(), vec![AddressRole::Www]),
        ]
    );
    assert_eq!(
        report.infrastructure_summary.as_deref(),
        Some(
            "Mail servers hosted by Hetzner Online GmbH (AS24940) in Germany and located in NL (data centre); website hosted by Hetzner Online GmbH (AS24940) in Germany (data centre); proxy/VPN signals: VPN"
        )
    );
}

#[tokio::test]
async fn by_default_only_mail_servers_are_looked_up_and_enriched() {
    let dns = DnsServer::start([contoso_with_website()]);
    let dir = tempfile::tempdir().unwrap();
    let mail_only = Engine::from_config(&config(&dns, dir.path(), true), dir.path()).unwrap();
    let before = dns.queries();
    let outcome = mail_only.evaluate(1, "contoso.com", None).await;
    let mail_queries = dns.queries() - before;

    let everything =
        with_targets(config(&dns, dir.path(), true), &[AddressRole::Mail, AddressRole::Domain, AddressRole::Www]);
    let everything = Engine::from_config(&everything, dir.path()).unwrap();
    let before = dns.queries();
    everything.evaluate(1, "contoso.com", None).await;

    let report = outcome.enrichment.as_ref().unwrap();
    assert!(report.ips.iter().all(|e| e.roles == [AddressRole::Mail]), "{report:?}");
    assert_eq!(dns.queries() - before, mail_queries + 4, "A and AAAA of the domain and of www");
}

#[tokio::test]
async fn a_lead_names_the_domain_and_www_addresses_by_their_hosts() {
    let dns = DnsServer::start([contoso_with_website()]);
    let dir = tempfile::tempdir().unwrap();
    let (_db, pool, company_id) = database_with_contoso().await;
    let config = with_targets(config(&dns, dir.path(), true), &[AddressRole::Domain, AddressRole::Www]);
    let engine = Engine::from_config(&config, dir.path()).unwrap();
    let outcome = engine.evaluate(company_id, "contoso.com", None).await;
    hunterd::pipeline::store::store(&pool, &outcome, None).await.unwrap();

    let (ips, _) = hunterd::leads::lead_ip_details(&pool, "contoso.com").await.unwrap();

    let named: Vec<(&str, Option<&str>, Vec<&str>)> =
        ips.iter().map(|d| (d.ip.as_str(), d.host.as_deref(), d.roles.iter().map(String::as_str).collect())).collect();
    assert_eq!(
        named,
        [("5.9.1.1", Some("contoso.com"), vec!["domain"]), ("5.9.3.3", Some("www.contoso.com"), vec!["www"])]
    );
    let row = &hunterd::leads::list_leads(&pool, &hunterd::leads::LeadCache::new(), &protocol::LeadQuery::default())
        .await
        .unwrap()
        .rows[0];
    assert_eq!(row.ip_country.as_deref(), Some("DE"), "with no mail server enriched, the website stands in");
    pool.close().await;
}

#[tokio::test]
async fn addresses_are_enriched_in_a_stable_order_whatever_order_dns_answers_in() {
    let zone =
        contoso().a("www.contoso.com", "5.9.9.9").a("www.contoso.com", "5.9.3.3").a("www.contoso.com", "5.9.5.5");
    let dns = DnsServer::start([zone]);
    let dir = tempfile::tempdir().unwrap();
    let config = with_targets(config(&dns, dir.path(), true), &[AddressRole::Www]);
    let engine = Engine::from_config(&config, dir.path()).unwrap();

    let outcome = engine.evaluate(1, "contoso.com", None).await;

    let listed: Vec<String> =
        outcome.enrichment.as_ref().unwrap().ips.iter().map(|e| e.ip.unwrap().to_string()).collect();
    assert_eq!(listed, ["5.9.3.3", "5.9.5.5", "5.9.9.9"]);
}
