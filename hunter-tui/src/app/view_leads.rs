//! The leads table, its filter bar and the progress line. Only the rows on screen are built, from
//! the pages the model holds, so a frame costs the same with 100 leads or 100k.

use protocol::{LeadRow, LeadSort};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Cell, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap};

use super::layout::centered;
use super::model::App;
use super::theme::Theme;
use crate::humanize;
use crate::humanize::{provider_text, sort_label};
use crate::keymap::Action;

/// A column of the leads table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Domain,
    Company,
    Provider,
    Segment,
    Score,
    Priority,
    CommercialSegment,
    Heat,
    /// Where the mail servers are hosted (IP enrichment), e.g. "Microsoft · IE".
    Infrastructure,
    Referral,
    D365,
    LastScan,
}

struct ColSpec {
    col: Col,
    title: &'static str,
    /// Narrowest useful width; fixed columns have min == max.
    min: u16,
    max: u16,
    sort: Option<LeadSort>,
}

/// Display order.
const COLUMNS: [ColSpec; 12] = [
    ColSpec { col: Col::Domain, title: "Domain", min: 18, max: 48, sort: Some(LeadSort::Domain) },
    ColSpec { col: Col::Company, title: "Company", min: 14, max: 36, sort: Some(LeadSort::Company) },
    // 15 fits "M365 ⟵ Mimecast".
    ColSpec { col: Col::Provider, title: "Provider", min: 15, max: 32, sort: Some(LeadSort::Provider) },
    ColSpec { col: Col::Segment, title: "Segment", min: 9, max: 9, sort: Some(LeadSort::Segment) },
    ColSpec { col: Col::Score, title: "Score", min: 5, max: 5, sort: Some(LeadSort::Score) },
    ColSpec { col: Col::Priority, title: "Prio", min: 4, max: 4, sort: Some(LeadSort::Priority) },
    ColSpec {
        col: Col::CommercialSegment,
        title: "Comm. seg",
        min: 12,
        max: 12,
        sort: Some(LeadSort::CommercialSegment),
    },
    ColSpec { col: Col::Heat, title: "Heat", min: 4, max: 4, sort: Some(LeadSort::TechnicalHeat) },
    ColSpec { col: Col::Infrastructure, title: "Infra", min: 12, max: 24, sort: None },
    ColSpec { col: Col::Referral, title: "Referral", min: 11, max: 11, sort: None },
    ColSpec { col: Col::D365, title: "D365", min: 7, max: 7, sort: None },
    ColSpec { col: Col::LastScan, title: "Last scan", min: 9, max: 9, sort: Some(LeadSort::ScannedAt) },
];

/// What goes first when the terminal is too narrow: least useful for triage first.
const DROP_ORDER: [Col; 11] = [
    Col::Infrastructure,
    Col::Referral,
    Col::D365,
    Col::CommercialSegment,
    Col::Heat,
    Col::LastScan,
    Col::Company,
    Col::Priority,
    Col::Segment,
    Col::Provider,
    Col::Score,
];

/// Flexible columns grow first to a comfortable width, then to their maximum.
const COMFORTABLE: [(Col, u16); 3] = [(Col::Domain, 28), (Col::Provider, 22), (Col::Company, 22)];

/// Width of the selection arrow plus the mark/favourite column and its gap.
const ROW_PREFIX: u16 = 2 + 2 + 1;

/// The columns that fit in `width` (the table's inner width) with their widths: low-value columns
/// are dropped whole rather than squeezed, and spare room goes to domain, provider and company.
pub fn lead_columns(width: u16) -> Vec<(Col, u16)> {
    let mut shown: Vec<&ColSpec> = COLUMNS.iter().collect();
    let need = |shown: &[&ColSpec]| {
        ROW_PREFIX + shown.iter().map(|c| c.min).sum::<u16>() + shown.len().saturating_sub(1) as u16
    };
    for drop in DROP_ORDER {
        if need(&shown) <= width {
            break;
        }
        shown.retain(|c| c.col != drop);
    }
    let mut widths: Vec<(Col, u16)> = shown.iter().map(|c| (c.col, c.min)).collect();
    let mut spare = width.saturating_sub(need(&shown));
    let maxima: Vec<(Col, u16)> = shown.iter().map(|c| (c.col, c.max)).collect();
    for targets in [&COMFORTABLE[..], &maxima[..]] {
        for (col, target) in targets {
            if let Some((_, w)) = widths.iter_mut().find(|(c, _)| c == col) {
                let grow = target.saturating_sub(*w).min(spare);
                *w += grow;
                spare -= grow;
            }
        }
    }
    widths
}

