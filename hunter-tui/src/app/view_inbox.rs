//! The referral inbox: the filter bar, the table of referrals (expiring ones marked `⚠`, readable
//! without colour) and, below it, the selected referral in full (contacts, why it is not linked,
//! who linked it by hand).

use protocol::{LinkStatus, ReferralRow, ReferralSort};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Cell, HighlightSpacing, Padding, Paragraph, Row, Table, TableState, Wrap};

use super::layout::{centered, inbox_split};
use super::model::App;
use super::theme::Theme;
use super::update::referral_sort_label;
use super::view_leads::{fit, referral_badge};
use crate::humanize;
use crate::keymap::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Customer,
    Name,
    Kind,
    Status,
    Value,
    Created,
    Updated,
    Expires,
    Link,
    Domain,
}

/// Column, title, width (0 = shares the room left), and the sort it shows.
const COLUMNS: [(Col, &str, u16, ReferralSort); 10] = [
    (Col::Customer, "Customer", 0, ReferralSort::Customer),
    (Col::Name, "Name", 0, ReferralSort::Name),
    (Col::Kind, "Kind", 11, ReferralSort::Kind),
    (Col::Status, "Status", 14, ReferralSort::Status),
    (Col::Value, "Value", 14, ReferralSort::DealValue),
    (Col::Created, "Created", 10, ReferralSort::Created),
    (Col::Updated, "Updated", 10, ReferralSort::Updated),
    (Col::Expires, "Expires", 10, ReferralSort::Expiration),
    (Col::Link, "Link", 14, ReferralSort::LinkStatus),
    (Col::Domain, "Domain", 0, ReferralSort::Domain),
];

/// Dropped first when the terminal is narrow (the pane below still shows them for the selection).
const DROP_ORDER: [Col; 5] = [Col::Created, Col::Name, Col::Updated, Col::Value, Col::Kind];

fn columns(width: u16) -> Vec<(Col, &'static str, u16, ReferralSort)> {
    let mut shown: Vec<_> = COLUMNS.to_vec();
    // Flexible columns need about 14 each; 2 for the marker, 1 between columns.
    let need = |shown: &[(Col, &str, u16, ReferralSort)]| -> u16 {
        4 + shown.iter().map(|c| if c.2 == 0 { 14 } else { c.2 }).sum::<u16>() + shown.len() as u16
    };
    for drop in DROP_ORDER {
        if need(&shown) <= width {
            break;
        }
        shown.retain(|c| c.0 != drop);
    }
    shown
}

/// `/ search "acme" · link no_domain   (c clears)` on the left, `sort Updated ↓` on the right.
pub fn render_filter_bar(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    if area.height == 0 {
        return;
    }
    let inbox = &app.inbox;
    let keys = &app.keymap;
    let left = if inbox.filter.is_empty() {
        Line::from(vec![
            Span::styled(" All referrals", theme.dim()),
            Span::styled(format!("  {} ", keys.key_for(Action::Filter)), theme.key()),
            Span::styled("searches", theme.dim()),
            Span::styled(format!("  {} ", keys.key_for(Action::Facets)), theme.key()),
            Span::styled("filters kind, status, link", theme.dim()),
        ])
    } else {
        Line::from(vec![
            Span::styled(" Filter ", theme.heading()),
            Span::styled(inbox.describe_filter(), theme.bold()),
            Span::styled(format!("  ({} clears)", keys.key_for(Action::ClearFilter)), theme.dim()),
        ])
    };
    let arrow = if inbox.descending { "↓" } else { "↑" };
    let right = Line::from(vec![
        Span::styled("sort ", theme.dim()),
        Span::raw(format!("{} {arrow} ", referral_sort_label(inbox.sort))),
    ]);
    let [l, r] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(right.width() as u16)]).areas(area);
    frame.render_widget(Paragraph::new(left), l);
    frame.render_widget(Paragraph::new(right), r);
}

