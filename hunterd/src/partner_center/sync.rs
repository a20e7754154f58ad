//! One Partner Center sync run: fetch referrals updated since the last complete run (newest first,
//! stopping at the watermark), store each one on its own (a bad record never stops the others), tie
//! it to a company by domain, and queue a scan only for companies never scanned or stale. A record
//! that did not change writes nothing. Only one run at a time across every daemon on the database
//! (a transaction-scoped advisory lock, released even if the daemon dies).

use super::auth::{AuthSettings, TokenSource};
use super::client::{ApiSettings, ReferralsApi};
use super::referral::{Link, Referral};
use super::token::TokenFile;
use crate::config::PartnerCenterConfig;
use crate::intake::DomainRules;
use chrono::{DateTime, Utc};
use protocol::sync::SyncCounts;
use sqlx::{PgConnection, PgPool, Row};
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

/// The scheduled job's name (`hunter-tui jobs`, `x` in the sync screen, `hunter-tui sync partner-center`).
pub const JOB_NAME: &str = "partner_center_sync";

/// Arbitrary but fixed: "only one Partner Center sync" across all daemons sharing the database.
const LOCK_KEY: i64 = 0x4855_4e54_0000_0010;

/// Scans a referral asks for go before periodic rescans, like those a person asks for.
const SCAN_PRIORITY: i16 = crate::pipeline::submit::USER_PRIORITY;

/// Everything a run needs, built once per daemon (the access token is cached between runs).
pub struct Syncer {
    ready: Result<(TokenSource, ReferralsApi), String>,
    rules: DomainRules,
    rescan_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    Created,
    Updated,
    Unchanged,
}

