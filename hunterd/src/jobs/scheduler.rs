use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use protocol::{Event, JobInfo, JobOutcome, JobState};
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, watch};

/// A lease longer than any heartbeat gap: a daemon that dies mid-run frees its job after this.
const LEASE: Duration = Duration::from_secs(120);
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How often a run asked for while another daemon holds the job tries again.
const FORCED_RETRY: Duration = Duration::from_secs(5);

/// What a job gets to work with.
#[derive(Clone)]
pub struct JobContext {
    pub pool: PgPool,
    /// Flips to true on shutdown: long jobs should checkpoint and return.
    pub shutdown: watch::Receiver<bool>,
    pub events: broadcast::Sender<Event>,
}

/// The job body: returns a one-line summary, or an error whose full chain is kept for the user.
pub type JobFn = Arc<dyn Fn(JobContext) -> BoxFuture<'static, anyhow::Result<String>> + Send + Sync>;

pub struct JobSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub interval: Duration,
    /// False when the job's feature flag is off: shown as disabled, never run.
    pub enabled: bool,
    /// Run as soon as the job is first registered; otherwise its first run is one interval later.
    pub run_on_start: bool,
    pub run: JobFn,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("no scheduled job is called `{0}` (see `hunter-tui jobs`)")]
    UnknownJob(String),
    #[error("job `{0}` is disabled: turn its feature on in the configuration")]
    Disabled(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// Identifies this daemon in leases.
    owner: String,
    specs: Vec<JobSpec>,
    running: Mutex<HashSet<&'static str>>,
    forced: Mutex<HashSet<&'static str>>,
    wake: Notify,
    idle: Notify,
    events: broadcast::Sender<Event>,
}

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    name: String,
    interval_secs: i64,
    next_run_at: DateTime<Utc>,
    running_by: Option<String>,
    lease_expires_at: Option<DateTime<Utc>>,
    last_started_at: Option<DateTime<Utc>>,
    last_finished_at: Option<DateTime<Utc>>,
    last_ok: Option<bool>,
    last_summary: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
}

impl Scheduler {
    /// Registers the jobs (creating their rows; an interval change applies from the next run).
    /// `owner` names this run in leases (see [`super::owner`]); `every_run` matches the owner names of
    /// every run of this daemon, whose leases are handed back here: an earlier run killed mid-job
    /// would otherwise hold the job for the rest of its lease.
    pub async fn new(
        pool: PgPool,
        specs: Vec<JobSpec>,
        events: broadcast::Sender<Event>,
        owner: String,
        every_run: &str,
    ) -> Result<Self, SchedulerError> {
        sqlx::query(
            "UPDATE job_schedule SET running_by = NULL, lease_expires_at = NULL
              WHERE running_by LIKE $1 AND running_by <> $2",
        )
        .bind(every_run)
        .bind(&owner)
        .execute(&pool)
        .await?;
        for spec in &specs {
            sqlx::query(
                "INSERT INTO job_schedule (name, interval_secs, next_run_at)
                 VALUES ($1, $2, CASE WHEN $3 THEN now() ELSE now() + make_interval(secs => $2) END)
                 ON CONFLICT (name) DO UPDATE SET interval_secs = EXCLUDED.interval_secs",
            )
            .bind(spec.name)
            .bind(spec.interval.as_secs().max(1) as i64)
            .bind(spec.run_on_start)
            .execute(&pool)
            .await?;
        }
        Ok(Scheduler {
            inner: Arc::new(Inner {
                pool,
                owner,
                specs,
                running: Mutex::default(),
                forced: Mutex::default(),
                wake: Notify::new(),
                idle: Notify::new(),
                events,
            }),
        })
    }

    /// Every registered job as clients see it.
    pub async fn jobs(&self) -> Result<Vec<JobInfo>, SchedulerError> {
        let rows: Vec<ScheduleRow> = sqlx::query_as("SELECT * FROM job_schedule").fetch_all(&self.inner.pool).await?;
        Ok(self
            .inner
            .specs
            .iter()
            .filter_map(|spec| rows.iter().find(|r| r.name == spec.name).map(|r| self.info(spec, r)))
            .collect())
    }

    async fn job(&self, name: &str) -> Result<Option<JobInfo>, SchedulerError> {
        Ok(self.jobs().await?.into_iter().find(|j| j.name == name))
    }

    /// Runs a job as soon as possible, whatever its schedule.
    pub fn run_now(&self, name: &str) -> Result<(), SchedulerError> {
        let spec =
            self.inner.specs.iter().find(|s| s.name == name).ok_or_else(|| SchedulerError::UnknownJob(name.into()))?;
        if !spec.enabled {
            return Err(SchedulerError::Disabled(name.into()));
        }
        self.inner.forced.lock().map(|mut f| f.insert(spec.name)).ok();
        self.inner.wake.notify_one();
        Ok(())
    }