pub fn render_inbox(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let [table_area, detail_area] = inbox_split(area);
    render_table(frame, table_area, app, theme);
    render_selected(frame, detail_area, app, theme);
}

fn render_table(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let inbox = &app.inbox;
    let count = match inbox.total {
        None if inbox.error.is_some() => "?".to_string(),
        None => "loading…".to_string(),
        Some(n) if inbox.filter.is_empty() => humanize::thousands(n),
        Some(n) => format!("{} matching", humanize::thousands(n)),
    };
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Span::styled(format!(" Partner Center referrals ({count}) "), theme.title()));
    let inner = block.inner(area);
    let columns = columns(inner.width);
    let header = Row::new(std::iter::once(Cell::from("")).chain(columns.iter().map(|(_, title, _, sort)| {
        let arrow = match (*sort == inbox.sort, inbox.descending) {
            (true, true) => " ↓",
            (true, false) => " ↑",
            _ => "",
        };
        Cell::from(format!("{title}{arrow}"))
    })))
    .style(theme.heading());
    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(2))
        .chain(columns.iter().map(|c| if c.2 == 0 { Constraint::Fill(1) } else { Constraint::Length(c.2) }))
        .collect();
    // The widths the flexible columns get, to cut their text to.
    let fixed: u16 = 4 + columns.iter().map(|c| c.2).sum::<u16>() + columns.len() as u16;
    let flexible = columns.iter().filter(|c| c.2 == 0).count().max(1) as u16;
    let flex_width = inner.width.saturating_sub(fixed) / flexible;

    let visible = inner.height.saturating_sub(1) as u64;
    let end = inbox.total.map_or(0, |t| t.min(inbox.top + visible));
    let rows: Vec<Row> = (inbox.top..end)
        .map(|i| match inbox.row(i) {
            Some(row) => referral_row(app, row, &columns, flex_width, theme),
            None => Row::new(vec![Cell::from(""), Cell::from(Span::styled("…", theme.dim()))]),
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(theme.selected())
        .highlight_symbol("▶ ")
        .highlight_spacing(HighlightSpacing::Always);
    let selected = inbox.total.is_some_and(|t| t > 0).then(|| inbox.selected.saturating_sub(inbox.top) as usize);
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);

    let message = match (inbox.total, &inbox.error) {
        (None, Some(error)) => Some(Text::from(vec![
            Line::styled("Could not load the referrals", theme.error()),
            Line::from(""),
            Line::from(humanize::one_line(error)),
        ])),
        (None, None) => Some(Text::from(Line::styled("Loading referrals…", theme.dim()))),
        (Some(0), _) => Some(empty_text(app, theme)),
        _ => None,
    };
    if let Some(text) = message {
        let [_, body] = Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);
        let height = text.height() as u16;
        let paragraph = Paragraph::new(text).alignment(Alignment::Center).wrap(Wrap { trim: true });
        frame.render_widget(paragraph, centered(body, body.width, height));
    }
}

fn empty_text(app: &App, theme: Theme) -> Text<'static> {
    let keys = &app.keymap;
    if app.inbox.filter.is_empty() {
        Text::from(vec![
            Line::from("No Partner Center referrals yet."),
            Line::from(""),
            Line::from(vec![
                Span::raw("They arrive with the "),
                Span::styled("partner_center_sync", theme.key()),
                Span::raw(" job (features.partner_center_sync); "),
                Span::styled(keys.key_for(Action::ToggleSync), theme.key()),
                Span::raw(" shows it."),
            ]),
        ])
    } else {
        Text::from(vec![
            Line::from(format!("No referral matches {}.", app.inbox.describe_filter())),
            Line::from(""),
            Line::from(vec![
                Span::raw("Press "),
                Span::styled(keys.key_for(Action::ClearFilter), theme.key()),
                Span::raw(" to clear the filter."),
            ]),
        ])
    }
}

