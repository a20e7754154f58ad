//! hunterd's configuration: a TOML file (system, user or `--config`), overridden key by key by
//! `HUNTER_<SECTION>__<KEY>` environment variables. Unknown keys are errors, never silently ignored.

mod duration;
mod load;
#[cfg(test)]
mod packaged_tests;
mod secret;

pub use duration::HumanDuration;
pub use load::{ConfigError, ConfigSource, load, load_from};
pub use secret::{DatabaseUrl, Secret};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub log: LogConfig,
    pub database: DatabaseConfig,
    pub features: FeatureFlags,
    pub scan: ScanConfig,
    pub rules: RulesConfig,
    pub enrichment: EnrichmentConfig,
    pub partner_center: PartnerCenterConfig,
    pub dynamics: DynamicsConfig,
    pub whois: crate::whois::WhoisSettings,
    pub intake: IntakeConfig,
    pub server: ServerConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `hunterd=debug`; `RUST_LOG` wins when set.
    pub level: Option<String>,
    /// Where the daily log files go; default `$LOGS_DIRECTORY` under systemd, else `<state dir>/logs`.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// External PostgreSQL; unset means the embedded cluster in the state directory.
    pub url: Option<DatabaseUrl>,
    /// A file holding the URL (for systemd `LoadCredential=`); used when `url` is unset.
    pub url_file: Option<PathBuf>,
    pub max_connections: u32,
    /// How long to keep retrying while PostgreSQL is not reachable at start-up.
    pub connect_timeout: HumanDuration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: None, url_file: None, max_connections: 10, connect_timeout: HumanDuration::from_secs(30) }
    }
}

