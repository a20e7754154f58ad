//! The push queue in PostgreSQL (`d365_push`, one row per company): pending → in_flight →
//! synced / failed / duplicate. Claims use `FOR UPDATE SKIP LOCKED` with a lease, so several daemons
//! never push the same lead at once and a dead daemon's leads go back to pending.

use super::mapping::{LeadFacts, ReferralFacts};
use super::push::Prior;
use serde_json::{Map, Value};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// How long a claim lasts before another daemon may take the lead over.
pub const LEASE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Claimed {
    pub company_id: i64,
    pub domain: String,
    pub attempts: i32,
    pub prior: Prior,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    company_id: i64,
    domain: String,
    attempts: i32,
    lead_id: Option<Uuid>,
    sent_payload: Option<Value>,
    payload_hash: Option<String>,
}

/// Queues (or re-queues) pushes of these companies under one batch; returns how many were queued.
/// A lead already in flight stays so: its running push finishes first, then the new request runs.
/// `requested_by` is the login of who asked (shown in the lead's activity).
pub async fn enqueue(
    pool: &PgPool,
    company_ids: &[i64],
    batch_id: Uuid,
    requested_by: &str,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO d365_push (company_id, batch_id, requested_by)
         SELECT unnest($1::bigint[]), $2, $3
         ON CONFLICT (company_id) DO UPDATE
            SET state = CASE WHEN d365_push.state = 'in_flight' THEN 'in_flight' ELSE 'pending' END,
                attempts = 0, next_attempt_at = now(), last_error = NULL, batch_id = $2,
                requested_at = now(), requested_by = $3, updated_at = now()",
    )
    .bind(company_ids)
    .bind(batch_id)
    .bind(requested_by)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

/// Claims up to `limit` leads due now (and leads whose holder's lease ran out).
pub async fn claim(pool: &PgPool, owner: &str, limit: i64) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows: Vec<ClaimRow> = sqlx::query_as(
        "WITH due AS (
             SELECT company_id FROM d365_push
              WHERE (state = 'pending' AND next_attempt_at <= now())
                 OR (state = 'in_flight' AND lease_expires_at < now())
              ORDER BY next_attempt_at, company_id
              LIMIT $2
              FOR UPDATE SKIP LOCKED)
         UPDATE d365_push p
            SET state = 'in_flight', leased_by = $1, lease_expires_at = now() + make_interval(secs => $3),
                attempts = p.attempts + 1, updated_at = now()
           FROM due, companies c
          WHERE p.company_id = due.company_id AND c.id = p.company_id
         RETURNING p.company_id, c.domain, p.attempts, p.lead_id, p.sent_payload, p.payload_hash",
    )
    .bind(owner)
    .bind(limit)
    .bind(LEASE.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            company_id: r.company_id,
            domain: r.domain,
            attempts: r.attempts,
            prior: Prior {
                lead_id: r.lead_id,
                sent_payload: r.sent_payload.and_then(|v| match v {
                    Value::Object(m) => Some(m),
                    _ => None,
                }),
                payload_hash: r.payload_hash,
            },
        })
        .collect())
}

/// Where a push ended up in D365.
pub struct Acknowledged<'a> {
    pub lead_id: Uuid,
    pub record_url: &'a str,
    /// What D365 now holds from us; `None` keeps the previous record of it.
    pub sent: Option<&'a Map<String, Value>>,
    /// `synced` or `duplicate`.
    pub state: &'a str,
    pub note: Option<&'a str>,
}

/// The lead is in D365: store its id, link and what was sent.
pub async fn synced(pool: &PgPool, owner: &str, company_id: i64, ack: Acknowledged<'_>) -> Result<(), sqlx::Error> {
    let Acknowledged { lead_id, record_url, sent, state, note } = ack;
    let hash = sent.map(super::mapping::payload_hash);
    sqlx::query(
        "UPDATE d365_push
            SET state = $4, lead_id = $3, record_url = $5,
                sent_payload = COALESCE($6, sent_payload), payload_hash = COALESCE($7, payload_hash),
                last_error = $8, pushed_at = now(), leased_by = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE company_id = $1 AND leased_by = $2",
    )
    .bind(company_id)
    .bind(owner)
    .bind(lead_id)
    .bind(state)
    .bind(record_url)
    .bind(sent.map(|m| Value::Object(m.clone())))
    .bind(hash)
    .bind(note)
    .execute(pool)
    .await?;
    Ok(())
}

