use super::*;
use crate::score::Rules;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
}

fn lead(segment: &str, provider: &str, score: i32, tenant: Option<TenantSize>) -> SalesInput {
    SalesInput {
        domain: "example.com".into(),
        provider: Some(provider.into()),
        segment: Some(segment.into()),
        score: Some(score),
        tenant_size: tenant,
        mx_root: Some("example.net".into()),
        spf: Some(false),
        dkim: Some(false),
        today: today(),
        ..SalesInput::default()
    }
}

fn signals(mut i: SalesInput, spf: bool, dkim: bool, dmarc: Option<(DmarcPolicy, u8)>) -> SalesInput {
    i.spf = Some(spf);
    i.dkim = Some(dkim);
    i.dmarc_policy = dmarc.map(|d| d.0);
    i.dmarc_coverage = dmarc.map(|d| d.1);
    i
}

struct Expect {
    prio: u8,
    opp: u32,
    urgency: Level,
    step: (Action, &'static str, Level),
    tier: &'static str,
    risk: Level,
}

/// engine.md §7.13, every row (tuning factor 1.0; no contact score unless stated).
#[test]
fn every_worked_example_of_section_7_13_is_reproduced() {
    use Action::{Call, Email, Wait};
    use Level::{High, Low, Medium};
    use TenantSize as T;
    const REJECT: DmarcPolicy = DmarcPolicy::Reject;
    let rows: Vec<(&str, SalesInput, Expect)> = vec![
        (
            "Migration Google 90 large",
            signals(lead("Migration", "Google", 90, Some(T::Large)), true, true, Some((REJECT, 100))),
            Expect { prio: 1, opp: 97, urgency: High, step: (Call, "24_saat", High), tier: "Enterprise", risk: Low },
        ),
        (
            "Migration Google 70 large",
            signals(lead("Migration", "Google", 70, Some(T::Large)), true, true, None),
            Expect { prio: 2, opp: 89, urgency: Medium, step: (Call, "24_saat", High), tier: "Enterprise", risk: High },
        ),
        (
            "Migration Hosting 60",
            signals(lead("Migration", "Hosting", 60, None), true, true, Some((REJECT, 100))),
            Expect {
                prio: 3,
                opp: 76,
                urgency: Medium,
                step: (Call, "3_gün", Medium),
                tier: "Business Basic",
                risk: Low,
            },
        ),
        (
            "Existing M365 90 medium",
            signals(lead("Existing", "M365", 90, Some(T::Medium)), true, true, Some((REJECT, 100))),
            Expect {
                prio: 3,
                opp: 79,
                urgency: Medium,
                step: (Call, "3_gün", Medium),
                tier: "Business Standard",
                risk: Low,
            },
        ),
        (
            "Existing M365 60 medium",
            signals(lead("Existing", "M365", 60, Some(T::Medium)), true, true, Some((DmarcPolicy::None, 100))),
            Expect {
                prio: 4,
                opp: 67,
                urgency: Low,
                step: (Call, "3_gün", Medium),
                tier: "Business Standard",
                risk: High,
            },
        ),
        (
            "Existing M365 25 medium",
            signals(lead("Existing", "M365", 25, Some(T::Medium)), false, false, None),
            Expect {
                prio: 6,
                opp: 49,
                urgency: Low,
                step: (Email, "1_hafta", Low),
                tier: "Business Standard",
                risk: High,
            },
        ),
        (
            "Cold Local 50",
            signals(lead("Cold", "Local", 50, None), true, true, Some((REJECT, 50))),
            Expect {
                prio: 5,
                opp: 41,
                urgency: Low,
                step: (Email, "1_hafta", Low),
                tier: "Business Basic",
                risk: Medium,
            },
        ),
        (
            "Cold Google 45 large",
            signals(lead("Cold", "Google", 45, Some(T::Large)), true, false, None),
            Expect { prio: 5, opp: 46, urgency: Low, step: (Email, "1_hafta", Low), tier: "Enterprise", risk: High },
        ),
        (
            "Skip Google 25 large",
            signals(lead("Skip", "Google", 25, Some(T::Large)), false, false, None),
            Expect { prio: 7, opp: 24, urgency: Low, step: (Wait, "1_ay", Low), tier: "Enterprise", risk: High },
        ),
        (
            "Skip Unknown 0",
            signals(lead("Skip", "Unknown", 0, None), false, false, None),
            Expect { prio: 7, opp: 20, urgency: Low, step: (Wait, "1_ay", Low), tier: "Business Basic", risk: High },
        ),
        (
            "Existing M365 70 medium, contact 80, expires in 30 days",
            SalesInput {
                contact_quality_score: Some(80),
                expires_at: Some(today() + chrono::Days::new(30)),
                ..signals(lead("Existing", "M365", 70, Some(T::Medium)), true, true, None)
            },
            Expect {
                prio: 3,
                opp: 77,
                urgency: High,
                step: (Call, "3_gün", Medium),
                tier: "Business Standard",
                risk: High,
            },
        ),
    ];
    for (name, input, e) in rows {
        let s = sales_summary(&input, Rules::embedded());
        assert_eq!(s.metadata.priority_score, Some(e.prio), "row {name}: priority");
        assert_eq!(s.opportunity_potential, e.opp, "row {name}: opportunity");
        assert_eq!(s.urgency, e.urgency, "row {name}: urgency");
        let step = (s.next_step.action, s.next_step.timeline.token(), s.next_step.priority);
        assert_eq!(step, e.step, "row {name}: next step");
        assert_eq!(s.offer_tier.tier, e.tier, "row {name}: tier");
        assert_eq!(s.security_reasoning.map(|r| r.risk_level), Some(e.risk), "row {name}: risk level");
    }
}

fn summary(input: &SalesInput) -> SalesSummary {
    sales_summary(input, Rules::embedded())
}

#[test]
fn the_opportunity_factors_sum_to_the_total_and_list_contact_quality_only_when_known() {
    let mut i = signals(lead("Existing", "M365", 70, Some(TenantSize::Medium)), true, true, None);
    let s = summary(&i);
    let names: Vec<&str> = s.opportunity_rationale.factors.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["segment", "readiness_score", "priority_score", "tenant_size"]);
    assert_eq!(s.opportunity_rationale.factors.iter().map(|f| f.score).sum::<u32>(), s.opportunity_potential);
    i.contact_quality_score = Some(80);
    let s = summary(&i);
    assert_eq!(
        s.opportunity_rationale.factors.last().map(|f| (f.name.as_str(), f.score)),
        Some(("contact_quality", 4))
    );
}

