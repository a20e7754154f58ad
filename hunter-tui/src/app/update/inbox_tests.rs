//! The referral inbox's behaviour: opening it, paging, search, facets, jumping to a lead, and the
//! link and unlink prompts.

use super::*;
use crate::app::fixtures::{answer_count, answer_page, answer_referrals, referral};
use crate::keymap::Key;
use crate::output::fixtures;
use protocol::{LinkOutcome, LinkStatus, ReferralFacet};

/// Connected, leads loaded, the inbox's first page answered (`all` referrals) and shown.
fn inbox(all: u64) -> App {
    let mut app = App::new("/run/hunter/hunterd.sock".into(), true, fixtures::now());
    app.size = (120, 30);
    update(&mut app, Msg::Connected(Box::new(fixtures::status(vec![]))));
    answer_page(&mut app, 0, 3);
    answer_count(&mut app, 3, true);
    answer_referrals(&mut app, all, 0);
    press(&mut app, Action::ToggleReferrals);
    app
}

fn press(app: &mut App, action: Action) -> Vec<Effect> {
    let key = app.keymap.bindings.iter().find(|b| b.action == action).expect("action has a key").keys[0];
    update(app, Msg::Key(KeyEvent::new(key.code, key.modifiers)))
}

fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| {
            let k = Key::ch(c);
            update(app, Msg::Key(KeyEvent::new(k.code, k.modifiers)))
        })
        .collect()
}

fn enter(app: &mut App) -> Vec<Effect> {
    update(app, Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)))
}

fn requests(effects: &[Effect]) -> Vec<&Request> {
    effects.iter().filter_map(|e| if let Effect::Send(r) = e { Some(r) } else { None }).collect()
}

fn select(app: &mut App, index: u64) {
    for _ in 0..index {
        press(app, Action::Down);
    }
}

#[test]
fn the_referrals_key_opens_the_inbox_without_asking_again_and_back_returns_to_the_leads() {
    let mut app = App::new("/s".into(), true, fixtures::now());
    update(&mut app, Msg::Connected(Box::new(fixtures::status(vec![]))));
    answer_referrals(&mut app, 12, 2);
    let effects = press(&mut app, Action::ToggleReferrals);
    assert_eq!(app.screen, Screen::Referrals);
    assert!(requests(&effects).is_empty(), "the first page came with the connection: {effects:?}");
    assert_eq!(app.inbox.selected_row().map(|r| r.id.as_str()), Some("ref-0000"));
    press(&mut app, Action::Back);
    assert_eq!(app.screen, Screen::Leads);
}

#[test]
fn moving_past_the_page_on_hand_asks_for_the_page_of_the_selection() {
    let mut app = inbox(1_000);
    let effects = press(&mut app, Action::Last);
    let [Request::ListReferrals(query)] = requests(&effects)[..] else { panic!("{effects:?}") };
    assert_eq!((query.offset, query.limit), (800, 200));
    answer_referrals(&mut app, 1_000, 0);
    assert_eq!(app.inbox.selected_row().map(|r| r.id.as_str()), Some("ref-0999"));
}

