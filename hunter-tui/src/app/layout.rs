//! Layout maths shared by the views and by paging and scrolling in [`update`](super::update): the
//! same geometry decides what is drawn and what is fetched, without `update` calling into the views.

use ratatui::layout::{Constraint, Flex, Layout, Rect};

use super::model::{App, Screen};
use super::theme::Theme;
use super::view_detail;

/// Where things go on a connected screen.
pub struct Areas {
    pub header: Rect,
    /// The filter bar (leads view only).
    pub bar: Rect,
    pub main: Rect,
    /// One line of progress bars while something runs.
    pub progress: Rect,
    pub footer: Rect,
}

impl Areas {
    pub fn of(app: &App, area: Rect, screen: Screen) -> Areas {
        let bar = u16::from(matches!(screen, Screen::Leads | Screen::Referrals));
        let progress = u16::from(app.progress.is_active());
        let [header, bar, main, progress, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(bar),
            Constraint::Fill(1),
            Constraint::Length(progress),
            Constraint::Length(1),
        ])
        .areas(area);
        Areas { header, bar, main, progress, footer }
    }
}

/// Lead rows the table shows in a terminal of `area`: the main area less borders and header.
/// Computed for the leads view whatever is on screen, so paging in the background (a refresh
/// while the detail is open) keeps the table's geometry.
pub fn leads_table_rows(app: &App, area: Rect) -> u16 {
    Areas::of(app, area, Screen::Leads).main.height.saturating_sub(3)
}

/// Rows of leads the table shows at the current terminal size: what paging asks for.
pub fn visible_rows(app: &App) -> u64 {
    let (width, height) = app.size;
    leads_table_rows(app, Rect::new(0, 0, width, height)) as u64
}

/// Referral rows the inbox table shows at the current terminal size (its detail pane below takes
/// [`INBOX_DETAIL_LINES`] lines plus borders).
pub fn inbox_rows(app: &App) -> u64 {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    inbox_split(Areas::of(app, area, Screen::Referrals).main)[0].height.saturating_sub(3) as u64
}

/// Lines of the selected referral's pane under the inbox table.
pub const INBOX_DETAIL_LINES: u16 = 5;

/// The inbox's table and, below it, the selected referral in full.
pub fn inbox_split(main: Rect) -> [Rect; 2] {
    Layout::vertical([Constraint::Fill(1), Constraint::Length(INBOX_DETAIL_LINES + 2)]).areas(main)
}

/// How far the detail view can scroll at the current terminal size.
pub fn detail_max_scroll(app: &App) -> u16 {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    view_detail::max_scroll(app, Areas::of(app, area, Screen::Detail).main, Theme { color: app.color })
}

/// A `width`×`height` rectangle in the middle of `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height)]).flex(Flex::Center).areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width)]).flex(Flex::Center).areas(row);
    cell
}
