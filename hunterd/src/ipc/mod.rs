//! The local socket clients talk to: binding it safely, serving connections, answering requests.

pub mod admission;
mod connection;
mod handler;
pub mod socket;
pub mod uploads;

use crate::daemon::state::AppState;
use admission::Admission;
use interprocess::local_socket::tokio::{Listener, Stream, prelude::*};
use std::sync::Arc;
use tokio::sync::{Semaphore, watch};

/// Refusals being explained at once; past this, a flood of connections is simply closed.
const MAX_REFUSING: usize = 32;

/// Who is on the other end of a connection, from the socket's peer credentials (`SO_PEERCRED`):
/// what the kernel says, not what the client claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: Option<u32>,
    /// The account's login name; `uid N` when it has none, `unknown` without credentials.
    pub login: String,
}

impl Peer {
    pub fn of(stream: &Stream) -> Peer {
        let uid = stream.peer_creds().ok().and_then(|c| c.euid());
        Peer { uid, login: login_of(uid) }
    }

    /// `uid 1000 (alice)`, for messages about the account.
    pub fn account(&self) -> String {
        match self.uid {
            Some(uid) if self.login != format!("uid {uid}") => format!("uid {uid} ({})", self.login),
            Some(uid) => format!("uid {uid}"),
            None => "an unidentified account".into(),
        }
    }
}

fn login_of(uid: Option<u32>) -> String {
    match uid {
        Some(uid) => match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
            Ok(Some(user)) => user.name,
            _ => format!("uid {uid}"),
        },
        None => "unknown".into(),
    }
}

/// Accepts clients until shutdown; each runs in its own task so one bad client affects no other.
pub async fn serve(listener: Listener, state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let limits = &state.config.server;
    let admission = Admission::new(limits.max_clients as usize, limits.max_clients_per_user as usize);
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!("accepting a client failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer = Peer::of(&stream);
        match admission.admit(peer.uid, || peer.account()) {
            Ok(ticket) => {
                let (state, shutdown) = (state.clone(), shutdown.clone());
                tokio::spawn(async move {
                    connection::serve(stream, peer, state, shutdown).await;
                    drop(ticket);
                });
            }
            Err(busy) => {
                tracing::warn!("refusing a client of {}: {busy}", peer.account());
                // Explained in the handshake's own words; a flood is just closed.
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        connection::refuse(stream, busy.to_string()).await;
                        drop(permit);
                    });
                }
            }
        }
    }
}
