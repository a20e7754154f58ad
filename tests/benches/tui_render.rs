//! How the TUI copes with 100k leads: a real (release) hunterd on a database seeded with 100k
//! scored leads, and hunter-tui's real model, update and view driven like a user would (scrolling
//! line by line and page by page, jumping to the end, filtering), with every page fetched from the
//! daemon. Prints p50/p99 of the frame render time (the goal is p99 < 16 ms), of the key handling
//! the event loop does per message, and of the page and filter round trips. Asserts nothing.
//!
//! Frames are drawn on ratatui's TestBackend (the model → cells work, including the diff); writing
//! the escape sequences to a real terminal is not included.
//!
//! Run: `cargo bench -p hunter-tests --bench tui_render` (needs PostgreSQL at DATABASE_URL).
//! `TUI_BENCH_LEADS=100000` and `TUI_BENCH_SIZE=160x40` change the run.

use hunter_tests::{Daemon, DaemonOptions, TestDb, scratch_dir};
use hunter_tui::app::{App, Effect, Msg, update, view};
use hunter_tui::client::Client;
use protocol::{Request, Response};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::{Duration, Instant};

/// Inserts `n` companies with a scored lead_state each, values cycling like a real mix.
async fn seed(pool: &sqlx::PgPool, n: i64) {
    sqlx::query(
        "INSERT INTO companies (domain, company_name, source)
         SELECT 'lead' || i || '.example', 'Company ' || i || ' Ltd', 'bench' FROM generate_series(0, $1 - 1) i",
    )
    .bind(n)
    .execute(pool)
    .await
    .expect("seed companies");
    sqlx::query(
        "INSERT INTO lead_state (company_id, scan_status, scanned_at, provider, gateway, mx_hosts, spf, spf_includes,
                                 dkim, dmarc_policy, score, segment, commercial_segment, technical_heat,
                                 commercial_heat, priority, priority_label)
         SELECT c.id, 'ok', now() - (c.id % 1000) * interval '1 hour',
                (ARRAY['M365','Google','Local','Zoho','Hosting'])[1 + c.id % 5],
                CASE WHEN c.id % 7 = 0 THEN 'Mimecast' END,
                ARRAY['mx1.' || c.domain, 'mx2.' || c.domain], true, ARRAY['spf.protection.outlook.com'],
                c.id % 3 = 0, (ARRAY['none','quarantine','reject'])[1 + c.id % 3],
                (c.id * 37) % 101,
                (ARRAY['Existing','Migration','Cold','Skip'])[1 + c.id % 4],
                (ARRAY['RENEWAL','COMPETITIVE','GREENFIELD','NO_GO'])[1 + c.id % 4],
                (ARRAY['Hot','Warm','Cold'])[1 + c.id % 3],
                (ARRAY['HIGH','MEDIUM','LOW'])[1 + c.id % 3],
                'P' || (1 + c.id % 6), 'Follow up'
           FROM companies c",
    )
    .execute(pool)
    .await
    .expect("seed lead_state");
    sqlx::query("ANALYZE").execute(pool).await.expect("analyze");
}

struct Samples {
    name: String,
    values: Vec<Duration>,
}

impl Samples {
    fn new(name: &str) -> Samples {
        Samples { name: name.into(), values: Vec::new() }
    }

    fn print(&mut self) {
        if self.values.is_empty() {
            println!("  {:<44} no samples", self.name);
            return;
        }
        self.values.sort();
        let at = |q: f64| self.values[((self.values.len() - 1) as f64 * q).round() as usize];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  {:<44} n={:>5}  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
            self.name,
            self.values.len(),
            ms(at(0.5)),
            ms(at(0.99)),
            ms(*self.values.last().unwrap_or(&Duration::ZERO))
        );
    }
}

/// Everything the runtime would do for a message: clone for the redraw check, update, compare;
/// then the requests it asked for, answered by the daemon (timed), fed back in.
struct Driver {
    client: Client,
    app: App,
    terminal: Terminal<TestBackend>,
    frames: Samples,
    keys: Samples,
    pages: Samples,
}

impl Driver {
    async fn send(&mut self, msg: Msg) {
        let start = Instant::now();
        let before = self.app.clone();
        let effects = update(&mut self.app, msg);
        let _changed = self.app != before;
        self.keys.values.push(start.elapsed());
        self.perform(effects).await;
    }

