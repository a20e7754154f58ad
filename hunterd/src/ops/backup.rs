//! `hunterd backup FILE` and `hunterd restore FILE [--force]`.
//!
//! Both use PostgreSQL's own tools (pg_dump, pg_restore, psql) so that every server version and both
//! database modes behave alike. Backups are pg_dump custom-format archives of one consistent
//! snapshot, written through a private temporary file so a failure never leaves a truncated FILE.
//! SIGINT, SIGTERM and SIGHUP stop a backup and remove that file; one a SIGKILL or a crash left
//! behind (`.FILE.<id>.tmp`, locked while written) is removed by the next backup to FILE.
//! Restores replay the archive with psql in a single transaction, rolled back on any error, so a
//! failed restore loses nothing that was stored; pending migrations then upgrade an older backup.
//!
//! Passwords never reach a command line (visible to every local user in `ps`) or a log: the tools
//! get host, port, user and database as arguments and the password in their own environment only.

use crate::config::{Config, Secret};
use crate::db::{Database, DbHandle, EmbeddedCluster, EmbeddedError, MIGRATOR, pg_bin};
use crate::ops::archive::{self, ArchiveHeader};
use crate::ops::{CommandDb, open_database};
use crate::paths::Paths;
use nix::fcntl::{Flock, FlockArg};
use sqlx::PgConnection;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// What `backup` and `restore` can fail with; each message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("invalid database.url: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error(
        "{tool} of PostgreSQL {wanted} or newer not found (looked in: {searched}): install PostgreSQL {wanted}'s \
         client tools (Debian/Ubuntu: `apt-get install postgresql-client-{wanted}`; Fedora/RHEL: `dnf install postgresql`)"
    )]
    NoTools { tool: &'static str, wanted: u32, searched: String },
    // Causes are part of the message (not `source`), so `{:#}` does not print them twice.
    #[error("cannot run {tool}: {cause}")]
    Spawn { tool: String, cause: std::io::Error },
    #[error("{what} {}: {cause}", .path.display())]
    Io { what: &'static str, path: PathBuf, cause: std::io::Error },
    #[error("cannot write a backup to {}: {reason}", .file.display())]
    BadTarget { file: PathBuf, reason: String },
    #[error(
        "interrupted by {signal}: no backup was written to {}, and its temporary file was removed", .file.display()
    )]
    Interrupted { signal: &'static str, file: PathBuf },
    #[error("pg_dump failed ({status}), so no backup was written to {}{detail}", .file.display())]
    Dump { file: PathBuf, status: String, detail: String },
    #[error("cannot read {}: {cause}", .file.display())]
    Unreadable { file: PathBuf, cause: std::io::Error },
    #[error(
        "{} is not a backup hunterd can restore: expected a pg_dump archive in custom format, as \
         `hunterd backup` writes{detail}", .file.display()
    )]
    NotAnArchive { file: PathBuf, detail: String },
    #[error("hunterd (pid {pid}) is using {}: stop hunterd (pid {pid}) first, then restore", .state_dir.display())]
    DaemonRunning { pid: String, state_dir: PathBuf },
    #[error("hunterd is connected to {location} ({daemons}): stop every hunterd using it first, then restore")]
    DaemonConnected { location: String, daemons: String },
    #[error(
        "the database at {location} already holds Hunter data ({companies}): restore only fills an empty \
         database; pass --force to replace all of it with {}", .file.display()
    )]
    NotEmpty { location: String, companies: String, file: PathBuf },
    #[error(
        "{} comes from a newer hunterd: it has migration(s) {versions}, which this hunterd ({build}) does not \
         know; install a hunterd at least as new as the one that wrote it, then restore", .file.display()
    )]
    NewerBackup { file: PathBuf, versions: String, build: &'static str },
    #[error(
        "{} was made by PostgreSQL {made_by}, this server is {server} ({location}): restore it into a \
         PostgreSQL {made_by} or newer server (or upgrade this one); nothing was changed", .file.display()
    )]
    NewerPostgres { file: PathBuf, made_by: u32, server: u32, location: String },
    #[error("restoring {} failed, and nothing in the database at {location} was changed{detail}", .file.display())]
    Restore { file: PathBuf, location: String, detail: String },
    #[error(
        "restored {}, but upgrading it to this hunterd's schema failed: {cause}; see `hunterd migrate status`",
        .file.display()
    )]
    Upgrade { file: PathBuf, cause: sqlx::migrate::MigrateError },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// `hunterd backup FILE`: prints one line saying what was backed up, where, and how big it is.
