//! One lead in full: the score as a bar list of contributions, the signals with their evidence,
//! the sales summary, registration, scan history, changes, notes and tags. One scrollable page.

use protocol::{Contribution, IpDetail, LeadDetail};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Padding, Paragraph, Wrap};

use super::model::{App, DetailState};
use super::theme::Theme;
use crate::humanize;
use crate::humanize::provider_text;
use crate::keymap::Action;

/// Longest contribution bar, in cells.
const BAR_WIDTH: usize = 20;

pub fn render_detail(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let Some(state) = &app.detail else { return };
    let paragraph = paragraph(app, state, theme);
    frame.render_widget(paragraph.scroll((state.scroll, 0)), area);
}

fn paragraph<'a>(app: &App, state: &DetailState, theme: Theme) -> Paragraph<'a> {
    let lines = match (&state.detail, &state.error) {
        (Some(detail), _) => detail_lines(app, detail, theme),
        (None, Some(error)) => vec![
            Line::styled(format!("Could not load {}", state.domain), theme.error()),
            Line::from(humanize::one_line(error)),
            Line::from(""),
            Line::styled(format!("{} goes back to the list.", app.keymap.key_for(Action::Back)), theme.dim()),
        ],
        (None, None) => vec![Line::styled(format!("Loading {}…", state.domain), theme.dim())],
    };
    let favourite = state.detail.as_ref().is_some_and(|d| d.row.favorite);
    let title = format!(" {}{} ", state.domain, if favourite { " ★" } else { "" });
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .padding(Padding::horizontal(1))
        .title(Span::styled(title, theme.title()));
    Paragraph::new(lines).wrap(Wrap { trim: false }).block(block)
}

/// How far the page can scroll in `area` so its last line reaches the bottom, no further.
pub fn max_scroll(app: &App, area: Rect, theme: Theme) -> u16 {
    let Some(state) = &app.detail else { return 0 };
    let lines = paragraph(app, state, theme).line_count(area.width);
    u16::try_from(lines).unwrap_or(u16::MAX).saturating_sub(area.height)
}

fn heading(text: &str, theme: Theme) -> [Line<'static>; 2] {
    [Line::from(""), Line::styled(text.to_string(), theme.heading())]
}

fn field(label: &str, value: String, theme: Theme) -> Line<'static> {
    Line::from(vec![Span::styled(format!("  {label:<12}"), theme.dim()), Span::raw(value)])
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().filter(|v| !v.is_empty()).unwrap_or_else(|| "–".into())
}

fn when(app: &App, at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{} ({})", at.format("%Y-%m-%d %H:%M"), humanize::relative(at, app.now))
}

pub fn detail_lines(app: &App, detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = header_lines(app, detail, theme);
    lines.extend(referral_lines(detail, theme));
    lines.extend(heading("Score breakdown", theme));
    lines.extend(breakdown_lines(&detail.breakdown, detail.row.score, theme));
    lines.extend(signal_lines(detail, theme));
    lines.extend(sales_lines(detail, theme));
    lines.extend(registration_lines(detail, theme));
    lines.extend(infrastructure_lines(detail, theme));
    lines.extend(history_lines(detail, theme));
    lines.extend(change_lines(detail, theme));
    lines.extend(note_lines(app, detail, theme));
    lines.extend(activity_lines(app, detail, theme));
    lines.extend(d365_lines(app, detail, theme));
    lines
}

/// Who did what to the lead: several salespeople share one daemon.
fn activity_lines(app: &App, detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = heading("Activity", theme).to_vec();
    if detail.activity.is_empty() {
        lines.push(Line::styled("  nothing yet", theme.dim()));
    }
    for item in &detail.activity {
        lines.push(Line::from(vec![
            Span::styled(format!("  {} · ", when(app, item.at)), theme.dim()),
            Span::raw(format!("{} {}", item.who.as_deref().unwrap_or("someone"), item.what)),
        ]));
    }
    lines
}

