//! The IANA RDAP bootstrap file for DNS (RFC 9224): which RDAP server answers for which TLD.
//!
//! A hand-written subset ships embedded; a refresh downloads IANA's file into the state directory,
//! and the loader prefers that copy, so a daemon learns new RDAP servers without a release.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shipped default, in IANA's exact format.
pub const EMBEDDED_JSON: &str = include_str!("../../data/rdap-dns.json");
/// Name of the refreshed copy inside the state directory.
pub const STATE_FILE: &str = "rdap-dns.json";
/// IANA's file is about 100 KB; anything near this is not a bootstrap file.
const MAX_DOWNLOAD_BYTES: usize = 8 * 1024 * 1024;
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    publication: Option<String>,
    /// Lower-case domain suffix (`com`, or `co.uk` if a file ever lists one) → base URLs, each
    /// ending in `/`, HTTPS first.
    services: HashMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("not an RDAP bootstrap file: {0}")]
    Invalid(String),
    #[error("downloading {url}: {message}")]
    Download { url: String, message: String },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Which copy [`Bootstrap::load`] used, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapOrigin {
    StateDir(PathBuf),
    Embedded,
}

impl fmt::Display for BootstrapOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootstrapOrigin::StateDir(path) => write!(f, "{}", path.display()),
            BootstrapOrigin::Embedded => f.write_str("embedded default"),
        }
    }
}

