//! The embedded default: a private PostgreSQL cluster under the state directory.
//!
//! It listens on a unix socket inside its own directory only (no TCP), is created by `initdb` on
//! first start, and is started and stopped with the daemon. If the daemon died without stopping it,
//! the next start adopts the still-running cluster (or cleans a stale pid file) instead of failing.
//!
//! PostgreSQL refuses to run as root. When hunterd is root, the cluster's processes run as the
//! `hunter` system account (created when missing), which owns the data directory.
//!
//! Nobody is trusted on the socket. The bootstrap superuser signs in by `peer` authentication, and
//! only from the daemon's own account or the cluster's; it is used at start to create the database
//! and the daemon's role. hunterd then works as that role, which owns the database and Hunter's
//! schema but is no superuser (so a hole in hunterd cannot run programs or read files through
//! PostgreSQL), and signs in with a password (SCRAM) kept in a file only the daemon's account reads.

use super::pg_bin;
use nix::unistd::{Gid, Uid, User, chown};
use sqlx::postgres::PgConnectOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use tokio::process::Command;

/// The cluster's bootstrap superuser (`peer` authentication only).
const SUPERUSER: &str = "hunter";
/// The role hunterd works as: owner of the database and its schema, not a superuser.
const DAEMON_ROLE: &str = "hunter_app";
const DB_NAME: &str = "hunter";
/// The daemon role's password, readable by the daemon's account only, in the cluster's root.
const PASSWORD_FILE: &str = "daemon.password";
/// The system account the cluster runs as when hunterd is root.
const ACCOUNT: &str = "hunter";
const PORT: u16 = 5432;
/// How long a dead postmaster's backends get to notice and exit before a restart gives up.
const LEFTOVER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found (looked in: {searched}). \
         Install the PostgreSQL server package (Debian/Ubuntu: `apt-get install postgresql`; \
         Fedora/RHEL: `dnf install postgresql-server`) or set database.url to an external server"
    )]
    NoBinaries { searched: String },
    #[error(
        "the embedded database in {data_dir} was created by PostgreSQL {data_version}, but only version(s) \
         {available} are installed: install PostgreSQL {data_version}'s server package, or dump and restore \
         the data with that version"
    )]
    VersionMismatch { data_dir: PathBuf, data_version: String, available: String },
    #[error(
        "hunterd runs as root and PostgreSQL refuses root, and the `hunter` system account it runs the \
         embedded database as could not be created ({why}): create it (systemd-sysusers with \
         systemd/hunter.sysusers.conf, or `useradd --system --user-group hunter`)"
    )]
    NoUnprivilegedUser { why: String },
    #[error(
        "the embedded PostgreSQL runs as `{user}` (PostgreSQL refuses root), which cannot enter {dir}: \
         make it searchable (`chmod o+x {dir}`) or choose a --state-dir such as /var/lib/hunter"
    )]
    Unreachable { user: String, dir: PathBuf },
    #[error(
        "the embedded database socket path {path} is longer than the {MAX_SOCKET_PATH} bytes unix sockets \
         allow: choose a shorter --state-dir"
    )]
    SocketPathTooLong { path: PathBuf },
    #[error(
        "processes of the previous embedded PostgreSQL (pids {pids}) are still running in {data_dir} \
         {} s after it died; a new one must not start beside them", LEFTOVER_PATIENCE.as_secs()
    )]
    Leftovers { data_dir: PathBuf, pids: String },
    #[error(
        "the embedded database lets its superuser in by peer authentication, which needs the name of \
         hunterd's account (uid {uid}), and /etc/passwd has none: run hunterd as a named account"
    )]
    NamelessAccount { uid: u32 },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{what} failed ({status}){log}")]
    Command { what: String, status: String, log: String },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EmbeddedError + 'a {
    move |source| EmbeddedError::Io { what, path: path.to_path_buf(), source }
}

/// The account the cluster's processes run under when hunterd is root.
#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
}

#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    root: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<RunAs>,
}

