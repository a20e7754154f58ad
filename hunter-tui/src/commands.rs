//! The engine's scriptable subcommands: `add`, `import`, `export`, `rescan`. Each prints for people
//! (or JSON for scripts), shows progress only on a terminal, and returns the contract's exit code.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use protocol::{
    AddReport, BatchProgress, IMPORT_CHUNK, ImportReport, IntakeOutcome, LeadFilter, LeadQuery, LeadSort, MAX_PAGE,
    Seek,
};

use crate::client::{Client, ClientError, Queued};
use crate::export::{Exporter, Format as ExportFormat};

/// Exit code when some inputs were rejected (the rest went through).
pub const PARTIAL: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write the output: {0}")]
    Write(#[from] std::io::Error),
    #[error("{0}")]
    Usage(String),
    #[error("connection to hunterd lost and it did not come back within {}: {last}", human(*.patience))]
    DaemonGone { patience: Duration, last: ClientError },
}

/// `hunter-tui add DOMAIN…`: one line per input; exit 2 when any was rejected.
/// `wait`: block until the batch is scanned, riding out a daemon restart for up to that long.
pub async fn add(
    client: &Client,
    inputs: Vec<String>,
    wait: Option<Duration>,
    json: bool,
) -> Result<ExitCode, CommandError> {
    let report = client.add_domains(inputs).await?;
    print_add_report(&report, json)?;
    if let (Some(reconnect_for), Some(batch)) = (wait, &report.batch_id) {
        wait_for_batch(client, batch, reconnect_for).await?;
    }
    let rejected = report.results.iter().any(|r| r.outcome == IntakeOutcome::Rejected);
    Ok(if rejected { ExitCode::from(PARTIAL) } else { ExitCode::SUCCESS })
}

fn print_add_report(report: &AddReport, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({
                "results": report.results.iter().map(|r| serde_json::json!({
                    "input": r.input,
                    "domain": r.domain,
                    "outcome": outcome_name(r.outcome),
                    "reason": r.reason,
                })).collect::<Vec<_>>(),
                "batch_id": report.batch_id,
            }),
        )?;
        return writeln!(out);
    }
    for r in &report.results {
        match (r.outcome, &r.domain) {
            (IntakeOutcome::Rejected, _) => {
                writeln!(out, "rejected  {}: {}", r.input, r.reason.as_deref().unwrap_or("invalid"))?
            }
            (outcome, Some(domain)) => writeln!(out, "{:<9} {domain}", outcome_name(outcome))?,
            (outcome, None) => writeln!(out, "{:<9} {}", outcome_name(outcome), r.input)?,
        }
    }
    Ok(())
}

fn outcome_name(outcome: IntakeOutcome) -> &'static str {
    match outcome {
        IntakeOutcome::Accepted => "accepted",
        IntakeOutcome::Merged => "merged",
        IntakeOutcome::Rejected => "rejected",
    }
}

/// Streams a file to hunterd in chunks and returns its import report.
pub async fn upload(client: &Client, path: &Path) -> Result<ImportReport, CommandError> {
    let shown = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|source| CommandError::Read { path: shown.clone(), source })?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| shown.clone());
    let upload_id = client.import_begin(file_name).await?;
    let mut buf = vec![0u8; IMPORT_CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(|source| CommandError::Read { path: shown.clone(), source })?;
        if n == 0 {
            break;
        }
        client.import_chunk(upload_id, buf[..n].to_vec()).await?;
    }
    Ok(*client.import_finish(upload_id).await?)
}

/// `hunter-tui import FILE`: the accepted / merged / rejected report; exit 2 when rows were rejected.
pub async fn import(
    client: &Client,
    path: &Path,
    wait: Option<Duration>,
    json: bool,
) -> Result<ExitCode, CommandError> {
    let report = upload(client, path).await?;
    print_import_report(&report, json)?;
    if let (Some(reconnect_for), Some(batch)) = (wait, &report.batch_id) {
        wait_for_batch(client, batch, reconnect_for).await?;
    }
    Ok(if report.rejected > 0 { ExitCode::from(PARTIAL) } else { ExitCode::SUCCESS })
}