    async fn perform(&mut self, mut effects: Vec<Effect>) {
        while let Some(effect) = effects.pop() {
            let msg = match effect {
                Effect::Send(request) => {
                    let start = Instant::now();
                    let page = matches!(request, Request::ListLeads(_));
                    let answer = self.client.call(request, Duration::from_secs(60)).await;
                    if page {
                        self.pages.values.push(start.elapsed());
                    }
                    Msg::Answer(answer)
                }
                // Debounce timers fire at once here: the bench measures work, not waiting.
                Effect::After(_, msg) => *msg,
                _ => continue,
            };
            effects.extend(update(&mut self.app, msg));
        }
    }

    fn draw(&mut self) {
        let start = Instant::now();
        self.terminal.draw(|frame| view(&self.app, frame)).expect("draw");
        self.frames.values.push(start.elapsed());
    }

    async fn key(&mut self, code: KeyCode) {
        self.send(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))).await;
        self.draw();
    }
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.into())
}

async fn run() {
    let leads: i64 = env_or("TUI_BENCH_LEADS", "100000").parse().unwrap_or(100_000);
    let size = env_or("TUI_BENCH_SIZE", "160x40");
    let (width, height) =
        size.split_once('x').and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?))).unwrap_or((160, 40));

    let db = TestDb::create().await;
    let dir = scratch_dir();
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.extra_env = vec![("RUST_LOG".into(), "warn".into()), ("HUNTER_WHOIS__ENABLED".into(), "false".into())];
    let daemon = Daemon::start(&options).await;
    let pool = db.pool().await;
    let seeding = Instant::now();
    seed(&pool, leads).await;
    println!(
        "tui_render: {leads} leads (seeded in {:.1} s), {width}x{height} terminal",
        seeding.elapsed().as_secs_f64()
    );

    let client = daemon.client().await;
    let Response::Status(status) = client.request(Request::Status).await.expect("status") else { panic!("no status") };
    let mut app = App::new(options.socket.clone(), true, chrono::Utc::now());
    app.size = (width, height);
    let mut driver = Driver {
        client,
        app,
        terminal: Terminal::new(TestBackend::new(width, height)).expect("terminal"),
        frames: Samples::new("frame render"),
        keys: Samples::new("key handling (clone + update + compare)"),
        pages: Samples::new("ListLeads page (200 rows) round trip"),
    };
    let first = Instant::now();
    driver.send(Msg::Connected(status)).await;
    driver.draw();
    println!("  first screen after connecting: {:.1} ms", first.elapsed().as_secs_f64() * 1000.0);

    for _ in 0..1_000 {
        driver.key(KeyCode::Down).await;
    }
    for _ in 0..300 {
        driver.key(KeyCode::PageDown).await;
    }
    driver.key(KeyCode::End).await;
    for _ in 0..300 {
        driver.key(KeyCode::PageUp).await;
    }
    driver.key(KeyCode::Home).await;
    // Plain frames of a steady screen, as ticks and events cause.
    for _ in 0..500 {
        driver.draw();
    }

    let mut filters = Samples::new("filter applied → first page drawn");
    for expr in ["lead12", "segment=Migration score>=60", "provider=Google,Zoho heat=Hot lead9", ""] {
        driver.send(Msg::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE))).await;
        driver.send(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL))).await;
        for c in expr.chars() {
            update(&mut driver.app, Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
        }
        let start = Instant::now();
        let due = Msg::FilterDue(driver.app.filter_seq);
        driver.send(due).await;
        driver.draw();
        filters.values.push(start.elapsed());
        driver.send(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))).await;
        println!(
            "  filter {:<38} {:>7} leads  {:>7.1} ms",
            format!("{expr:?}"),
            driver.app.leads.total.unwrap_or(0),
            start.elapsed().as_secs_f64() * 1000.0
        );
        for _ in 0..50 {
            driver.key(KeyCode::PageDown).await;
        }
    }

    driver.frames.print();
    driver.keys.print();
    driver.pages.print();
    filters.print();
    println!("  pages held at the end: {}", driver.app.leads.pages.len());
    pool.close().await;
    drop(daemon);
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    rt.block_on(run());
}
