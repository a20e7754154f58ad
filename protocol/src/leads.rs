//! Leads as clients see them: list queries (server-side filter, sort, paging), rows, detail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One page of the lead list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadQuery {
    pub filter: LeadFilter,
    pub sort: LeadSort,
    pub descending: bool,
    /// Where the page starts.
    pub seek: Seek,
    /// At most [`MAX_PAGE`]; larger values are capped.
    pub limit: u32,
}

pub const MAX_PAGE: u32 = 5_000;

impl Default for LeadQuery {
    fn default() -> Self {
        LeadQuery {
            filter: LeadFilter::default(),
            sort: LeadSort::Score,
            descending: true,
            seek: Seek::Offset(0),
            limit: 100,
        }
    }
}

/// Where a page starts. The keyset seeks (`After`, `Before`, `Last`) cost the same at any depth;
/// `Offset` reads past every row before it, so it is for jumps to an arbitrary position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Seek {
    /// The rows from this position (0 = the first page).
    Offset(u64),
    /// The rows right after this one (the next page).
    After(LeadKey),
    /// The rows right before this one (the previous page), still in list order.
    Before(LeadKey),
    /// The last `limit` rows, in list order.
    Last,
}

/// A row's place in the list order: its sort value and its domain (the tie-breaker). Clients get
/// these from [`LeadPage`] and hand them back; they need not understand them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadKey {
    /// `None` for leads without a value (they come last in either direction).
    pub value: Option<SortValue>,
    pub domain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortValue {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

/// How many leads a filter matches. Counting exactly is given a time budget; past it the count is
/// the planner's estimate, shown as "≈".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadCount {
    pub count: u64,
    pub exact: bool,
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
    pub rows: Vec<LeadRow>,
    /// The first and last row's keys, to ask for the previous ([`Seek::Before`]) or next
    /// ([`Seek::After`]) page. `None` when the page is empty.
    pub first: Option<LeadKey>,
    pub last: Option<LeadKey>,
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
    /// RFC 7208 evaluation of the SPF policy: `ok`, `permerror`, `temperror` or `none` (`spf` only
    /// says whether a record is published).
    pub spf_result: Option<String>,
    /// Dynamics 365 push state: `pending`, `in_flight`, `synced`, `failed`, `duplicate`; `None` = never pushed.
    pub d365_status: Option<String>,
    pub d365_lead_id: Option<String>,
    /// The D365 record link (`…/main.aspx?etn=lead&id=…&pagetype=entityrecord`).
    pub d365_url: Option<String>,
    pub d365_pushed_at: Option<DateTime<Utc>>,
    /// The company's newest Partner Center referral: its kind (`co-sell`, `marketplace`,
    /// `solution-provider`, `marketing-qualified`, `own-deal`), status and id.
    pub referral_type: Option<String>,
    pub referral_status: Option<String>,
    pub referral_id: Option<String>,
}

/// One Partner Center referral as the lead view shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralInfo {
    pub id: String,
    /// `co-sell`, `marketplace`, `solution-provider`, `marketing-qualified`, `own-deal`.
    pub kind: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub substatus: Option<String>,
    /// With its currency, e.g. "25000.00 USD".
    pub deal_value: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub expiration: Option<DateTime<Utc>>,
    /// The customer's contact addresses.
    pub contacts: Vec<String>,
}

/// Everything known about one lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadDetail {
    pub row: LeadRow,
    pub mx_root: Option<String>,
    pub tenant_size: Option<String>,
    pub spf_record: Option<String>,
    /// `spf_result` with the DNS lookups the evaluation counted, e.g. "permerror (11 DNS lookups)".
    pub spf_evaluation: Option<String>,
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
    /// The Dynamics 365 push of this lead, when it was ever asked for.
    pub d365: Option<D365Sync>,
    /// Partner Center referrals of the company, newest first.
    pub referrals: Vec<ReferralInfo>,
    /// Who did what to the lead (tags, favourite, scans and pushes asked for), newest first.
    pub activity: Vec<Activity>,
}

/// One thing a person did to a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub at: DateTime<Utc>,
    /// The login that did it (from the socket's peer credentials); `None` for what older releases
    /// recorded without it.
    pub who: Option<String>,
    /// `tagged hot`, `marked as favourite`, `imported`, `asked for a rescan`, `asked for a push to Dynamics 365`.
    pub what: String,
}

/// A lead's Dynamics 365 push: where it stands and the Dataverse calls made for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct D365Sync {
    /// `pending`, `in_flight`, `synced`, `failed` or `duplicate`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Newest first (at most 20).
    pub history: Vec<D365Call>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct D365Call {
    pub at: DateTime<Utc>,
    /// `create`, `update`, `upsert`, `lookup`.
    pub operation: String,
    /// HTTP status; `None` when D365 did not answer.
    pub status: Option<u16>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    pub duration_ms: u32,
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

/// A "any of these values" part of the filter. Its key is spelled only here: clients, the daemon
/// and the parser all go through this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Facet {
    Segment,
    Provider,
    Gateway,
    Priority,
    TechnicalHeat,
    CommercialHeat,
    CommercialSegment,
    ScanStatus,
    Tag,
    Referral,
    D365,
}

impl Facet {
    pub const ALL: [Facet; 11] = [
        Facet::Segment,
        Facet::Provider,
        Facet::Gateway,
        Facet::Priority,
        Facet::TechnicalHeat,
        Facet::CommercialHeat,
        Facet::CommercialSegment,
        Facet::ScanStatus,
        Facet::Tag,
        Facet::Referral,
        Facet::D365,
    ];