/// Dynamics 365: where the push stands, the record link (`y` copies it) and the latest calls.
fn d365_lines(app: &App, detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let Some(sync) = &detail.d365 else { return Vec::new() };
    let row = &detail.row;
    let mut lines = heading("Dynamics 365", theme).to_vec();
    let status = match sync.status.as_str() {
        "synced" => Span::styled("synced", theme.ok()),
        "failed" => Span::styled("failed", theme.error()),
        "duplicate" => Span::styled("duplicate in D365 (linked to the record it matched)", theme.busy()),
        "in_flight" => Span::styled("pushing", theme.busy()),
        _ => Span::styled("pending", theme.busy()),
    };
    let mut status_line = vec![Span::styled(format!("  {:<12}", "Status"), theme.dim()), status];
    if let Some(at) = row.d365_pushed_at {
        status_line.push(Span::styled(format!("  pushed {}", when(app, at)), theme.dim()));
    }
    lines.push(Line::from(status_line));
    if let Some(url) = &row.d365_url {
        lines.push(field("Record", format!("{url}  (y copies it)"), theme));
    }
    if let Some(error) = &sync.last_error {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<12}", "Last error"), theme.dim()),
            Span::styled(error.clone(), theme.error()),
        ]));
    }
    if let Some(next) = sync.next_attempt_at.filter(|_| sync.attempts > 0) {
        lines.push(field("Next try", format!("{} (attempt {})", when(app, next), sync.attempts + 1), theme));
    }
    for call in &sync.history {
        let status = call.status.map_or_else(|| "no answer".to_string(), |s| s.to_string());
        let detail = match (&call.error_code, &call.message) {
            (Some(code), Some(m)) => format!("  {code} {m}"),
            (None, Some(m)) => format!("  {m}"),
            _ => String::new(),
        };
        lines.push(Line::styled(
            format!("  {} · {} {} ({} ms){detail}", when(app, call.at), call.operation, status, call.duration_ms),
            theme.dim(),
        ));
    }
    lines
}

/// The company, its score, segment, priority, heat, provider, scan and tags.
fn header_lines(app: &App, detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let row = &detail.row;
    let mut lines = Vec::new();
    let company = row.company.clone().unwrap_or_else(|| "(no company name)".into());
    lines.push(Line::from(vec![Span::styled(company, theme.bold())]));
    let score = row.score.map_or_else(|| "–".into(), |s| s.to_string());
    let priority = match (&row.priority, &row.priority_label) {
        (Some(p), Some(label)) => format!("{p} {label}"),
        (p, _) => or_dash(p),
    };
    lines.push(Line::from(vec![
        Span::styled("Score ", theme.dim()),
        Span::styled(score, theme.bold()),
        Span::styled("  Segment ", theme.dim()),
        Span::raw(or_dash(&row.segment)),
        Span::styled("  Priority ", theme.dim()),
        Span::raw(priority),
        Span::styled("  Heat ", theme.dim()),
        Span::raw(or_dash(&row.technical_heat)),
        Span::styled("  Commercial ", theme.dim()),
        Span::raw(format!("{} / {}", or_dash(&row.commercial_segment), or_dash(&row.commercial_heat))),
    ]));
    let scanned = row.scanned_at.map_or_else(|| "never scanned".into(), |t| format!("scanned {}", when(app, t)));
    lines.push(Line::from(vec![
        Span::styled("Provider ", theme.dim()),
        Span::raw(provider_text(row).0),
        Span::styled("  Scan ", theme.dim()),
        Span::raw(format!("{} · {scanned}", or_dash(&row.scan_status))),
    ]));
    let tags = if row.tags.is_empty() { "none".to_string() } else { row.tags.join(", ") };
    lines.push(Line::from(vec![
        Span::styled("Tags ", theme.dim()),
        Span::raw(tags),
        Span::styled(format!("  ({} adds or removes)", app.keymap.key_for(Action::Tag)), theme.dim()),
    ]));
    if let Some(reason) = &detail.reason {
        lines.push(Line::from(vec![Span::styled("Why ", theme.dim()), Span::raw(reason.clone())]));
    }
    lines
}

