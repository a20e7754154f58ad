//! The `[whois]` config section.

use crate::config::HumanDuration;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

pub(super) const DEFAULT_RDAP_TIMEOUT_MS: u64 = 3_000;
pub(super) const DEFAULT_WHOIS_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_BOOTSTRAP_URL: &str = "https://data.iana.org/rdap/dns.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhoisSettings {
    /// Off means scans carry no registration data (and make no RDAP/WHOIS traffic).
    pub enabled: bool,
    #[serde(deserialize_with = "at_least_one_ms")]
    pub rdap_timeout_ms: u64,
    #[serde(deserialize_with = "at_least_one_ms")]
    pub whois_timeout_ms: u64,
    /// Where a refresh downloads the RDAP bootstrap file from.
    pub rdap_bootstrap_url: String,
    /// Per-TLD port-43 servers (`tr = "whois.trabis.gov.tr"`, `host:port` allowed) over the built-in table.
    #[serde(deserialize_with = "whois_servers")]
    pub servers: BTreeMap<String, String>,
    /// Lookups sent to one registry server (an RDAP host or a WHOIS server) per minute: registries
    /// rate-limit per client, often to a few a second or less.
    #[serde(deserialize_with = "at_least_one")]
    pub per_server_per_minute: u32,
    /// Registration lookups in flight at once (over all servers).
    #[serde(deserialize_with = "at_least_one")]
    pub concurrency: u32,
    /// A registry's answer is reused this long: registrations change rarely.
    pub cache_ttl: HumanDuration,
}

impl Default for WhoisSettings {
    fn default() -> Self {
        WhoisSettings {
            enabled: true,
            rdap_timeout_ms: DEFAULT_RDAP_TIMEOUT_MS,
            whois_timeout_ms: DEFAULT_WHOIS_TIMEOUT_MS,
            rdap_bootstrap_url: DEFAULT_BOOTSTRAP_URL.into(),
            servers: BTreeMap::new(),
            per_server_per_minute: 60,
            concurrency: 8,
            cache_ttl: HumanDuration::from_secs(30 * 24 * 3600),
        }
    }
}

fn at_least_one_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let ms = u64::deserialize(d)?;
    if ms == 0 {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(ms)
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(n)
}

fn whois_servers<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let servers = BTreeMap::<String, String>::deserialize(d)?;
    for (tld, server) in &servers {
        if super::WhoisServer::parse(server).is_none() {
            return Err(serde::de::Error::custom(format!("{tld}: `{server}` is not a host or host:port")));
        }
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whois_is_on_by_default_with_short_timeouts() {
        let settings = WhoisSettings::default();
        assert!(settings.enabled);
        assert_eq!((settings.rdap_timeout_ms, settings.whois_timeout_ms), (3_000, 5_000));
        assert_eq!(settings.rdap_bootstrap_url, "https://data.iana.org/rdap/dns.json");
    }

    #[test]
    fn a_zero_timeout_is_rejected() {
        let err = toml::from_str::<WhoisSettings>("rdap_timeout_ms = 0").unwrap_err();
        assert!(err.to_string().contains("must be at least 1"), "{err}");
    }

    #[test]
    fn a_server_override_must_be_a_host_or_host_and_port() {
        let ok: WhoisSettings =
            toml::from_str("[servers]\ntr = \"whois.trabis.gov.tr\"\nmx = \"whois.mx:43\"").unwrap();
        assert_eq!(ok.servers.len(), 2);
        let err = toml::from_str::<WhoisSettings>("[servers]\ntr = \"not a host\"").unwrap_err();
        assert!(err.to_string().contains("tr: `not a host`"), "{err}");
    }
}
