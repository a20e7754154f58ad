//! The referral inbox: every synced referral, linked or not (filtered, sorted, paged and counted in
//! PostgreSQL), and the manual links a person sets or removes. The queries are assembled from
//! constant fragments and a whitelisted sort column only (every value is a bind parameter), which is
//! why their text is asserted safe for sqlx.
//!
//! A manual link or unlink is an override stored beside what the sync computes
//! (`pc_referrals.link_override`); the sync reads it and its upsert guards it, so later syncs never
//! undo it. Linking creates the company if new; linking and unlinking both queue a rescan at the
//! priority of a person's request, since a referral's scoring effects (the co-sell bonus, a known
//! customer tenant) are applied when the company is scored.

use super::referral::{Link, Referral};
use crate::intake::DomainRules;
use chrono::{DateTime, Utc};
use protocol::{
    FacetCount, LinkStatus, ReferralFacet, ReferralFilter, ReferralPage, ReferralQuery, ReferralRow, ReferralSort,
};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("no referral `{0}` (`hunter-tui referrals` lists them)")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database unavailable: {0}")]
    Db(#[from] sqlx::Error),
}

/// An incoming referral still waiting for an answer (`New`) that expires within the window (the
/// parameter numbered `window`, in seconds): Partner Center closes such referrals as `Expired`
/// after about two weeks.
fn expiring(window: u8) -> String {
    format!(
        "(p.direction = 'Incoming' AND p.status = 'New' AND p.expiration_time > now()
          AND p.expiration_time <= now() + make_interval(secs => ${window}))"
    )
}

/// The filter over `pc_referrals p`: `$1` text pattern or NULL, `$2` kinds, `$3` statuses (lower
/// case), `$4` link statuses, `$5` expiring only, `$6` the window.
fn where_clause() -> String {
    format!(
        "($1::text IS NULL OR p.referral_id ILIKE $1 OR p.name ILIKE $1 OR p.customer_name ILIKE $1
              OR p.domain ILIKE $1 OR array_to_string(p.contact_emails, ' ') ILIKE $1)
         AND (cardinality($2::text[]) = 0 OR coalesce(p.referral_kind, 'unknown') = ANY($2))
         AND (cardinality($3::text[]) = 0 OR lower(coalesce(p.status, 'unknown')) = ANY($3))
         AND (cardinality($4::text[]) = 0 OR p.link_status = ANY($4))
         AND (NOT $5 OR {})",
        expiring(6)
    )
}

fn sort_expr(sort: ReferralSort) -> &'static str {
    match sort {
        ReferralSort::Id => "p.referral_id",
        ReferralSort::Name => "lower(p.name)",
        ReferralSort::Customer => "lower(p.customer_name)",
        ReferralSort::Kind => "p.referral_kind",
        ReferralSort::Status => "p.status",
        ReferralSort::Substatus => "p.substatus",
        ReferralSort::DealValue => "p.deal_value",
        ReferralSort::Created => "p.created_time",
        ReferralSort::Updated => "p.updated_time",
        ReferralSort::Expiration => "p.expiration_time",
        ReferralSort::LinkStatus => "p.link_status",
        ReferralSort::Domain => "p.domain",
    }
}

/// `%text%` with LIKE's own characters taken literally.
fn pattern(text: &Option<String>) -> Option<String> {
    let text = text.as_deref().map(str::trim).filter(|t| !t.is_empty())?;
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Some(format!("%{escaped}%"))
}

fn bind_filter<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    filter: &ReferralFilter,
    window: Duration,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let statuses: Vec<String> = filter.statuses.iter().map(|s| s.to_lowercase()).collect();
    let links: Vec<String> = filter.link_statuses.iter().map(|s| s.name().to_string()).collect();
    query
        .bind(pattern(&filter.text))
        .bind(filter.kinds.clone())
        .bind(statuses)
        .bind(links)
        .bind(filter.expiring_only)
        .bind(window.as_secs_f64())
}

const COLUMNS: &str = "p.referral_id, p.name, p.customer_name, p.referral_kind, p.direction, p.status, p.substatus,
       p.deal_value::text AS deal_value, p.currency, p.created_time, p.updated_time, p.expiration_time,
       p.contact_emails, p.link_status, p.link_reason, p.domain, p.link_override_by, p.link_override_at";

#[derive(sqlx::FromRow)]
struct Row {
    referral_id: String,
    name: Option<String>,
    customer_name: Option<String>,
    referral_kind: Option<String>,
    direction: Option<String>,
    status: Option<String>,
    substatus: Option<String>,
    deal_value: Option<String>,
    currency: Option<String>,
    created_time: Option<DateTime<Utc>>,
    updated_time: Option<DateTime<Utc>>,
    expiration_time: Option<DateTime<Utc>>,
    contact_emails: Vec<String>,
    link_status: String,
    link_reason: Option<String>,
    domain: Option<String>,
    link_override_by: Option<String>,
    link_override_at: Option<DateTime<Utc>>,
    expiring_soon: bool,
}

