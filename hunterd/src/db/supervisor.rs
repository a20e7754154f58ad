//! Keeps the database usable while the daemon runs.
//!
//! The embedded cluster is ours: when its postmaster dies we start it again (PostgreSQL's crash
//! recovery replays the WAL), backing off if it keeps dying, and give up after too many restarts so
//! that the daemon exits non-zero and systemd's `Restart=` takes over. An external server is only
//! watched: the pool reconnects by itself, with backoff, once the server answers again.
//!
//! Either way [`DbHealth`] says what is wrong, so `status` answers at all times and names it.

use super::embedded::{EmbeddedCluster, EmbeddedError};
use chrono::{DateTime, Utc};
use protocol::DatabaseInfo;
use sqlx::PgPool;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the postmaster's pid is checked and the database is pinged.
const CHECK_EVERY: Duration = Duration::from_millis(500);
const PING_EVERY: Duration = Duration::from_secs(2);
const PING_PATIENCE: Duration = Duration::from_secs(3);
/// More restarts than this within [`RESTART_WINDOW`] and the daemon gives up.
const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(
        "the embedded PostgreSQL died {MAX_RESTARTS} times within {} minutes; giving up (last problem: {last})",
        RESTART_WINDOW.as_secs() / 60
    )]
    KeepsDying { last: String },
}

/// What is known about the database's health; shared by the supervisor and `status`.
#[derive(Debug, Default)]
pub struct DbHealth {
    inner: Mutex<HealthState>,
    /// How many times the database came back after being away (restarted or reconnected): work a
    /// crash may have undone is looked for once after each.
    recoveries: AtomicU64,
}

#[derive(Debug, Default)]
struct HealthState {
    problem: Option<(DateTime<Utc>, String)>,
    last_info: Option<DatabaseInfo>,
}

impl DbHealth {
    /// Why the database cannot be used, with since when; `None` when it answers.
    pub fn problem(&self) -> Option<String> {
        let state = self.inner.lock().ok()?;
        state.problem.as_ref().map(|(since, what)| format!("{what} (since {})", since.format("%H:%M:%S UTC")))
    }

    pub fn is_down(&self) -> bool {
        self.inner.lock().map(|s| s.problem.is_some()).unwrap_or(false)
    }

    /// Records a problem; the first one's time is kept while it lasts.
    pub fn set_problem(&self, what: impl Into<String>) {
        if let Ok(mut state) = self.inner.lock() {
            let since = state.problem.as_ref().map_or_else(Utc::now, |(since, _)| *since);
            state.problem = Some((since, what.into()));
        }
    }

    pub fn set_ok(&self) {
        if let Ok(mut state) = self.inner.lock()
            && state.problem.take().is_some()
        {
            self.recoveries.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// How many times the database answered again after a problem.
    pub fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::SeqCst)
    }

    pub fn remember(&self, info: &DatabaseInfo) {
        if let Ok(mut state) = self.inner.lock() {
            state.last_info = Some(info.clone());
        }
    }

    /// The last answer the database gave (versions do not change while it is away).
    pub fn last_info(&self) -> Option<DatabaseInfo> {
        self.inner.lock().ok()?.last_info.clone()
    }
}

/// Restarts in the last `window` (of `history`, oldest first) have reached `max`.
pub fn should_give_up(history: &[Instant], now: Instant, window: Duration, max: usize) -> bool {
    history.iter().filter(|t| now.duration_since(**t) < window).count() >= max
}

/// Waiting before restart number `n` (0-based) of a recent run: at once, then 1 s, 2 s, 4 s… up to 30 s.
pub fn restart_delay(n: usize) -> Duration {
    if n == 0 { Duration::ZERO } else { Duration::from_secs(1u64 << (n - 1).min(5)).min(Duration::from_secs(30)) }
}

/// Runs until shutdown. `cluster` is the embedded cluster this daemon owns (`None`: external).
/// Returns an error only when the cluster keeps dying: the daemon should then exit non-zero.
pub async fn run(
    pool: PgPool,
    cluster: Option<EmbeddedCluster>,
    health: std::sync::Arc<DbHealth>,
    location: String,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SupervisorError> {
    let mut restarts: Vec<Instant> = Vec::new();
    let mut last_ping = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        if *shutdown.borrow() {
            return Ok(());
        }
        if let Some(cluster) = &cluster
            && cluster.postmaster_pid().is_none()
        {
            restart(cluster, &health, &mut restarts, &mut shutdown).await?;
            last_ping = Instant::now();
            continue;
        }
        if last_ping.elapsed() >= PING_EVERY || health.is_down() {
            last_ping = Instant::now();
            ping(&pool, &health, &location).await;
        }
    }
}

