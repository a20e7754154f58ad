use super::LeadError;
use super::list::lead_row;
use crate::enrich::{AddressRole, EnrichmentReport, IpEnrichment};
use protocol::{
    Change, Contribution, DnsRecord, Evidence, IpDetail, LeadDetail, Note, Registration, SalesSummary, ScanHistoryItem,
};
use serde::Deserialize;
use sqlx::PgPool;

/// How a domain typed in a request is matched against stored ones.
fn lookup_key(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// The company ids behind many domains in one query, and the domains that are unknown (in input order).
pub async fn company_ids(pool: &PgPool, domains: &[String]) -> Result<(Vec<i64>, Vec<String>), LeadError> {
    let keys: Vec<String> = domains.iter().map(|d| lookup_key(d)).collect();
    let found: std::collections::HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT domain, id FROM companies WHERE domain = ANY($1)")
            .bind(&keys)
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let (mut ids, mut unknown) = (Vec::new(), Vec::new());
    for key in keys {
        match found.get(&key) {
            Some(id) => ids.push(*id),
            None => unknown.push(key),
        }
    }
    Ok((ids, unknown))
}

/// The company id behind a domain, or a "not found" that tells the user how to add it.
pub async fn company_id(pool: &PgPool, domain: &str) -> Result<i64, LeadError> {
    let domain = lookup_key(domain);
    sqlx::query_scalar("SELECT id FROM companies WHERE domain = $1")
        .bind(&domain)
        .fetch_optional(pool)
        .await?
        .ok_or(LeadError::NotFound(domain))
}

/// A lead's latest scan and score, as the detail reads them.
#[derive(sqlx::FromRow)]
struct StateRow {
    mx_root: Option<String>,
    tenant_size: Option<String>,
    spf_record: Option<String>,
    dkim_selectors: Vec<String>,
    reason: Option<String>,
    signals: Option<serde_json::Value>,
    raw_records: Option<serde_json::Value>,
    detection: Option<serde_json::Value>,
    enrichment: Option<serde_json::Value>,
    breakdown: Option<serde_json::Value>,
    sales_summary: Option<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
struct ScanHistoryRow {
    id: i64,
    status: String,
    started_at: chrono::DateTime<chrono::Utc>,
    duration_ms: Option<i32>,
    provider: Option<String>,
    score: Option<i32>,
}

#[derive(sqlx::FromRow)]
struct NoteRow {
    id: i64,
    author: String,
    body: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    created_at: chrono::DateTime<chrono::Utc>,
    domain: String,
    field: Option<String>,
    old: Option<String>,
    new: Option<String>,
    requested_by: Option<String>,
}

/// A stored JSON column read as `T`; absent or of an older shape reads as nothing.
fn parsed<T: serde::de::DeserializeOwned>(value: Option<serde_json::Value>) -> Option<T> {
    value.and_then(|v| serde_json::from_value(v).ok())
}

/// What the scan job stores in `scans.detection`.
#[derive(Debug, Default, Deserialize)]
struct StoredDetection {
    #[serde(default)]
    evidence: Vec<Evidence>,
}

/// The parts of `scans.signals` the detail view shows.
#[derive(Debug, Default, Deserialize)]
struct StoredSignals {
    #[serde(default)]
    dmarc: Option<StoredDmarc>,
    #[serde(default)]
    spf: Option<StoredSpf>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// The SPF evaluation as the scan stored it.
#[derive(Debug, Deserialize)]
struct StoredSpf {
    status: crate::scan::SpfStatus,
    #[serde(default)]
    lookup_count: u32,
}

#[derive(Debug, Default, Deserialize)]
struct StoredDmarc {
    record: String,
}

pub async fn lead_detail(pool: &PgPool, domain: &str) -> Result<LeadDetail, LeadError> {
    let id = company_id(pool, domain).await?;
    let mut detail = LeadDetail { row: lead_row(pool, id).await?, ..LeadDetail::default() };

    if let Some(state) = sqlx::query_as::<_, StateRow>(
        "SELECT ls.mx_root, ls.tenant_size, ls.spf_record, ls.dkim_selectors,
                s.signals, s.raw_records, s.detection, s.enrichment,
                sc.reason, sc.breakdown, sc.sales_summary
           FROM lead_state ls
           LEFT JOIN scans s ON s.id = ls.scan_id
           LEFT JOIN scores sc ON sc.id = ls.score_id
          WHERE ls.company_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    {
        detail.mx_root = state.mx_root;
        detail.tenant_size = state.tenant_size;
        detail.spf_record = state.spf_record;
        detail.dkim_selectors = state.dkim_selectors;
        detail.reason = state.reason;
        if let Some(signals) = parsed::<StoredSignals>(state.signals) {
            detail.dmarc_record = signals.dmarc.map(|d| d.record);
            detail.spf_evaluation =
                signals.spf.map(|s| format!("{} ({} DNS lookups)", s.status.rfc_result(), s.lookup_count));
            detail.warnings = signals.warnings;
        }
        detail.records = parsed::<Vec<DnsRecord>>(state.raw_records).unwrap_or_default();
        detail.evidence = parsed::<StoredDetection>(state.detection).unwrap_or_default().evidence;
        (detail.ip_details, detail.enrichment_note) = ip_details(state.enrichment, &detail.records, &detail.row.domain);
        detail.breakdown = parsed::<Vec<Contribution>>(state.breakdown).unwrap_or_default();
        detail.sales_summary = parsed::<SalesSummary>(state.sales_summary);
    }

    (detail.registration, detail.registration_note) = registration(pool, id).await?;

    detail.scans = sqlx::query_as::<_, ScanHistoryRow>(
        "SELECT s.id, s.status, s.started_at, s.duration_ms, s.detection->>'provider' AS provider,
                (SELECT sc.score FROM scores sc WHERE sc.scan_id = s.id ORDER BY sc.id DESC LIMIT 1) AS score
           FROM scans s WHERE s.company_id = $1 ORDER BY s.started_at DESC, s.id DESC LIMIT 20",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| ScanHistoryItem {
        scan_id: r.id,
        status: r.status,
        started_at: r.started_at,
        duration_ms: r.duration_ms,
        provider: r.provider,
        score: r.score,
    })
    .collect();

    detail.changes = changes_where(pool, Some(id), 50).await?;
    detail.notes = sqlx::query_as::<_, NoteRow>(
        "SELECT id, author, body, created_at FROM notes WHERE company_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| Note { id: r.id, author: r.author, body: r.body, created_at: r.created_at })
    .collect();
    detail.referrals = referrals(pool, id).await?;
    detail.d365 = d365_sync(pool, id).await?;
    detail.activity = activity(pool, id).await?;
    Ok(detail)
}

/// Who did what to the lead, newest first (at most 30).
async fn activity(pool: &PgPool, id: i64) -> Result<Vec<protocol::Activity>, LeadError> {
    let rows: Vec<(chrono::DateTime<chrono::Utc>, Option<String>, String)> = sqlx::query_as(
        "SELECT at, who, what FROM (
             SELECT created_at AS at, added_by AS who, 'tagged ' || tag AS what FROM tags WHERE company_id = $1
             UNION ALL
             SELECT created_at, added_by, 'marked as favourite' FROM favorites WHERE company_id = $1
             UNION ALL
             SELECT b.created_at, b.requested_by,
                    CASE b.kind WHEN 'import' THEN 'imported' WHEN 'add' THEN 'added'
                                WHEN 'rescan' THEN 'asked for a rescan' ELSE b.kind END
               FROM batch_members m JOIN batches b ON b.id = m.batch_id WHERE m.company_id = $1
             UNION ALL
             SELECT requested_at, requested_by, 'asked for a push to Dynamics 365' FROM d365_push WHERE company_id = $1
         ) a ORDER BY at DESC LIMIT 30",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(at, who, what)| protocol::Activity { at, who, what }).collect())
}

/// The lead's push state and its latest Dataverse calls (from the audit log).
async fn d365_sync(pool: &PgPool, id: i64) -> Result<Option<protocol::D365Sync>, LeadError> {
    let state: Option<(String, i32, Option<String>, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT state, attempts, last_error, next_attempt_at FROM d365_push WHERE company_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    let Some((status, attempts, last_error, next)) = state else { return Ok(None) };
    type CallRow = (chrono::DateTime<chrono::Utc>, String, Option<i32>, Option<String>, Option<String>, i32);
    let calls: Vec<CallRow> = sqlx::query_as(
        "SELECT at, operation, http_status, error_code, message, duration_ms FROM d365_audit
          WHERE company_id = $1 ORDER BY at DESC, id DESC LIMIT 20",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some(protocol::D365Sync {
        next_attempt_at: (status == "pending").then_some(next),
        status,
        attempts: attempts.max(0) as u32,
        last_error,
        history: calls
            .into_iter()
            .map(|(at, operation, status, error_code, message, ms)| protocol::D365Call {
                at,
                operation,
                status: status.and_then(|s| u16::try_from(s).ok()),
                error_code,
                message,
                duration_ms: ms.max(0) as u32,
            })
            .collect(),
    }))
}

#[derive(sqlx::FromRow)]
struct ReferralRow {
    referral_id: String,
    referral_kind: Option<String>,
    name: Option<String>,
    status: Option<String>,
    substatus: Option<String>,
    deal_value: Option<String>,
    currency: Option<String>,
    created_time: Option<chrono::DateTime<chrono::Utc>>,
    updated_time: Option<chrono::DateTime<chrono::Utc>>,
    expiration_time: Option<chrono::DateTime<chrono::Utc>>,
    contact_emails: Vec<String>,
}

/// The company's Partner Center referrals, newest first (at most 20).
async fn referrals(pool: &PgPool, company_id: i64) -> Result<Vec<protocol::ReferralInfo>, sqlx::Error> {
    let rows: Vec<ReferralRow> = sqlx::query_as(
        "SELECT referral_id, referral_kind, name, status, substatus, deal_value::text AS deal_value, currency,
                created_time, updated_time, expiration_time, contact_emails
           FROM pc_referrals WHERE company_id = $1 ORDER BY updated_time DESC NULLS LAST, id DESC LIMIT 20",
    )
    .bind(company_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| protocol::ReferralInfo {
            id: r.referral_id,
            kind: r.referral_kind,
            name: r.name,
            status: r.status,
            substatus: r.substatus,
            deal_value: r.deal_value.map(|v| match &r.currency {
                Some(c) => format!("{v} {c}"),
                None => v,
            }),
            created: r.created_time,
            updated: r.updated_time,
            expiration: r.expiration_time,
            contacts: r.contact_emails,
        })
        .collect())
}

/// Recent changes across all leads (the change feed), newest first.
pub async fn changes(pool: &PgPool, limit: u32) -> Result<Vec<Change>, LeadError> {
    changes_where(pool, None, limit.clamp(1, 1000)).await
}

async fn changes_where(pool: &PgPool, company: Option<i64>, limit: u32) -> Result<Vec<Change>, LeadError> {
    let rows = sqlx::query_as::<_, ChangeRow>(
        // The scan that found a change answered a person's rescan when they asked for it after the
        // company's previous scan and before this one started.
        "SELECT e.created_at, c.domain, e.payload->>'field' AS field, e.payload->>'from' AS old,
                e.payload->>'to' AS new, asked.requested_by
           FROM events e JOIN companies c ON c.id = e.company_id
           LEFT JOIN scans s ON s.id = (e.payload->>'scan_id')::bigint
           LEFT JOIN LATERAL (
                SELECT b.requested_by
                  FROM batch_members m JOIN batches b ON b.id = m.batch_id
                 WHERE m.company_id = e.company_id AND b.kind = 'rescan' AND b.requested_by IS NOT NULL
                   AND b.created_at <= s.started_at
                   AND b.created_at > coalesce((SELECT max(p.started_at) FROM scans p
                                                 WHERE p.company_id = e.company_id AND p.started_at < s.started_at),
                                               '-infinity')
                 ORDER BY b.created_at DESC LIMIT 1) asked ON true
          WHERE e.kind = 'change' AND ($1::bigint IS NULL OR e.company_id = $1)
          ORDER BY e.created_at DESC, e.id DESC LIMIT $2",
    )
    .bind(company)
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Change {
            at: r.created_at,
            domain: r.domain,
            field: r.field.unwrap_or_default(),
            from: r.old,
            to: r.new,
            requested_by: r.requested_by,
        })
        .collect())
}

