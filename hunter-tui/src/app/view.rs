//! Rendering: a pure function of the model. It never reads the clock or the connection, so any
//! screen can be reproduced exactly in a snapshot test. The leads table and the detail view live
//! in [`view_leads`](super::view_leads) and [`view_detail`](super::view_detail).

use protocol::{JobInfo, JobOutcome, JobState};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, BorderType, Cell, Clear, HighlightSpacing, Padding, Paragraph, Row, Table, TableState, Wrap,
};

use super::layout::{Areas, centered};
use super::model::{App, Daemon, Down, Link, RETRY_SECS, Screen};
use super::theme::Theme;
use super::{view_detail, view_inbox, view_leads};
use crate::humanize;
use crate::keymap::{Action, Scope};
use crate::output;

/// Draws the whole screen.
pub fn view(app: &App, frame: &mut Frame) {
    let theme = Theme { color: app.color };
    let area = frame.area();
    match &app.link {
        Link::Up(daemon) => {
            let areas = Areas::of(app, area, app.screen);
            render_header(frame, areas.header, app, daemon, theme);
            match app.screen {
                Screen::Leads => {
                    view_leads::render_filter_bar(frame, areas.bar, app, theme);
                    view_leads::render_leads(frame, areas.main, app, theme);
                }
                Screen::Detail => view_detail::render_detail(frame, areas.main, app, theme),
                Screen::Sync => render_sync(frame, areas.main, app, theme),
                Screen::Referrals => {
                    view_inbox::render_filter_bar(frame, areas.bar, app, theme);
                    view_inbox::render_inbox(frame, areas.main, app, theme);
                }
            }
            view_leads::render_progress(frame, areas.progress, app, theme);
            render_footer(frame, areas.footer, app, theme);
            if let Some(menu) = &app.menu {
                render_menu(frame, areas.main, menu, theme);
            }
        }
        Link::Connecting | Link::Down(_) => {
            let [body, footer] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
            let down = if let Link::Down(down) = &app.link { Some(down) } else { None };
            render_unavailable(frame, body, app, down, theme);
            render_footer(frame, footer, app, theme);
        }
    }
    if app.help {
        render_help(frame, area, app, theme);
    }
}

