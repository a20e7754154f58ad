//! `hunterd run`: start-up in a safe order, serve until SIGTERM/SIGINT, shut down cleanly.
//!
//! Order: state-dir lock → socket availability (fail fast if a daemon is live) → database (embedded
//! cluster started if needed) → migrations → scheduler → socket bound → READY=1.

use crate::config::Config;
use crate::db::{Database, DbHandle};
use crate::ipc::{self, socket::Access};
use crate::jobs::{self, Scheduler};
use crate::paths::Paths;
use crate::pipeline::{self, engine::Engine, registration::RegistrationWorker, worker::ScanWorker};
use crate::systemd;
use anyhow::Context;
use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use protocol::Event;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// How long running jobs get to finish or checkpoint at shutdown.
const DRAIN_PATIENCE: Duration = Duration::from_secs(20);

/// What every request handler can reach.
pub struct AppState {
    pub config: Config,
    pub db: DbHandle,
    pub scheduler: Scheduler,
    pub events: broadcast::Sender<Event>,
    pub started_at: DateTime<Utc>,
    pub started: Instant,
    pub clients: AtomicU32,
    /// Wakes this daemon's scan workers when it queued work itself (others poll).
    pub scan_wake: Arc<tokio::sync::Notify>,
    pub uploads: crate::ipc::uploads::Uploads,
    /// What counts as a company domain (free-mail list from config).
    pub domain_rules: crate::intake::DomainRules,
}

/// Held while the daemon runs: a second daemon on the same state directory is refused.
pub struct StateLock {
    _lock: Flock<std::fs::File>,
}

/// Creates the state directory if needed and locks it.
pub fn lock_state_dir(paths: &Paths) -> anyhow::Result<StateLock> {
    match try_lock_state_dir(paths)? {
        Ok(lock) => Ok(lock),
        Err(holder) => anyhow::bail!(
            "another hunterd (pid {holder}) is using state directory {}: stop it first (or pass a different --state-dir)",
            paths.state_dir.display()
        ),
    }
}

/// Like [`lock_state_dir`], but a lock held by a running daemon is an answer, not an error: `Err`
/// carries that daemon's pid (as written in the lock file).
pub fn try_lock_state_dir(paths: &Paths) -> anyhow::Result<Result<StateLock, String>> {
    ensure_state_dir(paths)?;
    let path = paths.state_lock();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            return Ok(Err(std::fs::read_to_string(&path).unwrap_or_default().trim().to_string()));
        }
        Err((_, errno)) => anyhow::bail!("cannot lock {}: {errno}", path.display()),
    };
    lock.set_len(0).ok();
    write!(lock, "{}", std::process::id()).ok();
    Ok(Ok(StateLock { _lock: lock }))
}

/// Creates the state directory (private; as root also enterable by the embedded cluster's account).
pub fn ensure_state_dir(paths: &Paths) -> anyhow::Result<()> {
    let dir = &paths.state_dir;
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create state directory {}", dir.display()))?;
        let mode = if protocol::paths::is_root() { 0o711 } else { 0o700 };
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set permissions on {}", dir.display()))?;
    }
    Ok(())
}

/// The jobs every daemon runs; feature issues add theirs here.
fn job_specs(config: &Config, paths: &Paths, engine: &Arc<Engine>) -> Vec<jobs::JobSpec> {
    vec![
        jobs::housekeeping::spec(),
        pipeline::rescan::spec(config.scan.rescan_interval.0),
        rdap_bootstrap_spec(config, paths, engine),
        crate::enrich::freshness::spec(config, engine.clone()),
        crate::enrich::download::spec(config, engine.clone()),
    ]
}

/// Keeps the RDAP bootstrap (which registry serves which TLD) fresh in the state directory.
fn rdap_bootstrap_spec(config: &Config, paths: &Paths, engine: &Arc<Engine>) -> jobs::JobSpec {
    let (engine, url, state_dir) = (engine.clone(), config.whois.rdap_bootstrap_url.clone(), paths.state_dir.clone());
    let run: jobs::JobFn = Arc::new(move |_ctx| {
        let (engine, url, state_dir) = (engine.clone(), url.clone(), state_dir.clone());
        Box::pin(async move {
            let client = engine.whois.as_ref().ok_or_else(|| anyhow::anyhow!("whois lookups are disabled"))?;
            client.refresh_bootstrap(&url, &state_dir).await?;
            Ok(format!("RDAP bootstrap refreshed from {url}"))
        })
    });
    jobs::JobSpec {
        name: "rdap-bootstrap",
        description: "Refresh the IANA RDAP bootstrap file (which registry answers for which TLD)",
        interval: Duration::from_secs(7 * 24 * 3600),
        enabled: config.whois.enabled,
        run_on_start: false,
        run,
    }
}

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
    let scheduler = Scheduler::new(db.handle.pool.clone(), job_specs(&config, paths, &engine), events.clone()).await?;
    let listener = ipc::socket::bind(&paths.socket, Access::for_mode(paths.mode))?;
    let state = Arc::new(AppState {
        domain_rules: crate::intake::DomainRules::new(&config.intake),
        config,
        db: db.handle.clone(),
        scheduler: scheduler.clone(),
        events: events.clone(),
        started_at: Utc::now(),
        started: Instant::now(),
        clients: AtomicU32::new(0),
        scan_wake: Arc::new(tokio::sync::Notify::new()),
        uploads: crate::ipc::uploads::Uploads::new(&paths.state_dir),
    });
    let scheduler_task = tokio::spawn(scheduler.clone().run(shutdown.clone()));
    let owner = format!(
        "{}:{}",
        nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default(),
        std::process::id()
    );
    let whois = &state.config.whois;
    let worker = ScanWorker {
        pool: db.handle.pool.clone(),
        engine: engine.clone(),
        owner: owner.clone(),
        capacity: state.config.scan.concurrency as usize,
        wake: state.scan_wake.clone(),
        events: events.clone(),
        registration_ttl: engine.whois.as_ref().map(|_| whois.cache_ttl.0),
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
        };
        tokio::spawn(worker.run(shutdown.clone()))
    });
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
    supervisor.abort();
    if let Some(task) = registration_task {
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
