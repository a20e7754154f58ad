//! Test support: real hunterd processes on temporary sockets, real PostgreSQL databases.
//!
//! Every test gets its own database (created on the server named by `DATABASE_URL`, dropped when
//! the handle goes away) or its own embedded cluster, so tests run in parallel and never depend on
//! leftovers.

#![recursion_limit = "256"]

pub mod dns;
pub mod fakes;

/// `ranges` IPv4 ranges spread evenly over the address space, with countries, ISPs, usage types and
/// ASNs cycling, and (for IP2Proxy) every tenth range a VPN: the rows the benchmarks' BIN files hold.
pub fn synthetic_bin_rows(
    product: hunterd::enrich::ip2bin::Product,
    ranges: u32,
) -> Vec<hunterd::enrich::ip2bin::BinRow> {
    use hunterd::enrich::ip2bin::{BinRow, Product};
    use std::net::{IpAddr, Ipv4Addr};
    (0..ranges)
        .map(|i| {
            let mut r = BinRow::new(IpAddr::V4(Ipv4Addr::from(i * (u32::MAX / ranges))));
            r.country_short = Some(["DE", "IE", "US", "TR"][i as usize % 4].into());
            r.country_long = Some(["Germany", "Ireland", "United States", "Turkey"][i as usize % 4].into());
            r.isp = Some(format!("ISP {}", i % 500));
            r.usage_type = Some(["DCH", "COM", "ISP"][i as usize % 3].into());
            r.asn = Some(64_512 + i % 1000);
            if product == Product::Ip2Proxy && i % 10 == 0 {
                r.proxy_type = Some("VPN".into());
            }
            r
        })
        .collect()
}

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hunter_tui::client::{Client, ClientError};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string())
}

/// Runs `cargo build` of `args` in the workspace, optimised when the caller is (benchmarks measure
/// optimised binaries). What cargo told the calling test about itself is not the build's business:
/// build scripts that watch such variables (ring's watches `CARGO_MANIFEST_DIR`) would rerun, and
/// everything after them rebuild, on every alternation of `cargo test`/`cargo bench` and this build.
pub fn cargo_build(args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace).args(["build", "--quiet"]).args(args);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let about_this_test = ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_BIN_", "CARGO_CRATE_", "CARGO_PRIMARY_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || ["CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"].contains(&name.as_ref());
        if about_this_test {
            cmd.env_remove(name.as_ref());
        }
    }
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build {} failed", args.join(" "));
}

/// Path of a workspace binary, built (once per test process) so it is never stale.
/// `HUNTER_TESTS_BIN_DIR` points the benches at binaries built elsewhere (another commit, for an A/B
/// comparison on the same machine) and skips the build.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        if let Some(dir) = std::env::var_os("HUNTER_TESTS_BIN_DIR") {
            return PathBuf::from(dir);
        }
        cargo_build(&["-p", "hunterd", "-p", "hunter-tui", "--bins"]);
        // target/debug/deps/<test-binary> → target/debug
        let exe = std::env::current_exe().expect("current exe");
        exe.parent().and_then(Path::parent).expect("target dir").to_path_buf()
    });
    dir.join(name)
}

/// `admin` with its database replaced by `name` (query parameters kept).
pub fn with_database(admin: &str, name: &str) -> String {
    let (base, query) = admin.split_once('?').map_or((admin, ""), |(b, q)| (b, q));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    if query.is_empty() { format!("{base}/{name}") } else { format!("{base}/{name}?{query}") }
}

/// A private database on the test server, dropped (forcefully) when this goes away.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("hunter_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_url();
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.expect("connect to test server");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = with_database(&admin, &name);
        TestDb { name, url }
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.url).await.expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        // Drop runs outside any runtime we could block on, so use a small one of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A temporary directory a test's daemon lives in. As root it is made enterable (0711) so the
/// embedded cluster's unprivileged account can reach its data directory.
pub fn scratch_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("hunter-it-").tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod temp dir");
    dir
}

/// How to start a daemon.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    /// `None`: embedded cluster.
    pub database_url: Option<String>,
    pub extra_env: Vec<(String, String)>,
    /// A config file; `None` runs on defaults (`--config /dev/null`).
    pub config: Option<PathBuf>,
}

impl DaemonOptions {
    pub fn in_dir(dir: &Path, database_url: Option<String>) -> DaemonOptions {
        DaemonOptions {
            socket: dir.join("hunterd.sock"),
            state_dir: dir.join("state"),
            database_url,
            extra_env: Vec::new(),
            config: None,
        }
    }
}

/// A running `hunterd run` process. Killed (and its embedded cluster stopped) when dropped.
pub struct Daemon {
    pub child: Option<Child>,
    pub options: DaemonOptions,
    stderr_path: PathBuf,
}

/// Starts hunterd without waiting for it.
pub fn spawn_daemon(options: &DaemonOptions) -> Daemon {
    let stderr_path = options.state_dir.with_extension(format!("stderr.{}", uuid::Uuid::new_v4().simple()));
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut cmd = Command::new(binary("hunterd"));
    cmd.arg("--socket")
        .arg(&options.socket)
        .arg("--state-dir")
        .arg(&options.state_dir)
        .arg("--config")
        .arg(options.config.as_deref().unwrap_or(Path::new("/dev/null")))
        .arg("run")
        .env_remove("HUNTER_SOCKET")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, _) in std::env::vars() {
        if k.starts_with("HUNTER_") && k.contains("__") {
            cmd.env_remove(k);
        }
    }
    match &options.database_url {
        Some(url) => cmd.env("HUNTER_DATABASE__URL", url),
        None => cmd.env_remove("HUNTER_DATABASE__URL"),
    };
    for (k, v) in &options.extra_env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn hunterd");
    Daemon { child: Some(child), options: options.clone(), stderr_path }
}