#[test]
fn the_opportunity_factor_from_the_rules_file_scales_the_total() {
    let mut rules = Rules::embedded().clone();
    rules.sales.opportunity_factor = 0.5;
    let i = signals(lead("Migration", "Google", 90, Some(TenantSize::Large)), true, true, None);
    let s = sales_summary(&i, &rules);
    assert_eq!(s.opportunity_potential, 48, "floor(97 × 0.5)");
}

#[test]
fn an_expiry_between_60_and_89_days_makes_a_lead_medium_urgent() {
    let mut i = lead("Cold", "Google", 45, None);
    i.expires_at = Some(today() + chrono::Days::new(75));
    assert_eq!(summary(&i).urgency, Level::Medium);
    i.expires_at = Some(today() + chrono::Days::new(90));
    assert_eq!(summary(&i).urgency, Level::Low);
    i.expires_at = Some(today() - chrono::Days::new(3));
    assert_eq!(summary(&i).urgency, Level::High, "an expiry in the past counts as urgent");
}

#[test]
fn security_reasoning_is_absent_only_when_no_signal_is_known() {
    let i = SalesInput { domain: "example.com".into(), today: today(), ..SalesInput::default() };
    let s = summary(&i);
    assert_eq!(s.security_reasoning, None);
    assert_eq!(s.one_liner, "example.com – Skip segment; do not pursue now.");
    assert_eq!(s.segment_explanation, "Segment information is unavailable.");
    assert_eq!(s.provider_reasoning, "Provider information is unavailable.");
    assert_eq!(s.metadata.priority_score, None);
}

#[test]
fn partial_dmarc_coverage_is_a_medium_risk_that_quotes_the_coverage() {
    let i = signals(lead("Cold", "Local", 50, None), true, true, Some((DmarcPolicy::Quarantine, 30)));
    let r = summary(&i).security_reasoning.unwrap();
    assert_eq!((r.risk_level, r.risk_factors.as_slice()), (Level::Medium, [RiskFactor::DmarcPartial].as_slice()));
    assert!(r.summary.contains("30%"), "{}", r.summary);
    assert!(r.details.contains(&"DMARC coverage 30% (not full).".to_string()));
}

