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
use sqlx::{PgPool, Row};
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
            dkim_selectors: published_selectors(&self.scan).map(str::to_string).collect(),
        }
    }
}

/// The DKIM selectors that answered with a record.
fn published_selectors(scan: &ScanResult) -> impl Iterator<Item = &str> {
    scan.dkim.iter().filter(|d| d.record.is_some()).map(|d| d.selector.as_str())
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

/// A document for a `json` column, as text: PostgreSQL only checks it (a `jsonb` value, or a whole
/// batch sent as one JSON document, would be parsed into binary form, ~15 µs a kilobyte).
fn json_text<T: Serialize + ?Sized>(value: &T) -> Result<String, sqlx::Error> {
    serde_json::to_string(value).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// The batch's `scans` rows, column by column (bound as arrays and zipped by `unnest`).
#[derive(Default)]
struct ScanColumns<'a> {
    company_id: Vec<i64>,
    status: Vec<&'a str>,
    raw_records: Vec<String>,
    signals: Vec<String>,
    detection: Vec<String>,
    registration: Vec<Option<String>>,
    started_at: Vec<chrono::DateTime<chrono::Utc>>,
    duration_ms: Vec<i32>,
    enrichment: Vec<Option<String>>,
}

impl<'a> ScanColumns<'a> {
    fn of(outcomes: &'a [ScanOutcome]) -> Result<Self, sqlx::Error> {
        let mut c = ScanColumns::default();
        for o in outcomes {
            c.company_id.push(o.company_id);
            c.status.push(o.scan.status.as_str());
            c.raw_records.push(json_text(&o.scan.raw)?);
            c.signals.push(json_text(&Signals::of(&o.scan))?);
            c.detection.push(json_text(&o.detection)?);
            c.registration.push(o.registration.as_ref().map(json_text).transpose()?);
            c.started_at.push(o.started_at);
            c.duration_ms.push(o.duration_ms);
            c.enrichment.push(o.enrichment.as_ref().map(json_text).transpose()?);
        }
        Ok(c)
    }
}

/// Inserts the scans; returns each company's new scan id.
async fn insert_scans(
    tx: &mut sqlx::PgConnection,
    outcomes: &[ScanOutcome],
    owner: Option<&str>,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let c = ScanColumns::of(outcomes)?;
    let ids: Vec<(i64, i64)> = sqlx::query_as(
        "INSERT INTO scans (company_id, status, raw_records, signals, detection, registration, started_at,
                            finished_at, duration_ms, scanned_by, enrichment)
         SELECT r.company_id, r.status, r.raw_records, r.signals, r.detection, r.registration, r.started_at,
                now(), r.duration_ms, $10, r.enrichment
           FROM unnest($1::bigint[], $2::text[], $3::text[]::json[], $4::text[]::json[], $5::text[]::json[],
                       $6::text[]::json[], $7::timestamptz[], $8::int[], $9::text[]::json[])
                AS r(company_id, status, raw_records, signals, detection, registration, started_at, duration_ms,
                     enrichment)
         RETURNING company_id, id",
    )
    .bind(&c.company_id)
    .bind(&c.status)
    .bind(&c.raw_records)
    .bind(&c.signals)
    .bind(&c.detection)
    .bind(&c.registration)
    .bind(&c.started_at)
    .bind(&c.duration_ms)
    .bind(&c.enrichment)
    .bind(owner)
    .fetch_all(&mut *tx)
    .await?;
    Ok(ids.into_iter().collect())
}

/// The score's values the lead list shows, column by column: in `scores` and in `lead_state`.
#[derive(Default)]
struct ListedScoreColumns<'a> {
    score: Vec<i32>,
    segment: Vec<&'a str>,
    commercial_segment: Vec<Option<&'a str>>,
    technical_heat: Vec<Option<&'a str>>,
    commercial_heat: Vec<Option<&'a str>>,
    priority: Vec<Option<&'a str>>,
    priority_label: Vec<Option<&'a str>>,
    legacy_priority: Vec<Option<i16>>,
}