fn referral_row<'a>(
    app: &App,
    row: &ReferralRow,
    columns: &[(Col, &'static str, u16, ReferralSort)],
    flex_width: u16,
    theme: Theme,
) -> Row<'a> {
    let marker = if row.expiring_soon { Span::styled("⚠", theme.error()) } else { Span::raw(" ") };
    let mut cells = vec![Cell::from(marker)];
    cells.extend(columns.iter().map(|(col, _, width, _)| {
        let width = if *width == 0 { flex_width } else { *width };
        Cell::from(referral_cell(app, row, *col, width, theme))
    }));
    let style = if row.expiring_soon { theme.fg(Color::Red) } else { Style::new() };
    Row::new(cells).style(style)
}

fn referral_cell(app: &App, row: &ReferralRow, col: Col, width: u16, theme: Theme) -> Span<'static> {
    let text = |value: &Option<String>| Span::raw(fit(value.as_deref().unwrap_or(""), width));
    let date = |at: Option<chrono::DateTime<chrono::Utc>>| match at {
        Some(at) => Span::raw(at.format("%Y-%m-%d").to_string()),
        None => Span::styled("–", theme.dim()),
    };
    match col {
        Col::Customer => text(&row.customer),
        Col::Name => text(&row.name),
        Col::Kind => match row.kind.as_deref() {
            None => Span::styled("unknown", theme.dim()),
            kind => Span::raw(referral_badge(kind)),
        },
        Col::Status => {
            let status = match (&row.status, &row.substatus) {
                (Some(s), Some(sub)) => format!("{s}/{sub}"),
                (Some(s), None) => s.clone(),
                (None, _) => String::new(),
            };
            Span::raw(fit(&status, width))
        }
        Col::Value => Span::raw(format!("{:>w$}", fit(&deal_value(row), width), w = width as usize)),
        Col::Created => date(row.created),
        Col::Updated => match row.updated {
            Some(at) => Span::raw(fit(&humanize::relative(at, app.now), width)),
            None => Span::styled("–", theme.dim()),
        },
        Col::Expires => match row.expiration {
            Some(at) if row.expiring_soon => Span::styled(fit(&humanize::relative(at, app.now), width), theme.error()),
            Some(at) if at < app.now => Span::styled("expired", theme.dim()),
            Some(at) => date(Some(at)),
            None => Span::styled("–", theme.dim()),
        },
        Col::Link => link_span(row, width, theme),
        Col::Domain => text(&row.domain),
    }
}

/// `25,000.00 USD`, or nothing.
fn deal_value(row: &ReferralRow) -> String {
    let Some(value) = &row.deal_value else { return String::new() };
    let (whole, cents) = value.split_once('.').unwrap_or((value, ""));
    let grouped = match whole.parse::<u64>() {
        Ok(n) => humanize::thousands(n),
        Err(_) => whole.to_string(),
    };
    let number = if cents.is_empty() { grouped } else { format!("{grouped}.{cents}") };
    match &row.currency {
        Some(currency) => format!("{number} {currency}"),
        None => number,
    }
}

/// The link status in words; unlinked ones stand out (they are what this screen is for).
fn link_span(row: &ReferralRow, width: u16, theme: Theme) -> Span<'static> {
    let manual = row.manual_by.is_some();
    match row.link_status {
        Some(LinkStatus::Linked) if manual => Span::styled(fit("linked (hand)", width), theme.ok()),
        Some(LinkStatus::Linked) => Span::styled(fit("linked", width), theme.ok()),
        Some(LinkStatus::NoDomain) => Span::styled(fit("no domain", width), theme.busy()),
        Some(LinkStatus::FreeMailOnly) => Span::styled(fit("free mail only", width), theme.busy()),
        Some(LinkStatus::Invalid) => Span::styled(fit("invalid", width), theme.busy()),
        Some(LinkStatus::Unlinked) => Span::styled(fit("unlinked", width), theme.dim()),
        None => Span::styled("?", theme.dim()),
    }
}