/// `Microsoft · IE`, with `⚠` when a proxy/VPN signal was seen; `None` without enrichment data.
pub fn infrastructure_label(row: &LeadRow) -> Option<(String, bool)> {
    let proxy = row.ip_proxy == Some(true);
    let label = match (&row.ip_org, &row.ip_country) {
        (Some(org), Some(country)) => format!("{org} · {country}"),
        (Some(org), None) => org.clone(),
        (None, Some(country)) => country.clone(),
        (None, None) => return None,
    };
    Some((if proxy { format!("⚠ {label}") } else { label }, proxy))
}

fn spec(col: Col) -> &'static ColSpec {
    COLUMNS.iter().find(|c| c.col == col).unwrap_or(&COLUMNS[0])
}

/// `/ segment=Migration acme   (c clears)` on the left, `sort Score ↓ · 2 marked` on the right.
pub fn render_filter_bar(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    if area.height == 0 {
        return;
    }
    let list = &app.leads;
    let keys = &app.keymap;
    let left = if list.expr.is_empty() {
        Line::from(vec![
            Span::styled(" No filter", theme.dim()),
            Span::styled(format!("  {} ", keys.key_for(Action::Filter)), theme.key()),
            Span::styled("filters", theme.dim()),
            Span::styled(format!("  {} ", keys.key_for(Action::Facets)), theme.key()),
            Span::styled("picks facets", theme.dim()),
        ])
    } else {
        Line::from(vec![
            Span::styled(" Filter ", theme.heading()),
            Span::styled(list.expr.clone(), theme.bold()),
            Span::styled(format!("  ({} clears)", keys.key_for(Action::ClearFilter)), theme.dim()),
        ])
    };
    let arrow = if list.descending { "↓" } else { "↑" };
    let mut right = vec![Span::styled("sort ", theme.dim()), Span::raw(format!("{} {arrow}", sort_label(list.sort)))];
    if !list.marked.is_empty() {
        right.push(Span::styled(" · ", theme.dim()));
        right.push(Span::styled(format!("{} marked", humanize::thousands(list.marked.len() as u64)), theme.bold()));
    }
    right.push(Span::raw(" "));
    let right = Line::from(right);
    let [l, r] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(right.width() as u16)]).areas(area);
    frame.render_widget(Paragraph::new(left), l);
    frame.render_widget(Paragraph::new(right), r);
}