pub async fn backup(config: &Config, paths: &Paths, file: &Path) -> anyhow::Result<()> {
    check_backup_target(file)?;
    // Listening from the start: a signal that arrives while the database opens stops the backup
    // as soon as it is open.
    let interrupted = interruption()?;
    let command_db = open_database(config, paths).await?;
    // A signal drops the backup half-way: its temporary file is removed and pg_dump killed (see
    // `write_atomically`); then the database is closed as usual.
    let result = tokio::select! {
        result = backup_with(&command_db, config, paths, file) => result,
        signal = interrupted => Err(BackupError::Interrupted { signal, file: file.to_path_buf() }),
    };
    command_db.close().await;
    println!("{}", result?);
    Ok(())
}

/// `hunterd restore FILE [--force]`: prints one line saying what was restored.
pub async fn restore(config: &Config, paths: &Paths, file: &Path, force: bool) -> anyhow::Result<()> {
    check_restore_source(file)?;
    let command_db = open_database(config, paths).await?;
    let result = match &command_db.daemon_pid {
        Some(pid) => Err(BackupError::DaemonRunning { pid: pid.clone(), state_dir: paths.state_dir.clone() }),
        None => match super::connected_daemons(&command_db.db.handle.pool).await {
            Ok(daemons) if !daemons.is_empty() => Err(BackupError::DaemonConnected {
                location: command_db.db.handle.location.clone(),
                daemons: daemons.join(", "),
            }),
            Ok(_) => restore_with(&command_db, config, paths, file, force).await,
            Err(e) => Err(e.into()),
        },
    };
    command_db.close().await;
    println!("{}", result?);
    Ok(())
}

async fn backup_with(
    command_db: &CommandDb,
    config: &Config,
    paths: &Paths,
    file: &Path,
) -> Result<String, BackupError> {
    let handle = &command_db.db.handle;
    let (target, bin_dir) = connection(config, paths, &command_db.db)?;
    let tools = find_tools(server_major(&handle.pool).await?, bin_dir.as_deref(), &["pg_dump"])?;
    // One snapshot for pg_dump and for the counts we print, so the line describes the file exactly.
    let mut tx = handle.pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(&mut *tx).await?;
    let (schema_version, companies) = summary(&mut tx).await?;
    let (args, env) = tool_connection(&target);
    let size = write_atomically(file, |out| async move {
        let mut cmd = tools.command("pg_dump");
        cmd.args(["--format=custom", "--no-password"])
            .arg(format!("--snapshot={snapshot}"))
            .args(&args)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|cause| BackupError::Spawn { tool: tools.program("pg_dump"), cause })?;
        let output = child
            .wait_with_output()
            .await
            .map_err(|cause| BackupError::Spawn { tool: tools.program("pg_dump"), cause })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(BackupError::Dump {
                file: file.to_path_buf(),
                status: output.status.to_string(),
                detail: detail(&output.stderr),
            })
        }
    })
    .await;
    tx.rollback().await.ok();
    let size = size?;
    Ok(format!(
        "backed up {} (schema version {schema_version}, {}) to {} ({})",
        handle.location,
        count_companies(companies),
        file.display(),
        human_size(size)
    ))
}

async fn restore_with(
    command_db: &CommandDb,
    config: &Config,
    paths: &Paths,
    file: &Path,
    force: bool,
) -> Result<String, BackupError> {
    let handle = &command_db.db.handle;
    let (target, bin_dir) = connection(config, paths, &command_db.db)?;
    let server = server_major(&handle.pool).await?;
    // Unreadable here: pg_restore judges the file (and says why it is not an archive).
    let header = read_archive_header(file).ok();
    let made_by = header.as_ref().and_then(|h| h.dumped_from.as_deref()).and_then(archive::major_version);
    if let Some(made_by) = made_by.filter(|made_by| *made_by > server && server > 0) {
        return Err(BackupError::NewerPostgres {
            file: file.to_path_buf(),
            made_by,
            server,
            location: handle.location.clone(),
        });
    }
    // pg_restore must be at least as new as the pg_dump that wrote the archive.
    let dumped_by = header.as_ref().and_then(|h| h.dumped_by.as_deref()).and_then(archive::major_version);
    let tools = find_tools(server.max(dumped_by.unwrap_or(0)), bin_dir.as_deref(), &["pg_restore", "psql"])?;
    let recorded = check_archive(&tools, file).await?;
    let prelude = clearing_prelude(handle, file, force).await?;
    replay(&tools, &target, file, &prelude).await.map_err(|detail| BackupError::Restore {
        file: file.to_path_buf(),
        location: handle.location.clone(),
        detail,
    })?;
    upgrade(handle, file).await?;
    let mut conn = handle.pool.acquire().await?;
    let (schema_version, companies) = summary(&mut conn).await?;
    let upgraded = match recorded.iter().max() {
        Some(&from) if from < schema_version => format!(", upgraded from schema version {from}"),
        _ => String::new(),
    };
    Ok(format!(
        "restored {} into {} (schema version {schema_version}{upgraded}, {})",
        file.display(),
        handle.location,
        count_companies(companies)
    ))
}

