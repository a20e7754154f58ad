//! Drains the push queue: claims due leads, pushes each (at most `dynamics.max_concurrency` leads
//! and Dataverse requests at once), and decides what a failure means for the lead: throttling,
//! outages and sign-in problems put it back to pending without spending an attempt; D365 refusing
//! the data spends one, and the lead fails after `dynamics.max_attempts`.

use super::client::{CallError, Dataverse};
use super::mapping;
use super::push::{self, Outcome, PushSettings};
use super::queue::{self, Acknowledged, Claimed};
use protocol::Event;
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinSet;

/// How often an idle worker looks for due leads (a push request also wakes it at once).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// First retry delay; doubles per attempt up to [`BACKOFF_CAP`], with ±25 % jitter.
const BACKOFF_BASE: Duration = Duration::from_secs(2);
const BACKOFF_CAP: Duration = Duration::from_secs(900);
/// Leads per `$batch` when pushes are upserts by alternate key (at most 1000 per batch, C.13).
pub const BATCH_SIZE: usize = 100;
/// How long pushes in flight get to finish at shutdown; the rest are handed back by the lease.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(5);

/// The latest problem, for status lines.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub last_error: Option<String>,
    pub last_error_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_success_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A sign-in or permission problem that only an administrator can fix, and when it last stopped a
    /// push: until a push succeeds again, every lead waits, so `push --wait` stops waiting and says why.
    pub blocked: Option<(String, chrono::DateTime<chrono::Utc>)>,
}

/// For `status`: whether pushes can sign in, in one line. Nothing is known before the first push.
pub fn sign_in_state(health: &Health) -> (bool, String) {
    let stamp = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    match (&health.blocked, health.last_success_at) {
        (Some((why, at)), _) => (false, format!("pushes wait for a fix since {}: {why}", stamp(*at))),
        (None, Some(at)) => (true, format!("signed in; last push went through {}", stamp(at))),
        (None, None) => (true, "no push tried since hunterd started".into()),
    }
}

impl Health {
    /// Why pushes requested at `requested_at` cannot go out, if an attempt since then met the block.
    pub fn blocking(&self, requested_at: chrono::DateTime<chrono::Utc>) -> Option<String> {
        self.blocked.as_ref().filter(|(_, at)| *at >= requested_at).map(|(why, _)| why.clone())
    }
}

pub struct PushWorker {
    pub pool: PgPool,
    pub dataverse: Arc<Dataverse>,
    pub settings: PushSettings,
    pub org_url: String,
    pub owner: String,
    pub concurrency: usize,
    pub max_attempts: u32,
    pub wake: Arc<Notify>,
    pub events: broadcast::Sender<Event>,
    pub health: Arc<Mutex<Health>>,
}

