//! Provider detection of domains the scanner reads from the test DNS server: the cases the
//! detection used to get wrong, each with the evidence it keeps.

use hunter_tests::dns::{DnsServer, Zone};
use hunterd::config::ScanConfig;
use hunterd::provider::{self, Detection, ProviderTable};
use hunterd::scan::Scanner;

/// Scans `domain` against `zones` (served like an authoritative server: aliases alone) and detects.
async fn detect(zones: Vec<Zone>, domain: &str) -> Detection {
    let dns = DnsServer::builder().zones(zones).cname_alone().start();
    let config =
        ScanConfig { nameservers: vec![dns.nameserver()], timeout_ms: 1_000, retries: 1, ..ScanConfig::default() };
    let scan = Scanner::new(&config).unwrap().scan(domain).await;
    provider::detect(&scan, &ProviderTable::load(None).unwrap())
}

fn claims(d: &Detection) -> String {
    d.evidence.iter().map(|e| format!("{} [{}]", e.claim, e.record)).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn microsofts_dnssec_inbound_namespace_is_microsoft_365() {
    let d = detect(
        vec![
            Zone::new("contoso.com").mx(0, "contoso-com.o-v1.mx.microsoft"),
            Zone::new("mx.microsoft").a("contoso-com.o-v1.mx.microsoft", "52.101.68.18"),
        ],
        "contoso.com",
    )
    .await;
    assert_eq!(d.provider, "M365", "{}", claims(&d));
    assert!(claims(&d).contains("contoso-com.o-v1.mx.microsoft"), "{}", claims(&d));
}

#[tokio::test]
async fn an_mx_host_that_is_a_cname_is_classified_by_its_target() {
    let d = detect(
        vec![
            Zone::new("contoso.com")
                .mx(10, "mail.contoso.com")
                .cname("mail", "contoso-com.mail.protection.outlook.com"),
            Zone::new("outlook.com").a("contoso-com.mail.protection.outlook.com", "52.101.68.18"),
        ],
        "contoso.com",
    )
    .await;
    assert_eq!(d.provider, "M365", "{}", claims(&d));
    assert!(
        d.evidence.iter().any(|e| e.record == "mail.contoso.com CNAME contoso-com.mail.protection.outlook.com"),
        "{}",
        claims(&d)
    );
}

#[tokio::test]
async fn an_own_mx_in_front_of_a_microsoft_365_tenant_is_microsoft_365_with_the_relay_noted() {
    let d = detect(
        vec![
            Zone::new("contoso.com")
                .mx(10, "mail.contoso.com")
                .a("mail", "198.51.100.25")
                .txt("v=spf1 mx include:spf.protection.outlook.com -all")
                .txt("MS=ms12345678")
                .autodiscover_cname("autodiscover.outlook.com"),
            Zone::new("outlook.com")
                .txt_at("spf.protection.outlook.com", "v=spf1 ip4:40.92.0.0/15 -all")
                .a("autodiscover.outlook.com", "52.97.1.1"),
        ],
        "contoso.com",
    )
    .await;
    assert_eq!((d.provider.as_str(), d.local_provider.as_deref()), ("M365", None), "{}", claims(&d));
    assert!(claims(&d).contains("relay or hybrid"), "{}", claims(&d));
}

#[tokio::test]
async fn an_own_mx_without_cloud_evidence_stays_local() {
    let d = detect(
        vec![Zone::new("contoso.com").mx(10, "mail.contoso.com").a("mail", "198.51.100.25").txt("v=spf1 mx -all")],
        "contoso.com",
    )
    .await;
    assert_eq!(d.provider, "Local", "{}", claims(&d));
}

#[tokio::test]
async fn the_large_hosters_mail_is_hosting_with_the_hoster_named() {
    for (mx, hoster) in [
        ("mailstore1.secureserver.net", "GoDaddy"),
        ("mx00.ionos.de", "IONOS"),
        ("mx1.mail.ovh.net", "OVHcloud"),
        ("mx1.hostinger.com", "Hostinger"),
        ("mx1.privateemail.com", "Namecheap"),
        ("smtpin.rzone.de", "Strato"),
        ("mx1.emailsrvr.com", "Rackspace"),
        ("spool.mail.gandi.net", "Gandi"),
        ("mx-biz.mail.am0.yahoodns.net", "Yahoo"),
    ] {
        let root = mx.split('.').rev().take(2).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(".");
        let d = detect(vec![Zone::new("contoso.com").mx(10, mx), Zone::new(&root).a(mx, "192.0.2.25")], "contoso.com")
            .await;
        assert_eq!(
            (d.provider.as_str(), d.local_provider.as_deref()),
            ("Hosting", Some(hoster)),
            "{mx}: {}",
            claims(&d)
        );
    }
}
