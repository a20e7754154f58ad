//! What the lead list has worked out, kept while the leads it came from are unchanged: the ordered
//! matches of a sparse filter (so its later pages are lookups by id, not a second search of a million
//! rows), a filter's count and its facet counts.
//!
//! Whether the leads changed is told by PostgreSQL: a trigger on `lead_list` (and `pc_referrals`)
//! sends a NOTIFY when a writing transaction commits (the 20261209000001 migration), and
//! [`follow`] turns each into a new generation. Anything kept under an older generation is not used.
//! While nothing is listening (not started, connection lost) nothing is kept, so a lost notification
//! can never serve stale leads; the daemon's own writes also bump the generation at once, so a
//! client that changed a lead never sees the list from before its change.

use protocol::{FacetCount, LeadCount, LeadKey};
use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The channel the migration's trigger notifies.
const CHANNEL: &str = "hunter_lead_list";

/// Match lists kept at once: each is at most [`MAX_HELD_MATCHES`] rows (about 100 bytes each).
const MAX_MATCH_LISTS: usize = 6;

/// The longest match list kept (≈ 5 MB); a filter matching more is dense enough to walk.
pub(crate) const MAX_HELD_MATCHES: usize = 50_000;

/// Counts and facet lists kept at once (each is small).
const MAX_SMALL_ENTRIES: usize = 256;

/// One lead of a match list: its id and its place in the order.
#[derive(Debug, Clone)]
pub(crate) struct Match {
    pub company_id: i64,
    pub key: LeadKey,
}

/// Every lead a filter matches, in list order (valued rows by the sort, then those without a value).
#[derive(Debug)]
pub(crate) struct MatchList {
    pub key: String,
    /// `None` when changes were not followed: used once, never kept.
    pub generation: Option<u64>,
    pub rows: Vec<Match>,
}

/// Cheap to clone: clones share what is kept.
#[derive(Clone, Default)]
pub struct LeadCache(Arc<Kept>);

impl std::ops::Deref for LeadCache {
    type Target = Kept;
    fn deref(&self) -> &Kept {
        &self.0
    }
}

#[derive(Default)]
pub struct Kept {
    generation: AtomicU64,
    following: AtomicBool,
    matches: Mutex<VecDeque<Arc<MatchList>>>,
    counts: Mutex<HashMap<String, (u64, LeadCount)>>,
    facets: Mutex<HashMap<String, (u64, Vec<FacetCount>)>>,
}

impl LeadCache {
    /// A cache that keeps nothing until [`follow`] listens for changes.
    pub fn new() -> LeadCache {
        LeadCache::default()
    }
}

impl Kept {
    /// The leads changed: nothing kept so far is used again.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether changes are being followed (so that anything is kept at all).
    pub fn following(&self) -> bool {
        self.following.load(Ordering::SeqCst)
    }

    /// The generation to stamp on something about to be computed: taken *before* reading, so a change
    /// committed while reading makes it stale. `None` while changes are not followed.
    pub(crate) fn stamp(&self) -> Option<u64> {
        self.following().then(|| self.generation.load(Ordering::SeqCst))
    }

    fn current(&self, generation: u64) -> bool {
        self.following() && self.generation.load(Ordering::SeqCst) == generation
    }

    pub(crate) fn match_list(&self, key: &str) -> Option<Arc<MatchList>> {
        let lists = self.matches.lock().ok()?;
        lists.iter().find(|l| l.key == key && l.generation.is_some_and(|g| self.current(g))).cloned()
    }

    pub(crate) fn keep_match_list(&self, list: Arc<MatchList>) {
        if !list.generation.is_some_and(|g| self.current(g)) {
            return;
        }
        if let Ok(mut lists) = self.matches.lock() {
            lists.retain(|l| l.key != list.key && l.generation.is_some_and(|g| self.current(g)));
            if lists.len() >= MAX_MATCH_LISTS {
                lists.pop_front();
            }
            lists.push_back(list);
        }
    }

    pub(crate) fn count(&self, key: &str) -> Option<LeadCount> {
        let counts = self.counts.lock().ok()?;
        counts.get(key).filter(|(generation, _)| self.current(*generation)).map(|(_, count)| *count)
    }

    pub(crate) fn keep_count(&self, key: String, generation: Option<u64>, count: &LeadCount) {
        let Some(generation) = generation else { return };
        if let Ok(mut counts) = self.counts.lock() {
            keep_small(&mut counts, key, generation, *count, |g| self.current(g));
        }
    }

