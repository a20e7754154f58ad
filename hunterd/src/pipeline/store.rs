//! Writing one finished scan: the scan row with its raw records, the score row, the lead's current
//! state, change events, and the queue item's completion — in one transaction, so a lead is never
//! seen half-updated and a crash mid-way leaves the queue item to be retried.

use super::changes::{self, Snapshot};
use crate::jobs::queue;
use crate::scan::ScanResult;
use protocol::{Contribution, Evidence, Registration, SalesSummary};
use serde::Serialize;
use sqlx::{PgPool, Row};

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

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, sqlx::Error> {
    serde_json::to_value(value).map_err(|e| sqlx::Error::Encode(Box::new(e)))
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
    let mut tx = pool.begin().await?;
    relax_durability(&mut tx).await?;
    let previous = sqlx::query(
        "SELECT provider, gateway, mx_hosts, spf_record, dmarc_policy, dkim_selectors, scanned_at
           FROM lead_state WHERE company_id = $1 FOR UPDATE",
    )
    .bind(outcome.company_id)
    .fetch_optional(&mut *tx)
    .await?;

    let mut signals = outcome.scan.clone();
    let raw = std::mem::take(&mut signals.raw);
    let scan_id: i64 = sqlx::query_scalar(
        "INSERT INTO scans (company_id, status, raw_records, signals, detection, registration, started_at,
                            finished_at, duration_ms, scanned_by, enrichment)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8, $9, $10) RETURNING id",
    )
    .bind(outcome.company_id)
    .bind(outcome.scan.status.as_str())
    .bind(to_json(&raw)?)
    .bind(to_json(&signals)?)
    .bind(to_json(&outcome.detection)?)
    .bind(outcome.registration.as_ref().map(to_json).transpose()?)
    .bind(outcome.started_at)
    .bind(outcome.duration_ms)
    .bind(job.map(|(_, owner)| owner))
    .bind(outcome.enrichment.as_ref().map(to_json).transpose()?)
    .fetch_one(&mut *tx)
    .await?;

    let s = &outcome.score;
    let score_id: i64 = sqlx::query_scalar(
        "INSERT INTO scores (company_id, scan_id, score, segment, commercial_segment, technical_heat,
                             commercial_heat, priority, priority_label, breakdown, sales_summary, rules_version,
                             reason, legacy_priority)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(outcome.company_id)
    .bind(scan_id)
    .bind(s.score)
    .bind(&s.segment)
    .bind(&s.commercial_segment)
    .bind(&s.technical_heat)
    .bind(&s.commercial_heat)
    .bind(&s.priority)
    .bind(&s.priority_label)
    .bind(to_json(&s.breakdown)?)
    .bind(s.sales_summary.as_ref().map(to_json).transpose()?)
    .bind(&s.rules_version)
    .bind(&s.reason)
    .bind(s.legacy_priority)
    .fetch_one(&mut *tx)
    .await?;

    let d = &outcome.detection;
    let scan = &outcome.scan;
    let mx_hosts: Vec<String> = scan.mx.iter().map(|m| m.host.clone()).collect();
    let ip = outcome.enrichment.as_ref().and_then(|e| e.primary());
    sqlx::query(
        "INSERT INTO lead_state (company_id, scan_id, score_id, scan_status, scanned_at, provider, gateway,
                                 local_provider, mx_root, tenant_size, mx_hosts, spf, spf_record, spf_includes, dkim,
                                 dkim_selectors, dmarc_policy, dmarc_pct, score, segment, commercial_segment,
                                 technical_heat, commercial_heat, priority, priority_label, legacy_priority, updated_at,
                                 ip_country, ip_asn, ip_org, ip_proxy, infrastructure_summary)
         VALUES ($1, $2, $3, $4, now(), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                 $22, $23, $24, $25, now(), $26, $27, $28, $29, $30)
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
    .bind(outcome.company_id)
    .bind(scan_id)
    .bind(score_id)
    .bind(scan.status.as_str())
    .bind(&d.provider)
    .bind(&d.gateway)
    .bind(&d.local_provider)
    .bind(&d.mx_root)
    .bind(&d.tenant_size)
    .bind(&mx_hosts)
    .bind(scan.spf.is_valid())
    .bind(&scan.spf.record)
    .bind(&scan.spf.includes)
    .bind(scan.has_dkim())
    .bind(dkim_selectors(scan))
    .bind(scan.dmarc.as_ref().map(|m| m.policy.as_str()))
    .bind(scan.dmarc.as_ref().map(|m| i16::from(m.pct)))
    .bind(s.score)
    .bind(&s.segment)
    .bind(&s.commercial_segment)
    .bind(&s.technical_heat)
    .bind(&s.commercial_heat)
    .bind(&s.priority)
    .bind(&s.priority_label)
    .bind(s.legacy_priority)
    .bind(ip.and_then(|p| p.country.clone()))
    .bind(ip.and_then(|p| p.asn).map(i64::from))
    .bind(ip.and_then(|p| p.organisation().map(str::to_string)))
    .bind(ip.and_then(|p| p.is_proxy))
    .bind(outcome.enrichment.as_ref().and_then(|e| e.infrastructure_summary.clone()))
    .execute(&mut *tx)
    .await?;

    let mut detected = Vec::new();
    if let Some(prev) = previous {
        let scanned_before: Option<chrono::DateTime<chrono::Utc>> = prev.try_get("scanned_at")?;
        if scanned_before.is_some() {
            let before = Snapshot {
                provider: prev.try_get("provider")?,
                gateway: prev.try_get("gateway")?,
                mx_hosts: prev.try_get("mx_hosts")?,
                spf_record: prev.try_get("spf_record")?,
                dmarc_policy: prev.try_get("dmarc_policy")?,
                dkim_selectors: prev.try_get("dkim_selectors")?,
            };
            detected = changes::diff(&before, &outcome.snapshot());
        }
    }
    for change in &detected {
        sqlx::query("INSERT INTO events (company_id, kind, payload) VALUES ($1, 'change', $2)")
            .bind(outcome.company_id)
            .bind(to_json(
                &serde_json::json!({ "field": change.field, "from": change.from, "to": change.to, "scan_id": scan_id }),
            )?)
            .execute(&mut *tx)
            .await?;
    }
    if outcome.registration_due {
        queue_registrations(&mut tx, &[outcome.company_id]).await?;
    }
    if let Some((job_id, owner)) = job {
        queue::complete(&mut *tx, &[job_id], owner).await?;
    }
    tx.commit().await?;
    Ok(detected)
}

/// Queues registration lookups for `companies` (one per company at a time) and marks those never
/// looked up as pending, so the lead detail can say so.
async fn queue_registrations(tx: &mut sqlx::PgConnection, companies: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH queued AS (
            INSERT INTO job_queue (kind, payload, dedup_key)
            SELECT 'registration', jsonb_build_object('company_id', id), id::text FROM unnest($1::bigint[]) AS id
            ON CONFLICT (kind, dedup_key) WHERE state IN ('queued', 'running') DO NOTHING)
         INSERT INTO registrations (company_id, state) SELECT id, 'pending' FROM unnest($1::bigint[]) AS id
         ON CONFLICT (company_id) DO NOTHING",
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
    let mut signals = scan.clone();
    let raw = std::mem::take(&mut signals.raw);
    let scan_id: i64 = sqlx::query_scalar(
        "INSERT INTO scans (company_id, status, raw_records, signals, started_at, finished_at, duration_ms, scanned_by, error)
         VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8) RETURNING id",
    )
    .bind(company_id)
    .bind(scan.status.as_str())
    .bind(to_json(&raw)?)
    .bind(to_json(&signals)?)
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
