//! Messages in, model changes and effects out. No I/O here: the runtime performs the effects and
//! feeds their results back as messages, so every behaviour is a plain function call in tests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use protocol::{
    DaemonStatus, Event, FAVORITE_KEY, Facet, FacetCount, ImportReport, IntakeOutcome, JobInfo, LeadCount, LeadFilter,
    LeadPage, LeadQuery, LeadSort, Request,
};

use super::filter_edit;
use super::model::{
    App, BatchWatch, Daemon, DetailState, Down, Link, Menu, MenuItem, MenuKind, NOTICE_SECS, Notice, Page, Prompt,
    PromptKind, ScanQueue, Screen,
};
use crate::client::{Answer, Queued};
use crate::humanize;
use crate::keymap::{Action, Scope};
use crate::settings::UiState;

/// How long typing may pause before the filter is applied.
pub const FILTER_DEBOUNCE: Duration = Duration::from_millis(150);

/// Lead changes reported by the daemon are applied at most this often.
pub const REFRESH_DEBOUNCE: Duration = Duration::from_secs(1);

/// How often batches started here are polled for progress.
pub const BATCH_POLL: Duration = Duration::from_millis(500);

/// Something that happened: a key, a tick, or news from the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Key(KeyEvent),
    /// The clock moved on (once a second).
    Tick(DateTime<Utc>),
    /// The terminal has a new size.
    Resize(u16, u16),
    /// Handshake, subscription and a first status all succeeded.
    Connected(Box<DaemonStatus>),
    /// A connection attempt failed; another follows in a moment.
    ConnectFailed(Down),
    /// An established connection ended.
    Disconnected(Down),
    Event(Event),
    /// The daemon's answer to a request we sent.
    Answer(Answer),
    /// The filter debounce timer for keystroke number `0` ran out.
    FilterDue(u64),
    /// Time to apply the lead changes the daemon reported.
    RefreshDue,
    /// Time to ask how far the followed batches are.
    PollBatches,
    Imported {
        file: String,
        result: Result<ImportReport, String>,
    },
    Exported {
        path: String,
        result: Result<u64, String>,
    },
    /// File names completing `input` (directories end with `/`).
    Completed {
        input: String,
        candidates: Vec<String>,
    },
    /// Something the runtime could not do, said so the user knows what to fix.
    Problem(String),
}

/// Work for the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Request),
    /// Deliver the message after a while (debounces and polling).
    After(Duration, Box<Msg>),
    /// Upload a file to import.
    Import(PathBuf),
    /// Write every lead matching the query (all pages) to a CSV file.
    Export {
        path: PathBuf,
        query: Box<LeadQuery>,
    },
    /// Put text on the clipboard (OSC 52).
    Copy(String),
    /// List file names completing a path.
    Complete(String),
    /// Remember filter and sort for the next run.
    SaveState(UiState),
}

/// Applies one message to the model.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(app, &key),
        Msg::Tick(now) => on_tick(app, now),
        Msg::Resize(width, height) => {
            app.size = (width, height);
            fetch_leads(app)
        }
        Msg::Connected(status) => on_connected(app, &status),
        Msg::ConnectFailed(down) => {
            go_down(app, down);
            vec![]
        }
        Msg::Disconnected(down) => {
            // Keep the more precise reason (e.g. "stopped") if we already know the link is down.
            if matches!(app.link, Link::Up(_) | Link::Connecting) {
                go_down(app, down);
            }
            vec![]
        }
        Msg::Event(event) => on_event(app, event),
        Msg::Answer(answer) => on_answer(app, answer),
        Msg::FilterDue(seq) => on_filter_due(app, seq),
        Msg::RefreshDue => {
            app.refresh_scheduled = false;
            refresh(app)
        }
        Msg::PollBatches => poll_batches(app),
        Msg::Imported { file, result } => on_imported(app, file, result),
        Msg::Exported { path, result } => {
            match result {
                Ok(rows) => {
                    notify(app, format!("exported {} to {path}", humanize::count(rows as usize, "lead")), false)
                }
                Err(e) => notify(app, format!("export to {path} failed: {e}; check the path and try again"), true),
            }
            vec![]
        }
        Msg::Completed { input, candidates } => {
            on_completed(app, &input, candidates);
            vec![]
        }
        Msg::Problem(text) => {
            notify(app, text, true);
            vec![]
        }
    }
}

/// The keymap scope for the current state: the help overlay and the "not connected" screen
/// only take global keys.
fn scope(app: &App) -> Scope {
    match app.link {
        Link::Up(_) if !app.help => app.screen.scope(),
        _ => Scope::Global,
    }
}

