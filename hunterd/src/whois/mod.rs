//! Registration data for a domain: registrar, creation and expiry dates, nameservers.
//!
//! RDAP over HTTPS first (the server comes from the IANA bootstrap file), port-43 WHOIS for TLDs
//! without RDAP or when RDAP fails. A lookup never fails a scan: the caller logs the error and moves
//! on, so every failure is an ordinary [`WhoisError`] value and timeouts are short.

pub mod bootstrap;
pub mod pacing;
mod parse;
mod port43;
mod rdap;
mod settings;

#[cfg(test)]
mod tests;

pub use bootstrap::{Bootstrap, BootstrapError, BootstrapOrigin};
pub use port43::{WhoisServer, default_whois_servers};
pub use settings::WhoisSettings;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// What the registry says about a domain; stored as JSONB next to the scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub registrar: Option<String>,
    pub created: Option<NaiveDate>,
    pub expires: Option<NaiveDate>,
    /// Lower-case, no trailing dot, in the registry's order, no duplicates.
    pub nameservers: Vec<String>,
    pub source: RegistrationSource,
}

/// Where the data came from, so a surprising value can be checked by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegistrationSource {
    /// The URL that answered (after redirects).
    Rdap { url: String },
    /// `host`, or `host:port` when not 43.
    Whois { server: String },
}

#[derive(Debug, thiserror::Error)]
pub enum WhoisError {
    #[error("`{0}` is not a domain name")]
    InvalidDomain(String),
    #[error("no RDAP or WHOIS service is known for .{tld}")]
    NoService { tld: String },
    #[error("{service}: no answer within {} ms", timeout.as_millis())]
    Timeout { service: String, timeout: Duration },
    #[error("{service}: answer larger than {limit} bytes")]
    TooLarge { service: String, limit: usize },
    #[error("{service}: HTTP status {status}")]
    Http { service: String, status: u16 },
    #[error("{service}: rate limited")]
    RateLimited { service: String },
    #[error("{service}: {message}")]
    Transport { service: String, message: String },
    #[error("{service}: unreadable answer: {message}")]
    Malformed { service: String, message: String },
}

impl WhoisError {
    /// Whether asking again later may work (the registry was busy, slow or unreachable), as opposed
    /// to an answer that will not change (no service for the TLD, a malformed name or answer).
    pub fn is_transient(&self) -> bool {
        match self {
            WhoisError::Timeout { .. } | WhoisError::RateLimited { .. } | WhoisError::Transport { .. } => true,
            WhoisError::Http { status, .. } => *status == 429 || *status >= 500,
            WhoisError::InvalidDomain(_)
            | WhoisError::NoService { .. }
            | WhoisError::TooLarge { .. }
            | WhoisError::Malformed { .. } => false,
        }
    }
}

/// Everything a [`WhoisClient`] needs; tests point the servers at local fakes.
#[derive(Debug, Clone)]
pub struct WhoisConfig {
    pub bootstrap: Bootstrap,
    /// TLD (lower-case, no dot, e.g. `tr`) → port-43 server. This is the whole table, not an overlay:
    /// [`default_whois_servers`] is the usual starting point.
    pub whois_servers: HashMap<String, WhoisServer>,
    /// Asked for the WHOIS server of a TLD missing from `whois_servers`; `None` turns referral off.
    pub iana_whois: Option<WhoisServer>,
    pub rdap_timeout: Duration,
    pub whois_timeout: Duration,
    pub rdap_max_bytes: usize,
    pub whois_max_bytes: usize,
}

impl Default for WhoisConfig {
    fn default() -> Self {
        WhoisConfig {
            bootstrap: Bootstrap::embedded(),
            whois_servers: default_whois_servers(),
            iana_whois: Some(WhoisServer::new("whois.iana.org", 43)),
            rdap_timeout: Duration::from_millis(settings::DEFAULT_RDAP_TIMEOUT_MS),
            whois_timeout: Duration::from_millis(settings::DEFAULT_WHOIS_TIMEOUT_MS),
            rdap_max_bytes: 1024 * 1024,
            whois_max_bytes: 256 * 1024,
        }
    }
}

impl WhoisConfig {
    /// The daemon's config: bootstrap from the state directory if refreshed there, else embedded.
    pub fn from_settings(settings: &WhoisSettings, state_dir: &Path) -> Self {
        let (bootstrap, origin) = Bootstrap::load(state_dir);
        tracing::debug!(%origin, "RDAP bootstrap loaded");
        let mut whois_servers = default_whois_servers();
        for (tld, server) in &settings.servers {
            if let Some(server) = WhoisServer::parse(server) {
                whois_servers.insert(tld.trim_start_matches('.').to_ascii_lowercase(), server);
            }
        }
        WhoisConfig {
            bootstrap,
            whois_servers,
            rdap_timeout: Duration::from_millis(settings.rdap_timeout_ms),
            whois_timeout: Duration::from_millis(settings.whois_timeout_ms),
            ..WhoisConfig::default()
        }
    }
}

/// Looks up registration data. Cheap to share (`Arc`); lookups run concurrently.
pub struct WhoisClient {
    http: reqwest::Client,
    config: WhoisConfig,
    /// Swapped whole when the bootstrap file is refreshed; readers keep the one they started with.
    bootstrap: RwLock<Arc<Bootstrap>>,
    /// IANA referrals per TLD, so each unlisted TLD costs one extra query per process.
    referrals: Mutex<HashMap<String, Option<WhoisServer>>>,
}

