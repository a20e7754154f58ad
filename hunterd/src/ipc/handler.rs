//! Turns one request into one response. Connection-level requests (subscriptions) are handled by
//! the connection itself.

use crate::daemon::AppState;
use crate::jobs::SchedulerError;
use protocol::{DaemonStatus, ErrorKind, RemoteError, Request, Response};
use std::sync::atomic::Ordering;

pub async fn handle(state: &AppState, request: Request) -> Response {
    match request {
        Request::Ping => Response::Pong,
        Request::Status => match status(state).await {
            Ok(status) => Response::Status(Box::new(status)),
            Err(e) => e,
        },
        Request::Jobs => match state.scheduler.jobs().await {
            Ok(jobs) => Response::Jobs(jobs),
            Err(e) => scheduler_error(e),
        },
        Request::RunJob { name } => match state.scheduler.run_now(&name) {
            Ok(()) => Response::Ok,
            Err(e) => scheduler_error(e),
        },
        Request::Subscribe | Request::Unsubscribe => Response::Ok,
    }
}

async fn status(state: &AppState) -> Result<DaemonStatus, Response> {
    let database = state.db.info().await.map_err(|e| unavailable(format!("database unavailable: {e}")))?;
    let jobs = state.scheduler.jobs().await.map_err(scheduler_error)?;
    Ok(DaemonStatus {
        build_version: protocol::BUILD_VERSION.to_string(),
        protocol: protocol::PROTOCOL_VERSION,
        pid: std::process::id(),
        started_at: state.started_at,
        uptime_secs: state.started.elapsed().as_secs(),
        database,
        features: protocol::Features {
            ip_enrichment: state.config.features.ip_enrichment,
            partner_center_sync: state.config.features.partner_center_sync,
            dynamics_push: state.config.features.dynamics_push,
        },
        jobs,
        clients_connected: state.clients.load(Ordering::Relaxed),
    })
}

fn unavailable(message: String) -> Response {
    Response::Error(RemoteError { kind: ErrorKind::Unavailable, message })
}

fn scheduler_error(e: SchedulerError) -> Response {
    let kind = match &e {
        SchedulerError::UnknownJob(_) => ErrorKind::NotFound,
        SchedulerError::Disabled(_) => ErrorKind::InvalidInput,
        SchedulerError::Db(_) => ErrorKind::Unavailable,
    };
    Response::Error(RemoteError { kind, message: e.to_string() })
}