fn on_key(app: &mut App, key: &KeyEvent) -> Vec<Effect> {
    if key.kind == KeyEventKind::Release {
        return vec![];
    }
    if app.prompt.is_some() && !app.help {
        return on_prompt_key(app, key);
    }
    let action = app.keymap.action_for(key, scope(app));
    if app.menu.is_some() && !app.help {
        return match action {
            Some(action) => on_menu_action(app, action),
            None => vec![],
        };
    }
    match action {
        Some(action) => on_action(app, action),
        None => vec![],
    }
}

fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    if app.help {
        match action {
            Action::Quit => app.quit = true,
            Action::Back | Action::ToggleHelp => app.help = false,
            _ => {}
        }
        return vec![];
    }
    if action == Action::Quit {
        app.quit = true;
        return vec![];
    }
    if action == Action::ToggleHelp {
        app.help = true;
        return vec![];
    }
    if !app.connected() {
        if action == Action::Back {
            app.quit = true;
        }
        return vec![];
    }
    match app.screen {
        Screen::Leads => on_leads_action(app, action),
        Screen::Detail => on_detail_action(app, action),
        Screen::Sync => on_sync_action(app, action),
    }
}

fn on_sync_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Back | Action::ToggleSync => {
            app.screen = Screen::Leads;
            fetch_leads(app)
        }
        Action::Up | Action::Down | Action::First | Action::Last | Action::PageUp | Action::PageDown => {
            move_job_selection(app, action);
            vec![]
        }
        Action::RunJob => run_selected_job(app),
        _ => vec![],
    }
}

fn on_leads_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Back => {
            app.quit = true;
            vec![]
        }
        Action::ToggleSync => {
            app.screen = Screen::Sync;
            vec![]
        }
        Action::Up | Action::Down | Action::First | Action::Last | Action::PageUp | Action::PageDown => {
            move_lead_selection(app, action);
            fetch_leads(app)
        }
        Action::Open => open_detail(app),
        Action::Filter => {
            let before = app.leads.expr.clone();
            open_prompt(app, PromptKind::Filter { before: before.clone() }, before);
            vec![]
        }
        Action::ClearFilter => {
            if app.leads.expr.is_empty() {
                return vec![];
            }
            let mut effects = apply_filter(app, "");
            effects.push(save_state(app));
            effects
        }
        Action::Facets => {
            open_facets_menu(app);
            vec![]
        }
        Action::SortMenu => {
            open_sort_menu(app);
            vec![]
        }
        Action::ReverseSort => {
            let (sort, descending) = (app.leads.sort, !app.leads.descending);
            set_sort(app, sort, descending)
        }
        Action::Mark => {
            if let Some(domain) = app.leads.selected_row().map(|r| r.domain.clone()) {
                if !app.leads.marked.remove(&domain) {
                    app.leads.marked.insert(domain);
                }
                move_lead_selection(app, Action::Down);
                return fetch_leads(app);
            }
            vec![]
        }
        Action::ClearMarks => {
            app.leads.marked.clear();
            vec![]
        }
        Action::Add => {
            open_prompt(app, PromptKind::Add, String::new());
            vec![]
        }
        Action::Import => {
            open_prompt(app, PromptKind::Import, String::new());
            vec![]
        }
        Action::Export => {
            let name = format!("leads-{}.csv", app.now.format("%Y-%m-%d"));
            open_prompt(app, PromptKind::Export, name);
            vec![]
        }
        Action::Rescan => rescan(app, app.leads.targets()),
        Action::Copy | Action::Note | Action::Tag | Action::Favorite => lead_action(app, action),
        _ => vec![],
    }
}

fn on_detail_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Back => {
            app.screen = Screen::Leads;
            app.detail = None;
            fetch_leads(app)
        }
        Action::ToggleSync => {
            app.screen = Screen::Sync;
            app.detail = None;
            vec![]
        }
        Action::Up | Action::Down | Action::First | Action::Last | Action::PageUp | Action::PageDown => {
            scroll_detail(app, action);
            vec![]
        }
        Action::Rescan => {
            let domains = app.current_domain().into_iter().collect();
            rescan(app, domains)
        }
        Action::Copy | Action::Note | Action::Tag | Action::Favorite => lead_action(app, action),
        _ => vec![],
    }
}

/// Actions on the lead under the cursor (leads view) or on screen (detail).
fn lead_action(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(domain) = app.current_domain() else {
        return vec![];
    };
    match action {
        Action::Copy => {
            notify(app, format!("copied {domain}"), false);
            vec![Effect::Copy(domain)]
        }
        Action::Note => {
            open_prompt(app, PromptKind::Note { domain }, String::new());
            vec![]
        }
        Action::Tag => {
            let tags = app.current_row().map(|r| r.tags.clone()).unwrap_or_default();
            open_prompt(app, PromptKind::Tag { domain, tags }, String::new());
            vec![]
        }
        Action::Favorite => {
            let favorite = !app.current_row().is_some_and(|r| r.favorite);
            vec![Effect::Send(Request::SetFavorite { domain, favorite })]
        }
        _ => vec![],
    }
}

