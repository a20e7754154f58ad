//! Pins the bytes of one value of every message variant. A change of shape (a field added, removed,
//! reordered or retyped, a variant inserted) changes these bytes: that is a new protocol, so bump
//! `PROTOCOL_VERSION` (protocol/src/lib.rs), which names a new snapshot, and review it. Older
//! clients are then refused with a clear sentence at the handshake instead of failing to decode.
//!
//! The `*_variant` functions list every variant without a catch-all, so a new variant does not
//! compile until it has a sample here.

use chrono::{DateTime, TimeZone, Utc};
use protocol::handshake::MAGIC;
use protocol::*;
use std::collections::BTreeMap;
use std::fmt::Write;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 12, 30, 0).single().expect("a valid instant")
}

fn s(text: &str) -> String {
    text.to_string()
}

fn job() -> JobInfo {
    JobInfo {
        name: s("rescans"),
        description: s("d"),
        interval_secs: 3600,
        state: JobState::Running,
        last_started_at: Some(at()),
        last_finished_at: Some(at()),
        last_result: Some(JobOutcome::Failed { error: s("e") }),
        last_error: Some(s("e")),
        last_error_at: Some(at()),
        next_run_at: Some(at()),
    }
}

fn filter() -> LeadFilter {
    LeadFilter {
        text: Some(s("t")),
        segments: vec![s("a")],
        providers: vec![s("b")],
        gateways: vec![s("c")],
        priorities: vec![s("d")],
        technical_heats: vec![s("e")],
        commercial_heats: vec![s("f")],
        commercial_segments: vec![s("g")],
        scan_statuses: vec![s("h")],
        tags: vec![s("i")],
        favorites_only: true,
        min_score: Some(-1),
        max_score: Some(2),
        referrals: vec![s("j")],
        d365_statuses: vec![s("k")],
    }
}

fn referral_filter() -> ReferralFilter {
    ReferralFilter {
        text: Some(s("t")),
        kinds: vec![s("co-sell")],
        statuses: vec![s("New")],
        link_statuses: vec![LinkStatus::FreeMailOnly, LinkStatus::Unlinked],
        expiring_only: true,
    }
}

fn referral_row() -> ReferralRow {
    ReferralRow {
        id: s("r1"),
        name: Some(s("n")),
        customer: Some(s("Contoso")),
        kind: Some(s("co-sell")),
        direction: Some(s("Incoming")),
        status: Some(s("New")),
        substatus: Some(s("Pending")),
        deal_value: Some(s("25000.00")),
        currency: Some(s("USD")),
        created: Some(at()),
        updated: Some(at()),
        expiration: Some(at()),
        contacts: vec![s("ann@gmail.com")],
        link_status: Some(LinkStatus::Linked),
        link_reason: Some(s("r")),
        domain: Some(s("contoso.com")),
        manual_by: Some(s("alice")),
        manual_at: Some(at()),
        expiring_soon: true,
    }
}

fn row() -> LeadRow {
    LeadRow {
        domain: s("contoso.com"),
        company: Some(s("Contoso")),
        provider: Some(s("M365")),
        gateway: Some(s("Mimecast")),
        local_provider: Some(s("l")),
        mx_hosts: vec![s("mx")],
        spf: Some(true),
        spf_includes: vec![s("inc")],
        dkim: Some(false),
        dmarc_policy: Some(s("reject")),
        dmarc_pct: Some(100),
        score: Some(-5),
        segment: Some(s("Existing")),
        commercial_segment: Some(s("RENEWAL")),
        technical_heat: Some(s("Hot")),
        commercial_heat: Some(s("HIGH")),
        priority: Some(s("P1")),
        priority_label: Some(s("p")),
        scan_status: Some(s("ok")),
        scanned_at: Some(at()),
        favorite: true,
        tags: vec![s("tag")],
        ip_country: Some(s("DE")),
        ip_asn: Some(8075),
        ip_org: Some(s("o")),
        ip_proxy: Some(false),
        infrastructure_summary: Some(s("i")),
        spf_result: Some(s("ok")),
        d365_status: Some(s("synced")),
        d365_lead_id: Some(s("00000000-0000-0000-0000-000000000001")),
        d365_url: Some(s("https://org.example/main.aspx?etn=lead&id=1&pagetype=entityrecord")),
        d365_pushed_at: Some(at()),
        referral_type: Some(s("co-sell")),
        referral_status: Some(s("Active")),
        referral_id: Some(s("8e4c1f0e-5b2a-4c7e-9a51-1f2d3c4b5a69")),
    }
}