/// The SQL types of [`ListedScoreColumns`], in the order [`ListedScoreColumns::bind`] binds them.
const LISTED_SCORE_TYPES: [&str; 8] = ["int", "text", "text", "text", "text", "text", "text", "smallint"];
/// Their column names, in the same order.
const LISTED_SCORE_NAMES: &str =
    "score, segment, commercial_segment, technical_heat, commercial_heat, priority, priority_label, legacy_priority";

impl<'a> ListedScoreColumns<'a> {
    fn push(&mut self, s: &'a StoredScore) {
        self.score.push(s.score);
        self.segment.push(&s.segment);
        self.commercial_segment.push(s.commercial_segment.as_deref());
        self.technical_heat.push(s.technical_heat.as_deref());
        self.commercial_heat.push(s.commercial_heat.as_deref());
        self.priority.push(s.priority.as_deref());
        self.priority_label.push(s.priority_label.as_deref());
        self.legacy_priority.push(s.legacy_priority);
    }

    fn bind<'q>(&'q self, query: PgStatement<'q>) -> PgStatement<'q> {
        query
            .bind(&self.score)
            .bind(&self.segment)
            .bind(&self.commercial_segment)
            .bind(&self.technical_heat)
            .bind(&self.commercial_heat)
            .bind(&self.priority)
            .bind(&self.priority_label)
            .bind(&self.legacy_priority)
    }
}

type PgStatement<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// `unnest(...)` over `types` as array parameters numbered from `first`, e.g. `$3::int[], $4::text[]`.
fn array_params(first: usize, types: &[&str]) -> String {
    types.iter().enumerate().map(|(i, t)| format!("${}::{t}[]", first + i)).collect::<Vec<_>>().join(", ")
}

/// The batch's `scores` rows, column by column.
#[derive(Default)]
struct ScoreColumns<'a> {
    company_id: Vec<i64>,
    scan_id: Vec<i64>,
    breakdown: Vec<String>,
    sales_summary: Vec<Option<String>>,
    rules_version: Vec<&'a str>,
    reason: Vec<&'a str>,
    listed: ListedScoreColumns<'a>,
}

impl<'a> ScoreColumns<'a> {
    fn of(outcomes: &'a [ScanOutcome], scan_ids: &HashMap<i64, i64>) -> Result<Self, sqlx::Error> {
        let mut c = ScoreColumns::default();
        for o in outcomes {
            let s = &o.score;
            c.company_id.push(o.company_id);
            c.scan_id.push(scan_ids[&o.company_id]);
            c.breakdown.push(json_text(&s.breakdown)?);
            c.sales_summary.push(s.sales_summary.as_ref().map(json_text).transpose()?);
            c.rules_version.push(&s.rules_version);
            c.reason.push(&s.reason);
            c.listed.push(s);
        }
        Ok(c)
    }
}

/// The scores insert: every column an array parameter, zipped by `unnest` (built once, from constants).
static INSERT_SCORES_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO scores (company_id, scan_id, breakdown, sales_summary, rules_version, reason, {LISTED_SCORE_NAMES})
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]::json[], $4::text[]::json[], $5::text[],
                              $6::text[], {listed})
         RETURNING company_id, id",
        listed = array_params(7, &LISTED_SCORE_TYPES),
    )
});

/// Inserts the scores; returns each company's new score id.
async fn insert_scores(
    tx: &mut sqlx::PgConnection,
    outcomes: &[ScanOutcome],
    scan_ids: &HashMap<i64, i64>,
) -> Result<HashMap<i64, i64>, sqlx::Error> {
    let c = ScoreColumns::of(outcomes, scan_ids)?;
    let query = sqlx::query(sqlx::AssertSqlSafe(INSERT_SCORES_SQL.as_str()))
        .bind(&c.company_id)
        .bind(&c.scan_id)
        .bind(&c.breakdown)
        .bind(&c.sales_summary)
        .bind(&c.rules_version)
        .bind(&c.reason);
    let rows = c.listed.bind(query).fetch_all(&mut *tx).await?;
    rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
}