/// MX, SPF, DKIM, DMARC and tenant, the detection's evidence, warnings and the raw DNS answers.
fn signal_lines(detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let row = &detail.row;
    let mut lines = Vec::new();
    lines.extend(heading("Signals and evidence", theme));
    let list = |items: &[String], none: &str| if items.is_empty() { none.to_string() } else { items.join(", ") };
    lines.push(field("MX", list(&row.mx_hosts, "none"), theme));
    lines.push(field("SPF", detail.spf_record.clone().unwrap_or_else(|| "none".into()), theme));
    if let Some(evaluation) = &detail.spf_evaluation {
        lines.push(field("SPF result", evaluation.clone(), theme));
    }
    lines.push(field("DKIM", list(&detail.dkim_selectors, "no selector found"), theme));
    let dmarc = detail.dmarc_record.clone().unwrap_or_else(|| "none".into());
    lines.push(field("DMARC", dmarc, theme));
    if let Some(size) = &detail.tenant_size {
        lines.push(field("Tenant", size.clone(), theme));
    }
    for evidence in &detail.evidence {
        lines.push(Line::from(vec![
            Span::raw(format!("  • {}", evidence.claim)),
            Span::styled(format!("  ← {}", evidence.source), theme.dim()),
        ]));
    }
    for warning in &detail.warnings {
        lines.push(Line::styled(format!("  ⚠ {warning}"), theme.busy()));
    }
    if !detail.records.is_empty() {
        lines.push(Line::styled("  DNS answers of the latest scan", theme.dim()));
        for record in &detail.records {
            lines.push(Line::raw(format!("    {:<6}{}  {}", record.rtype, record.name, record.data)));
        }
    }
    lines
}

/// The sales summary, when the lead was scored.
fn sales_lines(detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(sales) = &detail.sales_summary {
        lines.extend(heading("Sales summary", theme));
        lines.push(Line::styled(format!("  {}", sales.one_liner), theme.bold()));
        for text in [&sales.segment_explanation, &sales.provider_reasoning] {
            if !text.is_empty() {
                lines.push(Line::raw(format!("  {text}")));
            }
        }
        if let Some(level) = &sales.risk_level {
            let text = sales.risk_text.as_deref().map(|t| format!(": {t}")).unwrap_or_default();
            lines.push(field("Risk", format!("{level}{text}"), theme));
        }
        lines.push(field("Opportunity", format!("{}/100 · urgency {}", sales.opportunity, sales.urgency), theme));
        if !sales.offer.is_empty() {
            lines.push(field("Offer", sales.offer.clone(), theme));
        }
        if !sales.next_step.is_empty() {
            lines.push(field("Next step", sales.next_step.clone(), theme));
        }
        for (title, items) in [("Talking points", &sales.talking_points), ("Ask", &sales.discovery_questions)] {
            if !items.is_empty() {
                lines.push(Line::styled(format!("  {title}"), theme.dim()));
                lines.extend(items.iter().map(|i| Line::raw(format!("    • {i}"))));
            }
        }
    }
    lines
}

/// Registrar and dates, or why they are missing.
fn registration_lines(detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    lines.extend(heading("Registration", theme));
    if let Some(reg) = &detail.registration {
        lines.push(field("Registrar", or_dash(&reg.registrar), theme));
        lines.push(field("Created", or_dash(&reg.created), theme));
        lines.push(field("Expires", or_dash(&reg.expires), theme));
        if !reg.nameservers.is_empty() {
            lines.push(field("NS", reg.nameservers.join(", "), theme));
        }
        lines.push(field("Source", reg.source.clone(), theme));
    }
    match (&detail.registration_note, &detail.registration) {
        (Some(note), _) => lines.push(Line::styled(format!("  {note}"), theme.dim())),
        (None, None) => lines.push(Line::styled("  not looked up", theme.dim())),
        (None, Some(_)) => {}
    }
    lines
}

/// What IP enrichment says about each address.
fn infrastructure_lines(detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    lines.extend(heading("Infrastructure", theme));
    if let Some(summary) = &detail.row.infrastructure_summary {
        lines.push(Line::raw(format!("  {summary}")));
    }
    for ip in &detail.ip_details {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<16}", ip.ip), theme.bold()),
            Span::styled(ip_label(ip), theme.dim()),
        ]));
        lines.push(Line::raw(format!("    {}", ip_facts(ip))));
    }
    if detail.ip_details.is_empty() {
        let note = detail.enrichment_note.as_deref().unwrap_or("no IP enrichment data");
        lines.push(Line::styled(format!("  {note}"), theme.dim()));
    }
    lines
}

