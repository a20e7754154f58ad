//! Every filesystem location hunterd uses, resolved in one place.
//!
//! Precedence for each: command-line flag, then its environment variable, then what systemd handed
//! us (`STATE_DIRECTORY`, `LOGS_DIRECTORY`, `CONFIGURATION_DIRECTORY`, `RUNTIME_DIRECTORY`), then the
//! mode's default (system: `/etc/hunter`, `/var/lib/hunter`, `/run/hunter`; user: the XDG folders).

use protocol::paths::{Mode, daemon_mode, default_socket};
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
