use super::*;
use crate::app::fixtures::{answer_count, answer_page, detail, lead, page_query};
use crate::app::model::{MenuKind, PAGE_SIZE, PREFETCH_ROWS};
use crate::client::{Answer, Queued};
use crate::keymap::{Key, Keymap};
use crate::output::fixtures::{self, disabled_job, failed_job, ok_job};
use protocol::{AddOutcome, AddReport, BatchProgress, JobOutcome, JobState, LeadPage, Seek};

fn connected_with(jobs: Vec<JobInfo>) -> App {
    let mut app = App::new("/run/hunter/hunterd.sock".into(), true, fixtures::now());
    app.size = (120, 30);
    update(&mut app, Msg::Connected(Box::new(fixtures::status(jobs))));
    app
}

fn connected() -> App {
    connected_with(vec![])
}

/// A connected app showing `total` leads (counted exactly), with the first page loaded.
fn with_leads(total: u64) -> App {
    let mut app = connected();
    answer_page(&mut app, 0, total);
    answer_count(&mut app, total, true);
    app
}

/// Presses the first key the keymap binds to `action`, so tests follow the keymap.
fn press(app: &mut App, action: Action) -> Vec<Effect> {
    let key = app.keymap.bindings.iter().find(|b| b.action == action).expect("action has a key").keys[0];
    press_key(app, key)
}

fn press_key(app: &mut App, key: Key) -> Vec<Effect> {
    update(app, Msg::Key(KeyEvent::new(key.code, key.modifiers)))
}

fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| press_key(app, Key::ch(c))).collect()
}

fn enter(app: &mut App) -> Vec<Effect> {
    press_key(app, Key::plain(KeyCode::Enter))
}

fn requests(effects: &[Effect]) -> Vec<&Request> {
    effects.iter().filter_map(|e| if let Effect::Send(r) = e { Some(r) } else { None }).collect()
}

/// The pages the effects ask for, by index.
fn pages_asked(app: &App, effects: &[Effect]) -> Vec<u64> {
    requests(effects)
        .iter()
        .filter_map(|r| if let Request::ListLeads(q) = r { app.leads.page_of(&q.seek) } else { None })
        .collect()
}

fn seeks(effects: &[Effect]) -> Vec<Seek> {
    requests(effects)
        .iter()
        .filter_map(|r| if let Request::ListLeads(q) = r { Some(q.seek.clone()) } else { None })
        .collect()
}

/// The timer message for the latest filter keystroke.
fn filter_due(app: &App) -> Msg {
    Msg::FilterDue(app.filter_seq)
}

fn notice(app: &App) -> &str {
    app.notice.as_ref().map(|n| n.text.as_str()).unwrap_or("")
}

// --- quitting, help and screens ---

#[test]
fn ctrl_c_quits_from_anywhere() {
    let mut app = with_leads(3);
    press(&mut app, Action::Open);
    press_key(&mut app, Key::ctrl('c'));
    assert!(app.quit);
}

#[test]
fn every_back_key_quits_from_the_leads_view_even_when_the_daemon_is_down() {
    for key in Keymap::default().bindings.iter().find(|b| b.action == Action::Back).unwrap().keys.clone() {
        let mut app = App::new("/s".into(), true, fixtures::now());
        update(&mut app, Msg::ConnectFailed(Down::NotRunning));
        press_key(&mut app, key);
        assert!(app.quit, "{}", key.label());
    }
}

#[test]
fn help_key_toggles_the_help_overlay() {
    let mut app = connected();
    press(&mut app, Action::ToggleHelp);
    assert!(app.help);
    press(&mut app, Action::ToggleHelp);
    assert!(!app.help);
}

#[test]
fn escape_closes_the_help_before_quitting() {
    let mut app = connected();
    press(&mut app, Action::ToggleHelp);
    press_key(&mut app, Key::plain(KeyCode::Esc));
    assert!(!app.help && !app.quit);
    press_key(&mut app, Key::plain(KeyCode::Esc));
    assert!(app.quit);
}

#[test]
fn back_leaves_the_sync_view_before_quitting() {
    let mut app = connected_with(vec![ok_job()]);
    press(&mut app, Action::ToggleSync);
    press(&mut app, Action::Back);
    assert_eq!(app.screen, Screen::Leads);
    assert!(!app.quit);
}

#[test]
fn sync_key_toggles_the_sync_status_view() {
    let mut app = connected_with(vec![ok_job()]);
    press(&mut app, Action::ToggleSync);
    assert_eq!(app.screen, Screen::Sync);
    press(&mut app, Action::ToggleSync);
    assert_eq!(app.screen, Screen::Leads);
}

#[test]
fn run_key_in_the_sync_view_sends_run_job_for_the_selected_job() {
    let mut app = connected_with(vec![ok_job(), failed_job()]);
    press(&mut app, Action::ToggleSync);
    press(&mut app, Action::Down);
    let effects = press(&mut app, Action::RunJob);
    assert_eq!(effects, vec![Effect::Send(Request::RunJob { name: "partner_center_sync".into() })]);
}

#[test]
fn run_key_does_nothing_on_the_leads_screen() {
    let mut app = connected_with(vec![ok_job()]);
    assert!(press_key(&mut app, Key::ch('x')).is_empty());
}

