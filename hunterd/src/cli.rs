//! hunterd's command line. Names are fixed by the user-facing contract (interface.md).

use crate::config::{self, Config, ConfigSource};
use crate::db::{Database, MIGRATOR};
use crate::paths::{PathOverrides, Paths};
use crate::{daemon, logging};
use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "hunterd", version, about = "Hunter's daemon: scans, scores and syncs leads; serves hunter-tui")]
#[command(after_help = "Example:\n  hunterd check --config /etc/hunter/hunterd.toml")]
struct Cli {
    /// Config file (default: /etc/hunter/hunterd.toml, or ~/.config/hunter/hunterd.toml for a user).
    // OsString: an empty variable means "unset", as hunter-tui and protocol::paths read it.
    #[arg(long, env = "HUNTER_CONFIG", global = true, value_name = "FILE")]
    config: Option<OsString>,
    /// Socket to serve on (default: /run/hunter/hunterd.sock, or $XDG_RUNTIME_DIR/hunter/hunterd.sock).
    #[arg(long, env = "HUNTER_SOCKET", global = true, value_name = "PATH")]
    socket: Option<OsString>,
    /// Where the embedded database, tokens and caches live.
    #[arg(long, env = "HUNTER_STATE_DIR", global = true, value_name = "DIR")]
    state_dir: Option<OsString>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon in the foreground (the default; systemd runs this).
    #[command(after_help = "Example:\n  hunterd run --state-dir ~/.local/state/hunter --socket /tmp/hunterd.sock")]
    Run,
    /// Apply database migrations and exit.
    #[command(after_help = "Example:\n  hunterd migrate --config /etc/hunter/hunterd.toml")]
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Validate the configuration and print it with secrets redacted.
    #[command(after_help = "Example:\n  HUNTER_SCAN__NAMESERVERS=127.0.0.1:5353 hunterd check-config")]
    CheckConfig,
    /// Validate a scoring rules file and print its summary; non-zero on any problem.
    #[command(after_help = "Example:\n  hunterd check-rules /etc/hunter/rules.toml")]
    CheckRules { file: PathBuf },
    /// Write a consistent backup of the database to FILE (pg_dump custom format; safe while hunterd runs).
    /// Sign-ins (the Partner Center refresh token) live outside the database and are left out.
    #[command(after_help = "Example:\n  hunterd backup /var/backups/hunter/hunter-$(date +%F).dump")]
    Backup {
        file: PathBuf,
        /// Also copy the saved Partner Center sign-in to FILE.partner-center-token.json (owner-only).
        #[arg(long)]
        include_credentials: bool,
    },
    /// Restore a backup into an empty database (hunterd must be stopped); non-zero on failure.
    #[command(
        after_help = "Example:\n  systemctl stop hunterd && hunterd restore /var/backups/hunter/hunter-2026-12-01.dump && systemctl start hunterd"
    )]
    Restore {
        file: PathBuf,
        /// Replace the data already in the database.
        #[arg(long)]
        force: bool,
    },
    /// Check config, database, schema, socket, resolvers and each enabled integration: one line
    /// each; non-zero if any fails.
    #[command(after_help = "Example:\n  hunterd check")]
    Check,
    /// Sign in to Microsoft services, or show which sign-ins are present.
    #[command(after_help = "Example:\n  hunterd auth status")]
    Auth {
        #[command(subcommand)]
        action: AuthAction,
    },
}

#[derive(Debug, Subcommand)]
enum AuthAction {
    /// Device-code sign-in to Partner Center: prints the code and URL, waits, stores the refresh token.
    #[command(after_help = "Example:\n  sudo -u hunter hunterd auth partner-center")]
    PartnerCenter,
    /// Which credentials are present, their expiry and last successful use.
    #[command(after_help = "Example:\n  hunterd auth status")]
    Status,
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// List applied and pending migrations.
    #[command(after_help = "Example:\n  hunterd migrate status")]
    Status,
    /// Roll back the newest applied migration, or with --to every one newer than VERSION (0: all).
    #[command(after_help = "Example:\n  hunterd migrate revert --to 20261207000001")]
    Revert {
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
    },
}