impl EmbeddedCluster {
    /// Finds the PostgreSQL binaries (matching an existing cluster's version) and the account to use.
    pub fn locate(root: &Path) -> Result<EmbeddedCluster, EmbeddedError> {
        let data_version = std::fs::read_to_string(root.join("data").join("PG_VERSION")).ok();
        let bin_dir = find_bin_dir(data_version.as_deref().map(str::trim), &root.join("data"))?;
        let run_as = if Uid::effective().is_root() { Some(unprivileged_account()?) } else { None };
        Ok(EmbeddedCluster { root: root.to_path_buf(), bin_dir, run_as })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// The PostgreSQL binaries that run this cluster; their client tools (pg_dump, psql) match it.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// How hunterd reaches the cluster: its private socket, as the daemon role, with the password
    /// [`Self::start`] keeps in the password file (none if that file cannot be read: the sign-in
    /// then fails with PostgreSQL's own message).
    pub fn connect_options(&self) -> PgConnectOptions {
        let options = self.superuser_options().username(DAEMON_ROLE);
        match self.daemon_password() {
            Some(password) => options.password(&password),
            None => options,
        }
    }

    /// The daemon role's password, from the password file.
    pub fn daemon_password(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.password_file()).ok()?;
        Some(text.trim().to_string()).filter(|p| !p.is_empty())
    }

    fn password_file(&self) -> PathBuf {
        self.root.join(PASSWORD_FILE)
    }

    /// The bootstrap superuser: `peer` authentication, so only from the daemon's account.
    fn superuser_options(&self) -> PgConnectOptions {
        PgConnectOptions::new().socket(self.socket_dir()).port(PORT).username(SUPERUSER).database(DB_NAME)
    }

