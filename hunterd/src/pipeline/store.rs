//! Writing finished scans: the scan rows with their raw records, the score rows, the leads' current
//! state, change events, registration lookups due, and the queue items' completion — for a whole
//! batch in one transaction, so a lead is never seen half-updated and a crash mid-way leaves exactly
//! the unstored scans' queue items to be retried.

use super::changes::{self, Snapshot};
use crate::jobs::queue;
use crate::scan::ScanResult;
use crate::scan::model::{DkimSelector, DmarcRecord, MxHost, RawRecord, ScanStatus, SpfResult, TenantHints};
use protocol::{Contribution, Evidence, Registration, SalesSummary};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::types::Json;
use std::collections::HashMap;

/// What provider detection concluded, as stored in `scans.detection`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoredDetection {
    pub provider: String,
    pub gateway: Option<String>,
    pub local_provider: Option<String>,
    pub mx_root: Option<String>,
    pub tenant_size: Option<String>,
    pub evidence: Vec<Evidence>,
}

/// What scoring concluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredScore {
    pub score: i32,
    pub segment: String,
    pub reason: String,
    pub commercial_segment: Option<String>,
    pub technical_heat: Option<String>,
    pub commercial_heat: Option<String>,
    pub priority: Option<String>,
    pub priority_label: Option<String>,
    pub legacy_priority: Option<i16>,
    pub breakdown: Vec<Contribution>,
    pub sales_summary: Option<SalesSummary>,
    pub rules_version: String,
}

/// One domain's scan, detection and score, ready to store.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    pub company_id: i64,
    pub scan: ScanResult,
    pub detection: StoredDetection,
    pub score: StoredScore,
    /// The registration the summary used (the registration queue's last answer).
    pub registration: Option<Registration>,
    /// Whether the company's registration is missing or older than `whois.cache_ttl`: the store then
    /// queues a lookup (the registration queue runs it, off the scan path).
    pub registration_due: bool,
    /// IP enrichment of the MX addresses (or why it is absent); never part of the score.
    pub enrichment: Option<crate::enrich::EnrichmentReport>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: i32,
}

impl ScanOutcome {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            provider: Some(self.detection.provider.clone()),
            gateway: self.detection.gateway.clone(),
            mx_hosts: self.scan.mx.iter().map(|m| m.host.clone()).collect(),
            spf_record: self.scan.spf.record.clone(),
            dmarc_policy: self.scan.dmarc.as_ref().map(|d| d.policy.as_str().to_string()),
            dkim_selectors: dkim_selectors(&self.scan),
        }
    }
}

fn dkim_selectors(scan: &ScanResult) -> Vec<String> {
    scan.dkim.iter().filter(|d| d.record.is_some()).map(|d| d.selector.clone()).collect()
}

/// A scan result lost to a crash in the last few milliseconds is harmless: its queue item's completion
/// is lost with it, so the scan is simply redone. Not waiting for the WAL flush on every one of
/// thousands of small commits per second is what lets storage keep up with the scanner.
async fn relax_durability(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL synchronous_commit = off").execute(tx).await?;
    Ok(())
}

/// Stores the outcome and completes the queue item `job_id` (if this daemon still holds it).
/// Returns the changes detected against the previous scan.
pub async fn store(
    pool: &PgPool,
    outcome: &ScanOutcome,
    job: Option<(i64, &str)>,
) -> Result<Vec<changes::FieldChange>, sqlx::Error> {
    let jobs: Vec<i64> = job.iter().map(|(id, _)| *id).collect();
    let mut changes = store_batch(pool, std::slice::from_ref(outcome), &jobs, job.map(|(_, owner)| owner)).await?;
    Ok(changes.pop().unwrap_or_default())
}