/// The header of the archive `file` (its first [`archive::HEADER_READ_LIMIT`] bytes at most).
fn read_archive_header(file: &Path) -> std::io::Result<ArchiveHeader> {
    let mut start = Vec::new();
    File::open(file)?.take(archive::HEADER_READ_LIMIT as u64).read_to_end(&mut start)?;
    archive::read_header(&start).map_err(std::io::Error::other)
}

/// Resolves with the name of the first SIGINT (Ctrl-C), SIGTERM (kill, systemd) or SIGHUP (the
/// SSH session went away) received from now on.
fn interruption() -> Result<impl Future<Output = &'static str>, BackupError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|cause| BackupError::Io { what: "cannot listen for", path: PathBuf::from(name), cause })
    };
    let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
    let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut hup = listen(SignalKind::hangup(), "SIGHUP")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        }
    })
}

/// Checks that `file` is an archive and refuses a backup from a newer hunterd before anything is
/// touched. Returns the migrations the backup had applied.
async fn check_archive(tools: &Tools, file: &Path) -> Result<Vec<i64>, BackupError> {
    let not_an_archive = |detail: String| BackupError::NotAnArchive { file: file.to_path_buf(), detail };
    let list = run_tool(tools, "pg_restore", |cmd| {
        cmd.arg("--list").arg(file);
    })
    .await?;
    if !list.status.success() {
        return Err(not_an_archive(detail(&list.stderr)));
    }
    let recorded = run_tool(tools, "pg_restore", |cmd| {
        cmd.args(["--data-only", "--table=_sqlx_migrations", "--file=-"]).arg(file);
    })
    .await?;
    if !recorded.status.success() {
        return Err(not_an_archive(detail(&recorded.stderr)));
    }
    let recorded = recorded_migrations(&String::from_utf8_lossy(&recorded.stdout));
    let unknown: Vec<String> =
        recorded.iter().filter(|v| !MIGRATOR.iter().any(|m| m.version == **v)).map(i64::to_string).collect();
    if !unknown.is_empty() {
        return Err(BackupError::NewerBackup {
            file: file.to_path_buf(),
            versions: unknown.join(", "),
            build: protocol::BUILD_VERSION,
        });
    }
    Ok(recorded)
}

/// What the restore's transaction runs first to clear what is there: refused unless the database
/// is empty or `force`. Hunter's schema goes through its down migrations (so nothing else in schema
/// public is touched, and anything that depends on Hunter's tables makes the restore fail instead of
/// disappearing), then the migrations table.
async fn clearing_prelude(handle: &DbHandle, file: &Path, force: bool) -> Result<String, BackupError> {
    let mut conn = handle.pool.acquire().await?;
    let hunter_tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if hunter_tables > 0 && !force {
        let companies = if table_exists(&mut conn, "companies").await? {
            count_companies(sqlx::query_scalar("SELECT count(*) FROM public.companies").fetch_one(&mut *conn).await?)
        } else {
            format!("{hunter_tables} tables")
        };
        return Err(BackupError::NotEmpty { location: handle.location.clone(), companies, file: file.to_path_buf() });
    }
    let applied: Vec<i64> = if table_exists(&mut conn, "_sqlx_migrations").await? {
        sqlx::query_scalar("SELECT version FROM public._sqlx_migrations WHERE success ORDER BY version DESC")
            .fetch_all(&mut *conn)
            .await?
    } else {
        Vec::new()
    };
    let mut prelude = String::new();
    if hunter_tables > 0 {
        for version in &applied {
            let down = MIGRATOR
                .iter()
                .find(|m| m.version == *version && m.migration_type.is_down_migration())
                .ok_or_else(|| BackupError::Restore {
                    file: file.to_path_buf(),
                    location: handle.location.clone(),
                    detail: format!(": migration {version} has no down script to clear it with"),
                })?;
            prelude.push_str(down.sql.as_str());
            prelude.push_str("\n;\n");
        }
    }
    prelude.push_str("DROP TABLE IF EXISTS public._sqlx_migrations;\n");
    Ok(prelude)
}

/// Brings a restored older schema up to this hunterd's; a backup with migrations this hunterd does
/// not know is a newer backup.
async fn upgrade(handle: &DbHandle, file: &Path) -> Result<(), BackupError> {
    match MIGRATOR.run(&handle.pool).await {
        Ok(()) => Ok(()),
        Err(sqlx::migrate::MigrateError::VersionMissing(v)) => Err(BackupError::NewerBackup {
            file: file.to_path_buf(),
            versions: v.to_string(),
            build: protocol::BUILD_VERSION,
        }),
        Err(cause) => Err(BackupError::Upgrade { file: file.to_path_buf(), cause }),
    }
}