pub fn render_leads(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let list = &app.leads;
    let count = match (list.count, list.total) {
        (None, None) if list.error.is_some() => "?".to_string(),
        (None, None) => "loading…".to_string(),
        (None, Some(_)) => "counting…".to_string(),
        // An estimate (exact counting would have been slow) says so.
        (Some(count), total) => {
            let approx = if count.exact { "" } else { "≈" };
            let n = humanize::thousands(total.unwrap_or(count.count));
            if list.filter.is_empty() { format!("{approx}{n}") } else { format!("{approx}{n} matching") }
        }
    };
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Span::styled(format!(" Leads ({count}) "), theme.title()));
    let inner = block.inner(area);
    let columns = lead_columns(inner.width);

    let message = match (list.total, &list.error) {
        (None, Some(error)) => Some(error_text(error, theme)),
        (None, None) => Some(Text::from(Line::styled("Loading leads…", theme.dim()))),
        (Some(0), _) => Some(empty_text(app, theme)),
        _ => None,
    };
    let header = Row::new(std::iter::once(Cell::from("")).chain(columns.iter().map(|(col, _)| {
        let spec = spec(*col);
        let arrow = match spec.sort {
            Some(sort) if sort == list.sort => {
                if list.descending {
                    " ↓"
                } else {
                    " ↑"
                }
            }
            _ => "",
        };
        Cell::from(format!("{}{arrow}", spec.title))
    })))
    .style(theme.heading());
    let widths: Vec<Constraint> =
        std::iter::once(Constraint::Length(2)).chain(columns.iter().map(|(_, w)| Constraint::Length(*w))).collect();

    let visible = inner.height.saturating_sub(1) as u64;
    let end = list.total.map_or(0, |t| t.min(list.top + visible));
    let rows: Vec<Row> = (list.top..end).map(|i| lead_row(app, i, &columns, theme)).collect();
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(theme.selected())
        .highlight_symbol("▶ ")
        .highlight_spacing(HighlightSpacing::Always);
    let selected = (list.total.is_some_and(|t| t > 0)).then(|| list.selected.saturating_sub(list.top) as usize);
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);

    if let Some(text) = message {
        let [_, body] = Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);
        let height = text.height() as u16;
        let paragraph = Paragraph::new(text).alignment(Alignment::Center).wrap(Wrap { trim: true });
        frame.render_widget(paragraph, centered(body, body.width, height));
    }
}

fn empty_text(app: &App, theme: Theme) -> Text<'static> {
    let keys = &app.keymap;
    if app.leads.filter.is_empty() {
        Text::from(vec![
            Line::from("No leads yet."),
            Line::from(""),
            Line::from(vec![
                Span::raw("Press "),
                Span::styled(keys.key_for(Action::Add), theme.key()),
                Span::raw(" to add domains or "),
                Span::styled(keys.key_for(Action::Import), theme.key()),
                Span::raw(" to import a CSV/XLSX file,"),
            ]),
            Line::from(vec![
                Span::raw("or run "),
                Span::styled("hunter-tui import FILE", theme.key()),
                Span::raw(" in a shell."),
            ]),
        ])
    } else {
        Text::from(vec![
            Line::from(format!("No lead matches `{}`.", app.leads.expr)),
            Line::from(""),
            Line::from(vec![
                Span::raw("Press "),
                Span::styled(keys.key_for(Action::ClearFilter), theme.key()),
                Span::raw(" to clear the filter or "),
                Span::styled(keys.key_for(Action::Filter), theme.key()),
                Span::raw(" to change it."),
            ]),
        ])
    }
}

fn error_text(error: &str, theme: Theme) -> Text<'static> {
    Text::from(vec![
        Line::styled("Could not load the leads", theme.error()),
        Line::from(""),
        Line::from(humanize::one_line(error)),
        Line::from(""),
        Line::styled("Retrying every second; this goes away by itself once hunterd answers.", theme.dim()),
    ])
}

fn lead_row<'a>(app: &App, index: u64, columns: &[(Col, u16)], theme: Theme) -> Row<'a> {
    let Some(row) = app.leads.row(index) else {
        // Its page is on its way: a placeholder keeps the scroll position honest.
        let cells = std::iter::once(Cell::from("")).chain(
            columns
                .iter()
                .enumerate()
                .map(|(i, _)| Cell::from(if i == 0 { Span::styled("…", theme.dim()) } else { Span::raw("") })),
        );
        return Row::new(cells.collect::<Vec<_>>());
    };
    let marked = app.leads.marked.contains(&row.domain);
    let prefix = format!("{}{}", if marked { "●" } else { " " }, if row.favorite { "★" } else { " " });
    let mut cells = vec![Cell::from(Span::styled(prefix, theme.fg(Color::Magenta).add_modifier(Modifier::BOLD)))];
    cells.extend(columns.iter().map(|(col, width)| lead_cell(app, row, *col, *width, theme)));
    let row_style = if marked { theme.bold() } else { Style::new() };
    Row::new(cells).style(row_style)
}