#[test]
fn keys_other_than_quit_and_help_are_ignored_while_the_daemon_is_down() {
    let mut app = App::new("/s".into(), true, fixtures::now());
    update(&mut app, Msg::ConnectFailed(Down::NotRunning));
    press(&mut app, Action::ToggleSync);
    press(&mut app, Action::Filter);
    assert_eq!(app.screen, Screen::Leads);
    assert_eq!(app.prompt, None);
}

#[test]
fn the_job_selection_stays_within_the_job_list() {
    let mut app = connected_with(vec![ok_job(), failed_job(), disabled_job()]);
    press(&mut app, Action::ToggleSync);
    press(&mut app, Action::Up);
    assert_eq!(app.selected_job, 0);
    press(&mut app, Action::Last);
    assert_eq!(app.selected_job, 2);
    press(&mut app, Action::Down);
    assert_eq!(app.selected_job, 2);
    press(&mut app, Action::First);
    assert_eq!(app.selected_job, 0);
}

// --- connection and jobs ---

#[test]
fn a_job_changed_event_replaces_that_job() {
    let mut app = connected_with(vec![ok_job(), failed_job()]);
    let mut running = failed_job();
    running.state = JobState::Running;
    update(&mut app, Msg::Event(Event::JobChanged(running.clone())));
    assert_eq!(app.jobs, vec![ok_job(), running]);
}

#[test]
fn a_finished_sync_that_brought_new_referrals_says_so() {
    let mut app = connected_with(vec![failed_job()]);
    let mut done = failed_job();
    done.last_finished_at = done.last_finished_at.map(|t| t + chrono::Duration::minutes(10));
    done.last_result = Some(JobOutcome::Ok { summary: "fetched 5, new 3, updated 1, skipped 1, failed 0".into() });
    update(&mut app, Msg::Event(Event::JobChanged(done)));
    assert_eq!(notice(&app), "3 new Partner Center referrals");
}

#[test]
fn a_job_changed_event_for_an_unknown_job_adds_it() {
    let mut app = connected_with(vec![ok_job()]);
    update(&mut app, Msg::Event(Event::JobChanged(disabled_job())));
    assert_eq!(app.jobs.len(), 2);
}

#[test]
fn shutting_down_shows_the_daemon_as_stopped_and_a_later_disconnect_keeps_that_reason() {
    let mut app = connected_with(vec![ok_job()]);
    update(&mut app, Msg::Event(Event::ShuttingDown));
    update(&mut app, Msg::Disconnected(Down::Lost { reason: "connection to hunterd lost".into() }));
    assert_eq!(app.link, Link::Down(Down::Stopped));
    assert!(app.jobs.is_empty());
}

#[test]
fn reconnecting_after_a_stop_restores_the_jobs_reloads_the_leads_and_says_so() {
    let mut app = with_leads(3);
    update(&mut app, Msg::Event(Event::ShuttingDown));
    let effects = update(&mut app, Msg::Connected(Box::new(fixtures::status(vec![ok_job()]))));
    assert!(matches!(app.link, Link::Up(_)));
    assert_eq!(app.jobs, vec![ok_job()]);
    assert_eq!(notice(&app), "reconnected to hunterd");
    assert_eq!(pages_asked(&app, &effects), vec![0]);
    assert_eq!(app.leads.row(2).map(|r| r.domain.as_str()), Some("lead2.example"), "rows stay shown meanwhile");
}

#[test]
fn a_lagged_subscription_asks_for_a_fresh_status_and_fresh_rows() {
    let mut app = with_leads(3);
    let effects = update(&mut app, Msg::Event(Event::Lagged { missed: 3 }));
    assert_eq!(requests(&effects)[0], &Request::Status);
    assert_eq!(pages_asked(&app, &effects), vec![0]);
}

#[test]
fn a_refused_run_job_is_shown_as_an_error_notice() {
    let mut app = connected_with(vec![disabled_job()]);
    let name = "dynamics_push".to_string();
    update(&mut app, Msg::Answer(Answer::RunJob { name, result: Err("feature is off".into()) }));
    let notice = app.notice.expect("a notice");
    assert!(notice.error);
    assert_eq!(notice.text, "could not run dynamics_push: feature is off");
}

#[test]
fn notices_expire_after_a_few_seconds() {
    let mut app = connected();
    update(&mut app, Msg::Answer(Answer::Jobs(Err("boom".into()))));
    update(&mut app, Msg::Tick(fixtures::now() + chrono::Duration::seconds(NOTICE_SECS)));
    assert_eq!(app.notice, None);
}

#[test]
fn uptime_keeps_counting_between_status_answers() {
    let mut app = connected();
    update(&mut app, Msg::Tick(fixtures::now() + chrono::Duration::seconds(60)));
    assert_eq!(app.daemon().unwrap().uptime_at(app.now), 7_560);
}