    /// Creates the cluster if needed and makes sure it is running, adopting one left by a crash.
    pub async fn start(&self) -> Result<(), EmbeddedError> {
        let socket_file = self.socket_dir().join(format!(".s.PGSQL.{PORT}"));
        if socket_file.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(EmbeddedError::SocketPathTooLong { path: socket_file });
        }
        self.prepare_dirs()?;
        if !self.data_dir().join("PG_VERSION").exists() {
            self.initdb().await?;
        }
        self.write_settings()?;
        if self.is_running().await {
            tracing::info!("adopting the embedded PostgreSQL already running in {}", self.data_dir().display());
        } else {
            self.wait_for_leftovers().await?;
            self.remove_stale_lock_files();
            self.pg_ctl_start().await?;
        }
        self.ensure_database().await
    }

    /// Stops the cluster (fast shutdown: sessions are ended, data is safe).
    pub async fn stop(&self) -> Result<(), EmbeddedError> {
        if !self.is_running().await {
            return Ok(());
        }
        let data = self.data_dir();
        let out = self
            .pg_command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "-w", "-t", "60"])
            .output()
            .await;
        self.check("pg_ctl stop", out)
    }

    /// `pg_ctl status` would call a killed postmaster that is not yet reaped running, and a start
    /// would then adopt a corpse: [`Self::postmaster_pid`] knows better.
    async fn is_running(&self) -> bool {
        self.postmaster_pid().is_some()
    }

    fn prepare_dirs(&self) -> Result<(), EmbeddedError> {
        self.take_over_from_another_account()?;
        // With a separate account, the root must be enterable (not listable) by it.
        let root_mode = if self.run_as.is_some() { 0o711 } else { 0o700 };
        create_dir_with_mode(&self.root, root_mode)?;
        for dir in [self.data_dir(), self.socket_dir()] {
            create_dir_with_mode(&dir, 0o700)?;
            if let Some(account) = &self.run_as {
                chown(&dir, Some(account.uid), Some(account.gid)).map_err(|e| EmbeddedError::Io {
                    what: "cannot hand over",
                    path: dir.clone(),
                    source: e.into(),
                })?;
            }
        }
        if let Some(account) = &self.run_as {
            if let Some(dir) = first_unsearchable_ancestor(&self.data_dir(), account.uid, account.gid) {
                return Err(EmbeddedError::Unreachable { user: account.name.clone(), dir });
            }
            // The log file is written by the cluster's account.
            let log = self.log_file();
            if !log.exists() {
                std::fs::write(&log, b"").map_err(io_err("cannot create", &log))?;
            }
            let _ = chown(&log, Some(account.uid), Some(account.gid));
        }
        Ok(())
    }

    /// A stopped cluster that another account owns (an older hunterd ran it as `nobody`) is handed
    /// to this cluster's account, files and all, so it starts as that account with its data.
    fn take_over_from_another_account(&self) -> Result<(), EmbeddedError> {
        let Some(account) = &self.run_as else { return Ok(()) };
        let data = self.data_dir();
        let Ok(meta) = std::fs::metadata(&data) else { return Ok(()) };
        if meta.uid() == account.uid.as_raw() || self.postmaster_pid().is_some() {
            return Ok(());
        }
        tracing::warn!(
            "the embedded PostgreSQL in {} belongs to uid {}: handing it to the `{}` account",
            self.root.display(),
            meta.uid(),
            account.name
        );
        for path in [data, self.socket_dir(), self.log_file()] {
            if path.exists() {
                chown_tree(&path, account).map_err(io_err("cannot hand over", &path))?;
            }
        }
        Ok(())
    }

    async fn initdb(&self) -> Result<(), EmbeddedError> {
        let data = self.data_dir();
        // A crash during a previous initdb leaves a partial directory that initdb would refuse.
        clear_dir(&data)?;
        tracing::info!("creating the embedded PostgreSQL cluster in {}", data.display());
        let out = self
            .pg_command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth-local=peer", "--auth-host=reject", "-E", "UTF8", "--locale=C"])
            .arg("--no-instructions")
            .output()
            .await;
        self.check("initdb", out)?;
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(io_err("cannot read", &conf))?;
        text.push_str("\n# Settings owned by hunterd, rewritten at every start.\ninclude_if_exists = 'hunter.conf'\n");
        std::fs::write(&conf, text).map_err(io_err("cannot write", &conf))
    }

    /// Socket-only, private settings; rewritten at each start so a moved state dir keeps working.
    fn write_settings(&self) -> Result<(), EmbeddedError> {
        let path = self.data_dir().join("hunter.conf");
        let socket_dir = self.socket_dir().display().to_string().replace('\'', "''");
        let text = format!(
            "# Written by hunterd at every start; edits are lost.\n\
             listen_addresses = ''\n\
             port = {PORT}\n\
             unix_socket_directories = '{socket_dir}'\n\
             unix_socket_permissions = 0700\n\
             max_connections = 100\n\
             password_encryption = 'scram-sha-256'\n\
             jit = off\n\
             logging_collector = off\n"
        );
        self.write_owned_by_cluster(&path, &text)?;
        let (hba, ident) = self.authentication()?;
        self.write_owned_by_cluster(&self.data_dir().join("pg_hba.conf"), &hba)?;
        self.write_owned_by_cluster(&self.data_dir().join("pg_ident.conf"), &ident)
    }

    /// `pg_hba.conf` and `pg_ident.conf`: no trust, no TCP; the superuser by `peer` from the daemon's
    /// account (and the cluster's), the daemon role by SCRAM password.
    fn authentication(&self) -> Result<(String, String), EmbeddedError> {
        let uid = Uid::effective();
        let daemon_account =
            User::from_uid(uid).ok().flatten().ok_or(EmbeddedError::NamelessAccount { uid: uid.as_raw() })?;
        let hba = format!(
            "# Written by hunterd at every start; edits are lost.\n\
             # TYPE  DATABASE  USER           METHOD\n\
             local   all       {SUPERUSER:<14} peer map=hunterd\n\
             local   all       {DAEMON_ROLE:<14} scram-sha-256\n"
        );
        let mut ident = format!(
            "# Written by hunterd at every start; edits are lost.\n\
             # MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n\
             hunterd    {:<16} {SUPERUSER}\n",
            daemon_account.name
        );
        if let Some(account) = self.run_as.as_ref().filter(|a| a.name != daemon_account.name) {
            ident.push_str(&format!("hunterd    {:<16} {SUPERUSER}\n", account.name));
        }
        Ok((hba, ident))
    }

    fn write_owned_by_cluster(&self, path: &Path, text: &str) -> Result<(), EmbeddedError> {
        std::fs::write(path, text).map_err(io_err("cannot write", path))?;
        if let Some(account) = &self.run_as {
            let _ = chown(path, Some(account.uid), Some(account.gid));
        }
        Ok(())
    }

    async fn pg_ctl_start(&self) -> Result<(), EmbeddedError> {
        let (data, log) = (self.data_dir(), self.log_file());
        let out = self
            .pg_command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-s"])
            .output()
            .await;
        self.check("pg_ctl start", out)
    }

    /// The running postmaster's pid: `postmaster.pid` names a live PostgreSQL process. Cheap
    /// (no process spawned), so the supervisor can ask often.
    pub fn postmaster_pid(&self) -> Option<u32> {
        live_postgres_named_in(&self.data_dir().join("postmaster.pid"))
    }

    /// A killed postmaster's backends linger until they notice, and a new postmaster must not start
    /// beside them (PostgreSQL checks that itself, except when it cannot see the old postmaster
    /// died: see [`Self::remove_stale_lock_files`]). Waits until none is left.
    async fn wait_for_leftovers(&self) -> Result<(), EmbeddedError> {
        let data = self.data_dir();
        let deadline = std::time::Instant::now() + LEFTOVER_PATIENCE;
        loop {
            let left = live_processes_in(&data);
            if left.is_empty() {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(EmbeddedError::Leftovers { data_dir: data, pids: format!("{left:?}") });
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// `postmaster.pid` and the socket's lock file name the postmaster that wrote them. Once it is
    /// gone — or a zombie nobody has reaped yet, which PostgreSQL takes for alive and so refuses to
    /// start — and none of its processes is left, they only block a start.
    fn remove_stale_lock_files(&self) {
        let socket_lock = self.socket_dir().join(format!(".s.PGSQL.{PORT}.lock"));
        for lock in [self.data_dir().join("postmaster.pid"), socket_lock] {
            if lock.exists() && live_postgres_named_in(&lock).is_none() {
                tracing::warn!("removing stale {} (its process is gone)", lock.display());
                let _ = std::fs::remove_file(&lock);
            }
        }
    }

    /// As the superuser: the configuration just written applies (a cluster adopted or made by an
    /// older hunterd that trusted every local connection stops doing so now), the daemon role
    /// exists with the password in the password file, and it owns the database and every object of
    /// Hunter's schema (an older hunterd made them as the superuser). Idempotent, every start.
    async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        use sqlx::{ConnectOptions, Connection};
        let fail = |e: sqlx::Error| EmbeddedError::Command {
            what: "preparing the hunter database and its role".into(),
            status: e.to_string(),
            log: String::new(),
        };
        let password = self.ensure_password_file()?;
        let mut conn = self.superuser_options().database("postgres").connect().await.map_err(fail)?;
        sqlx::query("SELECT pg_reload_conf()").execute(&mut conn).await.map_err(fail)?;
        let role_exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(DAEMON_ROLE)
            .fetch_one(&mut conn)
            .await
            .map_err(fail)?;
        // The password is hex (see ensure_password_file): nothing in it needs quoting.
        let verb = if role_exists { "ALTER" } else { "CREATE" };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{verb} ROLE {DAEMON_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD '{password}'"
        )))
        .execute(&mut conn)
        .await
        .map_err(fail)?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DB_NAME)
            .fetch_one(&mut conn)
            .await
            .map_err(fail)?;
        if !exists {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DB_NAME} OWNER {DAEMON_ROLE}")))
                .execute(&mut conn)
                .await
                .map_err(fail)?;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {DB_NAME} OWNER TO {DAEMON_ROLE}")))
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        conn.close().await.map_err(fail)?;

        let mut conn = self.superuser_options().connect().await.map_err(fail)?;
        sqlx::query(HAND_SCHEMA_TO_DAEMON_ROLE).execute(&mut conn).await.map_err(fail)?;
        conn.close().await.map_err(fail)
    }

    /// The daemon role's password: read from the password file, or made (random, hex) and written
    /// there, private to the daemon's account. Never on a command line or in a log.
    fn ensure_password_file(&self) -> Result<String, EmbeddedError> {
        if let Some(password) = self.daemon_password() {
            return Ok(password);
        }
        let path = self.password_file();
        let password = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let temp = path.with_extension("new");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io_err("cannot create", &temp))?;
        std::io::Write::write_all(&mut file, password.as_bytes()).map_err(io_err("cannot write", &temp))?;
        std::fs::rename(&temp, &path).map_err(io_err("cannot write", &path))?;
        Ok(password)
    }

    /// A PostgreSQL tool, run as the cluster's account, from a directory that account can enter.
    fn pg_command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(tool));
        cmd.current_dir(&self.root).env_remove("PGDATA").env("LC_ALL", "C").kill_on_drop(false);
        if let Some(account) = &self.run_as {
            cmd.uid(account.uid.as_raw()).gid(account.gid.as_raw());
        }
        cmd
    }

    fn check(&self, what: &str, out: std::io::Result<Output>) -> Result<(), EmbeddedError> {
        let out = out.map_err(|e| EmbeddedError::Command {
            what: what.to_string(),
            status: e.to_string(),
            log: String::new(),
        })?;
        if out.status.success() {
            return Ok(());
        }
        let mut log = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let server_log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let tail: Vec<&str> = server_log.lines().rev().take(10).collect();
        if !tail.is_empty() {
            log.push_str(&format!("\nlast lines of {}:\n", self.log_file().display()));
            log.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        Err(EmbeddedError::Command {
            what: what.to_string(),
            status: out.status.to_string(),
            log: if log.is_empty() { String::new() } else { format!(": {log}") },
        })
    }
}

