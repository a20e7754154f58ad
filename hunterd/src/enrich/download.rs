//! The `geoip-download` job: fetches MaxMind databases the way `geoipupdate` does (issue 5 §4).
//!
//! `GET <base>/geoip/databases/<edition>/download?suffix=tar.gz` with HTTP basic auth (account id :
//! license key), checked against `?suffix=tar.gz.sha256`, the `.mmdb` inside opened once to prove it
//! reads, then written next to the configured file and renamed over it, so a reader never sees half a
//! file and a bad download never replaces a good one. The service then reloads it.
//!
//! Like `geoipupdate`, a run that finds nothing new downloads nothing: after an install, a sidecar
//! `<file>.sha256` next to the target records the archive's digest and the installed `.mmdb`'s. The
//! next run fetches only the `.sha256` URL, and skips the archive when it still matches and the target
//! still hashes to what was installed (a file replaced by hand or damaged is downloaded again). A
//! missing or unreadable sidecar just means "download".

use super::EnrichmentService;
use crate::config::EnrichmentConfig;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const JOB_NAME: &str = "geoip-download";

/// Real databases are well under this; anything bigger is not what we asked for.
const MAX_MMDB_BYTES: u64 = 1 << 30;
const HTTP_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("cannot read the MaxMind license key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("edition {edition}: no file to write it to (set enrichment.{setting})")]
    NoTarget { edition: String, setting: &'static str },
    #[error("edition {edition}: {url} answered HTTP {status}{hint}")]
    Http { edition: String, url: String, status: u16, hint: &'static str },
    #[error("edition {edition}: cannot reach {url}: {reason}")]
    Fetch { edition: String, url: String, reason: String },
    #[error("edition {edition}: checksum mismatch (expected {expected}, got {actual}); {path} left unchanged")]
    Checksum { edition: String, expected: String, actual: String, path: PathBuf },
    #[error("edition {edition}: the downloaded archive is unusable: {reason}; {path} left unchanged")]
    Archive { edition: String, reason: String, path: PathBuf },
    #[error("edition {edition}: cannot write {path}: {reason}")]
    Write { edition: String, path: PathBuf, reason: String },
}

/// The account to download with. The key is kept out of `Debug` so it cannot end up in a log.
#[derive(Clone)]
pub struct Credentials {
    pub account_id: String,
    license_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("account_id", &self.account_id).finish_non_exhaustive()
    }
}

impl Credentials {
    /// Reads the key from its file (surrounding whitespace ignored); errors name the file only.
    pub fn load(account_id: &str, key_file: &Path) -> Result<Credentials, DownloadError> {
        let fail = |reason: String| DownloadError::KeyFile { path: key_file.to_path_buf(), reason };
        let key = std::fs::read_to_string(key_file).map_err(|e| fail(e.to_string()))?;
        let license_key = key.trim().to_string();
        if license_key.is_empty() {
            return Err(fail("the file is empty".into()));
        }
        Ok(Credentials { account_id: account_id.trim().to_string(), license_key })
    }
}

/// Whether the download job can run: the flag is on and both halves of the account are configured.
pub fn configured(ip_enrichment: bool, config: &EnrichmentConfig) -> bool {
    ip_enrichment && config.maxmind_account_id.is_some() && config.maxmind_license_key_file.is_some()
}

/// Where an edition goes: ASN editions to `maxmind_asn_db`, City/Country ones to `maxmind_city_db`.
pub fn target_for(edition: &str, config: &EnrichmentConfig) -> Result<PathBuf, DownloadError> {
    let (path, setting) = if edition.ends_with("-ASN") {
        (&config.maxmind_asn_db, "maxmind_asn_db")
    } else {
        (&config.maxmind_city_db, "maxmind_city_db")
    };
    path.clone().ok_or_else(|| DownloadError::NoTarget { edition: edition.into(), setting })
}

/// The archive's and the checksum's addresses for one edition.
pub fn urls(base: &str, edition: &str) -> (String, String) {
    let url = format!("{}/geoip/databases/{edition}/download?suffix=tar.gz", base.trim_end_matches('/'));
    (url.clone(), format!("{url}.sha256"))
}

/// The hex digest at the start of a `.sha256` file (`<hex>  <file name>`), lower-cased.
pub fn parse_sha256(body: &str) -> Option<String> {
    let hex = body.split_whitespace().next()?.to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The first `.mmdb` file in a `.tar.gz`.
pub fn extract_mmdb(archive: &[u8]) -> Result<Vec<u8>, String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let is_mmdb = entry.path().map(|p| p.extension().is_some_and(|x| x == "mmdb")).unwrap_or(false);
        if !is_mmdb || !entry.header().entry_type().is_file() {
            continue;
        }
        let mut out = Vec::new();
        entry.take(MAX_MMDB_BYTES + 1).read_to_end(&mut out).map_err(|e| e.to_string())?;
        if out.len() as u64 > MAX_MMDB_BYTES {
            return Err("the .mmdb inside is larger than 1 GiB".into());
        }
        return Ok(out);
    }
    Err("no .mmdb file inside".into())
}

