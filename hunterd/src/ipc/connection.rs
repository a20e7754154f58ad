//! One client connection: handshake, then a reader that dispatches requests concurrently and a
//! writer that serialises responses and events. A client that sends garbage, oversize frames or
//! stalls mid-frame is dropped; nobody else notices.

use super::{Peer, handler};
use crate::daemon::state::AppState;
use interprocess::local_socket::tokio::Stream;
use protocol::frame::{self, FrameError};
use protocol::handshake::{MAGIC, mismatch_message};
use protocol::{ClientMessage, Event, Hello, Request, Response, ServerMessage, VersionVerdict, Welcome, codec};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A hello is tiny; anything bigger is not one of ours.
const MAX_HELLO_LEN: u32 = 4096;
/// Once a frame has started, the rest must arrive within this.
const FRAME_DEADLINE: Duration = Duration::from_secs(10);
/// A client that does not read its answers for this long is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const OUTBOX: usize = 256;
/// A refused client gets this long to say hello and read why.
const REFUSAL_PATIENCE: Duration = Duration::from_secs(2);

pub async fn serve(stream: Stream, peer: Peer, state: Arc<AppState>, shutdown: watch::Receiver<bool>) {
    state.clients.fetch_add(1, Ordering::Relaxed);
    let stream = Arc::new(stream);
    match handshake(&stream).await {
        Ok(Some(hello)) => {
            tracing::debug!(client = %hello.client, version = %hello.build_version, user = %peer.login, "client connected");
            session(stream, peer, state.clone(), shutdown).await;
        }
        Ok(None) => {}
        Err(e) => tracing::info!("dropping a client during the handshake: {e}"),
    }
    state.clients.fetch_sub(1, Ordering::Relaxed);
}

/// Turns a client away in the handshake's own words (the client shows `reason`), instead of
/// resetting its connection. A client that does not say hello in time is just closed.
pub async fn refuse(stream: Stream, reason: String) {
    let (mut reader, mut writer) = (&stream, &stream);
    let hello = tokio::time::timeout(REFUSAL_PATIENCE, frame::read_frame(&mut reader, MAX_HELLO_LEN)).await;
    if !matches!(hello, Ok(Ok(_))) {
        return;
    }
    let welcome = Welcome {
        protocol: protocol::PROTOCOL_VERSION,
        build_version: protocol::BUILD_VERSION.to_string(),
        accepted: false,
        reason: Some(reason),
    };
    let _ = tokio::time::timeout(REFUSAL_PATIENCE, frame::send(&mut writer, &welcome)).await;
}

/// `text` with control characters (a newline that would forge a log line) escaped.
fn printable(text: &str) -> String {
    if text.chars().any(char::is_control) { text.escape_debug().to_string() } else { text.to_string() }
}

/// Reads the hello and answers it. `Ok(None)`: refused with a reason the client will show.
async fn handshake(stream: &Stream) -> Result<Option<Hello>, FrameError> {
    let mut reader = stream;
    let payload = tokio::time::timeout(HANDSHAKE_TIMEOUT, frame::read_frame(&mut reader, MAX_HELLO_LEN))
        .await
        .map_err(|_| FrameError::Stalled(HANDSHAKE_TIMEOUT))??;
    let mut hello: Hello = codec::decode(&payload)?;
    // What the client says about itself ends up in logs and messages: no raw control characters.
    hello.client = printable(&hello.client);
    hello.build_version = printable(&hello.build_version);
    if hello.magic != MAGIC {
        return Err(codec::CodecError::Decode("not a Hunter client (bad magic)".into()).into());
    }
    let verdict = VersionVerdict::between(hello.protocol, protocol::PROTOCOL_VERSION);
    let reason = (verdict != VersionVerdict::Compatible).then(|| {
        mismatch_message(
            &hello.client,
            &hello.build_version,
            hello.protocol,
            protocol::BUILD_VERSION,
            protocol::PROTOCOL_VERSION,
        )
    });
    if let Some(reason) = &reason {
        tracing::warn!("refused a client: {reason}");
    }
    let welcome = Welcome {
        protocol: protocol::PROTOCOL_VERSION,
        build_version: protocol::BUILD_VERSION.to_string(),
        accepted: reason.is_none(),
        reason,
    };
    let mut writer = stream;
    tokio::time::timeout(WRITE_TIMEOUT, frame::send(&mut writer, &welcome))
        .await
        .map_err(|_| FrameError::Stalled(WRITE_TIMEOUT))??;
    Ok(welcome.accepted.then_some(hello))
}