/// A PostgreSQL array literal of `items` (every element quoted, so commas, braces, blanks and the word
/// NULL stay text): a row's array travels as one text value of a text array, cast back per row.
fn text_array_literal<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let mut out = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for ch in item.as_ref().chars() {
            if ch == '"' || ch == '\\' {
                out.push('\\');
            }
            out.push(ch);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// What lists filter and sort on: the batch's `lead_state` rows, column by column.
#[derive(Default)]
struct LeadColumns<'a> {
    company_id: Vec<i64>,
    scan_id: Vec<i64>,
    score_id: Vec<i64>,
    scan_status: Vec<&'a str>,
    provider: Vec<&'a str>,
    gateway: Vec<Option<&'a str>>,
    local_provider: Vec<Option<&'a str>>,
    mx_root: Vec<Option<&'a str>>,
    tenant_size: Vec<Option<&'a str>>,
    mx_hosts: Vec<String>,
    spf: Vec<bool>,
    spf_record: Vec<Option<&'a str>>,
    spf_includes: Vec<String>,
    spf_status: Vec<&'static str>,
    dkim: Vec<bool>,
    dkim_selectors: Vec<String>,
    dmarc_policy: Vec<Option<&'a str>>,
    dmarc_pct: Vec<Option<i16>>,
    ip_country: Vec<Option<&'a str>>,
    ip_asn: Vec<Option<i64>>,
    ip_org: Vec<Option<&'a str>>,
    ip_proxy: Vec<Option<bool>>,
    infrastructure_summary: Vec<Option<&'a str>>,
    // The score's listed values only: its breakdown and sales summary live in `scores`.
    listed: ListedScoreColumns<'a>,
}