/// Stores many outcomes in one transaction (a handful of statements whatever their number) and
/// completes their queue items `jobs` in it, so a crash redoes exactly the scans not stored. Every
/// company appears at most once. Returns each outcome's changes, in order.
pub async fn store_batch(
    pool: &PgPool,
    outcomes: &[ScanOutcome],
    jobs: &[i64],
    owner: Option<&str>,
) -> Result<Vec<Vec<changes::FieldChange>>, sqlx::Error> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let companies: Vec<i64> = outcomes.iter().map(|o| o.company_id).collect();
    let mut tx = pool.begin().await?;
    relax_durability(&mut tx).await?;
    let previous = lock_previous(&mut tx, &companies).await?;
    let scan_ids = insert_scans(&mut tx, outcomes, owner).await?;
    let score_ids = insert_scores(&mut tx, outcomes, &scan_ids).await?;
    upsert_lead_state(&mut tx, outcomes, &scan_ids, &score_ids).await?;

    // Change events against the previous scan.
    let detected: Vec<Vec<changes::FieldChange>> = outcomes
        .iter()
        .map(|o| match previous.get(&o.company_id) {
            Some(before) if before.scanned_at.is_some() => changes::diff(&before.snapshot(), &o.snapshot()),
            _ => Vec::new(),
        })
        .collect();
    record_changes(&mut tx, outcomes, &detected, &scan_ids).await?;

    let due: Vec<i64> = outcomes.iter().filter(|o| o.registration_due).map(|o| o.company_id).collect();
    queue_registrations(&mut tx, &due).await?;
    if let Some(owner) = owner
        && !jobs.is_empty()
    {
        queue::complete(&mut *tx, jobs, owner).await?;
    }
    tx.commit().await?;
    Ok(detected)
}

/// The lead's state before this scan, as far as change detection needs it.
#[derive(sqlx::FromRow)]
struct PreviousState {
    company_id: i64,
    provider: Option<String>,
    gateway: Option<String>,
    mx_hosts: Vec<String>,
    spf_record: Option<String>,
    dmarc_policy: Option<String>,
    dkim_selectors: Vec<String>,
    scanned_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl PreviousState {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            provider: self.provider.clone(),
            gateway: self.gateway.clone(),
            mx_hosts: self.mx_hosts.clone(),
            spf_record: self.spf_record.clone(),
            dmarc_policy: self.dmarc_policy.clone(),
            dkim_selectors: self.dkim_selectors.clone(),
        }
    }
}

/// Locks the leads' rows (in id order, so two daemons' batches never deadlock) and reads them.
async fn lock_previous(
    tx: &mut sqlx::PgConnection,
    companies: &[i64],
) -> Result<HashMap<i64, PreviousState>, sqlx::Error> {
    let rows: Vec<PreviousState> = sqlx::query_as(
        "SELECT company_id, provider, gateway, mx_hosts, spf_record, dmarc_policy, dkim_selectors, scanned_at
           FROM lead_state WHERE company_id = ANY($1) ORDER BY company_id FOR UPDATE",
    )
    .bind(companies)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.company_id, r)).collect())
}

/// `scans` rows, one JSON array for the whole batch, serialized straight from the outcomes (no
/// intermediate JSON values: building and dropping those was a third of the writer's time).
#[derive(Serialize)]
struct ScanRow<'a> {
    company_id: i64,
    status: &'a str,
    raw_records: &'a [RawRecord],
    signals: Signals<'a>,
    detection: &'a StoredDetection,
    registration: Option<&'a Registration>,
    started_at: chrono::DateTime<chrono::Utc>,
    duration_ms: i32,
    enrichment: Option<&'a crate::enrich::EnrichmentReport>,
}

/// `scans.signals`: the scan as [`ScanResult`] serializes, with its raw records left out (they have a
/// column of their own), borrowed rather than cloned.
#[derive(Serialize)]
struct Signals<'a> {
    domain: &'a str,
    status: ScanStatus,
    mx: &'a [MxHost],
    spf: &'a SpfResult,
    dmarc: &'a Option<DmarcRecord>,
    dkim: &'a [DkimSelector],
    hints: &'a TenantHints,
    apex_txt: &'a [String],
    raw: [RawRecord; 0],
    queries: u32,
    warnings: &'a [String],
}

