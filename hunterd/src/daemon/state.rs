//! What every request handler can reach, built once at start-up.

use crate::config::Config;
use crate::db::DbHandle;
use crate::intake::DomainRules;
use crate::ipc::uploads::Uploads;
use crate::jobs::Scheduler;
use crate::pipeline::Submitter;
use chrono::{DateTime, Utc};
use protocol::Event;
use std::sync::atomic::AtomicU32;
use std::time::Instant;
use tokio::sync::broadcast;

pub struct AppState {
    pub config: Config,
    /// Where the daemon keeps its files (the Partner Center sign-in among them).
    pub state_dir: std::path::PathBuf,
    pub db: DbHandle,
    pub scheduler: Scheduler,
    pub events: broadcast::Sender<Event>,
    pub started_at: DateTime<Utc>,
    pub started: Instant,
    pub clients: AtomicU32,
    /// Adds, imports and rescans: stores them and queues their scans (waking this daemon's workers).
    pub submit: Submitter,
    pub uploads: Uploads,
    /// What counts as a company domain (free-mail list from config).
    pub domain_rules: DomainRules,
    /// The Dynamics 365 push, when `features.dynamics_push` is on.
    pub dynamics: Option<DynamicsHandle>,
    /// What the lead list worked out, kept while the leads are unchanged.
    pub lead_cache: crate::leads::LeadCache,
}

/// What request handlers reach of the Dynamics push: waking its worker, its latest problem.
pub struct DynamicsHandle {
    pub wake: std::sync::Arc<tokio::sync::Notify>,
    pub health: std::sync::Arc<std::sync::Mutex<crate::dynamics::worker::Health>>,
    pub dataverse: std::sync::Arc<crate::dynamics::client::Dataverse>,
    pub settings: crate::dynamics::push::PushSettings,
}
