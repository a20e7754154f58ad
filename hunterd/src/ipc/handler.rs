//! Turns one request into one response: the request is passed on to the part of the daemon that owns
//! it, and its errors become a [`RemoteError`] the client can show. Session-level requests
//! (subscriptions, uploads) are answered by the connection itself.
//!
//! Every [`Request`] variant is listed (no catch-all), so a new request does not compile until it is
//! handled here and in the connection.

use crate::daemon::state::AppState;
use crate::intake;
use crate::ipc::Peer;
use crate::ipc::uploads::{Received, UploadError};
use crate::jobs::{SchedulerError, queue};
use crate::leads::{self, LeadError};
use crate::partner_center::inbox::{self, InboxError};
use crate::pipeline::submit::Queued;
use protocol::{DaemonStatus, ErrorKind, RemoteError, Request, Response};
use std::sync::atomic::Ordering;

/// `peer` is who sent the request, as the kernel tells it (`SO_PEERCRED`): what is recorded as the
/// author of a change, whatever the client claims.
pub async fn handle(state: &AppState, peer: &Peer, request: Request) -> Response {
    let reads_only = matches!(
        request,
        Request::Ping
            | Request::Status
            | Request::Jobs
            | Request::ListLeads(_)
            | Request::LeadDetail { .. }
            | Request::Changes { .. }
            | Request::BatchProgress { .. }
            | Request::LeadFacets { .. }
            | Request::CountLeads(_)
            | Request::PushProgress { .. }
            | Request::PushPreview { .. }
            | Request::ListReferrals(_)
            | Request::ReferralFacets { .. }
    );
    let response = answer(state, peer, request).await;
    if !reads_only {
        // The change is also announced by PostgreSQL, but the client that made it asks for the list
        // again at once: it must not be served what was held from before.
        state.lead_cache.changed();
    }
    response
}

async fn answer(state: &AppState, peer: &Peer, request: Request) -> Response {
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
        // Session-level: the connection answers these itself and never passes them here.
        Request::Subscribe
        | Request::Unsubscribe
        | Request::ImportBegin { .. }
        | Request::ImportChunk { .. }
        | Request::ImportFinish { .. } => Response::Error(RemoteError {
            kind: ErrorKind::Internal,
            message: "this request belongs to the connection, not the request handler".into(),
        }),
        Request::ListLeads(query) => {
            lead_result(leads::list_leads(&state.db.pool, &state.lead_cache, &query).await.map(Response::Leads))
        }
        Request::LeadDetail { domain } => {
            lead_result(leads::lead_detail(&state.db.pool, &domain).await.map(|d| Response::Lead(Box::new(d))))
        }
        Request::Changes { limit } => lead_result(leads::changes(&state.db.pool, limit).await.map(Response::Changes)),
        // The client's `author` is only its claim: the note is written under the caller's login.
        Request::AddNote { domain, author: _, body } => {
            lead_result(leads::add_note(&state.db.pool, &domain, &peer.login, &body).await.map(|()| Response::Ok))
        }
        Request::SetTag { domain, tag, present } => lead_result(
            leads::set_tag(&state.db.pool, &domain, &tag, present, &peer.login).await.map(|()| Response::Ok),
        ),
        Request::SetFavorite { domain, favorite } => lead_result(
            leads::set_favorite(&state.db.pool, &domain, favorite, &peer.login).await.map(|()| Response::Ok),
        ),
        Request::Rescan { domains } => rescan(state, peer, &domains).await,
        Request::AddDomains { inputs } => match state.submit.add(&inputs, &state.domain_rules).await {
            Ok(report) => Response::Added(report.to_protocol()),
            Err(e) => unavailable(format!("database unavailable: {e}")),
        },
        Request::RescanAll => match state.submit.rescan_all().await {
            Ok(Queued { batch_id, queued }) => {
                sign_batch(state, peer, &batch_id).await;
                Response::Queued { batch_id: Some(batch_id), queued, unknown: Vec::new() }
            }
            Err(e) => unavailable(format!("database unavailable: {e}")),
        },
        Request::BatchProgress { batch_id } => match queue::batch_progress(&state.db.pool, &batch_id).await {
            Ok(Some(progress)) => Response::BatchProgress(progress),
            Ok(None) => {
                Response::Error(RemoteError { kind: ErrorKind::NotFound, message: format!("no batch {batch_id}") })
            }
            Err(e) => unavailable(format!("database unavailable: {e}")),
        },
        Request::LeadFacets { facet, filter } => lead_result(
            leads::facet_values(&state.db.pool, &state.lead_cache, facet, &filter).await.map(Response::Facets),
        ),
        Request::CountLeads(filter) => {
            lead_result(leads::count_leads(&state.db.pool, &state.lead_cache, &filter).await.map(Response::LeadCount))
        }
        Request::PushLeads { domains } => push_leads(state, peer, &domains).await,
        Request::PushProgress { batch_id } => push_progress(state, &batch_id).await,
        Request::PushPreview { domains } => push_preview(state, &domains).await,
        Request::ListReferrals(query) => {
            inbox_result(inbox::list(&state.db.pool, &query, expiring_window(state)).await.map(Response::Referrals))
        }
        Request::ReferralFacets { facet, filter } => inbox_result(
            inbox::facet_values(&state.db.pool, facet, &filter, expiring_window(state)).await.map(Response::Facets),
        ),
        Request::LinkReferral { referral_id, domain } => {
            let done = inbox::link(&state.db.pool, &state.domain_rules, &referral_id, &domain, &peer.login).await;
            relinked(state, &referral_id, done).await
        }
        Request::UnlinkReferral { referral_id } => {
            let done = inbox::unlink(&state.db.pool, &state.domain_rules, &referral_id, &peer.login).await;
            relinked(state, &referral_id, done).await
        }
    }
}

