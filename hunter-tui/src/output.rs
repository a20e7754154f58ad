//! What `hunter-tui status` and `hunter-tui jobs` print, as text for people and JSON for scripts.
//!
//! The JSON goes through view structs owned here rather than the wire types, so the scriptable
//! shape (snake_case enums, RFC 3339 timestamps, every key always present) stays stable when the
//! protocol evolves.

use std::path::Path;

use chrono::{DateTime, Utc};
use protocol::{DaemonStatus, DatabaseInfo, Features, JobInfo, JobOutcome};
use serde::Serialize;

use crate::humanize;

/// `status --format json`.
#[derive(Debug, Serialize)]
pub struct StatusJson<'a> {
    pub build_version: &'a str,
    pub protocol: u32,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub uptime_secs: u64,
    pub socket: &'a Path,
    pub database: DatabaseJson<'a>,
    pub features: FeaturesJson,
    pub clients_connected: u32,
    pub sign_ins: Vec<SignInJson<'a>>,
    pub jobs: Vec<JobJson<'a>>,
}

/// One outside service's sign-in (only those switched on).
#[derive(Debug, Serialize)]
pub struct SignInJson<'a> {
    pub service: &'a str,
    pub ok: bool,
    pub state: &'a str,
}

#[derive(Debug, Serialize)]
pub struct DatabaseJson<'a> {
    /// `embedded` or `external`.
    pub mode: String,
    pub location: &'a str,
    pub server_version: &'a str,
    pub schema_version: i64,
    /// Why the database cannot be used right now; `null` when it answers.
    pub problem: Option<&'a str>,
}

/// Named like the `features.*` configuration keys.
#[derive(Debug, Serialize)]
pub struct FeaturesJson {
    pub ip_enrichment: bool,
    pub partner_center_sync: bool,
    pub dynamics_push: bool,
}

/// `jobs --format json`: an object, so fields can be added without breaking scripts.
#[derive(Debug, Serialize)]
pub struct JobsJson<'a> {
    pub jobs: Vec<JobJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct JobJson<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub interval_secs: u64,
    /// `idle`, `running` or `disabled`.
    pub state: String,
    pub last_started_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub last_result: Option<OutcomeJson<'a>>,
    pub last_error: Option<&'a str>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub next_run_at: Option<DateTime<Utc>>,
}

/// `{"status": "ok", "summary": …}` or `{"status": "failed", "error": …}`.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OutcomeJson<'a> {
    Ok { summary: &'a str },
    Failed { error: &'a str },
}

impl<'a> StatusJson<'a> {
    pub fn new(status: &'a DaemonStatus, socket: &'a Path) -> Self {
        StatusJson {
            build_version: &status.build_version,
            protocol: status.protocol,
            pid: status.pid,
            started_at: status.started_at,
            uptime_secs: status.uptime_secs,
            socket,
            database: DatabaseJson::from(&status.database),
            features: FeaturesJson::from(status.features),
            clients_connected: status.clients_connected,
            sign_ins: status
                .sign_ins
                .iter()
                .map(|s| SignInJson { service: &s.service, ok: s.ok, state: &s.state })
                .collect(),
            jobs: status.jobs.iter().map(JobJson::from).collect(),
        }
    }
}

impl<'a> From<&'a DatabaseInfo> for DatabaseJson<'a> {
    fn from(db: &'a DatabaseInfo) -> Self {
        DatabaseJson {
            mode: db.mode.to_string(),
            location: &db.location,
            server_version: &db.server_version,
            schema_version: db.schema_version,
            problem: db.problem.as_deref(),
        }
    }
}

impl From<Features> for FeaturesJson {
    fn from(f: Features) -> Self {
        FeaturesJson {
            ip_enrichment: f.ip_enrichment,
            partner_center_sync: f.partner_center_sync,
            dynamics_push: f.dynamics_push,
        }
    }
}

