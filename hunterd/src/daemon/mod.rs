//! `hunterd run`: start-up in a safe order, serve until SIGTERM/SIGINT, shut down cleanly.
//!
//! Order: state-dir lock → socket availability (fail fast if a daemon is live) → database (embedded
//! cluster started if needed) → migrations → scheduler → socket bound → READY=1.
//!
//! This folder is the daemon's wiring, and nothing below it imports start-up: [`state`] is what
//! request handlers reach, [`jobs`] registers every scheduled job.

pub mod jobs;
pub mod state;

use crate::config::Config;
use crate::db::Database;
use crate::ipc::{self, socket::Access};
use crate::jobs::Scheduler;
use crate::paths::{Paths, lock_state_dir};
use crate::pipeline::{Submitter, engine::Engine, registration::RegistrationWorker, worker::ScanWorker};
use crate::systemd;
use anyhow::Context;
use chrono::Utc;
use protocol::Event;
use state::AppState;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// How long running jobs get to finish or checkpoint at shutdown.
const DRAIN_PATIENCE: Duration = Duration::from_secs(20);

pub async fn run(paths: Paths, config: Config) -> anyhow::Result<()> {
    let _state_lock = lock_state_dir(&paths)?;
    ipc::socket::ensure_available(&paths.socket)?;
    tracing::info!("hunterd {} starting (state dir {})", protocol::BUILD_VERSION, paths.state_dir.display());
    systemd::notify_status("opening the database");
    let db = Database::open(&config, &paths).await?;
    let result = serve(&paths, config, &db).await;
    db.close().await;
    if result.is_ok() {
        tracing::info!("hunterd stopped");
    }
    result
}

