//! The sales summary (engine.md §7): pitch, explanations, risk text, call script, offer and next step.
//!
//! The decision logic is the reference's, exactly; the texts are English renderings of its Turkish
//! ones, with the partner's name taken from the rules file instead of a hard-coded company.

use super::{Rules, legacy_priority};
use crate::provider::TenantSize;
use crate::scan::DmarcPolicy;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Segment names (from `data/rules.toml`) the sales text has its own wording for. Any other segment
/// gets the default text, so `hunterd check-rules` refuses a rules file that no longer produces one.
pub const SEGMENTS: [&str; 4] = [EXISTING, MIGRATION, COLD, SKIP];
/// Provider names (`[provider_points]` in the rules) the sales text has its own wording for.
pub const PROVIDERS: [&str; 7] = [M365, GOOGLE, YANDEX, ZOHO, HOSTING, LOCAL, UNKNOWN];

const EXISTING: &str = "Existing";
const MIGRATION: &str = "Migration";
const COLD: &str = "Cold";
const SKIP: &str = "Skip";
const M365: &str = "M365";
const GOOGLE: &str = "Google";
const YANDEX: &str = "Yandex";
const ZOHO: &str = "Zoho";
const HOSTING: &str = "Hosting";
const LOCAL: &str = "Local";
const UNKNOWN: &str = "Unknown";

/// The newest IP enrichment of the domain's mail server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpContext {
    /// ISO country code.
    pub country: Option<String>,
    pub is_proxy: bool,
    pub proxy_type: Option<String>,
}

/// What the sales summary is built from. Score-derived fields are `None` for a domain never scanned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesInput {
    pub domain: String,
    pub provider: Option<String>,
    pub segment: Option<String>,
    pub score: Option<i32>,
    pub tenant_size: Option<TenantSize>,
    pub local_provider: Option<String>,
    pub mx_root: Option<String>,
    pub spf: Option<bool>,
    pub dkim: Option<bool>,
    pub dmarc_policy: Option<DmarcPolicy>,
    /// DMARC `pct`, 0–100.
    pub dmarc_coverage: Option<u8>,
    /// Registration expiry (WHOIS/RDAP).
    pub expires_at: Option<NaiveDate>,
    pub ip_context: Option<IpContext>,
    /// e.g. "Hosted on DataCenter, ISP: Hetzner, Country: DE".
    pub infrastructure_summary: Option<String>,
    pub contact_quality_score: Option<i32>,
    /// Expiry urgency is measured from this day.
    pub today: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    High,
    Medium,
    Low,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::High => "high",
            Level::Medium => "medium",
            Level::Low => "low",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskFactor {
    SpfMissing,
    DkimMissing,
    DmarcMissing,
    DmarcPartial,
}

/// The risk text: how exposed the domain is to spoofing, and how to open with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityReasoning {
    pub risk_level: Level,
    pub risk_factors: Vec<RiskFactor>,
    pub summary: String,
    pub details: Vec<String>,
    pub sales_angle: String,
    pub recommended_action: String,
}

/// The Microsoft 365 offer to prepare. Amounts in EUR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferTier {
    pub tier: String,
    pub license: String,
    pub price_per_user_per_month: u32,
    pub migration_fee: u32,
    pub defender_price_per_user_per_month: Option<u32>,
    pub consulting_fee: Option<u32>,
    pub recommendation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityFactor {
    pub name: String,
    pub weight: f64,
    /// The input as shown to the user (`Migration`, `70`, `large`, `n/a`).
    pub raw: String,
    pub score: u32,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityRationale {
    pub total: u32,
    pub factors: Vec<OpportunityFactor>,
    pub tuning_factor: f64,
    pub summary: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Call,
    Email,
    Wait,
}

/// When to act. Serialised as the reference's tokens (`24_saat`, `3_gün`, `1_hafta`, `1_ay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timeline {
    #[serde(rename = "24_saat")]
    Hours24,
    #[serde(rename = "3_gün")]
    Days3,
    #[serde(rename = "1_hafta")]
    Week1,
    #[serde(rename = "1_ay")]
    Month1,
}

