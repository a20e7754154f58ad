//! Where the daemon's socket lives. Both binaries use this, so they agree without configuration.
//!
//! System mode (hunterd started by root or by systemd): `/run/hunter/hunterd.sock`.
//! User mode: `$XDG_RUNTIME_DIR/hunter/hunterd.sock`. `HUNTER_SOCKET` / `--socket` override both.

use std::path::PathBuf;

/// Env variable that overrides the socket path on both sides.
pub const SOCKET_ENV: &str = "HUNTER_SOCKET";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A system service: `/etc`, `/var/lib`, `/run`, `/var/log`, shared by a group of users.
    System,
    /// One user's private daemon under the XDG directories.
    User,
}

/// System mode when root or when systemd handed us its directories; user mode otherwise.
pub fn daemon_mode() -> Mode {
    let under_systemd = ["STATE_DIRECTORY", "RUNTIME_DIRECTORY"].iter().any(|v| std::env::var_os(v).is_some());
    if under_systemd || is_root() { Mode::System } else { Mode::User }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn non_empty_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `/run/hunter/hunterd.sock`, or the directory systemd's `RuntimeDirectory=` gave us.
pub fn system_socket() -> PathBuf {
    non_empty_env("RUNTIME_DIRECTORY").unwrap_or_else(|| PathBuf::from("/run/hunter")).join("hunterd.sock")
}

/// `$XDG_RUNTIME_DIR/hunter/hunterd.sock`; without XDG_RUNTIME_DIR, a per-user folder in /tmp.
pub fn user_socket() -> PathBuf {
    match non_empty_env("XDG_RUNTIME_DIR") {
        Some(dir) => dir.join("hunter").join("hunterd.sock"),
        // SAFETY: getuid has no preconditions and cannot fail.
        None => PathBuf::from(format!("/tmp/hunter-{}", unsafe { libc::getuid() })).join("hunterd.sock"),
    }
}

/// The socket a daemon in `mode` binds unless overridden.
pub fn default_socket(mode: Mode) -> PathBuf {
    match mode {
        Mode::System => system_socket(),
        Mode::User => user_socket(),
    }
}

/// The sockets a client tries, in order: an explicit override; else the user's own daemon, then the
/// system daemon (a salesperson's shell reaches the shared service without configuration).
pub fn client_socket(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(path) = explicit.or_else(|| non_empty_env(SOCKET_ENV)) {
        return path;
    }
    let candidates = if is_root() { vec![system_socket()] } else { vec![user_socket(), system_socket()] };
    candidates.iter().find(|p| p.exists()).cloned().unwrap_or_else(|| default_socket(daemon_mode()))
}