fn rescan(app: &mut App, domains: Vec<String>) -> Vec<Effect> {
    if domains.is_empty() {
        return vec![];
    }
    notify(app, format!("asking hunterd to rescan {}…", humanize::count(domains.len(), "lead")), false);
    vec![Effect::Send(Request::Rescan { domains })]
}

fn open_detail(app: &mut App) -> Vec<Effect> {
    let Some(domain) = app.leads.selected_row().map(|r| r.domain.clone()) else {
        return vec![];
    };
    app.screen = Screen::Detail;
    app.detail = Some(DetailState::new(domain.clone()));
    vec![Effect::Send(Request::LeadDetail { domain })]
}

fn scroll_detail(app: &mut App, action: Action) {
    let page = app.size.1.saturating_sub(6).max(1);
    let max = super::view::detail_max_scroll(app);
    let Some(detail) = app.detail.as_mut() else { return };
    detail.scroll = match action {
        Action::Up => detail.scroll.saturating_sub(1),
        Action::Down => detail.scroll.saturating_add(1),
        Action::PageUp => detail.scroll.saturating_sub(page),
        Action::PageDown => detail.scroll.saturating_add(page),
        Action::First => 0,
        _ => max,
    }
    .min(max);
}

fn move_lead_selection(app: &mut App, action: Action) {
    let visible = app.visible_rows().max(1);
    let list = &mut app.leads;
    let last = list.total.unwrap_or(0).saturating_sub(1);
    list.selected = match action {
        Action::Up => list.selected.saturating_sub(1),
        Action::Down => (list.selected + 1).min(last),
        Action::PageUp => {
            list.top = list.top.saturating_sub(visible);
            list.selected.saturating_sub(visible)
        }
        Action::PageDown => {
            list.top = (list.top + visible).min(last.saturating_sub(visible - 1));
            (list.selected + visible).min(last)
        }
        Action::First => 0,
        Action::Last => last,
        _ => list.selected,
    };
    list.clamp(visible);
}

fn move_job_selection(app: &mut App, action: Action) {
    if app.jobs.is_empty() {
        return;
    }
    let last = app.jobs.len() - 1;
    app.selected_job = match action {
        Action::Up | Action::PageUp => app.selected_job.saturating_sub(1),
        Action::Down | Action::PageDown => (app.selected_job + 1).min(last),
        Action::First => 0,
        Action::Last => last,
        _ => app.selected_job,
    };
}

fn run_selected_job(app: &mut App) -> Vec<Effect> {
    let Some(name) = app.selected().map(|j| j.name.clone()) else {
        return vec![];
    };
    notify(app, format!("asked hunterd to run {name}…"), false);
    vec![Effect::Send(Request::RunJob { name })]
}

/// Asks for the pages the viewport needs and forgets far ones.
fn fetch_leads(app: &mut App) -> Vec<Effect> {
    if !app.connected() {
        return vec![];
    }
    let visible = app.visible_rows();
    app.leads.clamp(visible);
    app.leads.evict(visible);
    let mut effects = Vec::new();
    for page in app.leads.pages_to_fetch(visible) {
        let Some((seek, limit)) = app.leads.seek_for(page) else { continue };
        app.leads.requested.insert(page, seek.clone());
        let query = LeadQuery { seek, limit, ..app.leads.query() };
        effects.push(Effect::Send(Request::ListLeads(Box::new(query))));
    }
    effects
}

/// Asks how many leads the filter matches (once per filter change, and after data changes).
fn count_leads(app: &App) -> Vec<Effect> {
    if !app.connected() {
        return vec![];
    }
    vec![Effect::Send(Request::CountLeads(Box::new(app.leads.filter.clone())))]
}

/// Lead data changed: fetch the rows on screen again (keeping them shown meanwhile) and the
/// open detail.
fn refresh(app: &mut App) -> Vec<Effect> {
    app.leads.mark_stale();
    let mut effects = fetch_leads(app);
    effects.extend(count_leads(app));
    if app.connected()
        && app.screen == Screen::Detail
        && let Some(detail) = &app.detail
    {
        effects.push(Effect::Send(Request::LeadDetail { domain: detail.domain.clone() }));
    }
    effects
}

/// Applies a filter expression if it parses; returns why not otherwise.
fn try_filter(app: &mut App, expr: &str) -> Result<Vec<Effect>, String> {
    let filter = LeadFilter::parse(expr).map_err(|e| e.to_string())?;
    app.leads.expr = expr.split_whitespace().collect::<Vec<_>>().join(" ");
    if filter == app.leads.filter {
        return Ok(vec![]);
    }
    app.leads.filter = filter;
    app.leads.count = None;
    app.leads.reset();
    let mut effects = fetch_leads(app);
    effects.extend(count_leads(app));
    Ok(effects)
}

/// Applies an expression known to parse (from the facet menu or a clear).
fn apply_filter(app: &mut App, expr: &str) -> Vec<Effect> {
    match try_filter(app, expr) {
        Ok(effects) => effects,
        Err(e) => {
            notify(app, e, true);
            vec![]
        }
    }
}

