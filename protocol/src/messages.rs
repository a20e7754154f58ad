//! Requests, responses and pushed events after the handshake.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Client → daemon, after the handshake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    Request { id: u64, body: Request },
}

/// Daemon → client, after the handshake. Responses and events interleave freely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    Response { id: u64, body: Response },
    Event(Event),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Cheapest possible round trip (used by health checks and the latency benchmark).
    Ping,
    Status,
    Jobs,
    /// Run a scheduled job now, whatever its next run time.
    RunJob {
        name: String,
    },
    /// Start receiving [`Event`]s on this connection.
    Subscribe,
    Unsubscribe,
    /// Add domains typed by a person; accepted ones are queued for scanning.
    AddDomains {
        inputs: Vec<String>,
    },
    /// Start uploading a file to import (the daemon may not be able to read the client's files).
    ImportBegin {
        file_name: String,
    },
    /// Next piece of the file, at most [`IMPORT_CHUNK`] bytes.
    ImportChunk {
        upload_id: u64,
        data: Vec<u8>,
    },
    /// The whole file was sent: import it.
    ImportFinish {
        upload_id: u64,
    },
    /// How far the scans of an add/import/rescan batch are.
    BatchProgress {
        batch_id: String,
    },
    /// Queue rescans of these domains.
    Rescan {
        domains: Vec<String>,
    },
    /// Queue rescans of every lead.
    RescanAll,
    ListLeads(Box<crate::LeadQuery>),
    LeadDetail {
        domain: String,
    },
    /// Recent detected changes across all leads, newest first.
    Changes {
        limit: u32,
    },
    AddNote {
        domain: String,
        /// What the client says its user is. The daemon records the caller's login from the
        /// socket's peer credentials instead; kept for older daemons and the wire's stability.
        author: String,
        body: String,
    },
    SetTag {
        domain: String,
        tag: String,
        present: bool,
    },
    SetFavorite {
        domain: String,
        favorite: bool,
    },
    /// Distinct values of one facet among the leads matching `filter` without that facet's own
    /// constraint, most common first: what a facet picker offers.
    LeadFacets {
        facet: crate::Facet,
        filter: Box<crate::LeadFilter>,
    },
    /// How many leads match a filter (asked once per filter change, next to its first page).
    CountLeads(Box<crate::LeadFilter>),
    /// Queue Dynamics 365 pushes of these leads (answered with [`Response::Queued`]).
    PushLeads {
        domains: Vec<String>,
    },
    /// How far the pushes of a push batch are.
    PushProgress {
        batch_id: String,
    },
    /// What pushing these leads would do (create or update, which columns), for a confirmation.
    PushPreview {
        domains: Vec<String>,
    },
    /// A page of the referral inbox (answered with [`Response::Referrals`]).
    ListReferrals(Box<crate::ReferralQuery>),
    /// Values of one inbox facet among the referrals matching `filter`, with counts, most common first.
    ReferralFacets {
        facet: crate::ReferralFacet,
        filter: Box<crate::ReferralFilter>,
    },
    /// Ties a referral to the company at `domain` (normalised and validated as intake does; created
    /// and scanned if new): a manual link later syncs keep. Answered with [`Response::ReferralLinked`].
    LinkReferral {
        referral_id: String,
        domain: String,
    },
    /// Removes a referral's link (and so its effect on the company's score); syncs keep it removed.
    UnlinkReferral {
        referral_id: String,
    },
}

/// Largest import chunk a client should send (well under the frame limit).
pub const IMPORT_CHUNK: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Pong,
    Status(Box<DaemonStatus>),
    Jobs(Vec<JobInfo>),
    Ok,
    Error(RemoteError),
    Added(crate::AddReport),
    ImportStarted { upload_id: u64 },
    Imported(Box<crate::ImportReport>),
    BatchProgress(crate::BatchProgress),
    Queued { batch_id: Option<String>, queued: u64, unknown: Vec<String> },
    Leads(crate::LeadPage),
    Lead(Box<crate::LeadDetail>),
    Changes(Vec<crate::Change>),
    Facets(Vec<crate::FacetCount>),
    LeadCount(crate::LeadCount),
    PushProgress(PushProgress),
    PushPreview(Vec<PushPlan>),
    Referrals(crate::ReferralPage),
    ReferralLinked(Box<crate::LinkOutcome>),
}

