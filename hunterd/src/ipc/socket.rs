//! Binding the socket: created with its final mode (never briefly too open), a live daemon is never
//! displaced, and a stale file left by a crash is replaced.

use interprocess::local_socket::tokio::Listener;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use nix::unistd::{Gid, Group, chown};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Who may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Mode 0600: this user only (user mode).
    Owner,
    /// Mode 0660 with this group (system mode, group `hunter`).
    Group(Gid),
}

impl Access {
    /// System mode shares the socket with group `hunter` when it exists; otherwise owner only.
    pub fn for_mode(mode: protocol::paths::Mode) -> Access {
        if mode == protocol::paths::Mode::System {
            match Group::from_name("hunter") {
                Ok(Some(group)) => return Access::Group(group.gid),
                _ => tracing::warn!("group `hunter` does not exist: only this account can reach the socket"),
            }
        }
        Access::Owner
    }

    fn socket_mode(self) -> u32 {
        match self {
            Access::Owner => 0o600,
            Access::Group(_) => 0o660,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("another hunterd is already serving on {0}: stop it first (or pass a different --socket)")]
    AlreadyRunning(PathBuf),
    #[error("{0} exists and is not a socket: move it away or pass a different --socket")]
    NotASocket(PathBuf),
    #[error("cannot use socket {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Fails if a live daemon answers on `path`; removes a stale socket file otherwise.
pub fn ensure_available(path: &Path) -> Result<(), SocketError> {
    let io = |source| SocketError::Io { path: path.to_path_buf(), source };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket(path.to_path_buf()));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(SocketError::AlreadyRunning(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            tracing::info!("replacing stale socket {}", path.display());
            std::fs::remove_file(path).map_err(io)
        }
        Err(e) => Err(io(e)),
    }
}

/// Binds the listener with its final permissions.
pub fn bind(path: &Path, access: Access) -> Result<Listener, SocketError> {
    let io = |source| SocketError::Io { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        std::fs::create_dir_all(parent).map_err(io)?;
        let dir_mode = if matches!(access, Access::Group(_)) { 0o750 } else { 0o700 };
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(dir_mode)).map_err(io)?;
        if let Access::Group(gid) = access {
            chown(parent, None, Some(gid)).map_err(|e| io(e.into()))?;
        }
    }
    ensure_available(path)?;
    let name = path.to_fs_name::<GenericFilePath>().map_err(io)?;
    let listener = ListenerOptions::new()
        .name(name)
        .mode(access.socket_mode() as libc::mode_t)
        .reclaim_name(true)
        .try_overwrite(false)
        .create_tokio()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => SocketError::AlreadyRunning(path.to_path_buf()),
            _ => io(e),
        })?;
    if let Access::Group(gid) = access {
        chown(path, None, Some(gid)).map_err(|e| io(e.into()))?;
    }
    Ok(listener)
}
