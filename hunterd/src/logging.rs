//! Logging: a daily-rolling file through the non-blocking writer, or plain stderr under systemd
//! (journald timestamps and stores it). Level from `RUST_LOG`, else `log.level`, else `info`.

use std::io::IsTerminal;
use std::path::Path;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

/// Keeps the background writer alive; drop it last so buffered lines are flushed.
pub struct LogGuard {
    _guard: Option<WorkerGuard>,
}

/// Initialises logging once for the process. `to_file` is false for one-shot commands.
pub fn init(level: Option<&str>, log_dir: &Path, to_file: bool) -> anyhow::Result<LogGuard> {
    let filter = || match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => EnvFilter::new(level.unwrap_or("info")),
    };
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    if under_journald || !to_file {
        let stderr = fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_target(false);
        let stderr = if under_journald { stderr.without_time().boxed_compat() } else { stderr.boxed_compat() };
        tracing_subscriber::registry().with(filter()).with(stderr).try_init().ok();
        return Ok(LogGuard { _guard: None });
    }

    std::fs::create_dir_all(log_dir)
        .map_err(|e| anyhow::anyhow!("cannot create log directory {}: {e}", log_dir.display()))?;
    make_private(log_dir);
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("hunterd")
        .filename_suffix("log")
        .max_log_files(14)
        .build(log_dir)
        .map_err(|e| anyhow::anyhow!("cannot open log file in {}: {e}", log_dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let file_layer = fmt::layer().with_writer(writer).with_ansi(false);
    // On a terminal show everything; otherwise (a script redirecting stderr) only what needs attention.
    let stderr_level = if std::io::stderr().is_terminal() {
        tracing::level_filters::LevelFilter::TRACE
    } else {
        tracing::level_filters::LevelFilter::WARN
    };
    let stderr_layer = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(stderr_level);
    tracing_subscriber::registry().with(filter()).with(file_layer).with(stderr_layer).try_init().ok();
    Ok(LogGuard { _guard: Some(guard) })
}

use tracing_subscriber::Layer;

/// Logs hold customer domains: the directory (unless systemd manages it) and every log file are
/// readable by the daemon's account only, including files an older release left world-readable.
fn make_private(log_dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if std::env::var_os("LOGS_DIRECTORY").is_none() {
        let _ = std::fs::set_permissions(log_dir, std::fs::Permissions::from_mode(0o700));
    }
    for entry in std::fs::read_dir(log_dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with("hunterd") {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600));
        }
    }
}

/// Boxes a layer so the two stderr shapes share one type.
trait BoxCompat<S> {
    fn boxed_compat(self) -> Box<dyn Layer<S> + Send + Sync>;
}

impl<S, L> BoxCompat<S> for L
where
    L: Layer<S> + Send + Sync + 'static,
    S: tracing::Subscriber,
{
    fn boxed_compat(self) -> Box<dyn Layer<S> + Send + Sync> {
        Box::new(self)
    }
}