    pub(crate) fn facets(&self, key: &str) -> Option<Vec<FacetCount>> {
        let facets = self.facets.lock().ok()?;
        facets.get(key).filter(|(generation, _)| self.current(*generation)).map(|(_, values)| values.clone())
    }

    pub(crate) fn keep_facets(&self, key: String, generation: Option<u64>, values: &[FacetCount]) {
        let Some(generation) = generation else { return };
        if let Ok(mut facets) = self.facets.lock() {
            keep_small(&mut facets, key, generation, values.to_vec(), |g| self.current(g));
        }
    }
}

fn keep_small<T>(
    map: &mut HashMap<String, (u64, T)>,
    key: String,
    generation: u64,
    value: T,
    current: impl Fn(u64) -> bool,
) {
    if !current(generation) {
        return;
    }
    if map.len() >= MAX_SMALL_ENTRIES {
        map.retain(|_, (g, _)| current(*g));
        if map.len() >= MAX_SMALL_ENTRIES {
            map.clear();
        }
    }
    map.insert(key, (generation, value));
}

/// Listens for lead changes until `shutdown`, on a connection of its own (not one of the pool's),
/// reconnecting after a loss. Never fails: without it the lead list is only slower.
pub async fn follow(cache: LeadCache, pool: PgPool, mut shutdown: watch::Receiver<bool>) {
    let mut warned = false;
    loop {
        match listen(&pool).await {
            Ok(mut listener) => {
                // Whatever changed before the LISTEN took effect was not heard.
                cache.changed();
                cache.following.store(true, Ordering::SeqCst);
                if warned {
                    tracing::info!("following lead changes again");
                }
                loop {
                    tokio::select! {
                        _ = shutdown.changed() => {
                            cache.following.store(false, Ordering::SeqCst);
                            return;
                        }
                        heard = listener.try_recv() => match heard {
                            Ok(Some(_)) => cache.changed(),
                            // The connection was lost and made again: what was sent meanwhile is lost.
                            Ok(None) => cache.changed(),
                            Err(e) => {
                                cache.following.store(false, Ordering::SeqCst);
                                cache.changed();
                                tracing::warn!("stopped following lead changes (lists are read afresh meanwhile): {e}");
                                warned = true;
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) if !warned => {
                tracing::warn!("cannot follow lead changes (lists are read afresh meanwhile): {e}");
                warned = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&own).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// A cache following `pool`'s lead changes (for tests); dropping the sender stops it.
#[cfg(test)]
pub(crate) async fn followed(pool: &PgPool) -> (LeadCache, watch::Sender<bool>) {
    let cache = LeadCache::new();
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(follow(cache.clone(), pool.clone(), shutdown));
    for _ in 0..500 {
        if cache.following() {
            return (cache, stop);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the cache never started following lead changes");
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn generation_moves(cache: &LeadCache, from: u64) -> bool {
        for _ in 0..500 {
            if cache.stamp() != Some(from) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[test]
    fn nothing_is_kept_before_changes_are_followed() {
        let cache = LeadCache::new();
        assert_eq!(cache.stamp(), None);
        cache.keep_count("k".into(), cache.stamp(), &LeadCount { count: 3, exact: true });
        assert!(cache.count("k").is_none());
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_committed_lead_change_makes_what_was_kept_stale(pool: PgPool) {
        let (cache, _stop) = followed(&pool).await;
        let stamp = cache.stamp().expect("following");
        cache.keep_count("k".into(), Some(stamp), &LeadCount { count: 0, exact: true });
        assert!(cache.count("k").is_some());
        sqlx::query("INSERT INTO companies (domain, source) VALUES ('new.test', 'test')").execute(&pool).await.unwrap();
        assert!(generation_moves(&cache, stamp).await, "no change was heard");
        assert!(cache.count("k").is_none());
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_change_to_referrals_is_heard_too(pool: PgPool) {
        let (cache, _stop) = followed(&pool).await;
        let stamp = cache.stamp().expect("following");
        sqlx::query("DELETE FROM pc_referrals").execute(&pool).await.unwrap();
        assert!(generation_moves(&cache, stamp).await, "no change was heard");
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_rolled_back_change_is_not_announced(pool: PgPool) {
        let (cache, _stop) = followed(&pool).await;
        let stamp = cache.stamp().expect("following");
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO companies (domain, source) VALUES ('gone.test', 'test')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(cache.stamp(), Some(stamp));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn shutting_down_stops_keeping_anything(pool: PgPool) {
        let (cache, stop) = followed(&pool).await;
        stop.send(true).unwrap();
        for _ in 0..500 {
            if !cache.following() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("still following after shutdown");
    }
}
