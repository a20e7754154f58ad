//! The local socket clients talk to: binding it safely, serving connections, answering requests.

mod connection;
mod handler;
pub mod socket;
pub mod uploads;

use crate::daemon::state::AppState;
use interprocess::local_socket::tokio::{Listener, prelude::*};
use std::sync::Arc;
use tokio::sync::{Semaphore, watch};

/// More clients than this at once are turned away (each costs a task and a file descriptor).
const MAX_CLIENTS: usize = 256;

/// Accepts clients until shutdown; each runs in its own task so one bad client affects no other.
pub async fn serve(listener: Listener, state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
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
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("refusing a client: {MAX_CLIENTS} clients already connected");
            continue;
        };
        let (state, shutdown) = (state.clone(), shutdown.clone());
        tokio::spawn(async move {
            connection::serve(stream, state, shutdown).await;
            drop(permit);
        });
    }
}
