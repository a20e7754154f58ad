//! The rules file: its shape, loading, and validation that names the file, the rule and the problem.

use super::condition::{Known, Stage, When};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::LazyLock;

const EMBEDDED: &str = include_str!("../../data/rules.toml");
const EMBEDDED_ORIGIN: &str = "embedded rules";

static EMBEDDED_RULES: LazyLock<Rules> = LazyLock::new(|| match Rules::from_toml(EMBEDDED, EMBEDDED_ORIGIN) {
    Ok(rules) => rules,
    // The embedded file is part of the build and a unit test parses it: this cannot happen in a release.
    Err(e) => panic!("{e}"),
});

/// Placeholders that texts in the rules file may use.
const PLACEHOLDERS: [&str; 3] = ["description", "score", "provider"];

/// Points added for a signal or subtracted for a risk, when `when` holds (every matching rule applies).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsRule {
    pub key: String,
    pub points: i32,
    /// Shown in the score breakdown.
    pub reason: String,
    #[serde(default)]
    pub when: When,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardFailRule {
    pub key: String,
    pub description: String,
    pub when: When,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRule {
    pub segment: String,
    pub description: String,
    #[serde(default)]
    pub when: When,
}

/// A technical or commercial heat rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatRule {
    pub heat: String,
    #[serde(default)]
    pub when: When,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommercialSegmentRule {
    pub commercial_segment: String,
    #[serde(default)]
    pub when: When,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityRule {
    pub category: String,
    pub label: String,
    #[serde(default)]
    pub when: When,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityDefault {
    pub category: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyPriorityRule {
    pub priority: u8,
    #[serde(default)]
    pub when: When,
}

/// Settings of the sales summary.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SalesSettings {
    /// Who is calling, in the call script.
    pub partner_name: String,
    /// Multiplies the opportunity potential (1.0 = as computed).
    pub opportunity_factor: f64,
}

impl Default for SalesSettings {
    fn default() -> Self {
        SalesSettings { partner_name: "our team".into(), opportunity_factor: 1.0 }
    }
}

/// A validated rules file. Build it with [`Rules::load`], [`Rules::from_toml`] or [`Rules::embedded`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub base_score: i32,
    pub score_min: i32,
    pub score_max: i32,
    #[serde(default)]
    pub provider_default_points: i32,
    pub segment_reason: String,
    pub segment_fallback: String,
    pub segment_fallback_reason: String,
    pub hard_fail_segment: String,
    pub hard_fail_reason: String,
    pub technical_heat_default: String,
    pub commercial_segment_default: String,
    pub commercial_heat_default: String,
    pub priority_default: PriorityDefault,
    pub legacy_priority_default: u8,
    #[serde(default)]
    pub sales: SalesSettings,
    pub provider_points: BTreeMap<String, i32>,
    #[serde(default)]
    pub signal_points: Vec<PointsRule>,
    #[serde(default)]
    pub risk_points: Vec<PointsRule>,
    #[serde(default)]
    pub hard_fail_rules: Vec<HardFailRule>,
    pub segment_rules: Vec<SegmentRule>,
    #[serde(default)]
    pub technical_heat_rules: Vec<HeatRule>,
    #[serde(default)]
    pub commercial_segment_rules: Vec<CommercialSegmentRule>,
    #[serde(default)]
    pub commercial_heat_rules: Vec<HeatRule>,
    #[serde(default)]
    pub priority_category_rules: Vec<PriorityRule>,
    #[serde(default)]
    pub legacy_priority_rules: Vec<LegacyPriorityRule>,
}

/// A rules file that cannot be used, with every problem found.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules file {path}: {source}")]
    Unreadable { path: String, source: std::io::Error },
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: {} problem(s):\n  {}", problems.len(), problems.join("\n  "))]
    Invalid { origin: String, problems: Vec<String> },
}

impl Rules {
    /// The rules compiled into hunterd (engine.md §6).
    pub fn embedded() -> &'static Rules {
        &EMBEDDED_RULES
    }

    /// The rules at `path`, or the embedded ones when no path is configured (`rules.file`).
    pub fn load(path: Option<&Path>) -> Result<Rules, RulesError> {
        let Some(path) = path else { return Ok(Self::embedded().clone()) };
        let origin = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| RulesError::Unreadable { path: origin.clone(), source })?;
        Self::from_toml(&text, &origin)
    }

    /// Parses and validates rules; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Rules, RulesError> {
        let rules: Rules = toml::from_str(text).map_err(|e| RulesError::Syntax {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let problems = rules.problems();
        if problems.is_empty() { Ok(rules) } else { Err(RulesError::Invalid { origin: origin.to_string(), problems }) }
    }

    /// The values each list can produce (its rules' outputs and its default).
    fn known(&self) -> Known {
        let set = |items: Vec<&String>| items.into_iter().cloned().collect::<BTreeSet<String>>();
        let mut segments = set(self.segment_rules.iter().map(|r| &r.segment).collect());
        segments.insert(self.segment_fallback.clone());
        segments.insert(self.hard_fail_segment.clone());
        let mut technical_heats = set(self.technical_heat_rules.iter().map(|r| &r.heat).collect());
        technical_heats.insert(self.technical_heat_default.clone());
        let mut commercial_segments =
            set(self.commercial_segment_rules.iter().map(|r| &r.commercial_segment).collect());
        commercial_segments.insert(self.commercial_segment_default.clone());
        let mut commercial_heats = set(self.commercial_heat_rules.iter().map(|r| &r.heat).collect());
        commercial_heats.insert(self.commercial_heat_default.clone());
        Known {
            providers: self.provider_points.keys().cloned().collect(),
            segments,
            technical_heats,
            commercial_segments,
            commercial_heats,
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let known = self.known();

        if self.score_min > self.score_max {
            p.push(format!("score_min {} is above score_max {}", self.score_min, self.score_max));
        }
        for (key, value) in [
            ("segment_fallback", &self.segment_fallback),
            ("hard_fail_segment", &self.hard_fail_segment),
            ("technical_heat_default", &self.technical_heat_default),
            ("commercial_segment_default", &self.commercial_segment_default),
            ("commercial_heat_default", &self.commercial_heat_default),
            ("priority_default.category", &self.priority_default.category),
            ("priority_default.label", &self.priority_default.label),
            ("sales.partner_name", &self.sales.partner_name),
        ] {
            if value.trim().is_empty() {
                p.push(format!("{key}: must not be empty"));
            }
        }
        for (key, text) in [
            ("segment_reason", &self.segment_reason),
            ("segment_fallback_reason", &self.segment_fallback_reason),
            ("hard_fail_reason", &self.hard_fail_reason),
        ] {
            template_problems(key, text, &mut p);
        }
        if !(1..=7).contains(&self.legacy_priority_default) {
            p.push(format!("legacy_priority_default: {} is not between 1 and 7", self.legacy_priority_default));
        }
        if !(self.sales.opportunity_factor.is_finite() && self.sales.opportunity_factor > 0.0) {
            p.push(format!("sales.opportunity_factor: {} must be a positive number", self.sales.opportunity_factor));
        }
        for name in self.provider_points.keys() {
            if name.trim().is_empty() {
                p.push("provider_points: a provider name is empty".into());
            }
        }
        sales_name_problems(&known, &mut p);

        for (list, rules, positive) in
            [("signal_points", &self.signal_points, true), ("risk_points", &self.risk_points, false)]
        {
            let mut keys = HashSet::new();
            for (i, r) in rules.iter().enumerate() {
                let at = format!("{list}[{i}] ({})", r.key);
                if r.key.trim().is_empty() {
                    p.push(format!("{list}[{i}]: key is empty"));
                } else if !keys.insert(r.key.as_str()) {
                    p.push(format!("{at}: key `{}` is used twice in {list}", r.key));
                }
                if positive && r.points < 0 {
                    p.push(format!("{at}: points {} must be zero or more (penalties go in risk_points)", r.points));
                }
                if !positive && r.points > 0 {
                    p.push(format!("{at}: points {} must be zero or less (bonuses go in signal_points)", r.points));
                }
                if r.reason.trim().is_empty() {
                    p.push(format!("{at}: reason is empty (the score breakdown shows it)"));
                }
                r.when.check(&at, Stage::Signals, &known, &mut p);
            }
        }
        let mut keys = HashSet::new();
        for (i, r) in self.hard_fail_rules.iter().enumerate() {
            let at = format!("hard_fail_rules[{i}] ({})", r.key);
            if r.key.trim().is_empty() || r.description.trim().is_empty() {
                p.push(format!("hard_fail_rules[{i}]: key and description must both be set"));
            } else if !keys.insert(r.key.as_str()) {
                p.push(format!("{at}: key `{}` is used twice", r.key));
            }
            if r.when.is_empty() {
                p.push(format!("{at}: `when` is empty, so every domain would hard-fail"));
            }
            r.when.check(&at, Stage::Signals, &known, &mut p);
        }
        for (i, r) in self.segment_rules.iter().enumerate() {
            let at = format!("segment_rules[{i}] ({})", r.segment);
            if r.segment.trim().is_empty() {
                p.push(format!("segment_rules[{i}]: segment is empty"));
            }
            r.when.check(&at, Stage::Segment, &known, &mut p);
        }
        for (i, r) in self.technical_heat_rules.iter().enumerate() {
            value_problems(&format!("technical_heat_rules[{i}]"), "heat", &r.heat, &mut p);
            r.when.check(&format!("technical_heat_rules[{i}] ({})", r.heat), Stage::TechnicalHeat, &known, &mut p);
        }
        for (i, r) in self.commercial_segment_rules.iter().enumerate() {
            let at = format!("commercial_segment_rules[{i}]");
            value_problems(&at, "commercial_segment", &r.commercial_segment, &mut p);
            r.when.check(&format!("{at} ({})", r.commercial_segment), Stage::CommercialSegment, &known, &mut p);
        }
        for (i, r) in self.commercial_heat_rules.iter().enumerate() {
            value_problems(&format!("commercial_heat_rules[{i}]"), "heat", &r.heat, &mut p);
            r.when.check(&format!("commercial_heat_rules[{i}] ({})", r.heat), Stage::CommercialHeat, &known, &mut p);
        }
        for (i, r) in self.priority_category_rules.iter().enumerate() {
            let at = format!("priority_category_rules[{i}]");
            value_problems(&at, "category", &r.category, &mut p);
            value_problems(&at, "label", &r.label, &mut p);
            r.when.check(&format!("{at} ({})", r.category), Stage::Priority, &known, &mut p);
        }
        for (i, r) in self.legacy_priority_rules.iter().enumerate() {
            let at = format!("legacy_priority_rules[{i}] (priority {})", r.priority);
            if !(1..=7).contains(&r.priority) {
                p.push(format!("{at}: priority {} is not between 1 and 7", r.priority));
            }
            r.when.check(&at, Stage::Legacy, &known, &mut p);
        }
        p
    }

    /// One line per list, for `hunterd check-rules`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "score: base {}, clamped to {}..{}; {} provider weights (others {})",
            self.base_score,
            self.score_min,
            self.score_max,
            self.provider_points.len(),
            self.provider_default_points
        ));
        line(format!("signal points: {}", keys_of(&self.signal_points)));
        line(format!("risk points: {}", keys_of(&self.risk_points)));
        line(format!(
            "hard-fail rules: {} ({})",
            self.hard_fail_rules.len(),
            self.hard_fail_rules.iter().map(|r| r.key.as_str()).collect::<Vec<_>>().join(", ")
        ));
        line(format!("segment rules: {} (fallback {})", self.segment_rules.len(), self.segment_fallback));
        line(format!(
            "technical heat rules: {} (default {})",
            self.technical_heat_rules.len(),
            self.technical_heat_default
        ));
        line(format!(
            "commercial segment rules: {} (default {})",
            self.commercial_segment_rules.len(),
            self.commercial_segment_default
        ));
        line(format!(
            "commercial heat rules: {} (default {})",
            self.commercial_heat_rules.len(),
            self.commercial_heat_default
        ));
        line(format!(
            "priority categories: {} (default {} \"{}\")",
            self.priority_category_rules.len(),
            self.priority_default.category,
            self.priority_default.label
        ));
        line(format!(
            "legacy priority rules: {} (default {})",
            self.legacy_priority_rules.len(),
            self.legacy_priority_default
        ));
        line(format!(
            "sales: partner \"{}\", opportunity factor {}",
            self.sales.partner_name, self.sales.opportunity_factor
        ));
        out
    }
}