#[test]
fn search_applies_as_typed_and_escape_restores_the_previous_one() {
    let mut app = inbox(50);
    press(&mut app, Action::Filter);
    type_text(&mut app, "acme");
    let due = Msg::FilterDue(app.filter_seq);
    let effects = update(&mut app, due);
    let [Request::ListReferrals(query)] = requests(&effects)[..] else { panic!("{effects:?}") };
    assert_eq!((query.filter.text.as_deref(), query.offset), (Some("acme"), 0));
    update(&mut app, Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    assert_eq!(app.inbox.filter.text, None);
}

#[test]
fn a_facet_value_filters_the_inbox_from_the_first_row_and_picking_it_again_removes_it() {
    let mut app = inbox(50);
    select(&mut app, 7);
    press(&mut app, Action::Facets);
    let effects = enter(&mut app);
    let [Request::ReferralFacets { facet: ReferralFacet::Kind, .. }] = requests(&effects)[..] else {
        panic!("{effects:?}")
    };
    let values = vec![protocol::FacetCount { value: "co-sell".into(), count: 9 }];
    update(&mut app, Msg::Answer(Answer::ReferralFacets { facet: ReferralFacet::Kind, result: Ok(values) }));
    let effects = enter(&mut app);
    let [Request::ListReferrals(query)] = requests(&effects)[..] else { panic!("{effects:?}") };
    assert_eq!((query.filter.kinds.clone(), app.inbox.selected), (vec!["co-sell".to_string()], 0));
    app.inbox.toggle_facet_value(ReferralFacet::Kind, "co-sell");
    assert!(app.inbox.filter.is_empty());
}

#[test]
fn enter_on_a_linked_referral_opens_its_lead_and_back_returns_to_the_inbox() {
    let mut app = inbox(12);
    let effects = enter(&mut app);
    assert_eq!(requests(&effects), [&Request::LeadDetail { domain: "lead0.example".into() }]);
    assert_eq!(app.screen, Screen::Detail);
    press(&mut app, Action::Back);
    assert_eq!(app.screen, Screen::Referrals);
}

#[test]
fn enter_on_an_unlinked_referral_says_how_to_link_it() {
    let mut app = inbox(12);
    select(&mut app, 1);
    let effects = enter(&mut app);
    assert!(requests(&effects).is_empty());
    assert_eq!(app.screen, Screen::Referrals);
    let notice = app.notice.as_ref().map(|n| n.text.clone()).unwrap_or_default();
    assert!(notice.contains("ref-0001 is not linked") && notice.contains("l links it"), "{notice}");
}

#[test]
fn a_link_sends_the_typed_domain_and_success_updates_the_row_and_follows_the_rescan() {
    let mut app = inbox(12);
    select(&mut app, 1);
    press(&mut app, Action::LinkReferral);
    type_text(&mut app, "Contoso.com");
    let effects = enter(&mut app);
    let request = Request::LinkReferral { referral_id: "ref-0001".into(), domain: "Contoso.com".into() };
    assert_eq!(requests(&effects), [&request]);
    assert!(app.prompt.is_some(), "open until the daemon agrees");
    let referral = protocol::ReferralRow {
        link_status: Some(LinkStatus::Linked),
        domain: Some("contoso.com".into()),
        manual_by: Some("alice".into()),
        ..referral(1)
    };
    let outcome = LinkOutcome { referral, company_created: true, batch_id: Some("b1".into()) };
    let answer = Answer::Relinked {
        referral_id: "ref-0001".into(),
        domain: Some("Contoso.com".into()),
        result: Ok(Box::new(outcome)),
    };
    let effects = update(&mut app, Msg::Answer(answer));
    assert!(app.prompt.is_none());
    assert_eq!(app.inbox.selected_row().and_then(|r| r.domain.as_deref()), Some("contoso.com"));
    assert!(requests(&effects).iter().any(|r| matches!(r, Request::ListReferrals(_))), "the inbox is fetched again");
    assert_eq!(app.progress.batches.first().map(|b| b.label.as_str()), Some("rescore contoso.com"));
    let notice = app.notice.as_ref().map(|n| n.text.clone()).unwrap_or_default();
    assert!(notice.starts_with("linked ref-0001 to contoso.com (a new lead)"), "{notice}");
}

#[test]
fn unlinking_asks_first_and_sends_only_on_yes() {
    let mut app = inbox(12);
    press(&mut app, Action::UnlinkReferral);
    assert!(
        matches!(&app.prompt, Some(Prompt { kind: PromptKind::UnlinkReferral { domain, .. }, .. }) if domain == "lead0.example")
    );
    type_text(&mut app, "n");
    assert!(requests(&enter(&mut app)).is_empty());
    press(&mut app, Action::UnlinkReferral);
    type_text(&mut app, "y");
    let effects = enter(&mut app);
    assert_eq!(requests(&effects), [&Request::UnlinkReferral { referral_id: "ref-0000".into() }]);
}

#[test]
fn an_unlinked_referral_cannot_be_unlinked() {
    let mut app = inbox(12);
    select(&mut app, 2);
    press(&mut app, Action::UnlinkReferral);
    assert!(app.prompt.is_none());
    assert!(app.notice.as_ref().is_some_and(|n| n.error && n.text.contains("not linked")));
}

#[test]
fn a_finished_partner_center_sync_fetches_the_inbox_again() {
    let mut app = inbox(12);
    let mut job = fixtures::ok_job();
    job.name = crate::commands::PARTNER_CENTER_JOB.into();
    job.last_finished_at = Some(fixtures::now());
    let effects = update(&mut app, Msg::Event(protocol::Event::JobChanged(job.clone())));
    assert!(matches!(requests(&effects)[..], [Request::ListReferrals(_)]), "{effects:?}");
    answer_referrals(&mut app, 13, 0);
    let again = update(&mut app, Msg::Event(protocol::Event::JobChanged(job)));
    assert!(requests(&again).is_empty(), "the same run reported twice: {again:?}");
}
