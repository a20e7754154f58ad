//! A connection to hunterd: handshake, then requests multiplexed by id with events on the side.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use interprocess::local_socket::tokio::{Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, ToFsName};
use protocol::frame::{self, FrameError};
use protocol::{
    AddReport, BatchProgress, Change, ClientMessage, DaemonStatus, Event, Facet, FacetCount, Hello, ImportReport,
    JobInfo, LeadCount, LeadDetail, LeadFilter, LeadPage, LeadQuery, LinkOutcome, PushPlan, PushProgress,
    ReferralFacet, ReferralFilter, ReferralPage, ReferralQuery, RemoteError, Request, Response, ServerMessage, Welcome,
};
use tokio::sync::{Mutex, mpsc, oneshot};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("hunterd is not running (no socket at {path}); start it with `hunterd run` or `systemctl start hunterd`")]
    NotRunning { path: PathBuf },
    #[error("hunterd is not answering on {path} ({reason}); start it with `hunterd run` or `systemctl start hunterd`")]
    Unreachable { path: PathBuf, reason: String },
    #[error("permission denied on {path}: ask an administrator to add you to the `hunter` group")]
    PermissionDenied { path: PathBuf },
    #[error("{0}")]
    VersionMismatch(String),
    #[error("handshake with hunterd failed: {0}")]
    Handshake(String),
    /// The daemon turned this connection away and said why (e.g. "hunterd is busy (256 clients …)").
    #[error("{0}")]
    Refused(String),
    #[error("connection to hunterd lost")]
    Disconnected,
    #[error("hunterd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{}", .0.message)]
    Remote(RemoteError),
    #[error("unexpected answer from hunterd: {0}")]
    Unexpected(String),
}

/// Takes the one response shape a request expects; anything else is the daemon's mistake.
macro_rules! expect {
    ($response:expr, $shape:pat => $value:expr) => {
        match $response {
            $shape => Ok($value),
            other => Err(ClientError::Unexpected(format!("{other:?}").chars().take(200).collect())),
        }
    };
}

/// What a rescan queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// The batch to follow; `None` when nothing was queued.
    pub batch_id: Option<String>,
    pub queued: u64,
    /// Domains that are not leads.
    pub unknown: Vec<String>,
}

/// A request's typed outcome, one variant per [`Request`] variant, errors as text for the user: what
/// [`Client::call`] returns and the UI matches without a catch-all.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Pong(Result<(), String>),
    Status(Result<Box<DaemonStatus>, String>),
    Jobs(Result<Vec<JobInfo>, String>),
    RunJob {
        name: String,
        result: Result<(), String>,
    },
    Subscribed(Result<(), String>),
    Unsubscribed(Result<(), String>),
    Added(Result<AddReport, String>),
    ImportStarted(Result<u64, String>),
    ChunkStored(Result<(), String>),
    Imported(Result<Box<ImportReport>, String>),
    BatchProgress {
        batch_id: String,
        result: Result<BatchProgress, String>,
    },
    Rescan(Result<Queued, String>),
    RescanAll(Result<Queued, String>),
    Leads {
        query: Box<LeadQuery>,
        result: Result<LeadPage, String>,
    },
    Lead {
        domain: String,
        result: Result<Box<LeadDetail>, String>,
    },
    Changes(Result<Vec<Change>, String>),
    NoteAdded {
        domain: String,
        result: Result<(), String>,
    },
    TagSet {
        domain: String,
        tag: String,
        present: bool,
        result: Result<(), String>,
    },
    FavoriteSet {
        domain: String,
        favorite: bool,
        result: Result<(), String>,
    },
    Facets {
        facet: Facet,
        result: Result<Vec<FacetCount>, String>,
    },
    LeadCount {
        filter: Box<LeadFilter>,
        result: Result<LeadCount, String>,
    },
    Pushed(Result<Queued, String>),
    PushProgress {
        batch_id: String,
        result: Result<PushProgress, String>,
    },
    PushPreview(Result<Vec<PushPlan>, String>),
    Referrals {
        query: Box<ReferralQuery>,
        result: Result<ReferralPage, String>,
    },
    ReferralFacets {
        facet: ReferralFacet,
        result: Result<Vec<FacetCount>, String>,
    },
    /// A link (`domain` is what was typed) or an unlink (`domain` is `None`).
    Relinked {
        referral_id: String,
        domain: Option<String>,
        result: Result<Box<LinkOutcome>, String>,
    },
}

