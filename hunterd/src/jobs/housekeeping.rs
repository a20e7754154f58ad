//! Keeps the work queue healthy: work claimed by a daemon that died is handed back after its lease
//! expires, and finished work is pruned.

use super::{JobContext, JobFn, JobSpec};
use std::sync::Arc;
use std::time::Duration;

pub const NAME: &str = "housekeeping";

pub fn spec() -> JobSpec {
    let run: JobFn = Arc::new(|ctx: JobContext| Box::pin(async move { run(&ctx.pool).await }));
    JobSpec {
        name: NAME,
        description: "Requeue work whose daemon stopped; prune finished work older than 7 days",
        interval: Duration::from_secs(60),
        enabled: true,
        run_on_start: true,
        run,
    }
}

pub async fn run(pool: &sqlx::PgPool) -> anyhow::Result<String> {
    let requeued = sqlx::query(
        "UPDATE job_queue
            SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                leased_by = NULL, lease_expires_at = NULL,
                last_error = COALESCE(last_error, 'the daemon working on it stopped (lease expired)'),
                updated_at = now()
          WHERE state = 'running' AND lease_expires_at < now()",
    )
    .execute(pool)
    .await?
    .rows_affected();
    let pruned = sqlx::query("DELETE FROM job_queue WHERE state = 'done' AND updated_at < now() - interval '7 days'")
        .execute(pool)
        .await?
        .rows_affected();
    Ok(format!("requeued {requeued} abandoned job(s); pruned {pruned} finished job(s)"))
}