async fn session(stream: Arc<Stream>, peer: Peer, state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let (outbox, inbox) = mpsc::channel::<ServerMessage>(OUTBOX);
    let mut writer = tokio::spawn(write_loop(stream.clone(), inbox));
    let mut subscription: Option<JoinHandle<()>> = None;
    // Uploads this client started: chunks are appended here, in order, never in a spawned task.
    let mut uploads: Vec<u64> = Vec::new();
    // Requests being answered: a client waiting for one is not idle.
    let answering = Arc::new(AtomicUsize::new(0));
    // (Capped so that adding it to an instant cannot overflow.)
    let idle_timeout = state.config.server.idle_timeout.0.min(Duration::from_secs(365 * 24 * 3600));
    let mut last_request = Instant::now();
    // One read at a time, kept across idle checks: dropping a half-read frame would lose its bytes.
    let mut read = Box::pin(next_frame(stream.clone()));
    loop {
        let payload = tokio::select! {
            read = &mut read => read,
            _ = &mut writer => break,
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep_until(last_request + idle_timeout) => {
                if subscription.is_some() || !uploads.is_empty() || answering.load(Ordering::Relaxed) > 0 {
                    last_request = Instant::now();
                    continue;
                }
                tracing::info!(user = %peer.login, "closing a connection idle for {}s (server.idle_timeout)", idle_timeout.as_secs());
                break;
            }
        };
        read = Box::pin(next_frame(stream.clone()));
        last_request = Instant::now();
        let message = match payload.and_then(|p| Ok(codec::decode::<ClientMessage>(&p)?)) {
            Ok(message) => message,
            Err(FrameError::Closed) => break,
            Err(e) => {
                tracing::info!("dropping a client: {e}");
                break;
            }
        };
        let ClientMessage::Request { id, body } = message;
        match body {
            Request::Subscribe => {
                if subscription.is_none() {
                    subscription = Some(tokio::spawn(forward_events(state.events.subscribe(), outbox.clone())));
                }
                let _ = outbox.send(ServerMessage::Response { id, body: Response::Ok }).await;
            }
            Request::Unsubscribe => {
                if let Some(task) = subscription.take() {
                    task.abort();
                }
                let _ = outbox.send(ServerMessage::Response { id, body: Response::Ok }).await;
            }
            Request::ImportBegin { file_name } => {
                let body = match state.uploads.begin(&file_name) {
                    Ok(upload_id) => {
                        uploads.push(upload_id);
                        Response::ImportStarted { upload_id }
                    }
                    Err(e) => handler::upload_error(e),
                };
                let _ = outbox.send(ServerMessage::Response { id, body }).await;
            }
            Request::ImportChunk { upload_id, data } => {
                let body = match owned(&uploads, upload_id).and_then(|()| state.uploads.append(upload_id, &data)) {
                    Ok(()) => Response::Ok,
                    Err(e) => handler::upload_error(e),
                };
                let _ = outbox.send(ServerMessage::Response { id, body }).await;
            }
            Request::ImportFinish { upload_id } => {
                let received = owned(&uploads, upload_id).and_then(|()| state.uploads.finish(upload_id));
                uploads.retain(|u| *u != upload_id);
                let (state, outbox, answering) = (state.clone(), outbox.clone(), Answering::start(&answering));
                tokio::spawn(async move {
                    let _answering = answering;
                    let body = match received {
                        Ok(received) => handler::import(&state, received).await,
                        Err(e) => handler::upload_error(e),
                    };
                    let _ = outbox.send(ServerMessage::Response { id, body }).await;
                });
            }
            body @ (Request::Ping
            | Request::Status
            | Request::Jobs
            | Request::RunJob { .. }
            | Request::AddDomains { .. }
            | Request::BatchProgress { .. }
            | Request::Rescan { .. }
            | Request::RescanAll
            | Request::ListLeads(_)
            | Request::LeadDetail { .. }
            | Request::Changes { .. }
            | Request::AddNote { .. }
            | Request::SetTag { .. }
            | Request::SetFavorite { .. }
            | Request::LeadFacets { .. }
            | Request::CountLeads(_)
            | Request::PushLeads { .. }
            | Request::PushProgress { .. }
            | Request::PushPreview { .. }
            | Request::ListReferrals(_)
            | Request::ReferralFacets { .. }
            | Request::LinkReferral { .. }
            | Request::UnlinkReferral { .. }) => {
                let (state, outbox, answering) = (state.clone(), outbox.clone(), Answering::start(&answering));
                let peer = peer.clone();
                tokio::spawn(async move {
                    let body = handler::handle(&state, &peer, body).await;
                    let _ = outbox.send(ServerMessage::Response { id, body }).await;
                    drop(answering);
                });
            }
        }
    }
    if let Some(task) = subscription {
        task.abort();
    }
    state.uploads.abandon(&uploads);
    writer.abort();
}

/// A request being answered, counted for as long as this lives.
struct Answering(Arc<AtomicUsize>);

impl Answering {
    fn start(counter: &Arc<AtomicUsize>) -> Answering {
        counter.fetch_add(1, Ordering::Relaxed);
        Answering(counter.clone())
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The next frame from the client (owning its handle, so the read can outlive one loop turn).
async fn next_frame(stream: Arc<Stream>) -> Result<Vec<u8>, FrameError> {
    let mut reader = &*stream;
    frame::read_frame_with_deadline(&mut reader, protocol::MAX_FRAME_LEN, FRAME_DEADLINE).await
}

/// Another connection's upload is as unknown to this one as one that never existed.
fn owned(uploads: &[u64], upload_id: u64) -> Result<(), super::uploads::UploadError> {
    if uploads.contains(&upload_id) { Ok(()) } else { Err(super::uploads::UploadError::Unknown(upload_id)) }
}

async fn write_loop(stream: Arc<Stream>, mut inbox: mpsc::Receiver<ServerMessage>) {
    let mut writer = &*stream;
    while let Some(message) = inbox.recv().await {
        match tokio::time::timeout(WRITE_TIMEOUT, frame::send(&mut writer, &message)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!("client went away: {e}");
                return;
            }
            Err(_) => {
                tracing::info!("dropping a client that stopped reading for {WRITE_TIMEOUT:?}");
                return;
            }
        }
    }
}

/// Forwards daemon events; a subscriber that falls behind is told how many it missed.
async fn forward_events(mut events: broadcast::Receiver<Event>, outbox: mpsc::Sender<ServerMessage>) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => Event::Lagged { missed },
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if outbox.send(ServerMessage::Event(event)).await.is_err() {
            return;
        }
    }
}
