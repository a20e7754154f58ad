//! Durations and timestamps as people read them. Shared by the text output and the TUI, and pure
//! (the caller passes "now") so both are testable and snapshots are stable.

use chrono::{DateTime, Utc};
use protocol::{JobOutcome, LeadRow, LeadSort};

/// `45s`, `5m 3s`, `2h 5m`, `3d 4h`: the two largest units, enough to read at a glance.
pub fn duration(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let Some(first) = UNITS.iter().position(|(size, _)| secs >= *size) else {
        return "0s".into();
    };
    let (size, unit) = UNITS[first];
    let mut out = format!("{}{unit}", secs / size);
    if let Some((next_size, next_unit)) = UNITS.get(first + 1) {
        let rest = (secs % size) / next_size;
        if rest > 0 {
            out.push_str(&format!(" {rest}{next_unit}"));
        }
    }
    out
}

/// `3m ago`, `in 7m`, or `now` within a second.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    match secs {
        0 => "now".into(),
        s if s > 0 => format!("in {}", duration(s.unsigned_abs())),
        s => format!("{} ago", duration(s.unsigned_abs())),
    }
}

/// A relative time, or `fallback` when there is none.
pub fn relative_or(at: Option<DateTime<Utc>>, now: DateTime<Utc>, fallback: &str) -> String {
    at.map_or_else(|| fallback.to_string(), |t| relative(t, now))
}

/// `2026-05-01 09:58:00 UTC`: absolute, for when the exact moment matters (errors).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `ok: 12 referrals`, `failed: timeout`, or `never run`, on one line.
pub fn outcome(result: Option<&JobOutcome>) -> String {
    match result {
        None => "never run".into(),
        Some(JobOutcome::Ok { summary }) if summary.is_empty() => "ok".into(),
        Some(JobOutcome::Ok { summary }) => format!("ok: {}", one_line(summary)),
        Some(JobOutcome::Failed { error }) => format!("failed: {}", one_line(error)),
    }
}

/// Folds a possibly multi-line message onto one line for tables.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `1 job`, `3 jobs`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// `100,000`: counts people read at a glance.
pub fn thousands(n: u64) -> String {
    let digits: Vec<char> = n.to_string().chars().collect();
    digits.rchunks(3).rev().map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join(",")
}

/// `45s`, `5m`, `3h`, `2d`: the largest unit only, for narrow table cells.
pub fn short_duration(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    UNITS
        .iter()
        .find(|(size, _)| secs >= *size)
        .map_or_else(|| "0s".into(), |(size, unit)| format!("{}{unit}", secs / size))
}

/// `on` / `off`.
pub fn on_off(enabled: bool) -> &'static str {
    if enabled { "on" } else { "off" }
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

/// `M365 ⟵ Mimecast` (the gateway in front of the provider), the bare provider, or why there is
/// none (`nxdomain`, `not scanned`); the flag says whether it is a real provider.
pub fn provider_text(row: &LeadRow) -> (String, bool) {
    match (&row.provider, &row.gateway) {
        (Some(provider), Some(gateway)) => (format!("{provider} ⟵ {gateway}"), true),
        (Some(provider), None) => (provider.clone(), true),
        (None, Some(gateway)) => (format!("? ⟵ {gateway}"), true),
        (None, None) => match row.scan_status.as_deref() {
            Some("ok") | None if row.scanned_at.is_none() => ("not scanned".into(), false),
            Some(status) => (status.to_string(), false),
            None => ("unknown".into(), false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_provider_shows_the_gateway_in_front_of_it() {
        let row = LeadRow { provider: Some("M365".into()), gateway: Some("Mimecast".into()), ..LeadRow::default() };
        assert_eq!(provider_text(&row), ("M365 ⟵ Mimecast".into(), true));
    }

    #[test]
    fn a_lead_without_provider_says_why() {
        let unscanned = LeadRow::default();
        assert_eq!(provider_text(&unscanned), ("not scanned".into(), false));
        let nx = LeadRow {
            scan_status: Some("nxdomain".into()),
            scanned_at: Some(chrono::Utc::now()),
            ..LeadRow::default()
        };
        assert_eq!(provider_text(&nx), ("nxdomain".into(), false));
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn durations_show_the_two_largest_units() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(303), "5m 3s");
        assert_eq!(duration(7_500), "2h 5m");
        assert_eq!(duration(3 * 86_400 + 4 * 3_600 + 59), "3d 4h");
        assert_eq!(duration(3_600), "1h");
    }

    #[test]
    fn relative_times_say_past_or_future() {
        assert_eq!(relative(at(-180), at(0)), "3m ago");
        assert_eq!(relative(at(420), at(0)), "in 7m");
        assert_eq!(relative(at(0), at(0)), "now");
        assert_eq!(relative_or(None, at(0), "never"), "never");
    }

    #[test]
    fn outcomes_fit_on_one_line() {
        let failed = JobOutcome::Failed { error: "token expired\n  re-run auth".into() };
        assert_eq!(outcome(Some(&failed)), "failed: token expired re-run auth");
        assert_eq!(outcome(None), "never run");
        assert_eq!(outcome(Some(&JobOutcome::Ok { summary: String::new() })), "ok");
    }

    #[test]
    fn thousands_are_separated_by_commas() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn short_durations_show_the_largest_unit_only() {
        assert_eq!(short_duration(0), "0s");
        assert_eq!(short_duration(7_500), "2h");
        assert_eq!(short_duration(3 * 86_400 + 5), "3d");
    }

    #[test]
    fn counts_are_singular_only_for_one() {
        assert_eq!(count(1, "job"), "1 job");
        assert_eq!(count(0, "job"), "0 jobs");
    }
}
