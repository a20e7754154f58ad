//! How the TUI copes with 100k or 1M leads: a real (release) hunterd on a database seeded with
//! scored leads, and hunter-tui's real model, update and view driven like a user would (scrolling
//! line by line and page by page, jumping to the end and back, filtering, opening facet pickers),
//! with every page fetched from the daemon. Prints p50/p99 of the frame render time (the goal is
//! p99 < 16 ms), of the key handling the event loop does per message, of the page round trip while
//! scrolling (goal at 1M: p99 < 20 ms), of filter → first page drawn (goal at 1M: p99 < 100 ms; the
//! first page's own round trip is printed apart, as it belongs to that step), of the count and of
//! the facet counts. Asserts nothing.
//!
//! Frames are drawn on ratatui's TestBackend (the model → cells work, including the diff); writing
//! the escape sequences to a real terminal is not included.
//!
//! Run: `cargo bench -p hunter-tests --bench tui_render` (needs PostgreSQL at DATABASE_URL, as a
//! superuser: seeding bypasses triggers and rebuilds the read model set-based).
//! `TUI_BENCH_LEADS=1000000` and `TUI_BENCH_SIZE=160x40` change the run; `TUI_BENCH_EXPLAIN=FILE`
//! also writes EXPLAIN (ANALYZE, BUFFERS) of the daemon's own lead queries (via auto_explain) to FILE;
//! `TUI_BENCH_SLOW_MS=20` prints every page slower than 20 ms with its query (and when);
//! `TUI_BENCH_KEEP_DB=1` keeps the seeded database and `TUI_BENCH_DB=NAME` runs on a kept one again.

use hunter_tests::{Daemon, DaemonOptions, TestDb, admin_url, scratch_dir, with_database};
use hunter_tui::app::{App, Effect, Msg, update, view};
use hunter_tui::client::Client;
use protocol::{Facet, LeadFilter, LeadQuery, LeadSort, Request, Response, Seek};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Inserts `n` companies, 98% with a scored lead_state (values cycling like a real mix), 2% not
/// scanned yet; tags on 1 in 50, favourites 1 in 100. Set-based with triggers off, then the read
/// model is rebuilt in one statement and vacuumed (as autovacuum would have by then).
async fn seed(pool: &sqlx::PgPool, n: i64) {
    let mut conn = pool.acquire().await.expect("connection");
    let statements = [
        "SET session_replication_role = replica",
        "INSERT INTO companies (domain, company_name, source)
         SELECT 'lead' || i || '.example', 'Company ' || i || ' Ltd', 'bench' FROM generate_series(0, $1 - 1) i",
        "INSERT INTO lead_state (company_id, scan_status, scanned_at, provider, gateway, mx_hosts, spf, spf_includes,
                                 dkim, dmarc_policy, score, segment, commercial_segment, technical_heat,
                                 commercial_heat, priority, priority_label)
         SELECT c.id, (ARRAY['ok','ok','ok','nxdomain','no_mx','ok','timeout','ok'])[1 + c.id % 8],
                now() - (c.id % 1000) * interval '1 hour',
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
           FROM companies c WHERE c.id % 50 <> 7",
        "INSERT INTO tags (company_id, tag) SELECT id, 'hot' FROM companies WHERE id % 50 = 3",
        "INSERT INTO tags (company_id, tag) SELECT id, 'eu' FROM companies WHERE id % 200 = 3",
        "INSERT INTO favorites (company_id) SELECT id FROM companies WHERE id % 100 = 11",
        "SET session_replication_role = DEFAULT",
        "SELECT lead_list_rebuild()",
        "VACUUM ANALYZE",
    ];
    for sql in statements {
        let query = sqlx::query(sql);
        let query = if sql.contains("$1") { query.bind(n) } else { query };
        query.execute(&mut *conn).await.unwrap_or_else(|e| panic!("seed: {e}: {sql}"));
    }
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
/// then the requests it asked for, answered by the daemon (timed), fed back in, in order.
struct Driver {
    client: Client,
    app: App,
    terminal: Terminal<TestBackend>,
    frames: Samples,
    keys: Samples,
    /// Pages asked for while scrolling (the "page round trip").
    pages: Samples,
    /// The first page of a newly applied filter (part of "filter → first page drawn").
    first_pages: Samples,
    /// Set while a filter's first page is asked for.
    filtering: bool,
    counts: Samples,
}

impl Driver {
    async fn send(&mut self, msg: Msg) {
        let effects = self.handle(msg);
        self.perform(effects).await;
    }