fn lead_cell<'a>(app: &App, row: &LeadRow, col: Col, width: u16, theme: Theme) -> Cell<'a> {
    let text = |value: &Option<String>| Span::raw(fit(value.as_deref().unwrap_or(""), width));
    let span = match col {
        Col::Domain => Span::raw(fit(&row.domain, width)),
        Col::Company => text(&row.company),
        Col::Provider => match provider_text(row) {
            (label, true) => Span::raw(fit(&label, width)),
            (label, false) => Span::styled(fit(&label, width), theme.dim()),
        },
        Col::Segment => {
            Span::styled(fit(row.segment.as_deref().unwrap_or(""), width), segment_style(row.segment.as_deref(), theme))
        }
        Col::Score => {
            let score = row.score.map(|s| s.to_string()).unwrap_or_default();
            Span::styled(format!("{score:>w$}", w = width as usize), score_style(row.score, theme))
        }
        Col::Priority => Span::styled(
            fit(row.priority.as_deref().unwrap_or(""), width),
            priority_style(row.priority.as_deref(), theme),
        ),
        Col::CommercialSegment => text(&row.commercial_segment),
        Col::Heat => Span::styled(
            fit(row.technical_heat.as_deref().unwrap_or(""), width),
            heat_style(row.technical_heat.as_deref(), theme),
        ),
        Col::Infrastructure => match infrastructure_label(row) {
            Some((label, proxy)) if proxy => Span::styled(fit(&label, width), theme.busy()),
            Some((label, _)) => Span::raw(fit(&label, width)),
            None => Span::raw(""),
        },
        Col::Referral => match row.referral_type.as_deref() {
            None => Span::raw(""),
            kind => Span::raw(referral_badge(kind)),
        },
        Col::D365 => match row.d365_status.as_deref() {
            None => Span::styled("–", theme.dim()),
            Some("synced") => Span::styled(fit("synced", width), theme.ok()),
            Some("failed") => Span::styled(fit("failed", width), theme.error()),
            Some("duplicate") => Span::styled(fit("dup", width), theme.busy()),
            Some(_) => Span::styled(fit("pending", width), theme.busy()),
        },
        Col::LastScan => match row.scanned_at {
            Some(at) => {
                let secs = (app.now - at).num_seconds().max(0).unsigned_abs();
                Span::raw(format!("{} ago", humanize::short_duration(secs)))
            }
            None => Span::styled("never", theme.dim()),
        },
    };
    Cell::from(span)
}

