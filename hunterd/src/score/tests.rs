use super::*;
use crate::scan::DmarcPolicy;
use condition::Facts;

fn embedded() -> &'static Rules {
    Rules::embedded()
}

/// engine.md §6.11, copied verbatim: every row is a test case.
const TABLE_6_11: &str = r#"
| 1 | M365 | Y | Y | reject | yes | 0 | M365 +50, spf +10, dkim +10, dmarc_reject +20 = 90 | **90** | Existing | 3 | Hot | RENEWAL | MEDIUM | P4 |
| 2 | M365 | Y | Y | quarantine | yes | 0 | M365 +50, spf +10, dkim +10, dmarc_quarantine +15 = 85 | **85** | Existing | 3 | Hot | RENEWAL | MEDIUM | P4 |
| 3 | M365 | Y | Y | none | yes | 0 | M365 +50, spf +10, dkim +10, dmarc_none −10 = 60 | **60** | Existing | 4 | Hot | WEAK_PARTNER | HIGH | P3 |
| 4 | M365 | Y | Y | (absent) | yes | 0 | M365 +50, spf +10, dkim +10 = 70 | **70** | Existing | 3 | Hot | RENEWAL | MEDIUM | P4 |
| 5 | M365 | Y | N | (absent) | yes | 0 | M365 +50, spf +10, no_dkim −10, dkim_none −5 = 45 | **45** | Existing | 5 | Hot | WEAK_PARTNER | MEDIUM | P3 |
| 6 | M365 | N | N | (absent) | yes | 0 | M365 +50, no_spf −10, no_dkim −10, dkim_none −5 = 25 | **25** | Existing | 6 | Hot | WEAK_PARTNER | MEDIUM | P3 |
| 7 | M365 | N | N | none | yes | 0 | M365 +50, no_spf −10, no_dkim −10, dkim_none −5, dmarc_none −10 = 15 | **15** | Existing | 6 | Hot | WEAK_PARTNER | MEDIUM | P3 |
| 8 | M365 | Y | N | reject | yes | 0 | M365 +50, spf +10, dmarc_reject +20, no_dkim −10, dkim_none −5 = 65 | **65** | Existing | 4 | Hot | WEAK_PARTNER | HIGH | P3 |
| 9 | Google | Y | Y | reject | yes | 0 | Google +50, spf +10, dkim +10, dmarc_reject +20 = 90 | **90** | Migration | 1 | Warm | COMPETITIVE | HIGH | P2 |
| 10 | Google | Y | Y | quarantine | yes | 0 | Google +50, spf +10, dkim +10, dmarc_quarantine +15 = 85 | **85** | Migration | 1 | Warm | COMPETITIVE | HIGH | P2 |
| 11 | Google | Y | Y | (absent) | yes | 0 | Google +50, spf +10, dkim +10 = 70 | **70** | Migration | 2 | Warm | COMPETITIVE | HIGH | P2 |
| 12 | Google | Y | Y | none | yes | 0 | Google +50, spf +10, dkim +10, dmarc_none −10 = 60 | **60** | Migration | 3 | Warm | COMPETITIVE | HIGH | P2 |
| 13 | Google | Y | N | (absent) | yes | 0 | Google +50, spf +10, no_dkim −10, dkim_none −5 = 45 | **45** | Cold | 5 | Cold | LOW_INTENT | LOW | P5 |
| 14 | Google | N | N | (absent) | yes | 0 | Google +50, no_spf −10, no_dkim −10, dkim_none −5 = 25 | **25** | Skip | 7 | Cold | NO_GO | LOW | P6 |
| 15 | Google | Y | N | reject | yes | 0 | Google +50, spf +10, dmarc_reject +20, no_dkim −10, dkim_none −5 = 65 | **65** | Migration | 3 | Warm | COMPETITIVE | HIGH | P2 |
| 16 | Yandex | Y | Y | reject | yes | 0 | Yandex +30, spf +10, dkim +10, dmarc_reject +20 = 70 | **70** | Migration | 2 | Warm | COMPETITIVE | HIGH | P2 |
| 17 | Yandex | Y | Y | quarantine | yes | 0 | Yandex +30, spf +10, dkim +10, dmarc_quarantine +15 = 65 | **65** | Migration | 3 | Warm | COMPETITIVE | HIGH | P2 |
| 18 | Yandex | Y | Y | (absent) | yes | 0 | Yandex +30, spf +10, dkim +10 = 50 | **50** | Cold | 5 | Cold | LOW_INTENT | LOW | P5 |
| 19 | Zoho | Y | Y | reject | yes | 0 | Zoho +30, spf +10, dkim +10, dmarc_reject +20 = 70 | **70** | Migration | 2 | Warm | COMPETITIVE | HIGH | P2 |
| 20 | Zoho | Y | N | reject | yes | 0 | Zoho +30, spf +10, dmarc_reject +20, no_dkim −10, dkim_none −5 = 45 | **45** | Cold | 5 | Cold | LOW_INTENT | LOW | P5 |
| 21 | Hosting | Y | Y | reject | yes | 0 | Hosting +20, spf +10, dkim +10, dmarc_reject +20 = 60 | **60** | Migration | 3 | Cold | GREENFIELD | HIGH | P1 |
| 22 | Hosting | Y | Y | quarantine | yes | 0 | Hosting +20, spf +10, dkim +10, dmarc_quarantine +15 = 55 | **55** | Cold | 5 | Cold | LOW_INTENT | LOW | P5 |
| 23 | Hosting | Y | Y | (absent) | yes | 0 | Hosting +20, spf +10, dkim +10 = 40 | **40** | Cold | 5 | Cold | LOW_INTENT | LOW | P5 |
| 24 | Hosting | N | N | (absent) | yes | 0 | Hosting +20, no_spf −10, no_dkim −10, dkim_none −5, hosting_mx_weak −10 = −15 | **0** | Skip | 7 | Cold | NO_GO | LOW | P6 |
| 25 | Hosting | Y | N | (absent) | yes | 0 | Hosting +20, spf +10, no_dkim −10, dkim_none −5 = 15 | **15** | Skip | 7 | Cold | NO_GO | LOW | P6 |
| 26 | Hosting | N | N | reject | yes | 0 | Hosting +20, dmarc_reject +20, no_spf −10, no_dkim −10, dkim_none −5, hosting_mx_weak −10 = 5 | **5** | Skip | 7 | Cold | NO_GO | LOW | P6 |
| 27 | Local | Y | Y | reject | yes | 0 | Local +10, spf +10, dkim +10, dmarc_reject +20 = 50 | **50** | Cold | 5 | Cold | GREENFIELD | HIGH | P1 |
| 28 | Local | Y | Y | quarantine | yes | 0 | Local +10, spf +10, dkim +10, dmarc_quarantine +15 = 45 | **45** | Cold | 5 | Cold | GREENFIELD | HIGH | P1 |
| 29 | Local | Y | Y | (absent) | yes | 0 | Local +10, spf +10, dkim +10 = 30 | **30** | Cold | 6 | Cold | GREENFIELD | HIGH | P1 |
| 30 | Local | Y | Y | none | yes | 0 | Local +10, spf +10, dkim +10, dmarc_none −10 = 20 | **20** | Cold | 6 | Cold | GREENFIELD | HIGH | P1 |
| 31 | Local | Y | N | (absent) | yes | 0 | Local +10, spf +10, no_dkim −10, dkim_none −5 = 5 | **5** | Cold | 7 | Cold | GREENFIELD | HIGH | P1 |
| 32 | Local | N | N | (absent) | yes | 0 | Local +10, no_spf −10, no_dkim −10, dkim_none −5 = −15 | **0** | Skip | 7 | Cold | NO_GO | LOW | P6 |
| 33 | Local | N | N | reject | yes | 0 | Local +10, dmarc_reject +20, no_spf −10, no_dkim −10, dkim_none −5 = 5 | **5** | Cold | 7 | Cold | GREENFIELD | HIGH | P1 |
| 34 | Amazon | Y | Y | reject | yes | 0 | Amazon +20, spf +10, dkim +10, dmarc_reject +20 = 60 | **60** | Skip (fallback) | 7 | Cold | NO_GO | LOW | P6 |
| 35 | Amazon | Y | Y | quarantine | yes | 0 | Amazon +20, spf +10, dkim +10, dmarc_quarantine +15 = 55 | **55** | Cold | 5 | Cold | LOW_INTENT | LOW | P5 |
| 36 | Mailgun | Y | Y | (absent) | yes | 0 | Mailgun +20, spf +10, dkim +10 = 40 | **40** | Cold | 5 | Cold | LOW_INTENT | LOW | P5 |
| 37 | SendGrid | Y | N | (absent) | yes | 0 | SendGrid +20, spf +10, no_dkim −10, dkim_none −5 = 15 | **15** | Skip | 7 | Cold | NO_GO | LOW | P6 |
| 38 | Unknown (null MX) | Y | Y | reject | yes | 0 | Unknown +0, spf +10, dkim +10, dmarc_reject +20 = 40 | **40** | Cold | 5 | Cold | LOW_INTENT | LOW | P5 |
| 39 | Unknown (null MX) | Y | Y | quarantine | yes | 0 | Unknown +0, spf +10, dkim +10, dmarc_quarantine +15 = 35 | **35** | Skip | 7 | Cold | NO_GO | LOW | P6 |
| 40 | Google | Y | Y | reject | **no** | 0 | hard-fail | **0** | Skip | 7 | — | — | — | — |
| 41 | M365 | Y | Y | reject | **no** | 0 | hard-fail | **0** | Skip | 7 | — | — | — | — |
| 42 | Google | Y | Y | reject | yes | 4 | Google +50, spf +10, dkim +10, dmarc_reject +20, spf_multiple_includes −5 = 85 | **85** | Migration | 1 | Warm | COMPETITIVE | HIGH | P2 |
| 43 | M365 | Y | Y | quarantine | yes | 4 | M365 +50, spf +10, dkim +10, dmarc_quarantine +15, spf_multiple_includes −5 = 80 | **80** | Existing | 3 | Hot | RENEWAL | MEDIUM | P4 |
| 44 | Local | Y | Y | reject | yes | 4 | Local +10, spf +10, dkim +10, dmarc_reject +20, spf_multiple_includes −5 = 45 | **45** | Cold | 5 | Cold | GREENFIELD | HIGH | P1 |
| 45 | Google | Y | Y | reject | yes | 3 | Google +50, spf +10, dkim +10, dmarc_reject +20 = 90 (3 includes: no penalty) | **90** | Migration | 1 | Warm | COMPETITIVE | HIGH | P2 |
"#;