impl PushWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let capacity = this.concurrency.max(1);
        let mut tasks = JoinSet::new();
        while !*shutdown.borrow() {
            while tasks.try_join_next().is_some() {}
            let free = capacity.saturating_sub(tasks.len());
            // With an alternate key, a task pushes a whole `$batch` of upserts: one request for many leads.
            let per_task = if this.settings.lead_key.is_some() { BATCH_SIZE } else { 1 };
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                queue::claim(&this.pool, &this.owner, (free * per_task) as i64).await
            };
            let claimed = claimed.unwrap_or_else(|e| {
                tracing::warn!("could not claim Dynamics pushes: {e}");
                Vec::new()
            });
            if claimed.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = this.wake.notified() => {}
                    _ = shutdown.changed() => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
                continue;
            }
            let mut claimed = claimed;
            while !claimed.is_empty() {
                let group: Vec<Claimed> = claimed.drain(..per_task.min(claimed.len())).collect();
                let this = this.clone();
                tasks.spawn(async move {
                    match <[Claimed; 1]>::try_from(group) {
                        Ok([item]) => this.push_one(item).await,
                        Err(group) => this.push_batch(group).await,
                    }
                });
            }
        }
        let _ = tokio::time::timeout(SHUTDOWN_PATIENCE, async { while tasks.join_next().await.is_some() {} }).await;
        tasks.shutdown().await;
    }

    async fn push_one(&self, item: Claimed) {
        if let Err(e) = self.try_push(&item).await {
            tracing::warn!("could not record the Dynamics push of {}: {e}", item.domain);
        }
    }

    /// Upserts by alternate key, many leads in one `$batch`.
    async fn push_batch(&self, group: Vec<Claimed>) {
        if let Err(e) = self.try_push_batch(&group).await {
            tracing::warn!("could not record a Dynamics bulk push of {} leads: {e}", group.len());
        }
    }

    async fn try_push_batch(&self, group: &[Claimed]) -> Result<(), sqlx::Error> {
        let Some(key) = self.settings.lead_key.clone() else { return Ok(()) };
        let mut ops = Vec::new();
        let mut pending: Vec<(&Claimed, serde_json::Map<String, serde_json::Value>)> = Vec::new();
        for item in group {
            let Some(facts) = queue::load_facts(&self.pool, item.company_id).await? else { continue };
            match push::plan_upsert(&self.settings, &key, &facts, &item.prior) {
                push::Planned::Unchanged { lead_id } => self.record(item, Ok(Outcome::Unchanged { lead_id })).await?,
                push::Planned::Upsert { op, sent } => {
                    ops.push(op);
                    pending.push((item, sent));
                }
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = pending.iter().map(|(item, _)| item.company_id).collect();
        match self.dataverse.send_batch(&ops, &ids).await {
            Ok(parts) => {
                let mut parts = parts.into_iter();
                for (item, sent) in pending {
                    let outcome = match parts.next() {
                        Some(part) => push::upsert_outcome(&part, sent),
                        // D365 stopped before this one: nothing was done for it.
                        None => Err(CallError::Unreachable("the $batch ended before this lead".into())),
                    };
                    // A throttled part means the user's limit is reached: every caller waits, not only this lead.
                    if let Err(CallError::Throttled { retry_after, code }) = &outcome {
                        self.dataverse.pause_for(*retry_after, code);
                    }
                    self.record(item, outcome).await?;
                }
            }
            Err(e) => {
                for (item, _) in pending {
                    self.record(item, Err(e.clone())).await?;
                }
            }
        }
        let _ = self.events.send(Event::LeadsChanged { count: group.len() as u64 });
        Ok(())
    }

    async fn try_push(&self, item: &Claimed) -> Result<(), sqlx::Error> {
        let (pool, id) = (&self.pool, item.company_id);
        let Some(facts) = queue::load_facts(pool, id).await? else { return Ok(()) };
        let result = push::push_lead(&self.dataverse, &self.settings, id, &facts, &item.prior).await;
        self.record(item, result).await?;
        let _ = self.events.send(Event::LeadsChanged { count: 1 });
        Ok(())
    }

    /// Stores what became of one lead's push.
    async fn record(&self, item: &Claimed, result: Result<Outcome, CallError>) -> Result<(), sqlx::Error> {
        let (pool, owner, id) = (&self.pool, self.owner.as_str(), item.company_id);
        match result {
            Ok(Outcome::Synced { lead_id, created, sent }) => {
                let url = mapping::record_url(&self.org_url, &lead_id);
                let ack = Acknowledged { lead_id, record_url: &url, sent: Some(&sent), state: "synced", note: None };
                queue::synced(pool, owner, id, ack).await?;
                tracing::info!(
                    "{} {} in Dynamics 365 ({lead_id})",
                    item.domain,
                    if created { "created" } else { "updated" }
                );
                self.succeeded();
            }
            Ok(Outcome::Unchanged { lead_id }) => {
                let url = mapping::record_url(&self.org_url, &lead_id);
                let ack = Acknowledged { lead_id, record_url: &url, sent: None, state: "synced", note: None };
                queue::synced(pool, owner, id, ack).await?;
                self.succeeded();
            }
            Ok(Outcome::Duplicate { existing: Some(lead_id), .. }) => {
                let url = mapping::record_url(&self.org_url, &lead_id);
                let note = "duplicate in D365: D365's duplicate detection matched an existing lead, now linked";
                let ack = Acknowledged { lead_id, record_url: &url, sent: None, state: "duplicate", note: Some(note) };
                queue::synced(pool, owner, id, ack).await?;
            }
            Ok(Outcome::Duplicate { existing: None, .. }) => {
                let note = "duplicate in D365: D365's duplicate detection refused the lead; the matching record could not be found to link";
                queue::duplicate_unlinked(pool, owner, id, note).await?;
            }
            Err(e) => self.after_error(item, e).await?,
        }
        Ok(())
    }

    async fn after_error(&self, item: &Claimed, e: CallError) -> Result<(), sqlx::Error> {
        let (pool, owner, id) = (&self.pool, self.owner.as_str(), item.company_id);
        let message = e.to_string();
        let stored = match &e {
            CallError::Throttled { retry_after, .. } => {
                queue::retry_later(pool, owner, id, *retry_after + jitter(*retry_after / 10), &message, false).await
            }
            CallError::Unreachable(_) | CallError::Auth(_) => {
                let delay = backoff(item.attempts.max(1) as u32);
                queue::retry_later(pool, owner, id, delay, &message, false).await
            }
            // D365 refused the data (unknown column, bad value): retrying cannot help.
            CallError::Api { status, .. } if (400..500).contains(status) => {
                queue::failed(pool, owner, id, &message).await
            }
            CallError::Api { .. } if item.attempts as u32 >= self.max_attempts => {
                queue::failed(pool, owner, id, &format!("{message} (gave up after {} attempts)", item.attempts)).await
            }
            CallError::Api { .. } => {
                queue::retry_later(pool, owner, id, backoff(item.attempts.max(1) as u32), &message, true).await
            }
        };
        // Published once the lead's row says what became of it: whoever sees the error and looks at
        // the lead finds it pending again, not still in flight.
        self.failed_with(&message, matches!(e, CallError::Auth(_)));
        stored
    }

    fn succeeded(&self) {
        if let Ok(mut h) = self.health.lock() {
            h.last_success_at = Some(chrono::Utc::now());
            h.blocked = None;
        }
    }

    fn failed_with(&self, message: &str, needs_a_fix: bool) {
        if let Ok(mut h) = self.health.lock() {
            let now = chrono::Utc::now();
            h.last_error = Some(message.to_string());
            h.last_error_at = Some(now);
            if needs_a_fix {
                h.blocked = Some((message.to_string(), now));
            }
        }
    }
}

/// `BACKOFF_BASE · 2^(attempt-1)`, capped, plus up to a quarter of it as jitter.
pub fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(BACKOFF_CAP);
    exp + jitter(exp / 4)
}

/// A random duration in `[0, max]` (uuid v4 is our source of randomness; no extra crate).
fn jitter(max: Duration) -> Duration {
    let millis = max.as_millis() as u64;
    if millis == 0 {
        return Duration::ZERO;
    }
    let r = (uuid::Uuid::new_v4().as_u128() & u64::MAX as u128) as u64;
    Duration::from_millis(r % (millis + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_problem_blocks_only_pushes_requested_before_it_was_met() {
        let met = chrono::Utc::now();
        let health = Health { blocked: Some(("secret expired".into(), met)), ..Health::default() };
        assert_eq!(health.blocking(met - chrono::TimeDelta::seconds(5)), Some("secret expired".into()));
        assert_eq!(health.blocking(met + chrono::TimeDelta::seconds(5)), None);
        assert_eq!(Health::default().blocking(met), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=4 {
            let d = backoff(attempt);
            let base = BACKOFF_BASE * (1 << (attempt - 1));
            assert!(d >= base && d <= base + base / 4, "{attempt}: {d:?}");
        }
        assert!(backoff(40) <= BACKOFF_CAP + BACKOFF_CAP / 4);
    }
}