    /// The key written in filter expressions (`segment=Migration`).
    pub fn key(self) -> &'static str {
        self.spellings()[0]
    }

    /// The key first, then the aliases the parser also accepts.
    fn spellings(self) -> &'static [&'static str] {
        match self {
            Facet::Segment => &["segment", "seg"],
            Facet::Provider => &["provider", "prov"],
            Facet::Gateway => &["gateway", "gw"],
            Facet::Priority => &["priority", "prio", "p"],
            Facet::TechnicalHeat => &["heat", "technical_heat", "tech_heat"],
            Facet::CommercialHeat => &["cheat", "commercial_heat"],
            Facet::CommercialSegment => &["cseg", "commercial_segment"],
            Facet::ScanStatus => &["status", "scan_status"],
            Facet::Tag => &["tag", "tags"],
            Facet::Referral => &["referral"],
            Facet::D365 => &["d365", "d365_status"],
        }
    }

    /// The facet a key or alias names (case-insensitive).
    pub fn from_key(key: &str) -> Option<Facet> {
        let key = key.to_ascii_lowercase();
        Facet::ALL.into_iter().find(|f| f.spellings().contains(&key.as_str()))
    }

    pub fn description(self) -> &'static str {
        match self {
            Facet::Segment => "technical segment: Existing, Migration, Cold, Skip",
            Facet::Provider => "mail provider, e.g. M365, Google, Local",
            Facet::Gateway => "secure e-mail gateway, e.g. Mimecast",
            Facet::Priority => "P1 … P6",
            Facet::TechnicalHeat => "technical heat: Hot, Warm, Cold",
            Facet::CommercialHeat => "commercial heat: HIGH, MEDIUM, LOW",
            Facet::CommercialSegment => {
                "commercial segment: GREENFIELD, COMPETITIVE, WEAK_PARTNER, RENEWAL, LOW_INTENT, NO_GO"
            }
            Facet::ScanStatus => "scan status: ok, nxdomain, no_mx, null_mx, timeout, servfail, refused, invalid",
            Facet::Tag => "a tag",
            Facet::Referral => "referral type: co-sell, marketplace, solution-provider, marketing-qualified, own-deal",
            Facet::D365 => "Dynamics 365 sync state: none, pending, synced, failed",
        }
    }

    /// The values known without asking the daemon, for facets it cannot count yet.
    pub fn fixed_values(self) -> Option<&'static [&'static str]> {
        match self {
            Facet::Referral => {
                Some(&["co-sell", "marketplace", "solution-provider", "marketing-qualified", "own-deal"])
            }
            Facet::D365 => Some(&["none", "pending", "synced", "failed"]),
            _ => None,
        }
    }

    /// The values `filter` holds for this facet.
    pub fn values(self, filter: &LeadFilter) -> &[String] {
        match self {
            Facet::Segment => &filter.segments,
            Facet::Provider => &filter.providers,
            Facet::Gateway => &filter.gateways,
            Facet::Priority => &filter.priorities,
            Facet::TechnicalHeat => &filter.technical_heats,
            Facet::CommercialHeat => &filter.commercial_heats,
            Facet::CommercialSegment => &filter.commercial_segments,
            Facet::ScanStatus => &filter.scan_statuses,
            Facet::Tag => &filter.tags,
            Facet::Referral => &filter.referrals,
            Facet::D365 => &filter.d365_statuses,
        }
    }

    pub fn values_mut(self, filter: &mut LeadFilter) -> &mut Vec<String> {
        match self {
            Facet::Segment => &mut filter.segments,
            Facet::Provider => &mut filter.providers,
            Facet::Gateway => &mut filter.gateways,
            Facet::Priority => &mut filter.priorities,
            Facet::TechnicalHeat => &mut filter.technical_heats,
            Facet::CommercialHeat => &mut filter.commercial_heats,
            Facet::CommercialSegment => &mut filter.commercial_segments,
            Facet::ScanStatus => &mut filter.scan_statuses,
            Facet::Tag => &mut filter.tags,
            Facet::Referral => &mut filter.referrals,
            Facet::D365 => &mut filter.d365_statuses,
        }
    }
}

/// Filter words that are not facets: `score` comparisons and the bare word `favorite`.
pub const SCORE_KEY: (&str, &str) = ("score", "score bounds: score>=60, score<40, score=90");
pub const FAVORITE_KEY: (&str, &str) = ("favorite", "favourites only (a bare word)");

/// Every key a filter expression accepts, with what it filters (for help and error messages).
pub fn filter_keys() -> Vec<(&'static str, &'static str)> {
    let mut keys: Vec<(&str, &str)> = Facet::ALL.iter().map(|f| (f.key(), f.description())).collect();
    keys.extend([SCORE_KEY, FAVORITE_KEY]);
    keys
}

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
            let Some(facet) = Facet::from_key(key) else {
                let known: Vec<&str> = filter_keys().iter().map(|(k, _)| *k).collect();
                return Err(err(&format!("unknown key; use one of {}", known.join(", "))));
            };
            let target = facet.values_mut(&mut filter);
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

    #[test]
    fn every_facet_key_and_alias_names_its_facet_and_no_other() {
        for facet in Facet::ALL {
            for spelling in facet.spellings() {
                assert_eq!(Facet::from_key(spelling), Some(facet), "{spelling}");
                let filter = LeadFilter::parse(&format!("{spelling}=x")).unwrap();
                let set: Vec<Facet> = Facet::ALL.into_iter().filter(|f| !f.values(&filter).is_empty()).collect();
                assert_eq!(set, vec![facet], "{spelling}");
            }
        }
    }
}