#[test]
fn a_status_answer_refreshes_jobs_and_clamps_the_selection() {
    let mut app = connected_with(vec![ok_job(), failed_job(), disabled_job()]);
    app.selected_job = 2;
    let mut fixed = failed_job();
    fixed.last_result = Some(JobOutcome::Ok { summary: "3 referrals".into() });
    let status = fixtures::status(vec![fixed.clone()]);
    update(&mut app, Msg::Answer(Answer::Status(Ok(Box::new(status)))));
    assert_eq!(app.jobs, vec![fixed]);
    assert_eq!(app.selected_job, 0);
}

// --- paging ---

#[test]
fn connecting_asks_for_the_first_page_and_the_count_of_the_remembered_query_and_the_referral_inbox() {
    let mut app = App::new("/s".into(), true, fixtures::now());
    let (list, _) = crate::app::model::LeadList::from_state(&UiState {
        filter: "segment=Migration".into(),
        sort: "domain".into(),
        descending: false,
    });
    app.leads = list;
    let effects = update(&mut app, Msg::Connected(Box::new(fixtures::status(vec![]))));
    // The inbox's first page too: its count of expiring referrals is in the status bar everywhere.
    let [Request::ListLeads(query), Request::CountLeads(counted), Request::ListReferrals(inbox)] =
        requests(&effects)[..]
    else {
        panic!("{effects:?}")
    };
    assert_eq!((inbox.offset, inbox.sort), (0, protocol::ReferralSort::Updated));
    assert_eq!(
        (&query.seek, query.limit as u64, query.sort, query.descending),
        (&Seek::Offset(0), PAGE_SIZE, LeadSort::Domain, false)
    );
    assert_eq!(query.filter.segments, vec!["Migration"]);
    assert_eq!(**counted, query.filter);
}

#[test]
fn the_first_page_is_shown_before_the_count_arrives() {
    let mut app = connected();
    answer_page(&mut app, 0, 10_000);
    assert_eq!(app.leads.row(199).map(|r| r.domain.as_str()), Some("lead199.example"));
    assert_eq!(app.leads.count, None);
    answer_count(&mut app, 10_000, true);
    assert_eq!(app.leads.total, Some(10_000));
    assert_eq!(app.leads.row(200), None);
}

#[test]
fn a_short_first_page_is_the_whole_list_without_waiting_for_the_count() {
    let mut app = connected();
    answer_page(&mut app, 0, 42);
    assert_eq!(app.leads.total, Some(42));
}

#[test]
fn jumping_to_the_end_fetches_the_last_page_from_the_end_and_not_the_ones_between() {
    let mut app = with_leads(10_000);
    let effects = press(&mut app, Action::Last);
    assert_eq!(app.leads.selected, 9_999);
    assert_eq!(pages_asked(&app, &effects), vec![49]);
    assert_eq!(seeks(&effects), vec![Seek::Last]);
}

#[test]
fn the_next_page_is_asked_for_after_the_last_row_held_and_the_previous_before_the_first() {
    let mut app = with_leads(10_000);
    let effects = (0..120).flat_map(|_| press(&mut app, Action::Down)).collect::<Vec<_>>();
    let last_of_first_page = app.leads.pages[&0].last.clone().unwrap();
    assert_eq!(seeks(&effects), vec![Seek::After(last_of_first_page)]);

    press(&mut app, Action::Last);
    answer_page(&mut app, 49, 10_000);
    let effects = (0..120).flat_map(|_| press(&mut app, Action::Up)).collect::<Vec<_>>();
    let first_of_last_page = app.leads.pages[&49].first.clone().unwrap();
    assert_eq!(seeks(&effects), vec![Seek::Before(first_of_last_page)]);
}

#[test]
fn a_page_whose_neighbour_is_on_its_way_waits_for_it_instead_of_using_an_offset() {
    let mut app = with_leads(100_000);
    press(&mut app, Action::Last);
    answer_page(&mut app, 499, 100_000);
    // Holding PgUp: page 498 is asked for; 497 waits for 498 to seek from it.
    let mut asked = vec![];
    for _ in 0..12 {
        asked.extend(seeks(&press(&mut app, Action::PageUp)));
    }
    assert!(asked.iter().all(|s| matches!(s, Seek::Before(_))), "{asked:?}");
}

#[test]
fn a_jump_far_from_any_held_page_uses_an_offset() {
    let mut app = with_leads(100_000);
    app.leads.selected = 50_100;
    app.leads.top = 50_100;
    let effects = update(&mut app, Msg::RefreshDue);
    // Page 250 by offset; 251 waits to be read after it.
    assert_eq!(seeks(&effects), vec![Seek::Offset(50_000)]);
}

#[test]
fn scrolling_fetches_the_next_page_while_the_cursor_is_still_half_a_page_from_the_end_of_the_rows_held() {
    let mut app = with_leads(10_000);
    let mut fetched_at = None;
    for _ in 0..PAGE_SIZE {
        let effects = press(&mut app, Action::Down);
        if fetched_at.is_none() && pages_asked(&app, &effects) == vec![1] {
            fetched_at = Some(app.leads.selected);
        }
    }
    let fetched_at = fetched_at.expect("page 1 asked for");
    assert!(fetched_at + PREFETCH_ROWS <= PAGE_SIZE, "asked at row {fetched_at}");
}

