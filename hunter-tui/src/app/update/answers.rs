//! What the daemon says: typed answers to our requests, the connection coming and going, and events.

use super::*;

pub(super) fn on_connected(app: &mut App, status: &DaemonStatus) -> Vec<Effect> {
    let reconnected = matches!(app.link, Link::Down(_));
    app.link = Link::Up(Daemon::from_status(status, app.now));
    set_jobs(app, status.jobs.clone());
    if reconnected {
        notify(app, "reconnected to hunterd".into(), false);
    }
    // Requests made before the drop were answered with errors or not at all: start over.
    app.leads.forget_requests();
    app.inbox.requested = None;
    let mut effects = refresh(app);
    if !app.progress.batches.is_empty() {
        app.progress.polling = true;
        effects.push(Effect::After(BATCH_POLL, Box::new(Msg::PollBatches)));
    }
    effects
}

/// The daemon is away: what we knew about its jobs is stale, so it goes, and so do menus and
/// prompts the "not connected" screen would hide.
pub(super) fn go_down(app: &mut App, down: Down) {
    app.link = Link::Down(down);
    app.menu = None;
    app.prompt = None;
    app.jobs.clear();
    app.selected_job = 0;
    app.leads.forget_requests();
    app.leads.counting = false;
    app.inbox.requested = None;
    app.progress.scan = None;
    app.progress.polling = false;
}

pub(super) fn on_event(app: &mut App, event: Event) -> Vec<Effect> {
    match event {
        Event::JobChanged(job) => {
            // A finished Partner Center sync may have brought or changed referrals.
            let synced = job.name == crate::commands::PARTNER_CENTER_JOB
                && job.last_finished_at.is_some()
                && app
                    .jobs
                    .iter()
                    .find(|j| j.name == job.name)
                    .is_none_or(|j| j.last_finished_at != job.last_finished_at);
            if let Some(notice) = new_referrals_notice(app, &job) {
                notify(app, notice, false);
            }
            upsert_job(app, job);
            if synced {
                return refresh_inbox(app);
            }
        }
        Event::Progress { job, done, total, message } => {
            if let (true, Some(total)) = (job == "scan", total) {
                on_scan_progress(app, total.saturating_sub(done));
            } else {
                let count = total.map_or_else(|| done.to_string(), |t| format!("{done}/{t}"));
                notify(app, format!("{job}: {message} ({count})"), false);
            }
        }
        Event::ShuttingDown => go_down(app, Down::Stopped),
        Event::LeadsChanged { .. } if !app.refresh_scheduled => {
            app.refresh_scheduled = true;
            return vec![Effect::After(REFRESH_DEBOUNCE, Box::new(Msg::RefreshDue))];
        }
        Event::LeadsChanged { .. } => {}
        // Some job changes were dropped for us: ask for the whole picture again.
        Event::Lagged { .. } => {
            let mut effects = vec![Effect::Send(Request::Status)];
            effects.extend(refresh(app));
            return effects;
        }
    }
    vec![]
}

pub(super) fn on_scan_progress(app: &mut App, waiting: u64) {
    if waiting == 0 {
        app.progress.scan = None;
        return;
    }
    let peak = app.progress.scan.as_ref().map_or(waiting, |q| q.peak.max(waiting));
    app.progress.scan = Some(ScanQueue { waiting, peak });
}

pub(super) fn on_batch_progress(app: &mut App, batch_id: &str, done: u64, total: u64) -> Vec<Effect> {
    let Some(index) = app.progress.batches.iter().position(|b| b.id == batch_id) else { return vec![] };
    if done < total {
        let watch = &mut app.progress.batches[index];
        watch.done = done;
        watch.total = total;
        return vec![];
    }
    let watch = app.progress.batches.remove(index);
    notify(app, format!("{}: {} scanned", watch.label, humanize::count(total as usize, "domain")), false);
    refresh(app)
}

