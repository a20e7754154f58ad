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
use super::layout;
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
            let mut effects = fetch_leads(app);
            if app.screen == Screen::Referrals {
                effects.extend(fetch_inbox(app));
            }
            effects
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

/// Asks for the pages the viewport needs and forgets far ones.
fn fetch_leads(app: &mut App) -> Vec<Effect> {
    if !app.connected() {
        return vec![];
    }
    let visible = layout::visible_rows(app);
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
fn count_leads(app: &mut App) -> Vec<Effect> {
    if !app.connected() {
        return vec![];
    }
    app.leads.counting = true;
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
    // Links change the inbox; and its count of expiring referrals shows on every screen.
    effects.extend(refresh_inbox(app));
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

fn on_tick(app: &mut App, now: DateTime<Utc>) -> Vec<Effect> {
    app.now = now;
    if app.notice.as_ref().is_some_and(|n| (now - n.at).num_seconds() >= NOTICE_SECS) {
        app.notice = None;
    }
    // A failed page or count is asked again once a second until the daemon answers.
    let mut effects = if app.leads.error.is_some() { fetch_leads(app) } else { vec![] };
    if app.leads.count.is_none() && !app.leads.counting {
        effects.extend(count_leads(app));
    }
    effects
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

pub fn notify(app: &mut App, text: String, error: bool) {
    app.notice = Some(Notice { text, error, at: app.now });
}

mod answers;
mod inbox;
#[cfg(test)]
mod inbox_tests;
mod keys;
mod menu;
mod prompt;
#[cfg(test)]
mod simulation_tests;
#[cfg(test)]
mod tests;

use answers::*;
use inbox::*;
pub use inbox::{expiring_summary, referral_sort_label};
use keys::*;
use menu::*;
pub use prompt::common_prefix;
use prompt::*;
