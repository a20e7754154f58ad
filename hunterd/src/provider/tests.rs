use super::*;
use crate::scan::{DkimSelector, MxHost, SpfResult, SpfStatus, TenantHints};

fn scan_with_mx(domain: &str, hosts: &[&str]) -> ScanResult {
    ScanResult {
        domain: domain.to_string(),
        status: if hosts.is_empty() { ScanStatus::NoMx } else { ScanStatus::Ok },
        mx: hosts
            .iter()
            .enumerate()
            .map(|(i, h)| MxHost {
                preference: 10 * (i as u16 + 1),
                host: h.to_string(),
                cname_target: None,
                addresses: vec![],
            })
            .collect(),
        spf: SpfResult {
            status: SpfStatus::None,
            record: None,
            all_records: vec![],
            includes: vec![],
            lookup_count: 0,
            tree: None,
        },
        dmarc: None,
        dkim: vec![],
        hints: TenantHints::default(),
        apex_txt: vec![],
        raw: vec![],
        queries: 0,
        warnings: vec![],
    }
}

fn with_spf(mut scan: ScanResult, record: &str) -> ScanResult {
    let includes: Vec<SpfNode> = record
        .split_whitespace()
        .filter_map(|t| t.strip_prefix("include:"))
        .map(|d| SpfNode { domain: d.to_string(), record: None, includes: vec![], redirect: None, error: None })
        .collect();
    scan.spf = SpfResult {
        status: SpfStatus::Valid,
        record: Some(record.to_string()),
        all_records: vec![record.to_string()],
        includes: includes.iter().map(|n| n.domain.clone()).collect(),
        lookup_count: includes.len() as u32,
        tree: Some(SpfNode {
            domain: scan.domain.clone(),
            record: Some(record.to_string()),
            includes,
            redirect: None,
            error: None,
        }),
    };
    scan
}

fn embedded() -> &'static ProviderTable {
    ProviderTable::embedded()
}

fn claims(d: &Detection) -> Vec<&str> {
    d.evidence.iter().map(|e| e.claim.as_str()).collect()
}

#[test]
fn the_embedded_table_is_valid() {
    let table = ProviderTable::from_toml(include_str!("../../data/providers.toml"), "providers.toml");
    assert!(table.is_ok(), "{}", table.err().map(|e| e.to_string()).unwrap_or_default());
    assert_eq!(embedded().two_part_suffixes.len(), 60, "the reference's 60 two-part suffixes");
}

#[test]
fn mx_roots_match_the_reference_examples() {
    let t = embedded();
    for (host, root) in [
        ("example-com.mail.protection.outlook.com", Some("outlook.com")),
        ("aspmx.l.google.com", Some("google.com")),
        ("aspmx.vit.com.tr", Some("vit.com.tr")),
        ("mail.example.co.uk", Some("example.co.uk")),
        ("mail.example.k12.tr", Some("k12.tr")),
        ("example", Some("example")),
        ("com.tr", Some("com.tr")),
        ("Mail.Example.COM.", Some("Example.COM")),
        ("", None),
    ] {
        assert_eq!(t.mx_root(host).as_deref(), root, "mx_root({host:?})");
    }
}

