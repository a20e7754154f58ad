//! The lead list: filtered, sorted pages read from `lead_list` (one row per company, kept in step
//! with the source tables by triggers; see the 20261206000001 migration).
//!
//! Pages are keyset seeks on `(sort column, domain)`, so the next, previous, first and last page cost
//! the same at any depth; only a jump to an arbitrary position reads past the rows before it. The
//! list order is `sort column DIR NULLS LAST, domain DIR`: the rows with a value (one index range,
//! walked either way) and then those without (the index's NULL end, by domain). A page that crosses
//! from one to the other is read in two steps.

use super::LeadError;
use chrono::{DateTime, Utc};
use protocol::{
    Facet, LeadCount, LeadFilter, LeadKey, LeadPage, LeadQuery, LeadRow, LeadSort, MAX_PAGE, Seek, SortValue,
};
use sqlx::{PgPool, Postgres, QueryBuilder};

/// The columns of a [`LeadRow`], from `lead_list l` and `lead_state ls`.
const LEAD_COLUMNS: &str = "l.domain, l.company_name, ls.provider, ls.gateway, ls.local_provider, ls.mx_hosts, \
     ls.spf, ls.spf_includes, ls.dkim, ls.dmarc_policy, ls.dmarc_pct, ls.score, ls.segment, ls.commercial_segment, \
     ls.technical_heat, ls.commercial_heat, ls.priority, ls.priority_label, ls.scan_status, ls.scanned_at, \
     l.favorite, l.tags, ls.ip_country, ls.ip_asn, ls.ip_org, ls.ip_proxy, ls.infrastructure_summary, \
     (SELECT s.signals->'spf'->>'status' FROM scans s WHERE s.id = ls.scan_id) AS spf_status, \
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
    if let Some(text) = filter.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
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
            qb.push("AND l.search ILIKE ").push_bind(pattern).push(" ");
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
    /// Try walking, switch to matches-first when the walk is slow (remembered per filter and sort).
    Auto,
    /// Walk the sort column's index, keeping the rows the filter matches: cheap when matches are
    /// dense, a walk over the whole list when they are rare (`lead12` among a million leads).
    Walk,
    /// Collect every match first (the trigram and facet indexes find them), then sort them: cheap
    /// when matches are few, costly when most leads match.
    MatchesFirst,
}

/// Past this a walk is taken to be wading through non-matching rows.
const WALK_BUDGET_MS: u32 = 30;

/// Past this collecting the matches is taken to be the wrong plan too, and the walk is finished.
const MATCHES_BUDGET_MS: u32 = 200;

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
    let key_columns = match column.kind {
        KeyKind::Text => "page.sort_key AS key_text, NULL::bigint AS key_int, NULL::timestamptz AS key_time",
        KeyKind::Int => "NULL::text AS key_text, page.sort_key::bigint AS key_int, NULL::timestamptz AS key_time",
        KeyKind::Time => "NULL::text AS key_text, NULL::bigint AS key_int, page.sort_key AS key_time",
    };
    // Each page row's columns are looked up by key (a LIMIT keeps the planner from turning the
    // lookups into a join over whole tables).
    qb.push(format_args!(
        ") SELECT {LEAD_COLUMNS}, {key_columns} FROM page \
         CROSS JOIN LATERAL (SELECT * FROM lead_list l WHERE l.company_id = page.company_id LIMIT 1) l \
         LEFT JOIN LATERAL (SELECT * FROM lead_state ls WHERE ls.company_id = page.company_id LIMIT 1) ls ON TRUE \
         LEFT JOIN LATERAL (SELECT * FROM d365_push p WHERE p.company_id = page.company_id LIMIT 1) p ON TRUE \
         ORDER BY page.sort_key {dir}, page.domain {dir}"
    ));
    Ok(qb)
}