struct Row<'a> {
    cells: Vec<&'a str>,
}

impl<'a> Row<'a> {
    fn cell(&self, i: usize) -> &'a str {
        self.cells[i].trim().trim_matches('*')
    }
}

fn rows() -> Vec<Row<'static>> {
    TABLE_6_11
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| Row { cells: l.trim().trim_matches('|').split('|').collect() })
        .collect()
}

fn spf_record_with(includes: usize) -> String {
    let mut r = "v=spf1".to_string();
    for i in 0..includes {
        r.push_str(&format!(" include:_spf{i}.example.net"));
    }
    r + " -all"
}

/// "M365 +50, spf +10, no_dkim −10 = 45" → [("M365", 50), ("spf", 10), ("no_dkim", -10)].
fn parse_points(text: &str) -> Vec<(String, i32)> {
    let sum = text.split(" = ").next().unwrap_or_default();
    sum.split(", ")
        .map(|item| {
            let (key, points) = item.rsplit_once(' ').unwrap();
            (key.to_string(), points.replace('−', "-").replace('+', "").parse().unwrap())
        })
        .collect()
}

#[test]
fn the_embedded_rules_are_valid() {
    let rules = Rules::from_toml(include_str!("../../data/rules.toml"), "rules.toml");
    assert!(rules.is_ok(), "{}", rules.err().map(|e| e.to_string()).unwrap_or_default());
}

