//! The PostgreSQL work queue shared by every hunterd on a database.
//!
//! Items are claimed with `FOR UPDATE SKIP LOCKED`, so several daemons drain one queue without
//! taking the same item twice; a claim is a lease, and an item whose daemon died is handed back by
//! the housekeeping job once the lease expires. At most one item per (kind, dedup key) is queued or
//! running at a time, so asking twice to scan a domain queues one scan.

use protocol::BatchProgress;
use sqlx::{PgConnection, PgPool, Row};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct QueueItem {
    pub id: i64,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Queues a scan for each company (skipping those already queued or running). Returns how many were added.
pub async fn enqueue_scans(pool: &PgPool, company_ids: &[i64], priority: i16) -> Result<u64, sqlx::Error> {
    if company_ids.is_empty() {
        return Ok(0);
    }
    let added = sqlx::query(
        "INSERT INTO job_queue (kind, payload, dedup_key, priority)
         SELECT 'scan', jsonb_build_object('company_id', id), id::text, $2
           FROM unnest($1::bigint[]) AS id
         ON CONFLICT (kind, dedup_key) WHERE state IN ('queued', 'running') DO NOTHING",
    )
    .bind(company_ids)
    .bind(priority)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(added)
}

/// The claim, shared by [`claim`] and the scan worker (which wraps it to fetch each item's domain in
/// the same round trip): `$1` kind, `$2` owner, `$3` how many, `$4` lease in seconds. Highest priority
/// first, then the longest ready (a retried item's `run_after` is when its backoff ended): the order of
/// `job_queue_claim_idx`, so a claim reads only the items it takes.
pub const CLAIM_SQL: &str = "UPDATE job_queue q
            SET state = 'running', leased_by = $2, lease_expires_at = now() + make_interval(secs => $4),
                attempts = q.attempts + 1, updated_at = now()
          WHERE q.id IN (SELECT id FROM job_queue
                          WHERE kind = $1 AND state = 'queued' AND run_after <= now()
                          ORDER BY priority DESC, run_after, id
                          LIMIT $3
                          FOR UPDATE SKIP LOCKED)
          RETURNING q.id, q.payload, q.attempts, q.max_attempts";

/// Claims up to `n` ready items of `kind` for `owner`, leased for `lease`.
pub async fn claim(
    pool: &PgPool,
    kind: &str,
    owner: &str,
    n: i64,
    lease: Duration,
) -> Result<Vec<QueueItem>, sqlx::Error> {
    let rows = sqlx::query(CLAIM_SQL).bind(kind).bind(owner).bind(n).bind(lease.as_secs_f64()).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(QueueItem {
                id: r.try_get("id")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
                max_attempts: r.try_get("max_attempts")?,
            })
        })
        .collect()
}

/// Marks items finished (only if this owner still holds them).
pub async fn complete(executor: impl sqlx::PgExecutor<'_>, ids: &[i64], owner: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE job_queue SET state = 'done', leased_by = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE id = ANY($1) AND leased_by = $2",
    )
    .bind(ids)
    .bind(owner)
    .execute(executor)
    .await?
    .rows_affected())
}

/// Records a failure: retried later with backoff until `max_attempts`, then marked failed.
pub async fn fail(pool: &PgPool, item: &QueueItem, owner: &str, error: &str) -> Result<(), sqlx::Error> {
    let backoff = retry_backoff(item.attempts);
    sqlx::query(
        "UPDATE job_queue
            SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                run_after = now() + make_interval(secs => $3), last_error = $4,
                leased_by = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE id = $1 AND leased_by = $2",
    )
    .bind(item.id)
    .bind(owner)
    .bind(backoff.as_secs_f64())
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Keeps leases of items still being worked on.
pub async fn extend_leases(pool: &PgPool, ids: &[i64], owner: &str, lease: Duration) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE job_queue SET lease_expires_at = now() + make_interval(secs => $3)
          WHERE id = ANY($1) AND leased_by = $2 AND state = 'running'",
    )
    .bind(ids)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// Hands back items leased by `owner` except `keep` (the ones it is still working on): claims whose