pub async fn add_note(pool: &PgPool, domain: &str, author: &str, body: &str) -> Result<(), LeadError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(LeadError::Invalid("a note cannot be empty".into()));
    }
    let id = company_id(pool, domain).await?;
    let author = if author.trim().is_empty() { "unknown" } else { author.trim() };
    sqlx::query("INSERT INTO notes (company_id, author, body) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(author)
        .bind(body)
        .execute(pool)
        .await?;
    Ok(())
}

/// Tags are lower-case words; adding twice or removing a missing tag is not an error. `by` is the
/// login of whoever added it.
pub async fn set_tag(pool: &PgPool, domain: &str, tag: &str, present: bool, by: &str) -> Result<(), LeadError> {
    let tag = tag.trim().to_lowercase();
    if tag.is_empty() || tag.len() > 64 || tag.chars().any(char::is_whitespace) {
        return Err(LeadError::Invalid(format!("`{tag}` is not a tag: use one word of at most 64 characters")));
    }
    let id = company_id(pool, domain).await?;
    let query = if present {
        sqlx::query("INSERT INTO tags (company_id, tag, added_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(&tag)
            .bind(by)
    } else {
        sqlx::query("DELETE FROM tags WHERE company_id = $1 AND tag = $2").bind(id).bind(&tag)
    };
    query.execute(pool).await?;
    Ok(())
}

/// `by` is the login of whoever made it a favourite.
pub async fn set_favorite(pool: &PgPool, domain: &str, favorite: bool, by: &str) -> Result<(), LeadError> {
    let id = company_id(pool, domain).await?;
    let query = if favorite {
        sqlx::query("INSERT INTO favorites (company_id, added_by) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(by)
    } else {
        sqlx::query("DELETE FROM favorites WHERE company_id = $1").bind(id)
    };
    query.execute(pool).await?;
    Ok(())
}

/// The per-address view of a scan's stored enrichment (`scans.enrichment`), with each mail address's
/// MX host taken from the scan's A/AAAA records, and the note saying why there is none when there is none.
pub fn ip_details(
    enrichment: Option<serde_json::Value>,
    records: &[DnsRecord],
    domain: &str,
) -> (Vec<IpDetail>, Option<String>) {
    let Some(report) = enrichment.and_then(|v| serde_json::from_value::<EnrichmentReport>(v).ok()) else {
        return (Vec::new(), Some("not scanned with IP enrichment yet (features.ip_enrichment)".into()));
    };
    if let Some(reason) = report.absent_reason {
        return (Vec::new(), Some(reason));
    }
    let details: Vec<IpDetail> = report.ips.into_iter().filter_map(|e| ip_detail(e, records, domain)).collect();
    let note = details.is_empty().then(|| "the scan found no address to enrich (enrichment.targets)".to_string());
    (details, note)
}

fn ip_detail(e: IpEnrichment, records: &[DnsRecord], domain: &str) -> Option<IpDetail> {
    let ip = e.ip?;
    let mx_host = || {
        records
            .iter()
            .find(|r| matches!(r.rtype.as_str(), "A" | "AAAA") && r.data.parse::<std::net::IpAddr>().ok() == Some(ip))
            .map(|r| r.name.trim_end_matches('.').to_string())
    };
    let host = if e.serves_mail() {
        mx_host()
    } else if e.roles.contains(&AddressRole::Domain) {
        Some(domain.to_string())
    } else {
        Some(format!("www.{domain}"))
    };
    let roles = if e.roles.is_empty() {
        vec![AddressRole::Mail.as_str().to_string()]
    } else {
        e.roles.iter().map(|r| r.as_str().to_string()).collect()
    };
    let sources = e
        .sources
        .into_iter()
        .map(|(field, source)| (if field == "as_org" { "asn_org".into() } else { field }, source))
        .collect();
    Some(IpDetail {
        ip: ip.to_string(),
        roles,
        host,
        country: e.country,
        country_name: e.country_name,
        region: e.region,
        city: e.city,
        asn: e.asn,
        asn_org: e.as_org,
        isp: e.isp,
        usage_type: e.usage_type,
        is_proxy: e.is_proxy,
        proxy_type: e.proxy_type,
        is_vpn: e.is_vpn,
        is_tor: e.is_tor,
        is_data_center: e.is_data_center,
        hosting_provider: e.hosting_provider,
        sources,
    })
}

/// The per-IP details of a lead's latest scan (see [`ip_details`]).
pub async fn lead_ip_details(pool: &PgPool, domain: &str) -> Result<(Vec<IpDetail>, Option<String>), LeadError> {
    let id = company_id(pool, domain).await?;
    let row = sqlx::query_as::<_, (Option<serde_json::Value>, Option<serde_json::Value>)>(
        "SELECT s.enrichment, s.raw_records FROM lead_state ls JOIN scans s ON s.id = ls.scan_id
          WHERE ls.company_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((enrichment, records)) = row else {
        return Ok((Vec::new(), Some("not scanned yet".into())));
    };
    let records = parsed::<Vec<DnsRecord>>(records).unwrap_or_default();
    Ok(ip_details(enrichment, &records, &lookup_key(domain)))
}

/// A row of `registrations` (the registration queue's result for one company, if any) and whether a
/// lookup for the company waits in the queue.
#[derive(sqlx::FromRow)]
struct RegistrationRow {
    state: Option<String>,
    data: Option<serde_json::Value>,
    error: Option<String>,
    checked_at: Option<chrono::DateTime<chrono::Utc>>,
    queued: bool,
}

/// The registration and, when it is absent or may be stale, why. A lookup waiting in the registration
/// queue (queued or running) makes it "pending", unless the last one failed (its retry waits there).
async fn registration(pool: &PgPool, company_id: i64) -> Result<(Option<Registration>, Option<String>), LeadError> {
    let row: RegistrationRow = sqlx::query_as(
        "SELECT r.state, r.data, r.error, r.checked_at,
                EXISTS (SELECT 1 FROM job_queue
                         WHERE kind = 'registration' AND dedup_key = c.id::text AND state IN ('queued', 'running'))
                    AS queued
           FROM (SELECT $1::bigint AS id) c LEFT JOIN registrations r ON r.company_id = c.id",
    )
    .bind(company_id)
    .fetch_one(pool)
    .await?;
    let state = match (row.state.as_deref(), row.queued) {
        // A failed lookup waiting for its retry still says why it failed.
        (Some("unavailable"), _) => "unavailable",
        (_, true) => "pending",
        (Some(state), false) => state,
        (None, false) => {
            return Ok((
                None,
                Some("registration not looked up (whois.enabled is off, or no scan finished yet)".into()),
            ));
        }
    };
    let data = row.data.and_then(|v| serde_json::from_value::<Registration>(v).ok());
    Ok((data.clone(), registration_note(state, row.error.as_deref(), row.checked_at, data.is_some())))
}

/// What the lead detail says about the registration lookup's state.
fn registration_note(
    state: &str,
    error: Option<&str>,
    checked_at: Option<chrono::DateTime<chrono::Utc>>,
    has_data: bool,
) -> Option<String> {
    let day = checked_at.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_else(|| "never".into());
    match state {
        "found" => None,
        "not_found" => Some(format!("the registry has no record of this domain (checked {day})")),
        "pending" if has_data => Some("registration refresh pending".into()),
        "pending" => Some("registration pending: queued for an RDAP/WHOIS lookup".into()),
        _ => {
            let why = error.unwrap_or("unknown error");
            if has_data {
                Some(format!("registration refresh unavailable: {why} (showing the answer of {day})"))
            } else {
                Some(format!("registration unavailable: {why}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn company(pool: &PgPool) -> i64 {
        sqlx::query_scalar("INSERT INTO companies (domain, source) VALUES ('example.com', 'add') RETURNING id")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    async fn queue_lookup(pool: &PgPool, id: i64) {
        sqlx::query(
            "INSERT INTO job_queue (kind, payload, dedup_key) VALUES ('registration', jsonb_build_object('company_id', $1::bigint), $1::text)",
        )
        .bind(id)
        .execute(pool)
        .await
        .unwrap();
    }

    async fn answer(pool: &PgPool, id: i64, state: &str) {
        sqlx::query(
            "INSERT INTO registrations (company_id, state, data, error, checked_at)
             VALUES ($1, $2, CASE WHEN $2 = 'found' THEN '{\"registrar\": \"R\", \"nameservers\": [], \"source\": \"RDAP x\"}'::jsonb END,
                     CASE WHEN $2 = 'unavailable' THEN 'registry timed out' END, now())",
        )
        .bind(id)
        .bind(state)
        .execute(pool)
        .await
        .unwrap();
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_queued_first_lookup_is_pending(pool: PgPool) {
        let id = company(&pool).await;
        queue_lookup(&pool, id).await;
        let (data, note) = registration(&pool, id).await.unwrap();
        assert_eq!(data, None);
        assert_eq!(note.as_deref(), Some("registration pending: queued for an RDAP/WHOIS lookup"));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn without_a_queued_lookup_or_an_answer_the_registration_was_not_looked_up(pool: PgPool) {
        let id = company(&pool).await;
        let (_, note) = registration(&pool, id).await.unwrap();
        assert!(note.unwrap_or_default().starts_with("registration not looked up"));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn an_answer_being_refreshed_is_shown_with_refresh_pending(pool: PgPool) {
        let id = company(&pool).await;
        answer(&pool, id, "found").await;
        queue_lookup(&pool, id).await;
        let (data, note) = registration(&pool, id).await.unwrap();
        assert_eq!(data.and_then(|r| r.registrar).as_deref(), Some("R"));
        assert_eq!(note.as_deref(), Some("registration refresh pending"));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_failed_lookup_waiting_for_its_retry_still_says_why(pool: PgPool) {
        let id = company(&pool).await;
        answer(&pool, id, "unavailable").await;
        queue_lookup(&pool, id).await;
        let (_, note) = registration(&pool, id).await.unwrap();
        assert_eq!(note.as_deref(), Some("registration unavailable: registry timed out"));
    }
}