fn keys_of(rules: &[PointsRule]) -> String {
    rules.iter().map(|r| format!("{} {:+}", r.key, r.points)).collect::<Vec<_>>().join(", ")
}

fn value_problems(at: &str, field: &str, value: &str, p: &mut Vec<String>) {
    if value.trim().is_empty() {
        p.push(format!("{at}: {field} is empty"));
    }
}

/// `{name}` placeholders must be ones the engine fills in.
fn template_problems(key: &str, text: &str, p: &mut Vec<String>) {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            p.push(format!("{key}: unclosed `{{` in \"{text}\""));
            return;
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            p.push(format!("{key}: unknown placeholder {{{name}}} (known: {{description}}, {{score}}, {{provider}})"));
        }
        rest = &after[close + 1..];
    }
}

/// Fills `{description}`, `{score}` and `{provider}` into a validated template.
pub(crate) fn fill(template: &str, description: &str, score: i32, provider: &str) -> String {
    template
        .replace("{description}", description)
        .replace("{score}", &score.to_string())
        .replace("{provider}", provider)
}

/// The segment and provider names the sales summary has its own texts for must still exist: a renamed
/// one would silently fall back to the default text.
fn sales_name_problems(known: &Known, p: &mut Vec<String>) {
    for segment in super::sales::SEGMENTS {
        if !known.segments.contains(segment) {
            p.push(format!(
                "segment `{segment}` is produced by no segment rule nor default, but the sales summary has its own text for it (rename it back)"
            ));
        }
    }
    for provider in super::sales::PROVIDERS {
        if !known.providers.contains(provider) {
            p.push(format!(
                "provider_points: provider `{provider}` is missing, but the sales summary has its own text for it (add it back, with 0 points if it should not score)"
            ));
        }
    }
}