/// answer was lost to a database outage, completions lost with the commits a crash undid, or a
/// previous run's leases (see [`super::owner::every_run`]). `kind` `None` matches every kind. The attempt those
/// claims counted is given back too. `owner` may end with `%` to match a prefix.
pub async fn release_orphans(pool: &PgPool, kind: Option<&str>, owner: &str, keep: &[i64]) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE job_queue
            SET state = 'queued', leased_by = NULL, lease_expires_at = NULL,
                attempts = GREATEST(attempts - 1, 0), updated_at = now()
          WHERE state = 'running' AND leased_by LIKE $1 AND NOT (id = ANY($2))
            AND ($3::text IS NULL OR kind = $3)",
    )
    .bind(owner)
    .bind(keep)
    .bind(kind)
    .execute(pool)
    .await?
    .rows_affected())
}

/// When a worker should look for its own orphaned claims: after the database came back from an
/// outage (the supervisor counts recoveries) or after one of the worker's own queries met one.
///
/// Scan results commit without waiting for the WAL flush, so a crash of the server can undo a
/// completion the worker already saw succeed: that item is `running` under this daemon's name with
/// no task working on it, and only a sweep after the recovery hands it back before its lease ends.
#[derive(Debug)]
pub struct OrphanSweep {
    kind: &'static str,
    owner: String,
    health: std::sync::Arc<crate::db::supervisor::DbHealth>,
    recoveries_seen: u64,
    outage_met: bool,
}

impl OrphanSweep {
    pub fn new(kind: &'static str, owner: String, health: std::sync::Arc<crate::db::supervisor::DbHealth>) -> Self {
        let recoveries_seen = health.recoveries();
        OrphanSweep { kind, owner, health, recoveries_seen, outage_met: false }
    }

    /// Notes an error of the worker's own: an outage makes a sweep due.
    pub fn met(&mut self, e: &sqlx::Error) {
        self.outage_met |= crate::db::supervisor::is_outage(e);
    }

    /// Hands back the worker's orphans if a sweep is due; `keep` lists the items it is working on
    /// (read only when due). Returns how many were handed back; a failed sweep stays due.
    pub async fn sweep_if_due(&mut self, pool: &PgPool, keep: impl FnOnce() -> Vec<i64>) -> u64 {
        let recoveries = self.health.recoveries();
        if !self.outage_met && recoveries == self.recoveries_seen {
            return 0;
        }
        match release_orphans(pool, Some(self.kind), &self.owner, &keep()).await {
            Ok(n) => {
                self.outage_met = false;
                self.recoveries_seen = recoveries;
                if n > 0 {
                    tracing::info!(
                        "handed back {n} {} item(s) whose claim or completion the database outage lost",
                        self.kind
                    );
                }
                n
            }
            Err(e) => {
                tracing::debug!("cannot hand back orphaned {} items yet: {e}", self.kind);
                0
            }
        }
    }
}

/// 30 s, 2 min, 8 min, … capped at 1 h: a transient DNS or database problem gets time to clear.
pub fn retry_backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 8) as u32 - 1;
    Duration::from_secs((30u64 * 4u64.pow(exp)).min(3600))
}

/// Records which companies a user's add/import/rescan concerns, for `--wait`.
pub async fn create_batch(pool: &PgPool, kind: &str, company_ids: &[i64]) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO batches (id, kind) VALUES ($1::uuid, $2)").bind(&id).bind(kind).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO batch_members (batch_id, company_id) SELECT $1::uuid, c FROM unnest($2::bigint[]) AS c ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(company_ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Records the login of whoever asked for a batch.
pub async fn sign_batch(pool: &PgPool, batch_id: &str, by: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE batches SET requested_by = $2 WHERE id = $1::uuid")
        .bind(batch_id)
        .bind(by)
        .execute(pool)
        .await?;
    Ok(())
}