impl From<Row> for ReferralRow {
    fn from(r: Row) -> ReferralRow {
        ReferralRow {
            id: r.referral_id,
            name: r.name,
            customer: r.customer_name,
            kind: r.referral_kind,
            direction: r.direction,
            status: r.status,
            substatus: r.substatus,
            deal_value: r.deal_value,
            currency: r.currency,
            created: r.created_time,
            updated: r.updated_time,
            expiration: r.expiration_time,
            contacts: r.contact_emails,
            link_status: LinkStatus::from_name(&r.link_status),
            link_reason: r.link_reason,
            domain: r.domain,
            manual_by: r.link_override_by,
            manual_at: r.link_override_at,
            expiring_soon: r.expiring_soon,
        }
    }
}

/// One page of the inbox, with the number of matching referrals and of those expiring soon.
pub async fn list(pool: &PgPool, query: &ReferralQuery, window: Duration) -> Result<ReferralPage, InboxError> {
    let direction = if query.descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {COLUMNS}, {} AS expiring_soon FROM pc_referrals p WHERE {}
          ORDER BY {} {direction} NULLS LAST, p.referral_id {direction}
         OFFSET $7 LIMIT $8",
        expiring(6),
        where_clause(),
        sort_expr(query.sort)
    );
    let limit = query.limit.clamp(1, protocol::MAX_PAGE);
    let rows: Vec<Row> = bind_filter(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &query.filter, window)
        .bind(i64::try_from(query.offset).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    let counts = format!(
        "SELECT count(*) FILTER (WHERE {}), count(*) FILTER (WHERE {}) FROM pc_referrals p",
        where_clause(),
        expiring(6)
    );
    let (total, expiring): (i64, i64) =
        bind_filter(sqlx::query_as(sqlx::AssertSqlSafe(counts)), &query.filter, window).fetch_one(pool).await?;
    Ok(ReferralPage {
        rows: rows.into_iter().map(ReferralRow::from).collect(),
        offset: query.offset,
        total: total.max(0) as u64,
        expiring_soon: expiring.max(0) as u64,
        expiring_window_secs: window.as_secs(),
    })
}

/// Values of one facet among the referrals matching `filter` without that facet's own constraint,
/// most common first.
pub async fn facet_values(
    pool: &PgPool,
    facet: ReferralFacet,
    filter: &ReferralFilter,
    window: Duration,
) -> Result<Vec<FacetCount>, InboxError> {
    let mut others = filter.clone();
    let column = match facet {
        ReferralFacet::Kind => {
            others.kinds.clear();
            "coalesce(p.referral_kind, 'unknown')"
        }
        ReferralFacet::Status => {
            others.statuses.clear();
            "coalesce(p.status, 'unknown')"
        }
        ReferralFacet::LinkStatus => {
            others.link_statuses.clear();
            "p.link_status"
        }
    };
    let sql = format!(
        "SELECT {column} AS value, count(*) AS n FROM pc_referrals p WHERE {} GROUP BY 1 ORDER BY 2 DESC, 1",
        where_clause()
    );
    let rows: Vec<(String, i64)> =
        bind_filter(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &others, window).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(value, n)| FacetCount { value, count: n.max(0) as u64 }).collect())
}

/// What [`link`] and [`unlink`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relinked {
    pub company_created: bool,
    /// The rescan batch that applies the change to the company's score.
    pub batch_id: Option<String>,
}

/// Ties a referral to the company at `input` (normalised and validated exactly as intake does),
/// creating the company if it is new, and queues its scan. Stored as a manual link by `by`.
pub async fn link(
    pool: &PgPool,
    rules: &DomainRules,
    referral_id: &str,
    input: &str,
    by: &str,
) -> Result<Relinked, InboxError> {
    let domain = rules
        .check(input)
        .map_err(|why| InboxError::Invalid(format!("`{}` is not a company domain: {why}", input.trim())))?;
    let mut tx = pool.begin().await?;
    let found: Option<(i64, Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT id, customer_name, company_id FROM pc_referrals WHERE referral_id = $1 FOR UPDATE")
            .bind(referral_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((row_id, customer, previous)) = found else {
        return Err(InboxError::NotFound(referral_id.to_string()));
    };
    let (company_id, created): (i64, bool) = sqlx::query_as(
        "WITH ins AS (
             INSERT INTO companies (domain, company_name, source) VALUES ($1, $2, 'referral_link')
             ON CONFLICT (domain) DO NOTHING RETURNING id)
         SELECT id, true FROM ins UNION ALL SELECT id, false FROM companies WHERE domain = $1 LIMIT 1",
    )
    .bind(&domain)
    .bind(&customer)
    .fetch_one(&mut *tx)
    .await?;
    let batch_id: String = sqlx::query_scalar("SELECT gen_random_uuid()::text").fetch_one(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO intake_rows (company_id, source, batch_id, raw, outcome)
         VALUES ($1, 'referral_link', $2::uuid, jsonb_build_object('referral_id', $3::text, 'input', $4::text), $5)",
    )
    .bind(company_id)
    .bind(&batch_id)
    .bind(referral_id)
    .bind(input)
    .bind(if created { "accepted" } else { "merged" })
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE pc_referrals SET link_status = 'linked', link_reason = NULL, domain = $2, company_id = $3,
                link_override = 'link', link_override_by = $4, link_override_at = now()
          WHERE id = $1",
    )
    .bind(row_id)
    .bind(&domain)
    .bind(company_id)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    // A company the referral was wrongly tied to loses its effects too.
    let rescan: Vec<i64> = std::iter::once(company_id).chain(previous.filter(|p| *p != company_id)).collect();
    queue_rescan(&mut tx, &batch_id, "referral_link", &rescan, by).await?;
    tx.commit().await?;
    tracing::info!(referral = referral_id, %domain, by, "referral linked by hand");
    Ok(Relinked { company_created: created, batch_id: Some(batch_id) })
}