async fn ping(pool: &PgPool, health: &DbHealth, location: &str) {
    let answer = tokio::time::timeout(PING_PATIENCE, sqlx::query("SELECT 1").execute(pool)).await;
    match answer {
        Ok(Ok(_)) => {
            if health.is_down() {
                tracing::info!("PostgreSQL at {location} answers again");
            }
            health.set_ok();
        }
        Ok(Err(e)) => {
            if !health.is_down() {
                tracing::warn!("PostgreSQL at {location} is not reachable ({e}); reconnecting");
            }
            health.set_problem(format!("not reachable: {e}; reconnecting"));
        }
        Err(_) => {
            if !health.is_down() {
                tracing::warn!("PostgreSQL at {location} did not answer within {PING_PATIENCE:?}; reconnecting");
            }
            health.set_problem(format!("no answer within {}s; reconnecting", PING_PATIENCE.as_secs()));
        }
    }
}

/// Starts the dead cluster again (crash recovery), with backoff; gives up after too many restarts.
async fn restart(
    cluster: &EmbeddedCluster,
    health: &DbHealth,
    restarts: &mut Vec<Instant>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), SupervisorError> {
    let mut last_error = "its postmaster is gone".to_string();
    tracing::error!("the embedded PostgreSQL in {} stopped; restarting it", cluster.root().display());
    loop {
        let now = Instant::now();
        restarts.retain(|t| now.duration_since(*t) < RESTART_WINDOW);
        if should_give_up(restarts, now, RESTART_WINDOW, MAX_RESTARTS) {
            health.set_problem(format!("the embedded PostgreSQL keeps dying ({last_error}); hunterd is giving up"));
            return Err(SupervisorError::KeepsDying { last: last_error });
        }
        health.set_problem(format!("the embedded PostgreSQL stopped; restarting it (restart {})", restarts.len() + 1));
        tokio::select! {
            _ = tokio::time::sleep(restart_delay(restarts.len())) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        restarts.push(Instant::now());
        match cluster.start().await {
            Ok(()) => {
                tracing::info!("the embedded PostgreSQL is running again");
                health.set_ok();
                return Ok(());
            }
            Err(e) => {
                tracing::warn!("restarting the embedded PostgreSQL failed: {e}");
                last_error = restart_failure(&e);
            }
        }
    }
}

fn restart_failure(e: &EmbeddedError) -> String {
    // The first line is the sentence; the log tail that follows is in hunterd's log already.
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// Errors that mean "the database is away for now", not "this query is wrong".
pub fn is_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        // 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// Runs `attempt` until it succeeds, fails for another reason than an outage, or `patience` runs out:
/// work already done (a finished scan) is stored once the database is back instead of being lost.
pub async fn retry_through_outage<T, F, Fut>(patience: Duration, mut attempt: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let deadline = Instant::now() + patience;
    let mut delay = Duration::from_millis(250);
    loop {
        match attempt().await {
            Err(e) if is_outage(&e) && Instant::now() + delay < deadline => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_up_after_the_fifth_restart_within_the_window() {
        let now = Instant::now();
        let window = Duration::from_secs(600);
        let recent: Vec<Instant> = (0..4).map(|i| now - Duration::from_secs(i * 10)).collect();
        assert!(!should_give_up(&recent, now, window, 5));
        let mut five = recent.clone();
        five.push(now);
        assert!(should_give_up(&five, now, window, 5));
    }

    #[test]
    fn restarts_long_ago_do_not_count() {
        let now = Instant::now() + Duration::from_secs(10_000);
        let old: Vec<Instant> = (0..10).map(|i| now - Duration::from_secs(1_000 + i)).collect();
        assert!(!should_give_up(&old, now, Duration::from_secs(600), 5));
    }

    #[test]
    fn the_first_restart_is_immediate_then_waits_grow_to_a_cap() {
        assert_eq!(restart_delay(0), Duration::ZERO);
        assert_eq!(restart_delay(1), Duration::from_secs(1));
        assert_eq!(restart_delay(3), Duration::from_secs(4));
        assert_eq!(restart_delay(50), Duration::from_secs(30));
    }

    #[test]
    fn a_remembered_problem_keeps_its_first_time() {
        let health = DbHealth::default();
        health.set_problem("down");
        let first = health.problem().unwrap();
        health.set_problem("down");
        assert_eq!(health.problem().unwrap(), first);
        health.set_ok();
        assert_eq!(health.problem(), None);
    }

    #[test]
    fn a_recovery_is_counted_once_per_problem() {
        let health = DbHealth::default();
        health.set_ok();
        assert_eq!(health.recoveries(), 0);
        health.set_problem("down");
        health.set_problem("still down");
        health.set_ok();
        health.set_ok();
        assert_eq!(health.recoveries(), 1);
    }
}
