//! What a scan finds: the contract between the scanner (DNS), provider detection and scoring.
//! Plain data, serialisable (stored as JSONB in `scans.signals` / `scans.raw_records`).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Outcome of a scan as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    /// The domain exists and has usable MX records.
    Ok,
    /// The domain does not exist.
    Nxdomain,
    /// The domain exists but publishes no MX record.
    NoMx,
    /// RFC 7505 null MX (`0 .`): the domain declares it accepts no mail.
    NullMx,
    /// The nameservers did not answer in time (after retries).
    Timeout,
    /// The nameservers failed (SERVFAIL).
    Servfail,
    /// The nameservers refused to answer (REFUSED).
    Refused,
    /// The domain name itself is not valid.
    Invalid,
}

impl ScanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Ok => "ok",
            ScanStatus::Nxdomain => "nxdomain",
            ScanStatus::NoMx => "no_mx",
            ScanStatus::NullMx => "null_mx",
            ScanStatus::Timeout => "timeout",
            ScanStatus::Servfail => "servfail",
            ScanStatus::Refused => "refused",
            ScanStatus::Invalid => "invalid",
        }
    }
}

/// One MX record, normalised (lower-case, no trailing dot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MxHost {
    pub preference: u16,
    pub host: String,
    /// When `host` is a CNAME (RFC 2181 forbids it, but it happens): the chain's final name.
    pub cname_target: Option<String>,
    /// A and AAAA addresses of the host (for IP enrichment).
    pub addresses: Vec<IpAddr>,
}

/// Why SPF evaluation stopped or failed (RFC 7208 terms where they apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpfStatus {
    /// No `v=spf1` record.
    None,
    /// Exactly one record; its include/redirect tree was resolved within the limits.
    Valid,
    /// More than one `v=spf1` record at the domain: a permerror (RFC 7208 §4.5).
    Multiple,
    /// More than 10 DNS-querying terms were needed (RFC 7208 §4.6.4): permerror.
    TooManyLookups,
    /// An include/redirect chain came back to a domain already being evaluated.
    Loop,
    /// A lookup failed (timeout/servfail) somewhere in the tree: temperror.
    TempError,
}

impl SpfStatus {
    /// The stored name (as serde writes it): `lead_state.spf_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpfStatus::None => "none",
            SpfStatus::Valid => "valid",
            SpfStatus::Multiple => "multiple",
            SpfStatus::TooManyLookups => "too_many_lookups",
            SpfStatus::Loop => "loop",
            SpfStatus::TempError => "temp_error",
        }
    }

    /// RFC 7208's outcome class, as the export's `spf_result` column shows it.
    pub fn rfc_result(self) -> &'static str {
        match self {
            SpfStatus::None => "none",
            SpfStatus::Valid => "ok",
            SpfStatus::Multiple | SpfStatus::TooManyLookups | SpfStatus::Loop => "permerror",
            SpfStatus::TempError => "temperror",
        }
    }
}

/// One SPF record and what it pulls in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpfNode {
    pub domain: String,
    /// The record text (multi-string TXT joined), if one was found.
    pub record: Option<String>,
    /// `include:` targets in order, each resolved as a child.
    pub includes: Vec<SpfNode>,
    /// `redirect=` target, resolved.
    pub redirect: Option<Box<SpfNode>>,
    /// Why this node could not be resolved, if it could not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpfResult {
    pub status: SpfStatus,
    /// The domain's own SPF record (first one when there are several).
    pub record: Option<String>,
    /// Every `v=spf1` record found at the domain (more than one = invalid).
    pub all_records: Vec<String>,
    /// Every domain included anywhere in the tree (includes and redirects), in discovery order.
    pub includes: Vec<String>,
    /// DNS-querying terms counted against the RFC 7208 limit of 10.
    pub lookup_count: u32,
    pub tree: Option<SpfNode>,
}

impl SpfResult {
    /// SPF counts as present for scoring only when it is a single, evaluable record.
    pub fn is_valid(&self) -> bool {
        self.status == SpfStatus::Valid
    }

    /// Whether the domain publishes an SPF record (what `spf` means in lists and the export).
    pub fn is_published(&self) -> bool {
        self.record.is_some()
    }

    /// Whether the policy counts as in place for scoring: valid, or published but not fully
    /// resolvable because a lookup failed for a while (a temporary error is not "no SPF").
    pub fn counts_as_in_place(&self) -> bool {
        self.is_valid() || (self.status == SpfStatus::TempError && self.is_published())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
}

impl DmarcPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}

/// A parsed `_dmarc` record. `p` is parsed as its own tag (never confused with `sp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmarcRecord {
    pub record: String,
    /// `p=`; `None` tag value or unparseable → `DmarcPolicy::None` (as the reference scores it).
    pub policy: DmarcPolicy,
    /// `sp=`, if present.
    pub subdomain_policy: Option<DmarcPolicy>,
    /// `pct=`, 0–100, default 100.
    pub pct: u8,
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
}

/// A DKIM selector that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimSelector {
    pub selector: String,
    /// The key record text, when a DKIM-like TXT was found (possibly behind a CNAME).
    pub record: Option<String>,
    /// Where `<selector>._domainkey.<domain>` points, when it is a CNAME (e.g. into onmicrosoft.com).
    pub cname_target: Option<String>,
}

/// Signs of Microsoft 365 or Google Workspace beyond MX.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantHints {
    /// `MS=ms…` TXT values at the apex (Microsoft 365 domain verification).
    pub ms_verification: Vec<String>,
    /// CNAME target of `autodiscover.<domain>`, e.g. `autodiscover.outlook.com`.
    pub autodiscover_cname: Option<String>,
    /// DKIM selector CNAME targets inside `*.onmicrosoft.com`.
    pub dkim_onmicrosoft: Vec<String>,
    /// `google-site-verification=` TXT values at the apex.
    pub google_site_verification: Vec<String>,
}

/// One DNS answer as received, kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRecord {
    pub name: String,
    pub rtype: String,
    pub data: String,
}

/// Everything one scan of one domain found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanResult {
    pub domain: String,
    pub status: ScanStatus,
    /// Sorted by preference (stable), null MX excluded.
    pub mx: Vec<MxHost>,
    pub spf: SpfResult,
    pub dmarc: Option<DmarcRecord>,
    /// Selectors that answered.
    pub dkim: Vec<DkimSelector>,
    pub hints: TenantHints,
    /// All TXT records at the apex (joined strings).
    pub apex_txt: Vec<String>,
    pub raw: Vec<RawRecord>,
    /// DNS queries sent for this scan.
    pub queries: u32,
    /// Human-readable problems met along the way (a failed DKIM lookup, …); never fatal.
    pub warnings: Vec<String>,
}

impl ScanResult {
    pub fn has_dkim(&self) -> bool {
        self.dkim.iter().any(|d| d.record.is_some())
    }

    /// MX host names in preference order.
    pub fn mx_hosts(&self) -> Vec<&str> {
        self.mx.iter().map(|m| m.host.as_str()).collect()
    }
}

#[cfg(test)]
mod spf_status_tests {
    use super::SpfStatus;

    #[test]
    fn the_stored_spf_status_name_is_the_serde_name() {
        for status in [
            SpfStatus::None,
            SpfStatus::Valid,
            SpfStatus::Multiple,
            SpfStatus::TooManyLookups,
            SpfStatus::Loop,
            SpfStatus::TempError,
        ] {
            assert_eq!(serde_json::to_value(status).expect("serialize"), status.as_str());
        }
    }
}
