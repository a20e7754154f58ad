//! The runtime: owns the terminal and the connection, performs [`Effect`]s, turns what happens
//! into [`Msg`]s, and redraws only when the model changed.
//!
//! The connection lives in its own task (the session) so a slow or absent daemon never blocks
//! keys: it connects, retries every [`RETRY_SECS`] while the daemon is away, forwards events, and
//! runs work (requests, uploads, exports) in tasks of their own, reporting back over a channel.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use protocol::{DaemonStatus, Event, LeadQuery, MAX_PAGE, Request, Seek};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::model::{App, Down, LeadList, RETRY_SECS};
use super::update::{Effect, Msg, notify, update};
use super::view::view;
use crate::client::{Answer, Client, ClientError};
use crate::export::{Exporter, Format};
use crate::settings;

/// Name the daemon logs for our connections.
const CLIENT_NAME: &str = "hunter-tui";

/// How long one request may take before the UI reports it as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Work the session runs against the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Request(Request),
    Import(PathBuf),
    Export { path: PathBuf, query: Box<LeadQuery> },
}

/// Runs the interactive UI until the user quits.
pub async fn run(socket: PathBuf, color: bool) -> io::Result<()> {
    let app = initial_app(socket.clone(), color);
    // Created before the terminal is touched, so a half-done init is undone too.
    let _restore = RestoreOnDrop;
    let mut terminal = ratatui::try_init()?;
    let (msg_tx, mut msg_rx) = mpsc::unbounded_channel();
    let (work_tx, work_rx) = mpsc::channel(64);
    let session = tokio::spawn(session(socket, msg_tx.clone(), work_rx));
    let size = terminal.size()?;
    let _ = msg_tx.send(Msg::Resize(size.width, size.height));
    let result = event_loop(&mut terminal, app, &mut msg_rx, &msg_tx, &work_tx).await;
    session.abort();
    result
}

/// The model as the user left it: remembered filter and sort, their keymap, their name for notes.
fn initial_app(socket: PathBuf, color: bool) -> App {
    let mut app = App::new(socket, color, Utc::now());
    let (keymap, mut problems) = settings::load_keymap(settings::config_file().as_deref());
    app.keymap = Arc::new(keymap);
    if let Some(path) = settings::state_file() {
        match settings::load_state(&path) {
            Ok(Some(state)) => {
                let (list, problem) = LeadList::from_state(&state);
                app.leads = list;
                problems.extend(problem);
            }
            Ok(None) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let Some(user) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        app.user = user;
    }
    if !problems.is_empty() {
        notify(&mut app, problems.join("; "), true);
    }
    app
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
    Ignore,
    Closed,
}

fn classify(input: Option<io::Result<TermEvent>>) -> io::Result<Input> {
    Ok(match input {
        Some(Ok(TermEvent::Key(key))) => Input::Msg(Msg::Key(key)),
        Some(Ok(TermEvent::Resize(width, height))) => Input::Msg(Msg::Resize(width, height)),
        Some(Ok(_)) => Input::Ignore,
        Some(Err(e)) => return Err(e),
        None => Input::Closed,
    })
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut app: App,
    msgs: &mut mpsc::UnboundedReceiver<Msg>,
    msg_tx: &mpsc::UnboundedSender<Msg>,
    work: &mpsc::Sender<Work>,
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
                Input::Ignore => { redraw = false; continue; }
                Input::Closed => return Ok(()),
            },
            Some(msg) = msgs.recv() => msg,
            _ = tick.tick() => Msg::Tick(Utc::now()),
        };
        // A resize must repaint even if the model ends up equal (e.g. the same size twice).
        let resized = matches!(msg, Msg::Resize(..));
        // Comparing before and after means no handler can forget to ask for a redraw.
        let before = app.clone();
        for effect in update(&mut app, msg) {
            perform(effect, work, msg_tx);
        }
        redraw = resized || app != before;
    }
    Ok(())
}

