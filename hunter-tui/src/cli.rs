//! Command line: global options, the scriptable subcommands, and the interactive mode when no
//! subcommand is given.
//!
//! Subcommands exit 0 when hunterd answered and 1 when it did not, with the reason as one line on
//! stderr; what they print comes from [`output`](crate::output).

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use protocol::{DaemonStatus, JobInfo};

use crate::app;
use crate::client::{Client, ClientError};
use crate::commands::{self, CommandError};
use crate::output;
use crate::referrals;

/// Name the daemon logs for our connections.
const CLIENT_NAME: &str = "hunter-tui";

/// How long a subcommand waits for an answer once connected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Hunter's terminal client. Without a subcommand, opens the interactive UI.
#[derive(Debug, Parser)]
#[command(name = "hunter-tui", version, about)]
#[command(after_help = "Example:\n  hunter-tui --socket /run/hunter/hunterd.sock")]
pub struct Cli {
    /// hunterd's socket [default: your own daemon's if running, else the system one]
    // OsString, not PathBuf: an empty variable means "unset" (as in protocol::paths), not an error.
    #[arg(long, global = true, env = protocol::paths::SOCKET_ENV, value_name = "PATH")]
    pub socket: Option<OsString>,

    /// Configuration file (accepted for compatibility with hunterd; not read yet)
    #[arg(long, global = true, env = "HUNTER_CONFIG", value_name = "FILE")]
    pub config: Option<OsString>,

    /// Never use colours (also when NO_COLOR is set and not empty)
    #[arg(long, global = true)]
    pub no_color: bool,