#[test]
fn every_worked_example_of_section_6_11_is_reproduced() {
    let rows = rows();
    assert_eq!(rows.len(), 45);
    for row in &rows {
        let n = row.cell(0);
        let provider = row.cell(1).split(' ').next().unwrap();
        let spf_record = spf_record_with(row.cell(6).parse().unwrap());
        let input = ScoreInput {
            domain: "example.com",
            provider,
            spf: row.cell(2) == "Y",
            dkim: row.cell(3) == "Y",
            dmarc: match row.cell(4) {
                "reject" => Some(DmarcPolicy::Reject),
                "quarantine" => Some(DmarcPolicy::Quarantine),
                "none" => Some(DmarcPolicy::None),
                "(absent)" => None,
                other => panic!("row {n}: DMARC {other}"),
            },
            has_usable_mx: row.cell(5) == "yes",
            spf_record: Some(&spf_record),
            referrals: &[],
        };
        let out = score(&input, embedded());
        let segment = row.cell(9).split(' ').next().unwrap();
        assert_eq!(out.score.to_string(), row.cell(8), "row {n}: score");
        assert_eq!(out.segment, segment, "row {n}: segment");
        assert_eq!(out.legacy_priority.to_string(), row.cell(10), "row {n}: legacy priority");
        // Rows 40-41 are hard-fails, which the reference left without P-model fields: the lead's
        // decision is Cold / NO_GO / LOW / P6 "No-Go / Archive".
        let (th, cs, ch, p) = if row.cell(11) == "—" {
            ("Cold", "NO_GO", "LOW", "P6")
        } else {
            (row.cell(11), row.cell(12), row.cell(13), row.cell(14))
        };
        assert_eq!(out.technical_heat, th, "row {n}: technical heat");
        assert_eq!(out.commercial_segment, cs, "row {n}: commercial segment");
        assert_eq!(out.commercial_heat, ch, "row {n}: commercial heat");
        assert_eq!(out.priority, p, "row {n}: priority category");
        assert_eq!(out.breakdown.iter().map(|c| c.points).sum::<i32>(), out.score, "row {n}: breakdown sum");

        if row.cell(7) == "hard-fail" {
            assert_eq!(out.hard_fail.as_deref(), Some("mx_missing"), "row {n}: hard-fail");
            assert_eq!(out.reason, "Hard-fail: no usable MX record", "row {n}: reason");
            assert_eq!(out.priority_label, "No-Go / Archive", "row {n}: label");
        } else {
            let shown: Vec<(String, i32)> = out
                .breakdown
                .iter()
                .filter(|c| {
                    matches!(c.kind, ContributionKind::Provider | ContributionKind::Signal | ContributionKind::Risk)
                })
                .filter(|c| c.points != 0 || c.kind == ContributionKind::Provider)
                .map(|c| (c.key.clone(), c.points))
                .collect();
            assert_eq!(shown, parse_points(row.cell(7)), "row {n}: points");
            assert_eq!(out.hard_fail, None, "row {n}: hard-fail");
        }
        if row.cell(9) == "Skip (fallback)" {
            let expected = format!("Score {} with provider {provider} did not match any segment rule", out.score);
            assert_eq!(out.reason, expected, "row {n}: fallback reason");
        }
    }
}