#[test]
fn missing_dmarc_alone_is_a_high_risk() {
    let r = summary(&signals(lead("Existing", "M365", 70, None), true, true, None)).security_reasoning.unwrap();
    assert_eq!((r.risk_level, r.risk_factors.as_slice()), (Level::High, [RiskFactor::DmarcMissing].as_slice()));
    assert_eq!(r.summary, "No DMARC policy: SPF and DKIM are present, but the spoofing risk is still high.");
}

#[test]
fn one_missing_signal_with_full_dmarc_is_a_medium_risk() {
    let r = summary(&signals(lead("Existing", "M365", 70, None), true, false, Some((DmarcPolicy::Reject, 100))))
        .security_reasoning
        .unwrap();
    assert_eq!((r.risk_level, r.risk_factors.as_slice()), (Level::Medium, [RiskFactor::DkimMissing].as_slice()));
}

#[test]
fn missing_spf_and_dkim_under_a_dmarc_policy_is_a_high_risk_named_accurately() {
    let r = summary(&signals(lead("Cold", "Local", 30, None), false, false, Some((DmarcPolicy::Reject, 100))))
        .security_reasoning
        .unwrap();
    assert_eq!(r.risk_level, Level::High);
    assert!(r.summary.contains("SPF missing, DKIM missing") && !r.summary.contains("no DMARC"), "{}", r.summary);
}

#[test]
fn the_call_script_uses_the_partner_name_from_the_rules() {
    let mut rules = Rules::embedded().clone();
    let i = lead("Cold", "Local", 30, None);
    assert_eq!(
        sales_summary(&i, &rules).call_script[0],
        "Hello! Our team ran a general e-mail infrastructure scan of example.com."
    );
    rules.sales.partner_name = "Contoso Partners".into();
    assert_eq!(
        sales_summary(&i, &rules).call_script[0],
        "Hello! Contoso Partners ran a general e-mail infrastructure scan of example.com."
    );
}

#[test]
fn a_cold_call_script_has_three_points_and_mentions_spoofing_when_the_risk_is_high() {
    let s = summary(&lead("Cold", "Google", 45, None));
    assert_eq!(s.call_script.len(), 3);
    assert!(s.call_script[1].contains("spoofing"));
    let s = summary(&signals(lead("Cold", "Google", 45, None), true, true, Some((DmarcPolicy::Reject, 100))));
    assert!(!s.call_script[1].contains("spoofing"));
}

#[test]
fn a_migration_call_script_names_country_hoster_and_proxy() {
    let mut i = lead("Migration", "Local", 60, Some(TenantSize::Small));
    i.local_provider = Some("VIT".into());
    i.ip_context = Some(IpContext { country: Some("TR".into()), is_proxy: true, proxy_type: Some("VPN".into()) });
    let s = summary(&i);
    assert!(s.call_script[0].contains("(TR based, currently with VIT)"), "{:?}", s.call_script);
    assert!(s.call_script[1].contains("proxy (VPN)"));
    assert!(s.call_script[2].contains("Business Basic"));
    assert!(s.call_script[3].starts_with("Could we have a short call"));
}

#[test]
fn discovery_questions_grow_with_segment_hoster_and_tenant_size() {
    let mut i = lead("Migration", "Local", 60, Some(TenantSize::Large));
    i.local_provider = Some("Natro".into());
    let q = summary(&i).discovery_questions;
    assert_eq!(q.len(), 3 + 1 + 2 + 3);
    assert!(q[3].contains("Natro"));
    assert_eq!(summary(&lead("Skip", "Google", 20, None)).discovery_questions.len(), 2 + 3);
    assert_eq!(summary(&lead("Existing", "M365", 60, Some(TenantSize::Small))).discovery_questions.len(), 3 + 1 + 3);
}

#[test]
fn the_one_liner_for_a_ready_migration_names_size_offer_and_country() {
    let mut i = lead("Migration", "Google", 85, Some(TenantSize::Large));
    i.ip_context = Some(IpContext { country: Some("DE".into()), ..IpContext::default() });
    assert_eq!(
        summary(&i).one_liner,
        "example.com – large-scale migration opportunity (DE based), high readiness (85); a Microsoft 365 Enterprise offer can be prepared."
    );
}

