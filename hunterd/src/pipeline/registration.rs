//! Registration lookups (RDAP, then WHOIS) as their own queued work, off the scan path.
//!
//! A scan is stored, scored and shown as soon as its DNS is done; when the company has no fresh
//! registration, the store queues a `registration` item in the same transaction. This worker drains
//! those items: at most `whois.concurrency` lookups at once, each registry server paced to
//! `whois.per_server_per_minute`, a server that times out or rate-limits backed off (its items
//! wait in the queue, not in memory), and the answer merged into the lead (`registrations`) when it
//! arrives. At shutdown lookups in flight are abandoned and their items handed back at once.

use crate::jobs::queue::{self, QueueItem};
use crate::whois::pacing::Pacer;
use crate::whois::{RegistrationSource, WhoisClient, WhoisError};
use protocol::Event;
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinSet;

pub const KIND: &str = "registration";
const LEASE: Duration = Duration::from_secs(600);
const IDLE_POLL: Duration = Duration::from_secs(1);
/// A lookup whose server slot is further away than this goes back to the queue until then.
const HOLD: Duration = Duration::from_secs(5);
/// Shutdown never waits longer than this for the registration queue.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(2);

pub struct RegistrationWorker {
    pub pool: PgPool,
    pub client: Arc<WhoisClient>,
    pub owner: String,
    pub concurrency: usize,
    pub per_server_per_minute: u32,
    /// Both RDAP and WHOIS timeouts: no single lookup runs longer than this.
    pub lookup_cap: Duration,
    pub wake: Arc<Notify>,
    pub events: broadcast::Sender<Event>,
    /// Counts the database's recoveries: after one, claims nobody works on any more are handed back.
    pub health: Arc<crate::db::supervisor::DbHealth>,
}

#[derive(sqlx::FromRow)]
struct ClaimedLookup {
    id: i64,
    payload: serde_json::Value,
    attempts: i32,
    max_attempts: i32,
    company_id: Option<i64>,
    domain: Option<String>,
}

impl ClaimedLookup {
    fn item(&self) -> QueueItem {
        QueueItem {
            id: self.id,
            payload: self.payload.clone(),
            attempts: self.attempts,
            max_attempts: self.max_attempts,
        }
    }
}

/// Shared by the worker loop and its lookup tasks.
struct Shared {
    pool: PgPool,
    client: Arc<WhoisClient>,
    owner: String,
    lookup_cap: Duration,
    events: broadcast::Sender<Event>,
    /// Queue items being looked up, handed back if the daemon stops first.
    running: Mutex<HashSet<i64>>,
    pacer: Mutex<Pacer>,
}

impl RegistrationWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let shared = Arc::new(Shared {
            pool: self.pool,
            client: self.client,
            owner: self.owner,
            lookup_cap: self.lookup_cap,
            events: self.events,
            running: Mutex::new(HashSet::new()),
            pacer: Mutex::new(Pacer::new(self.per_server_per_minute)),
        });
        let capacity = self.concurrency.max(1);
        let mut tasks = JoinSet::new();
        let mut orphans = queue::OrphanSweep::new("registration", shared.owner.clone(), self.health.clone());
        while !*shutdown.borrow() {
            while tasks.try_join_next().is_some() {}
            let free = capacity.saturating_sub(tasks.len());
            orphans.sweep_if_due(&shared.pool, || lock(&shared.running).iter().copied().collect()).await;
            let claimed = if free == 0 { Ok(Vec::new()) } else { claim(&shared, free as i64).await };
            let claimed = claimed.unwrap_or_else(|e| {
                orphans.met(&e);
                tracing::warn!("could not claim registration lookups: {e}");
                Vec::new()
            });
            if claimed.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = self.wake.notified() => {}
                    _ = shutdown.changed() => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
                continue;
            }
            let now = Instant::now();
            let mut deferred = Vec::new();
            let mut started = 0usize;
            for lookup in claimed {
                let (Some(company_id), Some(domain)) = (lookup.company_id, lookup.domain.clone()) else {
                    // The company was deleted after it was queued: nothing to look up.
                    let _ = queue::complete(&shared.pool, &[lookup.id], &shared.owner).await;
                    continue;
                };
                let server = shared.client.registry_server(&domain);
                let wait = {
                    let mut pacer = lock(&shared.pacer);
                    let wait = pacer.wait(&server, now);
                    if wait > HOLD {
                        deferred.push((lookup.id, wait.as_secs_f64()));
                        continue;
                    }
                    pacer.reserve(&server, now)
                };
                lock(&shared.running).insert(lookup.id);
                started += 1;
                let shared = shared.clone();
                tasks.spawn(async move {
                    tokio::time::sleep(wait).await;
                    look_up(&shared, &lookup, company_id, &domain, &server).await;
                    lock(&shared.running).remove(&lookup.id);
                });
            }
            if let Err(e) = hand_back(&shared.pool, &shared.owner, &deferred).await {
                tracing::warn!("could not defer registration lookups: {e}");
            }
            if started == 0 {
                // Every server we were handed is busy or backed off: claiming again at once would only
                // hand the next items back too, thousands of round trips a second during a bulk scan.
                // New items (the store's wakes) wait for the next poll.
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            }
        }
        // Registration is never worth holding a shutdown up: abandon what is in flight and hand it back.
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let running: Vec<(i64, f64)> = lock(&shared.running).drain().map(|id| (id, 0.0)).collect();
        match tokio::time::timeout(SHUTDOWN_PATIENCE, hand_back(&shared.pool, &shared.owner, &running)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("could not hand back registration lookups (their leases will expire): {e}"),
            Err(_) => tracing::warn!("handing back registration lookups took too long; their leases will expire"),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn claim(shared: &Shared, n: i64) -> Result<Vec<ClaimedLookup>, sqlx::Error> {
    static CLAIM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH claimed AS ({})
             SELECT c.id, c.payload, c.attempts, c.max_attempts, co.id AS company_id, co.domain
               FROM claimed c LEFT JOIN companies co ON co.id = (c.payload->>'company_id')::bigint",
            queue::CLAIM_SQL
        )
    });
    sqlx::query_as(CLAIM.as_str())
        .bind(KIND)
        .bind(&shared.owner)
        .bind(n)
        .bind(LEASE.as_secs_f64())
        .fetch_all(&shared.pool)
        .await
}

