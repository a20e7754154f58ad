//! IP enrichment (engine.md §8, issue 5): what kind of infrastructure a company's mail servers run on,
//! from optional MaxMind, IP2Location and IP2Proxy files merged by one [`EnrichmentService`].
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

/// Everything known about one address. Each field is kept with the source that answered it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpEnrichment {
    pub ip: Option<IpAddr>,
    /// ISO 3166 alpha-2 code.
    pub country: Option<String>,
    /// English country name, for sentences.
    pub country_name: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    pub isp: Option<String>,
    /// IP2Location usage type code(s), e.g. `DCH`, `COM`, `ISP/MOB`.
    pub usage_type: Option<String>,
    /// `None` when no proxy database answered (unknown is not "no").
    pub is_proxy: Option<bool>,
    /// IP2Proxy proxy type: VPN, TOR, PUB, WEB, DCH, SES, RES, …
    pub proxy_type: Option<String>,
    pub is_vpn: Option<bool>,
    pub is_tor: Option<bool>,
    pub is_data_center: Option<bool>,
    pub hosting_provider: Option<String>,
    /// Field name → source name (see the constants above).
    pub sources: BTreeMap<String, String>,
}

impl IpEnrichment {
    /// True when no source knew anything about the address.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The organisation a salesperson would name: hosting provider, else ISP, else AS organisation.
    pub fn organisation(&self) -> Option<&str> {
        self.hosting_provider.as_deref().or(self.isp.as_deref()).or(self.as_org.as_deref())
    }
}

/// The enrichment of one scan, as stored with it (`scans.enrichment`) and shown to the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichmentReport {
    /// One entry per MX address, in MX preference order.
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

    /// The first address anything is known about: the lead's headline values.
    pub fn primary(&self) -> Option<&IpEnrichment> {
        self.ips.iter().find(|e| !e.is_empty())
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