impl Daemon {
    /// Starts hunterd and waits until it answers a handshake.
    pub async fn start(options: &DaemonOptions) -> Daemon {
        let mut daemon = spawn_daemon(options);
        daemon.wait_ready(Duration::from_secs(60)).await;
        daemon
    }

    pub async fn wait_ready(&mut self, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(Some(status)) = self.child.as_mut().expect("child").try_wait() {
                panic!("hunterd exited early with {status}; stderr:\n{}", self.stderr());
            }
            if Client::connect(&self.options.socket, "hunter-tests").await.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "hunterd not ready within {patience:?}; stderr:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.options.socket, "hunter-tests").await.expect("connect to hunterd")
    }

    pub async fn try_client(&self) -> Result<Client, ClientError> {
        Client::connect(&self.options.socket, "hunter-tests").await
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("child").id() as i32
    }

    /// What the daemon printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Everything in the daemon's log files.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.options.state_dir.join("logs")) {
            for entry in entries.flatten() {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    }

    /// SIGTERM, then wait for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("daemon already stopped");
        signal(child.id() as i32, nix::sys::signal::Signal::SIGTERM);
        wait_with_timeout(&mut child, Duration::from_secs(60))
    }

    /// SIGKILL, as if the machine's OOM killer struck.
    pub fn kill_hard(&mut self) {
        let mut child = self.child.take().expect("daemon already stopped");
        signal(child.id() as i32, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
    }

    /// Waits for a daemon that is expected to exit by itself.
    pub fn wait_exit(&mut self, patience: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("daemon already stopped");
        wait_with_timeout(&mut child, patience)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        stop_embedded_cluster(&self.options.state_dir);
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

fn wait_with_timeout(child: &mut Child, patience: Duration) -> ExitStatus {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(status) = child.try_wait().expect("wait for hunterd") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hunterd did not exit within {patience:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Postmaster of an embedded cluster, if one is running for this state dir.
pub fn embedded_postmaster_pid(state_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(state_dir.join("postgres/data/postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    // A pid file left by a killed cluster may name a pid the kernel has since given to another
    // process (a test binary, say): only a PostgreSQL process is the postmaster, never signal another.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if !(comm.starts_with("postgres") || comm.starts_with("postmaster")) {
        return None;
    }
    // A killed postmaster nobody has reaped yet is a zombie: dead, though signals still reach it.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next())?;
    (state != "Z" && state != "X").then_some(pid)
}

/// Leaves no PostgreSQL behind after a test, whatever happened in it.
pub fn stop_embedded_cluster(state_dir: &Path) {
    if let Some(pid) = embedded_postmaster_pid(state_dir) {
        // SIGQUIT: immediate shutdown.
        signal(pid, nix::sys::signal::Signal::SIGQUIT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while embedded_postmaster_pid(state_dir).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs a workspace binary with arguments (no stdin, no inherited `HUNTER_*` settings) and captures its output.
fn run_binary(name: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(binary(name));
    cmd.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("HUNTER_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("run {name}: {e}"))
}

/// Runs a hunterd one-shot command (migrate, check-config, …) and captures its output.
pub fn hunterd_command(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    run_binary("hunterd", args, env)
}

/// Runs hunter-tui with arguments and captures its output.
pub fn tui_command(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    run_binary("hunter-tui", args, env)
}

/// Starts `hunter-tui` with `args` in the background (no stdin, no inherited socket), its output
/// captured: for commands a test acts around while they wait, such as `--wait` across a restart.
pub fn spawn_tui(args: &[&str]) -> Child {
    Command::new(binary("hunter-tui"))
        .args(args)
        .env_remove("HUNTER_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hunter-tui")
}

/// Settings that make a test daemon scan against `dns` only, with no WHOIS. The test server answers at
/// once; the generous timeout and the retry are for a loaded machine, where a late answer must not
/// turn into a `timeout` status.
pub fn scan_env(dns: &dns::DnsServer) -> Vec<(String, String)> {
    vec![
        ("HUNTER_SCAN__NAMESERVERS".into(), dns.nameserver()),
        ("HUNTER_SCAN__TIMEOUT_MS".into(), "5000".into()),
        ("HUNTER_SCAN__RETRIES".into(), "1".into()),
        ("HUNTER_WHOIS__ENABLED".into(), "false".into()),
    ]
}

impl Daemon {
    /// A daemon on `db` in `dir` that scans against the test DNS server `dns`.
    pub async fn start_scanning(db: &TestDb, dir: &Path, dns: &dns::DnsServer) -> Daemon {
        let mut options = DaemonOptions::in_dir(dir, Some(db.url.clone()));
        options.extra_env = scan_env(dns);
        Daemon::start(&options).await
    }
}

/// Polls a batch until every member is scanned, failing the test after `patience`.
pub async fn wait_for_batch(client: &Client, batch_id: &str, patience: Duration) {
    let deadline = Instant::now() + patience;
    loop {
        let request = protocol::Request::BatchProgress { batch_id: batch_id.into() };
        let Ok(protocol::Response::BatchProgress(p)) = client.request(request).await else {
            panic!("no progress for batch {batch_id}")
        };
        if p.done == p.total {
            return;
        }
        assert!(Instant::now() < deadline, "batch not done in {patience:?}: {}/{}", p.done, p.total);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (user+system CPU seconds, peak RSS in MiB) of a process, read from /proc (benchmarks' figures).
pub fn process_usage(pid: i32) -> (f64, f64) {
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let cpu = fields.get(11).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kb = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu / ticks, hwm_kb / 1024.0)
}
