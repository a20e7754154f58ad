//! Leads as clients see them: list queries (server-side filter, sort, paging), rows, detail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One page of the lead list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadQuery {
    pub filter: LeadFilter,
    pub sort: LeadSort,
    pub descending: bool,
    pub offset: u64,
    /// At most [`MAX_PAGE`]; larger values are capped.
    pub limit: u32,
}

pub const MAX_PAGE: u32 = 5_000;

impl Default for LeadQuery {
    fn default() -> Self {
        LeadQuery { filter: LeadFilter::default(), sort: LeadSort::Score, descending: true, offset: 0, limit: 100 }
    }
}

/// Every facet is "any of these values" (empty = no constraint); facets combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadFilter {
    /// Case-insensitive substring of domain, company name, provider, gateway or tags.
    pub text: Option<String>,
    pub segments: Vec<String>,
    pub providers: Vec<String>,
    pub gateways: Vec<String>,
    pub priorities: Vec<String>,
    pub technical_heats: Vec<String>,
    pub commercial_heats: Vec<String>,
    pub commercial_segments: Vec<String>,
    pub scan_statuses: Vec<String>,
    pub tags: Vec<String>,
    pub favorites_only: bool,
    pub min_score: Option<i32>,
    pub max_score: Option<i32>,
    /// Referral types (co-sell, marketplace, solution-provider); used once referrals exist.
    pub referrals: Vec<String>,
    /// D365 sync states (none, pending, synced, failed); used once the Dynamics push exists.
    pub d365_statuses: Vec<String>,
}

impl LeadFilter {
    pub fn is_empty(&self) -> bool {
        *self == LeadFilter::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LeadSort {
    Domain,
    Company,
    Provider,
    Gateway,
    Segment,
    Score,
    Priority,
    CommercialSegment,
    TechnicalHeat,
    CommercialHeat,
    ScanStatus,
    ScannedAt,
}

impl LeadSort {
    pub const ALL: [LeadSort; 12] = [
        LeadSort::Domain,
        LeadSort::Company,
        LeadSort::Provider,
        LeadSort::Gateway,
        LeadSort::Segment,
        LeadSort::Score,
        LeadSort::Priority,
        LeadSort::CommercialSegment,
        LeadSort::TechnicalHeat,
        LeadSort::CommercialHeat,
        LeadSort::ScanStatus,
        LeadSort::ScannedAt,
    ];

    /// The name used on command lines and in saved state (`--sort score`).
    pub fn name(self) -> &'static str {
        match self {
            LeadSort::Domain => "domain",
            LeadSort::Company => "company",
            LeadSort::Provider => "provider",
            LeadSort::Gateway => "gateway",
            LeadSort::Segment => "segment",
            LeadSort::Score => "score",
            LeadSort::Priority => "priority",
            LeadSort::CommercialSegment => "commercial_segment",
            LeadSort::TechnicalHeat => "technical_heat",
            LeadSort::CommercialHeat => "commercial_heat",
            LeadSort::ScanStatus => "scan_status",
            LeadSort::ScannedAt => "scanned_at",
        }
    }

    pub fn from_name(name: &str) -> Option<LeadSort> {
        LeadSort::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadPage {
    /// Rows matching the filter, over all pages.
    pub total: u64,
    pub offset: u64,
    pub rows: Vec<LeadRow>,
}

/// One lead in a list (and one export line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadRow {
    pub domain: String,
    pub company: Option<String>,
    pub provider: Option<String>,
    pub gateway: Option<String>,
    pub local_provider: Option<String>,
    pub mx_hosts: Vec<String>,
    pub spf: Option<bool>,
    pub spf_includes: Vec<String>,
    pub dkim: Option<bool>,
    pub dmarc_policy: Option<String>,
    pub dmarc_pct: Option<u8>,
    pub score: Option<i32>,
    pub segment: Option<String>,
    pub commercial_segment: Option<String>,
    pub technical_heat: Option<String>,
    pub commercial_heat: Option<String>,
    pub priority: Option<String>,
    pub priority_label: Option<String>,
    pub scan_status: Option<String>,
    pub scanned_at: Option<DateTime<Utc>>,
    pub favorite: bool,
    pub tags: Vec<String>,
    /// IP enrichment of the first mail server address (when `features.ip_enrichment` is on).
    pub ip_country: Option<String>,
    pub ip_asn: Option<u32>,
    /// Hosting provider, ISP or AS organisation.
    pub ip_org: Option<String>,
    pub ip_proxy: Option<bool>,
    /// e.g. "Mail servers hosted by Microsoft (AS8075) in Ireland; no proxy/VPN signals".
    pub infrastructure_summary: Option<String>,
}

/// Everything known about one lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadDetail {
    pub row: LeadRow,
    pub mx_root: Option<String>,
    pub tenant_size: Option<String>,
    pub spf_record: Option<String>,
    pub dmarc_record: Option<String>,
    pub dkim_selectors: Vec<String>,
    /// Why the segment: the rules engine's reason sentence.
    pub reason: Option<String>,
    /// Contributions summing to the score.
    pub breakdown: Vec<Contribution>,
    /// What each conclusion (provider, gateway, …) rests on.
    pub evidence: Vec<Evidence>,
    pub sales_summary: Option<SalesSummary>,
    pub registration: Option<Registration>,
    /// Why `registration` is absent or may be stale: pending, unavailable (and why), not found.
    pub registration_note: Option<String>,
    /// What the IP enrichment databases say about each mail-server address of the latest scan.
    pub ip_details: Vec<IpDetail>,
    /// Why `ip_details` is empty, when it is (flag off, no database, no address…).
    pub enrichment_note: Option<String>,
    /// The DNS answers of the latest scan.
    pub records: Vec<DnsRecord>,
    pub warnings: Vec<String>,
    pub scans: Vec<ScanHistoryItem>,
    pub changes: Vec<Change>,
    pub notes: Vec<Note>,
}

/// What the IP enrichment databases say about one mail-server address (issue 5's per-IP view).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpDetail {
    pub ip: String,
    /// What the address is to the company: `mail`, `domain`, `www` (one or more).
    pub roles: Vec<String>,
    /// The name the address belongs to: its MX host (when the scan's records show it), the domain,
    /// or `www.<domain>`.
    pub host: Option<String>,
    /// ISO 3166 alpha-2 code.
    pub country: Option<String>,
    pub country_name: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub asn: Option<u32>,
    pub asn_org: Option<String>,
    pub isp: Option<String>,
    /// IP2Location usage type, e.g. `DCH`, `ISP/MOB`.
    pub usage_type: Option<String>,
    /// `None` when no proxy database answered: unknown is not "no".
    pub is_proxy: Option<bool>,
    pub proxy_type: Option<String>,
    pub is_vpn: Option<bool>,
    pub is_tor: Option<bool>,
    pub is_data_center: Option<bool>,
    pub hosting_provider: Option<String>,
    /// Field name → the database that answered it (`maxmind-city`, `maxmind-asn`, `ip2location`, `ip2proxy`).
    pub sources: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    pub key: String,
    pub points: i32,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub claim: String,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    pub name: String,
    pub rtype: String,
    pub data: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub registrar: Option<String>,
    pub created: Option<String>,
    pub expires: Option<String>,
    pub nameservers: Vec<String>,
    pub source: String,
}