/// The selected referral in full: what did not fit in the table.
fn render_selected(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let block = Block::bordered().border_type(BorderType::Rounded).padding(Padding::horizontal(1));
    let Some(row) = app.inbox.selected_row() else {
        frame.render_widget(block, area);
        return;
    };
    let label = |text: &'static str| Span::styled(format!("{text:<9}"), theme.heading());
    let when = |at: Option<chrono::DateTime<chrono::Utc>>| match at {
        Some(at) => format!("{} ({})", at.format("%Y-%m-%d %H:%M"), humanize::relative(at, app.now)),
        None => "–".into(),
    };
    let keys = &app.keymap;
    let link_line = match (row.link_status, &row.domain) {
        (Some(LinkStatus::Linked), Some(domain)) => {
            let mut spans = vec![label("Link"), Span::styled(domain.clone(), theme.bold())];
            if let Some(by) = &row.manual_by {
                spans.push(Span::raw(format!(" — linked by {by} {}", when(row.manual_at))));
            }
            spans.push(Span::styled(
                format!("   Enter opens the lead · {} unlinks", keys.key_for(Action::UnlinkReferral)),
                theme.dim(),
            ));
            Line::from(spans)
        }
        (status, _) => {
            let status = status.map(LinkStatus::name).unwrap_or("?");
            let reason = row.link_reason.clone().unwrap_or_default();
            Line::from(vec![
                label("Link"),
                Span::styled(status.to_string(), theme.busy()),
                Span::raw(if reason.is_empty() { String::new() } else { format!(": {reason}") }),
                Span::styled(format!("   {} links it to a domain", keys.key_for(Action::LinkReferral)), theme.dim()),
            ])
        }
    };
    let contacts = if row.contacts.is_empty() { "none".to_string() } else { row.contacts.join(", ") };
    let expires = match row.expiration {
        Some(at) if row.expiring_soon => Span::styled(format!("expires {} ⚠", when(Some(at))), theme.error()),
        Some(at) => Span::raw(format!("expires {}", when(Some(at)))),
        None => Span::raw(String::new()),
    };
    let lines = vec![
        Line::from(vec![
            label("Referral"),
            Span::styled(row.name.clone().unwrap_or_else(|| row.id.clone()), theme.bold()),
            Span::styled(format!("  {} · {}", row.id, row.direction.as_deref().unwrap_or("?")), theme.dim()),
        ]),
        Line::from(vec![label("Customer"), Span::raw(row.customer.clone().unwrap_or_default())]),
        Line::from(vec![label("Contacts"), Span::raw(contacts)]),
        Line::from(vec![
            label("Dates"),
            Span::raw(format!("created {} · updated {} · ", when(row.created), when(row.updated))),
            expires,
        ]),
        link_line,
    ];
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deal_values_are_grouped_with_their_currency() {
        let row = |v: &str, c: Option<&str>| ReferralRow {
            deal_value: Some(v.into()),
            currency: c.map(String::from),
            ..ReferralRow::default()
        };
        assert_eq!(deal_value(&row("25000.00", Some("USD"))), "25,000.00 USD");
        assert_eq!(deal_value(&row("-5", None)), "-5");
        assert_eq!(deal_value(&ReferralRow::default()), "");
    }

    #[test]
    fn narrow_terminals_drop_dates_and_names_before_customer_link_and_domain() {
        let titles = |w: u16| columns(w).iter().map(|c| c.1).collect::<Vec<_>>();
        assert_eq!(titles(200).len(), 10);
        let narrow = titles(90);
        assert!(narrow.contains(&"Customer") && narrow.contains(&"Link") && narrow.contains(&"Domain"), "{narrow:?}");
        assert!(!narrow.contains(&"Created") && !narrow.contains(&"Name"), "{narrow:?}");
    }
}
