//! The scan worker: claims scan items from the shared queue, evaluates them concurrently, hands the
//! results to writers that store them in batches, and reports progress to subscribed clients.

use super::engine::Engine;
use super::store::{self, ScanOutcome};
use crate::db::supervisor::{DbHealth, retry_through_outage};
use crate::jobs::queue::{self, QueueItem};
use crate::partner_center::referral::CompanyReferrals;
use crate::scan::ScanStatus;
use protocol::Event;
use sqlx::{PgPool, Row};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc, watch};

/// A claim outlives any single scan by far; the housekeeping job hands back items of dead daemons.
const LEASE: Duration = Duration::from_secs(300);
/// Claim in chunks so one daemon does not hoard a big queue another daemon could help with.
const MAX_CLAIM: usize = 64;
const IDLE_POLL: Duration = Duration::from_millis(500);
/// A batch is written when it holds this many results, or when its first result has waited
/// [`FLUSH_AFTER`]: lists and `--wait` progress stay live while a batch fills.
const MAX_BATCH: usize = 256;
/// Writers storing batches side by side, each for its own share of the companies (so one company's
/// results stay in order): one PostgreSQL backend storing while the other waits on its round trips.
const WRITERS: usize = 2;
const FLUSH_AFTER: Duration = Duration::from_millis(50);
/// How long finished scans wait for the database to come back before they are given up (and
/// rescanned after their lease); shorter than the lease, so no other daemon has taken them meanwhile.
const STORE_PATIENCE: Duration = Duration::from_secs(240);

/// Items claimed and not yet stored; after a database outage, this daemon's other leases are orphans.
type InFlight = Arc<std::sync::Mutex<std::collections::HashSet<i64>>>;

fn forget(in_flight: &InFlight, ids: impl IntoIterator<Item = i64>) {
    if let Ok(mut set) = in_flight.lock() {
        for id in ids {
            set.remove(&id);
        }
    }
}

pub struct ScanWorker {
    pub pool: PgPool,
    pub engine: Arc<Engine>,
    pub owner: String,
    /// Domains scanned at once by this daemon.
    pub capacity: usize,
    pub wake: Arc<Notify>,
    pub events: broadcast::Sender<Event>,
    /// `whois.cache_ttl` when registration lookups are on: older registrations are queued again.
    pub registration_ttl: Option<Duration>,
    /// Counts the database's recoveries: after one, claims nobody works on any more are handed back.
    pub health: Arc<DbHealth>,
}