    /// With --wait: how long to keep reconnecting when hunterd goes away (a restart), e.g. 90s, 5m
    #[arg(long, global = true, value_name = "DURATION", default_value = "5m", value_parser = commands::parse_duration)]
    pub reconnect_for: Duration,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Daemon status: versions, database, features, clients and jobs
    #[command(after_help = "Example:\n  hunter-tui status --format json")]
    Status {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Every scheduled job with its last and next run, result and last error
    #[command(after_help = "Example:\n  hunter-tui jobs")]
    Jobs {
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Add domains (URLs and e-mail addresses are fine); exit 2 if some were rejected
    #[command(
        after_help = "Example:\n  hunter-tui add contoso.com https://www.fabrikam.com/contact info@adatum.com --wait"
    )]
    Add {
        #[arg(required = true, value_name = "DOMAIN")]
        domains: Vec<String>,
        /// Block until every added domain is scanned and scored
        #[arg(long)]
        wait: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Import a CSV or XLSX file; exit 2 if rows were rejected, 1 if nothing could be imported
    #[command(after_help = "Example:\n  hunter-tui import leads.xlsx --wait")]
    Import {
        file: PathBuf,
        /// Block until every imported domain is scanned and scored
        #[arg(long)]
        wait: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Write the leads to stdout
    #[command(
        after_help = "Example:\n  hunter-tui export --filter \"segment=Migration score>=70\" --format json > leads.json"
    )]
    Export {
        /// Only leads matching this filter, e.g. "segment=Migration score>=60"
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// Sort column (domain, score, …); prefix with - to reverse
        #[arg(long, value_name = "COL", allow_hyphen_values = true)]
        sort: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: ExportFormat,
    },
    /// Push leads to Dynamics 365; exit 2 if some failed (or are duplicates in D365)
    #[command(after_help = "Example:\n  hunter-tui push --filter \"priority=P1\" --wait")]
    Push {
        #[arg(required_unless_present = "filter", value_name = "DOMAIN")]
        domains: Vec<String>,
        /// Also push every lead matching this filter, e.g. "segment=Migration score>=60"
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// Block until every push is acknowledged by D365 (or failed); exit 1 at once if a sign-in,
        /// permission or configuration problem stops them (they stay queued)
        #[arg(long)]
        wait: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Queue rescans of some domains or of every lead
    #[command(after_help = "Example:\n  hunter-tui rescan contoso.com fabrikam.com --wait")]
    Rescan {
        #[arg(required_unless_present = "all", conflicts_with = "all", value_name = "DOMAIN")]
        domains: Vec<String>,
        /// Rescan every lead
        #[arg(long)]
        all: bool,
        /// Block until the rescans are done
        #[arg(long)]
        wait: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Run a sync with an outside service now
    #[command(after_help = "Example:\n  hunter-tui sync partner-center --wait")]
    Sync {
        #[command(subcommand)]
        target: SyncTarget,
    },
    /// Partner Center referrals, linked to a company or not, to stdout (CSV or JSON); `link` and
    /// `unlink` fix a referral's company
    #[command(args_conflicts_with_subcommands = true)]
    #[command(
        after_help = "Example:\n  hunter-tui referrals --link-status unlinked,no_domain --expiring --format json"
    )]
    Referrals {
        #[command(subcommand)]
        action: Option<ReferralAction>,
        /// Only these link statuses: linked, no_domain, free_mail_only, invalid, unlinked (comma-separated)
        #[arg(long, value_name = "S", value_delimiter = ',')]
        link_status: Vec<String>,
        /// Only these kinds: co-sell, marketplace, solution-provider, marketing-qualified, own-deal, unknown
        #[arg(long, value_name = "KIND", value_delimiter = ',')]
        kind: Vec<String>,
        /// Only these Partner Center statuses: New, Active, Closed
        #[arg(long, value_name = "STATUS", value_delimiter = ',')]
        status: Vec<String>,
        /// Only referrals whose id, name, customer, domain or a contact contains this text
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Only incoming referrals expiring soon (hunterd's partner_center.expiring_soon)
        #[arg(long)]
        expiring: bool,
        /// Sort column (updated, expiration, customer, …); prefix with - to reverse [default: -updated]
        #[arg(long, value_name = "COL", allow_hyphen_values = true)]
        sort: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ReferralAction {
    /// Tie a referral to its company's domain (created and scanned if new); syncs never undo it; exit 0 ok, 1 failure
    #[command(
        after_help = "Example:\n  hunter-tui referrals link 8e4c1f0e-5b2a-4c7e-9a51-1f2d3c4b5a69 contoso.com --wait"
    )]
    Link {
        #[arg(value_name = "REFERRAL_ID")]
        referral_id: String,
        /// The company's domain (a website or e-mail address is fine)
        #[arg(value_name = "DOMAIN")]
        domain: String,
        /// Block until the company is scanned and scored with the referral
        #[arg(long)]
        wait: bool,
    },
    /// Remove a referral's link and its effect on the company's score; syncs keep it removed; exit 0 ok, 1 failure
    #[command(after_help = "Example:\n  hunter-tui referrals unlink 8e4c1f0e-5b2a-4c7e-9a51-1f2d3c4b5a69")]
    Unlink {
        #[arg(value_name = "REFERRAL_ID")]
        referral_id: String,
        /// Block until the company is rescored without the referral
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SyncTarget {
    /// Fetch Partner Center referrals now; with --wait: exit 0 ok, 2 partial, 1 failed
    #[command(after_help = "Example:\n  hunter-tui sync partner-center --wait")]
    PartnerCenter {
        /// Block until the sync has finished and print its result
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One header line, then one line per lead
    #[default]
    Csv,
    /// One array of objects
    Json,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people
    #[default]
    Text,
    /// For scripts: one JSON object
    Json,
}

/// Failures that stop hunter-tui itself (as opposed to "hunterd did not answer", which a
/// subcommand reports through its exit code).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("terminal error: {0}")]
    Terminal(#[source] io::Error),
    #[error("the interactive UI needs a terminal; in scripts use the subcommands (`hunter-tui --help`)")]
    NotATerminal,
}

/// hunter-tui's command line as clap sees it: for the man pages and shell completions (`cargo xtask dist`).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Entry point for the binary: parses arguments (clap exits with 2 on usage errors) and runs.
pub fn main() -> Result<ExitCode, CliError> {
    run(Cli::parse())
}

impl Cli {
    /// The socket to use: `--socket`/`HUNTER_SOCKET` when set and not empty, else the default.
    pub fn socket_path(&self) -> PathBuf {
        protocol::paths::client_socket(non_empty(self.socket.as_ref()))
    }

    /// `--config`/`HUNTER_CONFIG` when set and not empty.
    pub fn config_path(&self) -> Option<PathBuf> {
        non_empty(self.config.as_ref())
    }
}

fn non_empty(value: Option<&OsString>) -> Option<PathBuf> {
    value.filter(|v| !v.is_empty()).map(PathBuf::from)
}

pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let socket = cli.socket_path();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Runtime)?;
    match cli.command {
        None => {
            if !io::stdout().is_terminal() {
                return Err(CliError::NotATerminal);
            }
            let color = color_enabled(cli.no_color, std::env::var_os("NO_COLOR"));
            runtime.block_on(app::run(socket, color)).map_err(CliError::Terminal)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Status { format }) => {
            let answer = runtime.block_on(fetch_status(&socket));
            Ok(emit(status_report(answer, format, &socket)))
        }
        Some(Command::Jobs { format }) => {
            let answer = runtime.block_on(fetch_jobs(&socket));
            Ok(emit(jobs_report(answer, format)))
        }
        Some(command) => Ok(runtime.block_on(engine_command(&socket, command, cli.reconnect_for))),
    }
}

/// `add`, `import`, `export`, `rescan`: one connection, the command's own exit code, and any
/// failure (daemon away, file unreadable, import refused) as one line on stderr with exit 1.
async fn engine_command(socket: &Path, command: Command, reconnect_for: Duration) -> ExitCode {
    let result = async {
        let client = Client::connect(socket, CLIENT_NAME).await?;
        let waiting = |wait: bool| wait.then_some(reconnect_for);
        match command {
            Command::Add { domains, wait, format } => {
                commands::add(&client, domains, waiting(wait), format == Format::Json).await
            }
            Command::Import { file, wait, format } => {
                commands::import(&client, &file, waiting(wait), format == Format::Json).await
            }
            Command::Export { filter, sort, format } => {
                commands::export(&client, filter.as_deref(), sort.as_deref(), format == ExportFormat::Json).await
            }
            Command::Rescan { domains, all, wait, format } => {
                commands::rescan(&client, domains, all, waiting(wait), format == Format::Json).await
            }
            Command::Push { domains, filter, wait, format } => {
                commands::push(&client, domains, filter.as_deref(), waiting(wait), format == Format::Json).await
            }
            Command::Sync { target: SyncTarget::PartnerCenter { wait } } => {
                commands::sync_job(&client, commands::PARTNER_CENTER_JOB, waiting(wait)).await
            }
            Command::Referrals { action: Some(ReferralAction::Link { referral_id, domain, wait }), .. } => {
                referrals::relink(&client, &referral_id, Some(&domain), waiting(wait)).await
            }
            Command::Referrals { action: Some(ReferralAction::Unlink { referral_id, wait }), .. } => {
                referrals::relink(&client, &referral_id, None, waiting(wait)).await
            }
            Command::Referrals { action: None, link_status, kind, status, search, expiring, sort, format } => {
                let options = referrals::ListOptions {
                    link_statuses: link_status,
                    kinds: kind,
                    statuses: status,
                    search,
                    expiring,
                    sort,
                    json: format == ExportFormat::Json,
                };
                referrals::list(&client, &options).await
            }
            Command::Status { .. } | Command::Jobs { .. } => Ok(ExitCode::SUCCESS),
        }
    }
    .await;
    match result {
        Ok(code) => code,
        Err(err) => {
            let (line, code) = command_failure(&err);
            if let Some(line) = line {
                let _ = writeln!(io::stderr(), "{line}");
            }
            ExitCode::from(code)
        }
    }
}

/// The line to print and the exit code for a failed engine command: usage mistakes exit 2 like
/// clap's, a reader that closed the pipe (`| head`) is not a failure, everything else exits 1.
pub fn command_failure(err: &CommandError) -> (Option<String>, u8) {
    match err {
        CommandError::Write(e) if e.kind() == io::ErrorKind::BrokenPipe => (None, 0),
        CommandError::Usage(message) => (Some(format!("hunter-tui: {message}")), 2),
        other => (Some(one_line(&other.to_string())), 1),
    }
}

/// Colour unless `--no-color` was given or `NO_COLOR` is set to something (see no-color.org).
pub fn color_enabled(no_color_flag: bool, no_color_env: Option<OsString>) -> bool {
    !no_color_flag && no_color_env.is_none_or(|v| v.is_empty())
}

pub async fn fetch_status(socket: &Path) -> Result<DaemonStatus, ClientError> {
    let client = Client::connect(socket, CLIENT_NAME).await?;
    deadline(client.status()).await.map(|status| *status)
}

pub async fn fetch_jobs(socket: &Path) -> Result<Vec<JobInfo>, ClientError> {
    let client = Client::connect(socket, CLIENT_NAME).await?;
    deadline(client.jobs()).await
}

/// One request may take at most [`REQUEST_TIMEOUT`].
async fn deadline<T>(call: impl Future<Output = Result<T, ClientError>>) -> Result<T, ClientError> {
    tokio::time::timeout(REQUEST_TIMEOUT, call).await.map_err(|_| ClientError::Timeout(REQUEST_TIMEOUT))?
}

/// What a subcommand prints, and its exit code. Built by pure functions so the text, the JSON and
/// the exit codes are all unit-tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

impl Report {
    fn ok(stdout: String) -> Self {
        Report { stdout, stderr: String::new(), code: 0 }
    }

    /// hunterd did not answer: the reason on one line (it already says how to start it).
    fn failed(err: &ClientError) -> Self {
        Report { stdout: String::new(), stderr: format!("{}\n", one_line(&err.to_string())), code: 1 }
    }
}

fn one_line(text: &str) -> String {
    crate::humanize::one_line(text)
}

pub fn status_report(answer: Result<DaemonStatus, ClientError>, format: Format, socket: &Path) -> Report {
    match answer {
        Ok(status) => Report::ok(match format {
            Format::Text => output::status_text(&status, socket, Utc::now()),
            Format::Json => output::status_json(&status, socket),
        }),
        Err(err) => Report::failed(&err),
    }
}

pub fn jobs_report(answer: Result<Vec<JobInfo>, ClientError>, format: Format) -> Report {
    match answer {
        Ok(jobs) => Report::ok(match format {
            Format::Text => output::jobs_text(&jobs, Utc::now()),
            Format::Json => output::jobs_json(&jobs),
        }),
        Err(err) => Report::failed(&err),
    }
}

/// Writes a report. A closed stdout (`| head`) is not an error worth a message or a panic.
fn emit(report: Report) -> ExitCode {
    let _ = io::stderr().write_all(report.stderr.as_bytes());
    let mut stdout = io::stdout().lock();
    match stdout.write_all(report.stdout.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::from(report.code),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(report.code),
        Err(e) => {
            let _ = writeln!(io::stderr(), "cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::fixtures;
    use clap::CommandFactory;

    const SOCKET: &str = "/run/hunter/hunterd.sock";

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("hunter-tui").chain(args.iter().copied())).expect("valid arguments")
    }

    #[test]
    fn the_clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_interactive_mode() {
        assert_eq!(parse(&[]).command, None);
    }

    #[test]
    fn status_takes_a_json_format() {
        assert_eq!(parse(&["status", "--format", "json"]).command, Some(Command::Status { format: Format::Json }));
        assert_eq!(parse(&["jobs"]).command, Some(Command::Jobs { format: Format::Text }));
    }

    #[test]
    fn global_options_work_after_the_subcommand() {
        let cli = parse(&["status", "--socket", "/tmp/x.sock", "--no-color", "--config", "/etc/hunter.toml"]);
        assert_eq!(cli.socket_path(), PathBuf::from("/tmp/x.sock"));
        assert_eq!(cli.config_path(), Some(PathBuf::from("/etc/hunter.toml")));
        assert!(cli.no_color);
    }

    #[test]
    fn an_empty_socket_or_config_counts_as_unset() {
        let cli = parse(&["status", "--socket", "", "--config", ""]);
        assert_eq!(cli.socket_path(), protocol::paths::client_socket(None));
        assert_eq!(cli.config_path(), None);
    }

    #[test]
    fn an_unknown_format_is_a_usage_error() {
        let err = Cli::try_parse_from(["hunter-tui", "status", "--format", "yaml"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn referrals_lists_with_filters_or_links_and_unlinks() {
        assert!(matches!(
            parse(&["referrals", "--link-status", "no_domain,free_mail_only", "--format", "json"]).command,
            Some(Command::Referrals { action: None, ref link_status, format: ExportFormat::Json, .. })
                if link_status == &["no_domain", "free_mail_only"]
        ));
        assert!(matches!(
            parse(&["referrals", "link", "r1", "contoso.com"]).command,
            Some(Command::Referrals { action: Some(ReferralAction::Link { ref referral_id, ref domain, wait: false }), .. })
                if referral_id == "r1" && domain == "contoso.com"
        ));
        assert!(matches!(
            parse(&["referrals", "unlink", "r1", "--wait"]).command,
            Some(Command::Referrals { action: Some(ReferralAction::Unlink { wait: true, .. }), .. })
        ));
        let err = Cli::try_parse_from(["hunter-tui", "referrals", "link", "r1"]).unwrap_err();
        assert_eq!(err.exit_code(), 2, "a link needs the domain");
    }

    #[test]
    fn sync_partner_center_takes_wait() {
        assert_eq!(
            parse(&["sync", "partner-center", "--wait"]).command,
            Some(Command::Sync { target: SyncTarget::PartnerCenter { wait: true } })
        );
    }

    #[test]
    fn add_takes_several_domains_wait_and_json() {
        assert_eq!(
            parse(&["add", "contoso.com", "https://www.fabrikam.com/", "--wait", "--format", "json"]).command,
            Some(Command::Add {
                domains: vec!["contoso.com".into(), "https://www.fabrikam.com/".into()],
                wait: true,
                format: Format::Json
            })
        );
    }

    #[test]
    fn add_without_a_domain_is_a_usage_error() {
        let err = Cli::try_parse_from(["hunter-tui", "add"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn import_takes_a_file() {
        assert_eq!(
            parse(&["import", "leads.xlsx", "--wait"]).command,
            Some(Command::Import { file: "leads.xlsx".into(), wait: true, format: Format::Text })
        );
    }

    #[test]
    fn export_takes_a_filter_a_reversed_sort_and_json() {
        assert_eq!(
            parse(&["export", "--filter", "segment=Migration score>=60", "--sort", "-score", "--format", "json"])
                .command,
            Some(Command::Export {
                filter: Some("segment=Migration score>=60".into()),
                sort: Some("-score".into()),
                format: ExportFormat::Json
            })
        );
        assert_eq!(
            parse(&["export"]).command,
            Some(Command::Export { filter: None, sort: None, format: ExportFormat::Csv })
        );
    }

    #[test]
    fn rescan_takes_domains_or_all_but_not_both_nor_neither() {
        assert_eq!(
            parse(&["rescan", "--all"]).command,
            Some(Command::Rescan { domains: vec![], all: true, wait: false, format: Format::Text })
        );
        assert!(matches!(parse(&["rescan", "a.com", "b.com"]).command, Some(Command::Rescan { all: false, .. })));
        for args in [&["hunter-tui", "rescan"][..], &["hunter-tui", "rescan", "a.com", "--all"][..]] {
            assert_eq!(Cli::try_parse_from(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn a_failed_command_exits_1_with_its_reason_on_one_line() {
        let err = CommandError::Client(ClientError::NotRunning { path: SOCKET.into() });
        let (line, code) = command_failure(&err);
        assert_eq!(code, 1);
        assert!(line.unwrap().starts_with("hunterd is not running (no socket at /run/hunter/hunterd.sock)"));
    }

    #[test]
    fn a_refused_import_exits_1() {
        let remote = protocol::RemoteError {
            kind: protocol::ErrorKind::InvalidInput,
            message: "empty.csv: the file is empty; nothing was imported".into(),
        };
        let (line, code) = command_failure(&CommandError::Client(ClientError::Remote(remote)));
        assert_eq!((line.as_deref(), code), (Some("empty.csv: the file is empty; nothing was imported"), 1));
    }

    #[test]
    fn a_bad_filter_is_a_usage_error_and_a_closed_pipe_is_no_error() {
        assert_eq!(command_failure(&CommandError::Usage("filter `x=`: …".into())).1, 2);
        let pipe = CommandError::Write(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(command_failure(&pipe), (None, 0));
    }

    #[tokio::test]
    async fn an_engine_command_without_a_daemon_exits_1() {
        let dir = tempfile::tempdir().unwrap();
        let code = engine_command(
            &dir.path().join("hunterd.sock"),
            Command::Rescan { domains: vec![], all: true, wait: false, format: Format::Text },
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(code, ExitCode::FAILURE);
    }

    #[test]
    fn colour_is_off_with_the_flag_or_a_non_empty_no_color() {
        assert!(color_enabled(false, None));
        assert!(color_enabled(false, Some(OsString::new())));
        assert!(!color_enabled(false, Some(OsString::from("1"))));
        assert!(!color_enabled(true, None));
    }

    #[test]
    fn status_exits_0_and_prints_text_when_the_daemon_answers() {
        let report = status_report(Ok(fixtures::status(vec![])), Format::Text, Path::new(SOCKET));
        assert_eq!(report.code, 0);
        assert!(report.stdout.starts_with("daemon:    hunterd 0.1.0, protocol 1, pid 4242\n"), "{}", report.stdout);
        assert_eq!(report.stderr, "");
    }

    #[test]
    fn status_json_is_one_parseable_object() {
        let report = status_report(Ok(fixtures::status(vec![fixtures::ok_job()])), Format::Json, Path::new(SOCKET));
        let value: serde_json::Value = serde_json::from_str(&report.stdout).expect("valid JSON");
        assert_eq!(value["jobs"][0]["name"], "rescan");
    }

    #[test]
    fn status_exits_1_with_the_reason_on_stderr_when_the_daemon_is_not_running() {
        let err = ClientError::NotRunning { path: SOCKET.into() };
        let report = status_report(Err(err), Format::Json, Path::new(SOCKET));
        assert_eq!(report.code, 1);
        assert_eq!(report.stdout, "");
        assert_eq!(
            report.stderr,
            "hunterd is not running (no socket at /run/hunter/hunterd.sock); \
             start it with `hunterd run` or `systemctl start hunterd`\n"
        );
    }

    #[test]
    fn a_version_mismatch_is_one_line_and_exit_1() {
        let message = protocol::handshake::mismatch_message("hunter-tui", "0.1.0", 1, "0.2.0", 2);
        let report = jobs_report(Err(ClientError::VersionMismatch(message.clone())), Format::Text);
        assert_eq!(report.code, 1);
        assert_eq!(report.stderr, format!("{message}\n"));
    }

    #[test]
    fn jobs_exits_0_with_the_table_when_the_daemon_answers() {
        let report = jobs_report(Ok(vec![fixtures::failed_job()]), Format::Text);
        assert_eq!(report.code, 0);
        assert!(report.stdout.contains("partner_center_sync"));
    }

    #[tokio::test]
    async fn fetching_from_a_missing_socket_says_the_daemon_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let err = fetch_status(&dir.path().join("hunterd.sock")).await.unwrap_err();
        assert!(matches!(err, ClientError::NotRunning { .. }), "{err}");
    }

    #[tokio::test]
    async fn fetching_from_a_newer_daemon_reports_a_version_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hunterd.sock");
        let daemon = crate::fake_daemon::refuse_with_protocol(&path, protocol::PROTOCOL_VERSION + 1);
        let err = fetch_jobs(&path).await.unwrap_err();
        daemon.await.unwrap();
        let ClientError::VersionMismatch(message) = err else { panic!("expected a version mismatch, got {err}") };
        assert!(message.contains("upgrade hunter-tui"), "{message}");
    }

    #[tokio::test]
    async fn fetching_status_from_a_daemon_returns_its_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hunterd.sock");
        let status = fixtures::status(vec![fixtures::ok_job()]);
        let daemon = crate::fake_daemon::serve(&path, status.clone(), vec![]);
        assert_eq!(fetch_status(&path).await.unwrap(), status);
        // The fake daemon only finishes when the client hangs up: dropping a client must close it.
        tokio::time::timeout(Duration::from_secs(5), daemon).await.expect("connection closed").unwrap();
    }
}