impl Bootstrap {
    /// Parses and validates: every service is `[[labels…], [http(s) URLs…]]` and `com` is covered
    /// (a file without `.com` is truncated or not the DNS file).
    pub fn parse(json: &str) -> Result<Self, BootstrapError> {
        let invalid = |m: &str| BootstrapError::Invalid(m.to_string());
        let root: serde_json::Value = serde_json::from_str(json).map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        let entries = root.get("services").and_then(|s| s.as_array()).ok_or_else(|| invalid("no `services` array"))?;
        let mut services = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            let bad = || BootstrapError::Invalid(format!("services[{i}] is not [[labels], [urls]]"));
            let pair = entry.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
            let labels = string_array(&pair[0]).ok_or_else(bad)?;
            let mut urls = string_array(&pair[1]).ok_or_else(bad)?;
            if let Some(url) = urls.iter().find(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
                return Err(BootstrapError::Invalid(format!("services[{i}]: `{url}` is not an http(s) URL")));
            }
            if urls.is_empty() {
                return Err(bad());
            }
            // RFC 9224 §3: prefer HTTPS; a base URL must end in `/` before `domain/<name>` is appended.
            urls.sort_by_key(|u| !u.starts_with("https://"));
            let urls: Vec<String> =
                urls.into_iter().map(|u| if u.ends_with('/') { u } else { format!("{u}/") }).collect();
            for label in labels {
                let key = label.trim_end_matches('.').to_ascii_lowercase();
                services.entry(key).or_insert_with(|| urls.clone());
            }
        }
        let publication = root.get("publication").and_then(|p| p.as_str()).map(str::to_string);
        let bootstrap = Bootstrap { publication, services };
        if bootstrap.base_urls("example.com").is_none() {
            return Err(invalid("no service for .com"));
        }
        Ok(bootstrap)
    }

    /// The shipped default; its validity is checked by a test, so this cannot fail in a release.
    pub fn embedded() -> Self {
        Bootstrap::parse(EMBEDDED_JSON).unwrap_or_else(|e| {
            tracing::error!(error = %e, "embedded RDAP bootstrap file is invalid; RDAP is off");
            Bootstrap { publication: None, services: HashMap::new() }
        })
    }

    /// The refreshed copy in `state_dir` if there is a valid one, else the embedded default.
    pub fn load(state_dir: &Path) -> (Self, BootstrapOrigin) {
        let path = state_dir.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => match Bootstrap::parse(&text) {
                Ok(bootstrap) => return (bootstrap, BootstrapOrigin::StateDir(path)),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring refreshed RDAP bootstrap"),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read refreshed RDAP bootstrap"),
        }
        (Bootstrap::embedded(), BootstrapOrigin::Embedded)
    }

    /// RDAP base URLs for `domain`, by label-wise longest match (RFC 9224 §4).
    pub fn base_urls(&self, domain: &str) -> Option<&[String]> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let mut rest = domain.as_str();
        loop {
            if let Some(urls) = self.services.get(rest) {
                return Some(urls);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    pub fn publication(&self) -> Option<&str> {
        self.publication.as_deref()
    }

    /// How many TLDs (or suffixes) have an RDAP service.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// Downloads a bootstrap file, validates it and replaces `state_dir`'s copy atomically (a reader
/// sees the old file or the new one, never half of one). The old copy stays if anything fails.
pub async fn refresh(http: &reqwest::Client, url: &str, state_dir: &Path) -> Result<Bootstrap, BootstrapError> {
    let text = download(http, url).await?;
    let bootstrap = Bootstrap::parse(&text)?;
    let path = state_dir.join(STATE_FILE);
    write_atomically(&path, text.as_bytes()).await.map_err(|source| BootstrapError::Write { path, source })?;
    Ok(bootstrap)
}

async fn download(http: &reqwest::Client, url: &str) -> Result<String, BootstrapError> {
    let failed = |message: String| BootstrapError::Download { url: url.to_string(), message };
    let mut response = http.get(url).timeout(DOWNLOAD_TIMEOUT).send().await.map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("HTTP status {}", response.status().as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        if body.len() + chunk.len() > MAX_DOWNLOAD_BYTES {
            return Err(failed(format!("larger than {MAX_DOWNLOAD_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| failed("not UTF-8".into()))
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await?;
        file.write_all(bytes).await?;
        file.sync_all().await?;
        tokio::fs::rename(&tmp, path).await
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result
}

fn string_array(value: &serde_json::Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(|v| v.as_str().map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrap(services: &str) -> Bootstrap {
        Bootstrap::parse(&format!(r#"{{"version":"1.0","publication":"2026-01-01T00:00:00Z","services":{services}}}"#))
            .unwrap()
    }

    #[test]
    fn the_embedded_file_is_valid_and_routes_com_to_verisign() {
        let embedded = Bootstrap::parse(EMBEDDED_JSON).unwrap();
        assert_eq!(embedded.base_urls("example.com").unwrap(), ["https://rdap.verisign.com/com/v1/"]);
        assert_eq!(embedded.base_urls("example.org").unwrap(), ["https://rdap.publicinterestregistry.org/rdap/"]);
        assert_eq!(embedded.base_urls("example.co.uk").unwrap(), ["https://rdap.nominet.uk/uk/"]);
    }

    #[test]
    fn tlds_the_reference_queries_over_whois_have_no_rdap_in_the_embedded_file() {
        let embedded = Bootstrap::embedded();
        for domain in ["example.com.tr", "example.cn", "example.ru", "example.com.mx"] {
            assert_eq!(embedded.base_urls(domain), None, "{domain}");
        }
    }

    #[test]
    fn the_longest_matching_suffix_wins() {
        let b = bootstrap(
            r#"[[["uk"],["https://uk.example/"]],[["co.uk"],["https://co-uk.example/"]],[["com"],["https://com.example/"]]]"#,
        );
        assert_eq!(b.base_urls("shop.co.uk").unwrap(), ["https://co-uk.example/"]);
        assert_eq!(b.base_urls("shop.org.uk").unwrap(), ["https://uk.example/"]);
    }

    #[test]
    fn an_unknown_tld_has_no_rdap_service() {
        let b = bootstrap(r#"[[["com"],["https://com.example/"]]]"#);
        assert_eq!(b.base_urls("example.zz"), None);
    }

    #[test]
    fn matching_ignores_case_and_the_trailing_dot() {
        let b = bootstrap(r#"[[["COM"],["https://com.example/"]]]"#);
        assert_eq!(b.base_urls("Example.COM.").unwrap(), ["https://com.example/"]);
    }

    #[test]
    fn https_urls_come_first_and_every_base_ends_in_a_slash() {
        let b = bootstrap(r#"[[["com"],["http://plain.example/rdap","https://secure.example/rdap"]]]"#);
        assert_eq!(b.base_urls("a.com").unwrap(), ["https://secure.example/rdap/", "http://plain.example/rdap/"]);
    }

    #[test]
    fn files_that_are_not_bootstrap_files_are_rejected() {
        for bad in [
            "not json",
            r#"{"services": "nope"}"#,
            r#"{"services": [[["com"]]]}"#,
            r#"{"services": [[["com"], ["ftp://rdap.example/"]]]}"#,
            r#"{"services": [[["com"], []]]}"#,
            r#"{"services": [[["net"], ["https://rdap.example/"]]]}"#,
        ] {
            assert!(matches!(Bootstrap::parse(bad), Err(BootstrapError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn the_state_dir_copy_is_preferred_over_the_embedded_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), r#"{"services":[[["com"],["https://mirror.example/"]]]}"#).unwrap();
        let (b, origin) = Bootstrap::load(dir.path());
        assert_eq!(origin, BootstrapOrigin::StateDir(dir.path().join(STATE_FILE)));
        assert_eq!(b.base_urls("a.com").unwrap(), ["https://mirror.example/"]);
    }

    #[test]
    fn a_corrupt_state_dir_copy_falls_back_to_the_embedded_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "{ truncated").unwrap();
        let (b, origin) = Bootstrap::load(dir.path());
        assert_eq!(origin, BootstrapOrigin::Embedded);
        assert_eq!(b, Bootstrap::embedded());
    }

    #[test]
    fn without_a_state_dir_copy_the_embedded_file_is_used() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Bootstrap::load(dir.path()).1, BootstrapOrigin::Embedded);
    }
}