fn expiring_window(state: &AppState) -> std::time::Duration {
    state.config.partner_center.expiring_soon.0
}

/// After a link or unlink: wakes the scan workers for the rescan it queued, tells subscribers the
/// leads changed, and answers with the referral as it is now.
async fn relinked(state: &AppState, referral_id: &str, done: Result<inbox::Relinked, InboxError>) -> Response {
    let done = match done {
        Ok(done) => done,
        Err(e) => return inbox_error(e),
    };
    state.submit.wake().notify_waiters();
    let _ = state.events.send(protocol::Event::LeadsChanged { count: 1 });
    match inbox::row(&state.db.pool, referral_id, expiring_window(state)).await {
        Ok(referral) => Response::ReferralLinked(Box::new(protocol::LinkOutcome {
            referral,
            company_created: done.company_created,
            batch_id: done.batch_id,
        })),
        Err(e) => inbox_error(e),
    }
}

fn inbox_result(result: Result<Response, InboxError>) -> Response {
    result.unwrap_or_else(inbox_error)
}

fn inbox_error(e: InboxError) -> Response {
    let kind = match &e {
        InboxError::NotFound(_) => ErrorKind::NotFound,
        InboxError::Invalid(_) => ErrorKind::InvalidInput,
        InboxError::Db(_) => ErrorKind::Unavailable,
    };
    Response::Error(RemoteError { kind, message: e.to_string() })
}

async fn push_preview(state: &AppState, domains: &[String]) -> Response {
    let Some(dynamics) = &state.dynamics else {
        return Response::Error(RemoteError {
            kind: ErrorKind::InvalidInput,
            message: crate::dynamics::PUSH_OFF.into(),
        });
    };
    let (ids, _unknown) = match leads::company_ids(&state.db.pool, domains).await {
        Ok(found) => found,
        Err(e) => return lead_error(e),
    };
    match crate::dynamics::queue::plans(&state.db.pool, &dynamics.settings.mapping, &ids).await {
        Ok(plans) => Response::PushPreview(
            plans.into_iter().map(|(domain, create, fields)| protocol::PushPlan { domain, create, fields }).collect(),
        ),
        Err(e) => unavailable(format!("database unavailable: {e}")),
    }
}

async fn push_leads(state: &AppState, peer: &Peer, domains: &[String]) -> Response {
    let Some(dynamics) = &state.dynamics else {
        return Response::Error(RemoteError {
            kind: ErrorKind::InvalidInput,
            message: crate::dynamics::PUSH_OFF.into(),
        });
    };
    let (ids, unknown) = match leads::company_ids(&state.db.pool, domains).await {
        Ok(found) => found,
        Err(e) => return lead_error(e),
    };
    if ids.is_empty() {
        return Response::Queued { batch_id: None, queued: 0, unknown };
    }
    let batch = uuid::Uuid::new_v4();
    match crate::dynamics::queue::enqueue(&state.db.pool, &ids, batch, &peer.login).await {
        Ok(queued) => {
            dynamics.wake.notify_one();
            Response::Queued { batch_id: Some(batch.to_string()), queued, unknown }
        }
        Err(e) => unavailable(format!("database unavailable: {e}")),
    }
}

