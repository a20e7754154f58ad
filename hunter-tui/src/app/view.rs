//! Rendering: a pure function of the model. It never reads the clock or the connection, so any
//! screen can be reproduced exactly in a snapshot test.

use protocol::{JobInfo, JobOutcome, JobState};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, BorderType, Cell, Clear, HighlightSpacing, Padding, Paragraph, Row, Table, TableState, Wrap,
};

use super::model::{App, Daemon, Down, Link, RETRY_SECS, Screen};
use crate::humanize;
use crate::keymap::{self, Action, KEYMAP, Scope};
use crate::output;

/// Draws the whole screen.
pub fn view(app: &App, frame: &mut Frame) {
    let theme = Theme { color: app.color };
    let [body, footer] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(frame.area());
    match &app.link {
        Link::Up(daemon) => {
            let [header, main] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
            render_header(frame, header, app, daemon, theme);
            match app.screen {
                Screen::Leads => render_leads(frame, main, theme),
                Screen::Sync => render_sync(frame, main, app, theme),
            }
        }
        Link::Connecting => render_unavailable(frame, body, app, None, theme),
        Link::Down(down) => render_unavailable(frame, body, app, Some(down), theme),
    }
    render_footer(frame, footer, app, theme);
    if app.help {
        render_help(frame, frame.area(), theme);
    }
}

