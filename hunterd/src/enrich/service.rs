//! The one place lookups go through: merges the configured sources, caches results (memory, then
//! PostgreSQL), and swaps in new database files when they change on disk.
//!
//! Scans must not get slower for it (issue 5: < 5% of scan time), so the scan path never waits for
//! PostgreSQL: the memory cache is loaded from the PostgreSQL cache when it is attached, a miss is
//! answered by the memory-mapped databases (a few microseconds, far less than a round trip), and new
//! results are written back to PostgreSQL in batches by a background task. A lookup is deterministic
//! for a given database build, so an entry another daemon wrote meanwhile would say the same.

use super::ip2bin::{BinDb, BinRecord, Product};
use super::maxmind::{Asn, Geo, MaxMindDb, MaxMindKind};
use super::{AddressRole, EnrichmentReport, IP2LOCATION, IP2PROXY, IpEnrichment, MAXMIND_ASN, MAXMIND_CITY, cache};
use crate::config::EnrichmentConfig;
use sqlx::PgPool;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// How often the configured files are checked for a new edition.
const POLL_EVERY: Duration = Duration::from_secs(30);
/// Past this many entries the in-memory cache starts over (PostgreSQL still has them). An entry is
/// about 1 KiB, so this bounds the cache near 50 MiB.
const MEMORY_CAP: usize = 50_000;
/// New results wait at most this long, or until this many are waiting, before being written.
const WRITE_EVERY: Duration = Duration::from_secs(1);
const WRITE_BATCH: usize = 1_000;
/// A batch that could not be written is kept for the next try, up to this many entries in all.
const MAX_UNWRITTEN: usize = 10 * WRITE_BATCH;

/// One configured database, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    pub name: &'static str,
    pub path: PathBuf,
    /// Build/edition when loaded.
    pub build: Option<String>,
    /// Why it is not in use, naming the file.
    pub error: Option<String>,
    /// In use, but some records cannot be decoded (their fields stay empty): which, and what to do.
    pub warning: Option<String>,
}

/// How many records of each file are decoded at load to find a layout the reader does not expect
/// (a few milliseconds; a wrong layout shows in the first records).
const PROBE_RECORDS: usize = 2_000;

fn undecodable_warning(name: &str, path: &Path, why: &str) -> String {
    format!(
        "{name} database {}: {why}; lookups leave such records' fields empty. The file is not the \
         layout its type promises (another edition or a converted file): replace it with an official one",
        path.display()
    )
}

/// The readers in use at one moment. Replaced as a whole, so a lookup sees one consistent set.
#[derive(Debug, Default)]
struct Sources {
    city: Option<MaxMindDb>,
    asn: Option<MaxMindDb>,
    ip2location: Option<BinDb>,
    ip2proxy: Option<BinDb>,
    info: Vec<SourceInfo>,
    /// Modification time, size and inode of each configured file when loaded; a change triggers a reload.
    stamps: Vec<(PathBuf, Option<Stamp>)>,
    /// e.g. `maxmind-asn=GeoLite2-ASN@1700000000;ip2proxy=IP2Proxy PX11 2026-11-01`.
    version: Arc<str>,
    /// Sources whose undecodable records were already warned about.
    warned: Mutex<std::collections::HashSet<String>>,
}

impl Sources {
    fn any(&self) -> bool {
        self.city.is_some() || self.asn.is_some() || self.ip2location.is_some() || self.ip2proxy.is_some()
    }
}