impl<'a> Signals<'a> {
    fn of(scan: &'a ScanResult) -> Self {
        // Every field named: a field added to ScanResult does not compile until it is stored here too.
        let ScanResult { domain, status, mx, spf, dmarc, dkim, hints, apex_txt, raw: _, queries, warnings } = scan;
        Signals { domain, status: *status, mx, spf, dmarc, dkim, hints, apex_txt, raw: [], queries: *queries, warnings }
    }
}

/// Inserts the scans; returns each company's new scan id.
async fn insert_scans(
    tx: &mut sqlx::PgConnection,
    outcomes: &[ScanOutcome],
    owner: Option<&str>,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let rows: Vec<ScanRow> = outcomes
        .iter()
        .map(|o| ScanRow {
            company_id: o.company_id,
            status: o.scan.status.as_str(),
            raw_records: &o.scan.raw,
            signals: Signals::of(&o.scan),
            detection: &o.detection,
            registration: o.registration.as_ref(),
            started_at: o.started_at,
            duration_ms: o.duration_ms,
            enrichment: o.enrichment.as_ref(),
        })
        .collect();
    let ids: Vec<(i64, i64)> = sqlx::query_as(
        "INSERT INTO scans (company_id, status, raw_records, signals, detection, registration, started_at,
                            finished_at, duration_ms, scanned_by, enrichment)
         SELECT r.company_id, r.status, r.raw_records, r.signals, r.detection, r.registration, r.started_at,
                now(), r.duration_ms, $2, r.enrichment
           FROM jsonb_to_recordset($1) AS r(company_id bigint, status text, raw_records jsonb, signals jsonb,
                detection jsonb, registration jsonb, started_at timestamptz, duration_ms int, enrichment jsonb)
         RETURNING company_id, id",
    )
    .bind(Json(&rows))
    .bind(owner)
    .fetch_all(&mut *tx)
    .await?;
    Ok(ids.into_iter().collect())
}

#[derive(Serialize)]
struct ScoreRow<'a> {
    company_id: i64,
    scan_id: i64,
    #[serde(flatten)]
    score: &'a StoredScoreJson<'a>,
}

/// The score's columns the lead list shows, as JSON (in `scores` and in `lead_state`).
#[derive(Serialize)]
struct ListedScore<'a> {
    score: i32,
    segment: &'a str,
    commercial_segment: Option<&'a str>,
    technical_heat: Option<&'a str>,
    commercial_heat: Option<&'a str>,
    priority: Option<&'a str>,
    priority_label: Option<&'a str>,
    legacy_priority: Option<i16>,
}

impl<'a> ListedScore<'a> {
    fn of(s: &'a StoredScore) -> Self {
        ListedScore {
            score: s.score,
            segment: &s.segment,
            commercial_segment: s.commercial_segment.as_deref(),
            technical_heat: s.technical_heat.as_deref(),
            commercial_heat: s.commercial_heat.as_deref(),
            priority: s.priority.as_deref(),
            priority_label: s.priority_label.as_deref(),
            legacy_priority: s.legacy_priority,
        }
    }
}

/// The score's columns as the JSON the insert reads.
#[derive(Serialize)]
struct StoredScoreJson<'a> {
    #[serde(flatten)]
    listed: ListedScore<'a>,
    breakdown: &'a [Contribution],
    sales_summary: Option<&'a SalesSummary>,
    rules_version: &'a str,
    reason: &'a str,
}

impl<'a> StoredScoreJson<'a> {
    fn of(s: &'a StoredScore) -> Self {
        StoredScoreJson {
            listed: ListedScore::of(s),
            breakdown: &s.breakdown,
            sales_summary: s.sales_summary.as_ref(),
            rules_version: &s.rules_version,
            reason: &s.reason,
        }
    }
}

