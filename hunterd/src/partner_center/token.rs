//! The Partner Center sign-in, kept between runs: the refresh token (the only long-lived secret) and
//! what `hunterd auth status` shows. One JSON file in the state directory, owner-only (0600),
//! replaced atomically (written beside it, synced, renamed) so a crash never leaves half a token.
//! The refresh token never reaches a log: [`Secret`] prints as `[redacted]`.

use crate::config::Secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file's name inside the state directory (`hunterd backup` leaves it out).
pub const FILE_NAME: &str = "partner-center-token.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedSignIn {
    /// None after Microsoft refused it (revoked, expired): a new sign-in is needed.
    pub refresh_token: Option<Secret>,
    pub tenant_id: String,
    pub client_id: String,
    pub signed_in_at: Option<DateTime<Utc>>,
    /// Last time the refresh token bought an access token (its 90-day inactivity clock restarts).
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// Why the daemon stopped using the sign-in (Microsoft's error, AADSTS code included).
    pub sign_in_needed: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot read {}: {cause}", .path.display())]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("{} is not a Partner Center sign-in file ({cause}): run `hunterd auth partner-center`", .path.display())]
    Corrupt { path: PathBuf, cause: serde_json::Error },
    #[error("cannot write {}: {cause}", .path.display())]
    Write { path: PathBuf, cause: std::io::Error },
}

/// Where the sign-in lives: `<state dir>/partner-center-token.json`.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    pub fn in_state_dir(state_dir: &Path) -> TokenFile {
        TokenFile { path: state_dir.join(FILE_NAME) }
    }

    /// A copy elsewhere (`hunterd backup --include-credentials`).
    pub fn at(path: PathBuf) -> TokenFile {
        TokenFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved sign-in, or None when nobody signed in yet.
    pub fn load(&self) -> Result<Option<SavedSignIn>, TokenFileError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => return Err(TokenFileError::Read { path: self.path.clone(), cause }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|cause| TokenFileError::Corrupt { path: self.path.clone(), cause })
    }

    /// Replaces the file atomically with an owner-only one.
    pub fn save(&self, sign_in: &SavedSignIn) -> Result<(), TokenFileError> {
        let err = |cause| TokenFileError::Write { path: self.path.clone(), cause };
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| FILE_NAME.into());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let body = serde_json::to_vec_pretty(&Exposed(sign_in)).map_err(|e| err(std::io::Error::other(e)))?;
        let written = (|| {
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            // The mode above is filtered by the umask; say it again explicitly.
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(err)
    }
}

/// Serialises the refresh token itself (only ever into the token file).
struct Exposed<'a>(&'a SavedSignIn);

impl Serialize for Exposed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Plain<'a> {
            refresh_token: Option<&'a str>,
            tenant_id: &'a str,
            client_id: &'a str,
            signed_in_at: Option<DateTime<Utc>>,
            last_refreshed_at: Option<DateTime<Utc>>,
            sign_in_needed: Option<&'a str>,
        }
        let v = self.0;
        Plain {
            refresh_token: v.refresh_token.as_ref().map(Secret::expose),
            tenant_id: &v.tenant_id,
            client_id: &v.client_id,
            signed_in_at: v.signed_in_at,
            last_refreshed_at: v.last_refreshed_at,
            sign_in_needed: v.sign_in_needed.as_deref(),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SavedSignIn {
        SavedSignIn {
            refresh_token: Some(Secret::new("0.AAAA-refresh")),
            tenant_id: "contoso.onmicrosoft.com".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            signed_in_at: Some(Utc::now()),
            last_refreshed_at: None,
            sign_in_needed: None,
        }
    }

    #[test]
    fn a_saved_sign_in_reads_back_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_state_dir(dir.path());
        let saved = sample();
        file.save(&saved).unwrap();
        assert_eq!(file.load().unwrap(), Some(saved));
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(FILE_NAME)], "no temporary file left behind");
    }

    #[test]
    fn saving_replaces_a_group_readable_file_with_an_owner_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_state_dir(dir.path());
        std::fs::write(file.path(), "{}").unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        file.save(&sample()).unwrap();
        assert_eq!(std::fs::metadata(file.path()).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn no_file_means_nobody_signed_in() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(TokenFile::in_state_dir(dir.path()).load().unwrap(), None);
    }

    #[test]
    fn the_refresh_token_never_shows_in_debug_output() {
        assert!(!format!("{:?}", sample()).contains("0.AAAA-refresh"));
    }
}
