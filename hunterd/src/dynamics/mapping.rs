//! Hunter lead → Dataverse `lead` columns: pure functions, so the mapping is testable without D365.
//!
//! Standard columns come from the lead table reference (microsoft-apis.md C.10); Hunter's own columns
//! carry the configurable publisher prefix and keep the reference customization's names
//! (engine.md §10: `finalscore`, `priorityscore`, `provider`, `huntertenantsize`, `infrasummary`,
//! `referralid`, `source`) so orgs already set up for it keep working. Segment, P-model priority,
//! commercial segment and the domain key are Hunter's additions (the reference did not send them).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What the push needs to know about one lead, read from the database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadFacts {
    pub domain: String,
    pub company: Option<String>,
    pub provider: Option<String>,
    pub tenant_size: Option<String>,
    pub score: Option<i32>,
    pub segment: Option<String>,
    pub commercial_segment: Option<String>,
    pub technical_heat: Option<String>,
    /// P1–P6.
    pub priority: Option<String>,
    /// Legacy 1–7 priority score (engine.md §6.9).
    pub legacy_priority: Option<i16>,
    pub infrastructure_summary: Option<String>,
    /// The sales summary's one-liner and next step, when the lead was scored.
    pub sales_one_liner: Option<String>,
    pub sales_next_step: Option<String>,
    /// A Partner Center referral linked to the lead (filled once referrals exist in this database).
    pub referral: Option<ReferralFacts>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferralFacts {
    pub id: String,
    pub contact_email: Option<String>,
}

/// Mapping choices from the config.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSettings {
    /// Publisher prefix of Hunter's custom columns, e.g. `hnt_`.
    pub prefix: String,
    /// `leadsourcecode` for leads without a referral.
    pub lead_source: u8,
}

/// `leadsourcecode` 4 (Partner), always used for leads that came with a referral.
pub const LEAD_SOURCE_PARTNER: u8 = 4;