/// Inserts the scores; returns each company's new score id.
async fn insert_scores(
    tx: &mut sqlx::PgConnection,
    outcomes: &[ScanOutcome],
    scan_ids: &HashMap<i64, i64>,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let scores: Vec<StoredScoreJson> = outcomes.iter().map(|o| StoredScoreJson::of(&o.score)).collect();
    let rows: Vec<ScoreRow> = outcomes
        .iter()
        .zip(&scores)
        .map(|(o, score)| ScoreRow { company_id: o.company_id, scan_id: scan_ids[&o.company_id], score })
        .collect();
    let ids: Vec<(i64, i64)> = sqlx::query_as(
        "INSERT INTO scores (company_id, scan_id, score, segment, commercial_segment, technical_heat,
                             commercial_heat, priority, priority_label, breakdown, sales_summary, rules_version,
                             reason, legacy_priority)
         SELECT r.company_id, r.scan_id, r.score, r.segment, r.commercial_segment, r.technical_heat,
                r.commercial_heat, r.priority, r.priority_label, r.breakdown, r.sales_summary, r.rules_version,
                r.reason, r.legacy_priority
           FROM jsonb_to_recordset($1) AS r(company_id bigint, scan_id bigint, score int, segment text,
                commercial_segment text, technical_heat text, commercial_heat text, priority text,
                priority_label text, breakdown jsonb, sales_summary jsonb, rules_version text, reason text,
                legacy_priority smallint)
         RETURNING company_id, id",
    )
    .bind(Json(&rows))
    .fetch_all(&mut *tx)
    .await?;
    Ok(ids.into_iter().collect())
}

/// What lists filter and sort on: one `lead_state` row per company.
#[derive(Serialize)]
struct LeadRow<'a> {
    company_id: i64,
    scan_id: i64,
    score_id: i64,
    scan_status: &'a str,
    provider: &'a str,
    gateway: Option<&'a str>,
    local_provider: Option<&'a str>,
    mx_root: Option<&'a str>,
    tenant_size: Option<&'a str>,
    mx_hosts: Vec<&'a str>,
    spf: bool,
    spf_record: Option<&'a str>,
    spf_includes: &'a [String],
    dkim: bool,
    dkim_selectors: Vec<String>,
    dmarc_policy: Option<&'a str>,
    dmarc_pct: Option<i16>,
    // The score's listed columns only: its breakdown and sales summary (~2 KB of JSON) live in `scores`,
    // and PostgreSQL would parse them here for nothing.
    #[serde(flatten)]
    score: ListedScore<'a>,
    ip_country: Option<&'a str>,
    ip_asn: Option<i64>,
    ip_org: Option<&'a str>,
    ip_proxy: Option<bool>,
    infrastructure_summary: Option<&'a str>,
}

impl<'a> LeadRow<'a> {
    fn of(o: &'a ScanOutcome, scan_id: i64, score_id: i64) -> Self {
        let (d, scan) = (&o.detection, &o.scan);
        let ip = o.enrichment.as_ref().and_then(|e| e.primary());
        LeadRow {
            company_id: o.company_id,
            scan_id,
            score_id,
            scan_status: scan.status.as_str(),
            provider: &d.provider,
            gateway: d.gateway.as_deref(),
            local_provider: d.local_provider.as_deref(),
            mx_root: d.mx_root.as_deref(),
            tenant_size: d.tenant_size.as_deref(),
            mx_hosts: scan.mx.iter().map(|m| m.host.as_str()).collect(),
            spf: scan.spf.is_published(),
            spf_record: scan.spf.record.as_deref(),
            spf_includes: &scan.spf.includes,
            dkim: scan.has_dkim(),
            dkim_selectors: dkim_selectors(scan),
            dmarc_policy: scan.dmarc.as_ref().map(|m| m.policy.as_str()),
            dmarc_pct: scan.dmarc.as_ref().map(|m| i16::from(m.pct)),
            score: ListedScore::of(&o.score),
            ip_country: ip.and_then(|p| p.country.as_deref()),
            ip_asn: ip.and_then(|p| p.asn).map(i64::from),
            ip_org: ip.and_then(|p| p.organisation()),
            ip_proxy: ip.and_then(|p| p.is_proxy),
            infrastructure_summary: o.enrichment.as_ref().and_then(|e| e.infrastructure_summary.as_deref()),
        }
    }
}