fn detail() -> LeadDetail {
    LeadDetail {
        row: row(),
        mx_root: Some(s("outlook.com")),
        tenant_size: Some(s("t")),
        spf_record: Some(s("v=spf1")),
        spf_evaluation: Some(s("ok (1 DNS lookups)")),
        dmarc_record: Some(s("v=DMARC1")),
        dkim_selectors: vec![s("selector1")],
        reason: Some(s("r")),
        breakdown: vec![Contribution { key: s("k"), points: -3, reason: s("r") }],
        evidence: vec![Evidence { claim: s("c"), source: s("s") }],
        sales_summary: Some(SalesSummary {
            one_liner: s("a"),
            segment_explanation: s("b"),
            provider_reasoning: s("c"),
            risk_level: Some(s("d")),
            risk_text: Some(s("e")),
            talking_points: vec![s("f")],
            discovery_questions: vec![s("g")],
            offer: s("h"),
            opportunity: 7,
            urgency: s("i"),
            next_step: s("j"),
        }),
        registration: Some(Registration {
            registrar: Some(s("r")),
            created: Some(s("c")),
            expires: Some(s("e")),
            nameservers: vec![s("ns")],
            source: s("rdap"),
        }),
        registration_note: Some(s("pending")),
        ip_details: vec![IpDetail {
            ip: s("192.0.2.1"),
            roles: vec![s("mx")],
            host: Some(s("h")),
            country: Some(s("DE")),
            country_name: Some(s("Germany")),
            region: Some(s("r")),
            city: Some(s("c")),
            asn: Some(1),
            asn_org: Some(s("a")),
            isp: Some(s("i")),
            usage_type: Some(s("DCH")),
            is_proxy: Some(true),
            proxy_type: Some(s("VPN")),
            is_vpn: Some(true),
            is_tor: Some(false),
            is_data_center: Some(true),
            hosting_provider: Some(s("h")),
            sources: BTreeMap::from([(s("country"), s("maxmind"))]),
        }],
        enrichment_note: Some(s("n")),
        records: vec![DnsRecord { name: s("n"), rtype: s("MX"), data: s("d") }],
        warnings: vec![s("w")],
        scans: vec![ScanHistoryItem {
            scan_id: 9,
            status: s("ok"),
            started_at: at(),
            duration_ms: Some(12),
            provider: Some(s("p")),
            score: Some(3),
        }],
        changes: vec![change()],
        notes: vec![Note { id: 1, author: s("alice"), body: s("b"), created_at: at() }],
        d365: Some(D365Sync {
            status: s("failed"),
            attempts: 2,
            last_error: Some(s("Dataverse 400")),
            next_attempt_at: Some(at()),
            history: vec![D365Call {
                at: at(),
                operation: s("create"),
                status: Some(400),
                error_code: Some(s("0x80060888")),
                message: Some(s("unknown column")),
                duration_ms: 12,
            }],
        }),
        referrals: vec![ReferralInfo {
            id: s("8e4c1f0e-5b2a-4c7e-9a51-1f2d3c4b5a69"),
            kind: Some(s("co-sell")),
            name: Some(s("Contoso migration")),
            status: Some(s("New")),
            substatus: Some(s("Pending")),
            deal_value: Some(s("25000.00 USD")),
            created: Some(at()),
            updated: Some(at()),
            expiration: None,
            contacts: vec![s("ann@contoso.com")],
        }],
        activity: vec![Activity { at: at(), who: Some(s("alice")), what: s("tagged hot") }],
    }
}

fn change() -> Change {
    Change { at: at(), domain: s("contoso.com"), field: s("provider"), from: Some(s("a")), to: Some(s("b")) }
}

fn requests() -> Vec<Request> {
    vec![
        Request::Ping,
        Request::Status,
        Request::Jobs,
        Request::RunJob { name: s("rescans") },
        Request::Subscribe,
        Request::Unsubscribe,
        Request::AddDomains { inputs: vec![s("contoso.com")] },
        Request::ImportBegin { file_name: s("leads.csv") },
        Request::ImportChunk { upload_id: 7, data: vec![1, 2, 3] },
        Request::ImportFinish { upload_id: 7 },
        Request::BatchProgress { batch_id: s("b") },
        Request::Rescan { domains: vec![s("contoso.com")] },
        Request::RescanAll,
        Request::ListLeads(Box::new(LeadQuery {
            filter: filter(),
            sort: LeadSort::Provider,
            descending: true,
            seek: Seek::After(LeadKey { value: Some(SortValue::Time(at())), domain: s("contoso.com") }),
            limit: 100,
        })),
        Request::LeadDetail { domain: s("contoso.com") },
        Request::Changes { limit: 50 },
        Request::AddNote { domain: s("contoso.com"), author: s("alice"), body: s("call") },
        Request::SetTag { domain: s("contoso.com"), tag: s("vip"), present: true },
        Request::SetFavorite { domain: s("contoso.com"), favorite: true },
        Request::LeadFacets { facet: Facet::Provider, filter: Box::new(filter()) },
        Request::CountLeads(Box::new(filter())),
        Request::PushLeads { domains: vec![s("contoso.com")] },
        Request::PushProgress { batch_id: s("b") },
        Request::PushPreview { domains: vec![s("contoso.com")] },
        Request::ListReferrals(Box::new(ReferralQuery {
            filter: referral_filter(),
            sort: ReferralSort::Expiration,
            descending: false,
            offset: 200,
            limit: 100,
        })),
        Request::ReferralFacets { facet: ReferralFacet::LinkStatus, filter: Box::new(referral_filter()) },
        Request::LinkReferral { referral_id: s("r1"), domain: s("contoso.com") },
        Request::UnlinkReferral { referral_id: s("r1") },
    ]
}

