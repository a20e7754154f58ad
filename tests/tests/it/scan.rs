//! The mail-DNS scanner against a real DNS server on loopback: what a scan of each kind of domain
//! finds (records, statuses, SPF tree, DMARC, DKIM, tenant hints). Provider detection and scoring
//! are tested where they live.

use hickory_proto::rr::RecordType;
use hunter_tests::dns::{Behaviour, DnsServer, Zone};
use hunterd::config::ScanConfig;
use hunterd::scan::{DmarcPolicy, ScanResult, ScanStatus, Scanner, SpfStatus};
use std::time::{Duration, Instant};

const DKIM_KEY: &str =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYt";

/// The providers' side of the internet that customer domains point at.
fn internet() -> Vec<Zone> {
    vec![
        Zone::new("outlook.com")
            .txt_at("spf.protection.outlook.com", "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip6:2a01:111:f400::/48 -all")
            .a("contoso-com.mail.protection.outlook.com", "52.101.68.18")
            .a("fabrikam-com.mail.protection.outlook.com", "52.101.68.19")
            .a("autodiscover.outlook.com", "52.97.1.1"),
        Zone::new("contoso.onmicrosoft.com")
            .txt_at("selector1-contoso-com._domainkey", DKIM_KEY)
            .txt_at("selector2-contoso-com._domainkey", DKIM_KEY),
        Zone::new("fabrikam.onmicrosoft.com").txt_at("selector1-fabrikam-com._domainkey", DKIM_KEY),
        Zone::new("google.com")
            .txt_at(
                "_spf.google.com",
                "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com ~all",
            )
            .txt_at("_netblocks.google.com", "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ~all")
            .txt_at("_netblocks2.google.com", "v=spf1 ip6:2001:4860:4000::/36 ~all")
            .txt_at("_netblocks3.google.com", "v=spf1 ip4:172.217.0.0/19 ~all")
            .a("aspmx.l.google.com", "142.250.150.27")
            .aaaa("aspmx.l.google.com", "2a00:1450:4010:c1c::1b")
            .a("alt1.aspmx.l.google.com", "142.250.153.27"),
        Zone::new("yandex.net").a("mx.yandex.net", "77.88.21.249").txt_at("_spf.yandex.net", "v=spf1 ip4:77.88.0.0/18 ~all"),
        Zone::new("zoho.eu")
            .txt("v=spf1 ip4:185.20.209.0/24 ~all")
            .a("mx.zoho.eu", "185.20.209.4")
            .a("mx2.zoho.eu", "185.20.209.5")
            .a("mx3.zoho.eu", "185.20.209.6"),
        Zone::new("amazonaws.com").a("inbound-smtp.eu-west-1.amazonaws.com", "3.248.53.10"),
        Zone::new("amazonses.com").txt("v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 ~all"),
        Zone::new("mimecast.com")
            .txt_at("_netblocks.mimecast.com", "v=spf1 ip4:185.58.84.0/22 ip4:207.82.80.0/24 ~all")
            .a("eu-smtp-inbound-1.mimecast.com", "195.130.217.211")
            .a("eu-smtp-inbound-2.mimecast.com", "91.220.42.211"),
        Zone::new("pphosted.com")
            .a("mx0a-00123401.pphosted.com", "148.163.150.10")
            .a("mx0b-00123401.pphosted.com", "148.163.150.11")
            .txt_at("spf.pphosted.com", "v=spf1 ip4:148.163.128.0/19 ~all"),
        Zone::new("hostingprovider.net")
            .a("mx1.hostingprovider.net", "203.0.113.25")
            .a("mx2.hostingprovider.net", "203.0.113.26")
            .txt_at("spf.hostingprovider.net", "v=spf1 ip4:203.0.113.0/24 -all"),
        Zone::new("natrohost.com")
            .a("mx.natrohost.com", "94.73.144.10")
            .txt_at("spf.natrohost.com", "v=spf1 ip4:94.73.144.0/22 ~all"),
    ]
}