async fn serve(paths: &Paths, config: Config, db: &Database) -> anyhow::Result<()> {
    systemd::notify_status("applying migrations");
    db.migrate().await?;
    let engine = Arc::new(Engine::from_config(&config, &paths.state_dir)?);
    if let Some(enrichment) = &engine.enrichment {
        enrichment.attach_cache(db.handle.pool.clone()).await;
    }
    let (events, _) = broadcast::channel(1024);
    let (shutdown_tx, shutdown) = watch::channel(false);
    let dynamics = crate::dynamics::Dynamics::from_config(&config, Some(db.handle.pool.clone()));
    let dynamics_handle = dynamics.as_ref().map(|d| state::DynamicsHandle {
        wake: Arc::new(tokio::sync::Notify::new()),
        health: Arc::default(),
        dataverse: d.dataverse.clone(),
        settings: d.settings.clone(),
    });
    let state_id = crate::jobs::owner::state_id(&paths.state_dir)
        .with_context(|| format!("cannot read or write the daemon id in {}", paths.state_dir.display()))?;
    let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
    let owner = crate::jobs::owner::owner(&state_id, &host, std::process::id());
    let every_run = crate::jobs::owner::every_run(&state_id);
    let specs = jobs::specs(&config, paths, &engine, dynamics_handle.as_ref());
    // We hold the state-directory lock: leases of earlier runs on it are ours to hand back now.
    let scheduler = Scheduler::new(db.handle.pool.clone(), specs, events.clone(), owner.clone(), &every_run).await?;
    let listener = ipc::socket::bind(&paths.socket, Access::for_mode(paths.mode))?;
    let state = Arc::new(AppState {
        state_dir: paths.state_dir.clone(),
        domain_rules: crate::intake::DomainRules::new(&config.intake),
        config,
        db: db.handle.clone(),
        scheduler: scheduler.clone(),
        events: events.clone(),
        started_at: Utc::now(),
        started: Instant::now(),
        clients: AtomicU32::new(0),
        submit: Submitter::new(db.handle.pool.clone()),
        uploads: crate::ipc::uploads::Uploads::new(&paths.state_dir),
        dynamics: dynamics_handle,
        lead_cache: crate::leads::LeadCache::new(),
    });
    let lead_changes_task = tokio::spawn(crate::leads::follow_lead_changes(
        state.lead_cache.clone(),
        db.handle.pool.clone(),
        shutdown.clone(),
    ));
    let scheduler_task = tokio::spawn(scheduler.clone().run(shutdown.clone()));
    let reclaimed = crate::jobs::owner::reclaim_previous_runs(&db.handle.pool, &state_id).await?;
    if reclaimed > 0 {
        tracing::info!("handed back {reclaimed} item(s) an earlier run of this daemon was working on");
    }
    let pushes = crate::dynamics::queue::release_orphans(&db.handle.pool, &every_run).await?;
    if pushes > 0 {
        tracing::info!("handed back {pushes} Dynamics push(es) an earlier run of this daemon was making");
    }
    let whois = &state.config.whois;
    let worker = ScanWorker {
        pool: db.handle.pool.clone(),
        engine: engine.clone(),
        owner: owner.clone(),
        capacity: state.config.scan.concurrency as usize,
        wake: state.submit.wake(),
        events: events.clone(),
        registration_ttl: engine.whois.as_ref().map(|_| whois.cache_ttl.0),
        health: db.handle.health.clone(),
    };
    let worker_task = tokio::spawn(worker.run(shutdown.clone()));
    let mut supervisor = tokio::spawn(crate::db::supervisor::run(
        db.handle.pool.clone(),
        db.embedded_cluster().cloned(),
        db.handle.health.clone(),
        db.handle.location.clone(),
        shutdown.clone(),
    ));
    let registration_task = engine.whois.clone().map(|client| {
        let worker = RegistrationWorker {
            pool: db.handle.pool.clone(),
            client,
            owner: owner.clone(),
            concurrency: whois.concurrency as usize,
            per_server_per_minute: whois.per_server_per_minute,
            lookup_cap: Duration::from_millis(whois.rdap_timeout_ms + whois.whois_timeout_ms) + Duration::from_secs(1),
            wake: Arc::new(tokio::sync::Notify::new()),
            events: events.clone(),
            health: db.handle.health.clone(),
        };
        tokio::spawn(worker.run(shutdown.clone()))
    });
    let push_task = match (dynamics, &state.dynamics) {
        (Some(d), Some(handle)) => {
            let worker = crate::dynamics::worker::PushWorker {
                pool: db.handle.pool.clone(),
                dataverse: d.dataverse,
                settings: d.settings,
                org_url: d.org_url,
                owner: owner.clone(),
                concurrency: state.config.dynamics.max_concurrency as usize,
                max_attempts: state.config.dynamics.max_attempts,
                wake: handle.wake.clone(),
                events: events.clone(),
                health: handle.health.clone(),
            };
            Some(tokio::spawn(worker.run(shutdown.clone())))
        }
        _ => None,
    };
    let server_task = tokio::spawn(ipc::serve(listener, state.clone(), shutdown.clone()));
    systemd::notify_ready();
    systemd::notify_status("serving");
    tracing::info!(
        "hunterd {} ready on {} ({} database: {})",
        protocol::BUILD_VERSION,
        paths.socket.display(),
        db.handle.mode,
        db.handle.location
    );

    let gave_up = tokio::select! {
        signal = wait_for_signal() => {
            tracing::info!("received {}, shutting down", signal?);
            None
        }
        supervised = &mut supervisor => match supervised {
            Ok(Err(e)) => Some(e),
            _ => None,
        },
    };
    if let Some(e) = &gave_up {
        tracing::error!("{e}; shutting down");
    }
    systemd::notify_stopping();
    let _ = events.send(Event::ShuttingDown);
    // Give subscribers a moment to receive the notice before connections close.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = shutdown_tx.send(true);
    let _ = server_task.await;
    let _ = scheduler_task.await;
    let _ = worker_task.await;
    let _ = lead_changes_task.await;
    supervisor.abort();
    if let Some(task) = registration_task {
        let _ = task.await;
    }
    if let Some(task) = push_task {
        let _ = task.await;
    }
    scheduler.drain(DRAIN_PATIENCE).await;
    if let Some(enrichment) = &engine.enrichment {
        enrichment.flush_cache().await;
    }
    match gave_up {
        // Non-zero exit: systemd's Restart= takes over.
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