/// Removes a referral's link. When the referral's own data would link it again, the removal is kept
/// as a manual unlink (`unlinked`) that syncs respect; otherwise it goes back to what the sync found
/// (`no_domain`, `free_mail_only`, `invalid`). The company is rescanned so the referral's scoring
/// effects go.
pub async fn unlink(pool: &PgPool, rules: &DomainRules, referral_id: &str, by: &str) -> Result<Relinked, InboxError> {
    let mut tx = pool.begin().await?;
    let found: Option<(i64, serde_json::Value, String, Option<i64>)> =
        sqlx::query_as("SELECT id, raw, link_status, company_id FROM pc_referrals WHERE referral_id = $1 FOR UPDATE")
            .bind(referral_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((row_id, raw, status, company_id)) = found else {
        return Err(InboxError::NotFound(referral_id.to_string()));
    };
    if status != "linked" {
        return Err(InboxError::Invalid(format!(
            "referral `{referral_id}` is not linked ({status}): nothing to unlink"
        )));
    }
    let automatic = Referral::from_json(raw).map(|r| r.link(rules)).unwrap_or(Link::Unlinked);
    let (link, manual) = match automatic {
        Link::Linked(_) | Link::Unlinked => (Link::Unlinked, true),
        other => (other, false),
    };
    sqlx::query(
        "UPDATE pc_referrals SET link_status = $2, link_reason = $3, domain = NULL, company_id = NULL,
                link_override = CASE WHEN $4 THEN 'unlink' END,
                link_override_by = CASE WHEN $4 THEN $5 END,
                link_override_at = CASE WHEN $4 THEN now() END
          WHERE id = $1",
    )
    .bind(row_id)
    .bind(link.status())
    .bind(link.reason())
    .bind(manual)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    let batch_id = match company_id {
        Some(company) => {
            let batch: String = sqlx::query_scalar("SELECT gen_random_uuid()::text").fetch_one(&mut *tx).await?;
            queue_rescan(&mut tx, &batch, "referral_unlink", &[company], by).await?;
            Some(batch)
        }
        None => None,
    };
    tx.commit().await?;
    tracing::info!(referral = referral_id, by, "referral unlinked by hand");
    Ok(Relinked { company_created: false, batch_id })
}

/// One referral as the inbox shows it.
pub async fn row(pool: &PgPool, referral_id: &str, window: Duration) -> Result<ReferralRow, InboxError> {
    let sql =
        format!("SELECT {COLUMNS}, {} AS expiring_soon FROM pc_referrals p WHERE p.referral_id = $1", expiring(2));
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(referral_id)
        .bind(window.as_secs_f64())
        .fetch_optional(pool)
        .await?;
    row.map(ReferralRow::from).ok_or_else(|| InboxError::NotFound(referral_id.to_string()))
}

/// A batch (so `--wait` and the TUI can follow it) with the companies, and their scans queued at
/// the priority of a person's request.
async fn queue_rescan(
    tx: &mut PgConnection,
    batch_id: &str,
    kind: &str,
    company_ids: &[i64],
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO batches (id, kind, requested_by) VALUES ($1::uuid, $2, $3)")
        .bind(batch_id)
        .bind(kind)
        .bind(by)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO batch_members (batch_id, company_id) SELECT $1::uuid, unnest($2::bigint[])")
        .bind(batch_id)
        .bind(company_ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO job_queue (kind, payload, dedup_key, priority)
         SELECT 'scan', jsonb_build_object('company_id', c), c::text, $2 FROM unnest($1::bigint[]) AS c
         ON CONFLICT (kind, dedup_key) WHERE state IN ('queued', 'running') DO NOTHING",
    )
    .bind(company_ids)
    .bind(crate::pipeline::submit::USER_PRIORITY)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_matches_like_characters_literally() {
        assert_eq!(pattern(&Some(" 50%_off\\ ".into())), Some("%50\\%\\_off\\\\%".into()));
        assert_eq!(pattern(&Some("   ".into())), None);
        assert_eq!(pattern(&None), None);
    }

    #[test]
    fn every_sort_has_its_own_column() {
        let mut exprs: Vec<&str> = ReferralSort::ALL.iter().map(|s| sort_expr(*s)).collect();
        exprs.sort_unstable();
        exprs.dedup();
        assert_eq!(exprs.len(), ReferralSort::ALL.len());
    }
}