pub(super) fn on_answer(app: &mut App, answer: Answer) -> Vec<Effect> {
    match answer {
        Answer::Referrals { query, result } => on_referral_page(app, &query, result),
        Answer::ReferralFacets { facet, result: Ok(values) } => {
            if app.notice.as_ref().is_some_and(|n| n.text.starts_with("counting")) {
                app.notice = None;
            }
            open_referral_facet_values(app, facet, values);
            vec![]
        }
        Answer::ReferralFacets { facet, result: Err(e) } => {
            notify(app, format!("could not list {} values: {e}", facet.key()), true);
            vec![]
        }
        Answer::Relinked { referral_id, domain, result } => on_relinked(app, &referral_id, domain, result),
        Answer::Leads { query, result } => on_lead_page(app, &query, result),
        Answer::LeadCount { filter, result } => on_lead_count(app, &filter, result),
        Answer::Lead { domain, result } => {
            if let Some(detail) = app.detail.as_mut().filter(|d| d.domain == domain) {
                match result {
                    Ok(lead) => {
                        detail.detail = Some(Arc::from(lead));
                        detail.error = None;
                    }
                    Err(e) => detail.error = Some(e),
                }
            }
            vec![]
        }
        Answer::Facets { facet, result: Ok(values) } => {
            if app.notice.as_ref().is_some_and(|n| n.text.starts_with("counting")) {
                app.notice = None;
            }
            open_facet_values(app, facet, values);
            vec![]
        }
        Answer::Facets { facet, result: Err(e) } => {
            notify(app, format!("could not list {} values: {e}", facet.key()), true);
            vec![]
        }
        Answer::Added(Ok(report)) => {
            let count = |o: IntakeOutcome| report.results.iter().filter(|r| r.outcome == o).count();
            let (accepted, merged) = (count(IntakeOutcome::Accepted), count(IntakeOutcome::Merged));
            let rejected: Vec<String> = report
                .results
                .iter()
                .filter(|r| r.outcome == IntakeOutcome::Rejected)
                .map(|r| format!("{} ({})", r.input, r.reason.as_deref().unwrap_or("invalid")))
                .collect();
            let mut text = format!("{accepted} added, {merged} already known");
            if !rejected.is_empty() {
                text.push_str(&format!("; rejected: {}", rejected.join(", ")));
            }
            notify(app, text, !rejected.is_empty());
            let mut effects = refresh(app);
            if let Some(batch) = report.batch_id {
                let label = format!("add {}", humanize::count(accepted + merged, "domain"));
                effects.extend(watch_batch(app, batch, label, (accepted + merged) as u64));
            }
            effects
        }
        Answer::Added(Err(error)) => failed(app, "add failed", error),
        Answer::Rescan(Ok(Queued { batch_id, queued, unknown })) => {
            let mut text = format!("{} queued", humanize::count(queued as usize, "rescan"));
            if !unknown.is_empty() {
                text.push_str(&format!("; unknown: {}", unknown.join(", ")));
            }
            notify(app, text, !unknown.is_empty());
            match batch_id {
                Some(batch) => {
                    watch_batch(app, batch, format!("rescan {}", humanize::count(queued as usize, "lead")), queued)
                }
                None => vec![],
            }
        }
        Answer::Rescan(Err(error)) | Answer::RescanAll(Err(error)) => failed(app, "rescan failed", error),
        Answer::Pushed(Ok(queued)) => {
            notify(app, format!("queued {} for Dynamics 365", humanize::count(queued.queued as usize, "push")), false);
            vec![]
        }
        Answer::Pushed(Err(error)) => failed(app, "push failed", error),
        Answer::PushProgress { result: Ok(_), .. } => vec![],
        Answer::PushPreview(Ok(plans)) => {
            if plans.is_empty() {
                return failed(app, "push", "none of these leads is known to hunterd".into());
            }
            let domains = plans.iter().map(|p| p.domain.clone()).collect();
            open_prompt(app, PromptKind::Push { domains, summary: push_summary(&plans) }, String::new());
            vec![]
        }
        Answer::PushPreview(Err(error)) => failed(app, "push", error),
        Answer::PushProgress { result: Err(error), .. } => failed(app, "push status failed", error),
        Answer::BatchProgress { batch_id, result: Ok(p) } => on_batch_progress(app, &batch_id, p.done, p.total),
        Answer::BatchProgress { batch_id, result: Err(e) } => {
            // A batch the daemon no longer knows will never finish: stop following it.
            if app.connected() {
                app.progress.batches.retain(|b| b.id != batch_id);
                notify(app, format!("lost track of a batch: {e}"), true);
            }
            vec![]
        }
        Answer::NoteAdded { result: Ok(()), .. } => {
            notify(app, "note added".into(), false);
            refresh(app)
        }
        Answer::NoteAdded { result: Err(error), .. } => failed(app, "note not saved", error),
        Answer::TagSet { domain, tag, present, result: Ok(()) } => {
            let verb = if present { "tagged" } else { "untagged" };
            notify(app, format!("{verb} {domain}: {tag}"), false);
            refresh(app)
        }
        Answer::TagSet { result: Err(error), .. } => failed(app, "tag not changed", error),
        Answer::FavoriteSet { domain, favorite, result: Ok(()) } => {
            let text = if favorite {
                format!("{domain} is a favourite")
            } else {
                format!("{domain} is no longer a favourite")
            };
            notify(app, text, false);
            refresh(app)
        }
        Answer::FavoriteSet { result: Err(error), .. } => failed(app, "favourite not changed", error),
        Answer::Status(Ok(status)) => {
            if let Link::Up(daemon) = &mut app.link {
                *daemon = Daemon::from_status(&status, app.now);
            }
            set_jobs(app, status.jobs);
            vec![]
        }
        Answer::Jobs(Ok(jobs)) => {
            set_jobs(app, jobs);
            vec![]
        }
        Answer::RunJob { name, result: Ok(()) } => {
            notify(app, format!("{name} started"), false);
            vec![]
        }
        Answer::RunJob { name, result: Err(error) } => {
            notify(app, format!("could not run {name}: {error}"), true);
            vec![]
        }
        // Nothing to show when these succeed (the UI does not send them today).
        Answer::RescanAll(Ok(_))
        | Answer::Pong(Ok(()))
        | Answer::Subscribed(Ok(()))
        | Answer::Unsubscribed(Ok(()))
        | Answer::ImportStarted(Ok(_))
        | Answer::ChunkStored(Ok(()))
        | Answer::Imported(Ok(_))
        | Answer::Changes(Ok(_)) => vec![],
        Answer::Status(Err(error))
        | Answer::Jobs(Err(error))
        | Answer::Pong(Err(error))
        | Answer::Subscribed(Err(error))
        | Answer::Unsubscribed(Err(error))
        | Answer::ImportStarted(Err(error))
        | Answer::ChunkStored(Err(error))
        | Answer::Imported(Err(error))
        | Answer::Changes(Err(error)) => failed(app, "request failed", error),
    }
}