/// Replays the archive as SQL in one transaction, after `prelude` (which clears what is there). The
/// transaction is opened and committed by us, not by psql: `COMMIT` is sent only after pg_restore
/// produced the whole script, so if anything fails — or hunterd is killed half-way, which ends
/// psql's input — psql disconnects with the transaction open and PostgreSQL rolls it all back.
/// Returns what went wrong, for the error.
async fn replay(tools: &Tools, target: &PgTarget, file: &Path, prelude: &str) -> Result<(), String> {
    let spawn_failed = |tool: &str, e: std::io::Error| format!(": cannot run {}: {e}", tools.program(tool));
    let mut restore = tools.command("pg_restore");
    restore
        .args(["--no-owner", "--no-privileges", "--file=-"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut restore = restore.spawn().map_err(|e| spawn_failed("pg_restore", e))?;

    let (args, env) = tool_connection(target);
    let mut psql = tools.command("psql");
    psql.args(["--no-psqlrc", "--quiet", "--no-password"])
        .args(["--set=ON_ERROR_STOP=1", "--set=VERBOSITY=terse"])
        .args(&args)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    psql.arg("--file=-");
    let mut psql = psql.spawn().map_err(|e| spawn_failed("psql", e))?;

    let restore_err = drain_in_background(restore.stderr.take());
    let psql_err = drain_in_background(psql.stderr.take());
    let (Some(mut script), Some(mut sink)) = (restore.stdout.take(), psql.stdin.take()) else {
        return Err(": cannot connect pg_restore to psql".into());
    };
    // psql may stop early (on an error); its exit status explains that better than the broken pipe.
    let begun = sink.write_all(format!("BEGIN;\n{prelude}").as_bytes()).await;
    let copied = match begun {
        Ok(()) => tokio::io::copy(&mut script, &mut sink).await.map(|_| ()),
        Err(e) => Err(e),
    };
    drop(script);
    let restore_status = restore.wait().await;
    let restore_err = restore_err.await.unwrap_or_default();
    let mut script_complete = copied.is_ok() && restore_status.as_ref().is_ok_and(ExitStatus::success);
    if script_complete {
        script_complete = sink.write_all(b"\nCOMMIT;\n").await.is_ok();
    }
    if script_complete {
        drop(sink); // end of input after COMMIT: psql exits
    } else {
        let _ = psql.start_kill();
        drop(sink);
    }
    let psql_status = psql.wait().await;
    let psql_err = psql_err.await.unwrap_or_default();
    match psql_status {
        Ok(status) if status.success() && script_complete => Ok(()),
        Ok(status) if !status.success() && !psql_err.trim_ascii().is_empty() => Err(detail(&psql_err)),
        _ => match restore_status {
            Ok(status) if !status.success() => Err(format!(" (pg_restore {status}){}", detail(&restore_err))),
            Err(e) => Err(format!(": pg_restore: {e}")),
            Ok(_) => Err(format!(" (psql stopped){}", detail(&psql_err))),
        },
    }
}

/// Reads a child's stderr in the background so a chatty tool cannot block on a full pipe.
fn drain_in_background<R>(pipe: Option<R>) -> tokio::task::JoinHandle<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out).await;
        }
        out
    })
}

/// Where a libpq tool connects. The password is kept apart so it only ever goes into the tool's
/// environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgTarget {
    /// Host name, address, or unix socket directory.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub dbname: Option<String>,
    pub password: Option<Secret>,
    /// Other libpq settings from the URL, as environment variables (`PGSSLMODE`, …).
    pub settings: Vec<(&'static str, String)>,
}