impl<'a> LeadColumns<'a> {
    fn of(outcomes: &'a [ScanOutcome], scan_ids: &HashMap<i64, i64>, score_ids: &HashMap<i64, i64>) -> LeadColumns<'a> {
        let mut c = LeadColumns::default();
        for o in outcomes {
            let (d, scan) = (&o.detection, &o.scan);
            let ip = o.enrichment.as_ref().and_then(|e| e.primary());
            c.company_id.push(o.company_id);
            c.scan_id.push(scan_ids[&o.company_id]);
            c.score_id.push(score_ids[&o.company_id]);
            c.scan_status.push(scan.status.as_str());
            c.provider.push(&d.provider);
            c.gateway.push(d.gateway.as_deref());
            c.local_provider.push(d.local_provider.as_deref());
            c.mx_root.push(d.mx_root.as_deref());
            c.tenant_size.push(d.tenant_size.as_deref());
            c.mx_hosts.push(text_array_literal(scan.mx.iter().map(|m| m.host.as_str())));
            c.spf.push(scan.spf.is_published());
            c.spf_record.push(scan.spf.record.as_deref());
            c.spf_includes.push(text_array_literal(&scan.spf.includes));
            c.spf_status.push(scan.spf.status.as_str());
            c.dkim.push(scan.has_dkim());
            c.dkim_selectors.push(text_array_literal(published_selectors(scan)));
            c.dmarc_policy.push(scan.dmarc.as_ref().map(|m| m.policy.as_str()));
            c.dmarc_pct.push(scan.dmarc.as_ref().map(|m| i16::from(m.pct)));
            c.ip_country.push(ip.and_then(|p| p.country.as_deref()));
            c.ip_asn.push(ip.and_then(|p| p.asn).map(i64::from));
            c.ip_org.push(ip.and_then(|p| p.organisation()));
            c.ip_proxy.push(ip.and_then(|p| p.is_proxy));
            c.infrastructure_summary.push(o.enrichment.as_ref().and_then(|e| e.infrastructure_summary.as_deref()));
            c.listed.push(&o.score);
        }
        c
    }
}

/// The lead_state upsert: every column an array parameter, zipped by `unnest` (built once, from
/// constants).
static UPSERT_LEAD_STATE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO lead_state (company_id, scan_id, score_id, scan_status, provider, gateway, local_provider,
                                 mx_root, tenant_size, mx_hosts, spf, spf_record, spf_includes, spf_status, dkim,
                                 dkim_selectors, dmarc_policy, dmarc_pct, ip_country, ip_asn, ip_org, ip_proxy,
                                 infrastructure_summary, {LISTED_SCORE_NAMES}, scanned_at, updated_at)
         SELECT r.company_id, r.scan_id, r.score_id, r.scan_status, r.provider, r.gateway, r.local_provider,
                r.mx_root, r.tenant_size, r.mx_hosts::text[], r.spf, r.spf_record, r.spf_includes::text[],
                r.spf_status, r.dkim, r.dkim_selectors::text[], r.dmarc_policy, r.dmarc_pct, r.ip_country, r.ip_asn,
                r.ip_org, r.ip_proxy, r.infrastructure_summary, {listed_r}, now(), now()
           FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::bool[], $12::text[], $13::text[], $14::text[],
                       $15::bool[], $16::text[], $17::text[], $18::smallint[], $19::text[], $20::bigint[],
                       $21::text[], $22::bool[], $23::text[], {listed_params})
             AS r(company_id, scan_id, score_id, scan_status, provider, gateway, local_provider, mx_root,
                  tenant_size, mx_hosts, spf, spf_record, spf_includes, spf_status, dkim, dkim_selectors,
                  dmarc_policy, dmarc_pct, ip_country, ip_asn, ip_org, ip_proxy, infrastructure_summary,
                  {LISTED_SCORE_NAMES})
         ON CONFLICT (company_id) DO UPDATE SET
            scan_id = EXCLUDED.scan_id, score_id = EXCLUDED.score_id, scan_status = EXCLUDED.scan_status,
            scanned_at = EXCLUDED.scanned_at, provider = EXCLUDED.provider, gateway = EXCLUDED.gateway,
            local_provider = EXCLUDED.local_provider, mx_root = EXCLUDED.mx_root, tenant_size = EXCLUDED.tenant_size,
            mx_hosts = EXCLUDED.mx_hosts, spf = EXCLUDED.spf, spf_record = EXCLUDED.spf_record,
            spf_includes = EXCLUDED.spf_includes, spf_status = EXCLUDED.spf_status, dkim = EXCLUDED.dkim,
            dkim_selectors = EXCLUDED.dkim_selectors, dmarc_policy = EXCLUDED.dmarc_policy,
            dmarc_pct = EXCLUDED.dmarc_pct, score = EXCLUDED.score, segment = EXCLUDED.segment,
            commercial_segment = EXCLUDED.commercial_segment, technical_heat = EXCLUDED.technical_heat,
            commercial_heat = EXCLUDED.commercial_heat, priority = EXCLUDED.priority,
            priority_label = EXCLUDED.priority_label, legacy_priority = EXCLUDED.legacy_priority, updated_at = now(),
            ip_country = EXCLUDED.ip_country, ip_asn = EXCLUDED.ip_asn, ip_org = EXCLUDED.ip_org,
            ip_proxy = EXCLUDED.ip_proxy, infrastructure_summary = EXCLUDED.infrastructure_summary",
        listed_r = LISTED_SCORE_NAMES.split(", ").map(|n| format!("r.{n}")).collect::<Vec<_>>().join(", "),
        listed_params = array_params(24, &LISTED_SCORE_TYPES),
    )
});