/// Gives the daemon role the public schema and every table, view and function in it that another
/// role owns (sequences and indexes follow their tables). Run as the superuser.
const HAND_SCHEMA_TO_DAEMON_ROLE: &str = "
DO $$
DECLARE r record;
BEGIN
  EXECUTE 'ALTER SCHEMA public OWNER TO hunter_app';
  FOR r IN SELECT c.oid::regclass AS name,
                  CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
              AND c.relowner <> 'hunter_app'::regrole
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                 AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO hunter_app', r.kind, r.name);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS name
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relowner <> 'hunter_app'::regrole
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                 AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
  LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO hunter_app', r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.proowner <> 'hunter_app'::regrole
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                 AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO hunter_app', r.name);
  END LOOP;
END
$$";

/// The live (not zombie) PostgreSQL process whose pid is the first line of a lock file.
fn live_postgres_named_in(lock_file: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(lock_file).ok()?;
    let pid = text.lines().next().and_then(|l| l.trim().parse::<u32>().ok())?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let postgres = comm.trim().starts_with("postgres") || comm.trim().starts_with("postmaster");
    (postgres && !is_zombie(&stat)).then_some(pid)
}

/// Live processes working in `dir` (every PostgreSQL process of a cluster has its data directory
/// as working directory).
fn live_processes_in(dir: &Path) -> Vec<u32> {
    let Ok(dir) = dir.canonicalize() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir))
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !is_zombie(&stat)))
        .collect()
}