impl PgTarget {
    /// Reads a `postgres://` URL the way sqlx does (hunterd connects with sqlx), in libpq's terms.
    /// Parameters libpq has no use for (such as sqlx's `statement-cache-capacity`) are dropped.
    pub fn from_url(url: &str) -> Result<PgTarget, BackupError> {
        // url::ParseError never quotes the input, so the message cannot leak a password.
        let parsed = reqwest::Url::parse(url).map_err(|e| BackupError::BadUrl(e.to_string()))?;
        let decode = |s: &str| percent_decode(s).ok_or_else(|| BackupError::BadUrl("invalid percent-encoding".into()));
        let mut target = PgTarget::default();
        if let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) {
            target.host = Some(decode(host.trim_start_matches('[').trim_end_matches(']'))?);
        }
        target.port = parsed.port();
        if !parsed.username().is_empty() {
            target.user = Some(decode(parsed.username())?);
        }
        if let Some(password) = parsed.password() {
            target.password = Some(Secret::new(decode(password)?));
        }
        let path = parsed.path().trim_start_matches('/');
        if !path.is_empty() {
            target.dbname = Some(decode(path)?);
        }
        let mut options: Vec<String> = Vec::new();
        for (key, value) in parsed.query_pairs() {
            let value = value.into_owned();
            match &*key {
                "host" | "hostaddr" => target.host = Some(value),
                "port" => target.port = Some(value.parse().map_err(|_| BackupError::BadUrl("invalid port".into()))?),
                "dbname" => target.dbname = Some(value),
                "user" => target.user = Some(value),
                "password" => target.password = Some(Secret::new(value)),
                "sslmode" | "ssl-mode" => target.settings.push(("PGSSLMODE", value)),
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => target.settings.push(("PGSSLROOTCERT", value)),
                "sslcert" | "ssl-cert" => target.settings.push(("PGSSLCERT", value)),
                "sslkey" | "ssl-key" => target.settings.push(("PGSSLKEY", value)),
                "application_name" => target.settings.push(("PGAPPNAME", value)),
                "options" => options.push(value),
                k => {
                    if let Some(name) = k.strip_prefix("options[").and_then(|k| k.strip_suffix(']')) {
                        options.push(format!("-c {name}={value}"));
                    }
                }
            }
        }
        if !options.is_empty() {
            target.settings.push(("PGOPTIONS", options.join(" ")));
        }
        Ok(target)
    }

    /// The embedded cluster: its private socket, as the daemon role (never the superuser).
    pub fn embedded(cluster: &EmbeddedCluster) -> PgTarget {
        let options = cluster.connect_options();
        PgTarget {
            host: Some(cluster.socket_dir().display().to_string()),
            port: Some(options.get_port()),
            user: Some(options.get_username().to_string()),
            dbname: options.get_database().map(str::to_string),
            password: cluster.daemon_password().map(Secret::new),
            settings: Vec::new(),
        }
    }
}

/// The arguments and environment that point pg_dump or psql at `target`. The password goes into
/// the environment only: command lines are visible to every local user.
pub fn tool_connection(target: &PgTarget) -> (Vec<String>, Vec<(String, String)>) {
    let mut args = Vec::new();
    if let Some(host) = &target.host {
        args.push(format!("--host={host}"));
    }
    if let Some(port) = target.port {
        args.push(format!("--port={port}"));
    }
    if let Some(user) = &target.user {
        args.push(format!("--username={user}"));
    }
    if let Some(dbname) = &target.dbname {
        // A --dbname with `=` or a URI prefix is read as a connection string: quote such names as one.
        if dbname.contains('=') || dbname.starts_with("postgres://") || dbname.starts_with("postgresql://") {
            args.push(format!("--dbname=dbname='{}'", dbname.replace('\\', "\\\\").replace('\'', "\\'")));
        } else {
            args.push(format!("--dbname={dbname}"));
        }
    }
    let mut env: Vec<(String, String)> = target.settings.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    if let Some(password) = &target.password {
        env.push(("PGPASSWORD".into(), password.expose().to_string()));
    }
    (args, env)
}

/// How the tools reach the database this command opened, and the binaries that belong with it.
fn connection(config: &Config, paths: &Paths, db: &Database) -> Result<(PgTarget, Option<PathBuf>), BackupError> {
    match &config.database.url {
        Some(url) => Ok((PgTarget::from_url(url.expose())?, None)),
        None => {
            // Attached to a daemon's cluster, `db` does not own one: locate the same cluster.
            let cluster = match db.embedded_cluster() {
                Some(cluster) => cluster.clone(),
                None => EmbeddedCluster::locate(&paths.embedded_db_dir())?,
            };
            Ok((PgTarget::embedded(&cluster), Some(cluster.bin_dir().to_path_buf())))
        }
    }
}

/// PostgreSQL client tools of one installation (`dir: None`: found on PATH).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tools {
    dir: Option<PathBuf>,
    major: u32,
}

impl Tools {
    fn program(&self, tool: &str) -> String {
        match &self.dir {
            Some(dir) => dir.join(tool).display().to_string(),
            None => tool.to_string(),
        }
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.program(tool));
        cmd.kill_on_drop(true);
        cmd
    }
}