fn perform(effect: Effect, work: &mpsc::Sender<Work>, msgs: &mpsc::UnboundedSender<Msg>) {
    // A full queue means the session is far behind; dropping work beats blocking keys. The
    // next refresh or keystroke asks again.
    let queue = |item: Work| {
        let _ = work.try_send(item);
    };
    match effect {
        Effect::Send(request) => queue(Work::Request(request)),
        Effect::Import(path) => queue(Work::Import(expand_home(&path))),
        Effect::Export { path, query } => queue(Work::Export { path: expand_home(&path), query }),
        Effect::After(delay, msg) => {
            let msgs = msgs.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = msgs.send(*msg);
            });
        }
        Effect::Copy(text) => {
            let mut stdout = io::stdout();
            let _ = stdout.write_all(osc52(&text).as_bytes()).and_then(|()| stdout.flush());
        }
        Effect::Complete(input) => {
            let candidates = complete_path(&input);
            let _ = msgs.send(Msg::Completed { input, candidates });
        }
        Effect::SaveState(state) => {
            if let Some(path) = settings::state_file()
                && let Err(e) = settings::save_state(&path, &state)
            {
                let _ = msgs.send(Msg::Problem(format!("cannot remember the filter in {}: {e}", path.display())));
            }
        }
    }
}

/// `~/x` → `$HOME/x`, as a shell would.
fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// The OSC 52 sequence that puts `text` on the terminal's clipboard; terminals (and tmux with
/// `set-clipboard on`) honour it over SSH, where no local clipboard tool could help.
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64(text.as_bytes()))
}

/// Standard base64 with padding (RFC 4648), all OSC 52 needs.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// File names that complete `input` (relative to the working directory, `~` understood),
/// written as the user would continue typing; directories end with `/`.
pub fn complete_path(input: &str) -> Vec<String> {
    let (dir_part, prefix) = match input.rfind('/') {
        Some(i) => (&input[..=i], &input[i + 1..]),
        None => ("", input),
    };
    let dir = if dir_part.is_empty() { PathBuf::from(".") } else { expand_home(Path::new(dir_part)) };
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut candidates: Vec<String> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().to_string();
            // Hidden files only when asked for, as shells do.
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let slash = if entry.path().is_dir() { "/" } else { "" };
            Some(format!("{dir_part}{name}{slash}"))
        })
        .collect();
    candidates.sort();
    candidates
}

/// Connects, serves, and reconnects forever; ends when the UI is gone.
async fn session(socket: PathBuf, msgs: mpsc::UnboundedSender<Msg>, mut work: mpsc::Receiver<Work>) {
    while !msgs.is_closed() {
        match open(&socket).await {
            Ok((client, events, status)) => {
                let _ = msgs.send(Msg::Connected(status));
                let down = serve(client, events, &msgs, &mut work).await;
                let _ = msgs.send(Msg::Disconnected(down));
            }
            Err(err) => {
                let _ = msgs.send(Msg::ConnectFailed(Down::from(&err)));
            }
        }
        refuse_work_for(Duration::from_secs(RETRY_SECS), &msgs, &mut work).await;
    }
}

/// Handshake, subscribe (before asking for status, so no change slips between), first status.
async fn open(socket: &Path) -> Result<(Arc<Client>, mpsc::Receiver<Event>, Box<DaemonStatus>), ClientError> {
    let mut client = Client::connect(socket, CLIENT_NAME).await?;
    let events = client.take_events().ok_or_else(|| ClientError::Unexpected("event stream already taken".into()))?;
    deadline(client.subscribe()).await?;
    let status = deadline(client.status()).await?;
    Ok((Arc::new(client), events, status))
}

/// Forwards events and runs work until the connection ends; returns why it ended.
async fn serve(
    client: Arc<Client>,
    mut events: mpsc::Receiver<Event>,
    msgs: &mpsc::UnboundedSender<Msg>,
    work: &mut mpsc::Receiver<Work>,
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
            item = work.recv() => match item {
                Some(item) => {
                    tokio::spawn(perform_work(client.clone(), item, msgs.clone()));
                }
                None => return Down::Lost { reason: "the UI stopped".into() },
            },
        }
    }
}

/// One request may take at most [`REQUEST_TIMEOUT`].
async fn deadline<T>(call: impl Future<Output = Result<T, ClientError>>) -> Result<T, ClientError> {
    tokio::time::timeout(REQUEST_TIMEOUT, call).await.map_err(|_| ClientError::Timeout(REQUEST_TIMEOUT))?
}

/// Runs one piece of work off the session loop, so a slow answer never delays events.
async fn perform_work(client: Arc<Client>, work: Work, msgs: mpsc::UnboundedSender<Msg>) {
    let msg = match work {
        Work::Request(request) => Msg::Answer(client.call(request, REQUEST_TIMEOUT).await),
        Work::Import(path) => {
            let file = path.display().to_string();
            let result = crate::commands::upload(&client, &path).await.map_err(|e| e.to_string());
            Msg::Imported { file, result }
        }
        Work::Export { path, query } => {
            let result = export_to_file(&client, *query, &path).await;
            Msg::Exported { path: path.display().to_string(), result }
        }
    };
    let _ = msgs.send(msg);
}