/// A killed postmaster stays a zombie until whoever adopted it reaps it (a container's first process
/// may take its time): it is dead all the same, and its cluster needs restarting now.
fn is_zombie(proc_stat: &str) -> bool {
    // "pid (comm) S …": the state follows the last parenthesis (comm may hold any character).
    proc_stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|s| s == "Z" || s == "X")
}

/// The account the cluster runs as when hunterd is root: `hunter`, created as a system account (as
/// the package's sysusers.d file would) when missing. Never a shared account such as `nobody`: any
/// other process running as it could read and write the leads.
fn unprivileged_account() -> Result<RunAs, EmbeddedError> {
    if let Some(account) = account_named(ACCOUNT) {
        return Ok(account);
    }
    tracing::info!("creating the `{ACCOUNT}` system account for the embedded PostgreSQL");
    // Several daemons starting at once race for /etc/passwd's lock: whoever loses looks again.
    let mut why = String::new();
    for _ in 0..50 {
        let created = std::process::Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home", "--home-dir", "/var/lib/hunter"])
            .args(["--shell", "/usr/sbin/nologin", "--comment", "Hunter lead-intelligence daemon", ACCOUNT])
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output();
        if let Some(account) = account_named(ACCOUNT) {
            return Ok(account);
        }
        why = match created {
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
            Err(e) => return Err(EmbeddedError::NoUnprivilegedUser { why: format!("cannot run useradd: {e}") }),
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(EmbeddedError::NoUnprivilegedUser { why })
}

fn account_named(name: &str) -> Option<RunAs> {
    let user = User::from_name(name).ok().flatten()?;
    Some(RunAs { name: name.to_string(), uid: user.uid, gid: user.gid })
}

/// Hands `path` and everything under it to `account` (a cluster an older hunterd ran as `nobody`).
fn chown_tree(path: &Path, account: &RunAs) -> std::io::Result<()> {
    let own = |p: &Path| {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            p,
            Some(account.uid),
            Some(account.gid),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(std::io::Error::from)
    };
    own(path)?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), account)?;
        }
    }
    Ok(())
}