fn config(dns: &DnsServer) -> ScanConfig {
    ScanConfig { nameservers: vec![dns.nameserver()], timeout_ms: 1_000, retries: 1, ..ScanConfig::default() }
}

/// Scans `domain` against `internet()` plus `zones`.
async fn scan(zones: Vec<Zone>, domain: &str) -> ScanResult {
    let dns = DnsServer::start(internet().into_iter().chain(zones));
    Scanner::new(&config(&dns)).unwrap().scan(domain).await
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn contoso_m365() -> Zone {
    Zone::new("contoso.com")
        .mx(0, "contoso-com.mail.protection.outlook.com")
        .txt("v=spf1 include:spf.protection.outlook.com -all")
        .txt("MS=ms12345678")
        .dmarc("v=DMARC1; p=reject; rua=mailto:dmarc@contoso.com")
        .dkim_cname("selector1", "selector1-contoso-com._domainkey.contoso.onmicrosoft.com")
        .dkim_cname("selector2", "selector2-contoso-com._domainkey.contoso.onmicrosoft.com")
        .autodiscover_cname("autodiscover.outlook.com")
}

#[tokio::test]
async fn a_microsoft_365_domain_with_full_posture_yields_every_signal() {
    let r = scan(vec![contoso_m365()], "contoso.com").await;
    assert_eq!(r.status, ScanStatus::Ok, "{:?}", r.warnings);
    assert_eq!(r.mx_hosts(), vec!["contoso-com.mail.protection.outlook.com"]);
    assert_eq!(r.mx[0].addresses, vec!["52.101.68.18".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(r.spf.status, SpfStatus::Valid);
    assert_eq!(r.spf.includes, strings(&["spf.protection.outlook.com"]));
    let dmarc = r.dmarc.as_ref().expect("DMARC");
    assert_eq!((dmarc.policy, dmarc.pct), (DmarcPolicy::Reject, 100));
    assert_eq!(dmarc.rua, strings(&["mailto:dmarc@contoso.com"]));
    let selectors: Vec<&str> = r.dkim.iter().map(|d| d.selector.as_str()).collect();
    assert_eq!(selectors, vec!["selector1", "selector2"]);
    assert!(r.dkim.iter().all(|d| d.record.as_deref() == Some(DKIM_KEY)));
    assert!(r.has_dkim());
    assert_eq!(r.hints.ms_verification, strings(&["MS=ms12345678"]));
    assert_eq!(r.hints.autodiscover_cname.as_deref(), Some("autodiscover.outlook.com"));
    assert_eq!(
        r.hints.dkim_onmicrosoft,
        strings(&[
            "selector1-contoso-com._domainkey.contoso.onmicrosoft.com",
            "selector2-contoso-com._domainkey.contoso.onmicrosoft.com"
        ])
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[tokio::test]
async fn a_weak_microsoft_365_domain_has_spf_but_no_dmarc_and_no_dkim() {
    let zone = Zone::new("fabrikam.com")
        .mx(0, "fabrikam-com.mail.protection.outlook.com")
        .txt("v=spf1 include:spf.protection.outlook.com ~all");
    let r = scan(vec![zone], "fabrikam.com").await;
    assert_eq!(r.status, ScanStatus::Ok);
    assert_eq!(r.spf.status, SpfStatus::Valid);
    assert_eq!(r.dmarc, None);
    assert!(r.dkim.is_empty());
    assert_eq!(r.hints, Default::default());
}

#[tokio::test]
async fn a_google_workspace_domain_has_the_google_include_tree_and_dkim() {
    let zone = Zone::new("northwind.com")
        .mx(1, "aspmx.l.google.com")
        .mx(5, "alt1.aspmx.l.google.com")
        .txt("v=spf1 include:_spf.google.com ~all")
        .txt("google-site-verification=rXOxyZounnZasA8Z7oaD3c14JdjS9aKSWvsR1EbUSIQ")
        .dmarc("v=DMARC1; p=quarantine; pct=50")
        .dkim("google", DKIM_KEY);
    let r = scan(vec![zone], "northwind.com").await;
    assert_eq!(r.mx_hosts(), vec!["aspmx.l.google.com", "alt1.aspmx.l.google.com"]);
    assert_eq!(r.mx[0].addresses.len(), 2, "A and AAAA");
    assert_eq!(
        r.spf.includes,
        strings(&["_spf.google.com", "_netblocks.google.com", "_netblocks2.google.com", "_netblocks3.google.com"])
    );
    assert_eq!(r.spf.lookup_count, 4);
    let tree = r.spf.tree.as_ref().unwrap();
    assert_eq!(tree.includes[0].domain, "_spf.google.com");
    assert_eq!(tree.includes[0].includes.len(), 3);
    assert!(tree.includes[0].includes.iter().all(|n| n.record.is_some()));
    assert_eq!(r.hints.google_site_verification.len(), 1);
    assert_eq!(r.dkim.len(), 1);
    assert_eq!(r.dkim[0].selector, "google");
    let dmarc = r.dmarc.unwrap();
    assert_eq!((dmarc.policy, dmarc.pct), (DmarcPolicy::Quarantine, 50));
}

#[tokio::test]
async fn a_yandex_domain_is_read() {
    let zone =
        Zone::new("firma.ru").mx(10, "mx.yandex.net").txt("v=spf1 redirect=_spf.yandex.net").dkim("mail", DKIM_KEY);
    let r = scan(vec![zone], "firma.ru").await;
    assert_eq!(r.mx_hosts(), vec!["mx.yandex.net"]);
    assert_eq!(r.spf.status, SpfStatus::Valid);
    assert_eq!(r.spf.includes, strings(&["_spf.yandex.net"]));
    assert_eq!(r.dkim.iter().map(|d| d.selector.as_str()).collect::<Vec<_>>(), vec!["mail"]);
}

#[tokio::test]
async fn a_zoho_domain_lists_its_mx_hosts_in_preference_order() {
    let zone = Zone::new("firma.eu")
        .mx(50, "mx3.zoho.eu")
        .mx(10, "mx.zoho.eu")
        .mx(20, "mx2.zoho.eu")
        .txt("v=spf1 include:zoho.eu ~all");
    let r = scan(vec![zone], "firma.eu").await;
    assert_eq!(r.mx_hosts(), vec!["mx.zoho.eu", "mx2.zoho.eu", "mx3.zoho.eu"]);
    assert_eq!(r.mx.iter().map(|m| m.preference).collect::<Vec<_>>(), vec![10, 20, 50]);
    assert_eq!(r.spf.includes, strings(&["zoho.eu"]));
    assert!(r.mx.iter().all(|m| m.addresses.len() == 1));
}

#[tokio::test]
async fn an_amazon_ses_domain_is_read() {
    let zone = Zone::new("shop.io")
        .mx(10, "inbound-smtp.eu-west-1.amazonaws.com")
        .txt("v=spf1 include:amazonses.com ~all")
        .dmarc("v=DMARC1; p=none; rua=mailto:a@shop.io,mailto:b@shop.io");
    let r = scan(vec![zone], "shop.io").await;
    assert_eq!(r.mx_hosts(), vec!["inbound-smtp.eu-west-1.amazonaws.com"]);
    assert_eq!(r.spf.includes, strings(&["amazonses.com"]));
    assert_eq!(r.dmarc.unwrap().rua, strings(&["mailto:a@shop.io", "mailto:b@shop.io"]));
}

#[tokio::test]
async fn a_hosted_domain_lists_the_hosters_servers() {
    let zone = Zone::new("bakery.de")
        .mx(10, "mx1.hostingprovider.net")
        .mx(20, "mx2.hostingprovider.net")
        .txt("v=spf1 a mx include:spf.hostingprovider.net ~all")
        .a("@", "203.0.113.80")
        .dkim("default", DKIM_KEY);
    let r = scan(vec![zone], "bakery.de").await;
    assert_eq!(r.mx_hosts(), vec!["mx1.hostingprovider.net", "mx2.hostingprovider.net"]);
    assert_eq!(r.spf.lookup_count, 3, "a, mx and the include");
    assert_eq!(r.dkim[0].selector, "default");
}

#[tokio::test]
async fn a_local_turkish_hoster_domain_is_read() {
    let zone = Zone::new("ornek.com.tr").mx(10, "mx.natrohost.com").txt("v=spf1 include:spf.natrohost.com ~all");
    let r = scan(vec![zone], "ornek.com.tr").await;
    assert_eq!(r.status, ScanStatus::Ok);
    assert_eq!(r.mx_hosts(), vec!["mx.natrohost.com"]);
    assert_eq!(r.spf.includes, strings(&["spf.natrohost.com"]));
}

#[tokio::test]
async fn a_self_hosted_domain_has_its_own_mail_server_addresses() {
    let zone = Zone::new("kendi.com.tr")
        .mx(10, "mail.kendi.com.tr")
        .a("mail", "198.51.100.7")
        .aaaa("mail", "2001:db8::7")
        .txt("v=spf1 mx a ip4:198.51.100.7 -all");
    let r = scan(vec![zone], "kendi.com.tr").await;
    assert_eq!(r.mx_hosts(), vec!["mail.kendi.com.tr"]);
    let addresses: Vec<String> = r.mx[0].addresses.iter().map(|a| a.to_string()).collect();
    assert_eq!(addresses, strings(&["198.51.100.7", "2001:db8::7"]));
    assert!(r.spf.includes.is_empty());
    assert_eq!(r.spf.lookup_count, 2);
}

#[tokio::test]
async fn a_gateway_in_front_of_microsoft_365_still_shows_the_tenant_hints() {
    let zone = Zone::new("fabrikam.com")
        .mx(10, "eu-smtp-inbound-1.mimecast.com")
        .mx(20, "eu-smtp-inbound-2.mimecast.com")
        .txt("v=spf1 include:_netblocks.mimecast.com include:spf.protection.outlook.com -all")
        .txt("MS=ms87654321")
        .dkim_cname("selector1", "selector1-fabrikam-com._domainkey.fabrikam.onmicrosoft.com")
        .autodiscover_cname("autodiscover.outlook.com");
    let r = scan(vec![zone], "fabrikam.com").await;
    assert_eq!(r.mx_hosts(), vec!["eu-smtp-inbound-1.mimecast.com", "eu-smtp-inbound-2.mimecast.com"]);
    assert_eq!(r.spf.includes, strings(&["_netblocks.mimecast.com", "spf.protection.outlook.com"]));
    assert_eq!(r.hints.ms_verification, strings(&["MS=ms87654321"]));
    assert_eq!(r.hints.dkim_onmicrosoft, strings(&["selector1-fabrikam-com._domainkey.fabrikam.onmicrosoft.com"]));
    assert_eq!(r.hints.autodiscover_cname.as_deref(), Some("autodiscover.outlook.com"));
}

#[tokio::test]
async fn a_gateway_in_front_of_google_still_shows_the_google_signals() {
    let zone = Zone::new("tailspin.com")
        .mx(10, "mx0a-00123401.pphosted.com")
        .mx(10, "mx0b-00123401.pphosted.com")
        .txt("v=spf1 include:spf.pphosted.com include:_spf.google.com ~all")
        .txt("google-site-verification=abcdef")
        .dkim("google", DKIM_KEY);
    let r = scan(vec![zone], "tailspin.com").await;
    assert_eq!(r.mx_hosts(), vec!["mx0a-00123401.pphosted.com", "mx0b-00123401.pphosted.com"]);
    assert!(r.spf.includes.contains(&"_spf.google.com".to_string()), "{:?}", r.spf.includes);
    assert_eq!(r.hints.google_site_verification, strings(&["google-site-verification=abcdef"]));
    assert_eq!(r.dkim[0].selector, "google");
}

#[tokio::test]
async fn a_domain_without_mx_is_no_mx_and_its_other_records_are_still_read() {
    let zone = Zone::new("parked.com").a("@", "192.0.2.1").txt("v=spf1 -all").dmarc("v=DMARC1; p=reject");
    let r = scan(vec![zone], "parked.com").await;
    assert_eq!(r.status, ScanStatus::NoMx);
    assert!(r.mx.is_empty());
    assert_eq!(r.spf.record.as_deref(), Some("v=spf1 -all"));
    assert_eq!(r.dmarc.unwrap().policy, DmarcPolicy::Reject);
}

#[tokio::test]
async fn a_null_mx_is_reported_as_null_mx() {
    let zone = Zone::new("nomail.com").null_mx().txt("v=spf1 -all");
    let r = scan(vec![zone], "nomail.com").await;
    assert_eq!(r.status, ScanStatus::NullMx);
    assert!(r.mx.is_empty());
}

#[tokio::test]
async fn a_domain_that_does_not_exist_is_nxdomain_after_one_query() {
    let r = scan(vec![], "does-not-exist.com").await;
    assert_eq!(r.status, ScanStatus::Nxdomain);
    assert_eq!(r.spf.status, SpfStatus::None);
    assert_eq!(r.queries, 1);
}

#[tokio::test]
async fn a_failing_nameserver_is_servfail() {
    let zone = Zone::new("broken.com").mx(10, "mx.broken.com").behave("@", Behaviour::ServFail);
    let r = scan(vec![zone], "broken.com").await;
    assert_eq!(r.status, ScanStatus::Servfail);
    assert!(r.mx.is_empty());
}

#[tokio::test]
async fn a_refusing_nameserver_is_refused() {
    let zone = Zone::new("closed.com").mx(10, "mx.closed.com").behave("@", Behaviour::Refused);
    let r = scan(vec![zone], "closed.com").await;
    assert_eq!(r.status, ScanStatus::Refused);
}

#[tokio::test]
async fn a_txt_servfail_keeps_the_mx_status_and_makes_spf_a_temporary_error() {
    let zone = contoso_m365().behave_for("@", RecordType::TXT, Behaviour::ServFail);
    let r = scan(vec![zone], "contoso.com").await;
    assert_eq!(r.status, ScanStatus::Ok);
    assert_eq!(r.spf.status, SpfStatus::TempError);
    assert!(r.warnings.iter().any(|w| w.contains("TXT") && w.contains("SERVFAIL")), "{:?}", r.warnings);
    assert_eq!(r.dmarc.unwrap().policy, DmarcPolicy::Reject, "the other lookups are unaffected");
}

#[tokio::test]
async fn a_silent_nameserver_is_a_timeout_within_the_configured_time() {
    let zone = Zone::new("silent.com").mx(10, "mx.silent.com").behave("@", Behaviour::Drop);
    let dns = DnsServer::start(vec![zone]);
    let scanner = Scanner::new(&ScanConfig {
        nameservers: vec![dns.nameserver()],
        timeout_ms: 150,
        retries: 1,
        ..ScanConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let r = scanner.scan("silent.com").await;
    assert_eq!(r.status, ScanStatus::Timeout);
    assert_eq!(r.queries, 2, "one try and one retry");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_multi_string_txt_is_joined_without_a_separator() {
    let zone = Zone::new("split.com")
        .mx(10, "mx1.hostingprovider.net")
        .txt_strings("@", &["v=spf1 include:spf.protection.outlook.com", " include:_spf.google.com -all"]);
    let r = scan(vec![zone], "split.com").await;
    assert_eq!(r.spf.record.as_deref(), Some("v=spf1 include:spf.protection.outlook.com include:_spf.google.com -all"));
    assert_eq!(r.spf.includes[..2], strings(&["spf.protection.outlook.com", "_spf.google.com"]));
    assert!(r.raw.iter().any(|raw| raw.rtype == "TXT" && raw.data.contains("\" \"")), "raw keeps the strings apart");
}

#[tokio::test]
async fn two_spf_records_are_multiple_and_not_valid() {
    let zone = Zone::new("twice.com")
        .mx(10, "mx1.hostingprovider.net")
        .txt("v=spf1 include:spf.hostingprovider.net -all")
        .txt("v=spf1 include:spf.protection.outlook.com -all");
    let r = scan(vec![zone], "twice.com").await;
    assert_eq!(r.spf.status, SpfStatus::Multiple);
    assert!(!r.spf.is_valid());
    assert_eq!(r.spf.all_records.len(), 2);
    assert_eq!(r.spf.includes, strings(&["spf.hostingprovider.net", "spf.protection.outlook.com"]));
}

#[tokio::test]
async fn a_redirect_is_followed_into_the_tree() {
    let zone = Zone::new("redir.com")
        .mx(10, "mx1.hostingprovider.net")
        .txt("v=spf1 redirect=_spf.redir.com")
        .txt_at("_spf", "v=spf1 include:spf.hostingprovider.net -all");
    let r = scan(vec![zone], "redir.com").await;
    assert_eq!(r.spf.status, SpfStatus::Valid);
    let redirect = r.spf.tree.as_ref().unwrap().redirect.as_ref().expect("redirect node");
    assert_eq!(redirect.domain, "_spf.redir.com");
    assert_eq!(redirect.includes[0].domain, "spf.hostingprovider.net");
    assert_eq!(r.spf.includes, strings(&["_spf.redir.com", "spf.hostingprovider.net"]));
    assert_eq!(r.spf.lookup_count, 2);
}

#[tokio::test]
async fn an_spf_include_loop_is_detected() {
    let zone = Zone::new("loop.com")
        .mx(10, "mx1.hostingprovider.net")
        .txt("v=spf1 include:a.loop.com -all")
        .txt_at("a", "v=spf1 include:b.loop.com -all")
        .txt_at("b", "v=spf1 include:a.loop.com -all");
    let r = scan(vec![zone], "loop.com").await;
    assert_eq!(r.spf.status, SpfStatus::Loop);
    let b = &r.spf.tree.as_ref().unwrap().includes[0].includes[0];
    assert_eq!(b.domain, "b.loop.com");
    assert!(b.includes[0].error.as_deref().unwrap_or_default().contains("loop"), "{b:?}");
}

#[tokio::test]
async fn more_than_ten_spf_lookups_is_too_many_and_stops_following() {
    // The apex costs 5 lookups and each of its three includes 3 more: 14, so the includes'
    // own includes are never fetched.
    let mut zone = Zone::new("big.com")
        .mx(10, "mx1.hostingprovider.net")
        .txt("v=spf1 a mx include:i1.big.com include:i2.big.com include:i3.big.com -all");
    for i in 1..=3 {
        zone = zone.txt_at(&format!("i{i}"), &format!("v=spf1 a mx include:j{i}.big.com -all"));
        zone = zone.txt_at(&format!("j{i}"), "v=spf1 a mx exists:x.big.com -all");
    }
    let r = scan(vec![zone], "big.com").await;
    assert_eq!(r.spf.status, SpfStatus::TooManyLookups);
    assert!(r.spf.lookup_count > 10, "{}", r.spf.lookup_count);
    let j1 = &r.spf.tree.as_ref().unwrap().includes[0].includes[0];
    assert!(j1.record.is_none() && j1.error.as_deref().unwrap_or_default().contains("10"), "{j1:?}");
}

#[tokio::test]
async fn uppercase_and_trailing_dot_mx_hosts_are_normalised() {
    let zone = Zone::new("shout.com").mx(10, "MX1.HostingProvider.NET.").mx(20, "Mx2.hostingprovider.net");
    let r = scan(vec![zone], "shout.com").await;
    assert_eq!(r.mx_hosts(), vec!["mx1.hostingprovider.net", "mx2.hostingprovider.net"]);
    assert!(r.mx.iter().all(|m| !m.addresses.is_empty()));
    assert!(r.raw.iter().any(|raw| raw.rtype == "MX" && raw.data.contains("MX1.HostingProvider.NET.")), "{:?}", r.raw);
}

#[tokio::test]
async fn a_cnamed_mx_host_is_recorded_with_its_target_and_addresses() {
    let zone = Zone::new("alias.com").mx(10, "mail.alias.com").cname("mail", "mx1.hostingprovider.net");
    let r = scan(vec![zone], "alias.com").await;
    assert_eq!(r.mx_hosts(), vec!["mail.alias.com"]);
    assert_eq!(r.mx[0].cname_target.as_deref(), Some("mx1.hostingprovider.net"));
    assert_eq!(r.mx[0].addresses, vec!["203.0.113.25".parse::<std::net::IpAddr>().unwrap()]);
}

#[tokio::test]
async fn an_idn_domain_in_punycode_is_scanned() {
    let zone = Zone::new("xn--mnchen-3ya.de").mx(10, "mx1.hostingprovider.net").txt("v=spf1 mx -all");
    let r = scan(vec![zone], "xn--mnchen-3ya.de").await;
    assert_eq!(r.status, ScanStatus::Ok);
    assert_eq!(r.domain, "xn--mnchen-3ya.de");
    assert_eq!(r.spf.status, SpfStatus::Valid);
}

#[tokio::test]
async fn an_idn_domain_in_unicode_is_scanned_as_punycode() {
    let zone = Zone::new("xn--mnchen-3ya.de").mx(10, "mx1.hostingprovider.net");
    let r = scan(vec![zone], "münchen.de").await;
    assert_eq!(r.status, ScanStatus::Ok);
    assert_eq!(r.domain, "xn--mnchen-3ya.de");
}

#[tokio::test]
async fn garbage_is_invalid_without_a_query() {
    let dns = DnsServer::start(internet());
    let r = Scanner::new(&config(&dns)).unwrap().scan("not a domain").await;
    assert_eq!(r.status, ScanStatus::Invalid);
    assert_eq!((r.queries, dns.queries()), (0, 0));
}

#[tokio::test]
async fn the_query_count_matches_what_the_server_received() {
    let dns = DnsServer::start(internet().into_iter().chain([contoso_m365()]));
    let r = Scanner::new(&config(&dns)).unwrap().scan("contoso.com").await;
    assert_eq!(u64::from(r.queries), dns.queries());
}

#[tokio::test]
async fn selectors_are_not_asked_when_domainkey_does_not_exist() {
    let zone = Zone::new("nodkim.com").mx(10, "mx1.hostingprovider.net");
    let dns = DnsServer::start(internet().into_iter().chain([zone]));
    let r = Scanner::new(&config(&dns)).unwrap().scan("nodkim.com").await;
    // MX, A, AAAA, TXT, _dmarc, _domainkey, autodiscover.
    assert_eq!(r.queries, 7);
}

#[tokio::test]
async fn configured_dkim_selectors_replace_the_defaults() {
    let zone =
        Zone::new("custom.com").mx(10, "mx1.hostingprovider.net").dkim("zmail", DKIM_KEY).dkim("google", DKIM_KEY);
    let dns = DnsServer::start(internet().into_iter().chain([zone]));
    let scanner = Scanner::new(&ScanConfig { dkim_selectors: strings(&["zmail"]), ..config(&dns) }).unwrap();
    let r = scanner.scan("custom.com").await;
    assert_eq!(r.dkim.iter().map(|d| d.selector.as_str()).collect::<Vec<_>>(), vec!["zmail"]);
}

#[tokio::test]
async fn a_truncated_udp_answer_is_retried_over_tcp() {
    let mut zone = Zone::new("manytxt.com").mx(10, "mx1.hostingprovider.net");
    for i in 0..12 {
        zone = zone.txt(&format!("verification-{i}={}", "x".repeat(150)));
    }
    let dns = DnsServer::start(internet().into_iter().chain([zone]));
    let r = Scanner::new(&config(&dns)).unwrap().scan("manytxt.com").await;
    assert_eq!(r.apex_txt.len(), 12, "{:?}", r.warnings);
    assert_eq!(u64::from(r.queries), dns.queries(), "the TCP retry counts as a query");
}

#[tokio::test]
async fn a_silent_nameserver_is_skipped_by_the_retry() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns = DnsServer::start(internet().into_iter().chain([contoso_m365()]));
    let config = ScanConfig {
        nameservers: vec![silent.local_addr().unwrap().to_string(), dns.nameserver()],
        timeout_ms: 200,
        retries: 1,
        ..ScanConfig::default()
    };
    let r = Scanner::new(&config).unwrap().scan("contoso.com").await;
    assert_eq!(r.status, ScanStatus::Ok);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[tokio::test]
async fn the_per_nameserver_rate_limit_spaces_the_queries() {
    let dns = DnsServer::start(internet().into_iter().chain([contoso_m365()]));
    // 20 per second: after the first two queries, one every 50 ms.
    let scanner = Scanner::new(&ScanConfig { per_nameserver_qps: 20, ..config(&dns) }).unwrap();
    let started = Instant::now();
    let r = scanner.scan("contoso.com").await;
    assert_eq!(r.status, ScanStatus::Ok);
    let minimum = Duration::from_millis(50 * (u64::from(r.queries) - 2));
    assert!(started.elapsed() >= minimum, "{} queries in {:?}", r.queries, started.elapsed());
}

#[tokio::test]
async fn a_rescan_sees_changed_records() {
    // A domain's own records are never cached: the second scan reports what the domain publishes now.
    let dns =
        DnsServer::start(internet().into_iter().chain([Zone::new("moving.com").mx(10, "mx1.hostingprovider.net")]));
    let scanner = Scanner::new(&config(&dns)).unwrap();
    assert_eq!(scanner.scan("moving.com").await.mx_hosts(), vec!["mx1.hostingprovider.net"]);
    dns.set_zones(
        internet().into_iter().chain([Zone::new("moving.com")
            .mx(0, "contoso-com.mail.protection.outlook.com")
            .txt("v=spf1 include:spf.protection.outlook.com -all")]),
    );
    let r = scanner.scan("moving.com").await;
    assert_eq!(r.mx_hosts(), vec!["contoso-com.mail.protection.outlook.com"]);
    assert_eq!(r.spf.includes, strings(&["spf.protection.outlook.com"]));
}

#[tokio::test]
async fn concurrent_scans_ask_a_shared_name_once() {
    let google = |domain: &str| {
        Zone::new(domain)
            .mx(1, "aspmx.l.google.com")
            .mx(5, "alt1.aspmx.l.google.com")
            .txt("v=spf1 include:_spf.google.com ~all")
    };
    // Late answers make sure both scans want the shared names while neither has them yet.
    let dns = DnsServer::builder()
        .zones(internet())
        .zone(google("one.com"))
        .zone(google("two.com"))
        .delay(Duration::from_millis(20))
        .start();
    // A timeout long enough that no query is retried on a loaded machine: a retry would be counted.
    let scanner = Scanner::new(&ScanConfig { timeout_ms: 10_000, ..config(&dns) }).unwrap();
    let (one, two) = tokio::join!(scanner.scan("one.com"), scanner.scan("two.com"));
    assert_eq!(one.spf.includes, two.spf.includes);
    assert_eq!(one.mx[0].addresses, two.mx[0].addresses);
    // Each domain's own MX, TXT, _dmarc, _domainkey and autodiscover; the two MX hosts' A and AAAA
    // and the four SPF records once.
    assert_eq!(dns.queries(), 5 + 5 + 4 + 4);
    assert_eq!(u64::from(one.queries + two.queries), dns.queries());
}

#[test]
fn a_nameserver_that_is_not_ip_and_port_is_refused() {
    let config = ScanConfig { nameservers: strings(&["dns.example.com"]), ..ScanConfig::default() };
    let error = Scanner::new(&config).unwrap_err().to_string();
    assert!(error.contains("dns.example.com"), "{error}");
}