/// Finds client tools able to talk to a server of major version `server_major`: the embedded
/// cluster's own first, then the installed versions, then PATH.
fn find_tools(server_major: u32, preferred: Option<&Path>, needed: &[&'static str]) -> Result<Tools, BackupError> {
    let mut dirs: Vec<Option<PathBuf>> = preferred.map(|p| Some(p.to_path_buf())).into_iter().collect();
    dirs.extend(pg_bin::candidate_bin_dirs().into_iter().map(Some));
    dirs.push(None);
    let mut found = Vec::new();
    let mut searched = Vec::new();
    for dir in dirs {
        if let Some(dir) = &dir {
            searched.push(dir.display().to_string());
            if !needed.iter().all(|tool| dir.join(tool).is_file()) {
                continue;
            }
        } else {
            searched.push("PATH".into());
        }
        let mut tools = Tools { dir, major: 0 };
        if let Some(major) = pg_bin::program_major(&tools.program(needed[0])) {
            tools.major = major;
            found.push(tools);
        }
    }
    searched.dedup();
    choose_tools(server_major, found).ok_or_else(|| BackupError::NoTools {
        tool: needed[0],
        wanted: server_major,
        searched: searched.join(", "),
    })
}

/// The server's own major version first (its SQL output suits the server exactly), else the
/// oldest newer one; `found` is in order of preference.
fn choose_tools(server_major: u32, found: Vec<Tools>) -> Option<Tools> {
    if let Some(same) = found.iter().find(|t| t.major == server_major) {
        return Some(same.clone());
    }
    found.into_iter().filter(|t| t.major > server_major).min_by_key(|t| t.major)
}

async fn server_major(pool: &sqlx::PgPool) -> Result<u32, BackupError> {
    let num: String = sqlx::query_scalar("SHOW server_version_num").fetch_one(pool).await?;
    // 150020 → 15. Unparseable: assume the oldest supported, so any tool qualifies.
    Ok(num.trim().parse::<u32>().map_or(0, |n| n / 10_000))
}

async fn table_exists(conn: &mut PgConnection, table: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(format!("public.{table}")).fetch_one(conn).await
}

/// Schema version and number of companies (0 and 0 for a database hunterd never migrated).
async fn summary(conn: &mut PgConnection) -> Result<(i64, i64), sqlx::Error> {
    let version = if table_exists(conn, "_sqlx_migrations").await? {
        sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM public._sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await?
            .unwrap_or(0)
    } else {
        0
    };
    let companies = if table_exists(conn, "companies").await? {
        sqlx::query_scalar("SELECT count(*) FROM public.companies").fetch_one(&mut *conn).await?
    } else {
        0
    };
    Ok((version, companies))
}

/// The migration versions in a plain-SQL rendering of `_sqlx_migrations`' data (pg_restore's
/// `COPY … FROM stdin` block; the version is the first column).
fn recorded_migrations(sql: &str) -> Vec<i64> {
    let mut lines =
        sql.lines().skip_while(|line| !(line.starts_with("COPY ") && line.contains("_sqlx_migrations (version")));
    if lines.next().is_none() {
        return Vec::new();
    }
    lines.take_while(|line| *line != "\\.").filter_map(|line| line.split('\t').next()?.parse().ok()).collect()
}

/// Runs a tool to completion, capturing its output.
async fn run_tool(
    tools: &Tools,
    tool: &str,
    configure: impl FnOnce(&mut Command),
) -> Result<std::process::Output, BackupError> {
    let mut cmd = tools.command(tool);
    configure(&mut cmd);
    cmd.stdin(Stdio::null()).output().await.map_err(|cause| BackupError::Spawn { tool: tools.program(tool), cause })
}

/// Refuses a FILE that cannot become a backup, before anything is started.
fn check_backup_target(file: &Path) -> Result<(), BackupError> {
    let bad = |reason: String| BackupError::BadTarget { file: file.to_path_buf(), reason };
    if file.file_name().is_none() {
        return Err(bad("that is not a file name".into()));
    }
    if file.is_dir() {
        return Err(bad("it is a directory; give a file name inside it".into()));
    }
    let dir = parent_dir(file);
    if !dir.is_dir() {
        return Err(bad(format!("directory {} does not exist", dir.display())));
    }
    // Before any cluster is started: a directory we cannot write to is named against FILE.
    if let Err(e) = nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK) {
        return Err(bad(format!("directory {} is not writable ({e})", dir.display())));
    }
    Ok(())
}

/// Fails on a FILE that cannot be read, before anything is started.
fn check_restore_source(file: &Path) -> Result<(), BackupError> {
    let unreadable = |cause| BackupError::Unreadable { file: file.to_path_buf(), cause };
    if std::fs::metadata(file).map_err(unreadable)?.is_dir() {
        return Err(BackupError::NotAnArchive { file: file.to_path_buf(), detail: " (it is a directory)".into() });
    }
    File::open(file).map_err(unreadable)?;
    Ok(())
}