/// What a push of one lead would send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPlan {
    pub domain: String,
    /// A new D365 lead (or one found by domain, website or e-mail) rather than an update of the linked one.
    pub create: bool,
    /// The columns that would be sent; empty = nothing changed since the last push.
    pub fields: Vec<String>,
}

/// The pushes of one `PushLeads` batch by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushProgress {
    pub total: u64,
    pub pending: u64,
    pub in_flight: u64,
    pub synced: u64,
    pub failed: u64,
    /// Refused by D365's duplicate detection; linked to the existing record when it could be found.
    pub duplicate: u64,
    /// Failed leads and why (at most 100).
    pub failures: Vec<PushFailure>,
    /// The push worker's latest problem (sign-in, throttling, outage), for a status line.
    pub last_error: Option<String>,
    /// Why the rest of the batch cannot go out until someone fixes something (the push is off, or
    /// D365 refused the sign-in or the permission since the batch was requested); the leads stay
    /// queued and go out once it is fixed.
    pub blocked: Option<String>,
}

impl PushProgress {
    /// Nothing left to do: every lead synced, failed or marked duplicate.
    pub fn finished(&self) -> bool {
        self.pending == 0 && self.in_flight == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushFailure {
    pub domain: String,
    pub error: String,
}

/// A request failed; `message` is written for the user and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    NotFound,
    InvalidInput,
    Unavailable,
    Internal,
}

/// Live notifications for subscribed clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A scheduled job started, finished or changed state.
    JobChanged(JobInfo),
    /// Progress of a long-running piece of work.
    Progress { job: String, done: u64, total: Option<u64>, message: String },
    /// The daemon is shutting down; clients should reconnect later.
    ShuttingDown,
    /// Leads were added, rescored or changed: lists should refresh.
    LeadsChanged { count: u64 },
    /// This subscriber fell behind and `missed` events were dropped for it.
    Lagged { missed: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub build_version: String,
    pub protocol: u32,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub uptime_secs: u64,
    pub database: DatabaseInfo,
    pub features: Features,
    pub jobs: Vec<JobInfo>,
    pub clients_connected: u32,
    /// The sign-in of each outside service that is switched on (Partner Center, Dynamics 365).
    pub sign_ins: Vec<SignIn>,
}

/// Whether hunterd can still sign in to an outside service, in one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// `Partner Center` or `Dynamics 365`.
    pub service: String,
    /// False when a person has to act (sign in again, fix the secret or the permission).
    pub ok: bool,
    /// What is known, and what to do when `ok` is false.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    pub mode: DatabaseMode,
    /// Where the database is, with any password removed.
    pub location: String,
    pub server_version: String,
    /// Highest applied migration (the last one seen while the database is down).
    pub schema_version: i64,
    /// Why the database cannot be used right now (down, restarting, reconnecting); `None` when it answers.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatabaseMode {
    /// A private cluster owned by hunterd under its state directory.
    Embedded,
    /// `database.url`.
    External,
}

impl std::fmt::Display for DatabaseMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DatabaseMode::Embedded => "embedded",
            DatabaseMode::External => "external",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Features {
    pub ip_enrichment: bool,
    pub partner_center_sync: bool,
    pub dynamics_push: bool,
}

/// A scheduled job as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    pub name: String,
    pub description: String,
    pub interval_secs: u64,
    pub state: JobState,
    pub last_started_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub last_result: Option<JobOutcome>,
    /// The last error in full, kept even after later successes so it can be read.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub next_run_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    Idle,
    Running,
    /// Its feature flag is off.
    Disabled,
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobState::Idle => "idle",
            JobState::Running => "running",
            JobState::Disabled => "disabled",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobOutcome {
    Ok { summary: String },
    Failed { error: String },
}
