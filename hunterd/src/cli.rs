//! hunterd's command line. Names are fixed by the user-facing contract (interface.md).

use crate::config::{self, Config, ConfigSource};
use crate::db::{Database, MIGRATOR};
use crate::paths::{PathOverrides, Paths};
use crate::{daemon, logging};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "hunterd", version, about = "Hunter's daemon: scans, scores and syncs leads; serves hunter-tui")]
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
    Run,
    /// Apply database migrations and exit.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
    /// Validate a scoring rules file and print its summary; non-zero on any problem.
    CheckRules { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// List applied and pending migrations.
    Status,
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
    let (config, source) = config::load(paths.explicit_config.as_deref(), &paths.default_config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            check_config(&paths, &config, &source);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckRules { file } => Ok(crate::score::check_rules_command(&file)),
        Command::Run => {
            daemon::ensure_state_dir(&paths)?;
            let log_dir = paths.log_dir(config.log.dir.as_deref());
            let _guard = logging::init(config.log.level.as_deref(), &log_dir, true)?;
            tracing::info!("configuration from {source}");
            runtime.block_on(daemon::run(paths, config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { action } => {
            let _guard = logging::init(config.log.level.as_deref(), &paths.log_dir(None), false)?;
            runtime.block_on(migrate(&paths, &config, action))?;
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
    // In embedded mode a running daemon owns the cluster: refuse rather than race it.
    let _lock = if config.database.url.is_none() { Some(daemon::lock_state_dir(paths)?) } else { None };
    let db = Database::open(config, paths).await?;
    let result = async {
        match action {
            None => {
                db.migrate().await?;
                let info = db.handle.info().await?;
                println!("database is at schema version {}", info.schema_version);
            }
            Some(MigrateAction::Status) => {
                let applied: Vec<i64> =
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                        .fetch_all(&db.handle.pool)
                        .await
                        .unwrap_or_default();
                for m in MIGRATOR.iter() {
                    let state = if applied.contains(&m.version) { "applied" } else { "pending" };
                    println!("{:<8} {} {}", state, m.version, m.description);
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    db.close().await;
    result
}