#[test]
fn scrolling_near_a_page_boundary_fetches_the_next_page_once_before_it_is_on_screen() {
    let mut app = with_leads(10_000);
    let mut fetched = vec![];
    for _ in 0..170 {
        let effects = press(&mut app, Action::Down);
        fetched.extend(pages_asked(&app, &effects));
    }
    assert_eq!(fetched, vec![1], "page 1 is fetched once, before it is on screen");
    assert!(app.leads.row(app.leads.top + crate::app::layout::visible_rows(&app) - 1).is_some());
}

#[test]
fn page_down_moves_a_screen_and_far_pages_are_forgotten() {
    let mut app = with_leads(100_000);
    for _ in 0..100 {
        let effects = press(&mut app, Action::PageDown);
        for page in pages_asked(&app, &effects) {
            answer_page(&mut app, page, 100_000);
        }
    }
    let visible = crate::app::layout::visible_rows(&app);
    assert_eq!(app.leads.selected, 100 * visible);
    assert!(app.leads.pages.len() <= 6, "{} pages held", app.leads.pages.len());
    assert!(app.leads.row(app.leads.selected).is_some());
}

#[test]
fn an_answer_for_an_older_filter_is_ignored() {
    let mut app = with_leads(500);
    let old = page_query(&mut app, 1);
    press(&mut app, Action::Filter);
    type_text(&mut app, "acme");
    let due = filter_due(&app);
    update(&mut app, due);
    let answer = LeadPage { rows: vec![lead(999)], first: None, last: None };
    update(&mut app, Msg::Answer(Answer::Leads { query: Box::new(old.clone()), result: Ok(answer) }));
    let count = protocol::LeadCount { count: 500, exact: true };
    update(&mut app, Msg::Answer(Answer::LeadCount { filter: Box::new(old.filter), result: Ok(count) }));
    assert_eq!(app.leads.total, None);
    assert!(app.leads.pages.is_empty());
}

#[test]
fn an_estimated_count_is_corrected_by_the_page_that_ends_the_list() {
    let mut app = connected();
    answer_page(&mut app, 0, 450);
    answer_count(&mut app, 900, false);
    assert_eq!(app.leads.total, Some(900));
    app.leads.selected = 420;
    let mut effects = update(&mut app, Msg::RefreshDue);
    while let Some(page) = pages_asked(&app, &effects).first().copied() {
        effects = answer_page(&mut app, page, 450);
    }
    assert_eq!(app.leads.total, Some(450));
    assert_eq!(app.leads.selected, 420);
}

#[test]
fn a_failed_page_shows_the_error_and_is_retried_every_tick() {
    let mut app = connected();
    let query = page_query(&mut app, 0);
    update(&mut app, Msg::Answer(Answer::Leads { query: Box::new(query), result: Err("database unavailable".into()) }));
    assert_eq!(app.leads.error.as_deref(), Some("database unavailable"));
    let effects = update(&mut app, Msg::Tick(fixtures::now()));
    assert_eq!(pages_asked(&app, &effects), vec![0]);
    answer_page(&mut app, 0, 1);
    assert_eq!(app.leads.error, None);
}

#[test]
fn lead_changes_are_refreshed_once_per_debounce_keeping_the_rows_shown_and_counted_again() {
    let mut app = with_leads(3);
    let first = update(&mut app, Msg::Event(Event::LeadsChanged { count: 2 }));
    assert_eq!(first, vec![Effect::After(REFRESH_DEBOUNCE, Box::new(Msg::RefreshDue))]);
    assert!(update(&mut app, Msg::Event(Event::LeadsChanged { count: 5 })).is_empty());
    let effects = update(&mut app, Msg::RefreshDue);
    assert_eq!(pages_asked(&app, &effects), vec![0]);
    assert!(requests(&effects).iter().any(|r| matches!(r, Request::CountLeads(_))));
    assert!(app.leads.row(0).is_some());
}

#[test]
fn a_smaller_total_pulls_the_selection_back_inside() {
    let mut app = with_leads(300);
    press(&mut app, Action::Last);
    answer_page(&mut app, 1, 300);
    update(&mut app, Msg::RefreshDue);
    answer_page(&mut app, 0, 10);
    assert_eq!(app.leads.selected, 9);
}

// --- filter and sort ---

#[test]
fn typing_a_filter_applies_it_after_the_debounce_only_for_the_last_keystroke() {
    let mut app = with_leads(50);
    press(&mut app, Action::Filter);
    let effects = type_text(&mut app, "acme");
    assert_eq!(effects.last(), Some(&Effect::After(FILTER_DEBOUNCE, Box::new(Msg::FilterDue(4)))));
    assert!(update(&mut app, Msg::FilterDue(3)).is_empty(), "an older timer does nothing");
    let effects = update(&mut app, Msg::FilterDue(4));
    let [Request::ListLeads(query), Request::CountLeads(_)] = requests(&effects)[..] else { panic!("{effects:?}") };
    assert_eq!(query.filter.text.as_deref(), Some("acme"));
    assert_eq!(app.leads.expr, "acme");
}