    fn handle(&mut self, msg: Msg) -> Vec<Effect> {
        let start = Instant::now();
        let before = self.app.clone();
        let effects = update(&mut self.app, msg);
        let _changed = self.app != before;
        self.keys.values.push(start.elapsed());
        effects
    }

    /// Performs these effects only; returns what their answers ask for next.
    async fn perform_once(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        let mut next = Vec::new();
        for effect in effects {
            let msg = match effect {
                Effect::Send(request) => {
                    let start = Instant::now();
                    let kind = match &request {
                        Request::ListLeads(_) if self.filtering => Some(&mut self.first_pages),
                        Request::ListLeads(_) => Some(&mut self.pages),
                        Request::CountLeads(_) => Some(&mut self.counts),
                        _ => None,
                    };
                    let slow_report = match &request {
                        Request::ListLeads(query) => slow_threshold().map(|ms| (ms, format!("{query:?}"))),
                        _ => None,
                    };
                    let answer = self.client.call(request, Duration::from_secs(60)).await;
                    let took = start.elapsed();
                    if let Some(samples) = kind {
                        samples.values.push(took);
                    }
                    if let Some((ms, query)) = slow_report.filter(|(ms, _)| took.as_secs_f64() * 1000.0 >= *ms) {
                        println!(
                            "  slow page at {} ({:.1} ms ≥ {ms} ms): {query}",
                            chrono::Utc::now().format("%H:%M:%S%.3f"),
                            took.as_secs_f64() * 1000.0
                        );
                    }
                    Msg::Answer(answer)
                }
                // Debounce timers fire at once here: the bench measures work, not waiting.
                Effect::After(_, msg) => *msg,
                _ => continue,
            };
            next.extend(self.handle(msg));
        }
        next
    }

    async fn perform(&mut self, effects: Vec<Effect>) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            queue.extend(self.perform_once(vec![effect]).await);
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

/// `TUI_BENCH_SLOW_MS`: pages slower than this are printed with their query.
fn slow_threshold() -> Option<f64> {
    std::env::var("TUI_BENCH_SLOW_MS").ok().and_then(|v| v.parse().ok())
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.into())
}

async fn run() {
    let leads: i64 = env_or("TUI_BENCH_LEADS", "100000").parse().unwrap_or(100_000);
    let size = env_or("TUI_BENCH_SIZE", "160x40");
    let (width, height) =
        size.split_once('x').and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?))).unwrap_or((160, 40));

    // `TUI_BENCH_DB=NAME`: a database kept from an earlier run (`TUI_BENCH_KEEP_DB=1`), seeded already.
    let reused = std::env::var("TUI_BENCH_DB").ok().filter(|name| !name.is_empty());
    let db = match &reused {
        Some(name) => TestDb { name: name.clone(), url: with_database(&admin_url(), name) },
        None => TestDb::create().await,
    };
    let dir = scratch_dir();
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.extra_env = vec![("RUST_LOG".into(), "warn".into()), ("HUNTER_WHOIS__ENABLED".into(), "false".into())];
    let daemon = Daemon::start(&options).await;
    let pool = db.pool().await;
    let seeding = Instant::now();
    if reused.is_none() {
        seed(&pool, leads).await;
    }
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
        pages: Samples::new("ListLeads page (200 rows) round trip, scrolling"),
        first_pages: Samples::new("ListLeads first page of a filter round trip"),
        filtering: false,
        counts: Samples::new("CountLeads round trip"),
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
    let exprs = [
        "lead12",
        "segment=Migration score>=60",
        "provider=Google,Zoho heat=Hot lead9",
        "company 4242",
        "no-such-lead",
        "mimecast",
        "tag=hot",
        "favorite",
        "status=nxdomain priority=P2",
        "gateway=Mimecast cseg=GREENFIELD score<30",
        "lead77 segment=Cold",
        "",
    ];
    for expr in exprs {
        driver.send(Msg::Key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE))).await;
        driver.send(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL))).await;
        for c in expr.chars() {
            update(&mut driver.app, Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
        }
        let start = Instant::now();
        let effects = driver.handle(Msg::FilterDue(driver.app.filter_seq));
        // The runtime sends the page and the count at once; the page is drawn when it arrives.
        let (page, rest): (Vec<Effect>, Vec<Effect>) =
            effects.into_iter().partition(|e| matches!(e, Effect::Send(Request::ListLeads(_))));
        driver.filtering = true;
        let later = driver.perform_once(page).await;
        driver.filtering = false;
        driver.draw();
        let drawn = start.elapsed();
        filters.values.push(drawn);
        driver.perform(rest.into_iter().chain(later).collect()).await;
        let counted = start.elapsed();
        driver.send(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))).await;
        let count = driver
            .app
            .leads
            .count
            .map_or("?".to_string(), |c| format!("{}{}", if c.exact { "" } else { "≈" }, c.count));
        println!(
            "  filter {:<44} {:>9} leads  first page {:>7.1} ms  counted {:>7.1} ms",
            format!("{expr:?}"),
            count,
            drawn.as_secs_f64() * 1000.0,
            counted.as_secs_f64() * 1000.0
        );
        for _ in 0..20 {
            driver.key(KeyCode::PageDown).await;
        }
    }

    let mut facets = Samples::new("facet counts (LeadFacets) round trip");
    for filter in ["", "segment=Migration score>=60", "lead12"] {
        let filter = LeadFilter::parse(filter).expect("filter");
        for facet in Facet::ALL.into_iter().filter(|f| f.fixed_values().is_none()) {
            let start = Instant::now();
            let values = driver.client.lead_facets(facet, filter.clone()).await.expect("facet values");
            facets.values.push(start.elapsed());
            assert!(values.len() <= 100);
        }
    }

    driver.frames.print();
    driver.keys.print();
    driver.pages.print();
    driver.first_pages.print();
    filters.print();
    driver.counts.print();
    facets.print();
    println!("  pages held at the end: {}", driver.app.leads.pages.len());

    if let Ok(path) = std::env::var("TUI_BENCH_EXPLAIN") {
        explain(&db.url, &path, leads).await;
    }
    pool.close().await;
    drop(daemon);
    if reused.is_some() || std::env::var("TUI_BENCH_KEEP_DB").is_ok_and(|v| v == "1") {
        println!("  database kept: {} (TUI_BENCH_DB={} runs on it again)", db.name, db.name);
        std::mem::forget(db);
    }
}

