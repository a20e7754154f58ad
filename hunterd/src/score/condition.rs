//! The `when` conditions of the rules file and their evaluation: one small evaluator for every
//! first-match-wins list, so that rules stay data.

use serde::Deserialize;
use std::collections::BTreeSet;

/// Conditions of one rule; every one given must hold, none given means "always".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub min_score: Option<i32>,
    pub max_score: Option<i32>,
    pub provider_in: Option<Vec<String>>,
    pub spf: Option<bool>,
    pub dkim: Option<bool>,
    pub mx: Option<bool>,
    /// `none`, `quarantine`, `reject`, or `absent` (no DMARC record).
    pub dmarc_in: Option<Vec<String>>,
    pub spf_includes_min: Option<u32>,
    pub segment_in: Option<Vec<String>>,
    pub technical_heat_in: Option<Vec<String>>,
    pub commercial_segment_in: Option<Vec<String>>,
    pub commercial_heat_in: Option<Vec<String>>,
    /// The company has a Partner Center referral of one of these kinds (`co-sell`, `marketplace`,
    /// `solution-provider`, `marketing-qualified`, `own-deal`).
    pub referral_in: Option<Vec<String>>,
}

/// What is known when a rule is evaluated; `None` = not decided (yet) at this stage.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Facts<'a> {
    pub provider: Option<&'a str>,
    pub spf: Option<bool>,
    pub dkim: Option<bool>,
    pub mx: Option<bool>,
    /// `none` / `quarantine` / `reject` / `absent`.
    pub dmarc: Option<&'a str>,
    pub spf_includes: Option<u32>,
    pub score: Option<i32>,
    pub segment: Option<&'a str>,
    pub technical_heat: Option<&'a str>,
    pub commercial_segment: Option<&'a str>,
    pub commercial_heat: Option<&'a str>,
    /// Kinds of the company's Partner Center referrals.
    pub referrals: Option<&'a [String]>,
}

pub(crate) const DMARC_VALUES: [&str; 4] = ["none", "quarantine", "reject", "absent"];
pub(crate) const REFERRAL_KINDS: [&str; 5] =
    ["co-sell", "marketplace", "solution-provider", "marketing-qualified", "own-deal"];

impl When {
    pub fn is_empty(&self) -> bool {
        *self == When::default()
    }

    pub(crate) fn holds(&self, f: &Facts<'_>) -> bool {
        fn within(list: &Option<Vec<String>>, value: Option<&str>) -> bool {
            match list {
                None => true,
                Some(list) => value.is_some_and(|v| list.iter().any(|x| x == v)),
            }
        }
        fn equals<T: PartialEq>(want: Option<T>, have: Option<T>) -> bool {
            want.is_none() || (have.is_some() && want == have)
        }
        self.min_score.is_none_or(|min| f.score.is_some_and(|s| s >= min))
            && self.max_score.is_none_or(|max| f.score.is_some_and(|s| s <= max))
            && within(&self.provider_in, f.provider)
            && equals(self.spf, f.spf)
            && equals(self.dkim, f.dkim)
            && equals(self.mx, f.mx)
            && within(&self.dmarc_in, f.dmarc)
            && self.spf_includes_min.is_none_or(|min| f.spf_includes.is_some_and(|n| n >= min))
            && within(&self.segment_in, f.segment)
            && within(&self.technical_heat_in, f.technical_heat)
            && within(&self.commercial_segment_in, f.commercial_segment)
            && within(&self.commercial_heat_in, f.commercial_heat)
            && self
                .referral_in
                .as_ref()
                .is_none_or(|list| f.referrals.is_some_and(|have| have.iter().any(|k| list.contains(k))))
    }