fn parent_dir(file: &Path) -> &Path {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Writes `file` through a private (0600) temporary file in the same directory, renamed over
/// `file` only when `produce` succeeds: a failed backup never leaves a truncated `file`, and a
/// backup is never readable by others even for a moment. Returns the size written.
///
/// The temporary file is locked (flock) while it is written, by us and by pg_dump, which shares
/// the open file: temporaries of `file` that nobody holds were left by a backup that was killed
/// (SIGKILL, a crash), and are removed first. Dropping the future removes the temporary file.
async fn write_atomically<F, Fut>(file: &Path, produce: F) -> Result<u64, BackupError>
where
    F: FnOnce(File) -> Fut,
    Fut: Future<Output = Result<(), BackupError>>,
{
    let name = file
        .file_name()
        .ok_or_else(|| BackupError::BadTarget { file: file.to_path_buf(), reason: "that is not a file name".into() })?;
    let dir = parent_dir(file);
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |cause| BackupError::Io { what, path, cause }
    };
    remove_abandoned_temporaries(dir, name);
    let (temp, out) = create_locked_temporary(dir, name)?;
    let guard = RemoveOnDrop(Some(temp.clone()));
    // The umask can only narrow 0600, but make it exact.
    out.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io("cannot set permissions on", &temp))?;
    let for_producer = out.try_clone().map_err(io("cannot write", &temp))?;
    produce(for_producer).await?;
    out.sync_all().map_err(io("cannot write", &temp))?;
    let size = out.metadata().map_err(io("cannot read", &temp))?.len();
    std::fs::rename(&temp, file).map_err(io("cannot replace", file))?;
    guard.disarm();
    drop(out);
    // Make the rename itself durable; a failure here does not make the backup wrong.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(size)
}

/// The temporary file a backup to `name` writes: `.NAME.<32 hex digits>.tmp`.
fn temporary_name(name: &OsStr) -> String {
    format!(".{}.{}.tmp", name.to_string_lossy(), uuid::Uuid::new_v4().simple())
}

fn is_temporary_of(candidate: &OsStr, name: &OsStr) -> bool {
    let (Some(candidate), Some(name)) = (candidate.to_str(), name.to_str()) else {
        return false;
    };
    candidate
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Removes the temporary files of backups to `name` in `dir` that no running backup holds.
fn remove_abandoned_temporaries(dir: &Path, name: &OsStr) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if !is_temporary_of(&entry.file_name(), name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Ok(temp) = File::open(&path) else { continue };
        // Locked: a backup (or its pg_dump) is writing it now.
        if let Ok(_held) = Flock::lock(temp, FlockArg::LockExclusiveNonblock) {
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!("removed {}, left by an interrupted backup", path.display()),
                Err(e) => tracing::warn!("cannot remove {}, left by an interrupted backup: {e}", path.display()),
            }
        }
    }
}

/// Creates and locks a new temporary file. Another backup's clean-up may take a file for abandoned
/// in the moment between its creation and its lock; then a new name is tried.
fn create_locked_temporary(dir: &Path, name: &OsStr) -> Result<(PathBuf, Flock<File>), BackupError> {
    let mut last_temp = dir.to_path_buf();
    for _ in 0..3 {
        let temp = dir.join(temporary_name(name));
        let created = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp);
        let created = created.map_err(|cause| BackupError::Io { what: "cannot create", path: temp.clone(), cause })?;
        match Flock::lock(created, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => {
                let ours = locked.metadata().map(|m| (m.dev(), m.ino())).ok();
                if ours.is_some() && std::fs::metadata(&temp).map(|m| (m.dev(), m.ino())).ok() == ours {
                    return Ok((temp, locked));
                }
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {}
            Err((_, errno)) => {
                let _ = std::fs::remove_file(&temp);
                return Err(BackupError::Io { what: "cannot lock", path: temp, cause: errno.into() });
            }
        }
        last_temp = temp;
    }
    Err(BackupError::Io {
        what: "cannot keep",
        path: last_temp,
        cause: std::io::Error::other("another backup to the same file kept removing it"),
    })
}

/// Removes a temporary file unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The end of a tool's stderr, as `: …` for an error message (empty when it said nothing).
fn detail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(": {}", lines[lines.len().saturating_sub(5)..].join("; "))
}