/// engine.md §5.6, every row. Tenant size is the intended value computed from the first MX host
/// (the table's "stored" column shows the documented defect: the root was passed instead).
#[test]
fn the_reference_provider_table_rows_are_reproduced() {
    type Row = (&'static str, Option<&'static str>, &'static str, Option<&'static str>, Option<TenantSize>);
    let rows: &[Row] = &[
        ("example-com.mail.protection.outlook.com", Some("outlook.com"), "M365", None, Some(TenantSize::Large)),
        ("outlook-com.olc.protection.outlook.com", Some("outlook.com"), "M365", None, Some(TenantSize::Small)),
        ("aspmx.l.google.com", Some("google.com"), "Google", None, Some(TenantSize::Medium)),
        ("mx.gmail.com", Some("gmail.com"), "Google", None, Some(TenantSize::Medium)),
        ("mx.google.com.tr", Some("google.com.tr"), "Google", None, Some(TenantSize::Large)),
        ("mx.yandex.net", Some("yandex.net"), "Yandex", None, None),
        ("mx1.yandex.ru", Some("yandex.ru"), "Yandex", None, None),
        ("mx.zoho.eu", Some("zoho.eu"), "Zoho", None, None),
        ("inbound-smtp.us-east-1.amazonaws.com", Some("amazonaws.com"), "Amazon", None, None),
        ("mx.sendgrid.net", Some("sendgrid.net"), "SendGrid", None, None),
        ("mxa.mailgun.org", Some("mailgun.org"), "Mailgun", None, None),
        // The reference left the hoster unnamed and GoDaddy Local (issue 9: Hosting, hoster named).
        ("mx1.hostinger.com", Some("hostinger.com"), "Hosting", Some("Hostinger"), None),
        ("smtp.secureserver.net", Some("secureserver.net"), "Hosting", Some("GoDaddy"), None),
        ("mail.example.com", Some("example.com"), "Local", None, None),
        ("aspmx.vit.com.tr", Some("vit.com.tr"), "Local", Some("VIT"), None),
        ("mx.natro.com", Some("natro.com"), "Local", Some("Natro"), None),
        ("mail.turkhost.com.tr", Some("turkhost.com.tr"), "Local", Some("TürkHost"), None),
        ("mx.turhost.com", Some("turhost.com"), "Local", Some("Turhost"), None),
        ("mx.ttnet.net.tr", Some("ttnet.net.tr"), "Local", Some("TTNET"), None),
        ("mx.superonline.com", Some("superonline.com"), "Local", Some("Superonline"), None),
        ("mx.hotmail.com", Some("hotmail.com"), "Local", None, None),
    ];
    for (host, root, provider, local, size) in rows {
        let d = detect(&scan_with_mx("example.com", &[host]), embedded());
        assert_eq!(d.mx_root.as_deref(), *root, "row {host}: mx root");
        assert_eq!(d.provider, *provider, "row {host}: provider");
        assert_eq!(d.local_provider.as_deref(), *local, "row {host}: local provider");
        assert_eq!(d.tenant_size, *size, "row {host}: tenant size");
        assert_eq!(d.gateway, None, "row {host}: gateway");
    }
}

#[test]
fn no_mx_is_provider_unknown_with_no_root() {
    let d = detect(&scan_with_mx("example.com", &[]), embedded());
    assert_eq!((d.provider.as_str(), d.mx_root, d.tenant_size), ("Unknown", None, None));
    assert_eq!(d.evidence[0].source, EvidenceSource::Scan);
}

#[test]
fn a_null_mx_is_provider_unknown_and_says_so_in_the_evidence() {
    let mut scan = scan_with_mx("example.com", &[]);
    scan.status = ScanStatus::NullMx;
    let d = detect(&scan, embedded());
    assert_eq!(d.provider, "Unknown");
    assert!(d.evidence[0].claim.contains("null MX"), "{:?}", d.evidence);
    assert_eq!(d.evidence[0].record, "example.com MX 0 .");
}

#[test]
fn only_the_first_mx_host_decides() {
    let d = detect(
        &scan_with_mx("example.com", &["mail.example.com", "example-com.mail.protection.outlook.com"]),
        embedded(),
    );
    assert_eq!(d.provider, "Local");
}

#[test]
fn provider_matching_is_case_insensitive_and_ignores_the_trailing_dot() {
    let d = detect(&scan_with_mx("example.com", &["ASPMX.L.GOOGLE.COM."]), embedded());
    assert_eq!(d.provider, "Google");
}