#[test]
fn the_filter_syntax_reaches_the_daemon_parsed() {
    let mut app = with_leads(50);
    press(&mut app, Action::Filter);
    type_text(&mut app, "segment=Migration score>=60 acme");
    let effects = enter(&mut app);
    let [Request::ListLeads(query), Request::CountLeads(_)] = requests(&effects)[..] else { panic!("{effects:?}") };
    assert_eq!(query.filter, LeadFilter::parse("segment=Migration score>=60 acme").unwrap());
    assert_eq!(app.prompt, None);
    assert!(effects.contains(&Effect::SaveState(UiState {
        filter: "segment=Migration score>=60 acme".into(),
        sort: "score".into(),
        descending: true
    })));
}

#[test]
fn an_invalid_filter_says_why_and_keeps_the_previous_one() {
    let mut app = with_leads(50);
    press(&mut app, Action::Filter);
    type_text(&mut app, "segmnt=Cold");
    let due = filter_due(&app);
    assert!(update(&mut app, due).is_empty());
    assert!(enter(&mut app).is_empty());
    let prompt = app.prompt.as_ref().expect("the prompt stays open");
    assert!(prompt.hint_is_error && prompt.hint.as_deref().unwrap_or("").contains("unknown key"), "{prompt:?}");
    assert!(app.leads.filter.is_empty());
}

#[test]
fn escape_in_the_filter_restores_the_filter_from_before() {
    let mut app = with_leads(50);
    press(&mut app, Action::Filter);
    type_text(&mut app, "acme");
    enter(&mut app);
    press(&mut app, Action::Filter);
    type_text(&mut app, " corp");
    let due = filter_due(&app);
    update(&mut app, due);
    assert_eq!(app.leads.expr, "acme corp");
    press_key(&mut app, Key::plain(KeyCode::Esc));
    assert_eq!((app.leads.expr.as_str(), app.prompt.is_none()), ("acme", true));
}

#[test]
fn keys_typed_into_a_prompt_are_text_not_commands() {
    let mut app = with_leads(50);
    press(&mut app, Action::Filter);
    type_text(&mut app, "q?s");
    assert!(!app.quit && !app.help && app.screen == Screen::Leads);
    assert_eq!(app.prompt.as_ref().unwrap().input, "q?s");
}

#[test]
fn ctrl_w_deletes_a_word_and_ctrl_u_the_whole_input() {
    let mut app = with_leads(50);
    press(&mut app, Action::Filter);
    type_text(&mut app, "segment=Cold acme");
    press_key(&mut app, Key::ctrl('w'));
    assert_eq!(app.prompt.as_ref().unwrap().input, "segment=Cold ");
    press_key(&mut app, Key::ctrl('u'));
    assert_eq!(app.prompt.as_ref().unwrap().input, "");
}

#[test]
fn the_clear_key_drops_the_filter_and_remembers_that() {
    let mut app = with_leads(50);
    press(&mut app, Action::Filter);
    type_text(&mut app, "acme");
    enter(&mut app);
    let effects = press(&mut app, Action::ClearFilter);
    assert!(app.leads.filter.is_empty() && app.leads.expr.is_empty());
    assert_eq!(pages_asked(&app, &effects), vec![0]);
    assert!(effects.iter().any(|e| matches!(e, Effect::SaveState(s) if s.filter.is_empty())));
}

#[test]
fn the_sort_menu_sorts_by_the_chosen_column_and_choosing_it_again_reverses() {
    let mut app = with_leads(50);
    press(&mut app, Action::SortMenu);
    assert_eq!(app.menu.as_ref().map(|m| m.selected), Some(5), "starts on the current sort (score)");
    press(&mut app, Action::First);
    let effects = enter(&mut app);
    let [Request::ListLeads(query)] = requests(&effects)[..] else { panic!("{effects:?}") };
    assert_eq!((query.sort, query.descending), (LeadSort::Domain, false));
    press(&mut app, Action::SortMenu);
    enter(&mut app);
    assert_eq!((app.leads.sort, app.leads.descending), (LeadSort::Domain, true));
}

#[test]
fn the_reverse_key_flips_the_order_and_remembers_it() {
    let mut app = with_leads(50);
    let effects = press(&mut app, Action::ReverseSort);
    assert!(!app.leads.descending);
    assert!(effects.contains(&Effect::SaveState(UiState {
        filter: String::new(),
        sort: "score".into(),
        descending: false
    })));
}

#[test]
fn facet_values_come_from_the_daemon_and_picking_one_adds_it_to_the_filter() {
    let mut app = with_leads(50);
    press(&mut app, Action::Facets);
    press(&mut app, Action::Down);
    let effects = enter(&mut app);
    let [Request::LeadFacets { facet, .. }] = requests(&effects)[..] else { panic!("{effects:?}") };
    assert_eq!(*facet, Facet::Provider);
    let values = vec![FacetCount { value: "Google".into(), count: 12 }, FacetCount { value: "M365".into(), count: 3 }];
    update(&mut app, Msg::Answer(Answer::Facets { facet: Facet::Provider, result: Ok(values) }));
    let menu = app.menu.as_ref().expect("values menu");
    assert_eq!(menu.kind, MenuKind::FacetValues { facet: Facet::Provider });
    assert_eq!(menu.items[0].note, "12");
    press(&mut app, Action::Down);
    let effects = enter(&mut app);
    assert_eq!(app.leads.expr, "provider=M365");
    assert_eq!(app.leads.filter.providers, vec!["M365"]);
    assert_eq!(pages_asked(&app, &effects), vec![0]);
}