#[test]
fn the_priority_labels_are_the_reference_labels() {
    let labels: Vec<(&str, &str)> =
        embedded().priority_category_rules.iter().map(|r| (r.category.as_str(), r.label.as_str())).collect();
    assert_eq!(
        labels,
        [
            ("P1", "High Potential Greenfield"),
            ("P2", "Competitive Takeover"),
            ("P3", "Existing Microsoft but Weak Partner"),
            ("P4", "Renewal Pressure"),
            ("P5", "Low Intent / Long Nurturing"),
            ("P6", "No-Go / Archive"),
        ]
    );
}

fn input<'a>(provider: &'a str, spf: bool, dkim: bool, dmarc: Option<DmarcPolicy>) -> ScoreInput<'a> {
    ScoreInput {
        domain: "example.com",
        provider,
        spf,
        dkim,
        dmarc,
        has_usable_mx: true,
        spf_record: None,
        referrals: &[],
    }
}

fn keyed(out: &ScoreOutcome, kind: ContributionKind) -> Vec<(&str, i32)> {
    out.breakdown.iter().filter(|c| c.kind == kind).map(|c| (c.key.as_str(), c.points)).collect()
}

#[test]
fn breakdown_of_weak_hosting_with_dmarc_none_matches_the_reference() {
    let out = score(&input("Hosting", false, false, Some(DmarcPolicy::None)), embedded());
    assert_eq!(keyed(&out, ContributionKind::Signal), [("dmarc_none", 0)]);
    assert_eq!(
        keyed(&out, ContributionKind::Risk),
        [("no_spf", -10), ("no_dkim", -10), ("dkim_none", -5), ("dmarc_none", -10), ("hosting_mx_weak", -10)]
    );
    assert_eq!(out.score, 0);
}

#[test]
fn breakdown_of_local_with_spf_dkim_and_dmarc_none_matches_the_reference() {
    let out = score(&input("Local", true, true, Some(DmarcPolicy::None)), embedded());
    assert_eq!(keyed(&out, ContributionKind::Signal), [("spf", 10), ("dkim", 10), ("dmarc_none", 0)]);
    assert_eq!(keyed(&out, ContributionKind::Risk), [("dmarc_none", -10)]);
    assert_eq!(out.score, 20);
}

#[test]
fn clamping_is_an_explicit_contribution_so_the_breakdown_sums_to_the_score() {
    let out = score(&input("Hosting", false, false, Some(DmarcPolicy::None)), embedded());
    let clamp = out.breakdown.iter().find(|c| c.kind == ContributionKind::Clamp);
    assert_eq!(clamp.map(|c| c.points), Some(25), "raw -25 brought up to 0");
    assert_eq!(out.breakdown.iter().map(|c| c.points).sum::<i32>(), 0);
}