impl WhoisClient {
    pub fn new(config: WhoisConfig) -> Result<Self, WhoisError> {
        let http = crate::http::client_builder()
            .timeout(config.rdap_timeout)
            .connect_timeout(config.rdap_timeout)
            .redirect(reqwest::redirect::Policy::limited(rdap::MAX_REDIRECTS))
            .user_agent(concat!("hunterd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WhoisError::Transport { service: "HTTP client".into(), message: e.to_string() })?;
        let bootstrap = RwLock::new(Arc::new(config.bootstrap.clone()));
        Ok(WhoisClient { http, config, bootstrap, referrals: Mutex::new(HashMap::new()) })
    }

    /// `Ok(None)`: the registry has no such domain (or nothing to say about it).
    /// `Err`: we could not find out; never a reason to fail the scan.
    pub async fn lookup(&self, domain: &str) -> Result<Option<Registration>, WhoisError> {
        let domain = normalize_domain(domain)?;
        let tld = domain.rsplit('.').next().unwrap_or(&domain).to_string();

        let bootstrap = self.current_bootstrap();
        let mut rdap_error = None;
        if let Some(bases) = bootstrap.base_urls(&domain) {
            for base in bases {
                match rdap::lookup(&self.http, base, &domain, self.config.rdap_timeout, self.config.rdap_max_bytes)
                    .await
                {
                    Ok(rdap::Outcome::Found(registration)) => return Ok(Some(registration)),
                    Ok(rdap::Outcome::NotFound) => return Ok(None),
                    // The registry answered but said nothing useful: WHOIS may know more.
                    Ok(rdap::Outcome::Empty) => break,
                    Err(e) => {
                        tracing::debug!(%domain, error = %e, "RDAP lookup failed");
                        rdap_error = Some(e);
                    }
                }
            }
        }

        let Some(server) = self.whois_server_for(&tld).await else {
            return match rdap_error {
                Some(e) => Err(e),
                None if bootstrap.base_urls(&domain).is_some() => Ok(None),
                None => Err(WhoisError::NoService { tld }),
            };
        };
        match port43::lookup(&server, &domain, self.config.whois_timeout, self.config.whois_max_bytes).await {
            Ok(found) => Ok(found),
            // RDAP is the authoritative path: its failure is the one worth reporting.
            Err(e) => {
                tracing::debug!(%domain, error = %e, "WHOIS lookup failed");
                Err(rdap_error.unwrap_or(e))
            }
        }
    }

    /// The registry server a lookup of `domain` goes to first (the RDAP host, else the WHOIS server,
    /// else IANA's referral for the TLD): the unit rate limits and backoff apply to.
    pub fn registry_server(&self, domain: &str) -> String {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let tld = domain.rsplit('.').next().unwrap_or(&domain).to_string();
        let bootstrap = self.current_bootstrap();
        if let Some(base) = bootstrap.base_urls(&domain).and_then(|bases| bases.first()) {
            return reqwest::Url::parse(base)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| base.clone());
        }
        match self.config.whois_servers.get(&tld) {
            Some(server) => server.to_string(),
            None => format!("whois referral for .{tld}"),
        }
    }

    /// Downloads the bootstrap file, stores it in `state_dir` and uses it from now on.
    pub async fn refresh_bootstrap(&self, url: &str, state_dir: &Path) -> Result<(), BootstrapError> {
        let fresh = bootstrap::refresh(&self.http, url, state_dir).await?;
        self.replace_bootstrap(fresh);
        Ok(())
    }

    pub fn replace_bootstrap(&self, fresh: Bootstrap) {
        let mut guard = self.bootstrap.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Arc::new(fresh);
    }

    fn current_bootstrap(&self) -> Arc<Bootstrap> {
        self.bootstrap.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    async fn whois_server_for(&self, tld: &str) -> Option<WhoisServer> {
        if let Some(server) = self.config.whois_servers.get(tld) {
            return Some(server.clone());
        }
        let iana = self.config.iana_whois.as_ref()?;
        if let Some(cached) = self.referrals.lock().unwrap_or_else(|p| p.into_inner()).get(tld) {
            return cached.clone();
        }
        let referred = match port43::referral(iana, tld, self.config.whois_timeout).await {
            Ok(found) => found,
            // A failed referral is not remembered: IANA may answer next time.
            Err(e) => {
                tracing::debug!(tld, error = %e, "IANA WHOIS referral failed");
                return None;
            }
        };
        self.referrals.lock().unwrap_or_else(|p| p.into_inner()).insert(tld.to_string(), referred.clone());
        referred
    }
}

/// Lower-case ASCII (punycode) without the trailing dot; registries want exactly that.
fn normalize_domain(domain: &str) -> Result<String, WhoisError> {
    let trimmed = domain.trim().trim_end_matches('.');
    let invalid = || WhoisError::InvalidDomain(domain.to_string());
    let ascii = idna::domain_to_ascii(trimmed).map_err(|_| invalid())?;
    let ldh = |label: &str| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ascii.contains('.') || !ascii.split('.').all(ldh) {
        return Err(invalid());
    }
    Ok(ascii)
}