impl Answer {
    /// The answer to a request that could not be sent at all.
    pub fn failed(request: Request, error: String) -> Answer {
        match request {
            Request::Ping => Answer::Pong(Err(error)),
            Request::Status => Answer::Status(Err(error)),
            Request::Jobs => Answer::Jobs(Err(error)),
            Request::RunJob { name } => Answer::RunJob { name, result: Err(error) },
            Request::Subscribe => Answer::Subscribed(Err(error)),
            Request::Unsubscribe => Answer::Unsubscribed(Err(error)),
            Request::AddDomains { .. } => Answer::Added(Err(error)),
            Request::ImportBegin { .. } => Answer::ImportStarted(Err(error)),
            Request::ImportChunk { .. } => Answer::ChunkStored(Err(error)),
            Request::ImportFinish { .. } => Answer::Imported(Err(error)),
            Request::BatchProgress { batch_id } => Answer::BatchProgress { batch_id, result: Err(error) },
            Request::Rescan { .. } => Answer::Rescan(Err(error)),
            Request::RescanAll => Answer::RescanAll(Err(error)),
            Request::ListLeads(query) => Answer::Leads { query, result: Err(error) },
            Request::LeadDetail { domain } => Answer::Lead { domain, result: Err(error) },
            Request::Changes { .. } => Answer::Changes(Err(error)),
            Request::AddNote { domain, .. } => Answer::NoteAdded { domain, result: Err(error) },
            Request::SetTag { domain, tag, present } => Answer::TagSet { domain, tag, present, result: Err(error) },
            Request::SetFavorite { domain, favorite } => Answer::FavoriteSet { domain, favorite, result: Err(error) },
            Request::LeadFacets { facet, .. } => Answer::Facets { facet, result: Err(error) },
            Request::CountLeads(filter) => Answer::LeadCount { filter, result: Err(error) },
            Request::PushLeads { .. } => Answer::Pushed(Err(error)),
            Request::PushProgress { batch_id } => Answer::PushProgress { batch_id, result: Err(error) },
            Request::PushPreview { .. } => Answer::PushPreview(Err(error)),
            Request::ListReferrals(query) => Answer::Referrals { query, result: Err(error) },
            Request::ReferralFacets { facet, .. } => Answer::ReferralFacets { facet, result: Err(error) },
            Request::LinkReferral { referral_id, domain } => {
                Answer::Relinked { referral_id, domain: Some(domain), result: Err(error) }
            }
            Request::UnlinkReferral { referral_id } => {
                Answer::Relinked { referral_id, domain: None, result: Err(error) }
            }
        }
    }
}

/// A typed call with a deadline, its error as text.
async fn within<T>(timeout: Duration, call: impl Future<Output = Result<T, ClientError>>) -> Result<T, String> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(ClientError::Timeout(timeout).to_string()),
    }
}

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Response>>>>;

