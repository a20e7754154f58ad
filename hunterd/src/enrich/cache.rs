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
