//! `hunter-tui referrals`: the Partner Center referral inbox for scripts (CSV or JSON to stdout), and
//! `referrals link REFERRAL_ID DOMAIN` / `unlink REFERRAL_ID`, the manual links syncs never undo.
//!
//! CSV cells go through [`csv_cell::neutralise`](crate::csv_cell::neutralise) like the lead export:
//! referral names and customers come from outside, and salespeople open these files in Excel.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use chrono::SecondsFormat;
use protocol::{LinkOutcome, LinkStatus, MAX_PAGE, ReferralFilter, ReferralQuery, ReferralRow, ReferralSort};
use serde_json::{Value, json};

use crate::client::Client;
use crate::commands::{CommandError, wait_for_batch};

/// The CSV header. Later columns are appended, never reordered.
pub const COLUMNS: [&str; 19] = [
    "referral_id",
    "name",
    "customer",
    "kind",
    "direction",
    "status",
    "substatus",
    "deal_value",
    "currency",
    "created",
    "updated",
    "expiration",
    "contacts",
    "link_status",
    "link_reason",
    "domain",
    "manual_by",
    "manual_at",
    "expiring_soon",
];

fn time(t: &Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// One referral as CSV fields: lists joined with `;`, empty for unknown, timestamps RFC 3339 UTC.
pub fn csv_fields(r: &ReferralRow) -> [String; 19] {
    [
        r.id.clone(),
        text(&r.name),
        text(&r.customer),
        text(&r.kind),
        text(&r.direction),
        text(&r.status),
        text(&r.substatus),
        text(&r.deal_value),
        text(&r.currency),
        time(&r.created).unwrap_or_default(),
        time(&r.updated).unwrap_or_default(),
        time(&r.expiration).unwrap_or_default(),
        r.contacts.join(";"),
        r.link_status.map(LinkStatus::name).unwrap_or_default().to_string(),
        text(&r.link_reason),
        text(&r.domain),
        text(&r.manual_by),
        time(&r.manual_at).unwrap_or_default(),
        r.expiring_soon.to_string(),
    ]
}

pub fn json_object(r: &ReferralRow) -> Value {
    json!({
        "referral_id": r.id,
        "name": r.name,
        "customer": r.customer,
        "kind": r.kind,
        "direction": r.direction,
        "status": r.status,
        "substatus": r.substatus,
        "deal_value": r.deal_value,
        "currency": r.currency,
        "created": time(&r.created),
        "updated": time(&r.updated),
        "expiration": time(&r.expiration),
        "contacts": r.contacts,
        "link_status": r.link_status.map(LinkStatus::name),
        "link_reason": r.link_reason,
        "domain": r.domain,
        "manual_by": r.manual_by,
        "manual_at": time(&r.manual_at),
        "expiring_soon": r.expiring_soon,
    })
}

/// What `hunter-tui referrals` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    pub link_statuses: Vec<String>,
    pub kinds: Vec<String>,
    pub statuses: Vec<String>,
    pub search: Option<String>,
    pub expiring: bool,
    /// A [`ReferralSort`] name, `-` first to reverse.
    pub sort: Option<String>,
    pub json: bool,
}