pub fn import_report_text(report: &ImportReport) -> String {
    let mut text = format!(
        "{}: {} accepted, {} merged (already known), {} rejected\n",
        report.file_name, report.accepted, report.merged, report.rejected
    );
    for row in &report.rejected_rows {
        text.push_str(&format!("  line {}: {} ({})\n", row.line, row.reason, row.raw));
    }
    let shown = report.rejected_rows.len() as u64;
    if report.rejected > shown {
        text.push_str(&format!("  … and {} more rejected rows\n", report.rejected - shown));
    }
    text
}

fn print_import_report(report: &ImportReport, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({
                "file": report.file_name,
                "accepted": report.accepted,
                "merged": report.merged,
                "rejected": report.rejected,
                "rejected_rows": report.rejected_rows.iter().map(|r| serde_json::json!({
                    "line": r.line, "reason": r.reason, "raw": r.raw,
                })).collect::<Vec<_>>(),
                "batch_id": report.batch_id,
            }),
        )?;
        return writeln!(out);
    }
    out.write_all(import_report_text(report).as_bytes())
}

/// `hunter-tui export`: every lead matching the filter, page by page, to stdout.
pub async fn export(
    client: &Client,
    filter: Option<&str>,
    sort: Option<&str>,
    json: bool,
) -> Result<ExitCode, CommandError> {
    let filter = match filter {
        Some(expr) => LeadFilter::parse(expr).map_err(|e| CommandError::Usage(e.to_string()))?,
        None => LeadFilter::default(),
    };
    let (sort, descending) = match sort {
        None => (LeadSort::Domain, false),
        Some(name) => {
            let (name, descending) = name.strip_prefix('-').map_or((name, false), |n| (n, true));
            let sort = LeadSort::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = LeadSort::ALL.iter().map(|s| s.name()).collect();
                CommandError::Usage(format!(
                    "unknown sort `{name}`; use one of {} (prefix - to reverse)",
                    names.join(", ")
                ))
            })?;
            (sort, descending)
        }
    };
    let stdout = std::io::stdout().lock();
    let mut exporter =
        Exporter::new(if json { ExportFormat::Json } else { ExportFormat::Csv }, std::io::BufWriter::new(stdout))?;
    let mut seek = Seek::Offset(0);
    loop {
        let query = LeadQuery { filter: filter.clone(), sort, descending, seek, limit: MAX_PAGE };
        let page = client.list_leads(query).await?;
        for row in &page.rows {
            exporter.write(row)?;
        }
        // Each page is read from where the last one ended (a keyset seek, not an offset).
        match page.last {
            Some(last) if page.rows.len() as u64 == u64::from(MAX_PAGE) => seek = Seek::After(last),
            _ => break,
        }
    }
    exporter.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// `hunter-tui rescan DOMAIN…|--all`.
pub async fn rescan(
    client: &Client,
    domains: Vec<String>,
    all: bool,
    wait: Option<Duration>,
    json: bool,
) -> Result<ExitCode, CommandError> {
    if all != domains.is_empty() {
        return Err(CommandError::Usage("give domains to rescan, or --all (not both)".into()));
    }
    let Queued { batch_id, queued, unknown } =
        if all { client.rescan_all().await? } else { client.rescan(domains).await? };
    if json {
        println!("{}", serde_json::json!({ "batch_id": batch_id, "queued": queued, "unknown": unknown }));
    } else {
        println!("queued {queued} scan(s)");
        for domain in &unknown {
            eprintln!("unknown domain {domain} (add it with `hunter-tui add {domain}`)");
        }
    }
    if let (Some(reconnect_for), Some(batch)) = (wait, &batch_id) {
        wait_for_batch(client, batch, reconnect_for).await?;
    }
    Ok(if unknown.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(PARTIAL) })
}