async fn upsert_lead_state(
    tx: &mut sqlx::PgConnection,
    outcomes: &[ScanOutcome],
    scan_ids: &HashMap<i64, i64>,
    score_ids: &HashMap<i64, i64>,
) -> Result<(), sqlx::Error> {
    let rows: Vec<LeadRow> =
        outcomes.iter().map(|o| LeadRow::of(o, scan_ids[&o.company_id], score_ids[&o.company_id])).collect();
    sqlx::query(
        "INSERT INTO lead_state (company_id, scan_id, score_id, scan_status, scanned_at, provider, gateway,
                                 local_provider, mx_root, tenant_size, mx_hosts, spf, spf_record, spf_includes, dkim,
                                 dkim_selectors, dmarc_policy, dmarc_pct, score, segment, commercial_segment,
                                 technical_heat, commercial_heat, priority, priority_label, legacy_priority, updated_at,
                                 ip_country, ip_asn, ip_org, ip_proxy, infrastructure_summary)
         SELECT r.company_id, r.scan_id, r.score_id, r.scan_status, now(), r.provider, r.gateway, r.local_provider,
                r.mx_root, r.tenant_size, ARRAY(SELECT jsonb_array_elements_text(r.mx_hosts)), r.spf, r.spf_record,
                ARRAY(SELECT jsonb_array_elements_text(r.spf_includes)), r.dkim,
                ARRAY(SELECT jsonb_array_elements_text(r.dkim_selectors)), r.dmarc_policy, r.dmarc_pct, r.score,
                r.segment, r.commercial_segment, r.technical_heat, r.commercial_heat, r.priority, r.priority_label,
                r.legacy_priority, now(), r.ip_country, r.ip_asn, r.ip_org, r.ip_proxy, r.infrastructure_summary
           FROM jsonb_to_recordset($1) AS r(company_id bigint, scan_id bigint, score_id bigint, scan_status text,
                provider text, gateway text, local_provider text, mx_root text, tenant_size text, mx_hosts jsonb,
                spf boolean, spf_record text, spf_includes jsonb, dkim boolean, dkim_selectors jsonb,
                dmarc_policy text, dmarc_pct smallint, score int, segment text, commercial_segment text,
                technical_heat text, commercial_heat text, priority text, priority_label text,
                legacy_priority smallint, ip_country text, ip_asn bigint, ip_org text, ip_proxy boolean,
                infrastructure_summary text)
         ON CONFLICT (company_id) DO UPDATE SET
            scan_id = EXCLUDED.scan_id, score_id = EXCLUDED.score_id, scan_status = EXCLUDED.scan_status,
            scanned_at = EXCLUDED.scanned_at, provider = EXCLUDED.provider, gateway = EXCLUDED.gateway,
            local_provider = EXCLUDED.local_provider, mx_root = EXCLUDED.mx_root, tenant_size = EXCLUDED.tenant_size,
            mx_hosts = EXCLUDED.mx_hosts, spf = EXCLUDED.spf, spf_record = EXCLUDED.spf_record,
            spf_includes = EXCLUDED.spf_includes, dkim = EXCLUDED.dkim, dkim_selectors = EXCLUDED.dkim_selectors,
            dmarc_policy = EXCLUDED.dmarc_policy, dmarc_pct = EXCLUDED.dmarc_pct, score = EXCLUDED.score,
            segment = EXCLUDED.segment, commercial_segment = EXCLUDED.commercial_segment,
            technical_heat = EXCLUDED.technical_heat, commercial_heat = EXCLUDED.commercial_heat,
            priority = EXCLUDED.priority, priority_label = EXCLUDED.priority_label,
            legacy_priority = EXCLUDED.legacy_priority, updated_at = now(), ip_country = EXCLUDED.ip_country,
            ip_asn = EXCLUDED.ip_asn, ip_org = EXCLUDED.ip_org, ip_proxy = EXCLUDED.ip_proxy,
            infrastructure_summary = EXCLUDED.infrastructure_summary",
    )
    .bind(Json(&rows))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One `events` row per changed field.
