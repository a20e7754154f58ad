//! The database: an external PostgreSQL (`database.url`) or a private embedded cluster, migrated at
//! start-up with the migrations compiled into the binary.

pub mod embedded;
pub mod pg_bin;
pub mod revert;
pub mod supervisor;

use crate::config::Config;
use crate::paths::Paths;
use protocol::{DatabaseInfo, DatabaseMode};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub use embedded::{EmbeddedCluster, EmbeddedError};

/// How a daemon's database sessions are named (`application_name`), so `restore` and
/// `migrate revert` can refuse while one is connected.
pub const DAEMON_APPLICATION_NAME: &str = "hunterd";

/// How one-shot commands' sessions are named.
pub const COMMAND_APPLICATION_NAME: &str = "hunterd-command";

/// The migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("invalid database.url: {0}")]
    BadUrl(String),
    #[error("cannot connect to PostgreSQL at {location}: {source}")]
    Connect { location: String, source: sqlx::Error },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// A connection pool and what to tell users about it. Cheap to clone.
#[derive(Clone)]
pub struct DbHandle {
    pub pool: PgPool,
    pub mode: DatabaseMode,
    /// Where it is, safe to show (no password).
    pub location: String,
    /// Whether it answers right now (kept by [`supervisor::run`]).
    pub health: std::sync::Arc<supervisor::DbHealth>,
}

/// An open database and, in embedded mode, the cluster we own.
pub struct Database {
    pub handle: DbHandle,
    cluster: Option<EmbeddedCluster>,
}

impl Database {
    /// Opens the configured database for the daemon, starting the embedded cluster when
    /// `database.url` is unset. Its sessions are named [`DAEMON_APPLICATION_NAME`].
    pub async fn open(config: &Config, paths: &Paths) -> Result<Database, DbError> {
        Self::open_as(config, paths, DAEMON_APPLICATION_NAME).await
    }

    /// [`Self::open`], with sessions named `application_name` (unless the URL names them), so that
    /// a one-shot command can tell a daemon's sessions from its own in `pg_stat_activity`.
    pub async fn open_as(config: &Config, paths: &Paths, application_name: &str) -> Result<Database, DbError> {
        let max = config.database.max_connections;
        let patience = config.database.connect_timeout.0;
        match &config.database.url {
            Some(url) => {
                let mut options =
                    PgConnectOptions::from_str(url.expose()).map_err(|e| DbError::BadUrl(e.to_string()))?;
                if options.get_application_name().is_none() {
                    options = options.application_name(application_name);
                }
                let location = url.redacted();
                let pool = connect_with_retry(options, max, &location, patience).await?;
                Ok(Database { handle: DbHandle::new(pool, DatabaseMode::External, location), cluster: None })
            }
            None => {
                let cluster = EmbeddedCluster::locate(&paths.embedded_db_dir())?;
                cluster.start().await?;
                let location = cluster.root().display().to_string();
                let options = cluster.connect_options().application_name(application_name);
                let pool = match connect_with_retry(options, max, &location, patience).await {
                    Ok(pool) => pool,
                    Err(e) => {
                        let _ = cluster.stop().await;
                        return Err(e);
                    }
                };
                let handle = DbHandle::new(pool, DatabaseMode::Embedded, location);
                Ok(Database { handle, cluster: Some(cluster) })
            }
        }
    }

    /// Connects to the embedded cluster a running daemon owns, without owning it: closing this
    /// leaves the cluster running. For one-shot commands next to a live daemon.
    pub async fn attach_to_running_embedded(config: &Config, paths: &Paths) -> Result<Database, DbError> {
        let cluster = EmbeddedCluster::locate(&paths.embedded_db_dir())?;
        let location = cluster.root().display().to_string();
        let pool =
            connect_with_retry(cluster.connect_options(), 2, &location, config.database.connect_timeout.0).await?;
        Ok(Database { handle: DbHandle::new(pool, DatabaseMode::Embedded, location), cluster: None })
    }