/// Writes every lead matching `query`'s filter and sort to a CSV file, page by page; returns how
/// many. The file is written next to its final name and renamed, so a failure leaves no half file.
async fn export_to_file(client: &Client, query: LeadQuery, path: &Path) -> Result<u64, String> {
    let tmp = path.with_extension("csv.part");
    let write = async {
        let file = std::fs::File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let mut exporter = Exporter::new(Format::Csv, io::BufWriter::new(file)).map_err(|e| e.to_string())?;
        let mut seek = Seek::Offset(0);
        loop {
            let page_query = LeadQuery { seek, limit: MAX_PAGE, ..query.clone() };
            let page = client.list_leads(page_query).await.map_err(|e| e.to_string())?;
            for row in &page.rows {
                exporter.write(row).map_err(|e| e.to_string())?;
            }
            // Each page is read from where the last one ended (a keyset seek, not an offset).
            match page.last {
                Some(last) if page.rows.len() as u64 == u64::from(MAX_PAGE) => seek = Seek::After(last),
                _ => break,
            }
        }
        exporter.finish().map_err(|e| e.to_string())
    };
    match write.await {
        Ok(rows) => {
            std::fs::rename(&tmp, path).map(|()| rows).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Waits before the next attempt, answering work at once instead of running it late against a
/// daemon that may have changed.
async fn refuse_work_for(wait: Duration, msgs: &mpsc::UnboundedSender<Msg>, work: &mut mpsc::Receiver<Work>) {
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            Some(item) = work.recv() => {
                let error = "not connected to hunterd; it reconnects by itself, try again in a moment".to_string();
                let msg = match item {
                    Work::Request(request) => Msg::Answer(Answer::failed(request, error)),
                    Work::Import(path) => Msg::Imported { file: path.display().to_string(), result: Err(error) },
                    Work::Export { path, .. } => Msg::Exported { path: path.display().to_string(), result: Err(error) },
                };
                let _ = msgs.send(msg);
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
        let (_work, work_rx) = mpsc::channel(1);
        let session = tokio::spawn(session(path.clone(), msg_tx, work_rx));

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
        let (work, work_rx) = mpsc::channel(1);
        let session = tokio::spawn(session(path, msg_tx, work_rx));

        assert!(matches!(next(&mut msgs).await, Msg::Connected(_)));
        work.send(Work::Request(Request::RunJob { name: "rescan".into() })).await.unwrap();
        assert_eq!(next(&mut msgs).await, Msg::Answer(Answer::RunJob { name: "rescan".into(), result: Ok(()) }));
        session.abort();
        daemon.abort();
    }

    #[tokio::test]
    async fn work_sent_while_the_daemon_is_away_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let (msg_tx, mut msgs) = mpsc::unbounded_channel();
        let (work, work_rx) = mpsc::channel(1);
        let session = tokio::spawn(session(dir.path().join("hunterd.sock"), msg_tx, work_rx));
        assert_eq!(next(&mut msgs).await, Msg::ConnectFailed(Down::NotRunning));
        work.send(Work::Import("leads.csv".into())).await.unwrap();
        let Msg::Imported { file, result: Err(error) } = next(&mut msgs).await else { panic!("expected a refusal") };
        assert_eq!(file, "leads.csv");
        assert!(error.contains("try again"), "{error}");
        session.abort();
    }

    #[test]
    fn base64_matches_the_rfc_test_vectors() {
        for (plain, encoded) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn osc52_wraps_the_text_for_the_clipboard() {
        assert_eq!(osc52("contoso.com"), "\x1b]52;c;Y29udG9zby5jb20=\x07");
    }

    #[test]
    fn paths_complete_from_the_directory_listing_with_slashes_on_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("leads.csv"), "").unwrap();
        std::fs::write(dir.path().join("leads.xlsx"), "").unwrap();
        std::fs::write(dir.path().join(".hidden"), "").unwrap();
        std::fs::create_dir(dir.path().join("lists")).unwrap();
        let base = format!("{}/", dir.path().display());
        assert_eq!(
            complete_path(&format!("{base}l")),
            vec![format!("{base}leads.csv"), format!("{base}leads.xlsx"), format!("{base}lists/")]
        );
        assert_eq!(complete_path(&format!("{base}leads.c")), vec![format!("{base}leads.csv")]);
        assert_eq!(complete_path(&format!("{base}nothing")), Vec::<String>::new());
    }
}
