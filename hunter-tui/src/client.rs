//! A connection to hunterd: handshake, then requests multiplexed by id with events on the side.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use interprocess::local_socket::tokio::{Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, ToFsName};
use protocol::frame::{self, FrameError};
use protocol::{ClientMessage, Event, Hello, RemoteError, Request, Response, ServerMessage, Welcome};
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
    #[error("connection to hunterd lost")]
    Disconnected,
    #[error("hunterd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{}", .0.message)]
    Remote(RemoteError),
    #[error("unexpected answer from hunterd: {0}")]
    Unexpected(String),
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
            return Err(ClientError::Handshake(welcome.reason.unwrap_or_else(|| "refused".into())));
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
