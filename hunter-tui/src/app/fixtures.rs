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

/// Referral number `i`, cycling through kinds and link statuses; every fourth from the second
/// (1, 5, 9, …) is incoming, still New and expiring within the window.
pub fn referral(i: u64) -> protocol::ReferralRow {
    use protocol::LinkStatus;
    const KINDS: [Option<&str>; 6] = [
        Some("co-sell"),
        Some("marketplace"),
        Some("solution-provider"),
        Some("marketing-qualified"),
        Some("own-deal"),
        None,
    ];
    let expiring = i % 4 == 1;
    let (link_status, domain, reason, manual_by) = match i % 5 {
        0 => (LinkStatus::Linked, Some(format!("lead{i}.example")), None, None),
        1 => (LinkStatus::NoDomain, None, Some("the referral has no website and no customer contact e-mail"), None),
        2 => (LinkStatus::FreeMailOnly, None, Some("the referral's contacts only use free-mail addresses"), None),
        3 => (
            LinkStatus::Invalid,
            None,
            Some("website `http://192.0.2.1/` is not a company domain: `192.0.2.1` is an IP address, not a domain"),
            None,
        ),
        _ => (LinkStatus::Linked, Some(format!("customer{i}.example")), None, Some("alice".to_string())),
    };
    protocol::ReferralRow {
        id: format!("ref-{i:04}"),
        name: Some(format!("Customer {i} M365 migration")),
        customer: Some(format!("Customer {i} GmbH")),
        kind: KINDS[(i % 6) as usize].map(String::from),
        direction: Some(if i % 6 == 4 { "Outgoing" } else { "Incoming" }.into()),
        status: Some(if expiring { "New" } else { ["New", "Active", "Closed"][(i % 3) as usize] }.into()),
        substatus: Some(if expiring { "Pending" } else { ["Received", "Accepted", "Won"][(i % 3) as usize] }.into()),
        deal_value: (i % 3 != 2).then(|| format!("{}.00", 5_000 + i * 2_500)),
        currency: (i % 3 != 2).then(|| "EUR".to_string()),
        created: Some(now() - Duration::days(10 + i as i64)),
        updated: Some(now() - Duration::hours(3 * i as i64 + 1)),
        expiration: Some(if expiring { now() + Duration::hours(20 + i as i64) } else { now() + Duration::days(9) }),
        contacts: match i % 5 {
            1 => vec![],
            2 => vec![format!("buyer{i}@gmail.com")],
            _ => vec![format!("it@customer{i}.example"), format!("cfo@customer{i}.example")],
        },
        link_status: Some(link_status),
        link_reason: reason.map(String::from),
        domain,
        manual_by: manual_by.clone(),
        manual_at: manual_by.map(|_| now() - Duration::hours(2)),
        expiring_soon: expiring,
    }
}

/// Answers the inbox's pending page request as a daemon holding `referral(0..all)` would (its
/// kind and link-status filters applied), counting `expiring` referrals expiring within three days.
pub fn answer_referrals(app: &mut super::App, all: u64, expiring: u64) -> Vec<super::Effect> {
    let query = app.inbox.requested.clone().unwrap_or_else(|| app.inbox.query());
    let filter = &query.filter;
    let matching: Vec<protocol::ReferralRow> = (0..all)
        .map(referral)
        .filter(|r| filter.link_statuses.is_empty() || r.link_status.is_some_and(|s| filter.link_statuses.contains(&s)))
        .filter(|r| {
            filter.kinds.is_empty() || filter.kinds.contains(&r.kind.clone().unwrap_or_else(|| "unknown".into()))
        })
        .collect();
    let rows = matching.iter().skip(query.offset as usize).take(query.limit as usize).cloned().collect();
    let page = protocol::ReferralPage {
        rows,
        offset: query.offset,
        total: matching.len() as u64,
        expiring_soon: expiring,
        expiring_window_secs: 3 * 86_400,
    };
    let answer = crate::client::Answer::Referrals { query: Box::new(query), result: Ok(page) };
    super::update(app, super::Msg::Answer(answer))
}