/// Partner Center referrals of the company, when it has any: kind, status, deal value, dates, contacts.
fn referral_lines(detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if detail.referrals.is_empty() {
        return lines;
    }
    lines.extend(heading("Partner Center referrals", theme));
    let date =
        |t: &Option<chrono::DateTime<chrono::Utc>>| t.map_or_else(|| "–".into(), |t| t.format("%Y-%m-%d").to_string());
    for r in &detail.referrals {
        let status = match (&r.status, &r.substatus) {
            (Some(s), Some(sub)) => format!("{s} / {sub}"),
            (s, _) => or_dash(s),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<12}", super::view_leads::referral_badge(r.kind.as_deref())), theme.bold()),
            Span::raw(format!("{status:<18} {:<16} {}", or_dash(&r.deal_value), r.name.clone().unwrap_or_default())),
        ]));
        lines.push(Line::styled(
            format!(
                "    id {} · created {} · updated {} · expires {}",
                r.id,
                date(&r.created),
                date(&r.updated),
                date(&r.expiration)
            ),
            theme.dim(),
        ));
        if !r.contacts.is_empty() {
            lines.push(Line::raw(format!("    contacts {}", r.contacts.join(", "))));
        }
    }
    lines
}

/// The latest scans.
fn history_lines(detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    lines.extend(heading("Scan history", theme));
    if detail.scans.is_empty() {
        lines.push(Line::styled("  no scan yet", theme.dim()));
    }
    for scan in &detail.scans {
        let duration = scan.duration_ms.map(|ms| format!("{:.1} s", f64::from(ms) / 1000.0)).unwrap_or_default();
        lines.push(Line::raw(format!(
            "  {}  {:<9} {:<10} {:>4}  {duration}",
            scan.started_at.format("%Y-%m-%d %H:%M"),
            scan.status,
            scan.provider.as_deref().unwrap_or("–"),
            scan.score.map(|s| s.to_string()).unwrap_or_else(|| "–".into()),
        )));
    }
    lines
}

/// What changed between scans.
fn change_lines(detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    lines.extend(heading("Changes", theme));
    if detail.changes.is_empty() {
        lines.push(Line::styled("  nothing changed between scans", theme.dim()));
    }
    for change in &detail.changes {
        let mut line = vec![Span::raw(format!(
            "  {}  {}: {} → {}",
            change.at.format("%Y-%m-%d %H:%M"),
            change.field,
            change.from.as_deref().unwrap_or("none"),
            change.to.as_deref().unwrap_or("none"),
        ))];
        if let Some(who) = &change.requested_by {
            line.push(Span::styled(format!("  (rescan asked by {who})"), theme.dim()));
        }
        lines.push(Line::from(line));
    }
    lines
}

/// People's notes, newest first.
fn note_lines(app: &App, detail: &LeadDetail, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    lines.extend(heading("Notes", theme));
    if detail.notes.is_empty() {
        lines.push(Line::styled(format!("  none ({} adds one)", app.keymap.key_for(Action::Note)), theme.dim()));
    }
    for note in &detail.notes {
        lines.push(Line::from(vec![Span::styled(
            format!("  {} · {}", when(app, note.created_at), note.author),
            theme.dim(),
        )]));
        lines.extend(note.body.lines().map(|l| Line::raw(format!("    {l}"))));
    }
    lines
}

/// `+40 ████████████████████  provider  Uses Microsoft 365`, one per contribution, then the sum,
/// which is the score (or says how the score was clamped from it).
/// ` mx1.example.com (mail)`: the address's name and what it is to the company.
fn ip_label(ip: &IpDetail) -> String {
    let roles = if ip.roles.is_empty() { String::new() } else { format!(" ({})", ip.roles.join(", ")) };
    match &ip.host {
        Some(host) => format!(" {host}{roles}"),
        None => roles,
    }
}

