//! The lead list: filtered, sorted pages read from `lead_list` (one row per company, kept in step
//! with the source tables by triggers; see the 20261206000001 migration).
//!
//! Pages are keyset seeks on `(sort column, domain)`, so the next, previous, first and last page cost
//! the same at any depth; only a jump to an arbitrary position reads past the rows before it. The
//! list order is `sort column DIR NULLS LAST, domain DIR`: the rows with a value (one index range,
//! walked either way) and then those without (the index's NULL end, by domain). A page that crosses
//! from one to the other is read in two steps.

use super::LeadError;
use super::cache::{LeadCache, MAX_HELD_MATCHES, Match, MatchList};
use chrono::{DateTime, Utc};
use protocol::{
    Facet, LeadCount, LeadFilter, LeadKey, LeadPage, LeadQuery, LeadRow, LeadSort, MAX_PAGE, Seek, SortValue,
};
use sqlx::{PgPool, Postgres, QueryBuilder};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The columns of a [`LeadRow`], from `lead_list l` and `lead_state ls`.
const LEAD_COLUMNS: &str = "l.domain, l.company_name, ls.provider, ls.gateway, ls.local_provider, ls.mx_hosts, \
     ls.spf, ls.spf_includes, ls.dkim, ls.dmarc_policy, ls.dmarc_pct, ls.score, ls.segment, ls.commercial_segment, \
     ls.technical_heat, ls.commercial_heat, ls.priority, ls.priority_label, ls.scan_status, ls.scanned_at, \
     l.favorite, l.tags, ls.ip_country, ls.ip_asn, ls.ip_org, ls.ip_proxy, ls.infrastructure_summary, \
     ls.spf_status, \
     p.state AS d365_state, p.lead_id AS d365_lead_id, p.record_url AS d365_url, p.pushed_at AS d365_pushed_at, \
     (SELECT pr.referral_kind FROM pc_referrals pr WHERE pr.company_id = l.company_id \
       ORDER BY pr.updated_time DESC NULLS LAST, pr.id DESC LIMIT 1) AS referral_kind, \
     (SELECT pr.status FROM pc_referrals pr WHERE pr.company_id = l.company_id \
       ORDER BY pr.updated_time DESC NULLS LAST, pr.id DESC LIMIT 1) AS referral_status, \
     (SELECT pr.referral_id FROM pc_referrals pr WHERE pr.company_id = l.company_id \
       ORDER BY pr.updated_time DESC NULLS LAST, pr.id DESC LIMIT 1) AS referral_id ";

/// One lead as stored; [`LeadRow`] is what clients get.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StoredRow {
    domain: String,
    company_name: Option<String>,
    provider: Option<String>,
    gateway: Option<String>,
    local_provider: Option<String>,
    mx_hosts: Option<Vec<String>>,
    spf: Option<bool>,
    spf_includes: Option<Vec<String>>,
    dkim: Option<bool>,
    dmarc_policy: Option<String>,
    dmarc_pct: Option<i16>,
    score: Option<i32>,
    segment: Option<String>,
    commercial_segment: Option<String>,
    technical_heat: Option<String>,
    commercial_heat: Option<String>,
    priority: Option<String>,
    priority_label: Option<String>,
    scan_status: Option<String>,
    scanned_at: Option<DateTime<Utc>>,
    favorite: bool,
    tags: Vec<String>,
    ip_country: Option<String>,
    ip_asn: Option<i64>,
    ip_org: Option<String>,
    ip_proxy: Option<bool>,
    infrastructure_summary: Option<String>,
    /// `scans.signals.spf.status` of the latest scan.
    #[sqlx(default)]
    spf_status: Option<String>,
    #[sqlx(default)]
    d365_state: Option<String>,
    #[sqlx(default)]
    d365_lead_id: Option<uuid::Uuid>,
    #[sqlx(default)]
    d365_url: Option<String>,
    #[sqlx(default)]
    d365_pushed_at: Option<DateTime<Utc>>,
    #[sqlx(default)]
    referral_kind: Option<String>,
    #[sqlx(default)]
    referral_status: Option<String>,
    #[sqlx(default)]
    referral_id: Option<String>,
}

/// The export's `spf_result` for a stored SPF status.
pub(crate) fn spf_result(status: Option<&str>) -> Option<&'static str> {
    let status: crate::scan::SpfStatus = serde_json::from_value(serde_json::Value::from(status?)).ok()?;
    Some(status.rfc_result())
}