fn set_sort(app: &mut App, sort: LeadSort, descending: bool) -> Vec<Effect> {
    app.leads.sort = sort;
    app.leads.descending = descending;
    app.leads.reset();
    let mut effects = fetch_leads(app);
    effects.push(save_state(app));
    effects
}

fn save_state(app: &App) -> Effect {
    Effect::SaveState(app.leads.state())
}

/// Sorting by a column starts with the order people want first: best scores, P1, newest scans.
fn default_descending(sort: LeadSort) -> bool {
    matches!(sort, LeadSort::Score | LeadSort::ScannedAt)
}

/// The column title a sort key is shown under.
pub fn sort_label(sort: LeadSort) -> &'static str {
    match sort {
        LeadSort::Domain => "Domain",
        LeadSort::Company => "Company",
        LeadSort::Provider => "Provider",
        LeadSort::Gateway => "Gateway",
        LeadSort::Segment => "Segment",
        LeadSort::Score => "Score",
        LeadSort::Priority => "Priority",
        LeadSort::CommercialSegment => "Commercial segment",
        LeadSort::TechnicalHeat => "Heat",
        LeadSort::CommercialHeat => "Commercial heat",
        LeadSort::ScanStatus => "Scan status",
        LeadSort::ScannedAt => "Last scan",
    }
}

fn open_sort_menu(app: &mut App) {
    let items: Vec<MenuItem> = LeadSort::ALL
        .iter()
        .map(|s| {
            let active = *s == app.leads.sort;
            let note =
                if active { if app.leads.descending { "↓ (again: ↑)" } else { "↑ (again: ↓)" } } else { "" };
            MenuItem { label: sort_label(*s).into(), note: note.into(), value: s.name().into(), active }
        })
        .collect();
    let selected = items.iter().position(|i| i.active).unwrap_or(0);
    app.menu = Some(Menu { kind: MenuKind::Sort, title: "Sort by".into(), items, selected });
}

fn open_facets_menu(app: &mut App) {
    let facets = Facet::ALL.into_iter().map(|facet| MenuItem {
        label: facet.key().to_string(),
        note: facet.description().to_string(),
        value: facet.key().to_string(),
        active: !facet.values(&app.leads.filter).is_empty(),
    });
    let (key, description) = FAVORITE_KEY;
    let favorite = MenuItem {
        label: key.to_string(),
        note: description.to_string(),
        value: key.to_string(),
        active: app.leads.filter.favorites_only,
    };
    let items = facets.chain(std::iter::once(favorite)).collect();
    app.menu = Some(Menu { kind: MenuKind::Facets, title: "Filter by".into(), items, selected: 0 });
}

fn open_facet_values(app: &mut App, facet: Facet, values: Vec<FacetCount>) {
    let chosen = facet.values(&app.leads.filter);
    let items: Vec<MenuItem> = values
        .into_iter()
        .map(|v| {
            let active = chosen.iter().any(|c| c.eq_ignore_ascii_case(&v.value));
            let note = if v.count > 0 { humanize::thousands(v.count) } else { String::new() };
            MenuItem { label: v.value.clone(), note, value: v.value, active }
        })
        .collect();
    let key = facet.key();
    if items.is_empty() {
        app.menu = None;
        notify(app, format!("no lead has a {key} yet"), false);
        return;
    }
    app.menu = Some(Menu {
        kind: MenuKind::FacetValues { facet },
        title: format!("{key} (Enter adds or removes)"),
        items,
        selected: 0,
    });
}

fn on_menu_action(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(menu) = app.menu.as_mut() else { return vec![] };
    let last = menu.items.len().saturating_sub(1);
    match action {
        Action::Quit => app.quit = true,
        Action::Back => app.menu = None,
        Action::Up => menu.selected = menu.selected.saturating_sub(1),
        Action::Down => menu.selected = (menu.selected + 1).min(last),
        Action::First | Action::PageUp => menu.selected = 0,
        Action::Last | Action::PageDown => menu.selected = last,
        Action::Open => return choose_menu_item(app),
        _ => {}
    }
    vec![]
}