/// Styles from the 16 named ANSI colours; with colour off, only bold/reverse/italic remain, so
/// nothing depends on colour alone.
#[derive(Debug, Clone, Copy)]
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(self, color: Color) -> Style {
        if self.color { Style::new().fg(color) } else { Style::new() }
    }

    fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    fn heading(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    fn dim(self) -> Style {
        self.fg(Color::DarkGray)
    }

    fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    fn busy(self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Selection is shown by reversing the row, never by a background colour alone.
    fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
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
        Span::raw(format!("db {}", daemon.database.mode)),
        sep(),
        Span::raw(format!("up {}", humanize::duration(daemon.uptime_at(app.now)))),
        sep(),
        Span::styled(app.socket.display().to_string(), theme.dim()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

/// The lead table's columns, in display order, with the width each needs. When the terminal is
/// too narrow the rightmost ones are dropped rather than squeezed into unreadable slivers.
const LEAD_COLUMNS: &[(&str, u16)] = &[
    ("Domain", 14),
    ("Company", 10),
    ("Provider", 8),
    ("Segment", 7),
    ("Score", 5),
    ("Priority", 8),
    ("Comm. seg", 9),
    ("Heat", 4),
    ("Referral", 8),
    ("D365", 4),
    ("Last scan", 9),
];

/// How many lead columns fit in `width` (always at least the domain).
fn lead_columns_that_fit(width: u16) -> usize {
    let mut used = 0u16;
    let fitting = LEAD_COLUMNS
        .iter()
        .take_while(|(_, w)| {
            used = used.saturating_add(w + 1);
            used <= width.saturating_add(1)
        })
        .count();
    fitting.max(1)
}

fn render_leads(frame: &mut Frame, area: Rect, theme: Theme) {
    let block = Block::bordered().border_type(BorderType::Rounded).title(Span::styled(" Leads (0) ", theme.title()));
    let inner = block.inner(area);
    let shown = &LEAD_COLUMNS[..lead_columns_that_fit(inner.width)];
    let widths =
        shown.iter().enumerate().map(|(i, (_, w))| if i == 0 { Constraint::Min(*w) } else { Constraint::Length(*w) });
    let header = Row::new(shown.iter().map(|(title, _)| Cell::from(*title))).style(theme.heading());
    let table = Table::new(Vec::<Row>::new(), widths).header(header).block(block);
    frame.render_widget(table, area);

    let command = |text: &'static str| Span::styled(text, theme.key());
    let empty = Text::from(vec![
        Line::from("No leads yet."),
        Line::from(""),
        Line::from(vec![Span::raw("From a file:  "), command("hunter-tui import FILE")]),
        Line::from(vec![Span::raw("One domain:  "), command("hunter-tui add DOMAIN")]),
        Line::from(""),
        Line::styled("(both arrive with the scan engine)", theme.dim()),
    ]);
    let [_, message] = Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);
    let message = centered(message, message.width, empty.height() as u16);
    frame.render_widget(Paragraph::new(empty).alignment(Alignment::Center).wrap(Wrap { trim: true }), message);
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

/// The bottom line: the latest notice if any, else the keys that work here.
fn render_footer(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    if let Some(notice) = &app.notice {
        let style = if notice.error { theme.error() } else { theme.ok() };
        frame.render_widget(Paragraph::new(Line::styled(format!(" {}", notice.text), style)), area);
        return;
    }
    let connected = matches!(app.link, Link::Up(_));
    let scope = if connected { app.screen.scope() } else { Scope::Global };
    let mut spans = vec![Span::raw(" ")];
    for binding in keymap::bindings_for(scope) {
        let Some(hint) = binding.hint else { continue };
        if !connected && binding.action != Action::Quit && binding.action != Action::ToggleHelp {
            continue;
        }
        spans.push(Span::styled(binding.first_key_label(), theme.key()));
        spans.push(Span::raw(format!(" {hint}  ")));
    }
    let [hints, summary] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(24)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(spans)), hints);
    if connected {
        frame.render_widget(Paragraph::new(jobs_summary(app, theme)).right_aligned(), summary);
    }
}

/// `3 jobs, 1 failed `: enough to notice trouble without opening the sync view.
fn jobs_summary(app: &App, theme: Theme) -> Line<'static> {
    let failed = app.jobs.iter().filter(|j| matches!(j.last_result, Some(JobOutcome::Failed { .. }))).count();
    let mut spans = vec![Span::raw(humanize::count(app.jobs.len(), "job"))];
    if failed > 0 {
        spans.push(Span::raw(", "));
        spans.push(Span::styled(format!("{failed} failed"), theme.error()));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// The `?` overlay, generated from [`KEYMAP`] so it always tells the truth.
fn render_help(frame: &mut Frame, area: Rect, theme: Theme) {
    let key_width = KEYMAP.iter().map(|b| b.keys_label().chars().count()).max().unwrap_or(0) + 2;
    let mut lines = Vec::new();
    for scope in [Scope::Global, Scope::Sync] {
        if !lines.is_empty() {
            lines.push(Line::from(""));
        }
        lines.push(Line::styled(scope.title(), theme.heading()));
        for binding in KEYMAP.iter().filter(|b| b.scope == scope) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<key_width$}", binding.keys_label()), theme.key()),
                Span::raw(binding.description),
            ]));
        }
    }
    let width = area.width.saturating_sub(4).min(80);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Span::styled(" Keys ", theme.title()))
        .title_bottom(Line::styled(format!(" {} closes ", close_keys()), theme.dim()).right_aligned());
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false }).block(block);
    let popup = centered(area, width, fit_height(&paragraph, width, area));
    frame.render_widget(Clear, popup);
    frame.render_widget(paragraph, popup);
}

/// The keys that close the help, as the keymap defines them.
fn close_keys() -> String {
    [Action::ToggleHelp, Action::Back].map(keymap::keys_for).join(", ")
}

/// A `width`×`height` rectangle in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height)]).flex(Flex::Center).areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width)]).flex(Flex::Center).areas(row);
    cell
}