/// `GB London · AS30031 Mimecast Services Limited · DCH · no proxy/VPN` for one address.
pub fn ip_facts(ip: &IpDetail) -> String {
    let place = [ip.country.as_deref(), ip.region.as_deref(), ip.city.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let network = match (ip.asn, ip.asn_org.as_deref().or(ip.isp.as_deref())) {
        (Some(asn), Some(org)) => format!("AS{asn} {org}"),
        (Some(asn), None) => format!("AS{asn}"),
        (None, Some(org)) => org.to_string(),
        (None, None) => String::new(),
    };
    let proxy = match (ip.is_proxy, ip.proxy_type.as_deref()) {
        (Some(true), Some(kind)) => format!("proxy ({kind})"),
        (Some(true), None) => "proxy".to_string(),
        (Some(false), _) => "no proxy/VPN".to_string(),
        (None, _) => String::new(),
    };
    let mut parts: Vec<String> = [place, network].into_iter().filter(|p| !p.is_empty()).collect();
    parts.extend(ip.hosting_provider.iter().map(|h| format!("hosted by {h}")));
    parts.extend(ip.usage_type.iter().cloned());
    if ip.is_tor == Some(true) {
        parts.push("TOR".into());
    }
    if ip.is_vpn == Some(true) {
        parts.push("VPN".into());
    }
    if !proxy.is_empty() {
        parts.push(proxy);
    }
    if parts.is_empty() { "nothing known".into() } else { parts.join(" · ") }
}

pub fn breakdown_lines(breakdown: &[Contribution], score: Option<i32>, theme: Theme) -> Vec<Line<'static>> {
    if breakdown.is_empty() {
        return vec![Line::styled("  no score yet: the lead has not been scanned", theme.dim())];
    }
    let largest = breakdown.iter().map(|c| c.points.unsigned_abs()).max().unwrap_or(1).max(1) as usize;
    let key_width = breakdown.iter().map(|c| c.key.chars().count()).max().unwrap_or(0);
    let mut lines: Vec<Line> = breakdown
        .iter()
        .map(|c| {
            let length =
                (c.points.unsigned_abs() as usize * BAR_WIDTH).div_ceil(largest).max(usize::from(c.points != 0));
            let (glyph, style) =
                if c.points < 0 { ("▒", theme.fg(Color::Red)) } else { ("█", theme.fg(Color::Green)) };
            Line::from(vec![
                Span::styled(
                    format!("  {:>+4} ", c.points),
                    if c.points < 0 { theme.fg(Color::Red) } else { Style::new() },
                ),
                Span::styled(format!("{:<BAR_WIDTH$}", glyph.repeat(length)), style),
                Span::styled(format!("  {:<key_width$}  ", c.key), theme.dim()),
                Span::raw(c.reason.clone()),
            ])
        })
        .collect();
    let sum: i32 = breakdown.iter().map(|c| c.points).sum();
    let total = match score {
        Some(score) if score != sum => format!("  {sum:>4}  total, clamped to the score {score}"),
        _ => format!("  {sum:>4}  total = score"),
    };
    lines.push(Line::styled(total, theme.bold()));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contribution(key: &str, points: i32) -> Contribution {
        Contribution { key: key.into(), points, reason: format!("because {key}") }
    }

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn bars_are_proportional_to_points_and_the_total_is_the_score() {
        let lines = breakdown_lines(
            &[contribution("m365", 40), contribution("no_dmarc", -10)],
            Some(30),
            Theme { color: false },
        );
        let text = text(&lines);
        assert_eq!(text[0], format!("   +40 {}  m365      because m365", "█".repeat(20)));
        assert_eq!(text[1], format!("   -10 {}{}  no_dmarc  because no_dmarc", "▒".repeat(5), " ".repeat(15)));
        assert_eq!(text[2], "    30  total = score");
    }

    #[test]
    fn a_clamped_score_says_so() {
        let lines = breakdown_lines(&[contribution("a", 80), contribution("b", 40)], Some(100), Theme { color: false });
        assert_eq!(text(&lines)[2], "   120  total, clamped to the score 100");
    }

    #[test]
    fn no_breakdown_means_not_scanned_yet() {
        let lines = breakdown_lines(&[], None, Theme { color: false });
        assert_eq!(text(&lines), vec!["  no score yet: the lead has not been scanned"]);
    }
}
