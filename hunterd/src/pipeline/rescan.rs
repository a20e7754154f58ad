//! The periodic rescan: leads whose last scan is older than `scan.rescan_interval` (or that were never
//! scanned and are not queued) go back into the queue, at a lower priority than work people asked for.

use std::time::Duration;

pub const NAME: &str = "rescans";
/// At most this many per run, so one run never floods the queue; the next run takes the rest.
const PER_RUN: i64 = 50_000;

pub async fn run(pool: &sqlx::PgPool, rescan_interval: Duration) -> anyhow::Result<String> {
    let queued = queue_due(pool, rescan_interval, PER_RUN).await?;
    Ok(format!("queued {queued} rescan(s)"))
}

/// Queues up to `limit` due leads, longest unscanned first, at priority 0; a lead already queued or
/// running is skipped. Returns how many were queued. Never-scanned leads and the oldest scans are each
/// an index walk over lead_list's `scanned_at` (the list's copy of lead_state's), not a pass over every
/// lead.
pub async fn queue_due(pool: &sqlx::PgPool, rescan_interval: Duration, limit: i64) -> Result<u64, sqlx::Error> {
    let queued = sqlx::query(
        "INSERT INTO job_queue (kind, payload, dedup_key, priority)
         SELECT 'scan', jsonb_build_object('company_id', due.company_id), due.company_id::text, 0
           FROM ((SELECT company_id, scanned_at FROM lead_list WHERE scanned_at IS NULL LIMIT $2)
                 UNION ALL
                 (SELECT company_id, scanned_at FROM lead_list
                   WHERE scanned_at < now() - make_interval(secs => $1) ORDER BY scanned_at LIMIT $2)) due
          ORDER BY due.scanned_at NULLS FIRST
          LIMIT $2
         ON CONFLICT (kind, dedup_key) WHERE state IN ('queued', 'running') DO NOTHING",
    )
    .bind(rescan_interval.as_secs_f64())
    .bind(limit)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(queued)
}