/// `push`: queue Dynamics 365 pushes of the given domains and/or every lead matching `filter`; with
/// `wait`, block until each is synced, failed or marked duplicate. Exit 0 when all were synced, 2 when
/// some failed, were duplicates in D365, or are not leads.
pub async fn push(
    client: &Client,
    mut domains: Vec<String>,
    filter: Option<&str>,
    wait: Option<Duration>,
    json: bool,
) -> Result<ExitCode, CommandError> {
    if domains.is_empty() && filter.is_none() {
        return Err(CommandError::Usage("give domains to push, or --filter EXPR".into()));
    }
    if let Some(expr) = filter {
        let filter = LeadFilter::parse(expr).map_err(|e| CommandError::Usage(e.to_string()))?;
        domains.extend(matching_domains(client, filter).await?);
    }
    let Queued { batch_id, queued, unknown } = client.push_leads(domains).await?;
    if !json {
        println!("queued {queued} push(es) to Dynamics 365");
        for domain in &unknown {
            eprintln!("unknown domain {domain} (add it with `hunter-tui add {domain}`)");
        }
    }
    let mut code = if unknown.is_empty() { 0 } else { PARTIAL };
    let mut finished = None;
    if let (Some(reconnect_for), Some(batch)) = (wait, &batch_id) {
        let progress = wait_for_push(client, batch, reconnect_for).await?;
        code = code.max(push_exit_code(&progress));
        if !json {
            println!(
                "{} synced, {} failed, {} duplicate in D365",
                progress.synced, progress.failed, progress.duplicate
            );
            for f in &progress.failures {
                eprintln!("{}: {}", f.domain, f.error);
            }
            if let Some(why) = &progress.blocked {
                eprintln!(
                    "push blocked: {why}\n{} lead(s) stay queued and go out once this is fixed",
                    progress.pending + progress.in_flight
                );
            }
        }
        finished = Some(progress);
    }
    if json {
        let progress = finished.map(|p| {
            serde_json::json!({
                "synced": p.synced, "failed": p.failed, "duplicate": p.duplicate,
                "waiting": p.pending + p.in_flight, "blocked": p.blocked,
                "failures": p.failures.iter().map(|f| serde_json::json!({"domain": f.domain, "error": f.error})).collect::<Vec<_>>(),
            })
        });
        println!(
            "{}",
            serde_json::json!({ "batch_id": batch_id, "queued": queued, "unknown": unknown, "result": progress })
        );
    }
    Ok(ExitCode::from(code))
}

/// `push --wait`'s exit code: 0 all synced, 2 some failed or were duplicates in D365, 1 blocked
/// (nothing more will go out until someone fixes the sign-in, the permission or the configuration).
pub fn push_exit_code(progress: &protocol::PushProgress) -> u8 {
    if progress.blocked.is_some() && !progress.finished() {
        1
    } else if progress.failed > 0 || progress.duplicate > 0 {
        PARTIAL
    } else {
        0
    }
}

/// Every lead matching a filter, page by page.
async fn matching_domains(client: &Client, filter: LeadFilter) -> Result<Vec<String>, CommandError> {
    let mut domains = Vec::new();
    let mut seek = Seek::Offset(0);
    loop {
        let query =
            LeadQuery { filter: filter.clone(), sort: LeadSort::Domain, descending: false, seek, limit: MAX_PAGE };
        let page = client.list_leads(query).await?;
        domains.extend(page.rows.iter().map(|r| r.domain.clone()));
        match page.last {
            Some(last) if page.rows.len() as u64 == u64::from(MAX_PAGE) => seek = Seek::After(last),
            _ => return Ok(domains),
        }
    }
}