/// Replaces `path` with `bytes` so that readers see either the old file or the new one, whole.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "database".into());
    let temp = dir.join(format!(".{name}.download-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

async fn get(
    client: &reqwest::Client,
    credentials: &Credentials,
    edition: &str,
    url: &str,
) -> Result<Vec<u8>, DownloadError> {
    let fetch = |reason: String| DownloadError::Fetch { edition: edition.into(), url: url.into(), reason };
    let response = client
        .get(url)
        .basic_auth(&credentials.account_id, Some(&credentials.license_key))
        .send()
        .await
        .map_err(|e| fetch(e.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 => " (check enrichment.maxmind_account_id and the license key)",
            403 => " (the account may not have access to this edition)",
            404 => " (unknown edition; see enrichment.maxmind_editions)",
            429 => " (download limit reached; try again later)",
            _ => "",
        };
        return Err(DownloadError::Http { edition: edition.into(), url: url.into(), status: status.as_u16(), hint });
    }
    Ok(response.bytes().await.map_err(|e| fetch(e.without_url().to_string()))?.to_vec())
}

/// What a run did for one edition; both carry the database's build (`database_type@build_epoch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new archive was downloaded, verified and installed.
    Installed(String),
    /// The remote checksum and the file on disk still match the last install; nothing was downloaded.
    UpToDate(String),
}

/// The record of the last install, kept next to the target so a later run can skip the download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallRecord {
    /// SHA-256 of the archive, as MaxMind's `.sha256` gave it.
    pub archive: String,
    /// SHA-256 of the `.mmdb` bytes written to the target.
    pub mmdb: String,
}

impl InstallRecord {
    /// The sidecar for `target`: its file name plus `.sha256`, in the same directory.
    pub fn path_for(target: &Path) -> PathBuf {
        let mut path = target.as_os_str().to_owned();
        path.push(".sha256");
        PathBuf::from(path)
    }

    pub fn to_text(&self) -> String {
        format!("archive {}\nmmdb {}\n", self.archive, self.mmdb)
    }

    /// `None` for anything but one `archive` and one `mmdb` line, each with a bare SHA-256.
    pub fn parse(text: &str) -> Option<InstallRecord> {
        let (mut archive, mut mmdb) = (None, None);
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (key, value) = line.split_once(' ')?;
            let hex = parse_sha256(value).filter(|hex| hex.len() == value.trim().len())?;
            let slot = match key {
                "archive" => &mut archive,
                "mmdb" => &mut mmdb,
                _ => return None,
            };
            if slot.replace(hex).is_some() {
                return None;
            }
        }
        Some(InstallRecord { archive: archive?, mmdb: mmdb? })
    }

    /// The record next to `target`, if there is a readable, well-formed one.
    pub fn load(target: &Path) -> Option<InstallRecord> {
        InstallRecord::parse(&std::fs::read_to_string(InstallRecord::path_for(target)).ok()?)
    }
}