fn choose_menu_item(app: &mut App) -> Vec<Effect> {
    let Some(menu) = app.menu.take() else { return vec![] };
    let Some(item) = menu.items.get(menu.selected).cloned() else { return vec![] };
    match menu.kind {
        MenuKind::Sort => {
            let Some(sort) = LeadSort::from_name(&item.value) else { return vec![] };
            let descending = if sort == app.leads.sort { !app.leads.descending } else { default_descending(sort) };
            set_sort(app, sort, descending)
        }
        MenuKind::Facets => {
            let Some(facet) = Facet::from_key(&item.value) else {
                // The one item that is not a facet: favourites.
                let expr = filter_edit::toggle_favorite(&app.leads.expr);
                let mut effects = apply_filter(app, &expr);
                effects.push(save_state(app));
                return effects;
            };
            match facet.fixed_values() {
                Some(values) => {
                    let values = values.iter().map(|v| FacetCount { value: v.to_string(), count: 0 }).collect();
                    open_facet_values(app, facet, values);
                    vec![]
                }
                None => {
                    notify(app, format!("counting {} values…", facet.key()), false);
                    vec![Effect::Send(Request::LeadFacets { facet, filter: Box::new(app.leads.filter.clone()) })]
                }
            }
        }
        MenuKind::FacetValues { facet } => {
            let expr = if filter_edit::expressible(&item.value) {
                filter_edit::toggle_value(&app.leads.expr, facet, &item.value)
            } else {
                // Terms are split on spaces: such a value can only be searched for as text.
                notify(app, format!("`{}` has spaces: filtering by its text instead", item.value), false);
                format!("{} {}", app.leads.expr, item.value)
            };
            let mut effects = apply_filter(app, &expr);
            effects.push(save_state(app));
            effects
        }
    }
}

fn open_prompt(app: &mut App, kind: PromptKind, input: String) {
    app.prompt = Some(Prompt { kind, input, hint: None, hint_is_error: false });
}

/// Text editing in a prompt: typing, Backspace, Ctrl-U (clear), Ctrl-W (delete a word), Tab
/// (complete a path), Enter (submit), Esc (cancel). Ctrl-C still quits.
fn on_prompt_key(app: &mut App, key: &KeyEvent) -> Vec<Effect> {
    let Some(prompt) = app.prompt.as_mut() else { return vec![] };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => return cancel_prompt(app),
        KeyCode::Enter => return submit_prompt(app),
        KeyCode::Tab if prompt.kind.completes_paths() => return vec![Effect::Complete(prompt.input.clone())],
        KeyCode::Char('c') if ctrl => {
            app.quit = true;
            return vec![];
        }
        KeyCode::Char('u') if ctrl => prompt.input.clear(),
        KeyCode::Char('w') if ctrl => {
            let kept = prompt.input.trim_end().rfind(char::is_whitespace).map_or(0, |i| i + 1);
            prompt.input.truncate(kept);
        }
        KeyCode::Backspace => {
            prompt.input.pop();
        }
        KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => prompt.input.push(c),
        _ => return vec![],
    }
    prompt.hint = None;
    if matches!(prompt.kind, PromptKind::Filter { .. }) {
        app.filter_seq += 1;
        return vec![Effect::After(FILTER_DEBOUNCE, Box::new(Msg::FilterDue(app.filter_seq)))];
    }
    vec![]
}

fn on_filter_due(app: &mut App, seq: u64) -> Vec<Effect> {
    if seq != app.filter_seq {
        return vec![];
    }
    let Some(Prompt { kind: PromptKind::Filter { .. }, input, .. }) = &app.prompt else { return vec![] };
    let input = input.clone();
    match try_filter(app, &input) {
        Ok(effects) => effects,
        Err(e) => {
            set_prompt_hint(app, e, true);
            vec![]
        }
    }
}

fn set_prompt_hint(app: &mut App, hint: String, error: bool) {
    if let Some(prompt) = app.prompt.as_mut() {
        prompt.hint = Some(hint);
        prompt.hint_is_error = error;
    }
}

fn cancel_prompt(app: &mut App) -> Vec<Effect> {
    let Some(prompt) = app.prompt.take() else { return vec![] };
    match prompt.kind {
        PromptKind::Filter { before } => apply_filter(app, &before),
        _ => vec![],
    }
}

fn submit_prompt(app: &mut App) -> Vec<Effect> {
    let Some(prompt) = app.prompt.clone() else { return vec![] };
    let input = prompt.input.trim().to_string();
    match prompt.kind {
        PromptKind::Filter { .. } => match try_filter(app, &input) {
            Ok(mut effects) => {
                app.prompt = None;
                effects.push(save_state(app));
                effects
            }
            Err(e) => {
                set_prompt_hint(app, e, true);
                vec![]
            }
        },
        _ if input.is_empty() => {
            app.prompt = None;
            vec![]
        }
        PromptKind::Add => {
            app.prompt = None;
            let inputs: Vec<String> = input
                .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            notify(app, format!("adding {}…", humanize::count(inputs.len(), "domain")), false);
            vec![Effect::Send(Request::AddDomains { inputs })]
        }
        PromptKind::Import => {
            app.prompt = None;
            notify(app, format!("uploading {input}…"), false);
            vec![Effect::Import(PathBuf::from(input))]
        }
        PromptKind::Export => {
            app.prompt = None;
            let total = app.leads.total.unwrap_or(0);
            notify(app, format!("exporting {}…", humanize::count(total as usize, "lead")), false);
            vec![Effect::Export { path: PathBuf::from(input), query: Box::new(app.leads.query()) }]
        }
        PromptKind::Note { domain } => {
            app.prompt = None;
            vec![Effect::Send(Request::AddNote { domain, author: app.user.clone(), body: input })]
        }
        PromptKind::Tag { domain, tags } => {
            app.prompt = None;
            let tag = input.to_lowercase();
            let present = !tags.contains(&tag);
            vec![Effect::Send(Request::SetTag { domain, tag, present })]
        }
    }
}