#[test]
fn the_one_liner_for_a_medium_migration_names_the_local_hoster() {
    let mut i = lead("Migration", "Local", 60, None);
    i.local_provider = Some("VIT".into());
    assert_eq!(summary(&i).one_liner, "example.com – uses VIT; migration opportunity (score 60), follow up.");
}

#[test]
fn an_existing_segment_with_another_provider_is_flagged_as_inconsistent() {
    let s = summary(&lead("Existing", "Google", 70, None));
    assert!(s.segment_explanation.contains("possible data inconsistency"), "{}", s.segment_explanation);
}

#[test]
fn the_migration_explanation_lists_only_present_signals_and_a_real_dmarc_policy() {
    let i = signals(lead("Migration", "Google", 60, None), true, false, Some((DmarcPolicy::None, 100)));
    assert_eq!(
        summary(&i).segment_explanation,
        "example.com uses Google, with sufficient signals (score 60): worth following up. Security signals: SPF."
    );
}

#[test]
fn a_self_hosted_cold_lead_is_explained_as_such() {
    let s = summary(&lead("Cold", "Local", 30, None));
    assert!(s.segment_explanation.contains("self-hosted"), "{}", s.segment_explanation);
    let s = summary(&lead("Skip", "Local", 0, None));
    assert!(s.segment_explanation.ends_with("Do not pursue now."), "{}", s.segment_explanation);
}

#[test]
fn m365_provider_reasoning_recognises_microsoft_infrastructure_and_appends_the_ip_summary() {
    let mut i = lead("Existing", "M365", 70, None);
    i.mx_root = Some("outlook.com".into());
    i.infrastructure_summary = Some("Hosted on DataCenter, Country: IE".into());
    let text = summary(&i).provider_reasoning;
    assert!(text.contains("Microsoft's own mail infrastructure"), "{text}");
    assert!(text.contains("Infrastructure analysis: Hosted on DataCenter, Country: IE."), "{text}");
}

#[test]
fn offer_tier_without_tenant_size_depends_on_migration_readiness() {
    assert_eq!(summary(&lead("Migration", "Google", 70, None)).offer_tier.tier, "Business Standard");
    assert_eq!(summary(&lead("Migration", "Google", 69, None)).offer_tier.tier, "Business Basic");
    assert_eq!(summary(&lead("Existing", "M365", 90, None)).offer_tier.tier, "Business Basic");
}

#[test]
fn a_high_opportunity_with_urgency_calls_within_24_hours() {
    // Existing, 100, large, priority 3: opp 30+30+15+10 = 85, urgency medium (Existing ≥ 70).
    let s = summary(&lead("Existing", "M365", 100, Some(TenantSize::Large)));
    assert_eq!(
        (s.opportunity_potential, s.next_step.action, s.next_step.timeline),
        (85, Action::Call, Timeline::Hours24)
    );
}

#[test]
fn a_high_opportunity_without_urgency_falls_to_the_segment_default() {
    let mut rules = Rules::embedded().clone();
    rules.sales.opportunity_factor = 1.2;
    // Existing 69, large: (30+20+12+10) × 1.2 = 86, urgency low → e-mail within a week.
    let s = sales_summary(&lead("Existing", "M365", 69, Some(TenantSize::Large)), &rules);
    assert_eq!((s.opportunity_potential, s.urgency), (86, Level::Low));
    let step = (s.next_step.action, s.next_step.timeline, s.next_step.priority);
    assert_eq!(step, (Action::Email, Timeline::Week1, Level::Medium));
    // Migration 40 (below its band), large: (40+12+12+10) × 1.2 = 88, urgency low → call within a week.
    let s = sales_summary(&lead("Migration", "Google", 40, Some(TenantSize::Large)), &rules);
    assert_eq!((s.opportunity_potential, s.urgency), (88, Level::Low));
    let step = (s.next_step.action, s.next_step.timeline, s.next_step.priority);
    assert_eq!(step, (Action::Call, Timeline::Week1, Level::Medium));
}

#[test]
fn timelines_serialise_as_the_reference_tokens() {
    assert_eq!(serde_json::to_string(&Timeline::Days3).unwrap(), "\"3_gün\"");
    assert_eq!(Timeline::Week1.label(), "within a week");
}