fn create_dir_with_mode(dir: &Path, mode: u32) -> Result<(), EmbeddedError> {
    std::fs::create_dir_all(dir).map_err(io_err("cannot create", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(io_err("cannot set permissions on", dir))
}

fn clear_dir(dir: &Path) -> Result<(), EmbeddedError> {
    for entry in std::fs::read_dir(dir).map_err(io_err("cannot read", dir))? {
        let path = entry.map_err(io_err("cannot read", dir))?.path();
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.map_err(io_err("cannot remove", &path))?;
    }
    Ok(())
}

/// The first directory above `path` that `uid`/`gid` may not search (ignoring ACLs).
fn first_unsearchable_ancestor(path: &Path, uid: Uid, gid: Gid) -> Option<PathBuf> {
    path.ancestors().skip(1).find_map(|dir| {
        let meta = std::fs::metadata(dir).ok()?;
        let mode = meta.mode();
        let searchable = if meta.uid() == uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        (!searchable).then(|| dir.to_path_buf())
    })
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"].iter().all(|b| dir.join(b).is_file())
}

fn find_bin_dir(data_version: Option<&str>, data_dir: &Path) -> Result<PathBuf, EmbeddedError> {
    let candidates: Vec<PathBuf> = pg_bin::candidate_bin_dirs();
    let usable: Vec<&PathBuf> = candidates.iter().filter(|d| has_server_binaries(d)).collect();
    if usable.is_empty() {
        let searched = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
        return Err(EmbeddedError::NoBinaries { searched });
    }
    let Some(wanted) = data_version else { return Ok(usable[0].clone()) };
    let mut available = Vec::new();
    for dir in &usable {
        match pg_bin::program_major(&dir.join("pg_ctl").display().to_string()).map(|m| m.to_string()) {
            Some(v) if v == wanted => return Ok((*dir).clone()),
            Some(v) => available.push(v),
            None => {}
        }
    }
    available.dedup();
    Err(EmbeddedError::VersionMismatch {
        data_dir: data_dir.to_path_buf(),
        data_version: wanted.to_string(),
        available: available.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_postmaster_is_dead() {
        assert!(is_zombie("4242 (postgres) Z 1 4242 4242 0 -1"));
        assert!(is_zombie("4242 (odd) name)) X 1"));
        assert!(!is_zombie("4242 (postgres) S 1 4242 4242 0 -1"));
        assert!(!is_zombie(""));
    }

    #[test]
    fn a_private_directory_is_reported_as_unsearchable_for_another_account() {
        let outer = tempfile::tempdir().unwrap();
        std::fs::set_permissions(outer.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let inner = outer.path().join("state/postgres/data");
        // uid/gid that own nothing here.
        let found = first_unsearchable_ancestor(&inner, Uid::from_raw(65534), Gid::from_raw(65534));
        assert_eq!(found, Some(outer.path().to_path_buf()));
    }

    #[test]
    fn a_world_searchable_path_is_fine_for_another_account() {
        let outer = tempfile::tempdir().unwrap();
        std::fs::set_permissions(outer.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let inner = outer.path().join("data");
        std::fs::create_dir(&inner).unwrap();
        assert_eq!(first_unsearchable_ancestor(&inner.join("x"), Uid::from_raw(65534), Gid::from_raw(65534)), None);
    }
}