fn request_variant(request: &Request) -> &'static str {
    match request {
        Request::Ping => "Ping",
        Request::Status => "Status",
        Request::Jobs => "Jobs",
        Request::RunJob { .. } => "RunJob",
        Request::Subscribe => "Subscribe",
        Request::Unsubscribe => "Unsubscribe",
        Request::AddDomains { .. } => "AddDomains",
        Request::ImportBegin { .. } => "ImportBegin",
        Request::ImportChunk { .. } => "ImportChunk",
        Request::ImportFinish { .. } => "ImportFinish",
        Request::BatchProgress { .. } => "BatchProgress",
        Request::Rescan { .. } => "Rescan",
        Request::RescanAll => "RescanAll",
        Request::ListLeads(_) => "ListLeads",
        Request::LeadDetail { .. } => "LeadDetail",
        Request::Changes { .. } => "Changes",
        Request::AddNote { .. } => "AddNote",
        Request::SetTag { .. } => "SetTag",
        Request::SetFavorite { .. } => "SetFavorite",
        Request::LeadFacets { .. } => "LeadFacets",
        Request::CountLeads(_) => "CountLeads",
        Request::PushLeads { .. } => "PushLeads",
        Request::PushProgress { .. } => "PushProgress",
        Request::PushPreview { .. } => "PushPreview",
        Request::ListReferrals(_) => "ListReferrals",
        Request::ReferralFacets { .. } => "ReferralFacets",
        Request::LinkReferral { .. } => "LinkReferral",
        Request::UnlinkReferral { .. } => "UnlinkReferral",
    }
}

fn responses() -> Vec<Response> {
    let status = DaemonStatus {
        build_version: s("0.1.0"),
        protocol: 2,
        pid: 42,
        started_at: at(),
        uptime_secs: 60,
        database: DatabaseInfo {
            mode: DatabaseMode::External,
            location: s("postgres://db"),
            server_version: s("17"),
            schema_version: 20261206000001,
            problem: Some(s("not reachable")),
        },
        features: Features { ip_enrichment: true, partner_center_sync: false, dynamics_push: true },
        jobs: vec![job()],
        clients_connected: 3,
        sign_ins: vec![SignIn { service: s("Partner Center"), ok: false, state: s("sign-in needed") }],
    };
    vec![
        Response::Pong,
        Response::Status(Box::new(status)),
        Response::Jobs(vec![JobInfo { state: JobState::Disabled, last_result: None, ..job() }]),
        Response::Ok,
        Response::Error(RemoteError { kind: ErrorKind::InvalidInput, message: s("m") }),
        Response::Added(AddReport {
            results: vec![AddOutcome {
                input: s("i"),
                domain: Some(s("d")),
                outcome: IntakeOutcome::Merged,
                reason: Some(s("r")),
            }],
            batch_id: Some(s("b")),
        }),
        Response::ImportStarted { upload_id: 7 },
        Response::Imported(Box::new(ImportReport {
            file_name: s("leads.csv"),
            accepted: 1,
            merged: 2,
            rejected: 3,
            rejected_rows: vec![RejectedRow { line: 4, reason: s("r"), raw: s("x") }],
            batch_id: Some(s("b")),
        })),
        Response::BatchProgress(BatchProgress { done: 1, total: 2 }),
        Response::Queued { batch_id: Some(s("b")), queued: 1, unknown: vec![s("u")] },
        Response::Leads(LeadPage {
            rows: vec![row()],
            first: Some(LeadKey { value: Some(SortValue::Int(-5)), domain: s("contoso.com") }),
            last: Some(LeadKey { value: None, domain: s("contoso.com") }),
        }),
        Response::Lead(Box::new(detail())),
        Response::Changes(vec![change()]),
        Response::Facets(vec![FacetCount { value: s("M365"), count: 12 }]),
        Response::LeadCount(LeadCount { count: 1_000_000, exact: false }),
        Response::PushProgress(PushProgress {
            total: 6,
            pending: 1,
            in_flight: 1,
            synced: 1,
            failed: 1,
            duplicate: 2,
            failures: vec![PushFailure { domain: s("contoso.com"), error: s("Dataverse 400") }],
            last_error: Some(s("throttled")),
            blocked: Some(s("Dynamics 365 refused the sign-in")),
        }),
        Response::PushPreview(vec![PushPlan { domain: s("contoso.com"), create: true, fields: vec![s("subject")] }]),
        Response::Referrals(ReferralPage {
            rows: vec![referral_row()],
            offset: 200,
            total: 1234,
            expiring_soon: 3,
            expiring_window_secs: 259_200,
        }),
        Response::ReferralLinked(Box::new(LinkOutcome {
            referral: referral_row(),
            company_created: true,
            batch_id: Some(s("b")),
        })),
    ]
}