#[test]
fn provider_evidence_quotes_the_mx_record() {
    let d = detect(&scan_with_mx("example.com", &["example-com.mail.protection.outlook.com"]), embedded());
    assert_eq!(d.evidence[0].record, "example.com MX 10 example-com.mail.protection.outlook.com");
    assert!(d.evidence[0].claim.starts_with("provider M365"));
    assert!(claims(&d).iter().any(|c| c.starts_with("tenant size large")));
}

#[test]
fn local_provider_keys_match_on_label_boundaries_only() {
    let t = embedded();
    assert_eq!(t.match_local_provider("pendns.com").map(|l| l.name.as_str()), None);
    assert_eq!(t.match_local_provider("cloudns.com").map(|l| l.name.as_str()), None);
    assert_eq!(t.match_local_provider("iku.edu.tr").map(|l| l.name.as_str()), None);
    assert_eq!(t.match_local_provider("pendns.net").map(|l| l.name.as_str()), Some("Pendns"));
    assert_eq!(t.match_local_provider("dns.com").map(|l| l.name.as_str()), Some("DNS"));
    assert_eq!(t.match_local_provider("turhost.com.tr").map(|l| l.name.as_str()), Some("Turhost"));
}

#[test]
fn tenant_size_reads_the_regional_eop_pattern() {
    assert_eq!(tenant_size("M365", "abc12.protection.outlook.com").map(|t| t.0), Some(TenantSize::Small));
    assert_eq!(tenant_size("M365", "ab12.protection.outlook.com").map(|t| t.0), Some(TenantSize::Medium));
    assert_eq!(tenant_size("Zoho", "mx.zoho.eu"), None);
}

// ---- gateways ------------------------------------------------------------------------------

fn m365_behind_mimecast() -> ScanResult {
    let mut scan = with_spf(
        scan_with_mx("contoso.com", &["eu-smtp-inbound-1.mimecast.com", "eu-smtp-inbound-2.mimecast.com"]),
        "v=spf1 include:spf.protection.outlook.com include:_netblocks.mimecast.com -all",
    );
    scan.dkim = vec![DkimSelector {
        selector: "selector1".into(),
        record: Some("v=DKIM1; k=rsa; p=MIGf".into()),
        cname_target: Some("selector1-contoso-com._domainkey.contoso.onmicrosoft.com".into()),
    }];
    scan.hints = TenantHints {
        ms_verification: vec!["MS=ms12345678".into()],
        autodiscover_cname: Some("autodiscover.outlook.com".into()),
        dkim_onmicrosoft: vec!["selector1-contoso-com._domainkey.contoso.onmicrosoft.com".into()],
        google_site_verification: vec![],
    };
    scan.apex_txt = vec![
        "v=spf1 include:spf.protection.outlook.com include:_netblocks.mimecast.com -all".into(),
        "MS=ms12345678".into(),
    ];
    scan
}

#[test]
fn m365_behind_mimecast_is_provider_m365_with_gateway_mimecast() {
    let d = detect(&m365_behind_mimecast(), embedded());
    assert_eq!(d.provider, "M365");
    assert_eq!(d.gateway.as_deref(), Some("Mimecast"));
    assert_eq!(d.mx_root.as_deref(), Some("mimecast.com"));
    assert_eq!(d.local_provider, None);
}

#[test]
fn m365_behind_mimecast_keeps_each_record_that_said_so() {
    let d = detect(&m365_behind_mimecast(), embedded());
    let has = |source: EvidenceSource, claim: &str, record: &str| {
        d.evidence.iter().any(|e| e.source == source && e.claim.contains(claim) && e.record.contains(record))
    };
    assert!(has(EvidenceSource::Mx, "gateway Mimecast", "contoso.com MX 10 eu-smtp-inbound-1.mimecast.com"), "{d:#?}");
    assert!(has(EvidenceSource::Spf, "provider M365 behind gateway Mimecast", "include:spf.protection.outlook.com"));
    assert!(has(EvidenceSource::Dkim, "provider M365", "selector1._domainkey.contoso.com CNAME"));
    assert!(has(
        EvidenceSource::Autodiscover,
        "provider M365",
        "autodiscover.contoso.com CNAME autodiscover.outlook.com"
    ));
    assert!(has(EvidenceSource::Txt, "provider M365", "MS=ms12345678"));
    // The DKIM CNAME given both as a selector and as a hint is quoted once.
    assert_eq!(d.evidence.iter().filter(|e| e.source == EvidenceSource::Dkim).count(), 1);
}