async fn record_changes(
    tx: &mut sqlx::PgConnection,
    outcomes: &[ScanOutcome],
    detected: &[Vec<changes::FieldChange>],
    scan_ids: &HashMap<i64, i64>,
) -> Result<(), sqlx::Error> {
    let mut companies = Vec::new();
    let mut payloads = Vec::new();
    for (outcome, changes) in outcomes.iter().zip(detected) {
        let scan_id = scan_ids[&outcome.company_id];
        for change in changes {
            companies.push(outcome.company_id);
            payloads.push(serde_json::json!({
                "field": change.field, "from": change.from, "to": change.to, "scan_id": scan_id
            }));
        }
    }
    if companies.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO events (company_id, kind, payload)
         SELECT c, 'change', p FROM unnest($1::bigint[], $2::jsonb[]) AS e(c, p)",
    )
    .bind(&companies)
    .bind(&payloads)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Queues registration lookups for `companies` (one per company at a time). Nothing else is written:
/// the lead detail reads "pending" off the queued lookup, which keeps a row and its foreign-key check
/// per first scan out of the store's transaction.
async fn queue_registrations(tx: &mut sqlx::PgConnection, companies: &[i64]) -> Result<(), sqlx::Error> {
    if companies.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO job_queue (kind, payload, dedup_key)
         SELECT 'registration', jsonb_build_object('company_id', id), id::text FROM unnest($1::bigint[]) AS id
         ON CONFLICT (kind, dedup_key) WHERE state IN ('queued', 'running') DO NOTHING",
    )
    .bind(companies)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// How many times in a row a lead whose DNS failed transiently is retried before the periodic rescan
/// takes over.
pub const TRANSIENT_RETRIES: i64 = 3;