/// The salesperson's view of a lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesSummary {
    pub one_liner: String,
    pub segment_explanation: String,
    pub provider_reasoning: String,
    pub risk_level: Option<String>,
    pub risk_text: Option<String>,
    pub talking_points: Vec<String>,
    pub discovery_questions: Vec<String>,
    pub offer: String,
    pub opportunity: u8,
    pub urgency: String,
    pub next_step: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanHistoryItem {
    pub scan_id: i64,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: Option<i32>,
    pub provider: Option<String>,
    pub score: Option<i32>,
}

/// Something that changed between two consecutive scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub at: DateTime<Utc>,
    pub domain: String,
    /// provider, gateway, mx, spf, dmarc_policy, dkim
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: i64,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// Result of adding domains by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddReport {
    pub results: Vec<AddOutcome>,
    /// Follow the scans with [`crate::Request::BatchProgress`].
    pub batch_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOutcome {
    pub input: String,
    pub domain: Option<String>,
    pub outcome: IntakeOutcome,
    /// Why it was rejected.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntakeOutcome {
    Accepted,
    Merged,
    Rejected,
}

/// Result of importing a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub file_name: String,
    pub accepted: u64,
    pub merged: u64,
    pub rejected: u64,
    /// The first rejected rows (all of them up to a cap), with their line numbers.
    pub rejected_rows: Vec<RejectedRow>,
    pub batch_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    pub line: u64,
    pub reason: String,
    pub raw: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchProgress {
    pub done: u64,
    pub total: u64,
}

/// One value of a facet and how many leads have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Why a filter expression could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter `{term}`: {reason}")]
pub struct FilterError {
    pub term: String,
    pub reason: String,
}

/// Facet names accepted in filter expressions, with what they filter.
pub const FILTER_KEYS: &[(&str, &str)] = &[
    ("segment", "technical segment: Existing, Migration, Cold, Skip"),
    ("provider", "mail provider, e.g. M365, Google, Local"),
    ("gateway", "secure e-mail gateway, e.g. Mimecast"),
    ("priority", "P1 … P6"),
    ("heat", "technical heat: Hot, Warm, Cold"),
    ("cheat", "commercial heat: HIGH, MEDIUM, LOW"),
    ("cseg", "commercial segment: GREENFIELD, COMPETITIVE, WEAK_PARTNER, RENEWAL, LOW_INTENT, NO_GO"),
    ("status", "scan status: ok, nxdomain, no_mx, null_mx, timeout, servfail, refused, invalid"),
    ("tag", "a tag"),
    ("referral", "referral type: co-sell, marketplace, solution-provider"),
    ("d365", "Dynamics 365 sync state: none, pending, synced, failed"),
    ("score", "score bounds: score>=60, score<40, score=90"),
    ("favorite", "favourites only (a bare word)"),
];