#[test]
fn autodiscover_alone_names_m365_behind_a_gateway() {
    let mut scan = with_spf(
        scan_with_mx("contoso.com", &["us-smtp-inbound-1.mimecast.com"]),
        "v=spf1 include:_netblocks.mimecast.com ~all",
    );
    scan.hints.autodiscover_cname = Some("autodiscover.outlook.com.".into());
    let d = detect(&scan, embedded());
    assert_eq!((d.provider.as_str(), d.gateway.as_deref()), ("M365", Some("Mimecast")));
}

#[test]
fn google_behind_proofpoint_is_inferred_from_the_spf_include() {
    let mut scan = with_spf(
        scan_with_mx("fabrikam.com", &["mx0a-00123456.pphosted.com", "mx0b-00123456.pphosted.com"]),
        "v=spf1 include:_spf.google.com include:spf-00123456.pphosted.com ~all",
    );
    scan.dkim = vec![DkimSelector {
        selector: "google".into(),
        record: Some("v=DKIM1; k=rsa; p=MIIB".into()),
        cname_target: None,
    }];
    let d = detect(&scan, embedded());
    assert_eq!((d.provider.as_str(), d.gateway.as_deref()), ("Google", Some("Proofpoint")));
    assert!(d.evidence.iter().any(|e| e.source == EvidenceSource::Spf && e.record.contains("include:_spf.google.com")));
    assert!(d.evidence.iter().any(|e| e.source == EvidenceSource::Dkim && e.record.starts_with("google._domainkey")));
    // Tenant size follows §5.4 on the first MX host: a gateway host carries no Google pattern.
    assert_eq!(d.tenant_size, Some(TenantSize::Medium));
}

/// Decision: a gateway with no decisive backend hint is provider `Unknown` (0 points, never
/// "Local": the reference called every gateway customer a self-hosted greenfield).
#[test]
fn a_gateway_without_backend_hints_is_provider_unknown() {
    let scan = with_spf(scan_with_mx("example.com", &["mx1.hornetsecurity.com"]), "v=spf1 mx -all");
    let d = detect(&scan, embedded());
    assert_eq!((d.provider.as_str(), d.gateway.as_deref()), ("Unknown", Some("Hornetsecurity")));
    assert_eq!((d.local_provider.as_deref(), d.tenant_size), (None, None));
    assert!(claims(&d).iter().any(|c| c.starts_with("provider Unknown")), "{d:#?}");
}

#[test]
fn google_site_verification_alone_does_not_make_a_gateway_customer_google() {
    let mut scan = scan_with_mx("example.com", &["example-com.mail.eo.outbound.messagelabs.com"]);
    scan.hints.google_site_verification = vec!["google-site-verification=abc".into()];
    let d = detect(&scan, embedded());
    assert_eq!((d.provider.as_str(), d.gateway.as_deref()), ("Unknown", Some("Symantec MessageLabs")));
    let e = d.evidence.iter().find(|e| e.source == EvidenceSource::Txt);
    assert!(e.is_some_and(|e| e.claim.contains("not concluded")), "{d:#?}");
}

#[test]
fn an_ms_verification_txt_alone_only_corroborates() {
    let mut scan = scan_with_mx("example.com", &["d123456a.ess.barracudanetworks.com"]);
    scan.apex_txt = vec!["MS=ms99999".into()];
    assert_eq!(detect(&scan, embedded()).provider, "Unknown");
    scan.hints.dkim_onmicrosoft = vec!["selector2-example-com._domainkey.example.onmicrosoft.com".into()];
    assert_eq!(detect(&scan, embedded()).provider, "M365");
}