/// Runs the daemon's own list, count and facet code on a connection with auto_explain logging
/// every plan (ANALYZE, BUFFERS) as a notice, and writes the notices to `path`.
async fn explain(url: &str, path: &str, leads: i64) {
    let file = std::fs::File::create(path).expect("explain file");
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_env_filter("sqlx::postgres::notice=info")
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                for sql in [
                    "LOAD 'auto_explain'",
                    "SET auto_explain.log_min_duration = 0",
                    "SET auto_explain.log_analyze = on",
                    "SET auto_explain.log_buffers = on",
                    "SET auto_explain.log_level = notice",
                ] {
                    sqlx::query(sql).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .expect("explain pool");
    // Not following changes: every call reads afresh, so each plan is logged.
    let cache = hunterd::leads::LeadCache::new();
    let query = |filter: &str, seek: Seek| LeadQuery {
        filter: LeadFilter::parse(filter).expect("filter"),
        sort: LeadSort::Score,
        descending: true,
        seek,
        limit: 200,
    };
    let first = hunterd::leads::list_leads(&pool, &cache, &query("", Seek::Offset(0))).await.expect("first page");
    let middle = u64::try_from(leads / 2).unwrap_or(0);
    let deep = hunterd::leads::list_leads(&pool, &cache, &query("", Seek::Offset(middle))).await.expect("offset page");
    for seek in [Seek::After(deep.last.clone().expect("rows")), Seek::Before(first.last.expect("rows")), Seek::Last] {
        hunterd::leads::list_leads(&pool, &cache, &query("", seek)).await.expect("keyset page");
    }
    for filter in ["lead12", "segment=Migration score>=60", "provider=Google,Zoho heat=Hot lead9", "no-such-lead"] {
        hunterd::leads::list_leads(&pool, &cache, &query(filter, Seek::Offset(0))).await.expect("filtered page");
        hunterd::leads::count_leads(&pool, &cache, &query(filter, Seek::Offset(0)).filter).await.expect("count");
    }
    hunterd::leads::count_leads(&pool, &cache, &LeadFilter::default()).await.expect("count");
    hunterd::leads::facet_values(&pool, &cache, Facet::Provider, &LeadFilter::default()).await.expect("facets");
    hunterd::leads::facet_values(&pool, &cache, Facet::Tag, &LeadFilter::default()).await.expect("facets");
    pool.close().await;
    println!("  EXPLAIN (ANALYZE, BUFFERS) of the lead queries written to {path}");
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    rt.block_on(run());
}
