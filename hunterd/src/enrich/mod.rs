//! IP enrichment (engine.md §8, issue 5): what kind of infrastructure a company's mail servers (and,
//! when configured, its domain and `www` addresses) run on, from optional MaxMind, IP2Location and
//! IP2Proxy files merged by one [`EnrichmentService`].
//!
//! Enrichment is information for the salesperson only: it never feeds the score, and when it is off
//! or its files are missing the scan is exactly what it would be without it.

pub mod cache;
pub mod download;
pub mod freshness;
pub mod ip2bin;
mod maxmind;
mod service;
pub mod summary;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;
#[cfg(test)]
mod vendor_tests;

pub use service::{EnrichmentService, SourceInfo};
pub use summary::infrastructure_summary;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Where a field's value came from.
pub const MAXMIND_CITY: &str = "maxmind-city";
pub const MAXMIND_ASN: &str = "maxmind-asn";
pub const IP2LOCATION: &str = "ip2location";
pub const IP2PROXY: &str = "ip2proxy";

/// What an address is to the company: why it was enriched (`enrichment.targets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressRole {
    /// An address of one of the MX hosts.
    Mail,
    /// An address of the domain itself (its apex A/AAAA).
    Domain,
    /// An address of `www.<domain>`.
    Www,
}

impl AddressRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressRole::Mail => "mail",
            AddressRole::Domain => "domain",
            AddressRole::Www => "www",
        }
    }

    /// The domain and `www` addresses are where the website lives.
    pub fn is_web(self) -> bool {
        matches!(self, AddressRole::Domain | AddressRole::Www)
    }
}

/// Everything known about one address. Each field is kept with the source that answered it.
/// Unknown fields are left out of the stored JSON: it is written with every scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpEnrichment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// What the address is to the company, in a scan's report. Empty in the cache (a lookup does not
    /// depend on it) and in reports stored before roles existed, when every address was a mail server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<AddressRole>,
    /// ISO 3166 alpha-2 code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// English country name, for sentences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isp: Option<String>,
    /// IP2Location usage type code(s), e.g. `DCH`, `COM`, `ISP/MOB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_type: Option<String>,
    /// `None` when no proxy database answered (unknown is not "no").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_proxy: Option<bool>,
    /// IP2Proxy proxy type: VPN, TOR, PUB, WEB, DCH, SES, RES, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_vpn: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tor: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_data_center: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosting_provider: Option<String>,
    /// Field name → source name (see the constants above).
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

impl IpEnrichment {
    /// True when no source knew anything about the address.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Mail-server addresses are the ones the product is about; see [`Self::roles`].
    pub fn serves_mail(&self) -> bool {
        self.roles.is_empty() || self.roles.contains(&AddressRole::Mail)
    }

    pub fn serves_web(&self) -> bool {
        self.roles.iter().any(|r| r.is_web())
    }

    /// The organisation a salesperson would name: hosting provider, else ISP, else AS organisation.
    pub fn organisation(&self) -> Option<&str> {
        self.hosting_provider.as_deref().or(self.isp.as_deref()).or(self.as_org.as_deref())
    }
}

/// The enrichment of one scan, as stored with it (`scans.enrichment`) and shown to the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichmentReport {
    /// One entry per address: the MX hosts' in MX preference order, then the domain's, then `www`'s
    /// (an address with several roles appears once, with all of them).
    pub ips: Vec<IpEnrichment>,
    pub infrastructure_summary: Option<String>,
    /// Why there is no enrichment (flag off, no database loaded, …); `None` when it ran.
    pub absent_reason: Option<String>,
    /// The source databases that answered, e.g. `maxmind-asn=GeoLite2-ASN@1700000000`.
    pub source_version: Option<String>,
}

impl EnrichmentReport {
    pub fn absent(reason: impl Into<String>) -> EnrichmentReport {
        EnrichmentReport { absent_reason: Some(reason.into()), ..EnrichmentReport::default() }
    }

    /// The lead's headline values: the first mail-server address anything is known about. Only when
    /// no mail-server address was found at all does the domain's (or `www`'s) stand in, as the
    /// reference falls back to the apex when no MX host resolves; a mail server that resolved but is
    /// unknown to the databases is not replaced by the website.
    pub fn primary(&self) -> Option<&IpEnrichment> {
        let known = || self.ips.iter().filter(|e| !e.is_empty());
        if self.ips.iter().any(IpEnrichment::serves_mail) { known().find(|e| e.serves_mail()) } else { known().next() }
    }

    /// What the sales summary's `ip_context` takes.
    pub fn ip_context(&self) -> Option<crate::score::IpContext> {
        let p = self.primary()?;
        Some(crate::score::IpContext {
            country: p.country.clone(),
            is_proxy: p.is_proxy.unwrap_or(false),
            proxy_type: p.proxy_type.clone(),
        })
    }
}