impl From<StoredRow> for LeadRow {
    fn from(r: StoredRow) -> LeadRow {
        LeadRow {
            domain: r.domain,
            company: r.company_name,
            provider: r.provider,
            gateway: r.gateway,
            local_provider: r.local_provider,
            mx_hosts: r.mx_hosts.unwrap_or_default(),
            spf: r.spf,
            spf_includes: r.spf_includes.unwrap_or_default(),
            dkim: r.dkim,
            dmarc_policy: r.dmarc_policy,
            dmarc_pct: r.dmarc_pct.map(|p| p.clamp(0, 100) as u8),
            score: r.score,
            segment: r.segment,
            commercial_segment: r.commercial_segment,
            technical_heat: r.technical_heat,
            commercial_heat: r.commercial_heat,
            priority: r.priority,
            priority_label: r.priority_label,
            scan_status: r.scan_status,
            scanned_at: r.scanned_at,
            favorite: r.favorite,
            tags: r.tags,
            ip_country: r.ip_country,
            ip_asn: r.ip_asn.and_then(|a| u32::try_from(a).ok()),
            ip_org: r.ip_org,
            ip_proxy: r.ip_proxy,
            infrastructure_summary: r.infrastructure_summary,
            spf_result: spf_result(r.spf_status.as_deref()).map(str::to_string),
            d365_status: r.d365_state,
            d365_lead_id: r.d365_lead_id.map(|id| id.to_string()),
            d365_url: r.d365_url,
            d365_pushed_at: r.d365_pushed_at,
            referral_type: r.referral_kind,
            referral_status: r.referral_status,
            referral_id: r.referral_id,
        }
    }
}

/// A page row with its place in the order.
#[derive(Debug, sqlx::FromRow)]
struct PageRow {
    #[sqlx(flatten)]
    lead: StoredRow,
    key_text: Option<String>,
    key_int: Option<i64>,
    key_time: Option<DateTime<Utc>>,
}

/// One lead by company id, for the detail view.
pub(crate) async fn lead_row(pool: &PgPool, company_id: i64) -> Result<LeadRow, sqlx::Error> {
    let sql = format!(
        "SELECT {LEAD_COLUMNS} FROM lead_list l LEFT JOIN lead_state ls ON ls.company_id = l.company_id \
         LEFT JOIN d365_push p ON p.company_id = l.company_id WHERE l.company_id = $1"
    );
    let row: StoredRow = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(company_id).fetch_one(pool).await?;
    Ok(row.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Text,
    Int,
    Time,
}

/// What a sort key orders by: a `lead_list` expression with a `(expression, domain)` index.
#[derive(Debug, Clone, Copy)]
struct SortColumn {
    expr: &'static str,
    kind: KeyKind,
}

fn sort_column(sort: LeadSort) -> SortColumn {
    let text = |expr| SortColumn { expr, kind: KeyKind::Text };
    match sort {
        LeadSort::Domain => text("l.domain"),
        LeadSort::Company => text("lower(l.company_name)"),
        LeadSort::Provider => text("l.provider"),
        LeadSort::Gateway => text("l.gateway"),
        LeadSort::Segment => text("l.segment"),
        LeadSort::Score => SortColumn { expr: "l.score", kind: KeyKind::Int },
        LeadSort::Priority => text("l.priority"),
        LeadSort::CommercialSegment => text("l.commercial_segment"),
        LeadSort::TechnicalHeat => text("l.technical_heat"),
        LeadSort::CommercialHeat => text("l.commercial_heat"),
        LeadSort::ScanStatus => text("l.scan_status"),
        LeadSort::ScannedAt => SortColumn { expr: "l.scanned_at", kind: KeyKind::Time },
    }
}

/// The `lead_list` column a facet filters on; `None` for tags (an array) and for facets that are
/// not stored yet.
fn facet_column(facet: Facet) -> Option<&'static str> {
    match facet {
        Facet::Segment => Some("l.segment"),
        Facet::Provider => Some("l.provider"),
        Facet::Gateway => Some("l.gateway"),
        Facet::Priority => Some("l.priority"),
        Facet::TechnicalHeat => Some("l.technical_heat"),
        Facet::CommercialHeat => Some("l.commercial_heat"),
        Facet::CommercialSegment => Some("l.commercial_segment"),
        Facet::ScanStatus => Some("l.scan_status"),
        Facet::Tag | Facet::Referral | Facet::D365 => None,
    }
}

pub(crate) fn facet_column_or_tag(facet: Facet) -> Result<Option<&'static str>, LeadError> {
    match (facet, facet_column(facet)) {
        (_, Some(column)) => Ok(Some(column)),
        (Facet::Tag, None) => Ok(None),
        (other, None) => Err(LeadError::Invalid(format!("hunterd does not count {} values yet", other.key()))),
    }
}

