//! The whole state of the interactive UI, in one value. Rendering reads it, [`update`](super::update)
//! changes it, and nothing else does, so every screen can be built in a test.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use protocol::{DaemonStatus, DatabaseInfo, JobInfo};

use crate::client::ClientError;
use crate::keymap::Scope;

/// How long a one-line notice stays in the footer.
pub const NOTICE_SECS: i64 = 5;

/// How often the UI retries the connection while the daemon is away.
pub const RETRY_SECS: u64 = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub socket: PathBuf,
    /// False under `--no-color` / `NO_COLOR`: then no cell gets a colour, only bold/reverse.
    pub color: bool,
    /// The clock, injected by ticks so rendering never reads it (snapshots stay stable).
    pub now: DateTime<Utc>,
    pub link: Link,
    pub screen: Screen,
    pub help: bool,
    pub jobs: Vec<JobInfo>,
    /// Selected row in the sync status view.
    pub selected_job: usize,
    pub notice: Option<Notice>,
    pub quit: bool,
}

/// The connection to hunterd as the user sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// First attempt in flight.
    Connecting,
    Up(Daemon),
    Down(Down),
}

/// What the header shows about a connected daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    pub build_version: String,
    pub protocol: u32,
    pub pid: u32,
    pub database: DatabaseInfo,
    pub uptime_secs: u64,
    /// Our clock when `uptime_secs` was read; uptime shown = uptime_secs + (now - fetched_at).
    pub fetched_at: DateTime<Utc>,
}

impl Daemon {
    pub fn from_status(status: &DaemonStatus, now: DateTime<Utc>) -> Self {
        Daemon {
            build_version: status.build_version.clone(),
            protocol: status.protocol,
            pid: status.pid,
            database: status.database.clone(),
            uptime_secs: status.uptime_secs,
            fetched_at: now,
        }
    }

    /// Uptime now, counted on from the last status without asking the daemon again.
    pub fn uptime_at(&self, now: DateTime<Utc>) -> u64 {
        let since_fetch = (now - self.fetched_at).num_seconds().max(0).unsigned_abs();
        self.uptime_secs.saturating_add(since_fetch)
    }
}

/// Why there is no usable connection, kept as data (a [`ClientError`] is neither `Clone` nor
/// comparable) so the "not connected" screen can be rendered and tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    NotRunning,
    Unreachable {
        reason: String,
    },
    PermissionDenied,
    VersionMismatch {
        message: String,
    },
    /// The daemon said it is shutting down.
    Stopped,
    /// The connection dropped or a request failed without an answer.
    Lost {
        reason: String,
    },
}

impl Down {
    /// Whether starting the daemon is the fix (so the screen shows how to).
    pub fn suggests_starting(&self) -> bool {
        matches!(self, Down::NotRunning | Down::Unreachable { .. } | Down::Stopped | Down::Lost { .. })
    }
}

impl From<&ClientError> for Down {
    fn from(err: &ClientError) -> Self {
        match err {
            ClientError::NotRunning { .. } => Down::NotRunning,
            ClientError::Unreachable { reason, .. } => Down::Unreachable { reason: reason.clone() },
            ClientError::PermissionDenied { .. } => Down::PermissionDenied,
            ClientError::VersionMismatch(message) => Down::VersionMismatch { message: message.clone() },
            other => Down::Lost { reason: other.to_string() },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Leads,
    Sync,
}

impl Screen {
    /// Which keymap bindings apply.
    pub fn scope(self) -> Scope {
        match self {
            Screen::Leads => Scope::Global,
            Screen::Sync => Scope::Sync,
        }
    }
}

/// A transient footer message: the outcome of something the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
    pub at: DateTime<Utc>,
}

impl App {
    pub fn new(socket: PathBuf, color: bool, now: DateTime<Utc>) -> Self {
        App {
            socket,
            color,
            now,
            link: Link::Connecting,
            screen: Screen::Leads,
            help: false,
            jobs: Vec::new(),
            selected_job: 0,
            notice: None,
            quit: false,
        }
    }

    pub fn daemon(&self) -> Option<&Daemon> {
        match &self.link {
            Link::Up(d) => Some(d),
            _ => None,
        }
    }

    pub fn selected(&self) -> Option<&JobInfo> {
        self.jobs.get(self.selected_job)
    }
}