async fn upsert_lead_state(
    tx: &mut sqlx::PgConnection,
    outcomes: &[ScanOutcome],
    scan_ids: &HashMap<i64, i64>,
    score_ids: &HashMap<i64, i64>,
) -> Result<(), sqlx::Error> {
    let c = LeadColumns::of(outcomes, scan_ids, score_ids);
    let statement: PgStatement = sqlx::query(sqlx::AssertSqlSafe(UPSERT_LEAD_STATE_SQL.as_str()))
        .bind(&c.company_id)
        .bind(&c.scan_id)
        .bind(&c.score_id)
        .bind(&c.scan_status)
        .bind(&c.provider)
        .bind(&c.gateway)
        .bind(&c.local_provider)
        .bind(&c.mx_root)
        .bind(&c.tenant_size)
        .bind(&c.mx_hosts)
        .bind(&c.spf)
        .bind(&c.spf_record)
        .bind(&c.spf_includes)
        .bind(&c.spf_status)
        .bind(&c.dkim)
        .bind(&c.dkim_selectors)
        .bind(&c.dmarc_policy)
        .bind(&c.dmarc_pct)
        .bind(&c.ip_country)
        .bind(&c.ip_asn)
        .bind(&c.ip_org)
        .bind(&c.ip_proxy)
        .bind(&c.infrastructure_summary);
    c.listed.bind(statement).execute(&mut *tx).await?;
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
         VALUES ($1, $2, $3::text::json, $4::text::json, $5, now(), $6, $7, $8) RETURNING id",
    )
    .bind(company_id)
    .bind(scan.status.as_str())
    .bind(json_text(&scan.raw)?)
    .bind(json_text(&Signals::of(scan))?)
    .bind(started_at)
    .bind(duration_ms)
    .bind(job.map(|(_, owner)| owner))
    .bind(scan.warnings.join("; "))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO lead_state (company_id, scan_id, scan_status, spf_status, scanned_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (company_id) DO UPDATE SET scan_status = EXCLUDED.scan_status, scanned_at = EXCLUDED.scanned_at,
                                                 updated_at = now()",
    )
    .bind(company_id)
    .bind(scan_id)
    .bind(scan.status.as_str())
    .bind(scan.spf.status.as_str())
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
    fn the_lead_state_columns_carry_the_listed_score_and_the_spf_status_the_list_reports() {
        let outcomes = [outcome()];
        let c = LeadColumns::of(&outcomes, &HashMap::from([(7, 1)]), &HashMap::from([(7, 2)]));
        assert_eq!((c.company_id[0], c.scan_id[0], c.score_id[0]), (7, 1, 2));
        assert_eq!((c.listed.score[0], c.listed.segment[0], c.listed.priority[0]), (60, "Existing", Some("P2")));
        assert_eq!(c.spf_status[0], "valid");
        assert_eq!(c.mx_hosts[0], r#"{"example-com.mail.protection.outlook.com"}"#);
    }

    #[test]
    fn a_text_array_literal_quotes_every_element() {
        assert_eq!(text_array_literal::<&str>([]), "{}");
        assert_eq!(
            text_array_literal(["a,b", "NULL", "{x}", r#"say "hi"\"#]),
            r#"{"a,b","NULL","{x}","say \"hi\"\\"}"#
        );
    }

    #[test]
    fn the_score_columns_carry_the_listed_values_and_the_documents_as_json_text() {
        let outcomes = [outcome()];
        let scan_ids = HashMap::from([(7, 1)]);
        let c = ScoreColumns::of(&outcomes, &scan_ids).expect("columns");
        assert_eq!((c.company_id[0], c.scan_id[0], c.listed.score[0]), (7, 1, 60));
        assert_eq!(c.listed.priority[0], Some("P2"));
        assert_eq!(c.reason[0], "uses Microsoft 365");
        let breakdown: Vec<Contribution> = serde_json::from_str(&c.breakdown[0]).expect("breakdown is JSON");
        assert_eq!(breakdown[0].key, "M365");
        assert!(c.sales_summary[0].is_some());
    }

    #[test]
    fn the_scan_columns_carry_signals_without_raw_records_and_the_raw_records_apart() {
        let outcomes = [outcome()];
        let c = ScanColumns::of(&outcomes).expect("columns");
        let signals: ScanResult = serde_json::from_str(&c.signals[0]).expect("signals are JSON");
        assert!(signals.raw.is_empty());
        let raw: Vec<RawRecord> = serde_json::from_str(&c.raw_records[0]).expect("raw records are JSON");
        assert_eq!(raw, outcomes[0].scan.raw);
        assert_eq!((c.registration[0].as_deref(), c.enrichment[0].as_deref()), (None, None));
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