/// Blocks until no push of the batch is pending or in flight, or until the daemon says the rest is
/// blocked (it will not go out without a fix); progress and the latest problem on a terminal only.
/// The queue lives in the database, so a daemon restart does not end the wait (see [`wait_for_batch`]).
pub async fn wait_for_push(
    client: &Client,
    batch_id: &str,
    reconnect_for: Duration,
) -> Result<protocol::PushProgress, CommandError> {
    let terminal = std::io::stderr().is_terminal();
    let mut shown_error: Option<String> = None;
    let mut reconnected: Option<Client> = None;
    loop {
        let current = reconnected.as_ref().unwrap_or(client);
        let p = match current.push_progress(batch_id).await {
            Ok(p) => p,
            Err(ClientError::Disconnected) => {
                reconnected = Some(reconnect_after_loss(client, reconnect_for, terminal, "the same pushes").await?);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if terminal {
            let done = p.synced + p.failed + p.duplicate;
            eprint!("\r[{done}/{}] pushed to Dynamics 365", p.total);
            if p.last_error != shown_error && !p.finished() {
                if let Some(e) = &p.last_error {
                    eprintln!("\n{e}");
                }
                shown_error = p.last_error.clone();
            }
        }
        if p.finished() || p.blocked.is_some() {
            if terminal {
                eprintln!();
            }
            return Ok(p);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The connection dropped mid-wait (hunterd restarting): say so, connect again for up to
/// `reconnect_for`, and say what the wait goes on with.
async fn reconnect_after_loss(
    client: &Client,
    reconnect_for: Duration,
    terminal: bool,
    still_waiting_for: &str,
) -> Result<Client, CommandError> {
    if terminal {
        eprintln!();
    }
    eprintln!("connection to hunterd lost (restarting?); reconnecting for up to {}", human(reconnect_for));
    let fresh = reconnect(client.socket_path(), reconnect_for).await?;
    eprintln!("reconnected to hunterd; still waiting for {still_waiting_for}");
    Ok(fresh)
}

/// Blocks until every member of the batch is scanned and scored; a progress bar on a terminal only.
/// The batch lives in the database, so a daemon restart does not end the wait: the connection is
/// opened again (with a notice on stderr) for up to `reconnect_for`, and the wait goes on.
pub async fn wait_for_batch(
    client: &Client,
    batch_id: &str,
    reconnect_for: Duration,
) -> Result<BatchProgress, CommandError> {
    let terminal = std::io::stderr().is_terminal();
    let mut reconnected: Option<Client> = None;
    let mut last: Option<(tokio::time::Instant, u64)> = None;
    loop {
        let current = reconnected.as_ref().unwrap_or(client);
        let asked = tokio::time::Instant::now();
        let progress = match current.batch_progress(batch_id).await {
            Ok(progress) => progress,
            Err(ClientError::Disconnected) => {
                reconnected = Some(reconnect_after_loss(client, reconnect_for, terminal, "the same scans").await?);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if terminal {
            eprint!("\r{}", progress_bar(progress, 30));
        }
        if progress.done >= progress.total {
            if terminal {
                eprintln!();
            }
            return Ok(progress);
        }
        let pause = next_poll(last, asked, asked.elapsed(), progress);
        last = Some((asked, progress.done));
        tokio::time::sleep(pause).await;
    }
}

/// When to ask again: every 250 ms, sooner when the scans at their current pace will be done before
/// that (so the wait ends close to when the batch does), and never so often that the asking (a count
/// over the batch, slower for big batches) takes more than a fifth of the daemon's database time.
fn next_poll(
    last: Option<(tokio::time::Instant, u64)>,
    asked: tokio::time::Instant,
    took: Duration,
    progress: BatchProgress,
) -> Duration {
    const USUAL: Duration = Duration::from_millis(250);
    const SOONEST: Duration = Duration::from_millis(20);
    let expected = last.and_then(|(at, done)| {
        let (progressed, secs) = (progress.done.checked_sub(done)?, asked.checked_duration_since(at)?.as_secs_f64());
        (progressed > 0 && secs > 0.0).then(|| {
            let left = progress.total.saturating_sub(progress.done) as f64;
            Duration::from_secs_f64((left * secs / progressed as f64).min(USUAL.as_secs_f64()))
        })
    });
    expected.unwrap_or(USUAL).clamp(SOONEST, USUAL).max(took * 4)
}

/// Connects again, retrying while the daemon is away (restarting: no socket, nobody listening, busy)
/// for up to `patience`. A daemon that answers with another protocol is not waited for.
async fn reconnect(socket: &Path, patience: Duration) -> Result<Client, CommandError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut pause = Duration::from_millis(100);
    loop {
        match Client::connect(socket, "hunter-tui").await {
            Ok(client) => return Ok(client),
            Err(e @ ClientError::VersionMismatch(_)) => return Err(e.into()),
            Err(last) if tokio::time::Instant::now() + pause >= deadline => {
                return Err(CommandError::DaemonGone { patience, last });
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// `90s`, `5m`, `2h`: how durations are written on the command line.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Parses `90s`, `5m`, `2h` or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration (like 90s, 5m, 2h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{text}` is not a duration (like 90s, 5m, 2h)")),
    };
    Ok(Duration::from_secs(secs))
}

/// The daemon's job behind `hunter-tui sync partner-center`.
pub const PARTNER_CENTER_JOB: &str = "partner_center_sync";

/// `hunter-tui sync partner-center [--wait]`: starts the sync now; with `--wait`, prints its result
/// and exits 0 (ok), 2 (some referrals failed) or 1 (the run failed, e.g. sign-in needed).
/// A daemon restart during the wait is ridden out like `push --wait`'s; a run the restart cut short
/// is reported as the job's next result (the restarted daemon runs it again when due).
pub async fn sync_job(client: &Client, job: &str, wait: Option<Duration>) -> Result<ExitCode, CommandError> {
    let before = client.jobs().await?.into_iter().find(|j| j.name == job).and_then(|j| j.last_finished_at);
    client.run_job(job).await?;
    let Some(reconnect_for) = wait else {
        println!("{job}: started (`hunter-tui jobs` shows its result)");
        return Ok(ExitCode::SUCCESS);
    };
    let terminal = std::io::stderr().is_terminal();
    if terminal {
        eprint!("{job}: running…");
    }
    let mut reconnected: Option<Client> = None;
    let finished = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let current = reconnected.as_ref().unwrap_or(client);
        let jobs = match current.jobs().await {
            Ok(jobs) => jobs,
            Err(ClientError::Disconnected) => {
                let what = format!("the {job} run");
                reconnected = Some(reconnect_after_loss(client, reconnect_for, terminal, &what).await?);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let info = jobs.into_iter().find(|j| j.name == job);
        if let Some(info) = info
            && info.state != protocol::JobState::Running
            && info.last_finished_at.is_some()
            && info.last_finished_at != before
        {
            break info;
        }
    };
    if terminal {
        eprintln!();
    }
    let (line, code) = sync_result(job, finished.last_result.as_ref());
    println!("{line}");
    Ok(ExitCode::from(code))
}

/// The line and exit code for a finished sync job.
pub fn sync_result(job: &str, outcome: Option<&protocol::JobOutcome>) -> (String, u8) {
    match outcome {
        Some(protocol::JobOutcome::Ok { summary }) => {
            let partial = protocol::sync::SyncCounts::parse(summary).is_some_and(|c| c.failed > 0);
            (format!("{job}: {}: {summary}", if partial { "partial" } else { "ok" }), if partial { PARTIAL } else { 0 })
        }
        Some(protocol::JobOutcome::Failed { error }) => (format!("{job}: failed: {error}"), 1),
        None => (format!("{job}: finished without a result"), 1),
    }
}

/// `[##########----------] 523/1000 scanned`
pub fn progress_bar(p: BatchProgress, width: usize) -> String {
    let filled = if p.total == 0 { width } else { (p.done.min(p.total) as usize * width) / p.total as usize };
    format!("[{}{}] {}/{} scanned", "#".repeat(filled), "-".repeat(width - filled), p.done, p.total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::RejectedRow;

    #[test]
    fn push_wait_exits_1_when_blocked_2_when_some_failed_and_0_when_all_synced() {
        let all_synced = protocol::PushProgress { total: 2, synced: 2, ..Default::default() };
        assert_eq!(push_exit_code(&all_synced), 0);
        let one_failed = protocol::PushProgress { total: 2, synced: 1, failed: 1, ..Default::default() };
        assert_eq!(push_exit_code(&one_failed), PARTIAL);
        let blocked = protocol::PushProgress {
            total: 2,
            synced: 1,
            pending: 1,
            blocked: Some("sign-in refused".into()),
            ..Default::default()
        };
        assert_eq!(push_exit_code(&blocked), 1);
        // A block met after the last lead went out does not fail the batch.
        let done_anyway = protocol::PushProgress { blocked: Some("sign-in refused".into()), ..all_synced };
        assert_eq!(push_exit_code(&done_anyway), 0);
    }

    #[test]
    fn durations_are_read_and_written_as_on_the_command_line() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
        assert_eq!(human(Duration::from_secs(300)), "5m");
        assert_eq!(human(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn a_sync_with_failed_referrals_is_partial_and_a_failed_run_exits_1() {
        let ok = protocol::JobOutcome::Ok { summary: "fetched 3, new 1, updated 0, skipped 2, failed 0".into() };
        let partial = protocol::JobOutcome::Ok { summary: "fetched 3, new 1, updated 0, skipped 1, failed 1".into() };
        let failed = protocol::JobOutcome::Failed { error: "sign-in needed: run `hunterd auth partner-center`".into() };
        assert_eq!(sync_result("j", Some(&ok)).1, 0);
        assert_eq!(
            sync_result("j", Some(&partial)),
            ("j: partial: fetched 3, new 1, updated 0, skipped 1, failed 1".into(), 2)
        );
        assert_eq!(sync_result("j", Some(&failed)).1, 1);
    }

    fn progress(done: u64, total: u64) -> BatchProgress {
        BatchProgress { done, total }
    }

    #[test]
    fn a_wait_asks_every_quarter_second_until_it_knows_the_pace() {
        let now = tokio::time::Instant::now();
        assert_eq!(next_poll(None, now, Duration::from_millis(2), progress(0, 10_000)), Duration::from_millis(250));
        // No progress since the last answer: no pace to go by.
        let last = Some((now, 500));
        let later = now + Duration::from_millis(250);
        assert_eq!(next_poll(last, later, Duration::from_millis(2), progress(500, 10_000)), Duration::from_millis(250));
    }

    #[test]
    fn a_wait_asks_again_when_the_batch_should_be_done_at_its_pace() {
        let now = tokio::time::Instant::now();
        // 500 scans in 250 ms and 100 left: done in about 50 ms.
        let pause =
            next_poll(Some((now, 9_400)), now + Duration::from_millis(250), Duration::ZERO, progress(9_900, 10_000));
        assert_eq!(pause, Duration::from_millis(50));
        // 5 left: still not more often than every 20 ms.
        let pause =
            next_poll(Some((now, 9_400)), now + Duration::from_millis(250), Duration::ZERO, progress(9_995, 10_000));
        assert_eq!(pause, Duration::from_millis(20));
    }

    #[test]
    fn a_wait_never_spends_more_than_a_fifth_of_its_time_asking() {
        let now = tokio::time::Instant::now();
        let slow_count = Duration::from_millis(150);
        let pause =
            next_poll(Some((now, 9_400)), now + Duration::from_millis(250), slow_count, progress(9_900, 10_000));
        assert_eq!(pause, Duration::from_millis(600));
    }

    #[test]
    fn the_progress_bar_fills_in_proportion() {
        assert_eq!(progress_bar(BatchProgress { done: 5, total: 10 }, 10), "[#####-----] 5/10 scanned");
        assert_eq!(progress_bar(BatchProgress { done: 0, total: 0 }, 4), "[####] 0/0 scanned");
    }

    #[test]
    fn the_import_report_lists_rejected_rows_with_their_lines() {
        let report = ImportReport {
            file_name: "leads.csv".into(),
            accepted: 2,
            merged: 1,
            rejected: 3,
            rejected_rows: vec![RejectedRow {
                line: 4,
                reason: "`gmail.com` is a free-mail provider".into(),
                raw: "gmail.com".into(),
            }],
            batch_id: None,
        };
        let text = import_report_text(&report);
        assert!(text.starts_with("leads.csv: 2 accepted, 1 merged (already known), 3 rejected\n"));
        assert!(text.contains("  line 4: `gmail.com` is a free-mail provider (gmail.com)\n"));
        assert!(text.ends_with("… and 2 more rejected rows\n"));
    }
}
