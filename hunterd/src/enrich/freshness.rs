//! The `geoip-databases` job: keeps the loaded databases in step with the files and tells the user,
//! through the job's summary or error on the sync screen, how old each one is (issue 5 §4).
//!
//! Geolocation data goes stale quietly: a database nobody updates still answers, just wrongly. So an
//! old, missing or unreadable file makes the job fail, which is what the sync screen highlights.

use super::{EnrichmentService, SourceInfo};
use chrono::{DateTime, NaiveDate, Utc};
use std::time::Duration;

pub const JOB_NAME: &str = "geoip-databases";

/// One database's build date, as far as its build string tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildDate {
    /// e.g. `GeoLite2-City` or `IP2Proxy PX11`.
    pub label: String,
    pub date: NaiveDate,
}

/// Reads the build strings [`SourceInfo::build`] carries: `GeoLite2-City@<epoch>` for MaxMind,
/// `IP2Proxy PX11 2026-10-01` for IP2Location/IP2Proxy BIN files.
pub fn build_date(build: &str) -> Option<BuildDate> {
    if let Some((kind, epoch)) = build.rsplit_once('@') {
        let epoch: i64 = epoch.trim().parse().ok()?;
        let date = DateTime::<Utc>::from_timestamp(epoch, 0)?.date_naive();
        return Some(BuildDate { label: kind.trim().to_string(), date });
    }
    let (label, date) = build.trim().rsplit_once(' ')?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(BuildDate { label: label.trim().to_string(), date })
}

/// Whole days from `built` to `today` (never negative: a clock behind the build is "0 days").
pub fn age_days(built: NaiveDate, today: NaiveDate) -> i64 {
    (today - built).num_days().max(0)
}

/// What the job reports: a line per database for the summary, and the problems that make it fail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Freshness {
    /// e.g. `GeoLite2-City build 2026-11-01 (22 days old)`.
    pub lines: Vec<String>,
    /// Each names the file and, for a stale one, its age.
    pub problems: Vec<String>,
}

impl Freshness {
    /// The job's result: the summary, or an error that still lists every database.
    pub fn into_result(self) -> anyhow::Result<String> {
        let summary = self.lines.join("; ");
        if self.problems.is_empty() {
            return Ok(summary);
        }
        let mut message = self.problems.join("; ");
        if !summary.is_empty() {
            message.push_str(&format!(" (loaded: {summary})"));
        }
        Err(anyhow::anyhow!(message))
    }
}

/// Judges the configured databases against `max_age`, as of `today`.
pub fn assess(sources: &[SourceInfo], today: NaiveDate, max_age: Duration) -> Freshness {
    let limit_days = (max_age.as_secs() / 86_400) as i64;
    let mut f = Freshness::default();
    if sources.is_empty() {
        f.problems.push(
            "IP enrichment is on but no database is configured (enrichment.maxmind_city_db, maxmind_asn_db, \
             ip2location_db, ip2proxy_db)"
                .into(),
        );
        return f;
    }
    for s in sources {
        if let Some(error) = &s.error {
            f.problems.push(error.clone());
            continue;
        }
        // Undecodable records show on the sync screen, not only in the log.
        if let Some(warning) = &s.warning {
            f.problems.push(warning.clone());
        }
        let Some(build) = s.build.as_deref().and_then(build_date) else {
            f.lines.push(format!("{} ({}): build date unknown", s.name, s.path.display()));
            continue;
        };
        let age = age_days(build.date, today);
        f.lines.push(format!("{} build {} ({age} days old)", build.label, build.date));
        if age > limit_days {
            f.problems.push(format!(
                "{} database {} is {age} days old (built {}; limit enrichment.max_age = {limit_days} days): update it",
                s.name,
                s.path.display(),
                build.date
            ));
        }
    }
    f
}

/// The job body: picks up changed files, then reports on every configured database.
pub fn check(service: &EnrichmentService, now: DateTime<Utc>, max_age: Duration) -> anyhow::Result<String> {
    service.reload_if_changed();
    assess(&service.sources(), now.date_naive(), max_age).into_result()
}

/// How often the files are checked; a reload is cheap and most checks change nothing.
pub const CHECK_EVERY: Duration = Duration::from_secs(3600);