/// Modification time, size and inode of a file. The inode matters: a file renamed into place (how
/// updaters install a new edition) is a new inode even when time and size match the old one.
type Stamp = (SystemTime, u64, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

fn load(config: &EnrichmentConfig) -> Sources {
    let mut s = Sources::default();
    let mut version = Vec::new();
    let entries: [(&'static str, &Option<PathBuf>); 4] = [
        (MAXMIND_CITY, &config.maxmind_city_db),
        (MAXMIND_ASN, &config.maxmind_asn_db),
        (IP2LOCATION, &config.ip2location_db),
        (IP2PROXY, &config.ip2proxy_db),
    ];
    for (name, path) in entries {
        let Some(path) = path else { continue };
        s.stamps.push((path.clone(), stamp(path)));
        // The build, and the first record that cannot be decoded (a file of another layout than
        // its type says reads, but leaves fields empty: that must be said, not silently served).
        let opened: Result<(String, Option<String>), String> = if !path.exists() {
            Err(format!("{name} database {}: file not found", path.display()))
        } else {
            match name {
                MAXMIND_CITY => MaxMindDb::open(path).map(|db| {
                    let probe = (db.build(), db.first_undecodable(MaxMindKind::City, PROBE_RECORDS));
                    s.city = Some(db);
                    probe
                }),
                MAXMIND_ASN => MaxMindDb::open(path).map(|db| {
                    let probe = (db.build(), db.first_undecodable(MaxMindKind::Asn, PROBE_RECORDS));
                    s.asn = Some(db);
                    probe
                }),
                IP2LOCATION => BinDb::open(path, Product::Ip2Location).map(|db| {
                    let probe = (db.build(), db.first_unreadable(PROBE_RECORDS as u32));
                    s.ip2location = Some(db);
                    probe
                }),
                _ => BinDb::open(path, Product::Ip2Proxy).map(|db| {
                    let probe = (db.build(), db.first_unreadable(PROBE_RECORDS as u32));
                    s.ip2proxy = Some(db);
                    probe
                }),
            }
        };
        let info = match opened {
            Ok((build, undecodable)) => {
                version.push(format!("{name}={build}"));
                let warning = undecodable.map(|why| undecodable_warning(name, path, &why));
                if let Some(warning) = &warning {
                    tracing::warn!("IP enrichment: {warning}");
                }
                SourceInfo { name, path: path.clone(), build: Some(build), error: None, warning }
            }
            Err(e) if e.starts_with(name) => {
                tracing::warn!("IP enrichment: {e}");
                SourceInfo { name, path: path.clone(), build: None, error: Some(e), warning: None }
            }
            Err(e) => {
                let error = format!("{name} database {}: corrupt, truncated or unreadable: {e}", path.display());
                tracing::warn!("IP enrichment: {error}");
                SourceInfo { name, path: path.clone(), build: None, error: Some(error), warning: None }
            }
        };
        s.info.push(info);
    }
    s.version = version.join(";").into();
    s
}

#[derive(Debug, Clone)]
struct Cached {
    result: Arc<IpEnrichment>,
    version: Arc<str>,
    at: chrono::DateTime<chrono::Utc>,
}

/// Merges MaxMind, IP2Location and IP2Proxy answers for an address. Never fails: a source that
/// cannot answer simply leaves its fields empty.
#[derive(Debug)]
pub struct EnrichmentService {
    config: EnrichmentConfig,
    current: RwLock<Arc<Sources>>,
    last_check: Mutex<Instant>,
    poll_every: Duration,
    ttl: Duration,
    memory: RwLock<HashMap<IpAddr, Cached>>,
    pool: OnceLock<PgPool>,
    /// Results not yet written to PostgreSQL (see the module docs).
    unwritten: Arc<Unwritten>,
}

/// A lookup result with the database version that produced it.
type Versioned = (Arc<IpEnrichment>, Arc<str>);

/// New lookups waiting to be written.
#[derive(Debug, Default)]
struct Unwritten {
    entries: Mutex<HashMap<IpAddr, Versioned>>,
    /// Held while a batch is written, so a flush waits for a write already under way.
    writing: tokio::sync::Mutex<()>,
    /// Wakes the writer early when a batch is full.
    full: tokio::sync::Notify,
}

impl EnrichmentService {
    /// Loads whatever configured files it can; the others are reported by [`Self::sources`].
    pub fn open(config: &EnrichmentConfig) -> EnrichmentService {
        let sources = load(config);
        EnrichmentService {
            config: config.clone(),
            current: RwLock::new(Arc::new(sources)),
            last_check: Mutex::new(Instant::now()),
            poll_every: POLL_EVERY,
            ttl: config.cache_ttl.0,
            memory: RwLock::new(HashMap::new()),
            pool: OnceLock::new(),
            unwritten: Arc::new(Unwritten::default()),
        }
    }

    /// How often files are checked for changes (tests shorten it).
    pub fn with_poll_interval(mut self, every: Duration) -> EnrichmentService {
        self.poll_every = every;
        self
    }

    /// Adds the PostgreSQL cache: loads its entries for the current databases into memory, and starts
    /// the task that writes new results back. Before this only the in-memory cache is used. Must be
    /// called on a Tokio runtime.
    pub async fn attach_cache(&self, pool: PgPool) {
        if self.pool.set(pool.clone()).is_err() {
            return;
        }
        let sources = self.sources_now();
        if sources.any() {
            // Half the cap, so new addresses have room before anything is evicted.
            match cache::load_fresh(&pool, &sources.version, self.ttl, MEMORY_CAP / 2).await {
                Ok(entries) => {
                    let loaded = entries.len();
                    for (ip, hit) in entries {
                        self.remember(ip, &Arc::new(hit.result), &sources.version, hit.looked_up_at);
                    }
                    tracing::debug!("IP enrichment: {loaded} cached lookups loaded");
                }
                Err(e) => tracing::warn!("IP enrichment cache not loaded (lookups still work): {e}"),
            }
        }
        tokio::spawn(write_behind(pool, Arc::downgrade(&self.unwritten)));
    }

    /// Writes every result not yet in PostgreSQL now, after any write already under way (tests, and
    /// before a shutdown).
    pub async fn flush_cache(&self) {
        if let Some(pool) = self.pool.get() {
            write_unwritten(pool, &self.unwritten).await;
        }
    }

    fn sources_now(&self) -> Arc<Sources> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn sources(&self) -> Vec<SourceInfo> {
        self.sources_now().info.clone()
    }

    /// Identifies the databases in use; cached results from other versions are not used.
    pub fn source_version(&self) -> String {
        self.sources_now().version.to_string()
    }

    /// Why lookups cannot answer, or `None` when at least one database is loaded.
    pub fn absent_reason(&self) -> Option<String> {
        absent_reason_of(&self.sources_now())
    }

    /// Reloads the databases if any configured file changed since it was loaded. In-flight lookups
    /// keep the readers they started with. Returns whether a reload happened.
    pub fn reload_if_changed(&self) -> bool {
        if let Ok(mut last) = self.last_check.lock() {
            *last = Instant::now();
        }
        let current = self.sources_now();
        let configured = [
            &self.config.maxmind_city_db,
            &self.config.maxmind_asn_db,
            &self.config.ip2location_db,
            &self.config.ip2proxy_db,
        ];
        let changed = configured
            .into_iter()
            .flatten()
            .any(|p| current.stamps.iter().find(|(q, _)| q == p).map(|(_, st)| *st) != Some(stamp(p)));
        if !changed {
            return false;
        }
        let fresh = Arc::new(load(&self.config));
        tracing::info!("IP enrichment databases reloaded: {}", fresh.version);
        match self.current.write() {
            Ok(mut g) => *g = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        true
    }

    fn maybe_reload(&self) {
        let due = self.last_check.lock().map(|l| l.elapsed() >= self.poll_every).unwrap_or(false);
        if due {
            self.reload_if_changed();
        }
    }

    /// Asks the databases directly, bypassing every cache.
    pub fn lookup_uncached(&self, ip: IpAddr) -> IpEnrichment {
        lookup_in(&self.sources_now(), ip)
    }

    /// One address: from the memory cache, else PostgreSQL, else the databases (and cached). For
    /// one-off lookups; scans use [`Self::enrich`], which never waits for PostgreSQL.
    pub async fn lookup(&self, ip: IpAddr) -> Arc<IpEnrichment> {
        self.maybe_reload();
        let sources = self.sources_now();
        let now = chrono::Utc::now();
        if let Some(hit) = self.remembered(ip, &sources.version, now) {
            return hit;
        }
        if let Some(pool) = self.pool.get() {
            match cache::get(pool, ip).await {
                Ok(Some(hit))
                    if cache::is_fresh(&hit.source_version, hit.looked_up_at, &sources.version, now, self.ttl) =>
                {
                    let result = Arc::new(hit.result);
                    self.remember(ip, &result, &sources.version, hit.looked_up_at);
                    return result;
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(%ip, "IP enrichment cache unavailable: {e}"),
            }
        }
        let result = Arc::new(lookup_in(&sources, ip));
        if let Some(pool) = self.pool.get()
            && let Err(e) = cache::put(pool, ip, &result, &sources.version).await
        {
            tracing::debug!(%ip, "IP enrichment not cached: {e}");
        }
        self.remember(ip, &result, &sources.version, now);
        result
    }

    fn remembered(&self, ip: IpAddr, version: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Arc<IpEnrichment>> {
        let memory = self.memory.read().ok()?;
        let hit = memory.get(&ip)?;
        cache::is_fresh(&hit.version, hit.at, version, now, self.ttl).then(|| Arc::clone(&hit.result))
    }

    fn remember(&self, ip: IpAddr, result: &Arc<IpEnrichment>, version: &Arc<str>, at: chrono::DateTime<chrono::Utc>) {
        if let Ok(mut m) = self.memory.write() {
            if m.len() >= MEMORY_CAP {
                evict(&mut m, version);
            }
            m.insert(ip, Cached { result: Arc::clone(result), version: Arc::clone(version), at });
        }
    }

    /// The enrichment of a scan's addresses, each with its role (an address given several times is
    /// looked up once and listed once with all its roles, in order of first appearance). Same answers
    /// as [`Self::lookup`], without waiting for PostgreSQL (see the module docs).
    pub async fn enrich(&self, addresses: &[(IpAddr, AddressRole)]) -> EnrichmentReport {
        self.maybe_reload();
        let sources = self.sources_now();
        if let Some(reason) = absent_reason_of(&sources) {
            return EnrichmentReport::absent(reason);
        }
        let now = chrono::Utc::now();
        let mut order: Vec<(IpAddr, Vec<AddressRole>)> = Vec::new();
        for (ip, role) in addresses {
            match order.iter_mut().find(|(seen, _)| seen == ip) {
                Some((_, roles)) if !roles.contains(role) => roles.push(*role),
                Some(_) => {}
                None => order.push((*ip, vec![*role])),
            }
        }
        let mut ips = Vec::with_capacity(order.len());
        let mut fresh = Vec::new();
        for (ip, roles) in order {
            let result = match self.remembered(ip, &sources.version, now) {
                Some(hit) => hit,
                None => {
                    let result = Arc::new(lookup_in(&sources, ip));
                    self.remember(ip, &result, &sources.version, now);
                    fresh.push((ip, Arc::clone(&result)));
                    result
                }
            };
            ips.push(IpEnrichment { roles, ..IpEnrichment::clone(&result) });
        }
        if !fresh.is_empty()
            && self.pool.get().is_some()
            && let Ok(mut unwritten) = self.unwritten.entries.lock()
        {
            for (ip, result) in fresh {
                unwritten.insert(ip, (result, Arc::clone(&sources.version)));
            }
            if unwritten.len() >= WRITE_BATCH {
                self.unwritten.full.notify_one();
            }
        }
        let infrastructure_summary = super::infrastructure_summary(&ips);
        EnrichmentReport {
            ips,
            infrastructure_summary,
            absent_reason: None,
            source_version: Some(sources.version.to_string()),
        }
    }
}

/// Writes new results to PostgreSQL every [`WRITE_EVERY`], or sooner when a batch is full, until the
/// service is dropped (call [`EnrichmentService::flush_cache`] first to keep the last second's).
async fn write_behind(pool: PgPool, unwritten: std::sync::Weak<Unwritten>) {
    loop {
        {
            let Some(u) = unwritten.upgrade() else { return };
            let _ = tokio::time::timeout(WRITE_EVERY, u.full.notified()).await;
        }
        let Some(u) = unwritten.upgrade() else { return };
        write_unwritten(&pool, &u).await;
    }
}

async fn write_unwritten(pool: &PgPool, unwritten: &Unwritten) {
    let _writing = unwritten.writing.lock().await;
    let entries = match unwritten.entries.lock() {
        Ok(mut u) => std::mem::take(&mut *u),
        Err(_) => return,
    };
    let mut by_version: HashMap<Arc<str>, Vec<(IpAddr, Arc<IpEnrichment>)>> = HashMap::new();
    for (ip, (result, version)) in entries {
        by_version.entry(version).or_default().push((ip, result));
    }
    for (version, batch) in by_version {
        if let Err(e) = cache::put_many(pool, &batch, &version).await {
            tracing::debug!("IP enrichment: {} lookups not cached yet: {e}", batch.len());
            // Kept for the next try unless newer results took their place (or too many wait).
            if let Ok(mut u) = unwritten.entries.lock() {
                for (ip, result) in batch {
                    if u.len() >= MAX_UNWRITTEN {
                        break;
                    }
                    u.entry(ip).or_insert_with(|| (result, Arc::clone(&version)));
                }
            }
        }
    }
}

/// Makes room in a full memory cache: entries of older database versions go first, then half of the
/// rest (PostgreSQL still has them all).
fn evict(memory: &mut HashMap<IpAddr, Cached>, current: &str) {
    memory.retain(|_, c| &*c.version == current);
    if memory.len() >= MEMORY_CAP {
        let mut keep = false;
        memory.retain(|_, _| {
            keep = !keep;
            keep
        });
    }
}

fn absent_reason_of(s: &Sources) -> Option<String> {
    if s.any() {
        return None;
    }
    let problems: Vec<String> = s.info.iter().filter_map(|i| i.error.clone()).collect();
    Some(if problems.is_empty() {
        "no IP enrichment database configured (enrichment.maxmind_city_db, maxmind_asn_db, ip2location_db, ip2proxy_db)"
            .into()
    } else {
        format!("no IP enrichment database could be loaded: {}", problems.join("; "))
    })
}

fn lookup_in(s: &Sources, ip: IpAddr) -> IpEnrichment {
    // A record that cannot be decoded is a warning (once per source and loaded file, so a bad file
    // cannot flood the log), never a silently empty field; `hunterd check` names it too.
    fn quiet<T>(s: &Sources, source: &str, ip: IpAddr, r: Result<Option<T>, String>) -> Option<T> {
        r.unwrap_or_else(|e| {
            if s.warned.lock().map(|mut warned| warned.insert(source.to_string())).unwrap_or(false) {
                tracing::warn!(%ip, "IP enrichment: a {source} record cannot be decoded, its fields stay empty: {e}; run `hunterd check`");
            } else {
                tracing::debug!(%ip, "{source} lookup failed: {e}");
            }
            None
        })
    }
    let geo = s.city.as_ref().and_then(|db| quiet(s, MAXMIND_CITY, ip, db.geo(ip)));
    let asn = s.asn.as_ref().and_then(|db| quiet(s, MAXMIND_ASN, ip, db.asn(ip)));
    let loc = s.ip2location.as_ref().and_then(|db| quiet(s, IP2LOCATION, ip, db.lookup(ip).map_err(|e| e.to_string())));
    let proxy = s.ip2proxy.as_ref().and_then(|db| quiet(s, IP2PROXY, ip, db.lookup(ip).map_err(|e| e.to_string())));
    merge(ip, geo, asn, loc, proxy)
}

/// Takes each field from the first source that has it: MaxMind, then IP2Location, then IP2Proxy
/// (proxy flags only from IP2Proxy, usage type from IP2Location first).
pub(super) fn merge(
    ip: IpAddr,
    geo: Option<Geo>,
    asn: Option<Asn>,
    loc: Option<BinRecord>,
    proxy: Option<BinRecord>,
) -> IpEnrichment {
    let mut e = IpEnrichment { ip: Some(ip), ..IpEnrichment::default() };
    let mut set = |field: &str, source: &str, e_field: &mut Option<String>, value: Option<String>| {
        if e_field.is_none()
            && let Some(v) = value
        {
            *e_field = Some(v);
            e.sources.insert(field.to_string(), source.to_string());
        }
    };
    let geo = geo.unwrap_or_default();
    let loc_r = loc.clone().unwrap_or_default();
    let px = proxy.clone().unwrap_or_default();
    let (mut country, mut country_name, mut region, mut city) = (None, None, None, None);
    let (mut as_org, mut isp, mut usage_type, mut proxy_type) = (None, None, None, None);
    for (source, c, n, r, ci) in [
        (MAXMIND_CITY, geo.country, geo.country_name, geo.region, geo.city),
        (
            IP2LOCATION,
            loc_r.country_short.clone(),
            loc_r.country_long.clone(),
            loc_r.region.clone(),
            loc_r.city.clone(),
        ),
        (IP2PROXY, px.country_short.clone(), px.country_long.clone(), px.region.clone(), px.city.clone()),
    ] {
        set("country", source, &mut country, c);
        set("country_name", source, &mut country_name, n);
        set("region", source, &mut region, r);
        set("city", source, &mut city, ci);
    }
    let asn = asn.unwrap_or_default();
    set("as_org", MAXMIND_ASN, &mut as_org, asn.org);
    set("as_org", IP2LOCATION, &mut as_org, loc_r.as_name.clone());
    set("as_org", IP2PROXY, &mut as_org, px.as_name.clone());
    set("isp", IP2LOCATION, &mut isp, loc_r.isp.clone());
    set("isp", IP2PROXY, &mut isp, px.isp.clone());
    set("usage_type", IP2LOCATION, &mut usage_type, loc_r.usage_type.clone());
    set("usage_type", IP2PROXY, &mut usage_type, px.usage_type.clone());
    set("proxy_type", IP2PROXY, &mut proxy_type, px.proxy_type.clone());
    let number = [(MAXMIND_ASN, asn.number), (IP2LOCATION, loc_r.asn), (IP2PROXY, px.asn)]
        .into_iter()
        .find_map(|(source, n)| n.map(|n| (source, n)));
    if let Some((source, n)) = number {
        e.asn = Some(n);
        e.sources.insert("asn".into(), source.into());
    }
    if let Some(level) = proxy.as_ref().and_then(|p| p.is_proxy) {
        let kind = proxy_type.as_deref();
        e.is_proxy = Some(level >= 1);
        e.is_vpn = Some(kind == Some("VPN"));
        e.is_tor = Some(kind == Some("TOR"));
        for f in ["is_proxy", "is_vpn", "is_tor"] {
            e.sources.insert(f.into(), IP2PROXY.into());
        }
    }
    let dc_by_proxy = proxy.as_ref().map(|_| matches!(proxy_type.as_deref(), Some("DCH" | "SES")));
    let dc_by_usage = usage_type.as_deref().map(|u| u.split('/').any(|c| c == "DCH"));
    let dc_source = if dc_by_proxy == Some(true) {
        Some(IP2PROXY)
    } else if dc_by_usage.is_some() {
        e.sources.get("usage_type").map(|s| if s == IP2LOCATION { IP2LOCATION } else { IP2PROXY })
    } else {
        dc_by_proxy.map(|_| IP2PROXY)
    };
    if let Some(source) = dc_source {
        e.is_data_center = Some(dc_by_proxy == Some(true) || dc_by_usage == Some(true));
        e.sources.insert("is_data_center".into(), source.into());
    }
    if e.is_data_center == Some(true) {
        let provider = [(IP2PROXY, px.provider.clone()), ("isp", isp.clone()), ("as_org", as_org.clone())]
            .into_iter()
            .find_map(|(from, v)| v.map(|v| (from, v)));
        if let Some((from, v)) = provider {
            let source = e.sources.get(from).cloned().unwrap_or_else(|| from.to_string());
            e.hosting_provider = Some(v);
            e.sources.insert("hosting_provider".into(), source);
        }
    }
    e.country = country;
    e.country_name = country_name;
    e.region = region;
    e.city = city;
    e.as_org = as_org;
    e.isp = isp;
    e.usage_type = usage_type;
    e.proxy_type = proxy_type;
    e
}