#[test]
fn the_favourite_facet_toggles_without_a_value_menu() {
    let mut app = with_leads(50);
    press(&mut app, Action::Facets);
    press(&mut app, Action::Last);
    enter(&mut app);
    assert!(app.leads.filter.favorites_only);
    assert_eq!(app.menu, None);
}

// --- marks and actions ---

#[test]
fn space_marks_and_moves_down_and_rescan_takes_the_marked_rows() {
    let mut app = with_leads(10);
    press(&mut app, Action::Mark);
    press(&mut app, Action::Mark);
    assert_eq!(app.leads.selected, 2);
    let effects = press(&mut app, Action::Rescan);
    assert_eq!(
        requests(&effects),
        vec![&Request::Rescan { domains: vec!["lead0.example".into(), "lead1.example".into()] }]
    );
    press(&mut app, Action::Up);
    press(&mut app, Action::Mark);
    assert_eq!(app.leads.marked.len(), 1, "marking again unmarks");
}

#[test]
fn rescan_without_marks_takes_the_selected_row_and_follows_the_batch() {
    let mut app = with_leads(10);
    press(&mut app, Action::Down);
    let effects = press(&mut app, Action::Rescan);
    assert_eq!(requests(&effects), vec![&Request::Rescan { domains: vec!["lead1.example".into()] }]);
    let answer = Queued { batch_id: Some("b1".into()), queued: 1, unknown: vec![] };
    let effects = update(&mut app, Msg::Answer(Answer::Rescan(Ok(answer))));
    assert_eq!(effects, vec![Effect::After(BATCH_POLL, Box::new(Msg::PollBatches))]);
    assert_eq!(notice(&app), "1 rescan queued");
    assert_eq!(app.progress.batches[0].label, "rescan 1 lead");
}

#[test]
fn a_followed_batch_is_polled_until_done_then_the_list_refreshes() {
    let mut app = with_leads(10);
    watch_batch(&mut app, "b1".into(), "import leads.csv".into(), 4);
    let effects = update(&mut app, Msg::PollBatches);
    assert_eq!(requests(&effects), vec![&Request::BatchProgress { batch_id: "b1".into() }]);
    assert!(effects.contains(&Effect::After(BATCH_POLL, Box::new(Msg::PollBatches))));
    let progress = |done| {
        Msg::Answer(Answer::BatchProgress { batch_id: "b1".into(), result: Ok(BatchProgress { done, total: 4 }) })
    };
    update(&mut app, progress(2));
    assert_eq!(app.progress.batches[0].done, 2);
    let effects = update(&mut app, progress(4));
    assert!(app.progress.batches.is_empty());
    assert_eq!(notice(&app), "import leads.csv: 4 domains scanned");
    assert_eq!(pages_asked(&app, &effects), vec![0]);
    assert!(update(&mut app, Msg::PollBatches).is_empty(), "polling stops");
    assert!(!app.progress.polling);
}

#[test]
fn the_add_prompt_sends_every_domain_and_reports_rejections() {
    let mut app = with_leads(0);
    press(&mut app, Action::Add);
    type_text(&mut app, "contoso.com, https://fabrikam.com/ gmail.com");
    let effects = enter(&mut app);
    let inputs: Vec<String> = ["contoso.com", "https://fabrikam.com/", "gmail.com"].map(String::from).to_vec();
    assert_eq!(requests(&effects), vec![&Request::AddDomains { inputs: inputs.clone() }]);
    let outcome = |input: &str, outcome, reason: Option<&str>| AddOutcome {
        input: input.into(),
        domain: Some(input.into()),
        outcome,
        reason: reason.map(String::from),
    };
    let report = AddReport {
        results: vec![
            outcome("contoso.com", IntakeOutcome::Accepted, None),
            outcome("fabrikam.com", IntakeOutcome::Merged, None),
            outcome("gmail.com", IntakeOutcome::Rejected, Some("free-mail provider")),
        ],
        batch_id: Some("b2".into()),
    };
    update(&mut app, Msg::Answer(Answer::Added(Ok(report))));
    assert_eq!(notice(&app), "1 added, 1 already known; rejected: gmail.com (free-mail provider)");
    assert_eq!(app.progress.batches[0].total, 2);
}

#[test]
fn an_empty_prompt_submits_nothing() {
    let mut app = with_leads(3);
    press(&mut app, Action::Add);
    assert!(enter(&mut app).is_empty());
    assert_eq!(app.prompt, None);
}

#[test]
fn tab_in_the_import_prompt_completes_a_unique_file_and_lists_several() {
    let mut app = with_leads(3);
    press(&mut app, Action::Import);
    type_text(&mut app, "data/le");
    assert_eq!(press_key(&mut app, Key::plain(KeyCode::Tab)), vec![Effect::Complete("data/le".into())]);
    let candidates = vec!["data/leads.csv".to_string(), "data/leads.xlsx".to_string()];
    update(&mut app, Msg::Completed { input: "data/le".into(), candidates });
    let prompt = app.prompt.as_ref().unwrap();
    assert_eq!((prompt.input.as_str(), prompt.hint.as_deref()), ("data/leads.", Some("leads.csv  leads.xlsx")));
    type_text(&mut app, "csv");
    assert_eq!(enter(&mut app), vec![Effect::Import("data/leads.csv".into())]);
}

