//! Rules-driven lead scoring: points, segments, the P-model, breakdown and sales summary.
//!
//! Pure functions of the signals. The rules (engine.md §6) are data: `hunterd/data/rules.toml` is
//! compiled in, `rules.file` replaces it, `hunterd check-rules FILE` validates one.

mod condition;
mod rules;
mod sales;

pub use condition::When;
pub use rules::{
    CommercialSegmentRule, HardFailRule, HeatRule, LegacyPriorityRule, PointsRule, PriorityDefault, PriorityRule,
    Rules, RulesError, SalesSettings, SegmentRule,
};
pub use sales::{
    Action, IpContext, Level, NextStep, OfferTier, OpportunityFactor, OpportunityRationale, RiskFactor, SalesInput,
    SalesMetadata, SalesSummary, SecurityReasoning, Timeline, sales_summary,
};

use crate::provider::Detection;
use crate::scan::{DmarcPolicy, ScanResult};
use condition::Facts;
use rules::fill;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The signals a score is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreInput<'a> {
    pub domain: &'a str,
    /// A provider name from detection (`M365`, `Google`, …, `Local`, `Unknown`).
    pub provider: &'a str,
    /// A single, evaluable SPF record exists.
    pub spf: bool,
    /// A DKIM key was found.
    pub dkim: bool,
    /// `None` = no DMARC record.
    pub dmarc: Option<DmarcPolicy>,
    /// At least one MX host; an RFC 7505 null MX is not usable.
    pub has_usable_mx: bool,
    /// The SPF record text, for the include-count rule.
    pub spf_record: Option<&'a str>,
    /// Kinds of the company's Partner Center referrals (`co-sell`, …), for `referral_in` rules.
    pub referrals: &'a [String],
}

impl<'a> ScoreInput<'a> {
    /// The signals of a scan, with the provider detection made from it.
    pub fn from_scan(scan: &'a ScanResult, detection: &'a Detection) -> ScoreInput<'a> {
        ScoreInput {
            domain: &scan.domain,
            provider: &detection.provider,
            spf: scan.spf.counts_as_in_place(),
            dkim: scan.has_dkim(),
            dmarc: scan.dmarc.as_ref().map(|d| d.policy),
            has_usable_mx: scan.mx.iter().any(|m| !m.host.trim_end_matches('.').is_empty()),
            spf_record: scan.spf.record.as_deref(),
            referrals: &[],
        }
    }
}

/// Which part of the score a [`Contribution`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContributionKind {
    Base,
    Provider,
    Signal,
    Risk,
    /// Brings the sum into `score_min..=score_max`.
    Clamp,
    /// Cancels everything else: the domain hard-failed (or its name is invalid).
    HardFail,
}

/// One line of the score breakdown. The points of all lines sum to the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    pub kind: ContributionKind,
    /// `base_score`, the provider name, a rule key (`spf`, `no_dkim`, …), `clamp`, or the hard-fail key.
    pub key: String,
    pub points: i32,
    pub reason: String,
}

/// Everything scoring decides about a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreOutcome {
    pub score: i32,
    pub segment: String,
    pub reason: String,
    /// The hard-fail rule key (or `invalid_domain`) when one applied.
    pub hard_fail: Option<String>,
    pub technical_heat: String,
    pub commercial_segment: String,
    pub commercial_heat: String,
    /// P1–P6.
    pub priority: String,
    pub priority_label: String,
    /// 1 (highest) – 7, the reference's list priority (§6.9).
    pub legacy_priority: u8,
    pub breakdown: Vec<Contribution>,
}

/// Scores one domain (engine.md §6.2): validity, hard-fail, points, segment, P-model.
pub fn score(input: &ScoreInput<'_>, rules: &Rules) -> ScoreOutcome {
    if !is_valid_domain(input.domain.trim()) {
        let reason = format!("Invalid domain format: {}", input.domain);
        let breakdown = vec![Contribution {
            kind: ContributionKind::HardFail,
            key: "invalid_domain".into(),
            points: 0,
            reason: reason.clone(),
        }];
        return finish(
            input,
            rules,
            0,
            rules.hard_fail_segment.clone(),
            reason,
            Some("invalid_domain".into()),
            breakdown,
        );
    }

    let facts = signal_facts(input);

    let (provider_points, provider_reason) = match rules.provider_points.get(input.provider) {
        Some(&points) => (points, format!("mail provider {}", input.provider)),
        None => (rules.provider_default_points, format!("mail provider {} (no weight listed)", input.provider)),
    };
    let mut breakdown = vec![
        Contribution {
            kind: ContributionKind::Base,
            key: "base_score".into(),
            points: rules.base_score,
            reason: "base score".into(),
        },
        Contribution {
            kind: ContributionKind::Provider,
            key: input.provider.to_string(),
            points: provider_points,
            reason: provider_reason,
        },
    ];
    for (kind, list) in [(ContributionKind::Signal, &rules.signal_points), (ContributionKind::Risk, &rules.risk_points)]
    {
        for rule in list.iter().filter(|r| r.when.holds(&facts)) {
            breakdown.push(Contribution {
                kind,
                key: rule.key.clone(),
                points: rule.points,
                reason: rule.reason.clone(),
            });
        }
    }
    let raw: i32 = breakdown.iter().map(|c| c.points).sum();
    let clamped = raw.clamp(rules.score_min, rules.score_max);
    if clamped != raw {
        let bound = if raw < rules.score_min { "minimum" } else { "maximum" };
        breakdown.push(Contribution {
            kind: ContributionKind::Clamp,
            key: "clamp".into(),
            points: clamped - raw,
            reason: format!("raw total {raw} brought to the {bound} score {clamped}"),
        });
    }

    if let Some(rule) = rules.hard_fail_rules.iter().find(|r| r.when.holds(&facts)) {
        let reason = fill(&rules.hard_fail_reason, &rule.description, 0, input.provider);
        breakdown.push(Contribution {
            kind: ContributionKind::HardFail,
            key: rule.key.clone(),
            points: -clamped,
            reason: format!("{reason}: the score is 0 whatever the signals"),
        });
        return finish(input, rules, 0, rules.hard_fail_segment.clone(), reason, Some(rule.key.clone()), breakdown);
    }

    let scored = Facts { score: Some(clamped), ..facts };
    let (segment, reason) = decide_segment(&scored, clamped, input.provider, rules);
    finish(input, rules, clamped, segment, reason, None, breakdown)
}