impl<'a> From<&'a JobInfo> for JobJson<'a> {
    fn from(job: &'a JobInfo) -> Self {
        JobJson {
            name: &job.name,
            description: &job.description,
            interval_secs: job.interval_secs,
            state: job.state.to_string(),
            last_started_at: job.last_started_at,
            last_finished_at: job.last_finished_at,
            last_result: job.last_result.as_ref().map(|r| match r {
                JobOutcome::Ok { summary } => OutcomeJson::Ok { summary },
                JobOutcome::Failed { error } => OutcomeJson::Failed { error },
            }),
            last_error: job.last_error.as_deref(),
            last_error_at: job.last_error_at,
            next_run_at: job.next_run_at,
        }
    }
}

/// Pretty JSON with a trailing newline. Serialising these plain structs cannot fail.
fn to_json<T: Serialize>(value: &T) -> String {
    let mut out = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

pub fn status_json(status: &DaemonStatus, socket: &Path) -> String {
    to_json(&StatusJson::new(status, socket))
}

pub fn jobs_json(jobs: &[JobInfo]) -> String {
    to_json(&JobsJson { jobs: jobs.iter().map(JobJson::from).collect() })
}

/// `status` for people: one `label: value` line per fact (easy to grep), then one line per job.
pub fn status_text(status: &DaemonStatus, socket: &Path, now: DateTime<Utc>) -> String {
    let db = &status.database;
    let f = status.features;
    let mut out = format!(
        "daemon:    hunterd {}, protocol {}, pid {}\n\
         uptime:    {} (since {})\n\
         socket:    {}\n\
         database:  {} ({})\n\
         postgres:  {}, schema version {}\n\
         features:  ip_enrichment {}, partner_center_sync {}, dynamics_push {}\n\
         clients:   {} connected\n",
        status.build_version,
        status.protocol,
        status.pid,
        humanize::duration(status.uptime_secs),
        humanize::timestamp(status.started_at),
        socket.display(),
        db.mode,
        db.location,
        db.server_version,
        db.schema_version,
        humanize::on_off(f.ip_enrichment),
        humanize::on_off(f.partner_center_sync),
        humanize::on_off(f.dynamics_push),
        status.clients_connected,
    );
    if let Some(problem) = &db.problem {
        out.push_str(&format!("db state:  DOWN: {problem}\n"));
    }
    for (i, sign_in) in status.sign_ins.iter().enumerate() {
        let label = if i == 0 { "sign-in:" } else { "" };
        let mark = if sign_in.ok { "" } else { "NEEDS ACTION: " };
        out.push_str(&format!("{label:<11}{}: {mark}{}\n", sign_in.service, sign_in.state));
    }
    if status.jobs.is_empty() {
        out.push_str("jobs:      none scheduled\n");
    } else {
        out.push_str("jobs:\n");
        out.push_str(&jobs_table(&status.jobs, now, "  "));
    }
    out
}

/// `jobs` for people: the table, then each job's last error in full (the table only has room for
/// its first words, and an error is what someone running this command is usually looking for).
pub fn jobs_text(jobs: &[JobInfo], now: DateTime<Utc>) -> String {
    if jobs.is_empty() {
        return "no scheduled jobs\n".into();
    }
    let mut out = jobs_table(jobs, now, "");
    for job in jobs {
        if let Some(error) = &job.last_error {
            let when = job
                .last_error_at
                .map(|t| format!(" at {} ({})", humanize::timestamp(t), humanize::relative(t, now)))
                .unwrap_or_default();
            out.push_str(&format!("\n{} last error{when}:\n", job.name));
            for line in error.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out
}

/// One row per job: name, state, last run, next run, result.
fn jobs_table(jobs: &[JobInfo], now: DateTime<Utc>, indent: &str) -> String {
    let header = ["JOB", "STATE", "LAST RUN", "NEXT RUN", "RESULT"].map(String::from);
    let rows: Vec<[String; 5]> = std::iter::once(header).chain(jobs.iter().map(|job| job_row(job, now))).collect();
    let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = indent.to_string();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn job_row(job: &JobInfo, now: DateTime<Utc>) -> [String; 5] {
    [
        job.name.clone(),
        job.state.to_string(),
        humanize::relative_or(job.last_started_at, now, "never"),
        next_run(job, now),
        humanize::outcome(job.last_result.as_ref()),
    ]
}

/// When the job runs next; a disabled job never does, whatever the schedule says.
pub fn next_run(job: &JobInfo, now: DateTime<Utc>) -> String {
    match job.state {
        protocol::JobState::Disabled => "-".into(),
        protocol::JobState::Running => "running".into(),
        protocol::JobState::Idle => humanize::relative_or(job.next_run_at, now, "-"),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Sample daemon answers shared by the output and view tests.

    use chrono::{DateTime, TimeZone, Utc};
    use protocol::{DaemonStatus, DatabaseInfo, DatabaseMode, Features, JobInfo, JobOutcome, JobState};

    /// The fixed "now" of every test: 2026-05-01 10:00:00 UTC.
    pub fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap()
    }

    fn minutes(m: i64) -> DateTime<Utc> {
        now() + chrono::Duration::minutes(m)
    }

    /// A job that last succeeded.
    pub fn ok_job() -> JobInfo {
        JobInfo {
            name: "rescan".into(),
            description: "Rescan leads whose last scan is older than scan.rescan_interval".into(),
            interval_secs: 3_600,
            state: JobState::Idle,
            last_started_at: Some(minutes(-12)),
            last_finished_at: Some(minutes(-11)),
            last_result: Some(JobOutcome::Ok { summary: "42 domains rescanned".into() }),
            last_error: None,
            last_error_at: None,
            next_run_at: Some(minutes(48)),
        }
    }

    /// A job whose last run failed with a long, two-line error.
    pub fn failed_job() -> JobInfo {
        let error = "Partner Center refused the refresh token (AADSTS700082: the refresh token has expired \
                     due to inactivity).\nRun `hunterd auth partner-center` to sign in again.";
        JobInfo {
            name: "partner_center_sync".into(),
            description: "Fetch referrals from Partner Center".into(),
            interval_secs: 600,
            state: JobState::Idle,
            last_started_at: Some(minutes(-3)),
            last_finished_at: Some(minutes(-3)),
            last_result: Some(JobOutcome::Failed { error: error.into() }),
            last_error: Some(error.into()),
            last_error_at: Some(minutes(-3)),
            next_run_at: Some(minutes(7)),
        }
    }

    /// A job switched off by its feature flag.
    pub fn disabled_job() -> JobInfo {
        JobInfo {
            name: "dynamics_push".into(),
            description: "Push qualified leads to Dynamics 365".into(),
            interval_secs: 300,
            state: JobState::Disabled,
            last_started_at: None,
            last_finished_at: None,
            last_result: None,
            last_error: None,
            last_error_at: None,
            next_run_at: None,
        }
    }

    pub fn status(jobs: Vec<JobInfo>) -> DaemonStatus {
        DaemonStatus {
            build_version: "0.1.0".into(),
            protocol: 1,
            pid: 4242,
            started_at: now() - chrono::Duration::seconds(7_500),
            uptime_secs: 7_500,
            database: DatabaseInfo {
                mode: DatabaseMode::Embedded,
                location: "/var/lib/hunter/postgres".into(),
                server_version: "17.2".into(),
                schema_version: 3,
                problem: None,
            },
            features: Features { ip_enrichment: false, partner_center_sync: true, dynamics_push: false },
            jobs,
            clients_connected: 2,
            sign_ins: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    const SOCKET: &str = "/run/hunter/hunterd.sock";

    #[test]
    fn status_text_shows_versions_database_features_clients_and_one_line_per_job() {
        let status = status(vec![ok_job(), failed_job(), disabled_job()]);
        let text = status_text(&status, Path::new(SOCKET), now());
        let expected = "\
daemon:    hunterd 0.1.0, protocol 1, pid 4242
uptime:    2h 5m (since 2026-05-01 07:55:00 UTC)
socket:    /run/hunter/hunterd.sock
database:  embedded (/var/lib/hunter/postgres)
postgres:  17.2, schema version 3
features:  ip_enrichment off, partner_center_sync on, dynamics_push off
clients:   2 connected
jobs:
  JOB                  STATE     LAST RUN  NEXT RUN  RESULT
  rescan               idle      12m ago   in 48m    ok: 42 domains rescanned
  partner_center_sync  idle      3m ago    in 7m     failed: Partner Center refused the refresh token (AADSTS700082: \
the refresh token has expired due to inactivity). Run `hunterd auth partner-center` to sign in again.
  dynamics_push        disabled  never     -         never run
";
        assert_eq!(text, expected);
    }

    #[test]
    fn status_text_shows_each_sign_in_and_says_which_needs_action() {
        let mut status = status(vec![]);
        status.sign_ins = vec![
            protocol::SignIn {
                service: "Partner Center".into(),
                ok: false,
                state: "sign-in needed: run `hunterd auth partner-center` (AADSTS700082)".into(),
            },
            protocol::SignIn { service: "Dynamics 365".into(), ok: true, state: "signed in".into() },
        ];
        let text = status_text(&status, Path::new(SOCKET), now());
        assert!(
            text.contains(
                "sign-in:   Partner Center: NEEDS ACTION: sign-in needed: run `hunterd auth partner-center` (AADSTS700082)\n           Dynamics 365: signed in\n"
            ),
            "{text}"
        );
        let value: serde_json::Value = serde_json::from_str(&status_json(&status, Path::new(SOCKET))).unwrap();
        assert_eq!(value["sign_ins"][0]["ok"], false);
        assert_eq!(value["sign_ins"][1]["service"], "Dynamics 365");
    }

    #[test]
    fn status_text_says_when_no_job_is_scheduled() {
        let text = status_text(&status(vec![]), Path::new(SOCKET), now());
        assert!(text.ends_with("jobs:      none scheduled\n"), "{text}");
    }

    #[test]
    fn jobs_text_prints_each_last_error_in_full_after_the_table() {
        let text = jobs_text(&[ok_job(), failed_job()], now());
        let expected_tail = "\npartner_center_sync last error at 2026-05-01 09:57:00 UTC (3m ago):\n  \
Partner Center refused the refresh token (AADSTS700082: the refresh token has expired due to inactivity).\n  \
Run `hunterd auth partner-center` to sign in again.\n";
        assert!(text.starts_with("JOB                  STATE  LAST RUN  NEXT RUN  RESULT\n"), "{text}");
        assert!(text.ends_with(expected_tail), "{text}");
    }

    #[test]
    fn jobs_text_says_when_there_are_no_jobs() {
        assert_eq!(jobs_text(&[], now()), "no scheduled jobs\n");
    }

    #[test]
    fn status_json_uses_snake_case_enums_and_rfc3339_times() {
        let status = status(vec![failed_job(), disabled_job()]);
        let value: serde_json::Value = serde_json::from_str(&status_json(&status, Path::new(SOCKET))).unwrap();
        assert_eq!(value["build_version"], "0.1.0");
        assert_eq!(value["socket"], SOCKET);
        assert_eq!(value["started_at"], "2026-05-01T07:55:00Z");
        assert_eq!(value["database"]["mode"], "embedded");
        assert_eq!(value["database"]["schema_version"], 3);
        assert_eq!(value["features"]["partner_center_sync"], true);
        assert_eq!(value["clients_connected"], 2);
        assert_eq!(value["jobs"][0]["last_result"]["status"], "failed");
        assert_eq!(value["jobs"][1]["state"], "disabled");
    }

    #[test]
    fn jobs_json_keeps_every_key_even_when_empty() {
        let value: serde_json::Value = serde_json::from_str(&jobs_json(&[disabled_job()])).unwrap();
        let job = &value["jobs"][0];
        for key in ["last_started_at", "last_result", "last_error", "last_error_at", "next_run_at"] {
            assert!(job.get(key).is_some_and(|v| v.is_null()), "{key} missing or not null");
        }
    }

    #[test]
    fn jobs_json_reports_a_success_with_its_summary() {
        let value: serde_json::Value = serde_json::from_str(&jobs_json(&[ok_job()])).unwrap();
        assert_eq!(
            value["jobs"][0]["last_result"],
            serde_json::json!({"status": "ok", "summary": "42 domains rescanned"})
        );
        assert_eq!(value["jobs"][0]["next_run_at"], "2026-05-01T10:48:00Z");
    }
}