/// Duplicate detection refused the create and no existing record could be named.
pub async fn duplicate_unlinked(pool: &PgPool, owner: &str, company_id: i64, note: &str) -> Result<(), sqlx::Error> {
    finish(pool, owner, company_id, "duplicate", note).await
}

pub async fn failed(pool: &PgPool, owner: &str, company_id: i64, error: &str) -> Result<(), sqlx::Error> {
    finish(pool, owner, company_id, "failed", error).await
}

async fn finish(pool: &PgPool, owner: &str, company_id: i64, state: &str, note: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE d365_push SET state = $3, last_error = $4, leased_by = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE company_id = $1 AND leased_by = $2",
    )
    .bind(company_id)
    .bind(owner)
    .bind(state)
    .bind(note)
    .execute(pool)
    .await?;
    Ok(())
}

/// Back to pending after `delay`. `counts` = false hands the attempt back (throttling, outages and
/// configuration problems are not the lead's fault and must never fail it).
pub async fn retry_later(
    pool: &PgPool,
    owner: &str,
    company_id: i64,
    delay: Duration,
    error: &str,
    counts: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE d365_push
            SET state = 'pending', next_attempt_at = now() + make_interval(secs => $3), last_error = $4,
                attempts = CASE WHEN $5 THEN attempts ELSE greatest(attempts - 1, 0) END,
                leased_by = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE company_id = $1 AND leased_by = $2",
    )
    .bind(company_id)
    .bind(owner)
    .bind(delay.as_secs_f64())
    .bind(error)
    .bind(counts)
    .execute(pool)
    .await?;
    Ok(())
}

/// Hands back what earlier runs of this daemon were pushing (they died mid-push). The lookup-before-
/// create (or the upsert) makes pushing them again safe.
pub async fn release_orphans(pool: &PgPool, owner_pattern: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE d365_push SET state = 'pending', leased_by = NULL, lease_expires_at = NULL,
                attempts = greatest(attempts - 1, 0), updated_at = now()
          WHERE state = 'in_flight' AND leased_by LIKE $1",
    )
    .bind(owner_pattern)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes audit rows older than `keep`.
pub async fn prune_audit(pool: &PgPool, keep: Duration) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM d365_audit WHERE at < now() - make_interval(secs => $1)")
        .bind(keep.as_secs_f64())
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// One line for the sync screen; an error while leads wait on a problem or have failed.
pub async fn status_line(
    pool: &PgPool,
    health: &super::worker::Health,
    throttle: &super::client::ThrottleState,
) -> anyhow::Result<String> {
    let (pending, in_flight, synced, failed, duplicate): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'in_flight'),
                count(*) FILTER (WHERE state = 'synced'), count(*) FILTER (WHERE state = 'failed'),
                count(*) FILTER (WHERE state = 'duplicate')
           FROM d365_push",
    )
    .fetch_one(pool)
    .await?;
    let mut line = format!(
        "queue {pending} pending, {in_flight} in flight; {synced} synced, {failed} failed, {duplicate} duplicate in D365"
    );
    if throttle.throttled_calls > 0 {
        let now = std::time::Instant::now();
        let state = match throttle.paused_until {
            Some(until) if until > now => format!("throttled for {}s more", (until - now).as_secs() + 1),
            _ => "not throttled now".into(),
        };
        line.push_str(&format!(
            "; {} throttled call(s), last {} ({state})",
            throttle.throttled_calls,
            throttle.last_code.as_deref().unwrap_or("429")
        ));
    }
    let problem_now = match (health.last_error_at, health.last_success_at) {
        (Some(e), Some(ok)) => e > ok,
        (Some(_), None) => true,
        _ => false,
    };
    match &health.last_error {
        Some(error) if problem_now && pending + in_flight > 0 => anyhow::bail!("{line}; last error: {error}"),
        Some(error) => Ok(format!("{line}; last error (since recovered): {error}")),
        None => Ok(line),
    }
}

/// A push batch's counts by state (the wire type itself; failures and the last error are left to
/// the caller).
pub async fn batch_counts(pool: &PgPool, batch_id: Uuid) -> Result<protocol::PushProgress, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM d365_push WHERE batch_id = $1 GROUP BY state")
            .bind(batch_id)
            .fetch_all(pool)
            .await?;
    let mut c = protocol::PushProgress::default();
    for (state, n) in rows {
        let n = n as u64;
        c.total += n;
        match state.as_str() {
            "pending" => c.pending += n,
            "in_flight" => c.in_flight += n,
            "synced" => c.synced += n,
            "failed" => c.failed += n,
            _ => c.duplicate += n,
        }
    }
    Ok(c)
}

