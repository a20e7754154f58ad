//! Sample leads for the UI's tests: varied enough to exercise every column and colour.

use chrono::Duration;
use protocol::{
    Change, Contribution, DnsRecord, Evidence, IpDetail, LeadDetail, LeadRow, Note, Registration, SalesSummary,
    ScanHistoryItem,
};

use crate::output::fixtures::now;

/// Lead number `i`: `lead{i}.example`, cycling through providers, segments and priorities.
pub fn lead(i: u64) -> LeadRow {
    const PROVIDERS: [(&str, Option<&str>); 5] =
        [("M365", Some("Mimecast")), ("Google", None), ("Local", None), ("M365", None), ("Zoho", Some("Proofpoint"))];
    const SEGMENTS: [&str; 4] = ["Existing", "Migration", "Cold", "Skip"];
    const COMMERCIAL: [&str; 4] = ["RENEWAL", "COMPETITIVE", "GREENFIELD", "NO_GO"];
    const HEAT: [&str; 3] = ["Hot", "Warm", "Cold"];
    let (provider, gateway) = PROVIDERS[(i % 5) as usize];
    LeadRow {
        domain: format!("lead{i}.example"),
        company: Some(format!("Company {i} Ltd")),
        provider: Some(provider.into()),
        gateway: gateway.map(String::from),
        mx_hosts: vec![format!("mx.lead{i}.example")],
        spf: Some(true),
        score: Some(((i * 37) % 101) as i32),
        segment: Some(SEGMENTS[(i % 4) as usize].into()),
        commercial_segment: Some(COMMERCIAL[(i % 4) as usize].into()),
        technical_heat: Some(HEAT[(i % 3) as usize].into()),
        commercial_heat: Some("MEDIUM".into()),
        priority: Some(format!("P{}", 1 + i % 6)),
        priority_label: Some("Follow up".into()),
        scan_status: Some("ok".into()),
        scanned_at: Some(now() - Duration::minutes((i as i64 % 50) * 97)),
        favorite: i % 7 == 3,
        tags: if i == 0 { vec!["eu".into()] } else { vec![] },
        ..LeadRow::default()
    }
}