/// Members scanned since the batch was created, out of all members: one pass over the members (a
/// `--wait` asks this every few hundred milliseconds while thousands of scans are being stored).
pub async fn batch_progress(pool: &PgPool, batch_id: &str) -> Result<Option<BatchProgress>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT p.total, p.done
           FROM batches b
          CROSS JOIN LATERAL (
                SELECT count(*) AS total, count(*) FILTER (WHERE ls.scanned_at >= b.created_at) AS done
                  FROM batch_members m LEFT JOIN lead_state ls ON ls.company_id = m.company_id
                 WHERE m.batch_id = b.id) p
          WHERE b.id = $1::uuid",
    )
    .bind(batch_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| {
        let total: i64 = r.try_get("total").unwrap_or(0);
        let done: i64 = r.try_get("done").unwrap_or(0);
        BatchProgress { done: done.max(0) as u64, total: total.max(0) as u64 }
    }))
}

/// Queues a rescan of every company and records them all in a new batch, in SQL (no id list in memory).
/// Returns the batch and how many companies it holds.
pub async fn enqueue_all_scans(pool: &PgPool, priority: i16) -> Result<(String, u64), sqlx::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO batches (id, kind) VALUES ($1::uuid, 'rescan')").bind(&id).execute(&mut *tx).await?;
    let members = sqlx::query("INSERT INTO batch_members (batch_id, company_id) SELECT $1::uuid, id FROM companies")
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "INSERT INTO job_queue (kind, payload, dedup_key, priority)
         SELECT 'scan', jsonb_build_object('company_id', id), id::text, $1 FROM companies
         ON CONFLICT (kind, dedup_key) WHERE state IN ('queued', 'running') DO NOTHING",
    )
    .bind(priority)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // Every member will be scanned, whether queued now or already waiting.
    Ok((id, members))
}

/// Turns an intake batch (an add or an import, whose rows carry `batch_id`) into a scan batch: its
/// new companies, and known ones never scanned, are the members and get queued. Known, already
/// scanned companies are not rescanned just because they were imported again.
///
/// Runs inside the caller's transaction, the one that stored the intake: companies are never stored
/// without their scans queued.
pub async fn track_intake_batch(
    tx: &mut PgConnection,
    batch_id: &str,
    kind: &str,
    priority: i16,
) -> Result<u64, sqlx::Error> {
    sqlx::query("INSERT INTO batches (id, kind) VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING")
        .bind(batch_id)
        .bind(kind)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO batch_members (batch_id, company_id)
         SELECT DISTINCT $1::uuid, ir.company_id
           FROM intake_rows ir LEFT JOIN lead_state ls ON ls.company_id = ir.company_id
          WHERE ir.batch_id = $1::uuid AND ir.company_id IS NOT NULL
            AND (ir.outcome = 'accepted' OR (ir.outcome = 'merged' AND ls.scanned_at IS NULL))
         ON CONFLICT DO NOTHING",
    )
    .bind(batch_id)
    .execute(&mut *tx)
    .await?;
    let queued = sqlx::query(
        "INSERT INTO job_queue (kind, payload, dedup_key, priority)
         SELECT 'scan', jsonb_build_object('company_id', company_id), company_id::text, $2
           FROM batch_members WHERE batch_id = $1::uuid
         ON CONFLICT (kind, dedup_key) WHERE state IN ('queued', 'running') DO NOTHING",
    )
    .bind(batch_id)
    .bind(priority)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_at_an_hour() {
        assert_eq!(retry_backoff(1), Duration::from_secs(30));
        assert_eq!(retry_backoff(2), Duration::from_secs(120));
        assert_eq!(retry_backoff(20), Duration::from_secs(3600));
    }
}