fn on_completed(app: &mut App, input: &str, mut candidates: Vec<String>) {
    let Some(prompt) = app.prompt.as_mut() else { return };
    if prompt.input != input {
        return;
    }
    candidates.sort();
    match candidates.len() {
        0 => {
            prompt.hint = Some("no file matches".into());
            prompt.hint_is_error = true;
        }
        1 => {
            prompt.input = candidates.remove(0);
            prompt.hint = None;
        }
        _ => {
            prompt.input = common_prefix(&candidates);
            let names: Vec<&str> =
                candidates.iter().map(|c| c.trim_end_matches('/').rsplit('/').next().unwrap_or(c)).collect();
            prompt.hint = Some(names.join("  "));
            prompt.hint_is_error = false;
        }
    }
}

/// The longest prefix all candidates share (on character boundaries).
pub fn common_prefix(candidates: &[String]) -> String {
    let Some(first) = candidates.first() else { return String::new() };
    let mut prefix: &str = first;
    for other in &candidates[1..] {
        let end = prefix
            .char_indices()
            .zip(other.chars())
            .find(|((_, a), b)| a != b)
            .map_or(prefix.len().min(other.len()), |((i, _), _)| i);
        prefix = &prefix[..end];
    }
    prefix.to_string()
}

fn on_tick(app: &mut App, now: DateTime<Utc>) -> Vec<Effect> {
    app.now = now;
    if app.notice.as_ref().is_some_and(|n| (now - n.at).num_seconds() >= NOTICE_SECS) {
        app.notice = None;
    }
    // A failed page is retried once a second until the daemon answers.
    if app.leads.error.is_some() { fetch_leads(app) } else { vec![] }
}

fn on_connected(app: &mut App, status: &DaemonStatus) -> Vec<Effect> {
    let reconnected = matches!(app.link, Link::Down(_));
    app.link = Link::Up(Daemon::from_status(status, app.now));
    set_jobs(app, status.jobs.clone());
    if reconnected {
        notify(app, "reconnected to hunterd".into(), false);
    }
    // Requests made before the drop were answered with errors or not at all: start over.
    app.leads.requested.clear();
    let mut effects = refresh(app);
    if !app.progress.batches.is_empty() {
        app.progress.polling = true;
        effects.push(Effect::After(BATCH_POLL, Box::new(Msg::PollBatches)));
    }
    effects
}

/// The daemon is away: what we knew about its jobs is stale, so it goes, and so do menus and
/// prompts the "not connected" screen would hide.
fn go_down(app: &mut App, down: Down) {
    app.link = Link::Down(down);
    app.menu = None;
    app.prompt = None;
    app.jobs.clear();
    app.selected_job = 0;
    app.leads.requested.clear();
    app.progress.scan = None;
    app.progress.polling = false;
}

fn on_event(app: &mut App, event: Event) -> Vec<Effect> {
    match event {
        Event::JobChanged(job) => upsert_job(app, job),
        Event::Progress { job, done, total, message } => {
            if let (true, Some(total)) = (job == "scan", total) {
                on_scan_progress(app, total.saturating_sub(done));
            } else {
                let count = total.map_or_else(|| done.to_string(), |t| format!("{done}/{t}"));
                notify(app, format!("{job}: {message} ({count})"), false);
            }
        }
        Event::ShuttingDown => go_down(app, Down::Stopped),
        Event::LeadsChanged { .. } if !app.refresh_scheduled => {
            app.refresh_scheduled = true;
            return vec![Effect::After(REFRESH_DEBOUNCE, Box::new(Msg::RefreshDue))];
        }
        Event::LeadsChanged { .. } => {}
        // Some job changes were dropped for us: ask for the whole picture again.
        Event::Lagged { .. } => {
            let mut effects = vec![Effect::Send(Request::Status)];
            effects.extend(refresh(app));
            return effects;
        }
    }
    vec![]
}

fn on_scan_progress(app: &mut App, waiting: u64) {
    if waiting == 0 {
        app.progress.scan = None;
        return;
    }
    let peak = app.progress.scan.as_ref().map_or(waiting, |q| q.peak.max(waiting));
    app.progress.scan = Some(ScanQueue { waiting, peak });
}

/// Follows a batch started here until its scans are done.
fn watch_batch(app: &mut App, id: String, label: String, total: u64) -> Vec<Effect> {
    app.progress.batches.push(BatchWatch { id, label, done: 0, total });
    if app.progress.polling {
        return vec![];
    }
    app.progress.polling = true;
    vec![Effect::After(BATCH_POLL, Box::new(Msg::PollBatches))]
}