/// Rows a wrapped, bordered paragraph needs at `width`, capped to what `area` has.
fn fit_height(paragraph: &Paragraph, width: u16, area: Rect) -> u16 {
    u16::try_from(paragraph.line_count(width)).unwrap_or(u16::MAX).min(area.height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::update::{Msg, update};
    use crate::keymap::{KEYMAP, Key};
    use crate::output::fixtures::{self, disabled_job, failed_job, ok_job};
    use insta::assert_snapshot;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    const SOCKET: &str = "/run/hunter/hunterd.sock";

    fn app(color: bool) -> App {
        App::new(SOCKET.into(), color, fixtures::now())
    }

    fn connected(jobs: Vec<JobInfo>) -> App {
        let mut app = app(true);
        update(&mut app, Msg::Connected(Box::new(fixtures::status(jobs))));
        app
    }

    fn down(reason: Down) -> App {
        let mut app = app(true);
        update(&mut app, Msg::ConnectFailed(reason));
        app
    }

    fn press(app: &mut App, action: Action) {
        let key: Key = KEYMAP.iter().find(|b| b.action == action).expect("bound").keys[0];
        update(app, Msg::Key(crossterm::event::KeyEvent::new(key.code, key.modifiers)));
    }

    /// The sync view with the failed job selected.
    fn sync_view_on_failed_job(color: bool) -> App {
        let mut app = connected(vec![ok_job(), failed_job(), disabled_job()]);
        app.color = color;
        press(&mut app, Action::ToggleSync);
        press(&mut app, Action::Down);
        app
    }

    fn render(app: &App, width: u16, height: u16) -> TestBackend {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        terminal.draw(|frame| view(app, frame)).expect("draw");
        terminal.backend().clone()
    }

    fn text(buffer: &Buffer) -> String {
        buffer.content.iter().map(|c| c.symbol()).collect()
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

    #[test]
    fn connected_with_no_leads_shows_the_empty_table_and_how_to_add_leads() {
        let backend = render(&connected(vec![ok_job(), failed_job()]), 100, 24);
        assert_snapshot!(backend);
    }

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
    fn narrow_terminal_drops_lead_columns_instead_of_crushing_them() {
        let backend = render(&connected(vec![ok_job()]), 60, 20);
        assert_snapshot!(backend);
    }

    #[test]
    fn narrow_terminal_still_explains_a_missing_daemon() {
        let backend = render(&down(Down::NotRunning), 60, 20);
        assert!(text(backend.buffer()).contains("hunterd run"));
        assert_snapshot!(backend);
    }

    #[test]
    fn no_colour_mode_uses_no_colour_at_all() {
        let backend = render(&sync_view_on_failed_job(false), 80, 24);
        assert_eq!(coloured_cells(backend.buffer()), 0, "{}", styles(backend.buffer()));
        assert_snapshot!("no_colour_mode_text", backend);
        assert_snapshot!("no_colour_mode_styles", styles(backend.buffer()));
    }

    #[test]
    fn colour_mode_does_use_colour() {
        // Guards the test above: the same screen with colour on must have coloured cells.
        let backend = render(&sync_view_on_failed_job(true), 80, 24);
        assert!(coloured_cells(backend.buffer()) > 0);
    }

    #[test]
    fn help_overlay_lists_every_binding_in_the_keymap() {
        let mut app = connected(vec![]);
        press(&mut app, Action::ToggleHelp);
        let backend = render(&app, 80, 24);
        let all = text(backend.buffer());
        for binding in KEYMAP {
            assert!(all.contains(binding.description), "help lacks {:?}", binding.description);
            assert!(all.contains(&binding.keys_label()), "help lacks {}", binding.keys_label());
        }
        assert_snapshot!(backend);
    }

    #[test]
    fn an_error_notice_replaces_the_key_hints() {
        let mut app = connected(vec![]);
        let request = protocol::Request::RunJob { name: "rescan".into() };
        update(&mut app, Msg::Answer { request, result: Err("busy".into()) });
        let backend = render(&app, 80, 24);
        let buffer = backend.buffer();
        let last_row: String = (0..80).map(|x| buffer[(x, 23)].symbol()).collect();
        assert_eq!(last_row.trim_end(), " could not run rescan: busy");
    }

    #[test]
    fn tiny_terminals_do_not_panic() {
        let mut help = connected(vec![ok_job()]);
        press(&mut help, Action::ToggleHelp);
        let screens = [connected(vec![]), sync_view_on_failed_job(true), down(Down::NotRunning), help];
        for app in &screens {
            for (w, h) in [(0, 0), (1, 1), (3, 2), (10, 3), (20, 5)] {
                render(app, w, h);
            }
        }
    }

    #[test]
    fn lead_columns_that_fit_keeps_at_least_the_domain() {
        assert_eq!(lead_columns_that_fit(3), 1);
        assert_eq!(lead_columns_that_fit(200), LEAD_COLUMNS.len());
    }
}