#[test]
fn an_import_report_is_a_toast_and_its_batch_is_followed() {
    let mut app = with_leads(3);
    let report = ImportReport {
        file_name: "leads.csv".into(),
        accepted: 120,
        merged: 3,
        rejected: 2,
        rejected_rows: vec![protocol::RejectedRow { line: 7, reason: "not a domain".into(), raw: "x".into() }],
        batch_id: Some("b3".into()),
    };
    update(&mut app, Msg::Imported { file: "leads.csv".into(), result: Ok(report) });
    assert_eq!(notice(&app), "leads.csv: 120 accepted, 3 merged, 2 rejected (line 7: not a domain)");
    assert!(app.notice.as_ref().unwrap().error, "rejections stand out");
    assert_eq!(app.progress.batches[0].total, 123);
}

#[test]
fn the_export_prompt_suggests_a_dated_file_and_exports_the_current_query() {
    let mut app = with_leads(3);
    press(&mut app, Action::Filter);
    type_text(&mut app, "acme");
    enter(&mut app);
    press(&mut app, Action::Export);
    assert_eq!(app.prompt.as_ref().unwrap().input, "leads-2026-05-01.csv");
    let effects = enter(&mut app);
    let [Effect::Export { path, query }] = &effects[..] else { panic!("{effects:?}") };
    assert_eq!(path, &PathBuf::from("leads-2026-05-01.csv"));
    assert_eq!(query.filter.text.as_deref(), Some("acme"));
}

#[test]
fn y_copies_the_selected_domain() {
    let mut app = with_leads(3);
    press(&mut app, Action::Down);
    assert_eq!(press(&mut app, Action::Copy), vec![Effect::Copy("lead1.example".into())]);
}

#[test]
fn f_toggles_the_favourite_of_the_selected_lead() {
    let mut app = with_leads(3);
    assert_eq!(
        requests(&press(&mut app, Action::Favorite)),
        vec![&Request::SetFavorite { domain: "lead0.example".into(), favorite: true }]
    );
}

// --- detail ---

fn in_detail() -> App {
    let mut app = with_leads(3);
    press(&mut app, Action::Open);
    let domain = "lead0.example".to_string();
    update(&mut app, Msg::Answer(Answer::Lead { domain, result: Ok(Box::new(detail())) }));
    app
}

#[test]
fn enter_opens_the_detail_of_the_selected_lead_and_back_returns() {
    let mut app = with_leads(3);
    let effects = press(&mut app, Action::Open);
    assert_eq!(app.screen, Screen::Detail);
    assert_eq!(requests(&effects), vec![&Request::LeadDetail { domain: "lead0.example".into() }]);
    press(&mut app, Action::Back);
    assert_eq!((app.screen, app.quit), (Screen::Leads, false));
}

#[test]
fn the_detail_scrolls_but_not_past_its_end() {
    let mut app = in_detail();
    press(&mut app, Action::Down);
    assert_eq!(app.detail.as_ref().unwrap().scroll, 1);
    press(&mut app, Action::Last);
    let max = app.detail.as_ref().unwrap().scroll;
    assert!(max > 1);
    press(&mut app, Action::Down);
    assert_eq!(app.detail.as_ref().unwrap().scroll, max);
    press(&mut app, Action::First);
    assert_eq!(app.detail.as_ref().unwrap().scroll, 0);
}

#[test]
fn n_in_the_detail_adds_a_note_signed_by_the_user() {
    let mut app = in_detail();
    app.user = "alice".into();
    press(&mut app, Action::Note);
    type_text(&mut app, "called, wants a demo");
    let effects = enter(&mut app);
    assert_eq!(
        requests(&effects),
        vec![&Request::AddNote {
            domain: "lead0.example".into(),
            author: "alice".into(),
            body: "called, wants a demo".into()
        }]
    );
    let request = requests(&effects)[0].clone();
    let Answer::NoteAdded { domain, .. } = Answer::failed(request, String::new()) else { panic!("not a note") };
    let effects = update(&mut app, Msg::Answer(Answer::NoteAdded { domain, result: Ok(()) }));
    assert_eq!(notice(&app), "note added");
    assert!(
        requests(&effects).contains(&&Request::LeadDetail { domain: "lead0.example".into() }),
        "the detail reloads"
    );
}

#[test]
fn t_adds_a_new_tag_and_removes_an_existing_one() {
    let mut app = in_detail();
    press(&mut app, Action::Tag);
    type_text(&mut app, "Hot");
    assert_eq!(
        requests(&enter(&mut app)),
        vec![&Request::SetTag { domain: "lead0.example".into(), tag: "hot".into(), present: true }]
    );
    press(&mut app, Action::Tag);
    type_text(&mut app, "eu");
    assert_eq!(
        requests(&enter(&mut app)),
        vec![&Request::SetTag { domain: "lead0.example".into(), tag: "eu".into(), present: false }]
    );
}