    /// The embedded cluster's connection details (socket directory, user, database), for tools
    /// such as pg_dump; `None` for an external database.
    pub fn embedded_cluster(&self) -> Option<&EmbeddedCluster> {
        self.cluster.as_ref()
    }

    /// Applies pending migrations (idempotent; concurrent daemons serialise on sqlx's advisory lock).
    pub async fn migrate(&self) -> Result<(), DbError> {
        let pool = &self.handle.pool;
        let applied_before = applied_versions(pool).await;
        MIGRATOR.run(pool).await?;
        let rewrote = REWRITE_LEAD_LIST.iter().any(|version| !applied_before.contains(version));
        if rewrote && !applied_before.is_empty() {
            // A rewritten table has no visibility map until it is vacuumed, and until then the lead
            // list's index-only walks read the heap too (no autovacuum threshold counts a rewrite).
            // VACUUM cannot run inside a migration's transaction, so it runs here, once.
            if let Err(e) = sqlx::query("VACUUM (ANALYZE) lead_list").persistent(false).execute(pool).await {
                tracing::warn!(error = %e, "could not vacuum lead_list after its rewrite; autovacuum will in time");
            }
        }
        Ok(())
    }

    /// Closes connections and stops the embedded cluster (if we own one).
    pub async fn close(self) {
        self.handle.pool.close().await;
        if let Some(cluster) = self.cluster
            && let Err(e) = cluster.stop().await
        {
            tracing::warn!("embedded PostgreSQL did not stop cleanly: {e}");
        }
    }
}

impl DbHandle {
    pub fn new(pool: PgPool, mode: DatabaseMode, location: String) -> DbHandle {
        DbHandle { pool, mode, location, health: Default::default() }
    }

    /// What `status` shows, always within `patience`: the live answer, or the last one with the
    /// problem that keeps the database from answering now.
    pub async fn status(&self, patience: Duration) -> DatabaseInfo {
        let problem = match tokio::time::timeout(patience, self.info()).await {
            Ok(Ok(info)) => {
                self.health.remember(&info);
                return DatabaseInfo { problem: self.health.problem(), ..info };
            }
            Ok(Err(e)) => self.health.problem().unwrap_or_else(|| format!("not reachable: {e}")),
            Err(_) => self.health.problem().unwrap_or_else(|| format!("no answer within {}s", patience.as_secs())),
        };
        let last = self.health.last_info();
        DatabaseInfo {
            mode: self.mode,
            location: self.location.clone(),
            server_version: last.as_ref().map(|i| i.server_version.clone()).unwrap_or_default(),
            schema_version: last.map_or(0, |i| i.schema_version),
            problem: Some(problem),
        }
    }

    /// Version, mode and schema for status screens.
    pub async fn info(&self) -> Result<DatabaseInfo, DbError> {
        let server_version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&self.pool).await?;
        let schema_version: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(&self.pool).await?;
        Ok(DatabaseInfo {
            mode: self.mode,
            location: self.location.clone(),
            server_version,
            schema_version: schema_version.unwrap_or(0),
            problem: None,
        })
    }
}

/// PostgreSQL may still be starting (or restarting): retry for a while before giving up.
async fn connect_with_retry(
    options: PgConnectOptions,
    max_connections: u32,
    location: &str,
    patience: Duration,
) -> Result<PgPool, DbError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(e) if tokio::time::Instant::now() + delay < deadline && is_transient(&e) => {
                tracing::warn!("PostgreSQL at {location} not reachable yet ({e}); retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(source) => return Err(DbError::Connect { location: location.to_string(), source }),
        }
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // 57P03: the database system is starting up.
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// Migrations that rewrite `lead_list` (a stored column made again): vacuumed after they apply.
const REWRITE_LEAD_LIST: &[i64] = &[20261212000001];

/// The migration versions applied so far (none when the migrations table does not exist yet).
async fn applied_versions(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await.unwrap_or_default()
}