/// The detail of lead 0, with every section filled.
pub fn detail() -> LeadDetail {
    LeadDetail {
        row: LeadRow { score: Some(75), ..lead(0) },
        mx_root: Some("mimecast.com".into()),
        tenant_size: Some("large".into()),
        spf_record: Some("v=spf1 include:spf.protection.outlook.com include:_netblocks.mimecast.com -all".into()),
        dmarc_record: Some("v=DMARC1; p=reject; pct=100".into()),
        dkim_selectors: vec!["selector1".into(), "selector2".into()],
        reason: Some("Already on Microsoft 365 behind Mimecast. Score: 75, Provider: M365".into()),
        breakdown: vec![
            Contribution { key: "provider_m365".into(), points: 40, reason: "mail runs on Microsoft 365".into() },
            Contribution { key: "gateway".into(), points: 20, reason: "a paid gateway (Mimecast) in front".into() },
            Contribution { key: "dmarc_reject".into(), points: 25, reason: "DMARC p=reject at 100 %".into() },
            Contribution { key: "no_dkim_rotation".into(), points: -10, reason: "one DKIM key for years".into() },
        ],
        evidence: vec![
            Evidence { claim: "provider M365".into(), source: "SPF include spf.protection.outlook.com".into() },
            Evidence { claim: "gateway Mimecast".into(), source: "MX eu-smtp-inbound-1.mimecast.com".into() },
        ],
        sales_summary: Some(SalesSummary {
            one_liner: "M365 customer behind Mimecast: a security upsell.".into(),
            segment_explanation: "Existing Microsoft 365 tenant.".into(),
            provider_reasoning: "SPF and autodiscover point at Microsoft.".into(),
            risk_level: Some("low".into()),
            risk_text: Some("DMARC enforced".into()),
            talking_points: vec!["Defender for Office 365 can replace the gateway".into()],
            discovery_questions: vec!["When does the Mimecast contract renew?".into()],
            offer: "Defender for Office 365 P2".into(),
            opportunity: 7,
            urgency: "medium".into(),
            next_step: "Call IT to ask about the gateway renewal".into(),
        }),
        registration: Some(Registration {
            registrar: Some("Example Registrar, Inc.".into()),
            created: Some("1999-03-04".into()),
            expires: Some("2027-03-04".into()),
            nameservers: vec!["ns1.example.net".into(), "ns2.example.net".into()],
            source: "rdap".into(),
        }),
        ip_details: vec![IpDetail {
            ip: "195.130.217.1".into(),
            roles: vec!["mail".into()],
            host: Some("eu-smtp-inbound-1.mimecast.com".into()),
            country: Some("GB".into()),
            city: Some("London".into()),
            asn: Some(30031),
            asn_org: Some("Mimecast Services Limited".into()),
            usage_type: Some("DCH".into()),
            is_proxy: Some(false),
            ..IpDetail::default()
        }],
        enrichment_note: None,
        registration_note: None,
        spf_evaluation: None,
        records: vec![DnsRecord {
            name: "lead0.example".into(),
            rtype: "MX".into(),
            data: "10 eu-smtp-inbound-1.mimecast.com.".into(),
        }],
        warnings: vec!["SPF has 9 DNS lookups (limit 10)".into()],
        scans: vec![
            ScanHistoryItem {
                scan_id: 2,
                status: "ok".into(),
                started_at: now() - Duration::hours(3),
                duration_ms: Some(1_240),
                provider: Some("M365".into()),
                score: Some(75),
            },
            ScanHistoryItem {
                scan_id: 1,
                status: "ok".into(),
                started_at: now() - Duration::days(8),
                duration_ms: Some(980),
                provider: Some("Google".into()),
                score: Some(40),
            },
        ],
        changes: vec![Change {
            at: now() - Duration::hours(3),
            domain: "lead0.example".into(),
            field: "provider".into(),
            from: Some("Google".into()),
            to: Some("M365".into()),
        }],
        notes: vec![Note {
            id: 1,
            author: "alice".into(),
            body: "Met at the partner day.\nCall back in May.".into(),
            created_at: now() - Duration::days(2),
        }],
        d365: None,
        referrals: vec![protocol::ReferralInfo {
            id: "8e4c1f0e-5b2a-4c7e-9a51-1f2d3c4b5a69".into(),
            kind: Some("co-sell".into()),
            name: Some("Contoso M365 migration".into()),
            status: Some("New".into()),
            substatus: Some("Pending".into()),
            deal_value: Some("25000.00 USD".into()),
            created: Some(now() - Duration::days(3)),
            updated: Some(now() - Duration::days(1)),
            expiration: Some(now() + Duration::days(11)),
            contacts: vec!["ann@lead0.example".into()],
        }],
        activity: vec![
            protocol::Activity {
                at: now() - Duration::hours(3),
                who: Some("bob".into()),
                what: "asked for a push to Dynamics 365".into(),
            },
            protocol::Activity { at: now() - Duration::days(2), who: Some("alice".into()), what: "tagged hot".into() },
            protocol::Activity { at: now() - Duration::days(9), who: None, what: "imported".into() },
        ],
    }
}

/// The query the app asked page `page` with (or would ask it with now), so an answer matches it.
pub fn page_query(app: &mut super::App, page: u64) -> protocol::LeadQuery {
    let (seek, limit) = match app.leads.requested.get(&page) {
        Some(seek) => (seek.clone(), super::model::PAGE_SIZE as u32),
        None => app.leads.seek_for(page).unwrap_or((protocol::Seek::Offset(page * super::model::PAGE_SIZE), 200)),
    };
    app.leads.requested.insert(page, seek.clone());
    protocol::LeadQuery { seek, limit, ..app.leads.query() }
}

/// Answers page `page` as a daemon holding `lead(0..total)` would, with row keys.
pub fn answer_page(app: &mut super::App, page: u64, total: u64) -> Vec<super::Effect> {
    use protocol::{LeadKey, LeadPage, SortValue};
    let query = page_query(app, page);
    let start = page * super::model::PAGE_SIZE;
    let indexes: Vec<u64> = (start..total.min(start + super::model::PAGE_SIZE)).collect();
    let key = |i: u64| LeadKey { value: Some(SortValue::Int(i as i64)), domain: lead(i).domain };
    let answer = LeadPage {
        rows: indexes.iter().map(|i| lead(*i)).collect(),
        first: indexes.first().map(|i| key(*i)),
        last: indexes.last().map(|i| key(*i)),
    };
    let answer = crate::client::Answer::Leads { query: Box::new(query), result: Ok(answer) };
    super::update(app, super::Msg::Answer(answer))
}

/// Answers the count of the current filter.
pub fn answer_count(app: &mut super::App, count: u64, exact: bool) -> Vec<super::Effect> {
    let filter = Box::new(app.leads.filter.clone());
    let result = Ok(protocol::LeadCount { count, exact });
    super::update(app, super::Msg::Answer(crate::client::Answer::LeadCount { filter, result }))
}