/// Runs one read with `strategy` within `budget_ms` (if any); `Ok(None)` when the budget ran out.
async fn try_read(
    pool: &PgPool,
    query: &LeadQuery,
    column: SortColumn,
    read: &Read<'_>,
    strategy: Strategy,
    budget_ms: Option<u32>,
) -> Result<Option<Vec<PageRow>>, LeadError> {
    let mut qb = read_sql(query, column, read, strategy)?;
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

async fn read(
    pool: &PgPool,
    query: &LeadQuery,
    column: SortColumn,
    read: &Read<'_>,
    strategy: Strategy,
) -> Result<Vec<(LeadRow, LeadKey)>, LeadError> {
    let rows = match strategy {
        Strategy::Walk | Strategy::MatchesFirst => try_read(pool, query, column, read, strategy, None).await?,
        // Without a filter every row matches: the walk is always right.
        Strategy::Auto if query.filter.is_empty() => try_read(pool, query, column, read, Strategy::Walk, None).await?,
        Strategy::Auto => {
            let key = format!("{:?}|{}", query.filter, query.sort.name());
            match density::recall(&key) {
                Some(learnt) => try_read(pool, query, column, read, learnt, None).await?,
                None => learn_and_read(pool, query, column, read, key).await?,
            }
        }
    };
    let rows = rows.unwrap_or_default();
    Ok(rows
        .into_iter()
        .map(|r| {
            let value = match column.kind {
                KeyKind::Text => r.key_text.map(SortValue::Text),
                KeyKind::Int => r.key_int.map(SortValue::Int),
                KeyKind::Time => r.key_time.map(SortValue::Time),
            };
            let key = LeadKey { value, domain: r.lead.domain.clone() };
            (r.lead.into(), key)
        })
        .collect())
}

/// The first read of a filter and sort: a short walk, else the matches first, else the whole walk;
/// what worked is remembered.
async fn learn_and_read(
    pool: &PgPool,
    query: &LeadQuery,
    column: SortColumn,
    read: &Read<'_>,
    key: String,
) -> Result<Option<Vec<PageRow>>, LeadError> {
    if let Some(rows) = try_read(pool, query, column, read, Strategy::Walk, Some(WALK_BUDGET_MS)).await? {
        return Ok(Some(rows));
    }
    if let Some(rows) = try_read(pool, query, column, read, Strategy::MatchesFirst, Some(MATCHES_BUDGET_MS)).await? {
        density::learn(key, Strategy::MatchesFirst);
        return Ok(Some(rows));
    }
    density::learn(key, Strategy::Walk);
    try_read(pool, query, column, read, Strategy::Walk, None).await
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

pub async fn list_leads(pool: &PgPool, query: &LeadQuery) -> Result<LeadPage, LeadError> {
    list_leads_with(pool, query, Strategy::Auto).await
}

/// [`list_leads`] with a fixed strategy (the tests compare them).
pub(crate) async fn list_leads_with(
    pool: &PgPool,
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
    let first_read = |region, forward, from, offset| Read { region, forward, from, offset, limit };
    // The regions in walking order, and where the walk starts in the first.
    let (forward, steps): (bool, Vec<Read>) = match &query.seek {
        Seek::Offset(offset) => {
            let valued = read(pool, query, column, &first_read(Region::Valued, true, None, *offset), strategy).await?;
            let mut rows = valued;
            let missing = limit - rows.len() as i64;
            if missing > 0 {
                // Past the valued rows: how far into the null region the offset reaches.
                let skip = if rows.is_empty() && *offset > 0 {
                    offset.saturating_sub(count_valued(pool, &query.filter, column).await?)
                } else {
                    0
                };
                let nulls = Read { region: Region::Null, forward: true, from: None, offset: skip, limit: missing };
                rows.extend(read(pool, query, column, &nulls, strategy).await?);
            }
            return Ok(page(rows));
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
        rows.extend(read(pool, query, column, &step, strategy).await?);
    }
    if !forward {
        rows.reverse();
    }
    Ok(page(rows))
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

pub async fn count_leads(pool: &PgPool, filter: &LeadFilter) -> Result<LeadCount, LeadError> {
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