#[test]
fn includes_nested_in_a_third_party_record_are_not_backend_hints() {
    let mut scan = scan_with_mx("example.com", &["mx1.hc1234-56.iphmx.com"]);
    scan.spf = with_spf(scan.clone(), "v=spf1 include:mail.zendesk.com -all").spf;
    if let Some(tree) = scan.spf.tree.as_mut() {
        tree.includes[0].includes.push(SpfNode {
            domain: "_spf.google.com".into(),
            record: Some("v=spf1 ip4:1.2.3.4 ~all".into()),
            includes: vec![],
            redirect: None,
            error: None,
        });
    }
    let d = detect(&scan, embedded());
    assert_eq!((d.provider.as_str(), d.gateway.as_deref()), ("Unknown", Some("Cisco Secure Email")));
}

#[test]
fn includes_under_the_domain_itself_and_redirects_are_followed() {
    let mut scan = scan_with_mx("example.com", &["example-com.mail.tmes.trendmicro.eu"]);
    let own = SpfNode {
        domain: "_spf.example.com".into(),
        record: Some("v=spf1 include:spf.protection.outlook.com -all".into()),
        includes: vec![SpfNode {
            domain: "spf.protection.outlook.com".into(),
            record: None,
            includes: vec![],
            redirect: None,
            error: None,
        }],
        redirect: None,
        error: None,
    };
    scan.spf = SpfResult {
        status: SpfStatus::Valid,
        record: Some("v=spf1 redirect=_spf.example.com".into()),
        all_records: vec![],
        includes: vec![],
        lookup_count: 2,
        tree: Some(SpfNode {
            domain: "example.com".into(),
            record: Some("v=spf1 redirect=_spf.example.com".into()),
            includes: vec![],
            redirect: Some(Box::new(own)),
            error: None,
        }),
    };
    let d = detect(&scan, embedded());
    assert_eq!((d.provider.as_str(), d.gateway.as_deref()), ("M365", Some("Trend Micro")));
}

#[test]
fn without_an_spf_tree_the_record_text_is_read() {
    let mut scan = with_spf(
        scan_with_mx("example.com", &["mx-01-eu-west-1.prod.hydra.sophos.com"]),
        "v=spf1 +include:_spf.google.com ~all",
    );
    scan.spf.tree = None;
    let d = detect(&scan, embedded());
    assert_eq!((d.provider.as_str(), d.gateway.as_deref()), ("Google", Some("Sophos")));
}

#[test]
fn the_stronger_backend_wins_when_hints_disagree() {
    let mut scan =
        with_spf(scan_with_mx("example.com", &["eu.mailcontrol.com"]), "v=spf1 include:_spf.google.com -all");
    scan.hints.autodiscover_cname = Some("autodiscover.outlook.com".into());
    scan.hints.dkim_onmicrosoft = vec!["selector1-example-com._domainkey.example.onmicrosoft.com".into()];
    let d = detect(&scan, embedded());
    assert_eq!((d.provider.as_str(), d.gateway.as_deref()), ("M365", Some("Forcepoint")));
    assert!(claims(&d).iter().any(|c| c.starts_with("hint of Google") && c.contains("not concluded")));
}

#[test]
fn the_companys_own_mx_in_front_of_a_tenant_is_the_tenants_provider() {
    let mut scan =
        with_spf(scan_with_mx("example.com", &["mail.example.com"]), "v=spf1 include:spf.protection.outlook.com -all");
    scan.hints.autodiscover_cname = Some("autodiscover.outlook.com".into());
    let d = detect(&scan, embedded());
    assert_eq!((d.provider.as_str(), d.gateway.as_deref()), ("M365", None));
    assert!(claims(&d).iter().any(|c| c.contains("relay or hybrid")), "{:?}", claims(&d));
}