/// A live, handshaken connection.
pub struct Client {
    stream: Arc<Stream>,
    /// Serialises writers so frames never interleave.
    write_lock: Mutex<()>,
    pending: Pending,
    next_id: AtomicU64,
    events: Option<mpsc::Receiver<Event>>,
    daemon: Welcome,
    path: PathBuf,
    /// The reader task holds the socket too; aborting it on drop is what closes the connection.
    reader: tokio::task::AbortHandle,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Client {
    /// Connects and performs the handshake as `client_name`.
    pub async fn connect(path: &Path, client_name: &str) -> Result<Client, ClientError> {
        Self::connect_with_hello(path, Hello::new(client_name)).await
    }

    /// Connects with a given hello (tests use this to play an older or newer client).
    pub async fn connect_with_hello(path: &Path, hello: Hello) -> Result<Client, ClientError> {
        let stream = Arc::new(open(path).await?);
        let (mut reader, mut writer) = (&*stream, &*stream);
        let welcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
            frame::send(&mut writer, &hello).await?;
            frame::recv::<_, Welcome>(&mut reader).await
        })
        .await
        .map_err(|_| ClientError::Handshake(format!("no answer within {HANDSHAKE_TIMEOUT:?}")))?
        .map_err(|e| ClientError::Handshake(e.to_string()))?;
        if !welcome.accepted {
            let verdict = protocol::VersionVerdict::between(hello.protocol, welcome.protocol);
            if verdict != protocol::VersionVerdict::Compatible {
                return Err(ClientError::VersionMismatch(protocol::handshake::mismatch_message(
                    &hello.client,
                    &hello.build_version,
                    hello.protocol,
                    &welcome.build_version,
                    welcome.protocol,
                )));
            }
            return Err(ClientError::Refused(
                welcome.reason.unwrap_or_else(|| "hunterd refused the connection".into()),
            ));
        }
        let pending: Pending = Arc::default();
        let (event_tx, event_rx) = mpsc::channel(1024);
        let reader = tokio::spawn(read_loop(stream.clone(), pending.clone(), event_tx)).abort_handle();
        Ok(Client {
            stream,
            write_lock: Mutex::new(()),
            pending,
            next_id: AtomicU64::new(1),
            events: Some(event_rx),
            daemon: welcome,
            path: path.to_path_buf(),
            reader,
        })
    }

    /// The daemon's side of the handshake (its versions).
    pub fn daemon(&self) -> &Welcome {
        &self.daemon
    }

    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// Events pushed by the daemon (after [`Request::Subscribe`]). Can be taken once.
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<Event>> {
        self.events.take()
    }

    /// Sends a request and waits for its response. An error response becomes [`ClientError::Remote`].
    pub async fn request(&self, body: Request) -> Result<Response, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().map_err(|_| ClientError::Disconnected)?.insert(id, tx);
        {
            let _guard = self.write_lock.lock().await;
            let mut writer = &*self.stream;
            if frame::send(&mut writer, &ClientMessage::Request { id, body }).await.is_err() {
                self.forget(id);
                return Err(ClientError::Disconnected);
            }
        }
        match rx.await {
            Ok(Response::Error(e)) => Err(ClientError::Remote(e)),
            Ok(resp) => Ok(resp),
            Err(_) => Err(ClientError::Disconnected),
        }
    }

    /// Like [`request`](Self::request) with a deadline.
    pub async fn request_timeout(&self, body: Request, timeout: Duration) -> Result<Response, ClientError> {
        tokio::time::timeout(timeout, self.request(body)).await.map_err(|_| ClientError::Timeout(timeout))?
    }

    /// Runs any request and returns its typed answer; errors (including a missed deadline) become text
    /// for the user. Every [`Request`] variant is listed, so a new one does not compile until it has
    /// an [`Answer`].
    pub async fn call(&self, request: Request, timeout: Duration) -> Answer {
        let t = timeout;
        match request {
            Request::Ping => Answer::Pong(within(t, self.ping()).await),
            Request::Status => Answer::Status(within(t, self.status()).await),
            Request::Jobs => Answer::Jobs(within(t, self.jobs()).await),
            Request::RunJob { name } => {
                let result = within(t, self.run_job(&name)).await;
                Answer::RunJob { name, result }
            }
            Request::Subscribe => Answer::Subscribed(within(t, self.subscribe()).await),
            Request::Unsubscribe => Answer::Unsubscribed(within(t, self.unsubscribe()).await),
            Request::AddDomains { inputs } => Answer::Added(within(t, self.add_domains(inputs)).await),
            Request::ImportBegin { file_name } => Answer::ImportStarted(within(t, self.import_begin(file_name)).await),
            Request::ImportChunk { upload_id, data } => {
                Answer::ChunkStored(within(t, self.import_chunk(upload_id, data)).await)
            }
            Request::ImportFinish { upload_id } => Answer::Imported(within(t, self.import_finish(upload_id)).await),
            Request::BatchProgress { batch_id } => {
                let result = within(t, self.batch_progress(&batch_id)).await;
                Answer::BatchProgress { batch_id, result }
            }
            Request::Rescan { domains } => Answer::Rescan(within(t, self.rescan(domains)).await),
            Request::RescanAll => Answer::RescanAll(within(t, self.rescan_all()).await),
            Request::ListLeads(query) => {
                let result = within(t, self.list_leads((*query).clone())).await;
                Answer::Leads { query, result }
            }
            Request::LeadDetail { domain } => {
                let result = within(t, self.lead_detail(&domain)).await;
                Answer::Lead { domain, result }
            }
            Request::Changes { limit } => Answer::Changes(within(t, self.changes(limit)).await),
            Request::AddNote { domain, author, body } => {
                let result = within(t, self.add_note(&domain, &author, &body)).await;
                Answer::NoteAdded { domain, result }
            }
            Request::SetTag { domain, tag, present } => {
                let result = within(t, self.set_tag(&domain, &tag, present)).await;
                Answer::TagSet { domain, tag, present, result }
            }
            Request::SetFavorite { domain, favorite } => {
                let result = within(t, self.set_favorite(&domain, favorite)).await;
                Answer::FavoriteSet { domain, favorite, result }
            }
            Request::LeadFacets { facet, filter } => {
                let result = within(t, self.lead_facets(facet, (*filter).clone())).await;
                Answer::Facets { facet, result }
            }
            Request::CountLeads(filter) => {
                let result = within(t, self.count_leads((*filter).clone())).await;
                Answer::LeadCount { filter, result }
            }
            Request::PushLeads { domains } => Answer::Pushed(within(t, self.push_leads(domains)).await),
            Request::PushProgress { batch_id } => {
                let result = within(t, self.push_progress(&batch_id)).await;
                Answer::PushProgress { batch_id, result }
            }
            Request::PushPreview { domains } => Answer::PushPreview(within(t, self.push_preview(domains)).await),
            Request::ListReferrals(query) => {
                let result = within(t, self.list_referrals((*query).clone())).await;
                Answer::Referrals { query, result }
            }
            Request::ReferralFacets { facet, filter } => {
                let result = within(t, self.referral_facets(facet, (*filter).clone())).await;
                Answer::ReferralFacets { facet, result }
            }
            Request::LinkReferral { referral_id, domain } => {
                let result = within(t, self.link_referral(&referral_id, &domain)).await;
                Answer::Relinked { referral_id, domain: Some(domain), result }
            }
            Request::UnlinkReferral { referral_id } => {
                let result = within(t, self.unlink_referral(&referral_id)).await;
                Answer::Relinked { referral_id, domain: None, result }
            }
        }
    }

    /// Queues Dynamics 365 pushes; `batch_id` follows them with [`push_progress`](Self::push_progress).
    pub async fn push_leads(&self, domains: Vec<String>) -> Result<Queued, ClientError> {
        expect!(self.request(Request::PushLeads { domains }).await?,
            Response::Queued { batch_id, queued, unknown } => Queued { batch_id, queued, unknown })
    }

    pub async fn push_progress(&self, batch_id: &str) -> Result<PushProgress, ClientError> {
        expect!(self.request(Request::PushProgress { batch_id: batch_id.into() }).await?,
            Response::PushProgress(progress) => progress)
    }

    pub async fn push_preview(&self, domains: Vec<String>) -> Result<Vec<PushPlan>, ClientError> {
        expect!(self.request(Request::PushPreview { domains }).await?, Response::PushPreview(plans) => plans)
    }

    pub async fn ping(&self) -> Result<(), ClientError> {
        expect!(self.request(Request::Ping).await?, Response::Pong => ())
    }

    pub async fn status(&self) -> Result<Box<DaemonStatus>, ClientError> {
        expect!(self.request(Request::Status).await?, Response::Status(status) => status)
    }

    pub async fn jobs(&self) -> Result<Vec<JobInfo>, ClientError> {
        expect!(self.request(Request::Jobs).await?, Response::Jobs(jobs) => jobs)
    }

    pub async fn run_job(&self, name: &str) -> Result<(), ClientError> {
        expect!(self.request(Request::RunJob { name: name.into() }).await?, Response::Ok => ())
    }

    /// Start receiving events (see [`take_events`](Self::take_events)).
    pub async fn subscribe(&self) -> Result<(), ClientError> {
        expect!(self.request(Request::Subscribe).await?, Response::Ok => ())
    }

    pub async fn unsubscribe(&self) -> Result<(), ClientError> {
        expect!(self.request(Request::Unsubscribe).await?, Response::Ok => ())
    }

    pub async fn add_domains(&self, inputs: Vec<String>) -> Result<AddReport, ClientError> {
        expect!(self.request(Request::AddDomains { inputs }).await?, Response::Added(report) => report)
    }

    /// Starts an upload; returns its id for the chunks.
    pub async fn import_begin(&self, file_name: String) -> Result<u64, ClientError> {
        expect!(self.request(Request::ImportBegin { file_name }).await?, Response::ImportStarted { upload_id } => upload_id)
    }

    pub async fn import_chunk(&self, upload_id: u64, data: Vec<u8>) -> Result<(), ClientError> {
        expect!(self.request(Request::ImportChunk { upload_id, data }).await?, Response::Ok => ())
    }

    pub async fn import_finish(&self, upload_id: u64) -> Result<Box<ImportReport>, ClientError> {
        expect!(self.request(Request::ImportFinish { upload_id }).await?, Response::Imported(report) => report)
    }

    pub async fn batch_progress(&self, batch_id: &str) -> Result<BatchProgress, ClientError> {
        expect!(
            self.request(Request::BatchProgress { batch_id: batch_id.into() }).await?,
            Response::BatchProgress(progress) => progress
        )
    }

    pub async fn rescan(&self, domains: Vec<String>) -> Result<Queued, ClientError> {
        expect!(
            self.request(Request::Rescan { domains }).await?,
            Response::Queued { batch_id, queued, unknown } => Queued { batch_id, queued, unknown }
        )
    }

    pub async fn rescan_all(&self) -> Result<Queued, ClientError> {
        expect!(
            self.request(Request::RescanAll).await?,
            Response::Queued { batch_id, queued, unknown } => Queued { batch_id, queued, unknown }
        )
    }

    pub async fn list_leads(&self, query: LeadQuery) -> Result<LeadPage, ClientError> {
        expect!(self.request(Request::ListLeads(Box::new(query))).await?, Response::Leads(page) => page)
    }

    pub async fn lead_detail(&self, domain: &str) -> Result<Box<LeadDetail>, ClientError> {
        expect!(self.request(Request::LeadDetail { domain: domain.into() }).await?, Response::Lead(lead) => lead)
    }

    pub async fn changes(&self, limit: u32) -> Result<Vec<Change>, ClientError> {
        expect!(self.request(Request::Changes { limit }).await?, Response::Changes(changes) => changes)
    }

    pub async fn add_note(&self, domain: &str, author: &str, body: &str) -> Result<(), ClientError> {
        let request = Request::AddNote { domain: domain.into(), author: author.into(), body: body.into() };
        expect!(self.request(request).await?, Response::Ok => ())
    }

    pub async fn set_tag(&self, domain: &str, tag: &str, present: bool) -> Result<(), ClientError> {
        let request = Request::SetTag { domain: domain.into(), tag: tag.into(), present };
        expect!(self.request(request).await?, Response::Ok => ())
    }

    pub async fn set_favorite(&self, domain: &str, favorite: bool) -> Result<(), ClientError> {
        expect!(self.request(Request::SetFavorite { domain: domain.into(), favorite }).await?, Response::Ok => ())
    }

    pub async fn lead_facets(&self, facet: Facet, filter: LeadFilter) -> Result<Vec<FacetCount>, ClientError> {
        let request = Request::LeadFacets { facet, filter: Box::new(filter) };
        expect!(self.request(request).await?, Response::Facets(values) => values)
    }

    pub async fn count_leads(&self, filter: LeadFilter) -> Result<LeadCount, ClientError> {
        expect!(self.request(Request::CountLeads(Box::new(filter))).await?, Response::LeadCount(count) => count)
    }

    pub async fn list_referrals(&self, query: ReferralQuery) -> Result<ReferralPage, ClientError> {
        expect!(self.request(Request::ListReferrals(Box::new(query))).await?, Response::Referrals(page) => page)
    }

    pub async fn referral_facets(
        &self,
        facet: ReferralFacet,
        filter: ReferralFilter,
    ) -> Result<Vec<FacetCount>, ClientError> {
        let request = Request::ReferralFacets { facet, filter: Box::new(filter) };
        expect!(self.request(request).await?, Response::Facets(values) => values)
    }

    /// A manual link of a referral to the company at `domain` (the daemon validates it as intake does).
    pub async fn link_referral(&self, referral_id: &str, domain: &str) -> Result<Box<LinkOutcome>, ClientError> {
        let request = Request::LinkReferral { referral_id: referral_id.into(), domain: domain.into() };
        expect!(self.request(request).await?, Response::ReferralLinked(outcome) => outcome)
    }

    pub async fn unlink_referral(&self, referral_id: &str) -> Result<Box<LinkOutcome>, ClientError> {
        let request = Request::UnlinkReferral { referral_id: referral_id.into() };
        expect!(self.request(request).await?, Response::ReferralLinked(outcome) => outcome)
    }

    fn forget(&self, id: u64) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&id);
        }
    }
}