/// Column names derived from the prefix.
impl MappingSettings {
    pub fn column(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
    /// The column holding the Hunter domain: the lookup (and usual alternate) key.
    pub fn domain_key(&self) -> String {
        self.column("domain")
    }
    /// Every custom column the mapping may write, for `hunterd check` to look for in D365.
    pub fn custom_columns(&self) -> Vec<String> {
        CUSTOM.iter().map(|c| self.column(c)).collect()
    }
}

const CUSTOM: [&str; 10] = [
    "domain",
    "finalscore",
    "priorityscore",
    "segment",
    "priority",
    "provider",
    "commercialsegment",
    "huntertenantsize",
    "infrasummary",
    "referralid",
];

/// Text columns limits (C.10); longer values are cut at a character boundary rather than refused.
const SUBJECT_MAX: usize = 300;
const WEBSITE_MAX: usize = 200;
const CUSTOM_TEXT_MAX: usize = 4000;

/// The full lead payload for one Hunter lead. Absent facts are left out, never sent as null, so a
/// value typed in D365 is not wiped by a lead Hunter knows less about.
pub fn lead_payload(facts: &LeadFacts, settings: &MappingSettings) -> Map<String, Value> {
    let mut p = Map::new();
    let company = facts.company.clone().filter(|c| !c.trim().is_empty()).unwrap_or_else(|| facts.domain.clone());
    put_text(&mut p, "subject", Some(format!("Hunter: {company} ({})", facts.domain)), SUBJECT_MAX);
    put_text(&mut p, "companyname", Some(company), 100);
    put_text(&mut p, "websiteurl", Some(format!("https://{}", facts.domain)), WEBSITE_MAX);
    if let Some(email) = facts.referral.as_ref().and_then(|r| r.contact_email.clone()) {
        put_text(&mut p, "emailaddress1", Some(email), 100);
    }
    put_text(&mut p, "description", description(facts), 2000);
    if let Some(code) = facts.technical_heat.as_deref().and_then(quality_code) {
        p.insert("leadqualitycode".into(), Value::from(code));
    }
    let source = if facts.referral.is_some() { LEAD_SOURCE_PARTNER } else { settings.lead_source };
    p.insert("leadsourcecode".into(), Value::from(source));

    let col = |name: &str| settings.column(name);
    put_text(&mut p, &col("domain"), Some(facts.domain.clone()), CUSTOM_TEXT_MAX);
    if let Some(score) = facts.score {
        p.insert(col("finalscore"), Value::from(score));
    }
    if let Some(legacy) = facts.legacy_priority {
        p.insert(col("priorityscore"), Value::from(legacy));
    }
    put_text(&mut p, &col("segment"), facts.segment.clone(), CUSTOM_TEXT_MAX);
    put_text(&mut p, &col("priority"), facts.priority.clone(), CUSTOM_TEXT_MAX);
    put_text(&mut p, &col("provider"), facts.provider.clone(), CUSTOM_TEXT_MAX);
    put_text(&mut p, &col("commercialsegment"), facts.commercial_segment.clone(), CUSTOM_TEXT_MAX);
    if let Some(size) = facts.tenant_size.as_deref().and_then(tenant_size_code) {
        p.insert(col("huntertenantsize"), Value::from(size));
    }
    put_text(&mut p, &col("infrasummary"), facts.infrastructure_summary.clone(), CUSTOM_TEXT_MAX);
    if let Some(referral) = &facts.referral {
        put_text(&mut p, &col("referralid"), Some(referral.id.clone()), CUSTOM_TEXT_MAX);
    }
    p
}

/// Sales summary then infrastructure summary, one paragraph each.
fn description(facts: &LeadFacts) -> Option<String> {
    let parts: Vec<String> = [
        facts.sales_one_liner.clone(),
        facts.sales_next_step.clone().map(|s| format!("Next step: {s}")),
        facts.infrastructure_summary.clone(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// `leadqualitycode` ("Rating") from Hunter's technical heat: Hot 1, Warm 2, Cold 3.
pub fn quality_code(heat: &str) -> Option<u8> {
    match heat.trim().to_ascii_lowercase().as_str() {
        "hot" => Some(1),
        "warm" => Some(2),
        "cold" => Some(3),
        _ => None,
    }
}

/// The reference customization's tenant-size choice values (engine.md §10).
pub fn tenant_size_code(size: &str) -> Option<u32> {
    match size.trim().to_ascii_lowercase().as_str() {
        "small" => Some(816_940_000),
        "medium" => Some(816_940_001),
        "large" => Some(816_940_002),
        _ => None,
    }
}

fn put_text(p: &mut Map<String, Value>, key: &str, value: Option<String>, max_chars: usize) {
    if let Some(v) = value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        let cut: String = v.chars().take(max_chars).collect();
        p.insert(key.to_string(), Value::String(cut));
    }
}

/// Columns of `now` whose value differs from (or is missing in) what was last acknowledged.
pub fn changed_fields(previous: &Map<String, Value>, now: &Map<String, Value>) -> Map<String, Value> {
    now.iter().filter(|(k, v)| previous.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A stable hash of a payload (keys are sorted in a `serde_json::Map`).
pub fn payload_hash(payload: &Map<String, Value>) -> String {
    let bytes = serde_json::to_vec(payload).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The record link users open: `{org_url}/main.aspx?etn=lead&id={id}&pagetype=entityrecord` (C.16).
pub fn record_url(org_url: &str, lead_id: &uuid::Uuid) -> String {
    format!("{}/main.aspx?etn=lead&id={lead_id}&pagetype=entityrecord", org_url.trim_end_matches('/'))
}

/// Does a free-text `websiteurl` (any of `http://`, `https://www.`, trailing slash or path) name this domain?
pub fn website_matches(website: &str, domain: &str) -> bool {
    let w = website.trim().to_ascii_lowercase();
    let w = w.strip_prefix("https://").or_else(|| w.strip_prefix("http://")).unwrap_or(&w);
    let host = w.split(['/', '?', '#', ':']).next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    host == domain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MappingSettings {
        MappingSettings { prefix: "hnt_".into(), lead_source: 10 }
    }

    fn facts() -> LeadFacts {
        LeadFacts {
            domain: "contoso.com".into(),
            company: Some("Contoso".into()),
            provider: Some("Google Workspace".into()),
            score: Some(82),
            segment: Some("Migration".into()),
            technical_heat: Some("Hot".into()),
            priority: Some("P1".into()),
            legacy_priority: Some(1),
            infrastructure_summary: Some("Mail servers hosted by Google".into()),
            sales_one_liner: Some("Google shop ready to move".into()),
            ..LeadFacts::default()
        }
    }

    #[test]
    fn subject_names_company_and_domain() {
        let p = lead_payload(&facts(), &settings());
        assert_eq!(p["subject"], "Hunter: Contoso (contoso.com)");
        assert_eq!(p["websiteurl"], "https://contoso.com");
    }

    #[test]
    fn heat_becomes_the_rating_hot_1_warm_2_cold_3() {
        assert_eq!(quality_code("Hot"), Some(1));
        assert_eq!(quality_code("warm"), Some(2));
        assert_eq!(quality_code("Cold"), Some(3));
        assert_eq!(quality_code("lukewarm"), None);
        assert_eq!(lead_payload(&facts(), &settings())["leadqualitycode"], 1);
    }

    #[test]
    fn referral_leads_are_partner_sourced_and_carry_the_contact_email() {
        let mut f = facts();
        assert_eq!(lead_payload(&f, &settings())["leadsourcecode"], 10);
        f.referral = Some(ReferralFacts { id: "r-1".into(), contact_email: Some("a@contoso.com".into()) });
        let p = lead_payload(&f, &settings());
        assert_eq!(p["leadsourcecode"], 4);
        assert_eq!(p["emailaddress1"], "a@contoso.com");
        assert_eq!(p["hnt_referralid"], "r-1");
    }

    #[test]
    fn custom_columns_use_the_configured_prefix() {
        let s = MappingSettings { prefix: "abc_".into(), lead_source: 10 };
        let p = lead_payload(&facts(), &s);
        assert_eq!(p["abc_domain"], "contoso.com");
        assert_eq!(p["abc_finalscore"], 82);
        assert!(p.keys().all(|k| !k.starts_with("hnt_")));
    }

    #[test]
    fn unknown_facts_are_left_out_not_sent_as_null() {
        let p = lead_payload(&LeadFacts { domain: "x.example".into(), ..LeadFacts::default() }, &settings());
        assert!(p.values().all(|v| !v.is_null()));
        assert!(!p.contains_key("hnt_finalscore") && !p.contains_key("leadqualitycode"));
        assert_eq!(p["companyname"], "x.example");
    }

    #[test]
    fn a_repush_sends_only_the_changed_columns() {
        let before = lead_payload(&facts(), &settings());
        let mut f = facts();
        f.score = Some(90);
        let after = lead_payload(&f, &settings());
        let changed = changed_fields(&before, &after);
        assert_eq!(changed.keys().collect::<Vec<_>>(), vec!["hnt_finalscore"]);
        assert_ne!(payload_hash(&before), payload_hash(&after));
        assert_eq!(payload_hash(&before), payload_hash(&lead_payload(&facts(), &settings())));
    }

    #[test]
    fn website_variants_match_the_domain() {
        for w in ["https://contoso.com", "http://www.contoso.com/", "www.Contoso.com/about", "contoso.com:443"] {
            assert!(website_matches(w, "contoso.com"), "{w}");
        }
        assert!(!website_matches("https://notcontoso.com", "contoso.com"));
        assert!(!website_matches("https://contoso.com.evil.example", "contoso.com"));
    }

    #[test]
    fn record_url_follows_the_documented_form() {
        let id = uuid::Uuid::nil();
        assert_eq!(
            record_url("https://org.crm4.dynamics.com/", &id),
            format!("https://org.crm4.dynamics.com/main.aspx?etn=lead&id={id}&pagetype=entityrecord")
        );
    }
}