fn build_of(mmdb: &[u8]) -> Result<String, maxminddb::MaxMindDbError> {
    let reader = maxminddb::Reader::from_source(mmdb)?;
    Ok(format!("{}@{}", reader.metadata().database_type, reader.metadata().build_epoch))
}

/// The installed build, when the last install came from the archive with digest `expected` and the
/// target still holds exactly what was installed then; `None` means "download".
fn unchanged_build(target: &Path, expected: &str) -> Option<String> {
    let record = InstallRecord::load(target)?;
    if record.archive != expected {
        return None;
    }
    let current = std::fs::read(target).ok()?;
    if sha256_hex(&current) != record.mmdb {
        return None;
    }
    build_of(&current).ok()
}

/// Downloads, verifies and installs one edition, unless the last install is still current.
pub async fn install_edition(
    client: &reqwest::Client,
    credentials: &Credentials,
    base_url: &str,
    edition: &str,
    target: &Path,
) -> Result<Outcome, DownloadError> {
    let (archive_url, sha_url) = urls(base_url, edition);
    let archive_err =
        |reason: String| DownloadError::Archive { edition: edition.into(), reason, path: target.to_path_buf() };
    let sha_body = get(client, credentials, edition, &sha_url).await?;
    let expected = parse_sha256(&String::from_utf8_lossy(&sha_body))
        .ok_or_else(|| archive_err(format!("{sha_url} did not return a SHA-256 digest")))?;
    if let Some(build) = unchanged_build(target, &expected) {
        return Ok(Outcome::UpToDate(build));
    }
    let archive = get(client, credentials, edition, &archive_url).await?;
    let actual = sha256_hex(&archive);
    if actual != expected {
        return Err(DownloadError::Checksum { edition: edition.into(), expected, actual, path: target.to_path_buf() });
    }
    let mmdb = extract_mmdb(&archive).map_err(archive_err)?;
    let build = build_of(&mmdb).map_err(|e| archive_err(format!("the .mmdb inside does not open: {e}")))?;
    write_atomically(target, &mmdb).map_err(|e| DownloadError::Write {
        edition: edition.into(),
        path: target.to_path_buf(),
        reason: e.to_string(),
    })?;
    // Losing the record only costs one extra download next time, so it does not fail the install.
    let record = InstallRecord { archive: expected, mmdb: sha256_hex(&mmdb) };
    let sidecar = InstallRecord::path_for(target);
    if let Err(e) = write_atomically(&sidecar, record.to_text().as_bytes()) {
        tracing::warn!(
            "{edition} installed, but cannot write {}: {e}; the next run downloads it again",
            sidecar.display()
        );
    }
    Ok(Outcome::Installed(build))
}

/// The job body: every configured edition, each on its own (one failing does not stop the others).
pub async fn run(config: &EnrichmentConfig, service: Option<&EnrichmentService>) -> anyhow::Result<String> {
    let (Some(account), Some(key_file)) = (&config.maxmind_account_id, &config.maxmind_license_key_file) else {
        anyhow::bail!("MaxMind downloads need enrichment.maxmind_account_id and enrichment.maxmind_license_key_file");
    };
    let credentials = Credentials::load(account, key_file)?;
    let client = crate::http::client_builder().timeout(HTTP_TIMEOUT).build()?;
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for edition in &config.maxmind_editions {
        let installed = match target_for(edition, config) {
            Ok(target) => install_edition(&client, &credentials, &config.maxmind_download_url, edition, &target)
                .await
                .map(|outcome| match outcome {
                    Outcome::Installed(build) => format!("{edition} installed ({build}) at {}", target.display()),
                    Outcome::UpToDate(build) => format!("{edition} up to date ({build}) at {}", target.display()),
                }),
            Err(e) => Err(e),
        };
        match installed {
            Ok(line) => done.push(line),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if let Some(service) = service {
        service.reload_if_changed();
    }
    if failed.is_empty() {
        return Ok(done.join("; "));
    }
    let mut message = failed.join("; ");
    if !done.is_empty() {
        message.push_str(&format!(" (succeeded: {})", done.join("; ")));
    }
    Err(anyhow::anyhow!(message))
}
