//! Every scheduled job the daemon runs, registered in one place: the features provide the job bodies,
//! this file decides which run, how often, and what they are handed.

use crate::config::Config;
use crate::enrich::{download, freshness};
use crate::jobs::{self, JobContext, JobFn, JobSpec};
use crate::partner_center;
use crate::paths::Paths;
use crate::pipeline::{engine::Engine, rescan};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// The jobs every daemon runs; feature issues add theirs here.
pub fn specs(
    config: &Config,
    paths: &Paths,
    engine: &Arc<Engine>,
    dynamics: Option<&super::state::DynamicsHandle>,
) -> Vec<JobSpec> {
    vec![
        jobs::housekeeping::spec(),
        rescans(config.scan.rescan_interval.0),
        rdap_bootstrap(config, paths, engine),
        geoip_databases(config, engine.clone()),
        geoip_download(config, engine.clone()),
        d365_audit_retention(config),
        d365_push_status(config, dynamics),
        partner_center_sync(config, paths),
    ]
}

/// Fetches Partner Center referrals; enabled with `features.partner_center_sync` (off: never a request).
fn partner_center_sync(config: &Config, paths: &Paths) -> JobSpec {
    let syncer = Arc::new(partner_center::Syncer::new(
        &config.partner_center,
        &paths.state_dir,
        crate::intake::DomainRules::new(&config.intake),
        config.scan.rescan_interval.0,
    ));
    let run: JobFn = Arc::new(move |ctx: JobContext| {
        let syncer = syncer.clone();
        Box::pin(async move { syncer.run(&ctx.pool, &ctx.shutdown).await })
    });
    JobSpec {
        name: partner_center::JOB_NAME,
        description: "Fetch referrals from Partner Center",
        interval: config.partner_center.sync_interval.0,
        enabled: config.features.partner_center_sync,
        run_on_start: true,
        run,
    }
}

/// The Dynamics 365 push as the sync screen shows it: queue depth, failures, throttling, last error.
/// The pushes themselves are the push worker's; this job reports on them (and fails while there is a
/// problem, so the screen shows it in red).
fn d365_push_status(config: &Config, dynamics: Option<&super::state::DynamicsHandle>) -> JobSpec {
    let parts = dynamics.map(|d| (d.health.clone(), d.dataverse.clone()));
    let run: JobFn = Arc::new(move |ctx: JobContext| {
        let parts = parts.clone();
        Box::pin(async move {
            let (health, dataverse) = parts.ok_or_else(|| anyhow::anyhow!("{}", crate::dynamics::PUSH_OFF))?;
            let health = health.lock().map(|h| h.clone()).unwrap_or_default();
            let throttle = dataverse.throttle_state();
            crate::dynamics::queue::status_line(&ctx.pool, &health, &throttle).await
        })
    });
    JobSpec {
        name: "dynamics-push",
        description: "Dynamics 365 push queue: depth, failures, throttling and the last error",
        interval: Duration::from_secs(60),
        enabled: config.features.dynamics_push,
        run_on_start: true,
        run,
    }
}

/// Deletes Dynamics audit rows older than `dynamics.audit_retention`.
fn d365_audit_retention(config: &Config) -> JobSpec {
    let keep = config.dynamics.audit_retention.0;
    let run: JobFn = Arc::new(move |ctx: JobContext| {
        Box::pin(async move {
            let n = crate::dynamics::queue::prune_audit(&ctx.pool, keep).await?;
            Ok(format!("{n} Dynamics audit row(s) older than {} deleted", humantime::format_duration(keep)))
        })
    });
    JobSpec {
        name: "d365-audit-retention",
        description: "Delete Dynamics 365 audit log rows older than dynamics.audit_retention",
        interval: Duration::from_secs(24 * 3600),
        enabled: config.features.dynamics_push,
        run_on_start: false,
        run,
    }
}

/// The periodic rescan of leads whose last scan is older than `scan.rescan_interval`.
pub fn rescans(rescan_interval: Duration) -> JobSpec {
    let run: JobFn =
        Arc::new(move |ctx: JobContext| Box::pin(async move { rescan::run(&ctx.pool, rescan_interval).await }));
    JobSpec {
        name: rescan::NAME,
        description: "Queue rescans of leads whose last scan is older than scan.rescan_interval",
        // Check often; what is due depends on each lead's own last scan.
        interval: rescan_interval.min(Duration::from_secs(3600)),
        enabled: true,
        run_on_start: true,
        run,
    }
}

/// Keeps the RDAP bootstrap (which registry serves which TLD) fresh in the state directory.
fn rdap_bootstrap(config: &Config, paths: &Paths, engine: &Arc<Engine>) -> JobSpec {
    let (engine, url, state_dir) = (engine.clone(), config.whois.rdap_bootstrap_url.clone(), paths.state_dir.clone());
    let run: JobFn = Arc::new(move |_ctx| {
        let (engine, url, state_dir) = (engine.clone(), url.clone(), state_dir.clone());
        Box::pin(async move {
            let client = engine.whois.as_ref().ok_or_else(|| anyhow::anyhow!("whois lookups are disabled"))?;
            client.refresh_bootstrap(&url, &state_dir).await?;
            Ok(format!("RDAP bootstrap refreshed from {url}"))
        })
    });
    JobSpec {
        name: "rdap-bootstrap",
        description: "Refresh the IANA RDAP bootstrap file (which registry answers for which TLD)",
        interval: Duration::from_secs(7 * 24 * 3600),
        enabled: config.whois.enabled,
        run_on_start: false,
        run,
    }
}

/// Reloads changed IP enrichment databases and reports their age; enabled with `features.ip_enrichment`.
fn geoip_databases(config: &Config, engine: Arc<Engine>) -> JobSpec {
    let max_age = config.enrichment.max_age.0;
    let run: JobFn = Arc::new(move |_ctx| {
        let engine = engine.clone();
        Box::pin(async move {
            let service = engine.enrichment.as_ref().ok_or_else(|| anyhow::anyhow!("IP enrichment is off"))?;
            freshness::check(service, Utc::now(), max_age)
        })
    });
    JobSpec {
        name: freshness::JOB_NAME,
        description: "Reload changed IP enrichment databases; report each one's build date and age",
        interval: freshness::CHECK_EVERY,
        enabled: config.features.ip_enrichment,
        run_on_start: true,
        run,
    }
}

/// Downloads the MaxMind databases; enabled when the flag is on and a MaxMind account is configured.
fn geoip_download(config: &Config, engine: Arc<Engine>) -> JobSpec {
    let enrichment = config.enrichment.clone();
    let run: JobFn = Arc::new(move |_ctx| {
        let (engine, enrichment) = (engine.clone(), enrichment.clone());
        Box::pin(async move { download::run(&enrichment, engine.enrichment.as_ref()).await })
    });
    JobSpec {
        name: download::JOB_NAME,
        description: "Download the configured MaxMind databases (checksum verified, replaced atomically)",
        interval: config.enrichment.download_interval.0,
        enabled: download::configured(config.features.ip_enrichment, &config.enrichment),
        // First registration means the account was just configured: fetch right away.
        run_on_start: true,
        run,
    }
}