impl Syncer {
    pub fn new(
        config: &PartnerCenterConfig,
        state_dir: &Path,
        rules: DomainRules,
        rescan_interval: Duration,
    ) -> Syncer {
        let ready = (|| {
            let auth = AuthSettings::from_config(config).map_err(|e| e.to_string())?;
            let api = ReferralsApi::new(ApiSettings::from_config(config).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            Ok((TokenSource::new(auth, TokenFile::in_state_dir(state_dir)), api))
        })();
        Syncer { ready, rules, rescan_interval }
    }

    /// One run; the summary is [`SyncCounts::summary`]. Fails (with the run recorded) when nothing
    /// could be fetched: sign-in needed, Partner Center unreachable after the retries, and so on.
    pub async fn run(&self, pool: &PgPool, shutdown: &watch::Receiver<bool>) -> anyhow::Result<String> {
        let (tokens, api) = self.ready.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut lock = pool.begin().await?;
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(LOCK_KEY).fetch_one(&mut *lock).await?;
        if !locked {
            return Ok("another hunterd is syncing Partner Center right now; skipped".into());
        }
        sqlx::query(
            "UPDATE sync_runs SET outcome = 'failed', finished_at = now(),
                    error = 'interrupted: the daemon stopped before the run finished'
              WHERE job = $1 AND finished_at IS NULL",
        )
        .bind(JOB_NAME)
        .execute(pool)
        .await?;
        let run_id: i64 = sqlx::query_scalar("INSERT INTO sync_runs (job) VALUES ($1) RETURNING id")
            .bind(JOB_NAME)
            .fetch_one(pool)
            .await?;
        let watermark: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT watermark FROM sync_runs WHERE job = $1 AND watermark IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(JOB_NAME)
        .fetch_optional(pool)
        .await?
        .flatten();

        let mut walk = Walk { counts: SyncCounts::default(), newest: watermark, store_failed: false };
        let result = self.walk(pool, tokens, api, watermark, shutdown, &mut walk).await;
        let counts = walk.counts;
        let (outcome, error, new_watermark) = match &result {
            Ok(()) if counts.failed > 0 => ("partial", None, (!walk.store_failed).then_some(walk.newest).flatten()),
            Ok(()) => ("ok", None, walk.newest),
            Err(e) => ("failed", Some(format!("{e:#}")), None),
        };
        sqlx::query(
            "UPDATE sync_runs SET finished_at = now(), outcome = $2, fetched = $3, created = $4, updated = $5,
                    skipped = $6, failed = $7, watermark = $8, error = $9
              WHERE id = $1",
        )
        .bind(run_id)
        .bind(outcome)
        .bind(counts.fetched as i32)
        .bind(counts.created as i32)
        .bind(counts.updated as i32)
        .bind(counts.skipped as i32)
        .bind(counts.failed as i32)
        .bind(new_watermark)
        .bind(&error)
        .execute(pool)
        .await?;
        lock.commit().await?;
        match result {
            Ok(()) => Ok(counts.summary()),
            Err(e) => Err(e.context(format!("after {}", counts.summary()))),
        }
    }

    async fn walk(
        &self,
        pool: &PgPool,
        tokens: &TokenSource,
        api: &ReferralsApi,
        watermark: Option<DateTime<Utc>>,
        shutdown: &watch::Receiver<bool>,
        walk: &mut Walk,
    ) -> anyhow::Result<()> {
        let mut next = Some(api.first_page());
        let mut pages = 0u32;
        while let Some(url) = next.take() {
            if *shutdown.borrow() {
                anyhow::bail!(
                    "stopped for shutdown after {pages} page(s); the next run starts over from the last watermark"
                );
            }
            let page = api.page(&url, tokens).await?;
            pages += 1;
            for raw in page.records {
                let referral = match Referral::from_json(raw) {
                    Ok(r) => r,
                    Err(why) => {
                        tracing::warn!("Partner Center: skipped an unusable referral record: {why}");
                        walk.counts.fetched += 1;
                        walk.counts.failed += 1;
                        continue;
                    }
                };
                // Newest first: everything from here on was stored by an earlier complete run.
                if let (Some(updated), Some(mark)) = (referral.updated, watermark)
                    && updated < mark
                {
                    return Ok(());
                }
                walk.counts.fetched += 1;
                if let Some(updated) = referral.updated {
                    walk.newest = Some(walk.newest.map_or(updated, |n| n.max(updated)));
                }
                match self.store(pool, &referral).await {
                    Ok(Stored::Created) => walk.counts.created += 1,
                    Ok(Stored::Updated) => walk.counts.updated += 1,
                    Ok(Stored::Unchanged) => walk.counts.skipped += 1,
                    Err(e) => {
                        tracing::warn!(referral = referral.id, "Partner Center: could not store the referral: {e}");
                        walk.counts.failed += 1;
                        walk.store_failed = true;
                    }
                }
            }
            next = page.next;
        }
        Ok(())
    }

    /// Stores one referral in its own transaction; an unchanged record writes nothing.
    async fn store(&self, pool: &PgPool, referral: &Referral) -> Result<Stored, sqlx::Error> {
        let stored: Option<(bool, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT raw = $2, link_override, domain FROM pc_referrals WHERE referral_id = $1")
                .bind(&referral.id)
                .bind(&referral.raw)
                .fetch_optional(pool)
                .await?;
        if stored.as_ref().is_some_and(|(unchanged, _, _)| *unchanged) {
            return Ok(Stored::Unchanged);
        }
        // A person's link or unlink wins over what the record says (the upsert guards it too).
        let link = match stored {
            Some((_, Some(over), Some(domain))) if over == "link" => Link::Linked(domain),
            Some((_, Some(over), _)) if over == "unlink" => Link::Unlinked,
            _ => referral.link(&self.rules),
        };
        if let Some(why) = link.reason() {
            tracing::info!(referral = referral.id, "Partner Center: referral not linked to a company: {why}");
        }
        let mut tx = pool.begin().await?;
        let company = match link.domain() {
            Some(domain) => Some(upsert_company(&mut tx, domain, referral).await?),
            None => None,
        };
        let created: bool = upsert_referral(&mut tx, referral, &link, company.map(|c| c.0)).await?;
        let (outcome, reason) = match (&company, link.reason()) {
            (Some((_, true)), _) => ("accepted", None),
            (Some((_, false)), _) => ("merged", None),
            (None, reason) => ("rejected", reason),
        };
        sqlx::query("INSERT INTO intake_rows (company_id, source, raw, outcome, reason) VALUES ($1, 'partner_center', $2, $3, $4)")
            .bind(company.map(|c| c.0))
            .bind(&referral.raw)
            .bind(outcome)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        if let Some((company_id, _)) = company {
            queue_scan_if_due(&mut tx, company_id, referral, self.rescan_interval).await?;
        }
        tx.commit().await?;
        Ok(if created { Stored::Created } else { Stored::Updated })
    }
}

struct Walk {
    counts: SyncCounts,
    newest: Option<DateTime<Utc>>,
    store_failed: bool,
}

/// The company for a domain, created if new (named after the customer); returns (id, created).
async fn upsert_company(tx: &mut PgConnection, domain: &str, referral: &Referral) -> Result<(i64, bool), sqlx::Error> {
    let row = sqlx::query(
        "WITH ins AS (
             INSERT INTO companies (domain, company_name, source) VALUES ($1, $2, 'partner_center')
             ON CONFLICT (domain) DO NOTHING RETURNING id)
         SELECT id, true AS created FROM ins
         UNION ALL SELECT id, false FROM companies WHERE domain = $1
         LIMIT 1",
    )
    .bind(domain)
    .bind(&referral.customer_name)
    .fetch_one(&mut *tx)
    .await?;
    let (id, created): (i64, bool) = (row.try_get("id")?, row.try_get("created")?);
    if !created && referral.customer_name.is_some() {
        sqlx::query(
            "UPDATE companies SET company_name = $2, updated_at = now() WHERE id = $1 AND company_name IS NULL",
        )
        .bind(id)
        .bind(&referral.customer_name)
        .execute(&mut *tx)
        .await?;
    }
    Ok((id, created))
}

/// Inserts or replaces the referral row; returns whether it was new.
async fn upsert_referral(
    tx: &mut PgConnection,
    r: &Referral,
    link: &Link,
    company_id: Option<i64>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO pc_referrals (referral_id, engagement_id, name, status, substatus, referral_type, qualification,
                direction, referral_kind, customer_name, domain, contact_emails, deal_value, currency, created_time,
                updated_time, expiration_time, raw, link_status, link_reason, company_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::float8::numeric(18,2), $14, $15, $16, $17,
                 $18, $19, $20, $21)
         ON CONFLICT (referral_id) DO UPDATE SET
                engagement_id = EXCLUDED.engagement_id, name = EXCLUDED.name, status = EXCLUDED.status,
                substatus = EXCLUDED.substatus, referral_type = EXCLUDED.referral_type,
                qualification = EXCLUDED.qualification, direction = EXCLUDED.direction,
                referral_kind = EXCLUDED.referral_kind, customer_name = EXCLUDED.customer_name,
                contact_emails = EXCLUDED.contact_emails, deal_value = EXCLUDED.deal_value,
                currency = EXCLUDED.currency, created_time = EXCLUDED.created_time,
                updated_time = EXCLUDED.updated_time, expiration_time = EXCLUDED.expiration_time, raw = EXCLUDED.raw,
                link_status = CASE WHEN pc_referrals.link_override IS NULL THEN EXCLUDED.link_status
                                   ELSE pc_referrals.link_status END,
                link_reason = CASE WHEN pc_referrals.link_override IS NULL THEN EXCLUDED.link_reason
                                   ELSE pc_referrals.link_reason END,
                domain = CASE WHEN pc_referrals.link_override IS NULL THEN EXCLUDED.domain ELSE pc_referrals.domain END,
                company_id = CASE WHEN pc_referrals.link_override IS NULL THEN EXCLUDED.company_id
                                  ELSE pc_referrals.company_id END,
                last_seen_at = now()
         RETURNING (xmax = 0)",
    )
    .bind(&r.id)
    .bind(&r.engagement_id)
    .bind(&r.name)
    .bind(&r.status)
    .bind(&r.substatus)
    .bind(&r.referral_type)
    .bind(&r.qualification)
    .bind(&r.direction)
    .bind(r.kind.map(|k| k.as_str()))
    .bind(&r.customer_name)
    .bind(link.domain())
    .bind(&r.contact_emails)
    .bind(r.deal_value.filter(|v| v.abs() < 1e15))
    .bind(&r.currency)
    .bind(r.created)
    .bind(r.updated)
    .bind(r.expiration)
    .bind(&r.raw)
    .bind(link.status())
    .bind(link.reason())
    .bind(company_id)
    .fetch_one(&mut *tx)
    .await
}