fn count_companies(n: i64) -> String {
    if n == 1 { "1 company".into() } else { format!("{n} companies") }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Percent-decodes a URL component; `None` if it is not valid UTF-8 afterwards.
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_and_env(url: &str) -> (Vec<String>, Vec<(String, String)>) {
        tool_connection(&PgTarget::from_url(url).expect("valid url"))
    }

    #[test]
    fn the_password_goes_to_the_environment_never_to_the_arguments() {
        let (args, env) = args_and_env("postgres://hunter:s3cret@db.example:6543/leads?sslmode=require");
        assert!(args.iter().all(|a| !a.contains("s3cret")), "{args:?}");
        assert_eq!(args, ["--host=db.example", "--port=6543", "--username=hunter", "--dbname=leads"]);
        assert!(env.contains(&("PGPASSWORD".into(), "s3cret".into())), "{env:?}");
        assert!(env.contains(&("PGSSLMODE".into(), "require".into())), "{env:?}");
    }

    #[test]
    fn a_password_query_parameter_stays_out_of_the_arguments_too() {
        let (args, env) = args_and_env("postgres://db.example/leads?user=h&password=s3cret&statement-cache-capacity=5");
        assert!(args.iter().all(|a| !a.contains("s3cret") && !a.contains("statement")), "{args:?}");
        assert_eq!(env, [("PGPASSWORD".to_string(), "s3cret".to_string())]);
    }

    #[test]
    fn an_encoded_password_is_decoded_for_the_environment_and_absent_from_the_arguments() {
        let (args, env) = args_and_env("postgres://hunter:p%40ss%3Aword@127.0.0.1/leads");
        assert!(args.iter().all(|a| !a.contains("p@ss") && !a.contains("p%40ss")), "{args:?}");
        assert_eq!(env, [("PGPASSWORD".to_string(), "p@ss:word".to_string())]);
    }

    #[test]
    fn a_url_without_password_sets_no_password() {
        let (args, env) = args_and_env("postgres://postgres@127.0.0.1:5432/postgres");
        assert_eq!(args, ["--host=127.0.0.1", "--port=5432", "--username=postgres", "--dbname=postgres"]);
        assert!(env.is_empty(), "{env:?}");
    }

    #[test]
    fn a_socket_directory_host_is_passed_decoded() {
        let (args, _) = args_and_env("postgres://%2Fvar%2Frun%2Fpostgresql/leads");
        assert_eq!(args, ["--host=/var/run/postgresql", "--dbname=leads"]);
    }

    #[test]
    fn a_database_name_that_looks_like_a_connection_string_is_quoted() {
        let target = PgTarget { dbname: Some("a=b'c".into()), ..PgTarget::default() };
        assert_eq!(tool_connection(&target).0, ["--dbname=dbname='a=b\\'c'"]);
    }

    #[test]
    fn a_bad_url_error_does_not_repeat_the_url() {
        let err = PgTarget::from_url("postgres://hunter:s3cret@db:notaport/x").unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn tools_of_the_server_version_win_over_newer_and_older_ones() {
        let tools = |major| Tools { dir: Some(PathBuf::from(format!("/pg/{major}"))), major };
        assert_eq!(choose_tools(15, vec![tools(17), tools(14), tools(15)]), Some(tools(15)));
        assert_eq!(choose_tools(15, vec![tools(17), tools(16), tools(14)]), Some(tools(16)));
        assert_eq!(choose_tools(15, vec![tools(14), tools(13)]), None);
    }

    #[test]
    fn recorded_migrations_are_read_from_the_copy_block() {
        let sql = "SET x = 1;\n\nCOPY public._sqlx_migrations (version, description, installed_on, success, checksum, \
                   execution_time) FROM stdin;\n20261123000001\tfoundation\t2026-11-23\tt\t\\\\x00\t5\n\
                   20261123000002\tleads\t2026-11-23\tt\t\\\\x00\t5\n\\.\n\n\\unrestrict abc\n";
        assert_eq!(recorded_migrations(sql), [20261123000001, 20261123000002]);
        assert_eq!(recorded_migrations("SET x = 1;\n"), Vec::<i64>::new());
    }

    #[tokio::test]
    async fn a_failed_write_leaves_neither_the_file_nor_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hunter.dump");
        let result = write_atomically(&file, |mut out| async move {
            use std::io::Write;
            out.write_all(b"partial").unwrap();
            Err(BackupError::Dump { file: PathBuf::from("x"), status: "exit status: 1".into(), detail: String::new() })
        })
        .await;
        assert!(result.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is left behind");
    }

    #[tokio::test]
    async fn a_failed_write_keeps_the_previous_backup_intact() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hunter.dump");
        std::fs::write(&file, b"previous backup").unwrap();
        let result = write_atomically(&file, |_| async {
            Err(BackupError::Dump { file: PathBuf::from("x"), status: "exit status: 1".into(), detail: String::new() })
        })
        .await;
        assert!(result.is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"previous backup");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn a_successful_write_replaces_the_file_with_a_private_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hunter.dump");
        std::fs::write(&file, b"previous backup").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let size = write_atomically(&file, |mut out| async move {
            use std::io::Write;
            out.write_all(b"new backup").map_err(|cause| BackupError::Io { what: "w", path: PathBuf::new(), cause })
        })
        .await
        .unwrap();
        assert_eq!(size, 10);
        assert_eq!(std::fs::read(&file).unwrap(), b"new backup");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn sizes_are_shown_in_binary_units() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
    }
}