#[test]
fn backend_hints_do_not_override_a_third_partys_unknown_mx() {
    let mut scan =
        with_spf(scan_with_mx("example.com", &["mx.smallisp.net"]), "v=spf1 include:spf.protection.outlook.com -all");
    scan.hints.autodiscover_cname = Some("autodiscover.outlook.com".into());
    assert_eq!(detect(&scan, embedded()).provider, "Local", "the MX decides unless it is the company's own");
}

#[test]
fn every_listed_gateway_is_recognised_from_a_typical_mx_host() {
    for (host, gateway) in [
        ("us-smtp-inbound-1.mimecast.com", "Mimecast"),
        ("mx1-us1.ppe-hosted.com", "Proofpoint"),
        ("d123456a.ess.barracudanetworks.com", "Barracuda"),
        ("mx1.hc1234-56.iphmx.com", "Cisco Secure Email"),
        ("in.hes.trendmicro.com", "Trend Micro"),
        ("mx-01-eu-west-1.prod.hydra.sophos.com", "Sophos"),
        ("cluster1.eu.mailcontrol.com", "Forcepoint"),
        ("mx01.hornetsecurity.com", "Hornetsecurity"),
        ("mx.spamexperts.com", "SpamExperts"),
        ("mx.eu1.antispamcloud.com", "SpamExperts"),
        ("cluster1.eu.messagelabs.com", "Symantec MessageLabs"),
        ("mailstream-east.mxrecord.io", "Cloudflare Email Security"),
    ] {
        let d = detect(&scan_with_mx("example.com", &[host]), embedded());
        assert_eq!(d.gateway.as_deref(), Some(gateway), "{host}");
    }
}

// ---- table validation ------------------------------------------------------------------------

fn table_problems(text: &str) -> String {
    match ProviderTable::from_toml(text, "test.toml") {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = r#"
two_part_suffixes = ["com.tr"]
backend_min_weight = 2
[[provider]]
name = "M365"
roots = ["outlook.com"]
"#;

#[test]
fn a_minimal_table_is_valid() {
    assert_eq!(table_problems(MINIMAL), "");
}

#[test]
fn listing_a_built_in_provider_is_an_error_naming_it() {
    let text = format!("{MINIMAL}\n[[provider]]\nname = \"Local\"\nroots = [\"example.com\"]\n");
    assert!(table_problems(&text).contains("provider[1] (Local): `Local` is built in"), "{}", table_problems(&text));
}

#[test]
fn a_backend_hint_for_an_unlisted_provider_is_an_error() {
    let text = format!(
        "{MINIMAL}\n[[backend_hint]]\nprovider = \"Gogle\"\nkind = \"spf_include\"\npattern = \"_spf.google.com\"\nweight = 2\n"
    );
    assert!(table_problems(&text).contains("backend_hint[0]: provider `Gogle`"), "{}", table_problems(&text));
}

#[test]
fn an_unknown_key_in_the_table_is_an_error_with_its_line() {
    let text = format!("{MINIMAL}\nrootz = []\n");
    let err = table_problems(&text);
    assert!(err.contains("test.toml") && err.contains("rootz") && err.contains("line"), "{err}");
}

#[test]
fn a_root_without_a_dot_is_an_error() {
    let text = MINIMAL.replace("[\"outlook.com\"]", "[\"outlook\"]");
    assert!(table_problems(&text).contains("provider[0] (M365).roots[0]: `outlook`"), "{}", table_problems(&text));
}

#[test]
fn loading_without_a_path_gives_the_embedded_table() {
    assert_eq!(ProviderTable::load(None).ok().as_ref(), Some(embedded()));
}

#[test]
fn loading_a_missing_file_names_it() {
    let err = ProviderTable::load(Some(std::path::Path::new("/nonexistent/providers.toml")));
    assert!(err.is_err_and(|e| e.to_string().contains("/nonexistent/providers.toml")));
}
