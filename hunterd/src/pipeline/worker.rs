//! The scan worker: claims scan items from the shared queue, evaluates them concurrently, stores the
//! results, and reports progress to subscribed clients.

use super::engine::Engine;
use super::store;
use crate::jobs::queue::{self, QueueItem};
use crate::scan::ScanStatus;
use protocol::Event;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, broadcast, watch};

/// A claim outlives any single scan by far; the housekeeping job hands back items of dead daemons.
const LEASE: Duration = Duration::from_secs(300);
/// Claim in chunks so one daemon does not hoard a big queue another daemon could help with.
const MAX_CLAIM: usize = 64;
const IDLE_POLL: Duration = Duration::from_millis(500);

pub struct ScanWorker {
    pub pool: PgPool,
    pub engine: Arc<Engine>,
    pub owner: String,
    /// Domains scanned at once by this daemon.
    pub capacity: usize,
    pub wake: Arc<Notify>,
    pub events: broadcast::Sender<Event>,
}

impl ScanWorker {
    /// Runs until shutdown; scans in flight are allowed to finish (up to their DNS timeouts).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.capacity.max(1)));
        let finished = Arc::new(AtomicU64::new(0));
        let reporter = tokio::spawn(report_progress(self.pool.clone(), finished.clone(), self.events.clone()));
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = slots.available_permits().min(MAX_CLAIM);
            let items = if free == 0 {
                Vec::new()
            } else {
                match queue::claim(&self.pool, "scan", &self.owner, free as i64, LEASE).await {
                    Ok(items) => items,
                    Err(e) => {
                        tracing::warn!("could not claim scans: {e}");
                        Vec::new()
                    }
                }
            };
            if items.is_empty() {
                let pause = if free == 0 { Duration::from_millis(20) } else { IDLE_POLL };
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = self.wake.notified() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            for item in items {
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let (pool, engine, owner, finished) =
                    (self.pool.clone(), self.engine.clone(), self.owner.clone(), finished.clone());
                tokio::spawn(async move {
                    process(&pool, &engine, &owner, item).await;
                    finished.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                });
            }
        }
        // Let scans in flight finish and store; their items would otherwise wait for the lease.
        let _ = tokio::time::timeout(Duration::from_secs(30), slots.acquire_many(self.capacity.max(1) as u32)).await;
        reporter.abort();
    }
}

async fn process(pool: &PgPool, engine: &Engine, owner: &str, item: QueueItem) {
    let Some(company_id) = item.payload.get("company_id").and_then(serde_json::Value::as_i64) else {
        let _ = queue::fail(pool, &item, owner, "queue item without a company_id").await;
        return;
    };
    let domain: Option<String> = match sqlx::query_scalar("SELECT domain FROM companies WHERE id = $1")
        .bind(company_id)
        .fetch_optional(pool)
        .await
    {
        Ok(domain) => domain,
        Err(e) => {
            let _ = queue::fail(pool, &item, owner, &format!("database error: {e}")).await;
            return;
        }
    };
    let Some(domain) = domain else {
        // The company was deleted after it was queued: nothing to do.
        let _ = queue::complete(pool, &[item.id], owner).await;
        return;
    };
    // Registration data changes slowly: reuse a lookup from the last 30 days.
    let known: Option<protocol::Registration> = sqlx::query_scalar::<_, serde_json::Value>(
        "SELECT registration FROM scans WHERE company_id = $1 AND registration IS NOT NULL
            AND started_at > now() - interval '30 days' ORDER BY id DESC LIMIT 1",
    )
    .bind(company_id)
    .fetch_optional(pool)
    .await
    .ok()
    .flatten()
    .and_then(|v| serde_json::from_value(v).ok());
    let outcome = engine.evaluate(company_id, &domain, known).await;
    if is_transient(outcome.scan.status) {
        let attempt = item.payload.get("transient_attempt").and_then(serde_json::Value::as_i64).unwrap_or(0);
        let stored = store::store_transient(
            pool,
            company_id,
            &outcome.scan,
            outcome.started_at,
            outcome.duration_ms,
            Some((item.id, owner)),
            attempt,
        )
        .await;
        if let Err(e) = stored {
            tracing::warn!(%domain, "could not store the failed scan: {e}");
            let _ = queue::fail(pool, &item, owner, &format!("could not store the scan: {e}")).await;
        }
        return;
    }
    if let Err(e) = store::store(pool, &outcome, Some((item.id, owner))).await {
        tracing::warn!(%domain, "could not store the scan: {e}");
        let _ = queue::fail(pool, &item, owner, &format!("could not store the scan: {e}")).await;
    }
}

/// Failures of the resolvers, not facts about the domain.
fn is_transient(status: ScanStatus) -> bool {
    matches!(status, ScanStatus::Timeout | ScanStatus::Servfail | ScanStatus::Refused)
}

/// Once a second while scans finish: how many are done and left, and that lists should refresh.
async fn report_progress(pool: PgPool, finished: Arc<AtomicU64>, events: broadcast::Sender<Event>) {
    let mut reported = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let done = finished.load(Ordering::Relaxed);
        if done == reported {
            continue;
        }
        let remaining: i64 =
            sqlx::query_scalar("SELECT count(*) FROM job_queue WHERE kind = 'scan' AND state IN ('queued', 'running')")
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
        let _ = events.send(Event::Progress {
            job: "scan".into(),
            done,
            total: Some(done + remaining.max(0) as u64),
            message: format!("{} domain(s) scanned, {remaining} waiting", done - reported),
        });
        let _ = events.send(Event::LeadsChanged { count: done - reported });
        reported = done;
    }
}