fn poll_batches(app: &mut App) -> Vec<Effect> {
    if app.progress.batches.is_empty() || !app.connected() {
        app.progress.polling = false;
        return vec![];
    }
    let mut effects: Vec<Effect> =
        app.progress.batches.iter().map(|b| Effect::Send(Request::BatchProgress { batch_id: b.id.clone() })).collect();
    effects.push(Effect::After(BATCH_POLL, Box::new(Msg::PollBatches)));
    effects
}

fn on_batch_progress(app: &mut App, batch_id: &str, done: u64, total: u64) -> Vec<Effect> {
    let Some(index) = app.progress.batches.iter().position(|b| b.id == batch_id) else { return vec![] };
    if done < total {
        let watch = &mut app.progress.batches[index];
        watch.done = done;
        watch.total = total;
        return vec![];
    }
    let watch = app.progress.batches.remove(index);
    notify(app, format!("{}: {} scanned", watch.label, humanize::count(total as usize, "domain")), false);
    refresh(app)
}

fn on_answer(app: &mut App, answer: Answer) -> Vec<Effect> {
    match answer {
        Answer::Leads { query, result } => on_lead_page(app, &query, result),
        Answer::LeadCount { filter, result } => on_lead_count(app, &filter, result),
        Answer::Lead { domain, result } => {
            if let Some(detail) = app.detail.as_mut().filter(|d| d.domain == domain) {
                match result {
                    Ok(lead) => {
                        detail.detail = Some(Arc::from(lead));
                        detail.error = None;
                    }
                    Err(e) => detail.error = Some(e),
                }
            }
            vec![]
        }
        Answer::Facets { facet, result: Ok(values) } => {
            if app.notice.as_ref().is_some_and(|n| n.text.starts_with("counting")) {
                app.notice = None;
            }
            open_facet_values(app, facet, values);
            vec![]
        }
        Answer::Facets { facet, result: Err(e) } => {
            notify(app, format!("could not list {} values: {e}", facet.key()), true);
            vec![]
        }
        Answer::Added(Ok(report)) => {
            let count = |o: IntakeOutcome| report.results.iter().filter(|r| r.outcome == o).count();
            let (accepted, merged) = (count(IntakeOutcome::Accepted), count(IntakeOutcome::Merged));
            let rejected: Vec<String> = report
                .results
                .iter()
                .filter(|r| r.outcome == IntakeOutcome::Rejected)
                .map(|r| format!("{} ({})", r.input, r.reason.as_deref().unwrap_or("invalid")))
                .collect();
            let mut text = format!("{accepted} added, {merged} already known");
            if !rejected.is_empty() {
                text.push_str(&format!("; rejected: {}", rejected.join(", ")));
            }
            notify(app, text, !rejected.is_empty());
            let mut effects = refresh(app);
            if let Some(batch) = report.batch_id {
                let label = format!("add {}", humanize::count(accepted + merged, "domain"));
                effects.extend(watch_batch(app, batch, label, (accepted + merged) as u64));
            }
            effects
        }
        Answer::Added(Err(error)) => failed(app, "add failed", error),
        Answer::Rescan(Ok(Queued { batch_id, queued, unknown })) => {
            let mut text = format!("{} queued", humanize::count(queued as usize, "rescan"));
            if !unknown.is_empty() {
                text.push_str(&format!("; unknown: {}", unknown.join(", ")));
            }
            notify(app, text, !unknown.is_empty());
            match batch_id {
                Some(batch) => {
                    watch_batch(app, batch, format!("rescan {}", humanize::count(queued as usize, "lead")), queued)
                }
                None => vec![],
            }
        }
        Answer::Rescan(Err(error)) | Answer::RescanAll(Err(error)) => failed(app, "rescan failed", error),
        Answer::BatchProgress { batch_id, result: Ok(p) } => on_batch_progress(app, &batch_id, p.done, p.total),
        Answer::BatchProgress { batch_id, result: Err(e) } => {
            // A batch the daemon no longer knows will never finish: stop following it.
            if app.connected() {
                app.progress.batches.retain(|b| b.id != batch_id);
                notify(app, format!("lost track of a batch: {e}"), true);
            }
            vec![]
        }
        Answer::NoteAdded { result: Ok(()), .. } => {
            notify(app, "note added".into(), false);
            refresh(app)
        }
        Answer::NoteAdded { result: Err(error), .. } => failed(app, "note not saved", error),
        Answer::TagSet { domain, tag, present, result: Ok(()) } => {
            let verb = if present { "tagged" } else { "untagged" };
            notify(app, format!("{verb} {domain}: {tag}"), false);
            refresh(app)
        }
        Answer::TagSet { result: Err(error), .. } => failed(app, "tag not changed", error),
        Answer::FavoriteSet { domain, favorite, result: Ok(()) } => {
            let text = if favorite {
                format!("{domain} is a favourite")
            } else {
                format!("{domain} is no longer a favourite")
            };
            notify(app, text, false);
            refresh(app)
        }
        Answer::FavoriteSet { result: Err(error), .. } => failed(app, "favourite not changed", error),
        Answer::Status(Ok(status)) => {
            if let Link::Up(daemon) = &mut app.link {
                *daemon = Daemon::from_status(&status, app.now);
            }
            set_jobs(app, status.jobs);
            vec![]
        }
        Answer::Jobs(Ok(jobs)) => {
            set_jobs(app, jobs);
            vec![]
        }
        Answer::RunJob { name, result: Ok(()) } => {
            notify(app, format!("{name} started"), false);
            vec![]
        }
        Answer::RunJob { name, result: Err(error) } => {
            notify(app, format!("could not run {name}: {error}"), true);
            vec![]
        }
        // Nothing to show when these succeed (the UI does not send them today).
        Answer::RescanAll(Ok(_))
        | Answer::Pong(Ok(()))
        | Answer::Subscribed(Ok(()))
        | Answer::Unsubscribed(Ok(()))
        | Answer::ImportStarted(Ok(_))
        | Answer::ChunkStored(Ok(()))
        | Answer::Imported(Ok(_))
        | Answer::Changes(Ok(_)) => vec![],
        Answer::Status(Err(error))
        | Answer::Jobs(Err(error))
        | Answer::Pong(Err(error))
        | Answer::Subscribed(Err(error))
        | Answer::Unsubscribed(Err(error))
        | Answer::ImportStarted(Err(error))
        | Answer::ChunkStored(Err(error))
        | Answer::Imported(Err(error))
        | Answer::Changes(Err(error)) => failed(app, "request failed", error),
    }
}

