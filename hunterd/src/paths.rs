//! Every filesystem location hunterd uses, resolved in one place.
//!
//! Precedence for each: command-line flag, then its environment variable, then what systemd handed
//! us (`STATE_DIRECTORY`, `LOGS_DIRECTORY`, `CONFIGURATION_DIRECTORY`, `RUNTIME_DIRECTORY`), then the
//! mode's default (system: `/etc/hunter`, `/var/lib/hunter`, `/run/hunter`; user: the XDG folders).

use nix::fcntl::{Flock, FlockArg};
use protocol::paths::{Mode, daemon_mode, default_socket};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    pub mode: Mode,
    /// `--config`/`HUNTER_CONFIG`: must exist when given.
    pub explicit_config: Option<PathBuf>,
    /// Used when no explicit config is given; may be absent.
    pub default_config: PathBuf,
    pub state_dir: PathBuf,
    pub socket: PathBuf,
}

/// What the command line (and its env fallbacks, handled by clap) said.
#[derive(Debug, Clone, Default)]
pub struct PathOverrides {
    pub config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub socket: Option<PathBuf>,
}

fn env_dir(name: &str) -> Option<PathBuf> {
    // systemd may pass several colon-separated directories; ours is the first.
    let value = std::env::var_os(name)?;
    let first = value.to_str()?.split(':').next()?.to_string();
    (!first.is_empty()).then(|| PathBuf::from(first))
}

fn home() -> PathBuf {
    env_dir("HOME").unwrap_or_else(|| PathBuf::from("/"))
}

impl Paths {
    pub fn resolve(overrides: PathOverrides) -> Paths {
        let mode = daemon_mode();
        let default_config = match mode {
            Mode::System => {
                env_dir("CONFIGURATION_DIRECTORY").unwrap_or_else(|| PathBuf::from("/etc/hunter")).join("hunterd.toml")
            }
            Mode::User => {
                env_dir("XDG_CONFIG_HOME").unwrap_or_else(|| home().join(".config")).join("hunter").join("hunterd.toml")
            }
        };
        let state_dir = overrides.state_dir.or_else(|| env_dir("STATE_DIRECTORY")).unwrap_or_else(|| match mode {
            Mode::System => PathBuf::from("/var/lib/hunter"),
            Mode::User => env_dir("XDG_STATE_HOME").unwrap_or_else(|| home().join(".local/state")).join("hunter"),
        });
        let socket = overrides.socket.unwrap_or_else(|| default_socket(mode));
        Paths { mode, explicit_config: overrides.config, default_config, state_dir, socket }
    }

    /// Daily log files: `log.dir`, else systemd's `LOGS_DIRECTORY`, else `<state dir>/logs`.
    pub fn log_dir(&self, configured: Option<&Path>) -> PathBuf {
        configured
            .map(Path::to_path_buf)
            .or_else(|| env_dir("LOGS_DIRECTORY"))
            .unwrap_or_else(|| self.state_dir.join("logs"))
    }

    /// The embedded PostgreSQL cluster's home.
    pub fn embedded_db_dir(&self) -> PathBuf {
        self.state_dir.join("postgres")
    }

    /// Held for the daemon's lifetime so two daemons never share a state directory.
    pub fn state_lock(&self) -> PathBuf {
        self.state_dir.join("hunterd.lock")
    }
}

/// The state directory could not be prepared or locked.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("cannot create state directory {}: {error}", path.display())]
    Create { path: PathBuf, error: std::io::Error },
    #[error("cannot set permissions on {}: {error}", path.display())]
    Permissions { path: PathBuf, error: std::io::Error },
    #[error("cannot open {}: {error}", path.display())]
    Open { path: PathBuf, error: std::io::Error },
    #[error("cannot lock {}: {errno}", path.display())]
    Lock { path: PathBuf, errno: nix::errno::Errno },
    #[error(
        "another hunterd (pid {pid}) is using state directory {}: stop it first (or pass a different --state-dir)",
        dir.display()
    )]
    Busy { pid: String, dir: PathBuf },
}

/// Held while the daemon runs: a second daemon on the same state directory is refused.
pub struct StateLock {
    _lock: Flock<std::fs::File>,
}

/// Creates the state directory if needed and locks it.
pub fn lock_state_dir(paths: &Paths) -> Result<StateLock, StateDirError> {
    try_lock_state_dir(paths)?.map_err(|pid| StateDirError::Busy { pid, dir: paths.state_dir.clone() })
}

/// Like [`lock_state_dir`], but a lock held by a running daemon is an answer, not an error: `Err`
/// carries that daemon's pid (as written in the lock file).
pub fn try_lock_state_dir(paths: &Paths) -> Result<Result<StateLock, String>, StateDirError> {
    ensure_state_dir(paths)?;
    let path = paths.state_lock();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|error| StateDirError::Open { path: path.clone(), error })?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            return Ok(Err(std::fs::read_to_string(&path).unwrap_or_default().trim().to_string()));
        }
        Err((_, errno)) => return Err(StateDirError::Lock { path, errno }),
    };
    lock.set_len(0).ok();
    write!(lock, "{}", std::process::id()).ok();
    Ok(Ok(StateLock { _lock: lock }))
}

/// Creates the state directory (private; as root also enterable by the embedded cluster's account).
pub fn ensure_state_dir(paths: &Paths) -> Result<(), StateDirError> {
    let dir = &paths.state_dir;
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|error| StateDirError::Create { path: dir.clone(), error })?;
        let mode = if protocol::paths::is_root() { 0o711 } else { 0o700 };
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|error| StateDirError::Permissions { path: dir.clone(), error })?;
    }
    Ok(())
}