impl ListOptions {
    /// The query of the first page; a misspelt link status or sort is a usage error naming the valid ones.
    pub fn query(&self) -> Result<ReferralQuery, CommandError> {
        let link_statuses = self
            .link_statuses
            .iter()
            .map(|s| {
                LinkStatus::from_name(s.trim()).ok_or_else(|| {
                    let names: Vec<&str> = LinkStatus::ALL.iter().map(|s| s.name()).collect();
                    CommandError::Usage(format!("unknown link status `{s}`; use one of {}", names.join(", ")))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (sort, descending) = match &self.sort {
            None => (ReferralSort::Updated, true),
            Some(name) => {
                let (name, descending) = name.strip_prefix('-').map_or((name.as_str(), false), |n| (n, true));
                let sort = ReferralSort::from_name(name).ok_or_else(|| {
                    let names: Vec<&str> = ReferralSort::ALL.iter().map(|s| s.name()).collect();
                    CommandError::Usage(format!(
                        "unknown sort `{name}`; use one of {} (prefix - to reverse)",
                        names.join(", ")
                    ))
                })?;
                (sort, descending)
            }
        };
        Ok(ReferralQuery {
            filter: ReferralFilter {
                text: self.search.clone(),
                kinds: self.kinds.iter().map(|k| k.trim().to_lowercase()).collect(),
                statuses: self.statuses.iter().map(|s| s.trim().to_string()).collect(),
                link_statuses,
                expiring_only: self.expiring,
            },
            sort,
            descending,
            offset: 0,
            limit: MAX_PAGE,
        })
    }
}

/// `hunter-tui referrals`: every matching referral, page by page, to stdout.
pub async fn list(client: &Client, options: &ListOptions) -> Result<ExitCode, CommandError> {
    let mut query = options.query()?;
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut out = if options.json {
        Out::Json { out, written: 0 }
    } else {
        let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
        csv.write_record(COLUMNS).map_err(std::io::Error::other)?;
        Out::Csv(Box::new(csv))
    };
    loop {
        let page = client.list_referrals(query.clone()).await?;
        for row in &page.rows {
            out.write(row)?;
        }
        query.offset += page.rows.len() as u64;
        if page.rows.is_empty() || query.offset >= page.total {
            break;
        }
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

enum Out<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Json { out: W, written: u64 },
}

impl<W: Write> Out<W> {
    fn write(&mut self, row: &ReferralRow) -> std::io::Result<()> {
        match self {
            Out::Csv(csv) => {
                csv.write_record(csv_fields(row).map(crate::csv_cell::neutralise)).map_err(std::io::Error::other)
            }
            Out::Json { out, written } => {
                out.write_all(if *written == 0 { b"[\n" } else { b",\n" })?;
                *written += 1;
                serde_json::to_writer(&mut *out, &json_object(row)).map_err(std::io::Error::other)
            }
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Out::Csv(mut csv) => csv.flush(),
            Out::Json { mut out, written } => {
                out.write_all(if written == 0 { b"[]\n" } else { b"\n]\n" })?;
                out.flush()
            }
        }
    }
}

/// The line `link` and `unlink` print.
pub fn outcome_text(outcome: &LinkOutcome) -> String {
    let r = &outcome.referral;
    match (&r.domain, r.link_status) {
        (Some(domain), Some(LinkStatus::Linked)) => {
            let company = if outcome.company_created { "new company, " } else { "" };
            format!("linked {} to {domain} ({company}scan queued: its score counts the referral once scanned)", r.id)
        }
        (_, status) => {
            let status = status.map(LinkStatus::name).unwrap_or("unknown");
            let rescan = if outcome.batch_id.is_some() { "; the company's rescan is queued" } else { "" };
            format!("unlinked {} (now {status}){rescan}", r.id)
        }
    }
}

/// `hunter-tui referrals link REFERRAL_ID DOMAIN` (`domain` given) or `unlink REFERRAL_ID`: exit 0
/// when done, 1 with the daemon's reason otherwise (unknown referral, not a company domain, …).
/// `wait`: block until the company is rescanned, so its score shows the change.
pub async fn relink(
    client: &Client,
    referral_id: &str,
    domain: Option<&str>,
    wait: Option<Duration>,
) -> Result<ExitCode, CommandError> {
    let outcome = match domain {
        Some(domain) => client.link_referral(referral_id, domain).await?,
        None => client.unlink_referral(referral_id).await?,
    };
    writeln!(std::io::stdout().lock(), "{}", outcome_text(&outcome))?;
    if let (Some(reconnect_for), Some(batch)) = (wait, &outcome.batch_id) {
        wait_for_batch(client, batch, reconnect_for).await?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row() -> ReferralRow {
        ReferralRow {
            id: "r1".into(),
            name: Some("=HYPERLINK(\"http://evil\")".into()),
            customer: Some("Contoso, Ltd.".into()),
            kind: Some("co-sell".into()),
            status: Some("New".into()),
            deal_value: Some("-5".into()),
            expiration: chrono::Utc.with_ymd_and_hms(2026, 12, 9, 10, 0, 0).single(),
            contacts: vec!["ann@gmail.com".into(), "bob@gmail.com".into()],
            link_status: Some(LinkStatus::FreeMailOnly),
            expiring_soon: true,
            ..ReferralRow::default()
        }
    }

    #[test]
    fn csv_fields_follow_the_header_and_formulas_are_neutralised() {
        let fields = csv_fields(&row()).map(crate::csv_cell::neutralise);
        assert_eq!(fields.len(), COLUMNS.len());
        assert_eq!(fields[1], "'=HYPERLINK(\"http://evil\")");
        assert_eq!(fields[7], "-5", "a plain number stays a number");
        assert_eq!(fields[11], "2026-12-09T10:00:00Z");
        assert_eq!(fields[12], "ann@gmail.com;bob@gmail.com");
        assert_eq!(fields[13], "free_mail_only");
        assert_eq!(fields[18], "true");
    }

    #[test]
    fn json_keeps_values_exact_and_names_the_link_status() {
        let v = json_object(&row());
        assert_eq!(v["name"], "=HYPERLINK(\"http://evil\")");
        assert_eq!(v["link_status"], "free_mail_only");
        assert_eq!(v["domain"], Value::Null);
        assert_eq!(v["contacts"][1], "bob@gmail.com");
    }

    #[test]
    fn a_misspelt_link_status_is_a_usage_error_naming_the_valid_ones() {
        let options = ListOptions { link_statuses: vec!["nodomain".into()], ..ListOptions::default() };
        let err = options.query().unwrap_err().to_string();
        assert!(err.contains("`nodomain`") && err.contains("no_domain, free_mail_only"), "{err}");
    }

    #[test]
    fn sort_names_take_a_minus_to_reverse() {
        let options = ListOptions { sort: Some("-expiration".into()), ..ListOptions::default() };
        let query = options.query().unwrap();
        assert_eq!((query.sort, query.descending), (ReferralSort::Expiration, true));
        let bad = ListOptions { sort: Some("score".into()), ..ListOptions::default() };
        assert!(bad.query().unwrap_err().to_string().contains("unknown sort `score`"));
    }

    #[test]
    fn the_link_line_says_where_and_that_the_score_follows_the_scan() {
        let linked = LinkOutcome {
            referral: ReferralRow {
                id: "r4".into(),
                domain: Some("contoso.com".into()),
                link_status: Some(LinkStatus::Linked),
                ..ReferralRow::default()
            },
            company_created: true,
            batch_id: Some("b".into()),
        };
        assert_eq!(
            outcome_text(&linked),
            "linked r4 to contoso.com (new company, scan queued: its score counts the referral once scanned)"
        );
        let unlinked = LinkOutcome {
            referral: ReferralRow {
                id: "r4".into(),
                link_status: Some(LinkStatus::NoDomain),
                ..ReferralRow::default()
            },
            company_created: false,
            batch_id: Some("b".into()),
        };
        assert_eq!(outcome_text(&unlinked), "unlinked r4 (now no_domain); the company's rescan is queued");
    }
}
