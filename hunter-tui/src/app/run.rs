//! The runtime: owns the terminal and the connection, turns what happens into [`Msg`]s, and redraws
//! only when the model changed.
//!
//! The connection lives in its own task (the session) so a slow or absent daemon never blocks
//! keys: it connects, retries every [`RETRY_SECS`] while the daemon is away, forwards events, and
//! runs requests, reporting everything back over a channel.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use protocol::{DaemonStatus, Event, Request, Response};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::model::{App, Down, RETRY_SECS};
use super::update::{Effect, Msg, update};
use super::view::view;
use crate::client::{Client, ClientError};

/// Name the daemon logs for our connections.
const CLIENT_NAME: &str = "hunter-tui";

/// How long one request may take before the UI reports it as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the interactive UI until the user quits.
pub async fn run(socket: PathBuf, color: bool) -> io::Result<()> {
    // Created before the terminal is touched, so a half-done init is undone too.
    let _restore = RestoreOnDrop;
    let mut terminal = ratatui::try_init()?;
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel();
    let (request_tx, request_rx) = mpsc::channel(32);
    let session = tokio::spawn(session(socket.clone(), msg_tx, request_rx));
    let app = App::new(socket, color, Utc::now());
    let result = event_loop(&mut terminal, app, &mut msg_rx, &request_tx).await;
    session.abort();
    result
}

/// Restores the terminal on every way out of [`run`]: success, `?` errors and unwinding alike
/// (ratatui's panic hook covers panics before unwinding starts).
struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// What one terminal input means for the loop.
enum Input {
    Msg(Msg),
    /// Nothing in the model changed but the screen must be repainted (a resize).
    Repaint,
    Ignore,
    Closed,
}

fn classify(input: Option<io::Result<TermEvent>>) -> io::Result<Input> {
    Ok(match input {
        Some(Ok(TermEvent::Key(key))) => Input::Msg(Msg::Key(key)),
        Some(Ok(TermEvent::Resize(..))) => Input::Repaint,
        Some(Ok(_)) => Input::Ignore,
        Some(Err(e)) => return Err(e),
        None => Input::Closed,
    })
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut app: App,
    msgs: &mut mpsc::UnboundedReceiver<Msg>,
    requests: &mpsc::Sender<Request>,
) -> io::Result<()> {
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut redraw = true;
    while !app.quit {
        if redraw {
            terminal.draw(|frame| view(&app, frame))?;
        }
        let msg = tokio::select! {
            event = input.next() => match classify(event)? {
                Input::Msg(msg) => msg,
                Input::Repaint => { redraw = true; continue; }
                Input::Ignore => { redraw = false; continue; }
                Input::Closed => return Ok(()),
            },
            Some(msg) = msgs.recv() => msg,
            _ = tick.tick() => Msg::Tick(Utc::now()),
        };
        // Comparing before and after means no handler can forget to ask for a redraw.
        let before = app.clone();
        for effect in update(&mut app, msg) {
            perform(effect, requests);
        }
        redraw = app != before;
    }
    Ok(())
}

fn perform(effect: Effect, requests: &mpsc::Sender<Request>) {
    match effect {
        // A full queue means the session is far behind; dropping one request beats blocking keys.
        Effect::Send(request) => {
            let _ = requests.try_send(request);
        }
    }
}

/// Connects, serves, and reconnects forever; ends when the UI is gone.
async fn session(socket: PathBuf, msgs: mpsc::UnboundedSender<Msg>, mut requests: mpsc::Receiver<Request>) {
    while !msgs.is_closed() {
        match open(&socket).await {
            Ok((client, events, status)) => {
                let _ = msgs.send(Msg::Connected(status));
                let down = serve(client, events, &msgs, &mut requests).await;
                let _ = msgs.send(Msg::Disconnected(down));
            }
            Err(err) => {
                let _ = msgs.send(Msg::ConnectFailed(Down::from(&err)));
            }
        }
        refuse_requests_for(Duration::from_secs(RETRY_SECS), &msgs, &mut requests).await;
    }
}