impl Timeline {
    /// The reference's enumerated value.
    pub fn token(self) -> &'static str {
        match self {
            Timeline::Hours24 => "24_saat",
            Timeline::Days3 => "3_gün",
            Timeline::Week1 => "1_hafta",
            Timeline::Month1 => "1_ay",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Timeline::Hours24 => "within 24 hours",
            Timeline::Days3 => "within 3 days",
            Timeline::Week1 => "within a week",
            Timeline::Month1 => "in a month",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextStep {
    pub action: Action,
    pub timeline: Timeline,
    pub priority: Level,
    pub message: String,
    pub internal_note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesMetadata {
    pub domain: String,
    pub provider: Option<String>,
    pub segment: Option<String>,
    pub readiness_score: Option<i32>,
    /// Legacy 1–7 priority, when segment and score are known.
    pub priority_score: Option<u8>,
    pub tenant_size: Option<TenantSize>,
    pub local_provider: Option<String>,
    pub generated_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesSummary {
    pub domain: String,
    pub one_liner: String,
    pub segment_explanation: String,
    pub provider_reasoning: String,
    /// `None` only when SPF, DKIM and DMARC are all unknown.
    pub security_reasoning: Option<SecurityReasoning>,
    /// Talking points.
    pub call_script: Vec<String>,
    pub discovery_questions: Vec<String>,
    pub offer_tier: OfferTier,
    /// 0–100.
    pub opportunity_potential: u32,
    pub opportunity_rationale: OpportunityRationale,
    pub urgency: Level,
    pub next_step: NextStep,
    pub metadata: SalesMetadata,
}

/// Builds the sales summary of one lead.
pub fn sales_summary(input: &SalesInput, rules: &Rules) -> SalesSummary {
    let ctx = Ctx::new(input, rules);
    let security = security_reasoning(input);
    let (opportunity_potential, opportunity_rationale) = opportunity(&ctx);
    let urgency = urgency(&ctx);
    SalesSummary {
        domain: input.domain.clone(),
        one_liner: one_liner(&ctx),
        segment_explanation: segment_explanation(&ctx),
        provider_reasoning: provider_reasoning(&ctx),
        call_script: call_script(&ctx, security.as_ref()),
        discovery_questions: discovery_questions(&ctx),
        offer_tier: offer_tier(&ctx),
        opportunity_potential,
        opportunity_rationale,
        urgency,
        next_step: next_step(&ctx, opportunity_potential, urgency),
        security_reasoning: security,
        metadata: SalesMetadata {
            domain: input.domain.clone(),
            provider: input.provider.clone(),
            segment: input.segment.clone(),
            readiness_score: input.score,
            priority_score: ctx.priority,
            tenant_size: input.tenant_size,
            local_provider: input.local_provider.clone(),
            generated_on: input.today,
        },
    }
}

/// The input plus what every part needs: trimmed segment, legacy priority, partner name.
struct Ctx<'a> {
    i: &'a SalesInput,
    segment: Option<&'a str>,
    provider: Option<&'a str>,
    priority: Option<u8>,
    partner: &'a str,
    tuning: f64,
}

impl<'a> Ctx<'a> {
    fn new(i: &'a SalesInput, rules: &'a Rules) -> Ctx<'a> {
        let segment = i.segment.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let priority = match (segment, i.score) {
            (Some(s), Some(n)) => Some(legacy_priority(Some(s), Some(n), rules)),
            _ => None,
        };
        Ctx {
            i,
            segment,
            provider: i.provider.as_deref(),
            priority,
            partner: &rules.sales.partner_name,
            tuning: rules.sales.opportunity_factor,
        }
    }

    fn is(&self, segment: &str) -> bool {
        self.segment == Some(segment)
    }

    /// The score meets `min` (an unknown score never does).
    fn score_at_least(&self, min: i32) -> bool {
        self.i.score.is_some_and(|s| s >= min)
    }

    fn score_text(&self) -> String {
        self.i.score.map_or_else(|| "n/a".to_string(), |s| s.to_string())
    }

    fn lp(&self) -> Option<&str> {
        self.i.local_provider.as_deref().filter(|s| !s.is_empty())
    }

    fn country(&self) -> Option<&str> {
        self.i.ip_context.as_ref().and_then(|c| c.country.as_deref()).filter(|s| !s.is_empty())
    }

    fn is_proxy(&self) -> bool {
        self.i.ip_context.as_ref().is_some_and(|c| c.is_proxy)
    }

    fn proxy_warning(&self) -> String {
        let kind = self.i.ip_context.as_ref().and_then(|c| c.proxy_type.as_deref()).unwrap_or("unknown type");
        format!("Note: the mail server's IP is flagged as a proxy ({kind}); verify the infrastructure before the call.")
    }
}

// ---- §7.3 one-liner ----------------------------------------------------------------------------

fn one_liner(c: &Ctx<'_>) -> String {
    let d = c.i.domain.trim();
    if d.is_empty() {
        return "Domain missing.".into();
    }
    let n = c.score_text();
    match c.segment {
        Some(MIGRATION) => {
            if c.score_at_least(80) {
                let based = c.country().map(|cc| format!(" ({cc} based)")).unwrap_or_default();
                let mut s = match c.i.tenant_size {
                    Some(TenantSize::Large) => format!(
                        "{d} – large-scale migration opportunity{based}, high readiness ({n}); a Microsoft 365 Enterprise offer can be prepared."
                    ),
                    Some(TenantSize::Medium) => format!(
                        "{d} – mid-scale migration opportunity{based}, high readiness ({n}); a Business Standard offer can be prepared."
                    ),
                    Some(TenantSize::Small) => format!(
                        "{d} – small-scale migration opportunity{based}, high readiness ({n}); a Business Basic offer can be prepared."
                    ),
                    None => format!("{d} – migration opportunity{based}, high readiness ({n}); act now."),
                };
                if c.is_proxy() {
                    s.push(' ');
                    s.push_str(&c.proxy_warning());
                }
                s
            } else if c.score_at_least(50) {
                match c.lp() {
                    Some(lp) => format!("{d} – uses {lp}; migration opportunity (score {n}), follow up."),
                    None => format!("{d} – migration opportunity, medium readiness ({n}); follow up."),
                }
            } else {
                match c.lp() {
                    Some(lp) => format!("{d} – uses {lp}; migration potential (score {n}), long-term follow-up."),
                    None => format!("{d} – migration potential, low readiness ({n}); long-term follow-up."),
                }
            }
        }
        Some(EXISTING) => {
            if c.score_at_least(70) {
                format!("{d} – existing Microsoft 365 customer ({n}); upsell Defender and extra security.")
            } else if c.score_at_least(50) {
                format!("{d} – existing Microsoft 365 customer ({n}); follow up on security improvements.")
            } else {
                format!("{d} – existing Microsoft 365 customer ({n}); long-term improvement opportunity.")
            }
        }
        Some(COLD) => {
            if c.score_at_least(40) {
                format!("{d} – cold lead with a medium score ({n}); long-term follow-up.")
            } else {
                format!("{d} – cold lead, low priority ({n}).")
            }
        }
        _ => format!("{d} – Skip segment; do not pursue now."),
    }
}

// ---- §7.4 segment explanation ------------------------------------------------------------------

fn segment_explanation(c: &Ctx<'_>) -> String {
    let Some(segment) = c.segment else { return "Segment information is unavailable.".into() };
    let d = c.i.domain.trim();
    let n = c.score_text();
    let score = c.i.score;
    match segment {
        EXISTING => {
            if c.provider != Some(M365) {
                return format!(
                    "{d} is in the Existing segment but its provider is {}: possible data inconsistency; rescan before acting.",
                    c.provider.unwrap_or("unknown")
                );
            }
            match score {
                Some(s) if s >= 70 => format!(
                    "{d} already uses Microsoft 365 and its mail security is mature (score {n}): high readiness to upsell Defender for Office 365 and further security."
                ),
                Some(s) if s >= 50 => format!(
                    "{d} already uses Microsoft 365 with a medium score ({n}): follow up to improve its security setup."
                ),
                Some(_) => format!(
                    "{d} already uses Microsoft 365 but its mail security is weak (score {n}): long-term improvement potential."
                ),
                None => format!("{d} already uses Microsoft 365."),
            }
        }
        MIGRATION => {
            let who = match c.provider {
                Some(p @ (GOOGLE | YANDEX | ZOHO | HOSTING)) => format!("{d} uses {p}"),
                Some(LOCAL) => match c.lp() {
                    Some(lp) => format!("{d} uses a local hosting provider ({lp})"),
                    None => format!("{d} runs its own mail server"),
                },
                Some(p) => format!("{d} uses {p}"),
                None => format!("{d} uses an unknown provider"),
            };
            let how = match score {
                Some(s) if s >= 80 => format!("strong signals (score {n}): ready to migrate"),
                Some(s) if s >= 70 => format!("good signals (score {n}): a suitable migration candidate"),
                Some(s) if s >= 60 => format!("sufficient signals (score {n}): worth following up"),
                Some(_) => format!("a low score ({n}) although Migration needs 60 or more: possible inconsistency"),
                None => "no score yet: needs analysis".into(),
            };
            let mut present = Vec::new();
            if c.i.spf == Some(true) {
                present.push("SPF".to_string());
            }
            if c.i.dkim == Some(true) {
                present.push("DKIM".to_string());
            }
            if let Some(p) = c.i.dmarc_policy.filter(|p| *p != DmarcPolicy::None) {
                present.push(format!("DMARC ({})", p.as_str()));
            }
            let signals = if present.is_empty() { "none".to_string() } else { present.join(", ") };
            format!("{who}, with {how}. Security signals: {signals}.")
        }
        COLD => {
            if c.provider == Some(LOCAL) && score.is_some_and(|s| (5..=59).contains(&s)) {
                let hosted = c.lp().map(|lp| format!(" (hosted with {lp})")).unwrap_or_default();
                format!(
                    "{d} runs a self-hosted mail server{hosted}. Its score ({n}) is low to medium: Microsoft 365 migration potential, but low priority; nurture for the long term."
                )
            } else {
                let level = match score {
                    Some(s) if (40..=59).contains(&s) => format!("a medium score ({n}), but not enough for migration"),
                    Some(_) => format!("a low score ({n})"),
                    None => "no score".into(),
                };
                format!(
                    "{d} has {level} and weak signals (provider: {}). Re-evaluate in 1–2 months.",
                    c.provider.unwrap_or("unknown")
                )
            }
        }
        SKIP => {
            let level = match score {
                Some(s) if s <= 39 => format!("a very low score ({n})"),
                Some(_) => format!("an insufficient score ({n})"),
                None => "no score".into(),
            };
            if c.provider == Some(LOCAL) && score.is_some_and(|s| s <= 4) {
                format!(
                    "{d} has {level}: a self-hosted mail server with almost no security signals. Do not pursue now."
                )
            } else {
                format!("{d} has {level}: out of scope for now. Check again in 3–6 months.")
            }
        }
        other => format!("{d} is in the {other} segment."),
    }
}

// ---- §7.5 provider reasoning -------------------------------------------------------------------

fn provider_reasoning(c: &Ctx<'_>) -> String {
    let Some(provider) = c.provider else { return "Provider information is unavailable.".into() };
    let root = c.i.mx_root.as_deref().unwrap_or("");
    let root_lower = root.to_ascii_lowercase();
    let mx = if root.is_empty() { "its MX records".to_string() } else { format!("MX {root}") };
    match provider {
        M365 => {
            let mut s = if root.is_empty() {
                "The company uses Microsoft 365.".to_string()
            } else if root_lower.contains("outlook.com") || root_lower.contains("protection.outlook.com") {
                format!("The MX records point to {root}, Microsoft's own mail infrastructure: the company uses Microsoft 365.")
            } else {
                format!("The company uses Microsoft 365 (MX {root}).")
            };
            if c.i.spf == Some(true) {
                s.push_str(" An SPF record is published (for Microsoft 365 it normally authorises Microsoft's servers).");
            }
            if let Some(summary) = c.i.infrastructure_summary.as_deref().filter(|s| !s.is_empty()) {
                s.push_str(&format!(" Infrastructure analysis: {summary}."));
            }
            s.push_str(" As an existing customer, the angle is protection and upsell: Defender for Office 365, compliance, licences.");
            s
        }
        GOOGLE => {
            let lead = if root_lower.contains("google.com") || root_lower.contains("googlemail.com") {
                format!("The MX records point to {root}, Google's mail infrastructure: the company uses Google Workspace.")
            } else {
                format!("The company uses Google Workspace ({mx}).")
            };
            format!("{lead} A competitive takeover: Microsoft 365 offers deeper Office integration and security.")
        }
        YANDEX => format!(
            "The company uses Yandex Mail ({mx}). Moving to Microsoft 365 brings enterprise-grade security, compliance and support."
        ),
        ZOHO => format!(
            "The company uses Zoho Mail ({mx}). Microsoft 365 offers a broader suite (Teams, SharePoint) and stronger security."
        ),
        HOSTING => format!(
            "Mail runs on shared hosting ({mx}). Shared servers put deliverability and security at risk; Microsoft 365 solves both."
        ),
        LOCAL => match c.lp() {
            Some(lp) => format!(
                "Mail is hosted by the local provider {lp} ({mx}). Local hosting rarely matches Microsoft 365's security, uptime and collaboration tools."
            ),
            None => format!(
                "The company runs its own mail server ({mx}). Self-hosted mail costs maintenance and carries security risk: a clear case for Microsoft 365."
            ),
        },
        UNKNOWN => "No MX record, or one that matches no known provider: both a risk (mail may not be working) and an opportunity (a clean start on Microsoft 365).".into(),
        other => format!("The company uses {other} ({mx})."),
    }
}

// ---- §7.6 security reasoning (the risk text) ---------------------------------------------------

fn security_reasoning(i: &SalesInput) -> Option<SecurityReasoning> {
    if i.spf.is_none() && i.dkim.is_none() && i.dmarc_policy.is_none() {
        return None;
    }
    let mut details = Vec::new();
    let mut factors = Vec::new();
    match i.spf {
        Some(false) => {
            details.push("SPF record missing: anyone can send mail claiming to be this domain.".to_string());
            factors.push(RiskFactor::SpfMissing);
        }
        Some(true) => details.push("SPF record present.".to_string()),
        None => {}
    }
    match i.dkim {
        Some(false) => {
            details.push("DKIM missing: messages are not signed.".to_string());
            factors.push(RiskFactor::DkimMissing);
        }
        Some(true) => details.push("DKIM present.".to_string()),
        None => {}
    }
    let coverage = i.dmarc_coverage.unwrap_or(100);
    match i.dmarc_policy {
        None | Some(DmarcPolicy::None) => {
            details.push("No DMARC policy: spoofed mail is not rejected.".to_string());
            factors.push(RiskFactor::DmarcMissing);
        }
        Some(p) => {
            details.push(format!("DMARC policy: {}.", p.as_str()));
            if coverage < 100 {
                details.push(format!("DMARC coverage {coverage}% (not full)."));
                factors.push(RiskFactor::DmarcPartial);
            } else {
                details.push("DMARC coverage 100% (full).".to_string());
            }
        }
    }
    let has = |f: RiskFactor| factors.contains(&f);
    let risk_level = if factors.len() >= 2 || has(RiskFactor::DmarcMissing) {
        Level::High
    } else if has(RiskFactor::DmarcPartial) || factors.len() == 1 {
        Level::Medium
    } else {
        Level::Low
    };
    let spf_ok = !has(RiskFactor::SpfMissing);
    let dkim_ok = !has(RiskFactor::DkimMissing);
    let summary = match risk_level {
        Level::High if has(RiskFactor::DmarcMissing) => match (spf_ok, dkim_ok) {
            (true, true) => {
                "No DMARC policy: SPF and DKIM are present, but the spoofing risk is still high.".to_string()
            }
            (true, false) => {
                "No DMARC policy; SPF is present but DKIM is missing: the setup is incomplete.".to_string()
            }
            (false, true) => {
                "No DMARC policy; DKIM is present but SPF is missing: the setup is incomplete.".to_string()
            }
            (false, false) => "DMARC, SPF and DKIM are all missing: critical spoofing and phishing risk.".to_string(),
        },
        Level::High => {
            let gaps: Vec<&str> = factors
                .iter()
                .map(|f| match f {
                    RiskFactor::SpfMissing => "SPF missing",
                    RiskFactor::DkimMissing => "DKIM missing",
                    RiskFactor::DmarcMissing => "no DMARC policy",
                    RiskFactor::DmarcPartial => "partial DMARC coverage",
                })
                .collect();
            format!(
                "Several authentication gaps ({}): high spoofing and phishing risk despite the DMARC policy.",
                gaps.join(", ")
            )
        }
        Level::Medium if has(RiskFactor::DmarcPartial) => {
            format!("A DMARC policy is present but covers only {coverage}% of the mail.")
        }
        Level::Medium => "The signals are partly in place; adding DMARC would close the gap.".to_string(),
        Level::Low => "SPF, DKIM and DMARC are all present: the setup is in good shape.".to_string(),
    };
    let (sales_angle, recommended_action) = match risk_level {
        Level::High => (
            "Open with the risk: phishing, fake invoices and impersonation of staff are easy against this domain today.",
            "Propose Microsoft 365 with Defender for Office 365 and a complete SPF/DKIM/DMARC setup; treat it as urgent.",
        ),
        Level::Medium => (
            "Position it as an improvement: full DMARC coverage protects the brand and improves deliverability.",
            "Propose a Microsoft 365 migration or a project to bring DMARC to full coverage (up to 40% better deliverability).",
        ),
        Level::Low => (
            "The infrastructure is in good shape: talk about an extra protection layer rather than fixes.",
            "Add Defender for Office 365 for protection against advanced threats.",
        ),
    };
    Some(SecurityReasoning {
        risk_level,
        risk_factors: factors,
        summary,
        details,
        sales_angle: sales_angle.into(),
        recommended_action: recommended_action.into(),
    })
}

// ---- §7.7 call script and §7.8 discovery questions ---------------------------------------------

fn call_script(c: &Ctx<'_>, security: Option<&SecurityReasoning>) -> Vec<String> {
    let d = c.i.domain.trim();
    let partner = capitalised(c.partner);
    match c.segment {
        Some(COLD) => vec![
            format!("Hello! {partner} ran a general e-mail infrastructure scan of {d}."),
            if security.is_some_and(|s| s.risk_level == Level::High) {
                "We saw points that may leave you open to spoofing or phishing.".to_string()
            } else {
                "We saw possible improvements in spam filtering, delivery and security.".to_string()
            },
            "Could we have a 10–15 minute call to walk you through what we found?".to_string(),
        ],
        Some(MIGRATION) => {
            let mut context = Vec::new();
            if let Some(cc) = c.country() {
                context.push(format!("{cc} based"));
            }
            if let Some(lp) = c.lp() {
                context.push(format!("currently with {lp}"));
            }
            let context = if context.is_empty() { String::new() } else { format!(" ({})", context.join(", ")) };
            let mut s = vec![format!(
                "Hello! {partner} looked at {d}'s e-mail infrastructure{context} and would like to propose a move to Microsoft 365."
            )];
            if c.is_proxy() {
                s.push(c.proxy_warning());
            }
            s.push(match c.i.tenant_size {
                Some(TenantSize::Large) => {
                    "Microsoft 365 Enterprise would cut IT costs and raise security across the organisation."
                        .to_string()
                }
                Some(TenantSize::Medium) => {
                    "Business Standard brings Teams, SharePoint and up to 40% better deliverability.".to_string()
                }
                Some(TenantSize::Small) => {
                    "Business Basic is a cost-effective way to get professional, secure e-mail.".to_string()
                }
                None => "Microsoft 365 brings secure e-mail, collaboration and less maintenance.".to_string(),
            });
            s.push(if c.score_at_least(70) {
                "Could we have a 15-minute call so we can prepare an offer tailored to you?".to_string()
            } else {
                "Could we have a short call so we can prepare an offer tailored to you?".to_string()
            });
            s
        }
        Some(EXISTING) => vec![
            format!("Hello! {partner} reviewed {d}'s Microsoft 365 setup."),
            "Defender for Office 365 adds protection against phishing, malicious attachments and impersonation."
                .to_string(),
            "Could we have a short call to go through the findings together?".to_string(),
        ],
        _ => vec![
            format!("Hello! {partner} analysed {d}'s e-mail security."),
            "Could we have a short call to share what we found?".to_string(),
        ],
    }
}

fn discovery_questions(c: &Ctx<'_>) -> Vec<String> {
    let mut q: Vec<String> = match c.segment {
        Some(MIGRATION) => {
            let mut q = vec![
                "How satisfied are you with your current e-mail service?".to_string(),
                "Have you had security incidents such as phishing or spoofed e-mails recently?".to_string(),
                "How large is your IT team, and who looks after e-mail today?".to_string(),
            ];
            if c.provider == Some(LOCAL) {
                let with = c.lp().unwrap_or("your hosting provider");
                q.push(format!("What does your contract with {with} look like, and when does it renew?"));
            }
            q
        }
        Some(EXISTING) => vec![
            "How satisfied are you with Microsoft 365 so far?".to_string(),
            "Do you need extra security such as advanced threat protection or data loss prevention?".to_string(),
            "Do your e-mails reliably reach customers, or do some land in spam?".to_string(),
        ],
        _ => vec![
            "How do you see your e-mail infrastructure today?".to_string(),
            "What are your IT priorities this year?".to_string(),
        ],
    };
    match c.i.tenant_size {
        Some(TenantSize::Large) => {
            q.push("Do you have a central IT strategy across locations or subsidiaries?".to_string());
            q.push("Which compliance requirements (GDPR, KVKK…) apply to you?".to_string());
        }
        Some(TenantSize::Medium) => q.push("How do you expect your team to grow over the next year?".to_string()),
        Some(TenantSize::Small) => q.push("What budget do you have for IT and e-mail?".to_string()),
        None => {}
    }
    q.push("What is your annual IT budget?".to_string());
    q.push("Who takes part in the decision, and how does the process work?".to_string());
    q.push("When would you like a new solution in place?".to_string());
    q
}

// ---- §7.9 offer tier ---------------------------------------------------------------------------

fn offer_tier(c: &Ctx<'_>) -> OfferTier {
    let size = c.i.tenant_size.or_else(|| (c.is(MIGRATION) && c.score_at_least(70)).then_some(TenantSize::Medium));
    match size {
        Some(TenantSize::Large) => OfferTier {
            tier: "Enterprise".into(),
            license: "Microsoft 365 Enterprise".into(),
            price_per_user_per_month: 20,
            migration_fee: 10_000,
            defender_price_per_user_per_month: Some(10),
            consulting_fee: Some(50_000),
            recommendation: "Enterprise licences with Defender and a consulting engagement for a large organisation."
                .into(),
        },
        Some(TenantSize::Medium) => OfferTier {
            tier: "Business Standard".into(),
            license: "Microsoft 365 Business Standard".into(),
            price_per_user_per_month: 10,
            migration_fee: 2_000,
            defender_price_per_user_per_month: Some(5),
            consulting_fee: None,
            recommendation: "Business Standard with Defender: the usual fit for a mid-sized company.".into(),
        },
        Some(TenantSize::Small) | None => OfferTier {
            tier: "Business Basic".into(),
            license: "Microsoft 365 Business Basic".into(),
            price_per_user_per_month: 5,
            migration_fee: 500,
            defender_price_per_user_per_month: None,
            consulting_fee: None,
            recommendation: "Business Basic: an affordable start with professional e-mail.".into(),
        },
    }
}

// ---- §7.10 opportunity potential ---------------------------------------------------------------

fn opportunity(c: &Ctx<'_>) -> (u32, OpportunityRationale) {
    let segment_part = match c.segment {
        Some(MIGRATION) => 40,
        Some(EXISTING) => 30,
        Some(COLD) => 15,
        _ => 5,
    };
    // As the reference: a score of 0 counts like no score (10 points), and floats are floored.
    let readiness_part = match c.i.score {
        Some(s) if s != 0 => (f64::from(s) * 0.3).floor().max(0.0) as u32,
        _ => 10,
    };
    let priority_part = match c.priority {
        None | Some(0) => 5,
        Some(1) => 20,
        Some(2) => 18,
        Some(3) => 15,
        Some(4) => 12,
        Some(5) => 8,
        Some(6) => 5,
        Some(_) => 2,
    };
    let tenant_part = match c.i.tenant_size {
        Some(TenantSize::Large) => 10,
        Some(TenantSize::Medium) => 7,
        Some(TenantSize::Small) => 5,
        None => 3,
    };
    let contact_part = match c.i.contact_quality_score {
        Some(q) if q != 0 => Some((f64::from(q) * 0.05).floor().max(0.0) as u32),
        _ => None,
    };
    let sum = segment_part + readiness_part + priority_part + tenant_part + contact_part.unwrap_or(0);
    let total = ((f64::from(sum) * c.tuning).floor().max(0.0) as u32).min(100);

    let mut factors = vec![
        OpportunityFactor {
            name: "segment".into(),
            weight: 0.4,
            raw: c.segment.unwrap_or("n/a").into(),
            score: segment_part,
            comment: match c.segment {
                Some(MIGRATION) => "Migration leads are the closest to a sale.",
                Some(EXISTING) => "Existing Microsoft 365 customers: upsell potential.",
                Some(COLD) => "Cold leads need nurturing.",
                _ => "Out of scope for now.",
            }
            .into(),
        },
        OpportunityFactor {
            name: "readiness_score".into(),
            weight: 0.3,
            raw: c.score_text(),
            score: readiness_part,
            comment: match c.i.score {
                Some(s) if s != 0 => "30% of the readiness score.".into(),
                _ => "No readiness score: a neutral 10.".into(),
            },
        },
        OpportunityFactor {
            name: "priority_score".into(),
            weight: 0.2,
            raw: c.priority.map_or_else(|| "n/a".to_string(), |p| p.to_string()),
            score: priority_part,
            comment: "Higher legacy priority (1 is highest) earns more.".into(),
        },
        OpportunityFactor {
            name: "tenant_size".into(),
            weight: 0.1,
            raw: c.i.tenant_size.map_or("n/a", TenantSize::as_str).into(),
            score: tenant_part,
            comment: "Larger organisations mean larger deals.".into(),
        },
    ];
    if let Some(points) = contact_part {
        factors.push(OpportunityFactor {
            name: "contact_quality".into(),
            weight: 0.05,
            raw: c.i.contact_quality_score.map_or_else(String::new, |q| q.to_string()),
            score: points,
            comment: "Good contact data makes the lead easier to reach.".into(),
        });
    }
    let summary = match c.segment {
        Some(MIGRATION) => format!("Migration lead with an opportunity potential of {total}/100."),
        Some(EXISTING) => format!("Existing customer with an upsell potential of {total}/100."),
        Some(COLD) => format!("Cold lead with an opportunity potential of {total}/100: nurture."),
        _ => format!("Opportunity potential {total}/100: not a priority now."),
    };
    (total, OpportunityRationale { total, factors, tuning_factor: c.tuning, summary })
}

// ---- §7.11 urgency and §7.12 next step ---------------------------------------------------------

fn urgency(c: &Ctx<'_>) -> Level {
    let days_left = c.i.expires_at.map(|d| (d - c.i.today).num_days());
    if c.priority == Some(1) || (c.is(MIGRATION) && c.score_at_least(80)) || days_left.is_some_and(|d| d < 60) {
        Level::High
    } else if c.priority == Some(2)
        || (c.is(MIGRATION) && c.score_at_least(50))
        || (c.is(EXISTING) && c.score_at_least(70))
        || days_left.is_some_and(|d| (60..90).contains(&d))
    {
        Level::Medium
    } else {
        Level::Low
    }
}

fn next_step(c: &Ctx<'_>, opp: u32, urgency: Level) -> NextStep {
    let d = c.i.domain.trim();
    let step = |action, timeline, priority, message: String, internal_note: &str| NextStep {
        action,
        timeline,
        priority,
        message,
        internal_note: internal_note.to_string(),
    };
    if c.is(SKIP) || opp < 20 {
        return step(
            Action::Wait,
            Timeline::Month1,
            Level::Low,
            format!("Not a priority now: check {d} again in a month."),
            "Low potential; keep in the archive and rescan later.",
        );
    }
    if opp >= 80 && (c.is(MIGRATION) || c.is(EXISTING)) && matches!(urgency, Level::High | Level::Medium) {
        return if c.is(MIGRATION) {
            step(
                Action::Call,
                Timeline::Hours24,
                Level::High,
                format!("Call {d} within 24 hours and propose a Microsoft 365 migration."),
                "Hot migration lead: prepare the offer before the call.",
            )
        } else {
            step(
                Action::Call,
                Timeline::Hours24,
                Level::High,
                format!("Call {d} within 24 hours about Defender and security upsell."),
                "High-value existing customer: check licences and renewal dates first.",
            )
        };
    }
    if (50..80).contains(&opp) {
        let (message, note) = match c.segment {
            Some(COLD) => (
                format!("Call {d} within 3 days with a short, low-pressure introduction."),
                "Cold lead: qualify first.",
            ),
            Some(EXISTING) => (
                format!("Call {d} within 3 days to review their Microsoft 365 security."),
                "Existing customer: look for security and licence gaps.",
            ),
            _ => (format!("Call {d} within 3 days to present the findings."), "Medium potential: follow up promptly."),
        };
        return step(Action::Call, Timeline::Days3, Level::Medium, message, note);
    }
    if opp < 50 {
        return step(
            Action::Email,
            Timeline::Week1,
            Level::Low,
            format!("Send {d} an introduction e-mail with the scan findings this week."),
            "Low potential: nurture by e-mail.",
        );
    }
    match (urgency, c.segment) {
        (Level::High, _) => step(
            Action::Call,
            Timeline::Hours24,
            Level::High,
            format!("Call {d} within 24 hours."),
            "Urgent: act before the window closes.",
        ),
        (Level::Medium, _) => step(
            Action::Call,
            Timeline::Days3,
            Level::Medium,
            format!("Call {d} within 3 days."),
            "Good potential: follow up promptly.",
        ),
        (_, Some(MIGRATION)) => step(
            Action::Call,
            Timeline::Week1,
            Level::Medium,
            format!("Call {d} this week about a Microsoft 365 migration."),
            "High potential without urgency: plan the call.",
        ),
        (_, Some(EXISTING)) => step(
            Action::Email,
            Timeline::Week1,
            Level::Medium,
            format!("E-mail {d} this week about security improvements."),
            "Existing customer without urgency: warm up by e-mail.",
        ),
        _ => step(
            Action::Wait,
            Timeline::Month1,
            Level::Low,
            format!("Check {d} again in a month."),
            "No clear next step yet.",
        ),
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
#[path = "sales_tests.rs"]
mod tests;