/// Stores a scan that failed for a reason that says nothing about the domain (timeout, SERVFAIL,
/// REFUSED): the scan goes into history and the lead shows the failed status, but its provider and
/// score stay as they were (a flaky resolver must not turn a good lead into "Skip"). A retry is
/// queued with backoff. Returns whether a retry was queued.
pub async fn store_transient(
    pool: &PgPool,
    company_id: i64,
    scan: &ScanResult,
    started_at: chrono::DateTime<chrono::Utc>,
    duration_ms: i32,
    job: Option<(i64, &str)>,
    transient_attempt: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    relax_durability(&mut tx).await?;
    let scan_id: i64 = sqlx::query_scalar(
        "INSERT INTO scans (company_id, status, raw_records, signals, started_at, finished_at, duration_ms, scanned_by, error)
         VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8) RETURNING id",
    )
    .bind(company_id)
    .bind(scan.status.as_str())
    .bind(Json(&scan.raw))
    .bind(Json(Signals::of(scan)))
    .bind(started_at)
    .bind(duration_ms)
    .bind(job.map(|(_, owner)| owner))
    .bind(scan.warnings.join("; "))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO lead_state (company_id, scan_id, scan_status, scanned_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (company_id) DO UPDATE SET scan_status = EXCLUDED.scan_status, scanned_at = EXCLUDED.scanned_at,
                                                 updated_at = now()",
    )
    .bind(company_id)
    .bind(scan_id)
    .bind(scan.status.as_str())
    .execute(&mut *tx)
    .await?;
    if let Some((job_id, owner)) = job {
        queue::complete(&mut *tx, &[job_id], owner).await?;
    }
    let retry = transient_attempt < TRANSIENT_RETRIES;
    if retry {
        let backoff = queue::retry_backoff(i32::try_from(transient_attempt + 1).unwrap_or(i32::MAX));
        sqlx::query(
            "INSERT INTO job_queue (kind, payload, dedup_key, priority, run_after)
             VALUES ('scan', jsonb_build_object('company_id', $1::bigint, 'transient_attempt', $2::bigint), $1::text, 0,
                     now() + make_interval(secs => $3))
             ON CONFLICT (kind, dedup_key) WHERE state IN ('queued', 'running') DO NOTHING",
        )
        .bind(company_id)
        .bind(transient_attempt + 1)
        .bind(backoff.as_secs_f64())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(retry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{SpfStatus, model::DmarcPolicy};

    fn scan() -> ScanResult {
        ScanResult {
            domain: "example.com".into(),
            status: ScanStatus::Ok,
            mx: vec![MxHost {
                preference: 10,
                host: "example-com.mail.protection.outlook.com".into(),
                cname_target: None,
                addresses: vec!["192.0.2.1".parse().expect("address")],
            }],
            spf: SpfResult {
                status: SpfStatus::Valid,
                record: Some("v=spf1 include:spf.protection.outlook.com -all".into()),
                all_records: vec!["v=spf1 include:spf.protection.outlook.com -all".into()],
                includes: vec!["spf.protection.outlook.com".into()],
                lookup_count: 1,
                tree: None,
            },
            dmarc: Some(DmarcRecord {
                record: "v=DMARC1; p=reject".into(),
                policy: DmarcPolicy::Reject,
                subdomain_policy: None,
                pct: 100,
                rua: vec![],
                ruf: vec![],
            }),
            dkim: vec![DkimSelector {
                selector: "selector1".into(),
                record: Some("v=DKIM1; p=x".into()),
                cname_target: None,
            }],
            hints: TenantHints { ms_verification: vec!["MS=ms123".into()], ..TenantHints::default() },
            apex_txt: vec!["MS=ms123".into()],
            raw: vec![RawRecord { name: "example.com".into(), rtype: "MX".into(), data: "10 example-com.mail".into() }],
            queries: 9,
            warnings: vec!["DKIM selector s2 timed out".into()],
        }
    }

    fn outcome() -> ScanOutcome {
        ScanOutcome {
            company_id: 7,
            scan: scan(),
            detection: StoredDetection { provider: "M365".into(), ..StoredDetection::default() },
            score: StoredScore {
                score: 60,
                segment: "Existing".into(),
                priority: Some("P2".into()),
                breakdown: vec![Contribution { key: "M365".into(), points: 50, reason: "mail provider M365".into() }],
                sales_summary: Some(SalesSummary::default()),
                rules_version: "v1".into(),
                reason: "uses Microsoft 365".into(),
                ..StoredScore::default()
            },
            registration: None,
            registration_due: false,
            enrichment: None,
            started_at: chrono::Utc::now(),
            duration_ms: 12,
        }
    }

    #[test]
    fn the_lead_state_row_carries_the_listed_score_but_not_its_breakdown_or_summary() {
        let outcome = outcome();
        let row = serde_json::to_value(LeadRow::of(&outcome, 1, 2)).expect("lead row");
        assert_eq!(row["score"], 60);
        assert_eq!(row["segment"], "Existing");
        assert_eq!(row["priority"], "P2");
        for absent in ["breakdown", "sales_summary", "rules_version", "reason"] {
            assert!(row.get(absent).is_none(), "{absent} is sent with the lead_state row");
        }
    }

    #[test]
    fn the_score_row_carries_the_listed_columns_and_the_breakdown() {
        let outcome = outcome();
        let score = StoredScoreJson::of(&outcome.score);
        let row = serde_json::to_value(ScoreRow { company_id: 7, scan_id: 1, score: &score }).expect("score row");
        assert_eq!(row["score"], 60);
        assert_eq!(row["priority"], "P2");
        assert_eq!(row["breakdown"][0]["key"], "M365");
        assert_eq!(row["reason"], "uses Microsoft 365");
        assert_eq!(row["company_id"], 7);
    }

    #[test]
    fn stored_signals_are_the_scan_without_its_raw_records() {
        let scan = scan();
        let without_raw = ScanResult { raw: vec![], ..scan.clone() };
        let stored = serde_json::to_value(Signals::of(&scan)).expect("signals");
        assert_eq!(stored, serde_json::to_value(&without_raw).expect("scan"));
        let read_back: ScanResult = serde_json::from_value(stored).expect("read back");
        assert_eq!(read_back, without_raw);
    }
}