#[test]
fn every_breakdown_line_has_a_human_reason() {
    let out = score(&input("M365", true, false, Some(DmarcPolicy::Reject)), embedded());
    assert_eq!(out.breakdown[0].key, "base_score");
    assert!(out.breakdown.iter().all(|c| !c.reason.is_empty()), "{:#?}", out.breakdown);
    let spf = out.breakdown.iter().find(|c| c.key == "spf").map(|c| c.reason.as_str());
    assert_eq!(spf, Some("SPF record present"));
}

#[test]
fn a_provider_without_a_weight_scores_zero_points() {
    let out = score(&input("Fastmail", true, true, None), embedded());
    assert_eq!(out.breakdown[1].points, 0);
    assert_eq!(out.score, 20);
}

#[test]
fn no_dmarc_record_scores_better_than_dmarc_none() {
    assert_eq!(score(&input("Google", true, true, None), embedded()).score, 70);
    assert_eq!(score(&input("Google", true, true, Some(DmarcPolicy::None)), embedded()).score, 60);
}

#[test]
fn a_null_mx_hard_fails_with_the_consistent_p_model_fields() {
    // The scanner reports an RFC 7505 null MX as no usable MX; the reference scored it as Unknown.
    let out = score(
        &ScoreInput { has_usable_mx: false, ..input("Unknown", true, true, Some(DmarcPolicy::Reject)) },
        embedded(),
    );
    assert_eq!((out.score, out.segment.as_str(), out.legacy_priority), (0, "Skip", 7));
    assert_eq!(
        (out.technical_heat.as_str(), out.commercial_segment.as_str(), out.commercial_heat.as_str()),
        ("Cold", "NO_GO", "LOW")
    );
    assert_eq!((out.priority.as_str(), out.priority_label.as_str()), ("P6", "No-Go / Archive"));
}

#[test]
fn a_hard_fail_keeps_the_points_it_cancels_in_the_breakdown() {
    let out = score(
        &ScoreInput { has_usable_mx: false, ..input("Google", true, true, Some(DmarcPolicy::Reject)) },
        embedded(),
    );
    let last = out.breakdown.last().map(|c| (c.kind, c.key.as_str(), c.points));
    assert_eq!(last, Some((ContributionKind::HardFail, "mx_missing", -90)));
    assert_eq!(out.breakdown.iter().map(|c| c.points).sum::<i32>(), 0);
}

#[test]
fn an_invalid_domain_scores_zero_with_the_reference_reason() {
    let out = score(&ScoreInput { domain: "not a domain", ..input("M365", true, true, None) }, embedded());
    assert_eq!((out.score, out.segment.as_str()), (0, "Skip"));
    assert_eq!(out.reason, "Invalid domain format: not a domain");
    assert_eq!(out.hard_fail.as_deref(), Some("invalid_domain"));
    assert_eq!(out.priority, "P6");
}

#[test]
fn domain_validity_follows_the_reference_predicate() {
    for ok in ["example.com", "xn--bcher-kva.de", "a-b.example.co.uk", "example.123", "10.0.0.10"] {
        assert!(is_valid_domain(ok), "{ok} is valid");
    }
    for bad in [
        "",
        "null",
        "Website",
        "http://example.com",
        "example",
        "-a.com",
        "a_b.com",
        "a..com",
        "example.c",
        "1.2.3.4",
        "bücher.de",
    ] {
        assert!(!is_valid_domain(bad), "{bad} is invalid");
    }
}

#[test]
fn spf_includes_are_counted_as_literal_substrings() {
    let record = "v=spf1 include:a include:b include:c include:d -all";
    let out = score(
        &ScoreInput { spf_record: Some(record), ..input("Google", true, true, Some(DmarcPolicy::Reject)) },
        embedded(),
    );
    assert_eq!(out.score, 85);
    let record = "v=spf1 include:a include:b redirect=c -all";
    let out = score(
        &ScoreInput { spf_record: Some(record), ..input("Google", true, true, Some(DmarcPolicy::Reject)) },
        embedded(),
    );
    assert_eq!(out.score, 90);
}

// ---- reason texts (§6.11, "additional reason-text examples") ------------------------------------

fn segment_of(score: i32, provider: &str) -> (String, String) {
    let facts = Facts { provider: Some(provider), score: Some(score), ..Facts::default() };
    decide_segment(&facts, score, provider, embedded())
}