/// Optional integrations, all off until an administrator turns them on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureFlags {
    /// IP_ENRICHMENT_ENABLED in the product plan.
    pub ip_enrichment: bool,
    /// PARTNER_CENTER_SYNC_ENABLED in the product plan.
    pub partner_center_sync: bool,
    pub dynamics_push: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// `ip:port` resolvers; empty means the system's resolv.conf.
    pub nameservers: Vec<String>,
    pub timeout_ms: u64,
    pub retries: u32,
    pub concurrency: u32,
    /// Queries per second sent to each nameserver; 0 = unlimited.
    pub per_nameserver_qps: u32,
    pub dkim_selectors: Vec<String>,
    pub rescan_interval: HumanDuration,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            nameservers: Vec::new(),
            timeout_ms: 2_000,
            retries: 2,
            concurrency: 512,
            per_nameserver_qps: 0,
            dkim_selectors: Vec::new(),
            rescan_interval: HumanDuration::from_secs(7 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Scoring rules file; unset means the embedded default.
    pub file: Option<PathBuf>,
    /// Provider/gateway detection table; unset means the embedded default.
    pub providers_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichmentConfig {
    pub maxmind_city_db: Option<PathBuf>,
    pub maxmind_asn_db: Option<PathBuf>,
    pub ip2location_db: Option<PathBuf>,
    pub ip2proxy_db: Option<PathBuf>,
    /// Whose addresses a scan enriches: `mail` (the MX hosts'), `domain` (the apex's), `www`. The
    /// last two cost four more DNS queries per scan, so they are opt-in.
    pub targets: Vec<crate::enrich::AddressRole>,
    /// A cached lookup older than this is redone even when the source databases did not change.
    pub cache_ttl: HumanDuration,
    /// The `geoip-databases` job warns when a database was built longer ago than this.
    pub max_age: HumanDuration,
    /// MaxMind account for the `geoip-download` job; with the key file set, downloads are on.
    pub maxmind_account_id: Option<String>,
    /// File holding the MaxMind license key (a secret: never logged).
    pub maxmind_license_key_file: Option<PathBuf>,
    /// Editions to download; `*-ASN` goes to `maxmind_asn_db`, the others to `maxmind_city_db`.
    pub maxmind_editions: Vec<String>,
    pub maxmind_download_url: String,
    pub download_interval: HumanDuration,
}

impl Default for EnrichmentConfig {
    fn default() -> Self {
        EnrichmentConfig {
            maxmind_city_db: None,
            maxmind_asn_db: None,
            ip2location_db: None,
            ip2proxy_db: None,
            targets: vec![crate::enrich::AddressRole::Mail],
            cache_ttl: HumanDuration::from_secs(30 * 24 * 3600),
            max_age: HumanDuration::from_secs(35 * 24 * 3600),
            maxmind_account_id: None,
            maxmind_license_key_file: None,
            maxmind_editions: vec!["GeoLite2-City".into(), "GeoLite2-ASN".into()],
            maxmind_download_url: "https://download.maxmind.com".into(),
            download_interval: HumanDuration::from_secs(7 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerCenterConfig {
    pub api_base_url: String,
    pub authority_url: String,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub sync_interval: HumanDuration,
    /// The delegated permission asked for at sign-in (`offline_access` is always added).
    pub scope: String,
    /// OData `$filter` of the referral list; empty = every referral.
    pub filter: String,
    /// `$top` per page (the API sends at most 100).
    pub page_size: u32,
    /// Retries per page after network errors, 5xx and 429.
    pub max_retries: u32,
    /// First backoff between retries; doubles each time (plus jitter).
    pub retry_base_delay: HumanDuration,
    /// Per-request timeout, for the API and the identity platform.
    pub request_timeout: HumanDuration,
    /// Incoming referrals still unanswered that expire within this window are highlighted in the
    /// referral inbox and counted in its status bar.
    pub expiring_soon: HumanDuration,
}

impl Default for PartnerCenterConfig {
    fn default() -> Self {
        PartnerCenterConfig {
            api_base_url: "https://api.partner.microsoft.com".into(),
            authority_url: "https://login.microsoftonline.com".into(),
            tenant_id: None,
            client_id: None,
            sync_interval: HumanDuration::from_secs(600),
            scope: "https://api.partner.microsoft.com/user_impersonation".into(),
            filter: "direction eq 'Incoming'".into(),
            page_size: 100,
            max_retries: 4,
            retry_base_delay: HumanDuration::from_secs(1),
            request_timeout: HumanDuration::from_secs(30),
            expiring_soon: HumanDuration::from_secs(3 * 86_400),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamicsConfig {
    pub org_url: Option<String>,
    pub authority_url: String,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub custom_prefix: String,
    pub lead_key: Option<String>,
    pub max_concurrency: u32,
    /// `leadsourcecode` for leads without a Partner Center referral (those are always 4, Partner).
    pub lead_source: u8,
    /// Ask D365 to run its duplicate-detection rules on creates (`MSCRM.SuppressDuplicateDetection: false`).
    pub duplicate_detection: bool,
    /// How long the audit log of Dataverse calls is kept.
    pub audit_retention: HumanDuration,
    /// How many times a lead's push is tried before it is marked failed (429s do not count).
    pub max_attempts: u32,
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        DynamicsConfig {
            org_url: None,
            authority_url: "https://login.microsoftonline.com".into(),
            tenant_id: None,
            client_id: None,
            client_secret_file: None,
            custom_prefix: "hnt_".into(),
            lead_key: None,
            max_concurrency: 4,
            lead_source: 10,
            duplicate_detection: true,
            audit_retention: HumanDuration::from_secs(30 * 24 * 3600),
            max_attempts: 8,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// Free-mail domains refused as companies (`yahoo.*` matches every public suffix); empty means the
    /// built-in list (`intake::DEFAULT_FREE_MAIL_DOMAINS`), a non-empty list replaces it.
    pub free_mail_domains: Vec<String>,
}

/// The client socket: how many connections, and how long an idle one is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Connections at once, all accounts together (each costs a task and a file descriptor).
    pub max_clients: u32,
    /// Connections at once from one account (socket peer uid): below `max_clients`, so one user's
    /// runaway script cannot lock the others, or the operator, out.
    pub max_clients_per_user: u32,
    /// A connection with no subscription, no request in flight and no upload open is closed after
    /// this long without a request.
    pub idle_timeout: HumanDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { max_clients: 256, max_clients_per_user: 64, idle_timeout: HumanDuration::from_secs(600) }
    }
}

impl Config {
    /// Checks that go beyond types: each problem names its key.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, ns) in self.scan.nameservers.iter().enumerate() {
            if ns.parse::<std::net::SocketAddr>().is_err() {
                problems.push(format!(
                    "scan.nameservers[{i}]: `{ns}` is not an ip:port address (e.g. 127.0.0.1:53 or [::1]:53)"
                ));
            }
        }
        if self.scan.concurrency == 0 {
            problems.push("scan.concurrency: must be at least 1".into());
        }
        if self.scan.timeout_ms == 0 {
            problems.push("scan.timeout_ms: must be at least 1".into());
        }
        if self.database.max_connections == 0 {
            problems.push("database.max_connections: must be at least 1".into());
        }
        if self.server.max_clients == 0 {
            problems.push("server.max_clients: must be at least 1".into());
        }
        if self.server.max_clients_per_user == 0 || self.server.max_clients_per_user > self.server.max_clients {
            problems.push(format!(
                "server.max_clients_per_user: must be between 1 and server.max_clients ({})",
                self.server.max_clients
            ));
        }
        if self.server.idle_timeout.0 < std::time::Duration::from_secs(1) {
            problems.push("server.idle_timeout: must be at least 1s".into());
        }
        if !(1..=100).contains(&self.partner_center.page_size) {
            problems.push("partner_center.page_size: must be between 1 and 100".into());
        }
        if self.partner_center.max_retries > 10 {
            problems.push("partner_center.max_retries: at most 10".into());
        }
        if self.partner_center.scope.split_whitespace().next().is_none() {
            problems.push("partner_center.scope: must name the Partner Center permission".into());
        }
        for (key, url) in [
            ("partner_center.api_base_url", &self.partner_center.api_base_url),
            ("partner_center.authority_url", &self.partner_center.authority_url),
            ("dynamics.authority_url", &self.dynamics.authority_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                problems.push(format!("{key}: `{url}` is not an http(s) URL"));
            }
        }
        if let Some(url) = &self.dynamics.org_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            problems.push(format!("dynamics.org_url: `{url}` is not an http(s) URL"));
        }
        problems.extend(crate::dynamics::settings::problems(&self.features, &self.dynamics));
        if let Some(url) = &self.database.url
            && !url.looks_like_postgres()
        {
            problems.push("database.url: must start with postgres:// or postgresql://".into());
        }
        if self.database.url.is_some() && self.database.url_file.is_some() {
            problems.push("database.url and database.url_file are both set: keep one".into());
        }
        problems
    }

    /// The effective config as TOML, with every secret replaced by a marker.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not render config: {e}\n"))
    }
}