/// `%`, `_` and `\` are literal in what a user types.
fn like_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// Appends `WHERE …` for a filter, over `lead_list l`.
pub(crate) fn push_where(qb: &mut QueryBuilder<Postgres>, filter: &LeadFilter) {
    qb.push("WHERE TRUE ");
    if let Some(text) = free_text(filter) {
        let pattern = like_pattern(text);
        if text.contains('\n') {
            // `search` keeps one column per line; text with a line break (no expression has one)
            // is matched column by column, which the trigram index cannot serve.
            qb.push("AND (l.domain ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR l.company_name ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR l.provider ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR l.gateway ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR EXISTS (SELECT 1 FROM unnest(l.tags) t WHERE t ILIKE ")
                .push_bind(pattern)
                .push(")) ");
        } else {
            // `search` is stored lower-cased: the same matches as ILIKE without lower-casing each row.
            qb.push("AND l.search LIKE lower(").push_bind(pattern).push(") ");
        }
    }
    for facet in Facet::ALL {
        let (Some(column), values) = (facet_column(facet), facet.values(filter)) else { continue };
        if values.is_empty() {
            continue;
        }
        // Case-insensitive so `segment=migration` finds "Migration".
        let lowered: Vec<String> = values.iter().map(|v| v.to_lowercase()).collect();
        qb.push(format_args!("AND lower({column}) = ANY(")).push_bind(lowered).push(") ");
    }
    if !filter.tags.is_empty() {
        // Tags are stored lower-case.
        let lowered: Vec<String> = filter.tags.iter().map(|v| v.to_lowercase()).collect();
        qb.push("AND l.tags && ").push_bind(lowered).push("::text[] ");
    }
    if !filter.referrals.is_empty() {
        let lowered: Vec<String> = filter.referrals.iter().map(|v| v.to_lowercase()).collect();
        qb.push(
            "AND EXISTS (SELECT 1 FROM pc_referrals p WHERE p.company_id = l.company_id AND p.referral_kind = ANY(",
        )
        .push_bind(lowered)
        .push(")) ");
    }
    if filter.favorites_only {
        qb.push("AND l.favorite ");
    }
    if let Some(min) = filter.min_score {
        qb.push("AND l.score >= ").push_bind(min).push(" ");
    }
    if let Some(max) = filter.max_score {
        qb.push("AND l.score <= ").push_bind(max).push(" ");
    }
}

/// Which part of the order a read walks: the rows with a sort value, or those without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Valued,
    Null,
}

/// One read: `limit` rows of a region, walked in list order (`forward`) or against it, starting
/// after `from` (exclusive) in the walking direction, skipping `offset` rows.
struct Read<'k> {
    region: Region,
    forward: bool,
    from: Option<&'k LeadKey>,
    offset: u64,
    limit: i64,
}

fn bind_value(qb: &mut QueryBuilder<Postgres>, value: &SortValue) {
    match value.clone() {
        SortValue::Text(v) => qb.push_bind(v).push("::text"),
        SortValue::Int(v) => qb.push_bind(v).push("::bigint"),
        SortValue::Time(v) => qb.push_bind(v).push("::timestamptz"),
    };
}

/// How a page's rows are found. Results are the same either way; only the cost differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Walk while that is quick; else collect all the filter's matches and hold them for the pages
    /// after (or, when they are too many, collect the top ones). What a filter turned out to need
    /// is remembered.
    Auto,
    /// Walk the sort column's index, keeping the rows the filter matches: cheap when matches are
    /// dense, a walk over the whole list when they are rare (`lead12` among a million leads).
    Walk,
    /// Collect every match first (the trigram and facet indexes find them), then sort them: cheap
    /// when matches are few, costly when most leads match.
    MatchesFirst,
    /// Collect every match once, in list order, and serve pages from that list by id: kept while
    /// the leads are unchanged, so the pages after the first cost a lookup of their own rows.
    Held,
}

/// Past this a walk is taken to be wading through non-matching rows.
const WALK_BUDGET_MS: u32 = 40;

/// A walk that took this long over a filter the planner expects to match at most [`FEW_MATCHES`]
/// leads has the filter's matches held from the next page on. (Free text has its matches collected
/// beside its first page already.)
const SLOW_WALK: Duration = Duration::from_millis(15);
const FEW_MATCHES: u64 = 5_000;

/// Past this collecting all the matches is taken to be the wrong plan.
const COLLECT_BUDGET_MS: u32 = 200;

/// Past this collecting the top matches is taken to be the wrong plan too, and the walk is finished.
const MATCHES_BUDGET_MS: u32 = 200;

/// The first page of a free-text filter is walked this long while its matches are collected beside
/// it: a walk that reads the heap is often just over [`WALK_BUDGET_MS`], and the collection it would
/// otherwise wait for afterwards is already under way.
const FIRST_TEXT_WALK_BUDGET_MS: u32 = 60;

/// Collections under way in the background, by match-list key: a page that finds one waits for it
/// rather than walking or collecting again.
mod pending {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    use tokio::sync::watch;

    static UNDER_WAY: LazyLock<Mutex<HashMap<String, watch::Receiver<bool>>>> = LazyLock::new(Mutex::default);

    /// A collection under way: when dropped (done, failed or cancelled) its key is free again and
    /// those waiting for it are told.
    pub(super) struct UnderWay {
        key: String,
        done: watch::Sender<bool>,
    }

    impl Drop for UnderWay {
        fn drop(&mut self) {
            if let Ok(mut under_way) = UNDER_WAY.lock() {
                under_way.remove(&self.key);
            }
            let _ = self.done.send(true);
        }
    }

    /// Marks `key` as being collected, unless it already is.
    pub(super) fn start(key: &str) -> Option<UnderWay> {
        let mut under_way = UNDER_WAY.lock().ok()?;
        if under_way.contains_key(key) {
            return None;
        }
        let (done, waiting) = watch::channel(false);
        under_way.insert(key.to_string(), waiting);
        Some(UnderWay { key: key.to_string(), done })
    }