/// When the batch was requested (its earliest lead), if it exists.
pub async fn batch_requested_at(
    pool: &PgPool,
    batch_id: Uuid,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(requested_at) FROM d365_push WHERE batch_id = $1")
        .bind(batch_id)
        .fetch_one(pool)
        .await
}

/// Failures of a batch: domain and error, for `push --wait` to print.
pub async fn batch_failures(pool: &PgPool, batch_id: Uuid) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.domain, coalesce(p.last_error, '') FROM d365_push p JOIN companies c ON c.id = p.company_id
          WHERE p.batch_id = $1 AND p.state = 'failed' ORDER BY c.domain LIMIT 100",
    )
    .bind(batch_id)
    .fetch_all(pool)
    .await
}

/// What pushing each company would do: `(domain, create, columns sent)`.
pub async fn plans(
    pool: &PgPool,
    mapping: &super::mapping::MappingSettings,
    company_ids: &[i64],
) -> Result<Vec<(String, bool, Vec<String>)>, sqlx::Error> {
    let mut plans = Vec::with_capacity(company_ids.len());
    for &id in company_ids {
        let Some(facts) = load_facts(pool, id).await? else { continue };
        let prior: Option<(Option<Uuid>, Option<Value>)> =
            sqlx::query_as("SELECT lead_id, sent_payload FROM d365_push WHERE company_id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
        let (lead_id, sent) = prior.unwrap_or((None, None));
        let prior = Prior {
            lead_id,
            sent_payload: sent.and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            }),
            payload_hash: None,
        };
        let payload = super::mapping::lead_payload(&facts, mapping);
        let (create, fields) = super::push::planned(&prior, &payload);
        plans.push((facts.domain, create, fields.keys().cloned().collect()));
    }
    Ok(plans)
}

/// The facts the mapping needs, from the lead's current state and score.
pub async fn load_facts(pool: &PgPool, company_id: i64) -> Result<Option<LeadFacts>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        domain: String,
        company_name: Option<String>,
        provider: Option<String>,
        tenant_size: Option<String>,
        score: Option<i32>,
        segment: Option<String>,
        commercial_segment: Option<String>,
        technical_heat: Option<String>,
        priority: Option<String>,
        legacy_priority: Option<i16>,
        infrastructure_summary: Option<String>,
        sales_summary: Option<Value>,
        referral_id: Option<String>,
        referral_email: Option<String>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT c.domain, c.company_name, ls.provider, ls.tenant_size, ls.score, ls.segment,
                ls.commercial_segment, ls.technical_heat, ls.priority, ls.legacy_priority,
                ls.infrastructure_summary, sc.sales_summary, r.referral_id, r.referral_email
           FROM companies c
           LEFT JOIN lead_state ls ON ls.company_id = c.id
           LEFT JOIN scores sc ON sc.id = ls.score_id
           -- The newest Partner Center referral linked to the company; its contact at the company's
           -- own domain first.
           LEFT JOIN LATERAL (
                SELECT p.referral_id,
                       (SELECT e FROM unnest(p.contact_emails) e
                         ORDER BY lower(e) LIKE '%@' || c.domain DESC LIMIT 1) AS referral_email
                  FROM pc_referrals p WHERE p.company_id = c.id
                 ORDER BY p.updated_time DESC NULLS LAST, p.id DESC LIMIT 1) r ON TRUE
          WHERE c.id = $1",
    )
    .bind(company_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let summary = |field: &str| {
            r.sales_summary.as_ref().and_then(|s| s.get(field)).and_then(Value::as_str).map(str::to_string)
        };
        LeadFacts {
            sales_one_liner: summary("one_liner"),
            sales_next_step: summary("next_step"),
            domain: r.domain,
            company: r.company_name,
            provider: r.provider,
            tenant_size: r.tenant_size,
            score: r.score,
            segment: r.segment,
            commercial_segment: r.commercial_segment,
            technical_heat: r.technical_heat,
            priority: r.priority,
            legacy_priority: r.legacy_priority,
            infrastructure_summary: r.infrastructure_summary,
            referral: r.referral_id.map(|id| ReferralFacts { id, contact_email: r.referral_email }),
        }
    }))
}