async fn push_progress(state: &AppState, batch_id: &str) -> Response {
    let Ok(batch) = uuid::Uuid::parse_str(batch_id) else {
        return Response::Error(RemoteError {
            kind: ErrorKind::NotFound,
            message: format!("no push batch {batch_id}"),
        });
    };
    let pool = &state.db.pool;
    let counts = match crate::dynamics::queue::batch_counts(pool, batch).await {
        Ok(c) => c,
        Err(e) => return unavailable(format!("database unavailable: {e}")),
    };
    if counts.total == 0 {
        return Response::Error(RemoteError {
            kind: ErrorKind::NotFound,
            message: format!("no push batch {batch_id}"),
        });
    }
    let failures = match crate::dynamics::queue::batch_failures(pool, batch).await {
        Ok(f) => f.into_iter().map(|(domain, error)| protocol::PushFailure { domain, error }).collect(),
        Err(e) => return unavailable(format!("database unavailable: {e}")),
    };
    let requested_at = match crate::dynamics::queue::batch_requested_at(pool, batch).await {
        Ok(at) => at,
        Err(e) => return unavailable(format!("database unavailable: {e}")),
    };
    let (last_error, blocked) = match &state.dynamics {
        // Queued before the push was switched off: nothing will send it until it is on again.
        None => (None, (!counts.finished()).then(|| crate::dynamics::PUSH_OFF.to_string())),
        Some(d) => {
            let health = d.health.lock().map(|h| h.clone()).unwrap_or_default();
            let blocked = requested_at.filter(|_| !counts.finished()).and_then(|at| health.blocking(at));
            (health.last_error, blocked)
        }
    };
    Response::PushProgress(protocol::PushProgress { failures, last_error, blocked, ..counts })
}

/// How long `status` waits for the database before answering without it.
const STATUS_DB_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

async fn status(state: &AppState) -> Result<DaemonStatus, Response> {
    // Status answers even while the database is down: it then says why, and lists no jobs.
    let database = state.db.status(STATUS_DB_PATIENCE).await;
    let jobs = match database.problem {
        None => tokio::time::timeout(STATUS_DB_PATIENCE, state.scheduler.jobs()).await.ok().and_then(Result::ok),
        Some(_) => None,
    }
    .unwrap_or_default();
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
        sign_ins: sign_ins(state),
    })
}

/// The sign-in of each outside service that is on: read from the saved Partner Center sign-in and
/// from what the Dynamics push last met. No network: status must answer at once.
fn sign_ins(state: &AppState) -> Vec<protocol::SignIn> {
    let mut out = Vec::new();
    if state.config.features.partner_center_sync {
        let (ok, line) = crate::partner_center::command::sign_in_state(&state.config, &state.state_dir);
        out.push(protocol::SignIn { service: "Partner Center".into(), ok, state: line });
    }
    if let Some(dynamics) = &state.dynamics {
        let health = dynamics.health.lock().map(|h| h.clone()).unwrap_or_default();
        let (ok, line) = crate::dynamics::worker::sign_in_state(&health);
        out.push(protocol::SignIn { service: "Dynamics 365".into(), ok, state: line });
    }
    out
}

pub fn upload_error(e: UploadError) -> Response {
    let kind = match &e {
        UploadError::Unknown(_) => ErrorKind::NotFound,
        UploadError::TooLarge => ErrorKind::InvalidInput,
        UploadError::Busy | UploadError::Io { .. } => ErrorKind::Unavailable,
    };
    Response::Error(RemoteError { kind, message: e.to_string() })
}

/// Imports an uploaded file and queues scans for what it brought in.
pub async fn import(state: &AppState, received: Received) -> Response {
    match state.submit.import(&received.path, &state.domain_rules).await {
        Ok(report) => Response::Imported(Box::new(report.to_protocol(&received.file_name))),
        Err(e) => {
            let kind = match &e {
                intake::ImportError::Db(_) | intake::ImportError::Task(_) | intake::ImportError::Cancelled => {
                    ErrorKind::Unavailable
                }
                _ => ErrorKind::InvalidInput,
            };
            let message = format!("{}: {e}; nothing was imported", received.file_name);
            Response::Error(RemoteError { kind, message })
        }
    }
}

/// Records who asked for a batch's scans. Its scans are queued already: failing to sign it is logged,
/// not an error.
async fn sign_batch(state: &AppState, peer: &Peer, batch_id: &str) {
    if let Err(e) = queue::sign_batch(&state.db.pool, batch_id, &peer.login).await {
        tracing::warn!("could not record who asked for batch {batch_id}: {e}");
    }
}

async fn rescan(state: &AppState, peer: &Peer, domains: &[String]) -> Response {
    let (ids, unknown) = match leads::company_ids(&state.db.pool, domains).await {
        Ok(found) => found,
        Err(e) => return lead_error(e),
    };
    if ids.is_empty() {
        return Response::Queued { batch_id: None, queued: 0, unknown };
    }
    match state.submit.rescan(&ids).await {
        Ok(Queued { batch_id, queued }) => {
            sign_batch(state, peer, &batch_id).await;
            Response::Queued { batch_id: Some(batch_id), queued, unknown }
        }
        Err(e) => unavailable(format!("database unavailable: {e}")),
    }
}

fn lead_result(result: Result<Response, LeadError>) -> Response {
    result.unwrap_or_else(lead_error)
}

fn lead_error(e: LeadError) -> Response {
    let kind = match &e {
        LeadError::NotFound(_) => ErrorKind::NotFound,
        LeadError::Invalid(_) => ErrorKind::InvalidInput,
        LeadError::Db(_) => ErrorKind::Unavailable,
    };
    Response::Error(RemoteError { kind, message: e.to_string() })
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