/// The first segment rule that holds (§6.4), with its reason text; the fallback when none does.
fn decide_segment(facts: &Facts<'_>, score: i32, provider: &str, rules: &Rules) -> (String, String) {
    match rules.segment_rules.iter().find(|r| r.when.holds(facts)) {
        Some(rule) => (rule.segment.clone(), fill(&rules.segment_reason, &rule.description, score, provider)),
        None => (rules.segment_fallback.clone(), fill(&rules.segment_fallback_reason, "", score, provider)),
    }
}

/// The P-model and legacy priority for a decided score and segment (§6.5–§6.9).
fn finish(
    input: &ScoreInput<'_>,
    rules: &Rules,
    score: i32,
    segment: String,
    reason: String,
    hard_fail: Option<String>,
    breakdown: Vec<Contribution>,
) -> ScoreOutcome {
    let mut f = Facts { score: Some(score), segment: Some(&segment), ..signal_facts(input) };
    let technical_heat = first_value(&rules.technical_heat_rules, &f, |r| (&r.when, &r.heat))
        .unwrap_or(&rules.technical_heat_default)
        .clone();
    f.technical_heat = Some(&technical_heat);
    let commercial_segment = first_value(&rules.commercial_segment_rules, &f, |r| (&r.when, &r.commercial_segment))
        .unwrap_or(&rules.commercial_segment_default)
        .clone();
    f.commercial_segment = Some(&commercial_segment);
    let commercial_heat = first_value(&rules.commercial_heat_rules, &f, |r| (&r.when, &r.heat))
        .unwrap_or(&rules.commercial_heat_default)
        .clone();
    f.commercial_heat = Some(&commercial_heat);
    let (priority, priority_label) = match rules.priority_category_rules.iter().find(|r| r.when.holds(&f)) {
        Some(r) => (r.category.clone(), r.label.clone()),
        None => (rules.priority_default.category.clone(), rules.priority_default.label.clone()),
    };
    let legacy_priority = legacy_priority(Some(&segment), Some(score), rules);
    ScoreOutcome {
        score,
        segment,
        reason,
        hard_fail,
        technical_heat,
        commercial_segment,
        commercial_heat,
        priority,
        priority_label,
        legacy_priority,
        breakdown,
    }
}

/// What is known before scoring: the signals and the provider.
fn signal_facts<'a>(input: &ScoreInput<'a>) -> Facts<'a> {
    Facts {
        provider: Some(input.provider),
        spf: Some(input.spf),
        dkim: Some(input.dkim),
        mx: Some(input.has_usable_mx),
        dmarc: Some(input.dmarc.map_or("absent", DmarcPolicy::as_str)),
        // The reference counts the literal substring, not parsed terms (§3.6).
        spf_includes: Some(input.spf_record.map_or(0, |r| r.matches("include:").count() as u32)),
        referrals: Some(input.referrals),
        ..Facts::default()
    }
}

fn first_value<'r, R>(
    rules: &'r [R],
    facts: &Facts<'_>,
    parts: impl Fn(&'r R) -> (&'r When, &'r String),
) -> Option<&'r String> {
    rules.iter().map(parts).find(|(when, _)| when.holds(facts)).map(|(_, value)| value)
}

/// The legacy 1–7 priority (§6.9) of a stored segment and score; either missing gives the default (7).
pub fn legacy_priority(segment: Option<&str>, score: Option<i32>, rules: &Rules) -> u8 {
    let (Some(segment), Some(score)) = (segment, score) else { return rules.legacy_priority_default };
    let facts = Facts { segment: Some(segment.trim()), score: Some(score), ..Facts::default() };
    rules
        .legacy_priority_rules
        .iter()
        .find(|r| r.when.holds(&facts))
        .map_or(rules.legacy_priority_default, |r| r.priority)
}

/// `hunterd check-rules FILE`: the file's summary when it is valid, else every problem.
pub fn check_rules_file(path: &Path) -> Result<String, RulesError> {
    let rules = Rules::load(Some(path))?;
    Ok(format!("{}: valid\n{}", path.display(), rules.summary()))
}

/// Runs `hunterd check-rules FILE`: the summary on stdout and 0, or every problem on stderr and 1.
pub fn check_rules_command(path: &Path) -> std::process::ExitCode {
    match check_rules_file(path) {
        Ok(report) => {
            print!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hunterd: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The reference's domain validity predicate (§2.1), applied before anything else is scored.
fn is_valid_domain(d: &str) -> bool {
    const NOT_DOMAINS: [&str; 10] =
        ["nan", "n/a", "na", "none", "null", "web sitesi", "website", "web", "http", "https"];
    let lower = d.to_ascii_lowercase();
    if d.is_empty() || NOT_DOMAINS.contains(&lower.as_str()) || d.contains("://") || !d.contains('.') {
        return false;
    }
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return false;
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    d.split('.').all(label_ok) && d.rsplit('.').next().is_some_and(|tld| tld.len() >= 2)
}

#[cfg(test)]
mod tests;