#[test]
fn reason_for_an_existing_m365_domain_names_score_and_provider() {
    assert_eq!(
        segment_of(90, "M365"),
        (
            "Existing".into(),
            "Already on Microsoft 365: protection and upsell potential. Score: 90, Provider: M365".into()
        )
    );
}

#[test]
fn reason_for_a_cold_local_domain_uses_the_self_hosted_description() {
    assert_eq!(
        segment_of(45, "Local"),
        (
            "Cold".into(),
            "Self-hosted mail server: Microsoft 365 migration potential, low priority. Score: 45, Provider: Local"
                .into()
        )
    );
}

#[test]
fn reason_for_a_cold_google_domain_uses_the_weak_signals_description() {
    assert_eq!(
        segment_of(45, "Google"),
        ("Cold".into(), "Weak signals: more data needed. Score: 45, Provider: Google".into())
    );
}

#[test]
fn a_google_domain_scoring_20_is_skipped() {
    assert_eq!(
        segment_of(20, "Google"),
        ("Skip".into(), "Insufficient data: out of scope. Score: 20, Provider: Google".into())
    );
}

#[test]
fn amazon_at_60_falls_through_to_the_fallback_sentence() {
    assert_eq!(
        segment_of(60, "Amazon"),
        ("Skip".into(), "Score 60 with provider Amazon did not match any segment rule".into())
    );
}

// ---- legacy priority (§6.9) ------------------------------------------------------------------

#[test]
fn legacy_priority_bands_follow_the_reference() {
    let r = embedded();
    for (segment, score, prio) in [
        ("Migration", 80, 1),
        ("Migration", 79, 2),
        ("Migration", 60, 3),
        ("Migration", 59, 4),
        ("Existing", 70, 3),
        ("Existing", 50, 4),
        ("Existing", 30, 5),
        ("Existing", 29, 6),
        ("Cold", 40, 5),
        ("Cold", 20, 6),
        ("Cold", 19, 7),
        ("Skip", 90, 7),
        (" Migration ", 85, 1),
        ("migration", 85, 7),
    ] {
        assert_eq!(legacy_priority(Some(segment), Some(score), r), prio, "{segment:?} {score}");
    }
    assert_eq!(legacy_priority(None, Some(90), r), 7);
    assert_eq!(legacy_priority(Some("Migration"), None, r), 7);
}

// ---- rules-file validation -------------------------------------------------------------------

const EMBEDDED_TEXT: &str = include_str!("../../data/rules.toml");