/// Handshake, subscribe (before asking for status, so no change slips between), first status.
async fn open(socket: &Path) -> Result<(Arc<Client>, mpsc::Receiver<Event>, Box<DaemonStatus>), ClientError> {
    let mut client = Client::connect(socket, CLIENT_NAME).await?;
    let events = client.take_events().ok_or_else(|| ClientError::Unexpected("event stream already taken".into()))?;
    client.request_timeout(Request::Subscribe, REQUEST_TIMEOUT).await?;
    match client.request_timeout(Request::Status, REQUEST_TIMEOUT).await? {
        Response::Status(status) => Ok((Arc::new(client), events, status)),
        other => Err(ClientError::Unexpected(format!("{other:?} in answer to a status request"))),
    }
}

/// Forwards events and runs requests until the connection ends; returns why it ended.
async fn serve(
    client: Arc<Client>,
    mut events: mpsc::Receiver<Event>,
    msgs: &mpsc::UnboundedSender<Msg>,
    requests: &mut mpsc::Receiver<Request>,
) -> Down {
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::ShuttingDown) => {
                    let _ = msgs.send(Msg::Event(Event::ShuttingDown));
                    return Down::Stopped;
                }
                Some(event) => {
                    let _ = msgs.send(Msg::Event(event));
                }
                // The client's reader ended: the daemon closed the connection or it broke.
                None => return Down::Lost { reason: "hunterd closed the connection".into() },
            },
            request = requests.recv() => match request {
                Some(request) => {
                    tokio::spawn(answer(client.clone(), request, msgs.clone()));
                }
                None => return Down::Lost { reason: "the UI stopped".into() },
            },
        }
    }
}

/// Runs one request off the session loop, so a slow answer never delays events.
async fn answer(client: Arc<Client>, request: Request, msgs: mpsc::UnboundedSender<Msg>) {
    let result = client.request_timeout(request.clone(), REQUEST_TIMEOUT).await.map_err(|e| e.to_string());
    let _ = msgs.send(Msg::Answer { request, result });
}

/// Waits before the next attempt, answering requests at once instead of running them late
/// against a daemon that may have changed.
async fn refuse_requests_for(
    wait: Duration,
    msgs: &mpsc::UnboundedSender<Msg>,
    requests: &mut mpsc::Receiver<Request>,
) {
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            Some(request) = requests.recv() => {
                let result = Err("not connected to hunterd".to_string());
                let _ = msgs.send(Msg::Answer { request, result });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_daemon;
    use crate::output::fixtures;

    async fn next(msgs: &mut mpsc::UnboundedReceiver<Msg>) -> Msg {
        tokio::time::timeout(Duration::from_secs(10), msgs.recv()).await.expect("a message in time").expect("open")
    }

    #[tokio::test]
    async fn the_session_reconnects_when_the_daemon_appears_and_notices_when_it_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hunterd.sock");
        let (msg_tx, mut msgs) = mpsc::unbounded_channel();
        let (_requests, request_rx) = mpsc::channel(1);
        let session = tokio::spawn(session(path.clone(), msg_tx, request_rx));

        assert_eq!(next(&mut msgs).await, Msg::ConnectFailed(Down::NotRunning));
        let status = fixtures::status(vec![fixtures::ok_job()]);
        let daemon = fake_daemon::serve(&path, status.clone(), vec![Event::ShuttingDown]);
        assert_eq!(next(&mut msgs).await, Msg::Connected(Box::new(status)));
        assert_eq!(next(&mut msgs).await, Msg::Event(Event::ShuttingDown));
        assert_eq!(next(&mut msgs).await, Msg::Disconnected(Down::Stopped));
        daemon.await.unwrap();
        session.abort();
    }

    #[tokio::test]
    async fn the_session_runs_requests_and_reports_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hunterd.sock");
        let daemon = fake_daemon::serve(&path, fixtures::status(vec![]), vec![]);
        let (msg_tx, mut msgs) = mpsc::unbounded_channel();
        let (requests, request_rx) = mpsc::channel(1);
        let session = tokio::spawn(session(path, msg_tx, request_rx));

        assert!(matches!(next(&mut msgs).await, Msg::Connected(_)));
        let run = Request::RunJob { name: "rescan".into() };
        requests.send(run.clone()).await.unwrap();
        assert_eq!(next(&mut msgs).await, Msg::Answer { request: run, result: Ok(Response::Ok) });
        session.abort();
        daemon.abort();
    }
}
