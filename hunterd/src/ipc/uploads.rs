//! Files a client sends to import. The daemon may not be able to read the client's files (another
//! user, `ProtectHome=` under systemd), so clients stream them over the socket into the state
//! directory, where the importer reads them back.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Largest file accepted (a million-row CSV is far below this).
pub const MAX_UPLOAD: u64 = 2 * 1024 * 1024 * 1024;
/// Uploads in progress at once, across all clients.
const MAX_OPEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("no upload {0} in progress (it may have been abandoned; start the import again)")]
    Unknown(u64),
    #[error("the file is larger than {} MiB", MAX_UPLOAD / 1024 / 1024)]
    TooLarge,
    #[error("too many imports in progress; try again in a moment")]
    Busy,
    #[error("cannot store the upload in {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

struct Upload {
    file_name: String,
    path: PathBuf,
    file: std::fs::File,
    size: u64,
}

/// A finished upload: remove the file when done with it.
pub struct Received {
    pub file_name: String,
    pub path: PathBuf,
}

impl Drop for Received {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Ids are random (not a counter another client could guess) and, on top, bound to the connection
/// that began the upload (see `ipc::connection`); files are private to the daemon's account.
pub struct Uploads {
    dir: PathBuf,
    open: Mutex<HashMap<u64, Upload>>,
}

impl Uploads {
    /// Uploads live in `<state dir>/uploads`; leftovers from a previous run are removed.
    pub fn new(state_dir: &Path) -> Uploads {
        let dir = state_dir.join("uploads");
        let _ = std::fs::remove_dir_all(&dir);
        Uploads { dir, open: Mutex::default() }
    }

    pub fn begin(&self, file_name: &str) -> Result<u64, UploadError> {
        let mut open = self.open.lock().map_err(|_| UploadError::Busy)?;
        if open.len() >= MAX_OPEN {
            return Err(UploadError::Busy);
        }
        let io = |source| UploadError::Io { path: self.dir.clone(), source };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        let id = loop {
            let id = uuid::Uuid::new_v4().as_u64_pair().0;
            if !open.contains_key(&id) {
                break id;
            }
        };
        let path = self.dir.join(format!("upload-{}", uuid::Uuid::new_v4().simple()));
        let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
        // Keep only the last path component of what the client called it (shown in reports).
        let file_name = Path::new(file_name).file_name().and_then(|n| n.to_str()).unwrap_or("upload").to_string();
        open.insert(id, Upload { file_name, path, file, size: 0 });
        Ok(id)
    }

    pub fn append(&self, id: u64, data: &[u8]) -> Result<(), UploadError> {
        let mut open = self.open.lock().map_err(|_| UploadError::Busy)?;
        let upload = open.get_mut(&id).ok_or(UploadError::Unknown(id))?;
        if upload.size + data.len() as u64 > MAX_UPLOAD {
            let upload = open.remove(&id);
            if let Some(u) = upload {
                let _ = std::fs::remove_file(&u.path);
            }
            return Err(UploadError::TooLarge);
        }
        upload.file.write_all(data).map_err(|source| UploadError::Io { path: upload.path.clone(), source })?;
        upload.size += data.len() as u64;
        Ok(())
    }

    pub fn finish(&self, id: u64) -> Result<Received, UploadError> {
        let mut open = self.open.lock().map_err(|_| UploadError::Busy)?;
        let mut upload = open.remove(&id).ok_or(UploadError::Unknown(id))?;
        upload.file.flush().map_err(|source| UploadError::Io { path: upload.path.clone(), source })?;
        Ok(Received { file_name: upload.file_name, path: upload.path })
    }

    /// Drops uploads a disconnected client left unfinished.
    pub fn abandon(&self, ids: &[u64]) {
        if let Ok(mut open) = self.open.lock() {
            for id in ids {
                if let Some(u) = open.remove(id) {
                    let _ = std::fs::remove_file(&u.path);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_reassembled_in_order_and_removed_after_use() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = Uploads::new(dir.path());
        let id = uploads.begin("/home/alice/leads.csv").unwrap();
        uploads.append(id, b"domain\n").unwrap();
        uploads.append(id, b"contoso.com\n").unwrap();
        let received = uploads.finish(id).unwrap();
        assert_eq!(received.file_name, "leads.csv");
        assert_eq!(std::fs::read(&received.path).unwrap(), b"domain\ncontoso.com\n");
        let path = received.path.clone();
        drop(received);
        assert!(!path.exists());
    }

    #[test]
    fn an_unknown_upload_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = Uploads::new(dir.path());
        assert!(matches!(uploads.append(42, b"x"), Err(UploadError::Unknown(42))));
    }

    #[test]
    fn abandoned_uploads_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = Uploads::new(dir.path());
        let id = uploads.begin("a.csv").unwrap();
        uploads.append(id, b"x").unwrap();
        uploads.abandon(&[id]);
        assert_eq!(std::fs::read_dir(dir.path().join("uploads")).unwrap().count(), 0);
    }
}