/// Cuts text to `width` characters, ending with `…` when something was cut.
pub fn fit(text: &str, width: u16) -> String {
    let width = width as usize;
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn score_style(score: Option<i32>, theme: Theme) -> Style {
    match score {
        Some(s) if s >= 70 => theme.fg(Color::Green).add_modifier(Modifier::BOLD),
        Some(s) if s >= 40 => theme.fg(Color::Yellow),
        _ => Style::new(),
    }
}

fn segment_style(segment: Option<&str>, theme: Theme) -> Style {
    match segment {
        Some("Migration") => theme.fg(Color::Yellow),
        Some("Existing") => theme.fg(Color::Cyan),
        Some("Skip") => theme.dim(),
        _ => Style::new(),
    }
}

fn priority_style(priority: Option<&str>, theme: Theme) -> Style {
    match priority {
        Some("P1" | "P2") => theme.fg(Color::Green).add_modifier(Modifier::BOLD),
        Some("P6") => theme.dim(),
        _ => Style::new(),
    }
}

fn heat_style(heat: Option<&str>, theme: Theme) -> Style {
    match heat {
        Some("Hot") => theme.fg(Color::Red).add_modifier(Modifier::BOLD),
        Some("Warm") => theme.fg(Color::Yellow),
        Some("Cold") => theme.fg(Color::Blue),
        _ => Style::new(),
    }
}

/// `scans ▕████░░░░▏ 120 waiting · import leads.csv ▕██░░░░▏ 40/100`
pub fn render_progress(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    if area.height == 0 {
        return;
    }
    let mut spans = vec![Span::raw(" ")];
    if let Some(queue) = &app.progress.scan {
        spans.push(Span::styled("scans ", theme.heading()));
        spans.push(Span::styled(bar(queue.peak - queue.waiting.min(queue.peak), queue.peak, 16), theme.ok()));
        spans.push(Span::raw(format!(" {} waiting   ", humanize::thousands(queue.waiting))));
    }
    for batch in &app.progress.batches {
        spans.push(Span::styled(format!("{} ", batch.label), theme.heading()));
        spans.push(Span::styled(bar(batch.done, batch.total, 12), theme.ok()));
        spans.push(Span::raw(format!(" {}/{}   ", humanize::thousands(batch.done), humanize::thousands(batch.total))));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// `▕██████░░░░▏`: readable without colour.
pub fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 { width } else { (done.min(total) as usize * width) / total as usize };
    format!("▕{}{}▏", "█".repeat(filled), "░".repeat(width - filled))
}

/// The Referral column's badge for a referral kind: Co-sell, Marketplace, SP, MQL, Own deal.
pub fn referral_badge(kind: Option<&str>) -> &'static str {
    match kind {
        Some("co-sell") => "Co-sell",
        Some("marketplace") => "Marketplace",
        Some("solution-provider") => "SP",
        Some("marketing-qualified") => "MQL",
        Some("own-deal") => "Own deal",
        Some(_) => "Referral",
        None => "–",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(width: u16) -> Vec<&'static str> {
        lead_columns(width).iter().map(|(c, _)| spec(*c).title).collect()
    }

    #[test]
    fn a_wide_terminal_shows_every_column_and_gives_the_room_to_the_text_columns() {
        let columns = lead_columns(180);
        assert_eq!(columns.len(), COLUMNS.len());
        let width = |col| columns.iter().find(|(c, _)| *c == col).map(|(_, w)| *w).unwrap();
        assert!(width(Col::Domain) >= 28 && width(Col::Provider) >= 22 && width(Col::Company) >= 22, "{columns:?}");
        let used: u16 = ROW_PREFIX + columns.iter().map(|(_, w)| w).sum::<u16>() + columns.len() as u16 - 1;
        assert!(used <= 180);
    }

    #[test]
    fn referral_kinds_get_short_badges() {
        let badges: Vec<&str> = ["co-sell", "marketplace", "solution-provider", "marketing-qualified", "own-deal"]
            .into_iter()
            .map(|k| referral_badge(Some(k)))
            .collect();
        assert_eq!(badges, ["Co-sell", "Marketplace", "SP", "MQL", "Own deal"]);
    }

    #[test]
    fn narrow_terminals_drop_infrastructure_referral_and_d365_first_and_keep_domain_and_score_last() {
        assert_eq!(titles(130).len(), COLUMNS.len() - 1);
        assert!(!titles(130).contains(&"Infra"));
        assert_eq!(titles(118).len(), COLUMNS.len() - 2);
        assert!(!titles(118).contains(&"Referral"));
        assert_eq!(titles(98), vec!["Domain", "Company", "Provider", "Segment", "Score", "Prio", "Heat", "Last scan"]);
        assert_eq!(titles(58), vec!["Domain", "Provider", "Segment", "Score"]);
        assert_eq!(titles(30), vec!["Domain", "Score"]);
        assert_eq!(titles(5), vec!["Domain"]);
    }

    #[test]
    fn the_infrastructure_column_shows_host_and_country_and_flags_proxies() {
        let row = LeadRow { ip_org: Some("Microsoft".into()), ip_country: Some("IE".into()), ..LeadRow::default() };
        assert_eq!(infrastructure_label(&row), Some(("Microsoft · IE".into(), false)));
        let proxied = LeadRow { ip_country: Some("NL".into()), ip_proxy: Some(true), ..LeadRow::default() };
        assert_eq!(infrastructure_label(&proxied), Some(("⚠ NL".into(), true)));
        assert_eq!(infrastructure_label(&LeadRow::default()), None);
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(fit("contoso.com", 20), "contoso.com");
        assert_eq!(fit("a-very-long-domain.example", 10), "a-very-lo…");
    }

    #[test]
    fn bars_fill_in_proportion_and_a_zero_total_is_full() {
        assert_eq!(bar(1, 4, 4), "▕█░░░▏");
        assert_eq!(bar(0, 0, 2), "▕██▏");
    }
}
