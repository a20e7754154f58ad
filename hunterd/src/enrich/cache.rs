//! The PostgreSQL cache of lookups (`ip_enrichment`), so a rescan does not redo them and the same
//! address reads the same until its source databases change or the entry expires.

use super::IpEnrichment;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::net::IpAddr;
use std::time::Duration;

/// A cached lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedLookup {
    pub result: IpEnrichment,
    pub source_version: String,
    pub looked_up_at: DateTime<Utc>,
}

/// A cached entry may be used only if the same databases produced it and it is younger than `ttl`.
pub fn is_fresh(
    entry_version: &str,
    entry_at: DateTime<Utc>,
    current_version: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> bool {
    let age = now.signed_duration_since(entry_at).to_std().unwrap_or(Duration::ZERO);
    entry_version == current_version && age < ttl
}

pub async fn get(pool: &PgPool, ip: IpAddr) -> Result<Option<CachedLookup>, sqlx::Error> {
    let row: Option<(sqlx::types::Json<IpEnrichment>, String, DateTime<Utc>)> =
        sqlx::query_as("SELECT result, source_version, looked_up_at FROM ip_enrichment WHERE ip = $1")
            .bind(ip.to_string())
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(result, source_version, looked_up_at)| CachedLookup {
        result: result.0,
        source_version,
        looked_up_at,
    }))
}

pub async fn put(pool: &PgPool, ip: IpAddr, result: &IpEnrichment, source_version: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ip_enrichment (ip, result, source_version, looked_up_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (ip) DO UPDATE SET result = EXCLUDED.result, source_version = EXCLUDED.source_version,
                                        looked_up_at = EXCLUDED.looked_up_at",
    )
    .bind(ip.to_string())
    .bind(sqlx::types::Json(result))
    .bind(source_version)
    .execute(pool)
    .await?;
    Ok(())
}

/// Entries made by the databases `version` and younger than `ttl`, newest first, at most `limit`:
/// what the memory cache starts with.
pub async fn load_fresh(
    pool: &PgPool,
    version: &str,
    ttl: Duration,
    limit: usize,
) -> Result<Vec<(IpAddr, CachedLookup)>, sqlx::Error> {
    let rows: Vec<(String, sqlx::types::Json<IpEnrichment>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT ip, result, looked_up_at FROM ip_enrichment
          WHERE source_version = $1 AND looked_up_at > now() - make_interval(secs => $2)
          ORDER BY looked_up_at DESC LIMIT $3",
    )
    .bind(version)
    .bind(ttl.as_secs_f64())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(ip, result, looked_up_at)| {
            let source_version = version.to_string();
            Some((ip.parse().ok()?, CachedLookup { result: result.0, source_version, looked_up_at }))
        })
        .collect())
}

/// The batch write of new results (`entries` must not repeat an address).
/// Committed without waiting for the WAL flush: the cache can be rebuilt from the databases, so a
/// row lost in a crash costs one lookup, while waiting would cost every scan an fsync.
pub async fn put_many(
    pool: &PgPool,
    entries: &[(IpAddr, std::sync::Arc<IpEnrichment>)],
    source_version: &str,
) -> Result<(), sqlx::Error> {
    let ips: Vec<String> = entries.iter().map(|(ip, _)| ip.to_string()).collect();
    let results: Vec<sqlx::types::Json<&IpEnrichment>> =
        entries.iter().map(|(_, r)| sqlx::types::Json(r.as_ref())).collect();
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO ip_enrichment (ip, result, source_version, looked_up_at)
         SELECT u.ip, u.result, $3, now() FROM UNNEST($1::text[], $2::jsonb[]) AS u(ip, result)
         ON CONFLICT (ip) DO UPDATE SET result = EXCLUDED.result, source_version = EXCLUDED.source_version,
                                        looked_up_at = EXCLUDED.looked_up_at",
    )
    .bind(&ips)
    .bind(&results)
    .bind(source_version)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