/// Queues a scan unless the company has a fresh one (or one is already queued): three referrals for
/// one company mean one scan. A fresh score that does not count this referral yet (the co-sell
/// bonus, or M365 from a known customer tenant) is redone: scoring happens with the scan.
async fn queue_scan_if_due(
    tx: &mut PgConnection,
    company_id: i64,
    referral: &Referral,
    rescan_interval: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO job_queue (kind, payload, dedup_key, priority)
         SELECT 'scan', jsonb_build_object('company_id', c.id), c.id::text, $2
           FROM companies c LEFT JOIN lead_state ls ON ls.company_id = c.id
          WHERE c.id = $1 AND (ls.scanned_at IS NULL OR ls.scanned_at < now() - make_interval(secs => $3)
                OR ($4 AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.id = ls.score_id
                                          AND s.breakdown::jsonb @> '[{"key": "partner_center_cosell"}]'))
                OR ($5 AND ls.provider IS DISTINCT FROM 'M365'))
         ON CONFLICT (kind, dedup_key) WHERE state IN ('queued', 'running') DO NOTHING"#,
    )
    .bind(company_id)
    .bind(SCAN_PRIORITY)
    .bind(rescan_interval.as_secs_f64())
    .bind(referral.kind == Some(super::referral::ReferralKind::CoSell))
    .bind(referral.tenant_id.is_some())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