/// Puts claimed items back in the queue, each to run after its delay in seconds; the claim does not
/// count as an attempt.
async fn hand_back(pool: &PgPool, owner: &str, items: &[(i64, f64)]) -> Result<(), sqlx::Error> {
    if items.is_empty() {
        return Ok(());
    }
    let (ids, delays): (Vec<i64>, Vec<f64>) = items.iter().copied().unzip();
    sqlx::query(
        "UPDATE job_queue q
            SET state = 'queued', attempts = greatest(q.attempts - 1, 0), leased_by = NULL,
                lease_expires_at = NULL, run_after = now() + make_interval(secs => d.delay), updated_at = now()
           FROM unnest($1::bigint[], $2::float8[]) AS d(id, delay)
          WHERE q.id = d.id AND q.leased_by = $3 AND q.state = 'running'",
    )
    .bind(&ids)
    .bind(&delays)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

/// One lookup, its result recorded and its queue item completed or retried.
async fn look_up(shared: &Shared, lookup: &ClaimedLookup, company_id: i64, domain: &str, server: &str) {
    let result = match tokio::time::timeout(shared.lookup_cap, shared.client.lookup(domain)).await {
        Ok(result) => result,
        Err(_) => Err(WhoisError::Timeout { service: server.to_string(), timeout: shared.lookup_cap }),
    };
    let stored = match &result {
        Ok(found) => {
            lock(&shared.pacer).succeeded(server);
            let data = found.as_ref().map(registration_view);
            record_answer(&shared.pool, company_id, data.as_ref(), server, lookup.id, &shared.owner).await
        }
        Err(e) => {
            let retry = e.is_transient() && lookup.attempts < lookup.max_attempts;
            if e.is_transient() {
                let backoff = lock(&shared.pacer).failed(server, Instant::now());
                tracing::debug!(%domain, %server, "registration lookup failed, server backed off {backoff:?}: {e}");
            }
            let why = if retry { format!("{e} (retrying later)") } else { e.to_string() };
            record_failure(&shared.pool, company_id, &why, server, &lookup.item(), &shared.owner, retry).await
        }
    };
    match stored {
        Ok(()) => {
            let _ = shared.events.send(Event::LeadsChanged { count: 1 });
        }
        Err(e) => tracing::warn!(%domain, "could not store the registration lookup: {e}"),
    }
}

async fn record_answer(
    pool: &PgPool,
    company_id: i64,
    data: Option<&protocol::Registration>,
    server: &str,
    job_id: i64,
    owner: &str,
) -> Result<(), sqlx::Error> {
    let data = data.map(serde_json::to_value).transpose().map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO registrations (company_id, state, data, error, server, checked_at, updated_at)
         VALUES ($1, CASE WHEN $2::jsonb IS NULL THEN 'not_found' ELSE 'found' END, $2, NULL, $3, now(), now())
         ON CONFLICT (company_id) DO UPDATE SET state = EXCLUDED.state, data = EXCLUDED.data, error = NULL,
             server = EXCLUDED.server, checked_at = now(), updated_at = now()",
    )
    .bind(company_id)
    .bind(data)
    .bind(server)
    .execute(&mut *tx)
    .await?;
    queue::complete(&mut *tx, &[job_id], owner).await?;
    tx.commit().await
}

/// Keeps an earlier answer (if any) and says why this lookup failed.
async fn record_failure(
    pool: &PgPool,
    company_id: i64,
    why: &str,
    server: &str,
    item: &QueueItem,
    owner: &str,
    retry: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO registrations (company_id, state, error, server, updated_at)
         VALUES ($1, 'unavailable', $2, $3, now())
         ON CONFLICT (company_id) DO UPDATE SET state = 'unavailable', error = EXCLUDED.error,
             server = EXCLUDED.server, updated_at = now()",
    )
    .bind(company_id)
    .bind(why)
    .bind(server)
    .execute(pool)
    .await?;
    if retry {
        queue::fail(pool, item, owner, why).await
    } else {
        queue::complete(pool, &[item.id], owner).await.map(|_| ())
    }
}

/// The registration as clients see it.
pub fn registration_view(r: &crate::whois::Registration) -> protocol::Registration {
    protocol::Registration {
        registrar: r.registrar.clone(),
        created: r.created.map(|d| d.to_string()),
        expires: r.expires.map(|d| d.to_string()),
        nameservers: r.nameservers.clone(),
        source: match &r.source {
            RegistrationSource::Rdap { url } => format!("RDAP {url}"),
            RegistrationSource::Whois { server } => format!("WHOIS {server}"),
        },
    }
}