async fn open(path: &Path) -> Result<Stream, ClientError> {
    let name = path
        .to_fs_name::<GenericFilePath>()
        .map_err(|e| ClientError::Unreachable { path: path.into(), reason: e.to_string() })?;
    match Stream::connect(name).await {
        Ok(s) => Ok(s),
        Err(e) => Err(match e.kind() {
            std::io::ErrorKind::NotFound => ClientError::NotRunning { path: path.into() },
            std::io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { path: path.into() },
            std::io::ErrorKind::ConnectionRefused => {
                ClientError::Unreachable { path: path.into(), reason: "stale socket, nobody listening".into() }
            }
            _ => ClientError::Unreachable { path: path.into(), reason: e.to_string() },
        }),
    }
}

async fn read_loop(stream: Arc<Stream>, pending: Pending, events: mpsc::Sender<Event>) {
    let mut reader = &*stream;
    loop {
        let msg: Result<ServerMessage, FrameError> = frame::recv(&mut reader).await;
        match msg {
            Ok(ServerMessage::Response { id, body }) => {
                let waiter = pending.lock().ok().and_then(|mut p| p.remove(&id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(body);
                }
            }
            Ok(ServerMessage::Event(event)) => {
                // A UI that stops draining events must not stall responses: drop instead.
                let _ = events.try_send(event);
            }
            Err(_) => break,
        }
    }
    // Dropping the senders wakes every waiter with `Disconnected`.
    if let Ok(mut p) = pending.lock() {
        p.clear();
    }
}
