//! The pipeline as a user runs it: a real (release) hunterd, `hunter-tui import --wait` of 10,000
//! domains through the socket, the authoritative DNS server in its own process (answering at once
//! or 20 ms late), registration lookups on with the registry a loopback port that never answers (as
//! behind a strict firewall), and off. Prints domains/s, DNS queries per domain, PostgreSQL CPU per
//! domain (the daemon's backends, from /proc) and the daemon's peak RSS; asserts nothing.
//!
//! Run: `cargo bench -p hunter-tests --bench user_pipeline` (needs PostgreSQL at DATABASE_URL, on this
//! machine). `USER_BENCH_SIZE=10000`, `USER_BENCH_DELAYS_MS=20,0` and `USER_BENCH_REGISTRATION=on,off`
//! change the runs; `USER_BENCH_TIMELINE=1` also prints, every 100 ms, how many companies exist,
//! how many are scanned, the scan queue, the machine's busy share and the CPU share (of one core) of
//! hunterd and of its PostgreSQL backends: where the time goes. `USER_BENCH_KEEP_DB=1` keeps each
//! run's database (its name is printed) for a look at what was stored. `HUNTER_TESTS_BIN_DIR=DIR` runs
//! the hunterd and hunter-tui found in DIR instead (e.g. another commit's, for an A/B comparison).

use hunter_tests::dns::synthetic;
use hunter_tests::{Daemon, DaemonOptions, TestDb, scratch_dir, tui_command};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use hunter_tests::process_usage;

fn list(var: &str, default: &str) -> Vec<String> {
    std::env::var(var).unwrap_or_else(|_| default.into()).split(',').map(|v| v.trim().to_string()).collect()
}

/// CPU seconds of every PostgreSQL backend serving `database`, by pid.
async fn backend_cpu(admin: &sqlx::PgPool, database: &str) -> std::collections::HashMap<i32, f64> {
    let pids: Vec<i32> = sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
        .bind(database)
        .fetch_all(admin)
        .await
        .unwrap_or_default();
    pids.into_iter().map(|pid| (pid, process_usage(pid).0)).collect()
}

/// The DNS server process: its address and a way to ask its query count.
struct DnsProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    nameserver: String,
}

impl DnsProcess {
    fn start(delay_ms: u64) -> DnsProcess {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().and_then(std::path::Path::parent).unwrap();
        let mut child = Command::new(dir.join("test-dns-server"))
            .arg(delay_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start test-dns-server (cargo build --release -p hunter-tests --bin test-dns-server)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut nameserver = String::new();
        stdout.read_line(&mut nameserver).unwrap();
        DnsProcess { child, stdin, stdout, nameserver: nameserver.trim().to_string() }
    }

    fn queries(&mut self) -> u64 {
        writeln!(self.stdin).unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().parse().unwrap_or(0)
    }
}

impl Drop for DnsProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Samples the database and the machine every 100 ms on its own thread (the bench's runtime is
/// blocked while `hunter-tui` runs).
struct Timeline {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl Timeline {
    fn start(url: &str, daemon: i32) -> Timeline {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (url, flag) = (url.to_string(), stop.clone());
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                let start = Instant::now();
                let mut lines = Vec::new();
                let mut cpu = machine_cpu();
                let database = url.rsplit('/').next().unwrap_or_default().to_string();
                let mut processes = std::collections::HashMap::<i32, f64>::new();
                // CPU share (of one core) of the daemon and of its database backends since the last tick.
                let mut shares = async |pool: &sqlx::PgPool| {
                    let mut pids: Vec<i32> = sqlx::query_scalar(
                        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(&database)
                    .fetch_all(pool)
                    .await
                    .unwrap_or_default();
                    pids.push(daemon);
                    let mut busy = (0.0, 0.0);
                    for pid in pids {
                        let now = process_usage(pid).0;
                        let used = now - processes.insert(pid, now).unwrap_or(now);
                        if pid == daemon { busy.0 += used } else { busy.1 += used }
                    }
                    busy
                };
                shares(&pool).await;
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    let row: (i64, i64, i64, i64) = sqlx::query_as(
                        "SELECT (SELECT count(*) FROM companies), \
                                (SELECT count(*) FROM lead_state WHERE scanned_at IS NOT NULL), \
                                (SELECT count(*) FROM job_queue WHERE kind = 'scan' AND state = 'queued'), \
                                (SELECT count(*) FROM job_queue WHERE kind = 'scan' AND state = 'running')",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap_or_default();
                    let now = machine_cpu();
                    let busy = 100.0 * (now.0 - cpu.0) / (now.1 - cpu.1).max(1.0);
                    let interval = (now.1 - cpu.1) / ticks / 2.0;
                    cpu = now;
                    let (hunterd, postgres) = shares(&pool).await;
                    lines.push(format!(
                        "  {:>6.2} s  companies {:>6}  scanned {:>6}  queued {:>6}  running {:>4}  machine busy {busy:>3.0} %  \
                         hunterd {:>3.0} %  PostgreSQL {:>3.0} %",
                        start.elapsed().as_secs_f64(),
                        row.0,
                        row.1,
                        row.2,
                        row.3,
                        100.0 * hunterd / interval.max(0.001),
                        100.0 * postgres / interval.max(0.001),
                    ));
                }
                pool.close().await;
                lines
            })
        });
        Timeline { stop, thread }
    }