    pub(super) fn waiting(key: &str) -> Option<watch::Receiver<bool>> {
        UNDER_WAY.lock().ok()?.get(key).cloned()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_key_is_collected_once_at_a_time_and_free_again_when_its_collection_ends() {
            let key = "pending-test-key";
            let first = start(key).expect("free");
            assert!(start(key).is_none(), "already under way");
            let waiting = waiting(key).expect("waitable");
            assert!(!*waiting.borrow());
            drop(first);
            assert!(*waiting.borrow(), "waiters are told");
            assert!(self::waiting(key).is_none());
            assert!(start(key).is_some(), "free again");
        }
    }
}

/// The filter's free text, trimmed; `None` when there is none.
fn free_text(filter: &LeadFilter) -> Option<&str> {
    filter.text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// Collects `query`'s matches on a connection of its own; the list is kept for the pages after.
fn collect_beside(
    pool: &PgPool,
    cache: &LeadCache,
    query: &LeadQuery,
    column: SortColumn,
    key: &str,
) -> Option<tokio::task::JoinHandle<Result<Collected, LeadError>>> {
    let under_way = pending::start(key)?;
    let (pool, cache, query, key) = (pool.clone(), cache.clone(), query.clone(), key.to_string());
    Some(tokio::spawn(async move {
        let _under_way = under_way;
        collect(&pool, &cache, &query, column, key, Some(COLLECT_BUDGET_MS)).await
    }))
}

/// Which plan a filter and sort turned out to need, remembered so the pages after the first go
/// straight to it. Shared by all lists: the answer depends on the data, not on who asks.
mod density {
    use super::Strategy;
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    use std::time::{Duration, Instant};

    /// Data changes; a plan learnt long ago is learnt again.
    const REMEMBER_FOR: Duration = Duration::from_secs(600);
    const CAPACITY: usize = 512;

    static LEARNT: LazyLock<Mutex<HashMap<String, (Strategy, Instant)>>> = LazyLock::new(Mutex::default);

    pub(super) fn recall(key: &str) -> Option<Strategy> {
        let learnt = LEARNT.lock().ok()?;
        learnt.get(key).filter(|(_, at)| at.elapsed() < REMEMBER_FOR).map(|(strategy, _)| *strategy)
    }

    pub(super) fn learn(key: String, strategy: Strategy) {
        if let Ok(mut learnt) = LEARNT.lock() {
            if learnt.len() >= CAPACITY {
                learnt.retain(|_, (_, at)| at.elapsed() < REMEMBER_FOR);
                if learnt.len() >= CAPACITY {
                    learnt.clear();
                }
            }
            learnt.insert(key, (strategy, Instant::now()));
        }
    }
}

/// The SQL of one read with the given strategy (`Walk` or `MatchesFirst`).
fn read_sql(
    query: &LeadQuery,
    column: SortColumn,
    read: &Read<'_>,
    strategy: Strategy,
) -> Result<QueryBuilder<Postgres>, LeadError> {
    let ascending = query.descending != read.forward;
    let (dir, op) = if ascending { ("ASC", ">") } else { ("DESC", "<") };
    let col = column.expr;
    let matches_first = strategy == Strategy::MatchesFirst;
    let mut qb = QueryBuilder::<Postgres>::new(if matches_first {
        format!("WITH matches AS MATERIALIZED (SELECT l.company_id, l.domain, {col} AS sort_key FROM lead_list l ")
    } else {
        format!("WITH page AS (SELECT l.company_id, l.domain, {col} AS sort_key FROM lead_list l ")
    });
    push_where(&mut qb, &query.filter);
    match read.region {
        Region::Valued => qb.push(format_args!("AND {col} IS NOT NULL ")),
        Region::Null => qb.push(format_args!("AND {col} IS NULL ")),
    };
    match (read.region, read.from) {
        (Region::Valued, Some(LeadKey { value: Some(value), domain })) => {
            qb.push(format_args!("AND ({col}, l.domain) {op} ("));
            bind_value(&mut qb, value);
            qb.push(", ").push_bind(domain.clone()).push(") ");
        }
        (Region::Null, Some(LeadKey { value: None, domain })) => {
            qb.push(format_args!("AND l.domain {op} ")).push_bind(domain.clone()).push(" ");
        }
        _ => {}
    }
    if matches_first {
        // The matches' sort key is the same expression, so the order is the same.
        qb.push(format_args!(
            "), page AS (SELECT company_id, domain, sort_key FROM matches ORDER BY sort_key {dir}, domain {dir} "
        ));
    } else {
        match read.region {
            Region::Valued => qb.push(format_args!("ORDER BY {col} {dir}, l.domain {dir} ")),
            Region::Null => qb.push(format_args!("ORDER BY l.domain {dir} ")),
        };
    }
    // Written as numbers, not parameters: the planner then knows a page is a few rows and looks
    // its display columns up by key instead of joining whole tables.
    qb.push(format_args!("LIMIT {}", read.limit));
    if read.offset > 0 {
        let offset = i64::try_from(read.offset).map_err(|_| LeadError::Invalid("offset too large".into()))?;
        qb.push(format_args!(" OFFSET {offset}"));
    }
    let key_columns = key_columns(column.kind, "page.sort_key");
    // Each page row's columns are looked up by key (a LIMIT keeps the planner from turning the
    // lookups into a join over whole tables).
    qb.push(format_args!(
        ") SELECT {LEAD_COLUMNS}, {key_columns} FROM page {PAGE_JOINS} ORDER BY page.sort_key {dir}, page.domain {dir}"
    ));
    Ok(qb)
}

/// `expr` as the one typed key column its kind fills (`key_text`, `key_int` or `key_time`).
fn key_columns(kind: KeyKind, expr: &str) -> String {
    match kind {
        KeyKind::Text => format!("{expr} AS key_text, NULL::bigint AS key_int, NULL::timestamptz AS key_time"),
        KeyKind::Int => format!("NULL::text AS key_text, {expr}::bigint AS key_int, NULL::timestamptz AS key_time"),
        KeyKind::Time => format!("NULL::text AS key_text, NULL::bigint AS key_int, {expr} AS key_time"),
    }
}

/// The sort value read back from [`key_columns`].
fn sort_value(kind: KeyKind, text: Option<String>, int: Option<i64>, time: Option<DateTime<Utc>>) -> Option<SortValue> {
    match kind {
        KeyKind::Text => text.map(SortValue::Text),
        KeyKind::Int => int.map(SortValue::Int),
        KeyKind::Time => time.map(SortValue::Time),
    }
}

/// A page's display columns, by the ids in `page.company_id`.
const PAGE_JOINS: &str = "CROSS JOIN LATERAL (SELECT * FROM lead_list l WHERE l.company_id = page.company_id LIMIT 1) l \
     LEFT JOIN LATERAL (SELECT * FROM lead_state ls WHERE ls.company_id = page.company_id LIMIT 1) ls ON TRUE \
     LEFT JOIN LATERAL (SELECT * FROM d365_push p WHERE p.company_id = page.company_id LIMIT 1) p ON TRUE";

/// Runs `qb` within `budget_ms` (if any); `Ok(None)` when the budget ran out.
async fn within<T>(
    pool: &PgPool,
    mut qb: QueryBuilder<Postgres>,
    budget_ms: Option<u32>,
) -> Result<Option<Vec<T>>, LeadError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let Some(budget_ms) = budget_ms else {
        return Ok(Some(qb.build_query_as().fetch_all(pool).await?));
    };
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL statement_timeout = {budget_ms}"))).execute(&mut *tx).await?;
    match qb.build_query_as().fetch_all(&mut *tx).await {
        Ok(rows) => {
            tx.commit().await?;
            Ok(Some(rows))
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(QUERY_CANCELED) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One read with `strategy` (`Walk` or `MatchesFirst`) within `budget_ms`; `Ok(None)` when the
/// budget ran out.
async fn read(
    pool: &PgPool,
    query: &LeadQuery,
    column: SortColumn,
    read: &Read<'_>,
    strategy: Strategy,
    budget_ms: Option<u32>,
) -> Result<Option<Vec<(LeadRow, LeadKey)>>, LeadError> {
    let qb = read_sql(query, column, read, strategy)?;
    let Some(rows) = within::<PageRow>(pool, qb, budget_ms).await? else { return Ok(None) };
    Ok(Some(
        rows.into_iter()
            .map(|r| {
                let value = sort_value(column.kind, r.key_text, r.key_int, r.key_time);
                let key = LeadKey { value, domain: r.lead.domain.clone() };
                (r.lead.into(), key)
            })
            .collect(),
    ))
}

/// One lead of a collected match list.
#[derive(sqlx::FromRow)]
struct MatchRow {
    company_id: i64,
    domain: String,
    key_text: Option<String>,
    key_int: Option<i64>,
    key_time: Option<DateTime<Utc>>,
}

/// What collecting a filter's matches gave.
enum Collected {
    List(Arc<MatchList>),
    /// More than [`MAX_HELD_MATCHES`]: dense enough to walk.
    TooMany,
    /// The budget ran out.
    TooSlow,
}

/// Every lead `query`'s filter matches, in list order: the valued rows by the sort, then the rest
/// by domain (the same expressions, so the same order as the reads).
async fn collect(
    pool: &PgPool,
    cache: &LeadCache,
    query: &LeadQuery,
    column: SortColumn,
    key: String,
    budget_ms: Option<u32>,
) -> Result<Collected, LeadError> {
    // Taken before reading: a change committed meanwhile makes the list stale at once.
    let generation = cache.stamp();
    let dir = if query.descending { "DESC" } else { "ASC" };
    let col = column.expr;
    let key_columns = key_columns(column.kind, col);
    let mut qb =
        QueryBuilder::<Postgres>::new(format!("SELECT l.company_id, l.domain, {key_columns} FROM lead_list l "));
    push_where(&mut qb, &query.filter);
    qb.push(format_args!("ORDER BY ({col} IS NULL), {col} {dir}, l.domain {dir} LIMIT {}", MAX_HELD_MATCHES + 1));
    let Some(rows) = within::<MatchRow>(pool, qb, budget_ms).await? else { return Ok(Collected::TooSlow) };
    if rows.len() > MAX_HELD_MATCHES {
        return Ok(Collected::TooMany);
    }
    let rows = rows
        .into_iter()
        .map(|r| {
            let value = sort_value(column.kind, r.key_text, r.key_int, r.key_time);
            Match { company_id: r.company_id, key: LeadKey { value, domain: r.domain } }
        })
        .collect();
    let list = Arc::new(MatchList { key, generation, rows });
    cache.keep_match_list(list.clone());
    Ok(Collected::List(list))
}

/// The page `query` asks for, from a match list; `None` when its page key is not in the list (it
/// came from before a change) or a lead of the page is gone.
async fn serve(
    pool: &PgPool,
    list: &MatchList,
    query: &LeadQuery,
    limit: usize,
) -> Result<Option<LeadPage>, LeadError> {
    let rows = &list.rows;
    let n = rows.len();
    let position = |key: &LeadKey| rows.iter().position(|m| m.key == *key);
    let (start, end) = match &query.seek {
        Seek::Offset(offset) => {
            let start = usize::try_from(*offset).unwrap_or(usize::MAX).min(n);
            (start, start.saturating_add(limit).min(n))
        }
        Seek::After(key) => match position(key) {
            Some(i) => (i + 1, (i + 1).saturating_add(limit).min(n)),
            None => return Ok(None),
        },
        Seek::Before(key) => match position(key) {
            Some(i) => (i.saturating_sub(limit), i),
            None => return Ok(None),
        },
        Seek::Last => (n.saturating_sub(limit), n),
    };
    let chosen = &rows[start..end];
    let ids: Vec<i64> = chosen.iter().map(|m| m.company_id).collect();
    let sql = format!(
        "SELECT {LEAD_COLUMNS}, NULL::text AS key_text, NULL::bigint AS key_int, NULL::timestamptz AS key_time \
         FROM unnest($1::bigint[]) WITH ORDINALITY AS page(company_id, ord) {PAGE_JOINS} ORDER BY page.ord"
    );
    let found: Vec<PageRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(&ids).fetch_all(pool).await?;
    if found.len() != chosen.len() {
        return Ok(None);
    }
    Ok(Some(page(found.into_iter().zip(chosen).map(|(r, m)| (r.lead.into(), m.key.clone())).collect())))
}

/// How many rows of the valued region a filter leaves (for an offset that runs past it).
async fn count_valued(pool: &PgPool, filter: &LeadFilter, column: SortColumn) -> Result<u64, LeadError> {
    let mut qb = QueryBuilder::<Postgres>::new("SELECT count(*) FROM lead_list l ");
    push_where(&mut qb, filter);
    qb.push(format_args!("AND {} IS NOT NULL", column.expr));
    let n: i64 = qb.build_query_scalar().fetch_one(pool).await?;
    Ok(n.max(0).unsigned_abs())
}

/// Whether a cursor's value can be compared with the sort column.
fn fits(key: &LeadKey, kind: KeyKind) -> bool {
    matches!(
        (&key.value, kind),
        (None, _)
            | (Some(SortValue::Text(_)), KeyKind::Text)
            | (Some(SortValue::Int(_)), KeyKind::Int)
            | (Some(SortValue::Time(_)), KeyKind::Time)
    )
}

pub async fn list_leads(pool: &PgPool, cache: &LeadCache, query: &LeadQuery) -> Result<LeadPage, LeadError> {
    list_leads_with(pool, cache, query, Strategy::Auto).await
}

/// [`list_leads`] with a fixed strategy (the tests compare them).
pub(crate) async fn list_leads_with(
    pool: &PgPool,
    cache: &LeadCache,
    query: &LeadQuery,
    strategy: Strategy,
) -> Result<LeadPage, LeadError> {
    let limit = i64::from(query.limit.clamp(1, MAX_PAGE));
    let column = sort_column(query.sort);
    if let Seek::After(key) | Seek::Before(key) = &query.seek
        && !fits(key, column.kind)
    {
        return Err(LeadError::Invalid(format!(
            "that page key is not from a list sorted by {}; ask for the first page again",
            query.sort.name()
        )));
    }
    match strategy {
        // Without a filter every row matches: the walk is always right.
        Strategy::Auto | Strategy::Held if query.filter.is_empty() => {
            whole(pool, query, column, limit, Strategy::Walk).await
        }
        Strategy::Walk | Strategy::MatchesFirst => whole(pool, query, column, limit, strategy).await,
        Strategy::Held => {
            let key = held_key(query);
            let list = match cache.match_list(&key) {
                Some(list) => list,
                None => match collect(pool, cache, query, column, key, None).await? {
                    Collected::List(list) => list,
                    Collected::TooMany | Collected::TooSlow => {
                        return whole(pool, query, column, limit, Strategy::Walk).await;
                    }
                },
            };
            from_list(pool, &list, query, column, limit).await
        }
        Strategy::Auto => auto(pool, cache, query, column, limit).await,
    }
}

/// What identifies a match list: the filter, the sort and its direction.
fn held_key(query: &LeadQuery) -> String {
    format!("{:?}|{}|{}", query.filter, query.sort.name(), if query.descending { "desc" } else { "asc" })
}

/// A filtered page, the cheapest way known: from the filter's held matches; else by the plan learnt
/// for it; else a short walk, and when that is not enough, the matches collected and held (or, when
/// they are too many, the whole walk).
async fn auto(
    pool: &PgPool,
    cache: &LeadCache,
    query: &LeadQuery,
    column: SortColumn,
    limit: i64,
) -> Result<LeadPage, LeadError> {
    let held = usize::try_from(limit).unwrap_or(1);
    let key = held_key(query);
    if let Some(list) = cache.match_list(&key)
        && let Some(page) = serve(pool, &list, query, held).await?
    {
        return Ok(page);
    }
    // A collection under way (started beside a first page) is waited for, then served from.
    if let Some(mut waiting) = pending::waiting(&key) {
        let budget = Duration::from_millis(u64::from(COLLECT_BUDGET_MS));
        let _ = tokio::time::timeout(budget, waiting.wait_for(|done| *done)).await;
        if let Some(list) = cache.match_list(&key)
            && let Some(page) = serve(pool, &list, query, held).await?
        {
            return Ok(page);
        }
    }
    let plan = format!("{:?}|{}", query.filter, query.sort.name());
    let learnt = density::recall(&plan);
    let mut beside = None;
    match learnt {
        Some(Strategy::Walk) => return whole(pool, query, column, limit, Strategy::Walk).await,
        Some(Strategy::MatchesFirst) => return whole(pool, query, column, limit, Strategy::MatchesFirst).await,
        Some(Strategy::Held) => {}
        // Not learnt yet, or `Auto`: walking, its matches estimated to be too many to hold.
        None | Some(Strategy::Auto) => {
            let started = Instant::now();
            // Free text walks read the heap: its matches are collected beside the first page's walk.
            beside = if learnt.is_none() && free_text(&query.filter).is_some() {
                collect_beside(pool, cache, query, column, &key)
            } else {
                None
            };
            let budget = if beside.is_some() { FIRST_TEXT_WALK_BUDGET_MS } else { WALK_BUDGET_MS };
            if let Some(page) = walk_or(pool, query, column, limit, Strategy::Walk, Some(budget)).await? {
                if beside.is_some() {
                    // The collection goes on; held, it serves the pages after while the leads are unchanged.
                    density::learn(plan, Strategy::Auto);
                } else if started.elapsed() >= SLOW_WALK && learnt.is_none() {
                    // A slow walk over few matches: collecting them costs less than the next walk. The
                    // estimate is asked once per filter.
                    let few = estimate(pool, &query.filter).await? <= FEW_MATCHES;
                    density::learn(plan, if few { Strategy::Held } else { Strategy::Auto });
                }
                return Ok(page);
            }
        }
    }
    // The walk wades through non-matching rows: the matches are few, so collect them all, once (or
    // take the collection already under way).
    let collected = match beside {
        Some(under_way) => match under_way.await {
            Ok(collected) => collected?,
            Err(_) => collect(pool, cache, query, column, key, Some(COLLECT_BUDGET_MS)).await?,
        },
        None => collect(pool, cache, query, column, key, Some(COLLECT_BUDGET_MS)).await?,
    };
    match collected {
        Collected::List(list) => {
            density::learn(plan, Strategy::Held);
            from_list(pool, &list, query, column, limit).await
        }
        Collected::TooMany | Collected::TooSlow => {
            if let Some(page) =
                walk_or(pool, query, column, limit, Strategy::MatchesFirst, Some(MATCHES_BUDGET_MS)).await?
            {
                density::learn(plan, Strategy::MatchesFirst);
                return Ok(page);
            }
            density::learn(plan, Strategy::Walk);
            whole(pool, query, column, limit, Strategy::Walk).await
        }
    }
}

/// The page from `list`; when its page key is from before a change, found the way that suits few
/// matches.
async fn from_list(
    pool: &PgPool,
    list: &MatchList,
    query: &LeadQuery,
    column: SortColumn,
    limit: i64,
) -> Result<LeadPage, LeadError> {
    match serve(pool, list, query, usize::try_from(limit).unwrap_or(1)).await? {
        Some(page) => Ok(page),
        None => whole(pool, query, column, limit, Strategy::MatchesFirst).await,
    }
}

/// A page read with `strategy` (`Walk` or `MatchesFirst`), however long it takes.
async fn whole(
    pool: &PgPool,
    query: &LeadQuery,
    column: SortColumn,
    limit: i64,
    strategy: Strategy,
) -> Result<LeadPage, LeadError> {
    Ok(walk_or(pool, query, column, limit, strategy, None).await?.unwrap_or_else(|| page(Vec::new())))
}

/// A page read region by region with `strategy` (`Walk` or `MatchesFirst`), each read within
/// `budget_ms`; `Ok(None)` when a budget ran out.
async fn walk_or(
    pool: &PgPool,
    query: &LeadQuery,
    column: SortColumn,
    limit: i64,
    strategy: Strategy,
    budget_ms: Option<u32>,
) -> Result<Option<LeadPage>, LeadError> {
    let first_read = |region, forward, from, offset| Read { region, forward, from, offset, limit };
    // The regions in walking order, and where the walk starts in the first.
    let (forward, steps): (bool, Vec<Read>) = match &query.seek {
        Seek::Offset(offset) => {
            let first = first_read(Region::Valued, true, None, *offset);
            let Some(mut rows) = read(pool, query, column, &first, strategy, budget_ms).await? else {
                return Ok(None);
            };
            let missing = limit - rows.len() as i64;
            if missing > 0 {
                // Past the valued rows: how far into the null region the offset reaches.
                let skip = if rows.is_empty() && *offset > 0 {
                    offset.saturating_sub(count_valued(pool, &query.filter, column).await?)
                } else {
                    0
                };
                let nulls = Read { region: Region::Null, forward: true, from: None, offset: skip, limit: missing };
                let Some(more) = read(pool, query, column, &nulls, strategy, budget_ms).await? else {
                    return Ok(None);
                };
                rows.extend(more);
            }
            return Ok(Some(page(rows)));
        }
        Seek::After(key) if key.value.is_none() => (true, vec![first_read(Region::Null, true, Some(key), 0)]),
        Seek::After(key) => {
            (true, vec![first_read(Region::Valued, true, Some(key), 0), first_read(Region::Null, true, None, 0)])
        }
        Seek::Before(key) if key.value.is_none() => {
            (false, vec![first_read(Region::Null, false, Some(key), 0), first_read(Region::Valued, false, None, 0)])
        }
        Seek::Before(key) => (false, vec![first_read(Region::Valued, false, Some(key), 0)]),
        Seek::Last => {
            (false, vec![first_read(Region::Null, false, None, 0), first_read(Region::Valued, false, None, 0)])
        }
    };
    let mut rows = Vec::new();
    for mut step in steps {
        step.limit = limit - rows.len() as i64;
        if step.limit <= 0 {
            break;
        }
        let Some(more) = read(pool, query, column, &step, strategy, budget_ms).await? else { return Ok(None) };
        rows.extend(more);
    }
    if !forward {
        rows.reverse();
    }
    Ok(Some(page(rows)))
}

fn page(rows: Vec<(LeadRow, LeadKey)>) -> LeadPage {
    let first = rows.first().map(|(_, k)| k.clone());
    let last = rows.last().map(|(_, k)| k.clone());
    LeadPage { rows: rows.into_iter().map(|(row, _)| row).collect(), first, last }
}

/// How long an exact count of many leads may take before the planner's estimate is served instead.
const COUNT_BUDGET_MS: u32 = 300;

/// Below this many (estimated) leads the count is always exact: it is cheap, and a loaded machine
/// must not turn a small list's count into a guess.
const ALWAYS_EXACT_BELOW: u64 = 100_000;

/// The `query_canceled` SQLSTATE a statement timeout raises.
const QUERY_CANCELED: &str = "57014";

pub async fn count_leads(pool: &PgPool, cache: &LeadCache, filter: &LeadFilter) -> Result<LeadCount, LeadError> {
    let key = format!("{filter:?}");
    if let Some(count) = cache.count(&key) {
        return Ok(count);
    }
    let generation = cache.stamp();
    let count = count_afresh(pool, filter).await?;
    cache.keep_count(key, generation, &count);
    Ok(count)
}

async fn count_afresh(pool: &PgPool, filter: &LeadFilter) -> Result<LeadCount, LeadError> {
    let estimated = estimate(pool, filter).await?;
    let mut tx = pool.begin().await?;
    if estimated >= ALWAYS_EXACT_BELOW {
        sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL statement_timeout = {COUNT_BUDGET_MS}")))
            .execute(&mut *tx)
            .await?;
    }
    let mut qb = QueryBuilder::<Postgres>::new("SELECT count(*) FROM lead_list l ");
    push_where(&mut qb, filter);
    match qb.build_query_scalar::<i64>().fetch_one(&mut *tx).await {
        Ok(n) => {
            tx.commit().await?;
            Ok(LeadCount { count: n.max(0).unsigned_abs(), exact: true })
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(QUERY_CANCELED) => {
            Ok(LeadCount { count: estimated, exact: false })
        }
        Err(e) => Err(e.into()),
    }
}

/// The planner's row estimate for a filter (statistics only, nothing is read).
async fn estimate(pool: &PgPool, filter: &LeadFilter) -> Result<u64, LeadError> {
    let mut qb = QueryBuilder::<Postgres>::new("EXPLAIN (FORMAT JSON) SELECT 1 FROM lead_list l ");
    push_where(&mut qb, filter);
    let plan: serde_json::Value = qb.build_query_scalar().fetch_one(pool).await?;
    plan_rows(&plan).ok_or_else(|| LeadError::Invalid("the database gave no row estimate".into()))
}

fn plan_rows(plan: &serde_json::Value) -> Option<u64> {
    plan.get(0)?.get("Plan")?.get("Plan Rows")?.as_f64().map(|rows| rows.max(0.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_typed_by_a_user_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn the_estimate_is_the_top_plan_nodes_rows() {
        let plan = serde_json::json!([{ "Plan": { "Node Type": "Seq Scan", "Plan Rows": 1234.0 } }]);
        assert_eq!(plan_rows(&plan), Some(1234));
    }
}