fn response_variant(response: &Response) -> &'static str {
    match response {
        Response::Pong => "Pong",
        Response::Status(_) => "Status",
        Response::Jobs(_) => "Jobs",
        Response::Ok => "Ok",
        Response::Error(_) => "Error",
        Response::Added(_) => "Added",
        Response::ImportStarted { .. } => "ImportStarted",
        Response::Imported(_) => "Imported",
        Response::BatchProgress(_) => "BatchProgress",
        Response::Queued { .. } => "Queued",
        Response::Leads(_) => "Leads",
        Response::Lead(_) => "Lead",
        Response::Changes(_) => "Changes",
        Response::Facets(_) => "Facets",
        Response::LeadCount(_) => "LeadCount",
        Response::PushProgress(_) => "PushProgress",
        Response::PushPreview(_) => "PushPreview",
        Response::Referrals(_) => "Referrals",
        Response::ReferralLinked(_) => "ReferralLinked",
    }
}

fn events() -> Vec<Event> {
    vec![
        Event::JobChanged(job()),
        Event::Progress { job: s("scan"), done: 1, total: Some(2), message: s("m") },
        Event::ShuttingDown,
        Event::LeadsChanged { count: 5 },
        Event::Lagged { missed: 9 },
    ]
}

fn event_variant(event: &Event) -> &'static str {
    match event {
        Event::JobChanged(_) => "JobChanged",
        Event::Progress { .. } => "Progress",
        Event::ShuttingDown => "ShuttingDown",
        Event::LeadsChanged { .. } => "LeadsChanged",
        Event::Lagged { .. } => "Lagged",
    }
}

fn line(out: &mut String, name: &str, value: &impl serde::Serialize) {
    let bytes = codec::encode(value).expect("every sample encodes");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    writeln!(out, "{name}: {hex}").expect("writing to a string");
}

/// Every variant has exactly one sample, so none can be left out of the pinned bytes.
fn assert_one_sample_each(names: &[&str]) {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "two samples of one variant: {names:?}");
}

#[test]
fn every_message_variant_encodes_to_the_pinned_bytes_of_this_protocol_version() {
    let mut out = String::new();
    let hello = Hello { magic: MAGIC, protocol: 2, build_version: s("0.1.0"), client: s("hunter-tui") };
    line(&mut out, "Hello", &hello);
    line(
        &mut out,
        "Welcome",
        &Welcome { protocol: 2, build_version: s("0.1.0"), accepted: false, reason: Some(s("r")) },
    );
    line(&mut out, "ClientMessage::Request", &ClientMessage::Request { id: 1, body: Request::Ping });
    line(&mut out, "ServerMessage::Response", &ServerMessage::Response { id: 1, body: Response::Pong });
    line(&mut out, "ServerMessage::Event", &ServerMessage::Event(Event::ShuttingDown));

    let requests = requests();
    let names: Vec<&str> = requests.iter().map(request_variant).collect();
    assert_one_sample_each(&names);
    for (request, name) in requests.iter().zip(names) {
        line(&mut out, &format!("Request::{name}"), request);
    }
    let responses = responses();
    let names: Vec<&str> = responses.iter().map(response_variant).collect();
    assert_one_sample_each(&names);
    for (response, name) in responses.iter().zip(names) {
        line(&mut out, &format!("Response::{name}"), response);
    }
    let events = events();
    let names: Vec<&str> = events.iter().map(event_variant).collect();
    assert_one_sample_each(&names);
    for (event, name) in events.iter().zip(names) {
        line(&mut out, &format!("Event::{name}"), event);
    }

    insta::with_settings!({
        description => "The wire format changed: bump PROTOCOL_VERSION (protocol/src/lib.rs) and accept the new snapshot.",
        omit_expression => true,
    }, {
        insta::assert_snapshot!(format!("wire_protocol_v{}", PROTOCOL_VERSION), out);
    });
}