/// A request failed: say which, and why.
/// `lead1.example: create subject, companyname, … (14 columns)`, or counts for several leads.
pub(super) fn push_summary(plans: &[protocol::PushPlan]) -> String {
    if let [plan] = plans {
        let verb = if plan.create { "create" } else { "update" };
        if plan.fields.is_empty() {
            return format!("{}: nothing changed since the last push", plan.domain);
        }
        let shown: Vec<&str> = plan.fields.iter().take(6).map(String::as_str).collect();
        let more = if plan.fields.len() > shown.len() { ", …" } else { "" };
        return format!("{}: {verb} {}{more} ({} columns)", plan.domain, shown.join(", "), plan.fields.len());
    }
    let creates = plans.iter().filter(|p| p.create).count();
    let unchanged = plans.iter().filter(|p| !p.create && p.fields.is_empty()).count();
    let updates = plans.len() - creates - unchanged;
    format!("{} leads: {creates} new, {updates} updated, {unchanged} unchanged", plans.len())
}

pub(super) fn failed(app: &mut App, what: &str, error: String) -> Vec<Effect> {
    notify(app, format!("{what}: {error}"), true);
    vec![]
}

pub(super) fn on_lead_page(app: &mut App, query: &LeadQuery, result: Result<LeadPage, String>) -> Vec<Effect> {
    if !app.leads.is_current(query) {
        return vec![];
    }
    let Some(page) = app.leads.page_of(&query.seek) else { return vec![] };
    app.leads.requested.remove(&page);
    let outdated = app.leads.outdated.remove(&page);
    match result {
        Ok(answer) => {
            app.leads.error = None;
            app.leads.learn_extent(page, &query.seek, answer.rows.len() as u64);
            let LeadPage { rows, first, last } = answer;
            app.leads.pages.insert(page, Page { rows: Arc::new(rows), stale: outdated, first, last });
            // The count may have changed: keep the selection inside and fetch what is now in view.
            fetch_leads(app)
        }
        Err(e) => {
            app.leads.error = Some(e);
            vec![]
        }
    }
}