    /// The scheduling loop; returns when `shutdown` turns true (running jobs are left to [`drain`](Self::drain)).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.start_due_jobs(&shutdown).await {
                tracing::warn!("scheduler could not check for due jobs: {e}");
            }
            let mut pause = self.time_to_next_run().await.unwrap_or(FORCED_RETRY);
            if self.inner.forced.lock().map(|f| !f.is_empty()).unwrap_or(false) {
                pause = pause.min(FORCED_RETRY);
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.inner.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Waits (up to `patience`) for running jobs to finish or checkpoint after shutdown was signalled.
    pub async fn drain(&self, patience: Duration) {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let idle = self.inner.running.lock().map(|r| r.is_empty()).unwrap_or(true);
            if idle {
                return;
            }
            if tokio::time::timeout_at(deadline, self.inner.idle.notified()).await.is_err() {
                tracing::warn!(
                    "jobs still running at shutdown; their leases will expire and another run will pick them up"
                );
                return;
            }
        }
    }

    async fn start_due_jobs(&self, shutdown: &watch::Receiver<bool>) -> Result<(), SchedulerError> {
        for spec in self.inner.specs.iter().filter(|s| s.enabled) {
            let already = self.inner.running.lock().map(|r| r.contains(spec.name)).unwrap_or(true);
            if already {
                continue;
            }
            let forced = self.inner.forced.lock().map(|mut f| f.remove(spec.name)).unwrap_or(false);

            let claimed = sqlx::query(
                "UPDATE job_schedule
                    SET running_by = $2, lease_expires_at = now() + make_interval(secs => $3), last_started_at = now()
                  WHERE name = $1 AND (next_run_at <= now() OR $4)
                    AND (running_by IS NULL OR lease_expires_at < now())",
            )
            .bind(spec.name)
            .bind(&self.inner.owner)
            .bind(LEASE.as_secs_f64())
            .bind(forced)
            .execute(&self.inner.pool)
            .await?
            .rows_affected()
                == 1;
            if claimed {
                self.inner.running.lock().map(|mut r| r.insert(spec.name)).ok();
                self.publish(spec.name).await;
                let this = self.clone();
                let ctx = JobContext {
                    pool: self.inner.pool.clone(),
                    shutdown: shutdown.clone(),
                    events: self.inner.events.clone(),
                };
                let (name, run) = (spec.name, spec.run.clone());
                tokio::spawn(async move { this.execute(name, run, ctx).await });
            } else if forced {
                // Another daemon holds the job: the run asked for stays asked for until it is free.
                self.inner.forced.lock().map(|mut f| f.insert(spec.name)).ok();
            }
        }
        Ok(())
    }

    async fn execute(&self, name: &'static str, run: JobFn, ctx: JobContext) {
        tracing::info!(job = name, "job started");
        let body = run(ctx);
        tokio::pin!(body);
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        let result = loop {
            tokio::select! {
                result = &mut body => break result,
                _ = heartbeat.tick() => self.extend_lease(name).await,
            }
        };
        let (ok, summary, error) = match &result {
            Ok(summary) => {
                tracing::info!(job = name, "job finished: {summary}");
                (true, Some(summary.clone()), None)
            }
            Err(e) => {
                tracing::warn!(job = name, "job failed: {e:#}");
                (false, None, Some(format!("{e:#}")))
            }
        };
        let saved = sqlx::query(
            "UPDATE job_schedule
                SET running_by = NULL, lease_expires_at = NULL, last_finished_at = now(), last_ok = $2,
                    last_summary = $3,
                    last_error = CASE WHEN $2 THEN last_error ELSE $4 END,
                    last_error_at = CASE WHEN $2 THEN last_error_at ELSE now() END,
                    next_run_at = now() + make_interval(secs => interval_secs)
              WHERE name = $1 AND running_by = $5",
        )
        .bind(name)
        .bind(ok)
        .bind(summary)
        .bind(error)
        .bind(&self.inner.owner)
        .execute(&self.inner.pool)
        .await;
        if let Err(e) = saved {
            tracing::warn!(job = name, "could not record the job's result: {e}");
        }
        self.inner.running.lock().map(|mut r| r.remove(name)).ok();
        self.inner.idle.notify_waiters();
        self.publish(name).await;
    }

    async fn extend_lease(&self, name: &str) {
        let res = sqlx::query(
            "UPDATE job_schedule SET lease_expires_at = now() + make_interval(secs => $3) WHERE name = $1 AND running_by = $2",
        )
        .bind(name)
        .bind(&self.inner.owner)
        .bind(LEASE.as_secs_f64())
        .execute(&self.inner.pool)
        .await;
        if let Err(e) = res {
            tracing::warn!(job = name, "could not extend the job's lease: {e}");
        }
    }

    async fn publish(&self, name: &str) {
        if let Ok(Some(info)) = self.job(name).await {
            let _ = self.inner.events.send(Event::JobChanged(info));
        }
    }

    async fn time_to_next_run(&self) -> Option<Duration> {
        let enabled: Vec<&str> = self.inner.specs.iter().filter(|s| s.enabled).map(|s| s.name).collect();
        let next: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT min(next_run_at) FROM job_schedule WHERE name = ANY($1)")
                .bind(&enabled)
                .fetch_one(&self.inner.pool)
                .await
                .ok()
                .flatten();
        let wait = (next? - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        // Re-check at least every minute: another daemon may have changed the schedule.
        Some(wait.clamp(Duration::from_millis(200), Duration::from_secs(60)))
    }

    fn info(&self, spec: &JobSpec, row: &ScheduleRow) -> JobInfo {
        let running_here = self.inner.running.lock().map(|r| r.contains(spec.name)).unwrap_or(false);
        let running_elsewhere = row.running_by.is_some() && row.lease_expires_at.is_some_and(|t| t > Utc::now());
        let state = if !spec.enabled {
            JobState::Disabled
        } else if running_here || running_elsewhere {
            JobState::Running
        } else {
            JobState::Idle
        };
        let last_result = row.last_ok.map(|ok| {
            if ok {
                JobOutcome::Ok { summary: row.last_summary.clone().unwrap_or_default() }
            } else {
                JobOutcome::Failed { error: row.last_error.clone().unwrap_or_default() }
            }
        });
        JobInfo {
            name: spec.name.to_string(),
            description: spec.description.to_string(),
            interval_secs: row.interval_secs.max(0) as u64,
            state,
            last_started_at: row.last_started_at,
            last_finished_at: row.last_finished_at,
            last_result,
            last_error: row.last_error.clone(),
            last_error_at: row.last_error_at,
            next_run_at: spec.enabled.then_some(row.next_run_at),
        }
    }
}