    fn stop_and_print(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for line in self.thread.join().unwrap_or_default() {
            println!("{line}");
        }
    }
}

/// The machine's busy and total jiffies, from /proc/stat.
fn machine_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let idle = fields.get(3).copied().unwrap_or(0.0) + fields.get(4).copied().unwrap_or(0.0);
    let total: f64 = fields.iter().take(8).sum();
    (total - idle, total)
}

async fn run(size: u64, delay_ms: u64, registration: bool) {
    let mut dns = DnsProcess::start(delay_ms);
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let config = dir.path().join("hunterd.toml");
    std::fs::write(
        &config,
        format!(
            "[scan]\nnameservers = [\"{}\"]\n[whois]\nenabled = {registration}\n[whois.servers]\ntest = \"{}\"\n",
            dns.nameserver,
            blackhole.local_addr().unwrap()
        ),
    )
    .unwrap();
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.config = Some(config);
    options.extra_env = vec![("RUST_LOG".into(), "warn".into())];
    let daemon = Daemon::start(&options).await;
    let file = dir.path().join("leads.csv");
    let mut csv = String::from("domain\n");
    for i in 0..size {
        csv.push_str(&synthetic::domain(i));
        csv.push('\n');
    }
    std::fs::write(&file, csv).unwrap();

    let admin = sqlx::PgPool::connect(&hunter_tests::admin_url()).await.unwrap();
    let pg_before = backend_cpu(&admin, &db.name).await;
    let (cpu_before, _) = process_usage(daemon.pid());
    let queries_before = dns.queries();
    let socket = daemon.options.socket.to_str().unwrap().to_string();
    let timeline =
        std::env::var("USER_BENCH_TIMELINE").is_ok_and(|v| v == "1").then(|| Timeline::start(&db.url, daemon.pid()));
    let start = Instant::now();
    let out = tui_command(&["--socket", &socket, "import", "--wait", file.to_str().unwrap()], &[]);
    let elapsed = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
    if let Some(timeline) = timeline {
        timeline.stop_and_print();
    }
    let queries = dns.queries() - queries_before;
    let (cpu_after, rss_mb) = process_usage(daemon.pid());
    let pg_after = backend_cpu(&admin, &db.name).await;
    let pg_cpu: f64 = pg_after.iter().map(|(pid, cpu)| cpu - pg_before.get(pid).copied().unwrap_or(0.0)).sum();
    println!(
        "user pipeline {size} domains, {delay_ms:>2} ms answers, registration {:<3}: {:>6.0} domains/s  {:>5.1} queries/domain  \
         PostgreSQL {:>5.2} ms CPU/domain  hunterd {:>5.2} ms CPU/domain  hunterd peak RSS {:>5.1} MiB  ({elapsed:.1} s)",
        if registration { "on" } else { "off" },
        size as f64 / elapsed,
        queries as f64 / size as f64,
        pg_cpu * 1000.0 / size as f64,
        (cpu_after - cpu_before) * 1000.0 / size as f64,
        rss_mb,
    );
    admin.close().await;
    drop(daemon);
    if std::env::var("USER_BENCH_KEEP_DB").is_ok_and(|v| v == "1") {
        println!("  database kept for inspection: {}", db.name);
        std::mem::forget(db);
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    hunter_tests::cargo_build(&["-p", "hunter-tests", "--bin", "test-dns-server"]);
    let size: u64 = list("USER_BENCH_SIZE", "10000")[0].parse().unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        for delay in list("USER_BENCH_DELAYS_MS", "20,0") {
            for registration in list("USER_BENCH_REGISTRATION", "on,off") {
                run(size, delay.parse().unwrap_or(0), registration == "on").await;
            }
        }
    });
}