fn problems_of(text: &str) -> String {
    match Rules::from_toml(text, "custom.toml") {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

fn with_replaced(from: &str, to: &str) -> String {
    assert!(EMBEDDED_TEXT.contains(from), "test setup: `{from}` not in rules.toml");
    EMBEDDED_TEXT.replacen(from, to, 1)
}

#[test]
fn an_unknown_key_is_named_with_the_file_and_line() {
    let err = problems_of(&with_replaced("base_score = 0", "base_score = 0\nbase_scroe = 1"));
    assert!(err.starts_with("custom.toml:") && err.contains("base_scroe") && err.contains("line"), "{err}");
}

#[test]
fn an_unknown_condition_is_named() {
    let err = problems_of(&with_replaced("when = { provider_in = [\"M365\"] }", "when = { provider_is = [\"M365\"] }"));
    assert!(err.contains("provider_is"), "{err}");
}

#[test]
fn a_misspelt_segment_in_a_condition_names_the_rule() {
    let err =
        problems_of(&with_replaced("when = { segment_in = [\"Existing\"] }", "when = { segment_in = [\"Exisitng\"] }"));
    assert!(
        err.contains(
            "technical_heat_rules[0] (Hot).when.segment_in: `Exisitng` is not a segment the segment rules can produce"
        ),
        "{err}"
    );
}

#[test]
fn a_misspelt_provider_in_a_condition_names_the_rule() {
    let err = problems_of(&with_replaced("provider_in = [\"M365\"] }", "provider_in = [\"Microsoft\"] }"));
    assert!(err.contains("segment_rules[0] (Existing).when.provider_in: `Microsoft` is not a provider"), "{err}");
}

#[test]
fn a_condition_on_a_value_decided_later_is_rejected() {
    let err = problems_of(&with_replaced(
        "when = { provider_in = [\"M365\"] }",
        "when = { provider_in = [\"M365\"], commercial_heat_in = [\"HIGH\"] }",
    ));
    assert!(err.contains("segment_rules[0] (Existing).when.commercial_heat_in: not available here"), "{err}");
}

#[test]
fn a_score_condition_in_points_rules_is_rejected() {
    let err = problems_of(&with_replaced("when = { spf = true }", "when = { spf = true, min_score = 10 }"));
    assert!(err.contains("signal_points[0] (spf).when.min_score: not available here"), "{err}");
}

#[test]
fn legacy_priority_rules_may_only_use_segment_and_score() {
    let err = problems_of(&with_replaced(
        "priority = 1\nwhen = { segment_in = [\"Migration\"], min_score = 80 }",
        "priority = 1\nwhen = { segment_in = [\"Migration\"], min_score = 80, provider_in = [\"Google\"] }",
    ));
    assert!(err.contains("legacy_priority_rules[0] (priority 1).when.provider_in: not available here"), "{err}");
}

#[test]
fn min_score_above_max_score_is_rejected() {
    let err = problems_of(&with_replaced("min_score = 40, max_score = 59", "min_score = 59, max_score = 40"));
    assert!(err.contains("segment_rules[3] (Cold).when: min_score 59 is above max_score 40"), "{err}");
}

#[test]
fn a_positive_risk_is_rejected() {
    let err = problems_of(&with_replaced(
        "points = -10\nreason = \"no valid SPF record\"",
        "points = 10\nreason = \"no valid SPF record\"",
    ));
    assert!(err.contains("risk_points[0] (no_spf): points 10 must be zero or less"), "{err}");
}

#[test]
fn a_duplicate_points_key_is_rejected() {
    let err = problems_of(&with_replaced("key = \"dkim\"", "key = \"spf\""));
    assert!(err.contains("signal_points[1] (spf): key `spf` is used twice"), "{err}");
}

#[test]
fn a_hard_fail_rule_without_conditions_is_rejected() {
    let err = problems_of(&with_replaced("when = { mx = false }", "when = {}"));
    assert!(err.contains("hard_fail_rules[0] (mx_missing): `when` is empty"), "{err}");
}

#[test]
fn an_unknown_placeholder_is_rejected() {
    let err = problems_of(&with_replaced("Score: {score}, Provider: {provider}\"", "Score: {scor}\""));
    assert!(err.contains("segment_reason: unknown placeholder {scor}"), "{err}");
}

#[test]
fn an_unknown_dmarc_value_is_rejected() {
    let err = problems_of(&with_replaced("dmarc_in = [\"reject\"]", "dmarc_in = [\"rejected\"]"));
    assert!(
        err.contains(
            "signal_points[3] (dmarc_reject).when.dmarc_in: `rejected` is not none, quarantine, reject or absent"
        ),
        "{err}"
    );
}

#[test]
fn a_legacy_priority_out_of_range_is_rejected() {
    let err = problems_of(&with_replaced("legacy_priority_default = 7", "legacy_priority_default = 9"));
    assert!(err.contains("legacy_priority_default: 9 is not between 1 and 7"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = with_replaced("legacy_priority_default = 7", "legacy_priority_default = 0").replacen(
        "when = { mx = false }",
        "when = {}",
        1,
    );
    let err = problems_of(&text);
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn the_partner_name_defaults_to_our_team_when_the_sales_section_is_absent() {
    let text = EMBEDDED_TEXT.replace("[sales]\n", "[ignored_sales]\n");
    // The section now has an unknown name, so drop it altogether for this test.
    let start = text.find("[ignored_sales]").unwrap();
    let end = text.find("[provider_points]").unwrap();
    let text = format!("{}{}", &text[..start], &text[end..]);
    let rules = Rules::from_toml(&text, "custom.toml").unwrap();
    assert_eq!(rules.sales.partner_name, "our team");
}

#[test]
fn check_rules_summarises_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, EMBEDDED_TEXT).unwrap();
    let report = check_rules_file(&path).unwrap();
    assert!(report.contains("valid") && report.contains("segment rules: 5 (fallback Skip)"), "{report}");
}

#[test]
fn a_renamed_segment_the_sales_text_depends_on_is_refused() {
    let text = with_replaced("segment = \"Migration\"", "segment = \"Move\"");
    let err = problems_of(&text);
    assert!(err.contains("segment `Migration` is produced by no segment rule nor default"), "{err}");
}

#[test]
fn a_missing_provider_the_sales_text_depends_on_is_refused() {
    let text = with_replaced("Yandex = 30\n", "");
    let err = problems_of(&text);
    assert!(err.contains("provider_points: provider `Yandex` is missing"), "{err}");
}

#[test]
fn check_rules_refuses_a_file_without_a_name_the_sales_text_depends_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, with_replaced("segment = \"Existing\"", "segment = \"Customer\"")).unwrap();
    let err = check_rules_file(&path).unwrap_err().to_string();
    assert!(err.contains("segment `Existing`") && err.contains("sales summary"), "{err}");
}

#[test]
fn check_rules_names_a_missing_file() {
    let err = check_rules_file(std::path::Path::new("/nonexistent/rules.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/rules.toml"), "{err}");
}

#[test]
fn loading_without_a_path_gives_the_embedded_rules() {
    assert_eq!(Rules::load(None).ok().as_ref(), Some(embedded()));
}

// ---- signals from a scan -----------------------------------------------------------------------

fn scan(status: crate::scan::ScanStatus, mx: &[&str], spf: crate::scan::SpfStatus) -> crate::scan::ScanResult {
    use crate::scan::*;
    ScanResult {
        domain: "example.com".into(),
        status,
        mx: mx
            .iter()
            .map(|h| MxHost { preference: 10, host: h.to_string(), cname_target: None, addresses: vec![] })
            .collect(),
        spf: SpfResult {
            status: spf,
            record: Some("v=spf1 include:a include:b include:c include:d -all".into()),
            all_records: vec![],
            includes: vec![],
            lookup_count: 0,
            tree: None,
        },
        dmarc: Some(DmarcRecord {
            record: "v=DMARC1; p=reject".into(),
            policy: DmarcPolicy::Reject,
            subdomain_policy: None,
            pct: 100,
            rua: vec![],
            ruf: vec![],
        }),
        dkim: vec![DkimSelector {
            selector: "selector1".into(),
            record: Some("v=DKIM1; p=x".into()),
            cname_target: None,
        }],
        hints: TenantHints::default(),
        apex_txt: vec![],
        raw: vec![],
        queries: 0,
        warnings: vec![],
    }
}

#[test]
fn signals_from_a_scan_treat_a_null_mx_as_no_usable_mx() {
    let s = scan(crate::scan::ScanStatus::NullMx, &[], crate::scan::SpfStatus::Valid);
    let d = crate::provider::detect(&s, crate::provider::ProviderTable::embedded());
    let input = ScoreInput::from_scan(&s, &d);
    assert!(!input.has_usable_mx);
    assert_eq!(score(&input, embedded()).hard_fail.as_deref(), Some("mx_missing"));
}

#[test]
fn signals_from_a_scan_count_spf_only_when_it_is_a_single_valid_record() {
    let s = scan(crate::scan::ScanStatus::Ok, &["aspmx.l.google.com"], crate::scan::SpfStatus::Multiple);
    let d = crate::provider::detect(&s, crate::provider::ProviderTable::embedded());
    let input = ScoreInput::from_scan(&s, &d);
    assert_eq!(
        (input.provider, input.spf, input.dkim, input.dmarc),
        ("Google", false, true, Some(DmarcPolicy::Reject))
    );
    assert_eq!(input.spf_record.map(|r| r.matches("include:").count()), Some(4));
    assert!(input.has_usable_mx);
}

#[test]
fn a_co_sell_referral_adds_its_bonus_and_the_breakdown_says_so() {
    let kinds = ["co-sell".to_string()];
    let plain = score(&input("Google", true, true, Some(DmarcPolicy::Reject)), embedded());
    let cosell =
        score(&ScoreInput { referrals: &kinds, ..input("Google", true, true, Some(DmarcPolicy::Reject)) }, embedded());
    let line = cosell.breakdown.iter().find(|c| c.key == "partner_center_cosell").expect("a co-sell line");
    assert_eq!(line.points, 15);
    assert_eq!(cosell.score, (plain.score + 15).min(100));
}

#[test]
fn other_referral_kinds_add_nothing() {
    let kinds = ["marketing-qualified".to_string()];
    let out = score(&ScoreInput { referrals: &kinds, ..input("Hosting", true, true, None) }, embedded());
    assert!(out.breakdown.iter().all(|c| c.key != "partner_center_cosell"));
}

#[test]
fn a_misspelt_referral_kind_in_a_rule_is_refused() {
    let err = problems_of(&with_replaced("referral_in = [\"co-sell\"]", "referral_in = [\"cosell\"]"));
    assert!(err.contains("`cosell` is not a referral kind"), "{err}");
}