impl LeadFilter {
    /// Parses `segment=Migration,Existing provider=Google score>=60 favorite acme`: facets are
    /// `key=a,b`, `score` takes comparisons, `favorite` stands alone, other words are free text.
    pub fn parse(expr: &str) -> Result<LeadFilter, FilterError> {
        let mut filter = LeadFilter::default();
        let mut text: Vec<&str> = Vec::new();
        for term in expr.split_whitespace() {
            let err = |reason: &str| FilterError { term: term.to_string(), reason: reason.to_string() };
            let lower = term.to_ascii_lowercase();
            if lower == "favorite" || lower == "favourite" || lower == "fav" {
                filter.favorites_only = true;
                continue;
            }
            if let Some(rest) = lower.strip_prefix("score") {
                let (op, number) = if let Some(n) = rest.strip_prefix(">=") {
                    (">=", n)
                } else if let Some(n) = rest.strip_prefix("<=") {
                    ("<=", n)
                } else if let Some(n) = rest.strip_prefix('>') {
                    (">", n)
                } else if let Some(n) = rest.strip_prefix('<') {
                    ("<", n)
                } else if let Some(n) = rest.strip_prefix('=') {
                    ("=", n)
                } else {
                    text.push(term);
                    continue;
                };
                let n: i32 = number.parse().map_err(|_| err("expected a whole number after the comparison"))?;
                match op {
                    ">=" => filter.min_score = Some(n),
                    ">" => filter.min_score = Some(n + 1),
                    "<=" => filter.max_score = Some(n),
                    "<" => filter.max_score = Some(n - 1),
                    _ => {
                        filter.min_score = Some(n);
                        filter.max_score = Some(n);
                    }
                }
                continue;
            }
            let Some((key, values)) = term.split_once('=') else {
                text.push(term);
                continue;
            };
            let values: Vec<String> =
                values.split(',').map(str::trim).filter(|v| !v.is_empty()).map(String::from).collect();
            if values.is_empty() {
                return Err(err("give at least one value after `=`"));
            }
            let target = match key.to_ascii_lowercase().as_str() {
                "segment" | "seg" => &mut filter.segments,
                "provider" | "prov" => &mut filter.providers,
                "gateway" | "gw" => &mut filter.gateways,
                "priority" | "prio" | "p" => &mut filter.priorities,
                "heat" | "technical_heat" | "tech_heat" => &mut filter.technical_heats,
                "cheat" | "commercial_heat" => &mut filter.commercial_heats,
                "cseg" | "commercial_segment" => &mut filter.commercial_segments,
                "status" | "scan_status" => &mut filter.scan_statuses,
                "tag" | "tags" => &mut filter.tags,
                "referral" => &mut filter.referrals,
                "d365" | "d365_status" => &mut filter.d365_statuses,
                _ => {
                    let known: Vec<&str> = FILTER_KEYS.iter().map(|(k, _)| *k).collect();
                    return Err(err(&format!("unknown key; use one of {}", known.join(", "))));
                }
            };
            target.extend(values);
        }
        if !text.is_empty() {
            filter.text = Some(text.join(" "));
        }
        Ok(filter)
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn facets_scores_favourites_and_text_combine() {
        let f = LeadFilter::parse("segment=Migration,Existing provider=Google score>=60 favorite acme corp").unwrap();
        assert_eq!(f.segments, vec!["Migration", "Existing"]);
        assert_eq!(f.providers, vec!["Google"]);
        assert_eq!(f.min_score, Some(60));
        assert!(f.favorites_only);
        assert_eq!(f.text.as_deref(), Some("acme corp"));
    }

    #[test]
    fn strict_score_bounds_become_inclusive_ones() {
        let f = LeadFilter::parse("score>40 score<90").unwrap();
        assert_eq!((f.min_score, f.max_score), (Some(41), Some(89)));
    }

    #[test]
    fn an_unknown_key_lists_the_known_ones() {
        let err = LeadFilter::parse("segmnt=Cold").unwrap_err();
        assert_eq!(err.term, "segmnt=Cold");
        assert!(err.reason.contains("segment, provider"), "{}", err.reason);
    }

    #[test]
    fn a_score_without_a_number_is_an_error() {
        assert!(LeadFilter::parse("score>=high").is_err());
    }

    #[test]
    fn an_empty_expression_is_no_filter() {
        assert!(LeadFilter::parse("   ").unwrap().is_empty());
    }
}