/// ` Hunter │ hunterd 0.1.0 │ db embedded │ up 2h 5m │ /run/hunter/hunterd.sock`
fn render_header(frame: &mut Frame, area: Rect, app: &App, daemon: &Daemon, theme: Theme) {
    let sep = || Span::styled(" │ ", theme.dim());
    let line = Line::from(vec![
        Span::styled(" Hunter", theme.title()),
        sep(),
        Span::raw(format!("hunterd {}", daemon.build_version)),
        sep(),
        match daemon.database.problem {
            None => Span::raw(format!("db {}", daemon.database.mode)),
            Some(_) => Span::styled(format!("db {} DOWN", daemon.database.mode), theme.error()),
        },
        sep(),
        Span::raw(format!("up {}", humanize::duration(daemon.uptime_at(app.now)))),
        sep(),
        Span::styled(app.socket.display().to_string(), theme.dim()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

/// The sync status view: every job in a table, the selected one in full below it.
fn render_sync(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let rows = u16::try_from(app.jobs.len()).unwrap_or(u16::MAX);
    let table_height = rows.saturating_add(3).min(area.height / 2).max(4);
    let [top, bottom] = Layout::vertical([Constraint::Length(table_height), Constraint::Fill(1)]).areas(area);
    render_job_table(frame, top, app, theme);
    match app.selected() {
        Some(job) => render_job_detail(frame, bottom, job, app, theme),
        None => {
            let block = Block::bordered().border_type(BorderType::Rounded);
            let msg = Paragraph::new("hunterd has no scheduled jobs.").alignment(Alignment::Center).block(block);
            frame.render_widget(msg, bottom);
        }
    }
}

fn render_job_table(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let title = format!(" Sync status ({}) ", humanize::count(app.jobs.len(), "job"));
    let block = Block::bordered().border_type(BorderType::Rounded).title(Span::styled(title, theme.title()));
    let header = Row::new(["Job", "State", "Last run", "Next run", "Result"]).style(theme.heading());
    let rows = app.jobs.iter().map(|job| job_row(job, app, theme));
    let widths = [
        Constraint::Length(app.jobs.iter().map(|j| j.name.chars().count()).max().unwrap_or(0).clamp(3, 40) as u16),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(theme.selected())
        .highlight_symbol("▶ ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(app.selected_job));
    frame.render_stateful_widget(table, area, &mut state);
}

fn job_row<'a>(job: &'a JobInfo, app: &App, theme: Theme) -> Row<'a> {
    let state_style = match job.state {
        JobState::Idle => Style::new(),
        JobState::Running => theme.busy(),
        JobState::Disabled => theme.dim(),
    };
    Row::new([
        Cell::from(job.name.as_str()),
        Cell::from(Span::styled(job.state.to_string(), state_style)),
        Cell::from(humanize::relative_or(job.last_started_at, app.now, "never")),
        Cell::from(output::next_run(job, app.now)),
        Cell::from(Span::styled(humanize::outcome(job.last_result.as_ref()), outcome_style(job, theme))),
    ])
}

fn outcome_style(job: &JobInfo, theme: Theme) -> Style {
    match job.last_result {
        Some(JobOutcome::Ok { .. }) => theme.ok(),
        Some(JobOutcome::Failed { .. }) => theme.error(),
        None => theme.dim(),
    }
}

/// Everything about one job, with its last error in full (wrapped, never truncated).
fn render_job_detail(frame: &mut Frame, area: Rect, job: &JobInfo, app: &App, theme: Theme) {
    let label = |text: &'static str| Span::styled(format!("{text:<10}"), theme.heading());
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| match t {
        Some(t) => format!("{} ({})", humanize::timestamp(t), humanize::relative(t, app.now)),
        None => "never".into(),
    };
    let mut lines = vec![
        Line::from(format!("{} · every {}", job.description, humanize::duration(job.interval_secs))),
        Line::from(vec![label("State"), Span::raw(job.state.to_string())]),
        Line::from(vec![label("Last run"), Span::raw(at(job.last_started_at))]),
        Line::from(vec![label("Next run"), Span::raw(output::next_run(job, app.now))]),
        Line::from(vec![label("Result"), Span::styled(result_summary(job), outcome_style(job, theme))]),
    ];
    match &job.last_error {
        Some(error) => {
            lines.push(Line::from(vec![label("Error"), Span::raw(at(job.last_error_at))]));
            lines.extend(error.lines().map(|l| Line::styled(l.to_string(), theme.error())));
        }
        None => lines.push(Line::from(vec![label("Error"), Span::styled("none", theme.dim())])),
    }
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .padding(Padding::horizontal(1))
        .title(Span::styled(format!(" {} ", job.name), theme.title()));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), area);
}

/// The result line of the detail pane. A failure's text follows in full under "Error", so it is
/// not repeated here.
fn result_summary(job: &JobInfo) -> String {
    match (&job.last_result, &job.last_error) {
        (Some(JobOutcome::Failed { .. }), Some(_)) => "failed".into(),
        (result, _) => humanize::outcome(result.as_ref()),
    }
}

/// The whole body when there is no usable daemon: what is wrong, where we looked, how to fix it.
fn render_unavailable(frame: &mut Frame, area: Rect, app: &App, down: Option<&Down>, theme: Theme) {
    let (title, explanation) = match down {
        None => ("Connecting to hunterd…".to_string(), String::new()),
        Some(down) => down_text(down),
    };
    let mut lines = vec![Line::styled(title, theme.error()), Line::from("")];
    if !explanation.is_empty() {
        lines.push(Line::from(explanation));
        lines.push(Line::from(""));
    }
    lines
        .push(Line::from(vec![Span::styled("Socket: ", theme.heading()), Span::raw(app.socket.display().to_string())]));
    if down.is_some_and(Down::suggests_starting) {
        lines.push(Line::from(vec![
            Span::styled("Start it: ", theme.heading()),
            Span::styled("hunterd run", theme.key()),
            Span::raw("  or  "),
            Span::styled("systemctl start hunterd", theme.key()),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(format!("Retrying every {RETRY_SECS} s; this screen goes away by itself."), theme.dim()));

    let width = area.width.saturating_sub(4).min(76);
    let block = Block::bordered().border_type(BorderType::Rounded);
    let paragraph = Paragraph::new(lines).alignment(Alignment::Center).wrap(Wrap { trim: true }).block(block);
    let height = fit_height(&paragraph, width, area);
    frame.render_widget(paragraph, centered(area, width, height));
}

/// Title and one explanatory sentence for each way the daemon can be unavailable.
fn down_text(down: &Down) -> (String, String) {
    match down {
        Down::NotRunning => ("hunterd is not running".into(), "There is no socket to connect to.".into()),
        Down::Unreachable { reason } => {
            ("hunterd is not answering".into(), format!("The socket exists but nobody answers ({reason})."))
        }
        Down::PermissionDenied => (
            "Permission denied".into(),
            "You may not open hunterd's socket: ask an administrator to add you to the `hunter` group.".into(),
        ),
        Down::VersionMismatch { message } => ("Version mismatch".into(), full_stop(message)),
        Down::Stopped => ("hunterd has stopped".into(), "It said it was shutting down.".into()),
        Down::Lost { reason } => ("Cannot talk to hunterd".into(), full_stop(reason)),
    }
}

/// Ends a message from elsewhere with exactly one full stop.
fn full_stop(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?']) { text.to_string() } else { format!("{text}.") }
}

/// The bottom line: an open prompt, else the latest notice, else the keys that work here.
fn render_footer(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    if let Some(prompt) = app.prompt.as_ref().filter(|_| app.connected()) {
        let line = Line::from(vec![
            Span::styled(format!(" {}: ", prompt.kind.label()), theme.heading()),
            Span::raw(prompt.input.clone()),
            Span::styled("█", theme.key()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        let hint = match &prompt.hint {
            Some(hint) => {
                Line::styled(format!(" {hint}"), if prompt.hint_is_error { theme.error() } else { theme.dim() })
            }
            None => Line::styled(prompt_keys(prompt.kind.completes_paths()), theme.dim()),
        };
        if area.y > 0 {
            let above = Rect { y: area.y - 1, ..area };
            frame.render_widget(Clear, above);
            frame.render_widget(Paragraph::new(hint), above);
        }
        return;
    }
    if let Some(notice) = &app.notice {
        let style = if notice.error { theme.error() } else { theme.ok() };
        frame.render_widget(Paragraph::new(Line::styled(format!(" {}", notice.text), style)), area);
        return;
    }
    let connected = app.connected();
    let scope = if connected && app.menu.is_none() { app.screen.scope() } else { Scope::Global };
    let mut hints: Vec<[Span; 2]> = Vec::new();
    if connected && app.menu.is_some() {
        hints.push(key_hint(app, Action::Open, "choose", theme));
        hints.push(key_hint(app, Action::Back, "close", theme));
    } else {
        for binding in app.keymap.bindings_for(scope) {
            let Some(hint) = binding.hint else { continue };
            if binding.keys.is_empty() || (!connected && binding.action != Action::ToggleHelp) {
                continue;
            }
            hints.push([Span::styled(binding.first_key_label(), theme.key()), Span::raw(format!(" {hint}  "))]);
        }
        if !connected {
            hints.push(key_hint(app, Action::Back, "quit", theme));
        }
    }
    let summary_line = jobs_summary(app, theme);
    let summary_width = (summary_line.width() as u16).max(24);
    let [hints_area, summary] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(summary_width)]).areas(area);
    // Whole hints only: a hint cut in the middle reads as a different key.
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for [key, text] in hints {
        let width = key.width() + text.width();
        if used + width > hints_area.width as usize + 2 {
            break;
        }
        used += width;
        spans.extend([key, text]);
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), hints_area);
    if connected {
        frame.render_widget(Paragraph::new(summary_line).right_aligned(), summary);
    }
}

fn key_hint(app: &App, action: Action, text: &str, theme: Theme) -> [Span<'static>; 2] {
    [Span::styled(app.keymap.key_for(action), theme.key()), Span::raw(format!(" {text}  "))]
}

/// What a prompt's keys do (they are not remappable: they edit text).
fn prompt_keys(paths: bool) -> String {
    let tab = if paths { " · Tab completes" } else { "" };
    format!(" Enter accepts · Esc cancels{tab} · Ctrl-U clears · Ctrl-W deletes a word")
}

/// `3 jobs, 1 failed `: enough to notice trouble without opening the sync view.
fn jobs_summary(app: &App, theme: Theme) -> Line<'static> {
    let failed = app.jobs.iter().filter(|j| matches!(j.last_result, Some(JobOutcome::Failed { .. }))).count();
    let mut spans = vec![Span::raw(humanize::count(app.jobs.len(), "job"))];
    if failed > 0 {
        spans.push(Span::raw(", "));
        spans.push(Span::styled(format!("{failed} failed"), theme.error()));
    }
    if let Some(expiring) = super::update::expiring_summary(&app.inbox) {
        spans.push(Span::styled(" · ", theme.dim()));
        spans.push(Span::styled(expiring, theme.error()));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// A pick list in the middle of `area`: the selected item reversed, chosen ones ticked.
fn render_menu(frame: &mut Frame, area: Rect, menu: &super::model::Menu, theme: Theme) {
    let label_width = menu.items.iter().map(|i| i.label.chars().count()).max().unwrap_or(0);
    let note_width = menu.items.iter().map(|i| i.note.chars().count()).max().unwrap_or(0);
    let rows = menu.items.iter().map(|item| {
        let tick = if item.active { "✓ " } else { "  " };
        Row::new([
            Cell::from(format!("{tick}{}", item.label)),
            Cell::from(Span::styled(item.note.clone(), theme.dim())),
        ])
    });
    let widths = [Constraint::Length(label_width as u16 + 2), Constraint::Fill(1)];
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Span::styled(format!(" {} ", menu.title), theme.title()));
    let table = Table::new(rows, widths)
        .block(block)
        .row_highlight_style(theme.selected())
        .highlight_symbol("▶ ")
        .highlight_spacing(HighlightSpacing::Always);
    let width = (label_width + note_width + 9).max(menu.title.chars().count() + 6);
    let width = u16::try_from(width).unwrap_or(u16::MAX).min(area.width);
    let height = u16::try_from(menu.items.len() + 2).unwrap_or(u16::MAX).min(area.height);
    let popup = centered(area, width, height);
    frame.render_widget(Clear, popup);
    let mut state = TableState::default().with_selected(Some(menu.selected));
    frame.render_stateful_widget(table, popup, &mut state);
}

/// The `?` overlay, generated from the keymap in use so it always tells the truth: the keys that
/// work everywhere, then those of the current screen.
fn render_help(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let scopes: Vec<Scope> = match (&app.link, app.screen) {
        (Link::Up(_), Screen::Detail) => vec![Scope::Global, Scope::Detail],
        (Link::Up(_), Screen::Sync) => vec![Scope::Global, Scope::Sync],
        (Link::Up(_), Screen::Leads) => vec![Scope::Global, Scope::Leads],
        (Link::Up(_), Screen::Referrals) => vec![Scope::Global, Scope::Referrals],
        _ => vec![Scope::Global],
    };
    let bindings: Vec<(Scope, &crate::keymap::Binding)> =
        scopes.iter().flat_map(|scope| app.keymap.listed_under(*scope).map(move |b| (*scope, b))).collect();
    let key_width = bindings.iter().map(|(_, b)| b.keys_label().chars().count()).max().unwrap_or(0) + 2;
    let mut lines = Vec::new();
    for scope in &scopes {
        if !lines.is_empty() {
            lines.push(Line::from(""));
        }
        lines.push(Line::styled(scope.title(), theme.heading()));
        for (_, binding) in bindings.iter().filter(|(s, _)| s == scope) {
            let keys = if binding.keys.is_empty() { "(none)".to_string() } else { binding.keys_label() };
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<key_width$}"), theme.key()),
                Span::raw(binding.description),
            ]));
        }
    }
    let width = area.width.saturating_sub(4).min(90);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Span::styled(" Keys ", theme.title()))
        .title_bottom(Line::styled(format!(" {} closes ", close_keys(app)), theme.dim()).right_aligned());
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false }).block(block);
    let popup = centered(area, width, fit_height(&paragraph, width, area));
    frame.render_widget(Clear, popup);
    frame.render_widget(paragraph, popup);
}