    /// Problems with this condition in a list evaluated at `stage`, each prefixed with `at`.
    pub(crate) fn check(&self, at: &str, stage: Stage, known: &Known, problems: &mut Vec<String>) {
        let mut unavailable = |field: &str, ok: bool, why: &str| {
            if !ok {
                problems.push(format!("{at}.when.{field}: not available here ({why})"));
            }
        };
        let signals = stage != Stage::Legacy;
        let has_score = stage >= Stage::Segment;
        let why_signals = "the legacy priority only sees segment and score";
        unavailable("min_score", self.min_score.is_none() || has_score, "the score is not computed yet");
        unavailable("max_score", self.max_score.is_none() || has_score, "the score is not computed yet");
        unavailable("provider_in", self.provider_in.is_none() || signals, why_signals);
        unavailable("spf", self.spf.is_none() || signals, why_signals);
        unavailable("dkim", self.dkim.is_none() || signals, why_signals);
        unavailable("mx", self.mx.is_none() || signals, why_signals);
        unavailable("dmarc_in", self.dmarc_in.is_none() || signals, why_signals);
        unavailable("spf_includes_min", self.spf_includes_min.is_none() || signals, why_signals);
        unavailable("referral_in", self.referral_in.is_none() || signals, why_signals);
        unavailable(
            "segment_in",
            self.segment_in.is_none() || stage >= Stage::TechnicalHeat,
            "the segment is decided later",
        );
        unavailable(
            "technical_heat_in",
            self.technical_heat_in.is_none() || (signals && stage >= Stage::CommercialSegment),
            "the technical heat is decided later",
        );
        unavailable(
            "commercial_segment_in",
            self.commercial_segment_in.is_none() || (signals && stage >= Stage::CommercialHeat),
            "the commercial segment is decided later",
        );
        unavailable(
            "commercial_heat_in",
            self.commercial_heat_in.is_none() || (signals && stage >= Stage::Priority),
            "the commercial heat is decided later",
        );

        if let (Some(min), Some(max)) = (self.min_score, self.max_score)
            && min > max
        {
            problems.push(format!("{at}.when: min_score {min} is above max_score {max}, so the rule never matches"));
        }
        let dmarc: BTreeSet<String> = DMARC_VALUES.iter().map(|s| s.to_string()).collect();
        let referral_kinds: BTreeSet<String> = REFERRAL_KINDS.iter().map(|s| s.to_string()).collect();
        for (field, list, allowed, what) in [
            ("provider_in", &self.provider_in, &known.providers, "a provider named in provider_points"),
            ("dmarc_in", &self.dmarc_in, &dmarc, "none, quarantine, reject or absent"),
            (
                "referral_in",
                &self.referral_in,
                &referral_kinds,
                "a referral kind (co-sell, marketplace, solution-provider, marketing-qualified, own-deal)",
            ),
            ("segment_in", &self.segment_in, &known.segments, "a segment the segment rules can produce"),
            (
                "technical_heat_in",
                &self.technical_heat_in,
                &known.technical_heats,
                "a technical heat the rules can produce",
            ),
            (
                "commercial_segment_in",
                &self.commercial_segment_in,
                &known.commercial_segments,
                "a commercial segment the rules can produce",
            ),
            (
                "commercial_heat_in",
                &self.commercial_heat_in,
                &known.commercial_heats,
                "a commercial heat the rules can produce",
            ),
        ] {
            let Some(list) = list else { continue };
            if list.is_empty() {
                problems.push(format!("{at}.when.{field}: empty list, so the rule never matches"));
            }
            for value in list {
                if !allowed.contains(value) {
                    problems.push(format!("{at}.when.{field}: `{value}` is not {what}"));
                }
            }
        }
    }
}

/// Where in the evaluation order a list runs; decides which facts its conditions may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// Hard-fail, signal and risk points: signals and provider only.
    Signals,
    Segment,
    TechnicalHeat,
    CommercialSegment,
    CommercialHeat,
    Priority,
    /// The legacy 1-7 priority: segment and score only (it is recomputed from stored rows).
    Legacy,
}

/// The values each stage can produce, to catch misspelt names in conditions.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub providers: BTreeSet<String>,
    pub segments: BTreeSet<String>,
    pub technical_heats: BTreeSet<String>,
    pub commercial_segments: BTreeSet<String>,
    pub commercial_heats: BTreeSet<String>,
}