pub(super) fn on_lead_count(app: &mut App, filter: &LeadFilter, result: Result<LeadCount, String>) -> Vec<Effect> {
    if *filter != app.leads.filter {
        return vec![];
    }
    app.leads.counting = false;
    match result {
        Ok(count) => {
            app.leads.count = Some(count);
            app.leads.total = Some(count.count);
            fetch_leads(app)
        }
        Err(e) => failed(app, "could not count leads", e),
    }
}

pub(super) fn on_imported(app: &mut App, file: String, result: Result<ImportReport, String>) -> Vec<Effect> {
    match result {
        Ok(report) => {
            let mut text =
                format!("{file}: {} accepted, {} merged, {} rejected", report.accepted, report.merged, report.rejected);
            if let Some(first) = report.rejected_rows.first() {
                text.push_str(&format!(" (line {}: {})", first.line, first.reason));
            }
            notify(app, text, report.rejected > 0);
            let mut effects = refresh(app);
            if let Some(batch) = report.batch_id {
                let total = report.accepted + report.merged;
                effects.extend(watch_batch(app, batch, format!("import {file}"), total));
            }
            effects
        }
        Err(e) => {
            notify(
                app,
                format!(
                    "import failed: {e}; check the file and try again ({} imports)",
                    app.keymap.key_for(Action::Import)
                ),
                true,
            );
            vec![]
        }
    }
}

pub(super) fn set_jobs(app: &mut App, jobs: Vec<JobInfo>) {
    app.jobs = jobs;
    app.selected_job = app.selected_job.min(app.jobs.len().saturating_sub(1));
}

/// Replaces the job with the same name, or adds it (a daemon may gain jobs when a feature is on).
/// "3 new Partner Center referrals" when a sync run that just finished brought some.
fn new_referrals_notice(app: &App, job: &JobInfo) -> Option<String> {
    if job.name != "partner_center_sync" {
        return None;
    }
    let before = app.jobs.iter().find(|j| j.name == job.name).and_then(|j| j.last_finished_at);
    if job.last_finished_at.is_none() || job.last_finished_at == before {
        return None;
    }
    let Some(protocol::JobOutcome::Ok { summary }) = &job.last_result else { return None };
    let counts = protocol::sync::SyncCounts::parse(summary)?;
    match counts.created {
        0 => None,
        1 => Some("1 new Partner Center referral".into()),
        n => Some(format!("{n} new Partner Center referrals")),
    }
}

pub(super) fn upsert_job(app: &mut App, job: JobInfo) {
    match app.jobs.iter_mut().find(|j| j.name == job.name) {
        Some(slot) => *slot = job,
        None => app.jobs.push(job),
    }
}