/// A request failed: say which, and why.
fn failed(app: &mut App, what: &str, error: String) -> Vec<Effect> {
    notify(app, format!("{what}: {error}"), true);
    vec![]
}

fn on_lead_page(app: &mut App, query: &LeadQuery, result: Result<LeadPage, String>) -> Vec<Effect> {
    if !app.leads.is_current(query) {
        return vec![];
    }
    let Some(page) = app.leads.page_of(&query.seek) else { return vec![] };
    app.leads.requested.remove(&page);
    match result {
        Ok(answer) => {
            app.leads.error = None;
            app.leads.learn_extent(page, &query.seek, answer.rows.len() as u64);
            let LeadPage { rows, first, last } = answer;
            app.leads.pages.insert(page, Page { rows: Arc::new(rows), stale: false, first, last });
            // The count may have changed: keep the selection inside and fetch what is now in view.
            fetch_leads(app)
        }
        Err(e) => {
            app.leads.error = Some(e);
            vec![]
        }
    }
}

fn on_lead_count(app: &mut App, filter: &LeadFilter, result: Result<LeadCount, String>) -> Vec<Effect> {
    if *filter != app.leads.filter {
        return vec![];
    }
    match result {
        Ok(count) => {
            app.leads.count = Some(count);
            app.leads.total = Some(count.count);
            fetch_leads(app)
        }
        Err(e) => failed(app, "could not count leads", e),
    }
}

fn on_imported(app: &mut App, file: String, result: Result<ImportReport, String>) -> Vec<Effect> {
    match result {
        Ok(report) => {
            let mut text =
                format!("{file}: {} accepted, {} merged, {} rejected", report.accepted, report.merged, report.rejected);
            if let Some(first) = report.rejected_rows.first() {
                text.push_str(&format!(" (line {}: {})", first.line, first.reason));
            }
            notify(app, text, report.rejected > 0);
            let mut effects = refresh(app);
            if let Some(batch) = report.batch_id {
                let total = report.accepted + report.merged;
                effects.extend(watch_batch(app, batch, format!("import {file}"), total));
            }
            effects
        }
        Err(e) => {
            notify(
                app,
                format!(
                    "import failed: {e}; check the file and try again ({} imports)",
                    app.keymap.key_for(Action::Import)
                ),
                true,
            );
            vec![]
        }
    }
}

fn set_jobs(app: &mut App, jobs: Vec<JobInfo>) {
    app.jobs = jobs;
    app.selected_job = app.selected_job.min(app.jobs.len().saturating_sub(1));
}

/// Replaces the job with the same name, or adds it (a daemon may gain jobs when a feature is on).
fn upsert_job(app: &mut App, job: JobInfo) {
    match app.jobs.iter_mut().find(|j| j.name == job.name) {
        Some(slot) => *slot = job,
        None => app.jobs.push(job),
    }
}

pub fn notify(app: &mut App, text: String, error: bool) {
    app.notice = Some(Notice { text, error, at: app.now });
}

#[cfg(test)]
mod tests;
