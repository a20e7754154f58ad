//! Messages in, model changes and effects out. No I/O here: the runtime performs the effects and
//! feeds their results back as messages, so every behaviour is a plain function call in tests.

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use protocol::{DaemonStatus, Event, JobInfo, Request, Response};

use super::model::{App, Daemon, Down, Link, NOTICE_SECS, Notice, Screen};
use crate::keymap::{self, Action, Scope};

/// Something that happened: a key, a tick, or news from the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Key(KeyEvent),
    /// The clock moved on (once a second).
    Tick(DateTime<Utc>),
    /// Handshake, subscription and a first status all succeeded.
    Connected(Box<DaemonStatus>),
    /// A connection attempt failed; another follows in a moment.
    ConnectFailed(Down),
    /// An established connection ended.
    Disconnected(Down),
    Event(Event),
    /// The daemon's answer to a request we sent.
    Answer {
        request: Request,
        result: Result<Response, String>,
    },
}

/// Work for the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Request),
}

/// Applies one message to the model.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(app, &key),
        Msg::Tick(now) => {
            on_tick(app, now);
            vec![]
        }
        Msg::Connected(status) => {
            on_connected(app, &status);
            vec![]
        }
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
        Msg::Answer { request, result } => {
            on_answer(app, request, result);
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
    match keymap::action_for(key, scope(app)) {
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
    let connected = matches!(app.link, Link::Up(_));
    match action {
        Action::Quit => app.quit = true,
        Action::ToggleHelp => app.help = true,
        Action::Back if connected && app.screen == Screen::Sync => app.screen = Screen::Leads,
        Action::Back => app.quit = true,
        Action::ToggleSync if connected => {
            app.screen = if app.screen == Screen::Sync { Screen::Leads } else { Screen::Sync };
        }
        Action::Up | Action::Down | Action::First | Action::Last if connected => move_selection(app, action),
        Action::RunJob if connected => return run_selected_job(app),
        _ => {}
    }
    vec![]
}

/// Moves the selection in the current table. The leads table is empty for now, so only the sync
/// view has rows to move through.
fn move_selection(app: &mut App, action: Action) {
    if app.screen != Screen::Sync || app.jobs.is_empty() {
        return;
    }
    let last = app.jobs.len() - 1;
    app.selected_job = match action {
        Action::Up => app.selected_job.saturating_sub(1),
        Action::Down => (app.selected_job + 1).min(last),
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

fn on_tick(app: &mut App, now: DateTime<Utc>) {
    app.now = now;
    if app.notice.as_ref().is_some_and(|n| (now - n.at).num_seconds() >= NOTICE_SECS) {
        app.notice = None;
    }
}

fn on_connected(app: &mut App, status: &DaemonStatus) {
    let reconnected = matches!(app.link, Link::Down(_));
    app.link = Link::Up(Daemon::from_status(status, app.now));
    set_jobs(app, status.jobs.clone());
    if reconnected {
        notify(app, "reconnected to hunterd".into(), false);
    }
}

/// The daemon is away: what we knew about its jobs is stale, so it goes.
fn go_down(app: &mut App, down: Down) {
    app.link = Link::Down(down);
    app.jobs.clear();
    app.selected_job = 0;
}

fn on_event(app: &mut App, event: Event) -> Vec<Effect> {
    match event {
        Event::JobChanged(job) => upsert_job(app, job),
        Event::Progress { job, done, total, message } => {
            let count = total.map_or_else(|| done.to_string(), |t| format!("{done}/{t}"));
            notify(app, format!("{job}: {message} ({count})"), false);
        }
        Event::ShuttingDown => go_down(app, Down::Stopped),
        // The leads table arrives with the engine; nothing to refresh yet.
        Event::LeadsChanged { .. } => {}
        // Some job changes were dropped for us: ask for the whole picture again.
        Event::Lagged { .. } => return vec![Effect::Send(Request::Status)],
    }
    vec![]
}

fn on_answer(app: &mut App, request: Request, result: Result<Response, String>) {
    match (request, result) {
        (_, Ok(Response::Status(status))) => {
            if let Link::Up(daemon) = &mut app.link {
                *daemon = Daemon::from_status(&status, app.now);
            }
            set_jobs(app, status.jobs);
        }
        (_, Ok(Response::Jobs(jobs))) => set_jobs(app, jobs),
        (Request::RunJob { name }, Ok(_)) => notify(app, format!("{name} started"), false),
        (Request::RunJob { name }, Err(error)) => notify(app, format!("could not run {name}: {error}"), true),
        (_, Err(error)) => notify(app, error, true),
        (_, Ok(_)) => {}
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

fn notify(app: &mut App, text: String, error: bool) {
    app.notice = Some(Notice { text, error, at: app.now });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::{KEYMAP, Key};
    use crate::output::fixtures::{self, disabled_job, failed_job, ok_job};
    use crossterm::event::KeyCode;
    use protocol::{JobOutcome, JobState};

    fn connected(jobs: Vec<JobInfo>) -> App {
        let mut app = App::new("/run/hunter/hunterd.sock".into(), true, fixtures::now());
        update(&mut app, Msg::Connected(Box::new(fixtures::status(jobs))));
        app
    }

    /// Presses the first key the keymap binds to `action`, so tests follow the keymap.
    fn press(app: &mut App, action: Action) -> Vec<Effect> {
        let binding = KEYMAP.iter().find(|b| b.action == action).expect("action has a key");
        press_key(app, binding.keys[0])
    }

    fn press_key(app: &mut App, key: Key) -> Vec<Effect> {
        update(app, Msg::Key(KeyEvent::new(key.code, key.modifiers)))
    }

    #[test]
    fn quit_key_quits() {
        let mut app = connected(vec![]);
        press(&mut app, Action::Quit);
        assert!(app.quit);
    }

    #[test]
    fn every_quit_key_quits_even_when_the_daemon_is_down() {
        let binding = KEYMAP.iter().find(|b| b.action == Action::Quit).unwrap();
        for key in binding.keys {
            let mut app = App::new("/s".into(), true, fixtures::now());
            update(&mut app, Msg::ConnectFailed(Down::NotRunning));
            press_key(&mut app, *key);
            assert!(app.quit, "{}", key.label());
        }
    }

    #[test]
    fn help_key_toggles_the_help_overlay() {
        let mut app = connected(vec![]);
        press(&mut app, Action::ToggleHelp);
        assert!(app.help);
        press(&mut app, Action::ToggleHelp);
        assert!(!app.help);
    }

    #[test]
    fn escape_closes_the_help_before_quitting() {
        let mut app = connected(vec![]);
        press(&mut app, Action::ToggleHelp);
        press_key(&mut app, Key::plain(KeyCode::Esc));
        assert!(!app.help && !app.quit);
        press_key(&mut app, Key::plain(KeyCode::Esc));
        assert!(app.quit);
    }

    #[test]
    fn escape_leaves_the_sync_view_before_quitting() {
        let mut app = connected(vec![ok_job()]);
        press(&mut app, Action::ToggleSync);
        press(&mut app, Action::Back);
        assert_eq!(app.screen, Screen::Leads);
        assert!(!app.quit);
    }

    #[test]
    fn sync_key_toggles_the_sync_status_view() {
        let mut app = connected(vec![ok_job()]);
        press(&mut app, Action::ToggleSync);
        assert_eq!(app.screen, Screen::Sync);
        press(&mut app, Action::ToggleSync);
        assert_eq!(app.screen, Screen::Leads);
    }

    #[test]
    fn run_key_in_the_sync_view_sends_run_job_for_the_selected_job() {
        let mut app = connected(vec![ok_job(), failed_job()]);
        press(&mut app, Action::ToggleSync);
        press(&mut app, Action::Down);
        let effects = press(&mut app, Action::RunJob);
        assert_eq!(effects, vec![Effect::Send(Request::RunJob { name: "partner_center_sync".into() })]);
    }

    #[test]
    fn run_key_does_nothing_on_the_leads_screen() {
        let mut app = connected(vec![ok_job()]);
        assert!(press(&mut app, Action::RunJob).is_empty());
    }

    #[test]
    fn keys_other_than_quit_and_help_are_ignored_while_the_daemon_is_down() {
        let mut app = App::new("/s".into(), true, fixtures::now());
        update(&mut app, Msg::ConnectFailed(Down::NotRunning));
        press(&mut app, Action::ToggleSync);
        assert_eq!(app.screen, Screen::Leads);
    }

    #[test]
    fn the_selection_stays_within_the_job_list() {
        let mut app = connected(vec![ok_job(), failed_job(), disabled_job()]);
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

    #[test]
    fn a_job_changed_event_replaces_that_job() {
        let mut app = connected(vec![ok_job(), failed_job()]);
        let mut running = failed_job();
        running.state = JobState::Running;
        update(&mut app, Msg::Event(Event::JobChanged(running.clone())));
        assert_eq!(app.jobs, vec![ok_job(), running]);
    }

    #[test]
    fn a_job_changed_event_for_an_unknown_job_adds_it() {
        let mut app = connected(vec![ok_job()]);
        update(&mut app, Msg::Event(Event::JobChanged(disabled_job())));
        assert_eq!(app.jobs.len(), 2);
    }

    #[test]
    fn shutting_down_shows_the_daemon_as_stopped_and_a_later_disconnect_keeps_that_reason() {
        let mut app = connected(vec![ok_job()]);
        update(&mut app, Msg::Event(Event::ShuttingDown));
        update(&mut app, Msg::Disconnected(Down::Lost { reason: "connection to hunterd lost".into() }));
        assert_eq!(app.link, Link::Down(Down::Stopped));
        assert!(app.jobs.is_empty());
    }

    #[test]
    fn reconnecting_after_a_stop_restores_the_jobs_and_says_so() {
        let mut app = connected(vec![ok_job()]);
        update(&mut app, Msg::Event(Event::ShuttingDown));
        update(&mut app, Msg::Connected(Box::new(fixtures::status(vec![ok_job()]))));
        assert!(matches!(app.link, Link::Up(_)));
        assert_eq!(app.jobs, vec![ok_job()]);
        assert_eq!(app.notice.as_ref().map(|n| n.text.as_str()), Some("reconnected to hunterd"));
    }

    #[test]
    fn a_lagged_subscription_asks_for_a_fresh_status() {
        let mut app = connected(vec![]);
        let effects = update(&mut app, Msg::Event(Event::Lagged { missed: 3 }));
        assert_eq!(effects, vec![Effect::Send(Request::Status)]);
    }

    #[test]
    fn a_refused_run_job_is_shown_as_an_error_notice() {
        let mut app = connected(vec![disabled_job()]);
        let request = Request::RunJob { name: "dynamics_push".into() };
        update(&mut app, Msg::Answer { request, result: Err("feature is off".into()) });
        let notice = app.notice.expect("a notice");
        assert!(notice.error);
        assert_eq!(notice.text, "could not run dynamics_push: feature is off");
    }

    #[test]
    fn notices_expire_after_a_few_seconds() {
        let mut app = connected(vec![]);
        update(&mut app, Msg::Answer { request: Request::Jobs, result: Err("boom".into()) });
        update(&mut app, Msg::Tick(fixtures::now() + chrono::Duration::seconds(NOTICE_SECS)));
        assert_eq!(app.notice, None);
    }

    #[test]
    fn uptime_keeps_counting_between_status_answers() {
        let mut app = connected(vec![]);
        update(&mut app, Msg::Tick(fixtures::now() + chrono::Duration::seconds(60)));
        assert_eq!(app.daemon().unwrap().uptime_at(app.now), 7_560);
    }

    #[test]
    fn a_status_answer_refreshes_jobs_and_clamps_the_selection() {
        let mut app = connected(vec![ok_job(), failed_job(), disabled_job()]);
        app.selected_job = 2;
        let mut fixed = failed_job();
        fixed.last_result = Some(JobOutcome::Ok { summary: "3 referrals".into() });
        let status = fixtures::status(vec![fixed.clone()]);
        update(&mut app, Msg::Answer { request: Request::Status, result: Ok(Response::Status(Box::new(status))) });
        assert_eq!(app.jobs, vec![fixed]);
        assert_eq!(app.selected_job, 0);
    }
}