/// hunterd's command line as clap sees it: for the man pages and shell completions (`cargo xtask dist`).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Entry point of the `hunterd` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hunterd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Command::CheckRules { file }) = &cli.command {
        return Ok(crate::score::check_rules_command(file));
    }
    let path = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    let paths = Paths::resolve(PathOverrides {
        config: path(cli.config),
        state_dir: path(cli.state_dir),
        socket: path(cli.socket),
    });
    let loaded = config::load(paths.explicit_config.as_deref(), &paths.default_config);
    if let (Some(Command::Check), Err(e)) = (&cli.command, &loaded) {
        let line = crate::ops::check::CheckLine {
            status: crate::ops::check::Status::Fail,
            name: "config",
            detail: e.to_string(),
        };
        print!("{}", crate::ops::check::render(&[line]));
        return Ok(ExitCode::FAILURE);
    }
    let (config, source) = loaded?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            check_config(&paths, &config, &source);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckRules { file } => Ok(crate::score::check_rules_command(&file)),
        Command::Check => {
            let _guard = logging::init(Some("error"), &paths.log_dir(None), false)?;
            let lines = runtime.block_on(crate::ops::check::run(&config, &source, &paths));
            print!("{}", crate::ops::check::render(&lines));
            Ok(if crate::ops::check::passed(&lines) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Run => {
            // Lead data (logs, uploads, caches) is private to the daemon's account whatever the
            // caller's umask; the socket's group access is set explicitly.
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
            crate::paths::ensure_state_dir(&paths)?;
            let log_dir = paths.log_dir(config.log.dir.as_deref());
            let _guard = logging::init(config.log.level.as_deref(), &log_dir, true)?;
            tracing::info!("configuration from {source}");
            runtime.block_on(daemon::run(paths, config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { action } => {
            // Quiet by default (sqlx reports server notices at info): the command prints its own lines.
            let _guard = logging::init(config.log.level.as_deref().or(Some("warn")), &paths.log_dir(None), false)?;
            runtime.block_on(migrate(&paths, &config, action))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Auth { action: AuthAction::PartnerCenter } => {
            // Only warnings: the command prints its own lines, and never the token.
            let _guard = logging::init(config.log.level.as_deref().or(Some("warn")), &paths.log_dir(None), false)?;
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
            runtime.block_on(crate::partner_center::command::sign_in(&config, &paths))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Auth { action: AuthAction::Status } => {
            print!("{}", crate::partner_center::command::status(&config, &paths));
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { file, include_credentials } => {
            // Quiet by default (sqlx reports server notices at info): the command prints one line.
            let _guard = logging::init(config.log.level.as_deref().or(Some("warn")), &paths.log_dir(None), false)?;
            runtime.block_on(crate::ops::backup::backup(&config, &paths, &file))?;
            if include_credentials {
                println!("{}", crate::partner_center::command::copy_sign_in(&paths, &file)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { file, force } => {
            // Quiet by default (sqlx reports server notices at info): the command prints one line.
            let _guard = logging::init(config.log.level.as_deref().or(Some("warn")), &paths.log_dir(None), false)?;
            runtime.block_on(crate::ops::backup::restore(&config, &paths, &file, force))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check_config(paths: &Paths, config: &Config, source: &ConfigSource) {
    println!("# hunterd {} — effective configuration", protocol::BUILD_VERSION);
    println!("# source: {source}");
    println!("# state dir: {}", paths.state_dir.display());
    println!("# socket: {}", paths.socket.display());
    let db = match &config.database.url {
        Some(url) => format!("external ({})", url.redacted()),
        None => format!("embedded ({})", paths.embedded_db_dir().display()),
    };
    println!("# database: {db}\n");
    print!("{}", config.to_redacted_toml());
}

async fn migrate(paths: &Paths, config: &Config, action: Option<MigrateAction>) -> anyhow::Result<()> {
    if let Some(MigrateAction::Status) = action {
        return migrate_status(paths, config).await;
    }
    // Applying or reverting changes the schema under a running daemon's feet: in embedded mode,
    // refuse while one holds the state directory (and never start a second cluster beside it).
    let verb = if action.is_none() { "migrate" } else { "migrate revert" };
    let _lock = match config.database.url {
        Some(_) => None,
        None => Some(crate::paths::try_lock_state_dir(paths)?.map_err(|pid| {
            anyhow::anyhow!(
                "hunterd (pid {pid}) is using state directory {}: `hunterd {verb}` changes the schema it runs \
                 on, so stop it first{}",
                paths.state_dir.display(),
                if action.is_none() { " (a starting hunterd applies pending migrations itself)" } else { "" }
            )
        })?),
    };
    let db = Database::open_as(config, paths, crate::db::COMMAND_APPLICATION_NAME).await?;
    let result = async {
        if let Some(MigrateAction::Revert { to }) = action {
            let daemons = crate::ops::connected_daemons(&db.handle.pool).await?;
            if !daemons.is_empty() {
                anyhow::bail!(
                    "hunterd is connected to {} ({}): `hunterd migrate revert` drops tables it uses, so stop \
                     every hunterd using it first, then revert",
                    db.handle.location,
                    daemons.join(", ")
                );
            }
            let version = crate::db::revert::revert(&db.handle.pool, &MIGRATOR, to, |m| {
                println!("reverted {} {}", m.version, m.description);
            })
            .await?;
            println!("database is at schema version {version}");
        } else {
            db.migrate().await?;
            let info = db.handle.info().await?;
            println!("database is at schema version {}", info.schema_version);
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result
}

/// `hunterd migrate status`: read-only, so it works beside a running daemon (on the daemon's own
/// embedded cluster, as `check` and `backup` do).
async fn migrate_status(paths: &Paths, config: &Config) -> anyhow::Result<()> {
    let command_db = crate::ops::open_database(config, paths).await?;
    let applied = sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&command_db.db.handle.pool)
        .await;
    command_db.close().await;
    let applied = match applied {
        Ok(applied) => applied,
        // A database hunterd never migrated has no migrations table: everything is pending.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
        Err(e) => return Err(e).context("cannot read the applied migrations"),
    };
    for m in MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()) {
        let state = if applied.contains(&m.version) { "applied" } else { "pending" };
        println!("{:<8} {} {}", state, m.version, m.description);
    }
    Ok(())
}