impl ScanWorker {
    /// Runs until shutdown; scans in flight are allowed to finish (up to their DNS timeouts).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.capacity.max(1)));
        let finished = Arc::new(AtomicU64::new(0));
        let reporter = tokio::spawn(report_progress(self.pool.clone(), finished.clone(), self.events.clone()));
        let in_flight: InFlight = Arc::default();
        let mut orphans = queue::OrphanSweep::new("scan", self.owner.clone(), self.health.clone());
        let (mut senders, mut writers) = (Vec::with_capacity(WRITERS), Vec::with_capacity(WRITERS));
        for _ in 0..WRITERS {
            let (results, pending) = mpsc::channel(MAX_BATCH * 2);
            senders.push(results);
            writers.push(tokio::spawn(write_batches(
                self.pool.clone(),
                self.owner.clone(),
                pending,
                finished.clone(),
                in_flight.clone(),
            )));
        }
        let results: Arc<[mpsc::Sender<Finished>]> = senders.into();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let free = slots.available_permits().min(MAX_CLAIM);
            let items = if free == 0 {
                Vec::new()
            } else {
                orphans
                    .sweep_if_due(&self.pool, || {
                        in_flight.lock().map(|s| s.iter().copied().collect()).unwrap_or_default()
                    })
                    .await;
                match claim_scans(&self.pool, &self.owner, free as i64, self.registration_ttl).await {
                    Ok(items) => items,
                    Err(e) => {
                        orphans.met(&e);
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
                let (pool, engine, owner, finished, results) =
                    (self.pool.clone(), self.engine.clone(), self.owner.clone(), finished.clone(), results.clone());
                let (id, in_flight) = (item.item.id, in_flight.clone());
                if let Ok(mut set) = in_flight.lock() {
                    set.insert(id);
                }
                tokio::spawn(async move {
                    // `true`: handled here; otherwise the writer forgets it once stored.
                    if process(&pool, &engine, &owner, item, &results).await {
                        forget(&in_flight, [id]);
                        finished.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(permit);
                });
            }
        }
        // Let scans in flight finish and store; their items would otherwise wait for the lease.
        let _ = tokio::time::timeout(Duration::from_secs(30), slots.acquire_many(self.capacity.max(1) as u32)).await;
        // The writers store what is left once every sender is gone.
        drop(results);
        for writer in writers {
            let _ = writer.await;
        }
        reporter.abort();
    }
}

/// A claimed scan with what it needs to start: the domain, the registration the registration queue
/// last found, and whether a fresh lookup is due.
struct ClaimedScan {
    item: QueueItem,
    domain: Option<String>,
    known_registration: Option<protocol::Registration>,
    registration_due: bool,
    referrals: CompanyReferrals,
}

/// Claims scans and reads their domains and registrations in one round trip. `registration_ttl`
/// `None` (lookups off) never makes a lookup due.
async fn claim_scans(
    pool: &PgPool,
    owner: &str,
    n: i64,
    registration_ttl: Option<Duration>,
) -> Result<Vec<ClaimedScan>, sqlx::Error> {
    static CLAIM_SCANS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH claimed AS ({})
             SELECT c.id, c.payload, c.attempts, c.max_attempts, co.domain, r.data AS registration,
                    $5::float8 IS NOT NULL AND (r.company_id IS NULL OR r.checked_at IS NULL
                        OR r.checked_at < now() - make_interval(secs => $5::float8)) AS registration_due,
                    (SELECT array_agg(DISTINCT p.referral_kind) FROM pc_referrals p
                      WHERE p.company_id = co.id AND p.referral_kind IS NOT NULL) AS referral_kinds,
                    (SELECT jsonb_agg(jsonb_build_object('azureTenantId', p.raw->'azureTenantId',
                                'customerProfile', jsonb_build_object('ids', p.raw->'customerProfile'->'ids')))
                       FROM pc_referrals p WHERE p.company_id = co.id) AS referral_tenants
               FROM claimed c LEFT JOIN companies co ON co.id = (c.payload->>'company_id')::bigint
               LEFT JOIN registrations r ON r.company_id = co.id",
            queue::CLAIM_SQL
        )
    });
    let rows = sqlx::query(CLAIM_SCANS.as_str())
        .bind("scan")
        .bind(owner)
        .bind(n)
        .bind(LEASE.as_secs_f64())
        .bind(registration_ttl.map(|ttl| ttl.as_secs_f64()))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ClaimedScan {
                item: QueueItem {
                    id: r.try_get("id")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                    max_attempts: r.try_get("max_attempts")?,
                },
                domain: r.try_get("domain")?,
                known_registration: r
                    .try_get::<Option<serde_json::Value>, _>("registration")?
                    .and_then(|v| serde_json::from_value(v).ok()),
                registration_due: r.try_get::<Option<bool>, _>("registration_due")?.unwrap_or(false),
                referrals: CompanyReferrals::from_stored(
                    r.try_get::<Option<Vec<String>>, _>("referral_kinds")?.unwrap_or_default(),
                    r.try_get::<Option<serde_json::Value>, _>("referral_tenants")?
                        .as_ref()
                        .and_then(serde_json::Value::as_array)
                        .map_or(&[][..], Vec::as_slice),
                ),
            })
        })
        .collect()
}

/// A scored result on its way to the writer.
struct Finished {
    outcome: ScanOutcome,
    item: QueueItem,
}