#[test]
fn list_only_keys_do_nothing_in_the_detail() {
    let mut app = in_detail();
    assert!(press_key(&mut app, Key::ch('/')).is_empty());
    assert_eq!(app.prompt, None);
}

#[test]
fn a_detail_answer_for_another_lead_is_ignored() {
    let mut app = in_detail();
    let mut other = detail();
    other.row.domain = "other.example".into();
    let domain = "other.example".to_string();
    update(&mut app, Msg::Answer(Answer::Lead { domain, result: Ok(Box::new(other)) }));
    assert_eq!(app.detail.as_ref().unwrap().detail.as_ref().unwrap().row.domain, "lead0.example");
}

// --- progress ---

#[test]
fn scan_progress_events_drive_the_queue_bar_until_it_empties() {
    let mut app = connected();
    let progress = |done, total| {
        Msg::Event(Event::Progress { job: "scan".into(), done, total: Some(total), message: String::new() })
    };
    update(&mut app, progress(100, 1_100));
    update(&mut app, progress(600, 1_100));
    assert_eq!(app.progress.scan, Some(ScanQueue { waiting: 500, peak: 1_000 }));
    update(&mut app, progress(1_100, 1_100));
    assert_eq!(app.progress.scan, None);
}

#[test]
fn common_prefixes_respect_characters() {
    assert_eq!(common_prefix(&["données.csv".into(), "données.xlsx".into()]), "données.");
    assert_eq!(common_prefix(&["a".into(), "ab".into()]), "a");
    assert_eq!(common_prefix(&[]), "");
}

#[test]
fn an_empty_list_refreshes_when_leads_arrive() {
    let mut app = with_leads(0);
    update(&mut app, Msg::Event(Event::LeadsChanged { count: 1 }));
    let effects = update(&mut app, Msg::RefreshDue);
    assert_eq!(pages_asked(&app, &effects), vec![0]);
}

#[test]
fn a_failed_import_says_what_to_do() {
    let mut app = with_leads(3);
    let error = "cannot read leads.csv: No such file or directory (os error 2)".to_string();
    update(&mut app, Msg::Imported { file: "leads.csv".into(), result: Err(error) });
    assert_eq!(
        notice(&app),
        "import failed: cannot read leads.csv: No such file or directory (os error 2); check the file and try again (i imports)"
    );
}

#[test]
fn losing_the_daemon_closes_prompts_and_menus_it_would_hide() {
    let mut app = with_leads(3);
    press(&mut app, Action::Add);
    type_text(&mut app, "contoso.com");
    update(&mut app, Msg::Event(Event::ShuttingDown));
    assert_eq!((app.prompt.is_none(), app.menu.is_none()), (true, true));
    press(&mut app, Action::Back);
    assert!(app.quit, "keys act on the 'not connected' screen, not on a hidden prompt");
}

#[test]
fn p_asks_what_a_push_would_do_then_confirms_create_and_columns_before_pushing() {
    let mut app = with_leads(10);
    let domain = app.leads.selected_row().unwrap().domain.clone();
    let effects = press(&mut app, Action::Push);
    assert_eq!(requests(&effects), vec![&Request::PushPreview { domains: vec![domain.clone()] }]);
    let plan = protocol::PushPlan {
        domain: domain.clone(),
        create: true,
        fields: vec!["subject".into(), "companyname".into(), "hnt_domain".into()],
    };
    update(&mut app, Msg::Answer(Answer::PushPreview(Ok(vec![plan]))));
    let label = app.prompt.as_ref().expect("a confirmation").kind.label();
    assert!(label.contains("create subject, companyname, hnt_domain (3 columns)"), "{label}");
    type_text(&mut app, "y");
    let effects = enter(&mut app);
    assert_eq!(requests(&effects), vec![&Request::PushLeads { domains: vec![domain] }]);
}

#[test]
fn anything_but_y_cancels_the_push() {
    let mut app = with_leads(10);
    press(&mut app, Action::Push);
    let plan =
        protocol::PushPlan { domain: "lead0.example".into(), create: false, fields: vec!["hnt_finalscore".into()] };
    update(&mut app, Msg::Answer(Answer::PushPreview(Ok(vec![plan]))));
    assert!(app.prompt.as_ref().unwrap().kind.label().contains("update hnt_finalscore"));
    type_text(&mut app, "n");
    assert!(requests(&enter(&mut app)).is_empty());
    assert!(app.prompt.is_none());
}

#[test]
fn shift_p_pushes_the_marked_leads_and_asks_for_marks_when_there_are_none() {
    let mut app = with_leads(10);
    assert!(requests(&press(&mut app, Action::PushMarked)).is_empty());
    assert!(app.notice.as_ref().unwrap().text.contains("mark leads"));
    press(&mut app, Action::Mark);
    press(&mut app, Action::Down);
    press(&mut app, Action::Mark);
    let effects = press(&mut app, Action::PushMarked);
    let [Request::PushPreview { domains }] = requests(&effects)[..] else { panic!("{effects:?}") };
    assert_eq!(domains.len(), 2);
}