/// The keys that close the help, as the keymap defines them.
fn close_keys(app: &App) -> String {
    [Action::ToggleHelp, Action::Back].map(|a| app.keymap.keys_for(a)).join(", ")
}

/// Rows a wrapped, bordered paragraph needs at `width`, capped to what `area` has.
pub(super) fn fit_height(paragraph: &Paragraph, width: u16, area: Rect) -> u16 {
    u16::try_from(paragraph.line_count(width)).unwrap_or(u16::MAX).min(area.height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::fixtures::detail;
    use crate::app::fixtures::{answer_count, answer_page};
    use crate::app::model::{BatchWatch, LeadList, ScanQueue};
    use crate::app::update::{Msg, update};
    use crate::client::Answer;
    use crate::keymap::{Key, Keymap};
    use crate::output::fixtures::{self, disabled_job, failed_job, ok_job};
    use crossterm::event::{KeyCode, KeyEvent};
    use insta::assert_snapshot;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use ratatui::style::{Color, Modifier};

    const SOCKET: &str = "/run/hunter/hunterd.sock";

    fn app(color: bool) -> App {
        App::new(SOCKET.into(), color, fixtures::now())
    }

    fn connected_sized(jobs: Vec<JobInfo>, width: u16, height: u16) -> App {
        let mut app = app(true);
        app.size = (width, height);
        update(&mut app, Msg::Connected(Box::new(fixtures::status(jobs))));
        app
    }

    fn connected(jobs: Vec<JobInfo>) -> App {
        connected_sized(jobs, 100, 24)
    }

    /// Connected at `width`×`height` with `total` leads counted and the first page answered.
    fn with_leads(total: u64, width: u16, height: u16) -> App {
        let mut app = connected_sized(vec![ok_job()], width, height);
        answer_page(&mut app, 0, total);
        answer_count(&mut app, total, true);
        app
    }

    fn down(reason: Down) -> App {
        let mut app = app(true);
        update(&mut app, Msg::ConnectFailed(reason));
        app
    }

    fn press(app: &mut App, action: Action) {
        let key: Key = Keymap::default().bindings.iter().find(|b| b.action == action).expect("bound").keys[0];
        update(app, Msg::Key(KeyEvent::new(key.code, key.modifiers)));
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            update(app, Msg::Key(KeyEvent::new(KeyCode::Char(c), crossterm::event::KeyModifiers::NONE)));
        }
    }

    /// The sync view with the failed job selected.
    fn sync_view_on_failed_job(color: bool) -> App {
        let mut app = connected(vec![ok_job(), failed_job(), disabled_job()]);
        app.color = color;
        press(&mut app, Action::ToggleSync);
        press(&mut app, Action::Down);
        app
    }

    /// The detail of lead 0, opened from the list.
    fn detail_view(width: u16, height: u16) -> App {
        let mut app = with_leads(3, width, height);
        press(&mut app, Action::Open);
        let domain = "lead0.example".to_string();
        update(&mut app, Msg::Answer(Answer::Lead { domain, result: Ok(Box::new(detail())) }));
        app
    }

    fn render(app: &App, width: u16, height: u16) -> TestBackend {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        terminal.draw(|frame| view(app, frame)).expect("draw");
        terminal.backend().clone()
    }

    /// Renders at the size the model believes the terminal has.
    fn render_app(app: &App) -> TestBackend {
        render(app, app.size.0, app.size.1)
    }

    fn text(buffer: &Buffer) -> String {
        buffer.content.iter().map(|c| c.symbol()).collect()
    }

    fn line(buffer: &Buffer, y: u16) -> String {
        (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect::<String>().trim_end().to_string()
    }

    /// Every run of cells with a colour or a modifier, one line each: the styles a text snapshot
    /// cannot show.
    fn styles(buffer: &Buffer) -> String {
        let describe = |c: &ratatui::buffer::Cell| {
            let mut parts = vec![];
            if c.fg != Color::Reset {
                parts.push(format!("fg {:?}", c.fg));
            }
            if c.bg != Color::Reset {
                parts.push(format!("bg {:?}", c.bg));
            }
            if !c.modifier.is_empty() {
                parts.push(format!("{:?}", c.modifier));
            }
            parts.join(", ")
        };
        let width = buffer.area.width as usize;
        let mut out = String::new();
        for (y, row) in buffer.content.chunks(width).enumerate() {
            let mut x = 0;
            while x < row.len() {
                let style = describe(&row[x]);
                let end = (x..row.len()).find(|&i| describe(&row[i]) != style).unwrap_or(row.len());
                if !style.is_empty() {
                    out.push_str(&format!("row {y:>2} cols {x:>2}-{:>2}: {style}\n", end - 1));
                }
                x = end;
            }
        }
        out
    }

    fn coloured_cells(buffer: &Buffer) -> usize {
        buffer.content.iter().filter(|c| c.fg != Color::Reset || c.bg != Color::Reset).count()
    }

    // --- not connected ---

    #[test]
    fn daemon_not_running_shows_the_socket_and_how_to_start_it() {
        let backend = render(&down(Down::NotRunning), 80, 24);
        assert_snapshot!(backend);
    }

    #[test]
    fn version_mismatch_says_which_side_to_upgrade() {
        let message = protocol::handshake::mismatch_message("hunter-tui", "0.1.0", 1, "0.2.0", 2);
        let backend = render(&down(Down::VersionMismatch { message }), 80, 24);
        assert_snapshot!(backend);
    }

    #[test]
    fn first_connection_attempt_shows_connecting() {
        assert_snapshot!(render(&app(true), 80, 24));
    }

    #[test]
    fn narrow_terminal_still_explains_a_missing_daemon() {
        let backend = render(&down(Down::NotRunning), 60, 20);
        assert!(text(backend.buffer()).contains("hunterd run"));
        assert_snapshot!(backend);
    }

    // --- leads view ---

    #[test]
    fn leads_view_while_the_first_page_loads() {
        assert_snapshot!(render_app(&connected(vec![ok_job()])));
    }

    #[test]
    fn connected_with_no_leads_shows_the_empty_table_and_how_to_add_leads() {
        assert_snapshot!(render_app(&with_leads(0, 100, 24)));
    }

    #[test]
    fn a_filter_matching_nothing_says_how_to_clear_it() {
        let mut app = connected_sized(vec![], 100, 24);
        press(&mut app, Action::Filter);
        type_text(&mut app, "segment=Migration nothing");
        update(&mut app, Msg::Key(KeyEvent::new(KeyCode::Enter, crossterm::event::KeyModifiers::NONE)));
        answer_page(&mut app, 0, 0);
        answer_count(&mut app, 0, true);
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn the_rows_show_while_counting_and_an_estimated_count_says_so() {
        let mut app = connected_sized(vec![ok_job()], 120, 16);
        answer_page(&mut app, 0, 5_000);
        let screen = text(render_app(&app).buffer());
        assert!(screen.contains("Leads (counting…)"), "{screen}");
        assert!(screen.contains("lead0.example"), "{screen}");
        answer_count(&mut app, 1_234_567, false);
        let screen = text(render_app(&app).buffer());
        assert!(screen.contains("Leads (≈1,234,567)"), "{screen}");
    }

    #[test]
    fn leads_view_when_the_list_cannot_be_loaded() {
        let mut app = connected(vec![]);
        let query = Box::new(crate::app::fixtures::page_query(&mut app, 0));
        let error = "database unavailable: connection refused; hunterd retries by itself".to_string();
        update(&mut app, Msg::Answer(Answer::Leads { query, result: Err(error) }));
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn leads_view_with_10k_rows() {
        let mut app = with_leads(10_000, 160, 40);
        press(&mut app, Action::Down);
        press(&mut app, Action::Down);
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn rows_of_a_page_still_on_its_way_are_placeholders() {
        let mut app = with_leads(10_000, 120, 20);
        press(&mut app, Action::Last);
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn narrow_terminal_drops_lead_columns_instead_of_crushing_them() {
        let backend = render_app(&with_leads(10_000, 60, 20));
        assert!(!text(backend.buffer()).contains("Referral"));
        assert_snapshot!(backend);
    }

    #[test]
    fn filter_bar_shows_the_filter_sort_and_marks() {
        let mut app = with_leads(10_000, 120, 16);
        press(&mut app, Action::Filter);
        type_text(&mut app, "segment=Migration score>=60 acme");
        update(&mut app, Msg::Key(KeyEvent::new(KeyCode::Enter, crossterm::event::KeyModifiers::NONE)));
        answer_page(&mut app, 0, 1_234);
        answer_count(&mut app, 1_234, true);
        press(&mut app, Action::Mark);
        press(&mut app, Action::Mark);
        press(&mut app, Action::ReverseSort);
        answer_page(&mut app, 0, 1_234);
        answer_count(&mut app, 1_234, true);
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn the_filter_prompt_shows_what_is_wrong_with_the_expression() {
        let mut app = with_leads(10_000, 100, 12);
        press(&mut app, Action::Filter);
        type_text(&mut app, "segmnt=Cold");
        let due = Msg::FilterDue(app.filter_seq);
        update(&mut app, due);
        let backend = render_app(&app);
        assert!(line(backend.buffer(), 11).starts_with(" Filter: segmnt=Cold█"));
        assert_snapshot!(backend);
    }

    #[test]
    fn the_import_prompt_lists_completions() {
        let mut app = with_leads(3, 100, 12);
        press(&mut app, Action::Import);
        type_text(&mut app, "data/le");
        let candidates = vec!["data/leads.csv".to_string(), "data/leads.xlsx".to_string()];
        update(&mut app, Msg::Completed { input: "data/le".into(), candidates });
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn the_sort_menu_ticks_the_current_sort() {
        let mut app = with_leads(30, 100, 24);
        press(&mut app, Action::SortMenu);
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn progress_bars_show_the_scan_queue_and_followed_batches() {
        let mut app = with_leads(30, 120, 12);
        app.progress.scan = Some(ScanQueue { waiting: 250, peak: 1_000 });
        app.progress.batches.push(BatchWatch {
            id: "b".into(),
            label: "import leads.csv".into(),
            done: 40,
            total: 100,
        });
        let backend = render_app(&app);
        assert!(line(backend.buffer(), 10).contains("import leads.csv ▕████░░░░░░░░▏ 40/100"));
        assert_snapshot!(backend);
    }

    #[test]
    fn the_selected_lead_is_reversed_and_bold_so_it_shows_without_colour() {
        let mut app = with_leads(30, 120, 16);
        app.color = false;
        press(&mut app, Action::Down);
        let backend = render_app(&app);
        let buffer = backend.buffer();
        let row = (0..buffer.area.height).find(|&y| line(buffer, y).contains("lead1.example")).expect("row");
        assert!(buffer[(10, row)].modifier.contains(Modifier::REVERSED | Modifier::BOLD));
    }

    #[test]
    fn no_colour_mode_uses_no_colour_at_all() {
        let mut app = with_leads(30, 120, 16);
        app.color = false;
        app.leads.marked.insert("lead2.example".into());
        let backend = render_app(&app);
        assert_eq!(coloured_cells(backend.buffer()), 0, "{}", styles(backend.buffer()));
        assert_snapshot!("no_colour_mode_text", backend);
        assert_snapshot!("no_colour_mode_styles", styles(backend.buffer()));
    }

    #[test]
    fn colour_mode_does_use_colour() {
        // Guards the test above: the same screen with colour on must have coloured cells.
        let backend = render_app(&with_leads(30, 120, 16));
        assert!(coloured_cells(backend.buffer()) > 0);
    }

    // --- detail ---

    #[test]
    fn detail_view_shows_breakdown_evidence_summary_history_and_notes() {
        let app = detail_view(110, 80);
        let backend = render_app(&app);
        let all = text(backend.buffer());
        for part in [
            "Score breakdown",
            "+40",
            "total = score",
            "provider M365",
            "Sales summary",
            "Scan history",
            "Changes",
            "Call back in May.",
        ] {
            assert!(all.contains(part), "detail lacks {part:?}");
        }
        assert_snapshot!(backend);
    }

    #[test]
    fn detail_view_scrolled_in_a_small_terminal() {
        let mut app = detail_view(80, 20);
        for _ in 0..12 {
            press(&mut app, Action::Down);
        }
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn detail_view_while_loading_and_when_the_lead_is_gone() {
        let mut app = with_leads(3, 80, 10);
        press(&mut app, Action::Open);
        assert!(text(render_app(&app).buffer()).contains("Loading lead0.example…"));
        let domain = "lead0.example".to_string();
        let error = "no lead for `lead0.example` (add it with `hunter-tui add lead0.example`)".to_string();
        update(&mut app, Msg::Answer(Answer::Lead { domain, result: Err(error) }));
        assert_snapshot!(render_app(&app));
    }

    // --- sync, help, notices ---

    #[test]
    fn sync_view_shows_a_failed_jobs_error_in_full() {
        let backend = render(&sync_view_on_failed_job(true), 80, 24);
        let all = text(backend.buffer());
        assert!(all.contains("inactivity)."), "the error must not be truncated");
        assert!(all.contains("Run `hunterd auth partner-center` to sign in again."));
        assert_snapshot!(backend);
    }

    #[test]
    fn sync_view_marks_the_selected_row_with_reverse_video() {
        let backend = render(&sync_view_on_failed_job(false), 80, 24);
        let buffer = backend.buffer();
        let row = (0..buffer.area.height)
            .find(|&y| buffer.cell((3, y)).is_some_and(|c| c.symbol() == "p"))
            .expect("the partner_center_sync row");
        let cell = buffer.cell((3, row)).unwrap();
        assert!(cell.modifier.contains(Modifier::REVERSED | Modifier::BOLD));
    }

    #[test]
    fn help_overlay_lists_every_binding_in_the_keymap() {
        let mut app = with_leads(3, 100, 40);
        press(&mut app, Action::ToggleHelp);
        let backend = render_app(&app);
        let all = text(backend.buffer());
        for binding in app.keymap.bindings.iter().filter(|b| b.applies_in(Scope::Leads)) {
            assert!(all.contains(binding.description), "help lacks {:?}", binding.description);
            assert!(all.contains(&binding.keys_label()), "help lacks {}", binding.keys_label());
        }
        assert_snapshot!(backend);
    }

    #[test]
    fn help_in_the_detail_lists_the_detail_keys_and_not_the_list_keys() {
        let mut app = detail_view(100, 40);
        press(&mut app, Action::ToggleHelp);
        let all = text(render_app(&app).buffer());
        assert!(all.contains("add a note to the lead"));
        assert!(!all.contains("export the filtered leads"));
    }

    #[test]
    fn the_help_shows_remapped_keys() {
        let overrides = [("rescan".to_string(), vec!["R".to_string()])].into_iter().collect();
        let mut app = with_leads(3, 100, 40);
        app.keymap = std::sync::Arc::new(Keymap::with_overrides(&overrides).0);
        press(&mut app, Action::ToggleHelp);
        let all = text(render_app(&app).buffer());
        assert!(all.contains("R  ") && all.contains("rescan the marked leads"), "{all}");
    }

    #[test]
    fn an_error_notice_replaces_the_key_hints() {
        let mut app = connected(vec![]);
        update(&mut app, Msg::Answer(Answer::RunJob { name: "rescan".into(), result: Err("busy".into()) }));
        let backend = render(&app, 80, 24);
        assert_eq!(line(backend.buffer(), 23), " could not run rescan: busy");
    }

    #[test]
    fn tiny_terminals_do_not_panic() {
        let mut help = connected(vec![ok_job()]);
        press(&mut help, Action::ToggleHelp);
        let mut menu = with_leads(30, 100, 24);
        press(&mut menu, Action::SortMenu);
        let screens = [
            connected(vec![]),
            with_leads(10_000, 100, 24),
            detail_view(100, 24),
            menu,
            sync_view_on_failed_job(true),
            down(Down::NotRunning),
            help,
        ];
        for app in &screens {
            for (w, h) in [(0, 0), (1, 1), (3, 2), (10, 3), (20, 5), (30, 8)] {
                let mut app = app.clone();
                app.size = (w, h);
                render(&app, w, h);
            }
        }
    }

    #[test]
    fn the_table_shows_exactly_the_rows_paging_counts_on() {
        for height in [10, 24, 41] {
            let app = with_leads(10_000, 100, height);
            let backend = render_app(&app);
            let shown = text(backend.buffer()).matches(".example").count() as u64;
            assert_eq!(shown, crate::app::layout::visible_rows(&app), "height {height}");
        }
    }

    #[test]
    fn a_remembered_list_state_shows_in_the_filter_bar() {
        let mut app = connected_sized(vec![], 100, 10);
        let state =
            crate::settings::UiState { filter: "provider=Google".into(), sort: "domain".into(), descending: false };
        app.leads = LeadList::from_state(&state).0;
        let backend = render_app(&app);
        assert!(line(backend.buffer(), 1).starts_with(" Filter provider=Google  (c clears)"));
        assert!(line(backend.buffer(), 1).ends_with("sort Domain ↑"));
    }

    // --- referral inbox ---

    /// The inbox at `width`×`height` over `total` referrals, `expiring` of them expiring soon.
    fn inbox(total: u64, expiring: u64, width: u16, height: u16) -> App {
        let mut app = with_leads(3, width, height);
        crate::app::fixtures::answer_referrals(&mut app, total, expiring);
        press(&mut app, Action::ToggleReferrals);
        app
    }

    #[test]
    fn inbox_without_referrals_says_where_they_come_from() {
        let app = inbox(0, 0, 100, 20);
        assert_eq!(app.screen, crate::app::model::Screen::Referrals);
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn inbox_lists_referrals_linked_or_not_with_the_selected_one_in_full() {
        let mut app = inbox(2_345, 0, 160, 30);
        press(&mut app, Action::Down);
        press(&mut app, Action::Down);
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn inbox_filtered_by_link_status_shows_the_filter_and_the_matching_count() {
        let mut app = inbox(2_345, 0, 120, 20);
        press(&mut app, Action::Facets);
        press(&mut app, Action::Down);
        press(&mut app, Action::Down);
        press(&mut app, Action::Open);
        let values = ["free_mail_only", "no_domain", "invalid", "linked"]
            .iter()
            .map(|v| protocol::FacetCount { value: v.to_string(), count: 400 })
            .collect();
        let facet = protocol::ReferralFacet::LinkStatus;
        update(&mut app, Msg::Answer(Answer::ReferralFacets { facet, result: Ok(values) }));
        press(&mut app, Action::Open);
        assert_eq!(app.inbox.filter.link_statuses, [protocol::LinkStatus::FreeMailOnly]);
        crate::app::fixtures::answer_referrals(&mut app, 2_345, 0);
        assert_snapshot!(render_app(&app));
    }

    #[test]
    fn referrals_expiring_soon_are_marked_and_counted_in_the_status_bar() {
        let mut app = inbox(12, 3, 130, 18);
        press(&mut app, Action::Down);
        let backend = render_app(&app);
        let screen = text(backend.buffer());
        assert!(screen.contains("⚠ 3 referrals expiring within 3d"), "{screen}");
        assert_snapshot!(backend);
        // The marked row (ref-0001, the third screen line of the table) is red, not only reversed.
        let cells = (0..130).map(|x| backend.buffer()[(x, 5)].clone()).collect::<Vec<_>>();
        let shown: String = cells.iter().map(|c| c.symbol()).collect();
        assert!(shown.contains("⚠") && shown.contains("Customer 1 Gm"), "{shown}");
        let symbols: Vec<&str> = cells.iter().map(|c| c.symbol()).collect();
        let start = (0..symbols.len()).find(|&i| symbols[i..].starts_with(&["C", "u", "s", "t"])).unwrap();
        let fgs: Vec<Color> = cells[start..start + 10].iter().map(|c| c.fg).collect();
        assert!(fgs.iter().all(|fg| *fg == Color::Red), "the customer is red: {shown} {fgs:?}");
        // …and the count is in the status bar on the leads screen too.
        press(&mut app, Action::Back);
        assert!(text(render_app(&app).buffer()).contains("⚠ 3 referrals expiring within 3d"));
    }

    #[test]
    fn the_link_prompt_shows_why_the_daemon_refused_the_domain() {
        let mut app = inbox(12, 0, 120, 20);
        press(&mut app, Action::Down);
        press(&mut app, Action::LinkReferral);
        type_text(&mut app, "gmail.com");
        update(&mut app, Msg::Key(KeyEvent::new(KeyCode::Enter, crossterm::event::KeyModifiers::NONE)));
        let error = "`gmail.com` is not a company domain: `gmail.com` is a free-mail provider, not a company";
        let answer = Answer::Relinked {
            referral_id: "ref-0001".into(),
            domain: Some("gmail.com".into()),
            result: Err(error.into()),
        };
        update(&mut app, Msg::Answer(answer));
        assert!(app.prompt.is_some(), "the prompt stays open to correct the domain");
        assert_snapshot!(render_app(&app));
    }
}