/// Evaluates one claimed scan and stores it (a scored result through the batch writer, which counts
/// it; a transient failure right here). Returns whether it is finished and not yet counted.
async fn process(
    pool: &PgPool,
    engine: &Engine,
    owner: &str,
    claimed: ClaimedScan,
    results: &[mpsc::Sender<Finished>],
) -> bool {
    let ClaimedScan { item, domain, known_registration: known, registration_due, referrals } = claimed;
    let Some(company_id) = item.payload.get("company_id").and_then(serde_json::Value::as_i64) else {
        let _ = queue::fail(pool, &item, owner, "queue item without a company_id").await;
        return true;
    };
    let Some(domain) = domain else {
        // The company was deleted after it was queued: nothing to do.
        let _ = queue::complete(pool, &[item.id], owner).await;
        return true;
    };
    let mut outcome = engine.evaluate_with(company_id, &domain, known, &referrals).await;
    outcome.registration_due = registration_due;
    if is_transient(outcome.scan.status) {
        let attempt = item.payload.get("transient_attempt").and_then(serde_json::Value::as_i64).unwrap_or(0);
        let stored = retry_through_outage(STORE_PATIENCE, || {
            store::store_transient(
                pool,
                company_id,
                &outcome.scan,
                outcome.started_at,
                outcome.duration_ms,
                Some((item.id, owner)),
                attempt,
            )
        })
        .await;
        if let Err(e) = stored {
            tracing::warn!(%domain, "could not store the failed scan: {e}");
            let _ = queue::fail(pool, &item, owner, &format!("could not store the scan: {e}")).await;
        }
        return true;
    }
    // A company's results always go to the same writer, in the order they finish. A writer only stops
    // after every sender is dropped, so this cannot fail while we hold one.
    let writer = company_id.rem_euclid(results.len().max(1) as i64) as usize;
    if let Some(results) = results.get(writer) {
        let _ = results.send(Finished { outcome, item }).await;
    }
    false
}

/// One writer: collects its share of the results into batches and stores each in one transaction.
async fn write_batches(
    pool: PgPool,
    owner: String,
    mut pending: mpsc::Receiver<Finished>,
    finished: Arc<AtomicU64>,
    in_flight: InFlight,
) {
    let mut batch: Vec<Finished> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = pending.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + FLUSH_AFTER;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, pending.recv()).await {
                Ok(Some(next)) => batch.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        let ids: Vec<i64> = batch.iter().map(|r| r.item.id).collect();
        let stored = write_batch(&pool, &owner, std::mem::take(&mut batch)).await;
        forget(&in_flight, ids);
        finished.fetch_add(stored, Ordering::Relaxed);
    }
}

/// Stores a batch; if the batch as a whole fails, each result alone, so one bad result fails only
/// its own queue item. Returns how many were stored.
async fn write_batch(pool: &PgPool, owner: &str, batch: Vec<Finished>) -> u64 {
    // A company twice in one batch (a rescan of a lead whose scan just finished) goes in a later one.
    let mut groups: Vec<Vec<Finished>> = Vec::new();
    for result in batch {
        let company = result.outcome.company_id;
        match groups.iter_mut().find(|g| g.iter().all(|r| r.outcome.company_id != company)) {
            Some(group) => group.push(result),
            None => groups.push(vec![result]),
        }
    }
    let mut stored = 0;
    for group in groups {
        let (outcomes, items): (Vec<ScanOutcome>, Vec<QueueItem>) =
            group.into_iter().map(|r| (r.outcome, r.item)).unzip();
        let jobs: Vec<i64> = items.iter().map(|item| item.id).collect();
        // Finished scans survive a database outage: they are stored once the database is back.
        match retry_through_outage(STORE_PATIENCE, || store::store_batch(pool, &outcomes, &jobs, Some(owner))).await {
            Ok(_) => stored += outcomes.len() as u64,
            Err(e) if outcomes.len() > 1 => {
                tracing::warn!("could not store a batch of {} scans, storing them one by one: {e}", outcomes.len());
                for (outcome, item) in outcomes.iter().zip(&items) {
                    let one = || store::store(pool, outcome, Some((item.id, owner)));
                    match retry_through_outage(STORE_PATIENCE, one).await {
                        Ok(_) => stored += 1,
                        Err(e) => fail_store(pool, owner, outcome, item, &e).await,
                    }
                }
            }
            Err(e) => {
                if let (Some(outcome), Some(item)) = (outcomes.first(), items.first()) {
                    fail_store(pool, owner, outcome, item, &e).await;
                }
            }
        }
    }
    stored
}

async fn fail_store(pool: &PgPool, owner: &str, outcome: &ScanOutcome, item: &QueueItem, e: &sqlx::Error) {
    tracing::warn!(domain = %outcome.scan.domain, "could not store the scan: {e}");
    let _ = queue::fail(pool, item, owner, &format!("could not store the scan: {e}")).await;
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
