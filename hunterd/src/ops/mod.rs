//! One-shot operator commands (`hunterd check`, `backup`, `restore`). They work next to a live
//! daemon without disturbing it: in embedded mode they use the daemon's running cluster, and only
//! when no daemon runs do they start the cluster themselves (holding the state-directory lock, so a
//! daemon cannot start half-way) and stop it afterwards. A daemon started during that window fails
//! with "another hunterd is using state directory" and systemd's `Restart=` starts it again.

pub mod archive;
pub mod backup;
pub mod check;

use crate::config::Config;
use crate::db::{COMMAND_APPLICATION_NAME, DAEMON_APPLICATION_NAME, Database, DbError};
use crate::paths::Paths;
use crate::paths::{StateLock, try_lock_state_dir};

/// The database as a one-shot command gets it.
pub struct CommandDb {
    pub db: Database,
    /// The pid of the daemon using the state directory, when one runs (embedded mode only).
    pub daemon_pid: Option<String>,
    /// Held while the command owns the embedded cluster.
    _lock: Option<StateLock>,
}

impl CommandDb {
    /// Closes the pool; stops the embedded cluster if this command started it (or adopted one a
    /// crashed daemon left running), never a running daemon's.
    pub async fn close(self) {
        self.db.close().await;
    }
}

/// Daemons connected to the same database (external mode: they may run on other hosts), as
/// `pid@host` descriptions, so commands that replace the schema can refuse while one is.
pub async fn connected_daemons(pool: &sqlx::PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT 'pid ' || pid || ' from ' || COALESCE(host(client_addr), 'a local socket')
           FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
    )
    .bind(DAEMON_APPLICATION_NAME)
    .fetch_all(pool)
    .await
}

/// Opens the configured database for a one-shot command (see the module docs).
pub async fn open_database(config: &Config, paths: &Paths) -> anyhow::Result<CommandDb> {
    if config.database.url.is_some() {
        return Ok(CommandDb {
            db: Database::open_as(config, paths, COMMAND_APPLICATION_NAME).await?,
            daemon_pid: None,
            _lock: None,
        });
    }
    match try_lock_state_dir(paths)? {
        Ok(lock) => Ok(CommandDb {
            db: Database::open_as(config, paths, COMMAND_APPLICATION_NAME).await?,
            daemon_pid: None,
            _lock: Some(lock),
        }),
        Err(pid) => {
            let db = Database::attach_to_running_embedded(config, paths).await.map_err(|e: DbError| {
                anyhow::anyhow!("hunterd (pid {pid}) runs, but its embedded database cannot be reached: {e}")
            })?;
            Ok(CommandDb { db, daemon_pid: Some(pid), _lock: None })
        }
    }
}
