//! `hunterd check`: one line for each thing hunterd depends on — configuration, rules, database,
//! schema, socket, resolvers and each enabled integration — so a sysadmin sees at once what is wrong
//! and what to do. Read-only: it migrates nothing, starts no daemon, and leaves a running one alone.
//!
//! A failure (`FAIL`) makes the command exit non-zero. Things that are fine before the first start
//! (no daemon listening yet, migrations still to apply) are warnings, so the check also works as a
//! pre-flight test.

use crate::config::{Config, ConfigSource};
use crate::db::MIGRATOR;
use crate::enrich::{EnrichmentService, download, freshness};
use crate::paths::Paths;
use crate::provider::ProviderTable;
use crate::scan::Scanner;
use crate::score::Rules;
use protocol::{Hello, Welcome, frame};
use std::time::Duration;

const SOCKET_PATIENCE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One checked thing: what, how it went, and the detail (what was found, or what to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub status: Status,
    pub name: &'static str,
    pub detail: String,
}

impl CheckLine {
    fn new(status: Status, name: &'static str, detail: impl Into<String>) -> CheckLine {
        CheckLine { status, name, detail: detail.into() }
    }
}

/// `ok    database    external postgres://…`, one per line.
pub fn render(lines: &[CheckLine]) -> String {
    lines.iter().map(|l| format!("{:<5} {:<11} {}\n", l.status.label(), l.name, l.detail)).collect()
}

/// The command's verdict: any failure fails it.
pub fn passed(lines: &[CheckLine]) -> bool {
    lines.iter().all(|l| l.status != Status::Fail)
}

/// Runs every check that applies to `config`.
pub async fn run(config: &Config, source: &ConfigSource, paths: &Paths) -> Vec<CheckLine> {
    let mut lines = vec![CheckLine::new(Status::Ok, "config", source.to_string())];
    lines.push(rules(config));
    lines.extend(database(config, paths).await);
    lines.push(socket(paths).await);
    lines.extend(resolvers(config).await);
    lines.extend(enrichment(config));
    lines.extend(secret_files(config));
    lines.extend(dynamics(config).await);
    lines.extend(partner_center(config, paths).await);
    lines
}

/// Sign-in, the org and the lead table's columns, when `features.dynamics_push` is on.
async fn dynamics(config: &Config) -> Vec<CheckLine> {
    crate::dynamics::check::lines(config)
        .await
        .into_iter()
        .map(|(ok, detail)| CheckLine::new(if ok { Status::Ok } else { Status::Fail }, "dynamics", detail))
        .collect()
}

/// With the sync on: the sign-in is refreshable and the API answers (off: nothing is asked).
async fn partner_center(config: &Config, paths: &Paths) -> Vec<CheckLine> {
    if !config.features.partner_center_sync {
        return Vec::new();
    }
    crate::partner_center::command::health(config, paths)
        .await
        .into_iter()
        .map(|(name, result)| match result {
            Ok(detail) => CheckLine::new(Status::Ok, name, detail),
            Err(detail) => CheckLine::new(Status::Fail, name, detail),
        })
        .collect()
}

fn rules(config: &Config) -> CheckLine {
    let rules = Rules::load(config.rules.file.as_deref()).map_err(|e| e.to_string());
    let providers = ProviderTable::load(config.rules.providers_file.as_deref()).map_err(|e| e.to_string());
    let origin = |file: &Option<std::path::PathBuf>| match file {
        Some(path) => path.display().to_string(),
        None => "embedded".to_string(),
    };
    match (rules, providers) {
        (Ok(_), Ok(_)) => CheckLine::new(
            Status::Ok,
            "rules",
            format!(
                "scoring rules: {}; provider table: {}",
                origin(&config.rules.file),
                origin(&config.rules.providers_file)
            ),
        ),
        (Err(e), _) | (_, Err(e)) => CheckLine::new(Status::Fail, "rules", e),
    }
}

/// The database and its schema: two lines, or one when the database cannot be reached.
async fn database(config: &Config, paths: &Paths) -> Vec<CheckLine> {
    // The embedded cluster is looked at before anything is locked or started, so a check never
    // creates one (or the state directory).
    if config.database.url.is_none() {
        let cluster = match crate::db::EmbeddedCluster::locate(&paths.embedded_db_dir()) {
            Ok(cluster) => cluster,
            Err(e) => return vec![CheckLine::new(Status::Fail, "database", format!("embedded: {e}"))],
        };
        let root = cluster.root().display();
        match cluster.data_dir().join("PG_VERSION").try_exists() {
            Ok(true) => {}
            Ok(false) => {
                let detail = format!("embedded, not created yet: hunterd creates it in {root} at its first start");
                return vec![CheckLine::new(Status::Warn, "database", detail)];
            }
            Err(e) => {
                let detail =
                    format!("embedded in {root}: cannot look inside ({e}); run the check as root or as hunterd's user");
                return vec![CheckLine::new(Status::Fail, "database", detail)];
            }
        }
    }
    let opened = match super::open_database(config, paths).await {
        Ok(opened) => opened,
        Err(e) => return vec![CheckLine::new(Status::Fail, "database", format!("{e:#}"))],
    };
    let handle = &opened.db.handle;
    let mut lines = Vec::new();
    let version: Result<String, sqlx::Error> = sqlx::query_scalar("SHOW server_version").fetch_one(&handle.pool).await;
    match version {
        Ok(version) => {
            let mode = match handle.mode {
                protocol::DatabaseMode::External => "external",
                protocol::DatabaseMode::Embedded => "embedded",
            };
            let mut detail = format!("{mode} {}, PostgreSQL {version}", handle.location);
            if let Some(pid) = &opened.daemon_pid {
                detail.push_str(&format!(" (in use by hunterd pid {pid})"));
            }
            lines.push(CheckLine::new(Status::Ok, "database", detail));
            lines.push(schema(&handle.pool).await);
            lines.push(trigram(&handle.pool).await);
        }
        Err(e) => lines.push(CheckLine::new(Status::Fail, "database", format!("{}: {e}", handle.location))),
    }
    opened.close().await;
    lines
}

async fn schema(pool: &sqlx::PgPool) -> CheckLine {
    let has_table: Result<bool, sqlx::Error> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await;
    let applied: Vec<(i64, bool)> = match has_table {
        Ok(false) => {
            return CheckLine::new(
                Status::Warn,
                "schema",
                "empty: hunterd creates it when it starts (or run `hunterd migrate`)",
            );
        }
        Ok(true) => match sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await
        {
            Ok(rows) => rows,
            Err(e) => return CheckLine::new(Status::Fail, "schema", format!("cannot read the migrations table: {e}")),
        },
        Err(e) => return CheckLine::new(Status::Fail, "schema", format!("cannot read the schema: {e}")),
    };
    let known: Vec<i64> =
        MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).map(|m| m.version).collect();
    schema_verdict(&known, &applied)
}

/// The free-text index's SQL, for an operator who adds pg_trgm after the migration ran without it.
const SEARCH_INDEX_SQL: &str = "CREATE INDEX lead_list_search_idx ON lead_list USING gin (search gin_trgm_ops);";

/// Whether free-text lead filters have their trigram index (pg_trgm), which the lead-list
/// migration creates when the server has the extension and hunterd's role may create it.
pub(crate) async fn trigram(pool: &sqlx::PgPool) -> CheckLine {
    let found: Result<(bool, bool, bool, bool), sqlx::Error> = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'),
                EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'),
                to_regclass('lead_list') IS NOT NULL,
                to_regclass('lead_list_search_idx') IS NOT NULL",
    )
    .fetch_one(pool)
    .await;
    match found {
        Ok((available, installed, table, index)) => trigram_verdict(available, installed, table, index),
        Err(e) => CheckLine::new(Status::Fail, "pg_trgm", format!("cannot look up extensions: {e}")),
    }
}

pub fn trigram_verdict(available: bool, installed: bool, table: bool, index: bool) -> CheckLine {
    const SLOW: &str = "free-text lead filters read every lead (slow past ~100k leads)";
    let (status, detail) = match (available, installed, table, index) {
        (_, true, _, true) => (Status::Ok, "installed; free-text lead filters use its index".to_string()),
        (_, true, false, _) => (Status::Ok, "installed; hunterd's migration adds the free-text index".to_string()),
        (_, true, true, false) => {
            (Status::Warn, format!("installed after hunterd's migration ran, so {SLOW}: run `{SEARCH_INDEX_SQL}`"))
        }
        (true, false, _, _) => (
            Status::Warn,
            format!(
                "not installed in this database, so {SLOW}: as the database owner (PostgreSQL 13+) or a superuser run \
                 `CREATE EXTENSION pg_trgm;` and then `{SEARCH_INDEX_SQL}`"
            ),
        ),
        (false, false, _, _) => (
            Status::Warn,
            format!(
                "this PostgreSQL server lacks the extension, so {SLOW}: install the server's contrib package \
                 (e.g. postgresql-contrib), then run `CREATE EXTENSION pg_trgm;` and `{SEARCH_INDEX_SQL}`"
            ),
        ),
    };
    CheckLine::new(status, "pg_trgm", detail)
}

/// Compares the migrations this binary knows with those the database records.
pub fn schema_verdict(known: &[i64], applied: &[(i64, bool)]) -> CheckLine {
    if let Some((version, _)) = applied.iter().find(|(_, success)| !success) {
        return CheckLine::new(
            Status::Fail,
            "schema",
            format!(
                "migration {version} failed part-way: see the hunterd log, fix the cause, then run `hunterd migrate`"
            ),
        );
    }
    let newer: Vec<i64> = applied.iter().map(|(v, _)| *v).filter(|v| !known.contains(v)).collect();
    if let Some(newest) = newer.iter().max() {
        return CheckLine::new(
            Status::Fail,
            "schema",
            format!(
                "the database is at version {newest}, newer than this hunterd {} knows: upgrade hunterd",
                protocol::BUILD_VERSION
            ),
        );
    }
    let pending = known.iter().filter(|v| !applied.iter().any(|(a, _)| a == *v)).count();
    let latest = known.iter().max().copied().unwrap_or(0);
    if pending > 0 {
        return CheckLine::new(
            Status::Warn,
            "schema",
            format!(
                "{pending} migration(s) pending (up to version {latest}): applied when hunterd starts, or run `hunterd migrate`"
            ),
        );
    }
    CheckLine::new(Status::Ok, "schema", format!("version {latest}, up to date"))
}

/// Whether a daemon answers on the socket, and speaks our protocol.
async fn socket(paths: &Paths) -> CheckLine {
    use interprocess::local_socket::tokio::Stream;
    use interprocess::local_socket::tokio::prelude::*;
    use interprocess::local_socket::{GenericFilePath, ToFsName};
    let path = &paths.socket;
    let shown = path.display();
    let Ok(name) = path.as_path().to_fs_name::<GenericFilePath>() else {
        return CheckLine::new(Status::Fail, "socket", format!("{shown} is not a usable socket path"));
    };
    let stream = match Stream::connect(name).await {
        Ok(stream) => stream,
        Err(e) => {
            return match e.kind() {
                std::io::ErrorKind::NotFound => {
                    CheckLine::new(Status::Warn, "socket", format!("no hunterd is listening at {shown} (not started)"))
                }
                std::io::ErrorKind::ConnectionRefused => CheckLine::new(
                    Status::Warn,
                    "socket",
                    format!("{shown} exists but nobody listens (a stale socket; hunterd replaces it when it starts)"),
                ),
                std::io::ErrorKind::PermissionDenied => CheckLine::new(
                    Status::Fail,
                    "socket",
                    format!("{shown}: permission denied (users of hunter-tui need to be in group `hunter`)"),
                ),
                _ => CheckLine::new(Status::Fail, "socket", format!("{shown}: {e}")),
            };
        }
    };
    let (mut reader, mut writer) = (&stream, &stream);
    let hello = Hello::new("hunterd-check");
    let answered = tokio::time::timeout(SOCKET_PATIENCE, async {
        frame::send(&mut writer, &hello).await?;
        frame::recv::<_, Welcome>(&mut reader).await
    })
    .await;
    match answered {
        Ok(Ok(welcome)) if welcome.accepted => CheckLine::new(
            Status::Ok,
            "socket",
            format!("hunterd {} (protocol {}) answers at {shown}", welcome.build_version, welcome.protocol),
        ),
        Ok(Ok(welcome)) => {
            let reason = protocol::handshake::mismatch_message(
                "hunterd check",
                protocol::BUILD_VERSION,
                protocol::PROTOCOL_VERSION,
                &welcome.build_version,
                welcome.protocol,
            );
            let reason = if reason.is_empty() { welcome.reason.unwrap_or_else(|| "refused".into()) } else { reason };
            CheckLine::new(Status::Fail, "socket", format!("{shown}: {reason}"))
        }
        Ok(Err(e)) => CheckLine::new(Status::Fail, "socket", format!("{shown}: the handshake failed: {e}")),
        Err(_) => CheckLine::new(Status::Fail, "socket", format!("{shown}: no answer within {SOCKET_PATIENCE:?}")),
    }
}

/// Each resolver the scanner uses must answer (any answer, even NXDOMAIN).
async fn resolvers(config: &Config) -> Vec<CheckLine> {
    let all = match Scanner::new(&config.scan) {
        Ok(scanner) => scanner.nameservers().to_vec(),
        Err(e) => return vec![CheckLine::new(Status::Fail, "dns", e.to_string())],
    };
    let from = if config.scan.nameservers.is_empty() { "resolv.conf" } else { "scan.nameservers" };
    let probes = all.iter().map(|ns| async move {
        let mut single = config.scan.clone();
        single.nameservers = vec![ns.to_string()];
        let answered = match Scanner::new(&single) {
            Ok(scanner) => scanner.probe().await,
            Err(e) => Err(e.to_string()),
        };
        match answered {
            Ok(()) => CheckLine::new(Status::Ok, "dns", format!("{ns} answers ({from})")),
            Err(reason) => CheckLine::new(Status::Fail, "dns", format!("{ns} ({from}): {reason}")),
        }
    });
    futures::future::join_all(probes).await
}

/// Each configured enrichment database, when enrichment is on, and the MaxMind account if set.
fn enrichment(config: &Config) -> Vec<CheckLine> {
    if !config.features.ip_enrichment {
        return vec![CheckLine::new(Status::Ok, "enrichment", "off (features.ip_enrichment)")];
    }
    let service = EnrichmentService::open(&config.enrichment);
    let sources = service.sources();
    let mut lines = Vec::new();
    if sources.is_empty() {
        lines.push(CheckLine::new(
            Status::Fail,
            "enrichment",
            "on, but no database is configured (enrichment.maxmind_city_db, maxmind_asn_db, ip2location_db, ip2proxy_db)",
        ));
    }
    let today = chrono::Utc::now().date_naive();
    let downloads = download::configured(true, &config.enrichment);
    for source in &sources {
        // A MaxMind file the download job has not fetched yet is expected before the first start.
        let awaiting_download = downloads && source.name.starts_with("maxmind") && !source.path.exists();
        if awaiting_download {
            let detail = format!(
                "{} not downloaded yet: the geoip-download job fetches it when hunterd starts",
                source.path.display()
            );
            lines.push(CheckLine::new(Status::Warn, "enrichment", detail));
            continue;
        }
        let verdict = freshness::assess(std::slice::from_ref(source), today, config.enrichment.max_age.0);
        let line = match (&source.error, verdict.problems.first(), verdict.lines.first()) {
            (Some(error), _, _) => CheckLine::new(Status::Fail, "enrichment", error.clone()),
            (None, _, _) if let Some(warning) = &source.warning => {
                CheckLine::new(Status::Warn, "enrichment", warning.clone())
            }
            (None, Some(stale), _) => CheckLine::new(Status::Warn, "enrichment", stale.clone()),
            (None, None, Some(fresh)) => {
                CheckLine::new(Status::Ok, "enrichment", format!("{}: {fresh}", source.path.display()))
            }
            (None, None, None) => CheckLine::new(Status::Ok, "enrichment", source.path.display().to_string()),
        };
        lines.push(line);
    }
    if let (Some(account), Some(key_file)) =
        (&config.enrichment.maxmind_account_id, &config.enrichment.maxmind_license_key_file)
    {
        lines.push(match download::Credentials::load(account, key_file) {
            Ok(_) => CheckLine::new(
                Status::Ok,
                "enrichment",
                format!("MaxMind downloads for account {account} (key file {})", key_file.display()),
            ),
            Err(e) => CheckLine::new(Status::Fail, "enrichment", e.to_string()),
        });
    }
    lines
}

/// Files holding secrets must be readable by their owner only (group read is accepted for root- or
/// group-owned systemd setups: it is "others" that must never read them).
fn secret_files(config: &Config) -> Vec<CheckLine> {
    use std::os::unix::fs::PermissionsExt;
    let files = [
        ("database.url_file", &config.database.url_file),
        ("enrichment.maxmind_license_key_file", &config.enrichment.maxmind_license_key_file),
        ("dynamics.client_secret_file", &config.dynamics.client_secret_file),
    ];
    files
        .into_iter()
        .filter_map(|(key, path)| Some((key, path.as_ref()?)))
        .map(|(key, path)| match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o007 != 0 => CheckLine::new(
                Status::Fail,
                "secrets",
                format!("{key} {} is readable by other users: chmod o-rwx {}", path.display(), path.display()),
            ),
            Ok(_) => CheckLine::new(Status::Ok, "secrets", format!("{key} {} is private", path.display())),
            Err(e) => CheckLine::new(Status::Fail, "secrets", format!("{key} {}: {e}", path.display())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_with_every_known_migration_is_up_to_date() {
        let line = schema_verdict(&[1, 2, 3], &[(1, true), (2, true), (3, true)]);
        assert_eq!((line.status, line.detail.as_str()), (Status::Ok, "version 3, up to date"));
    }

    #[test]
    fn pending_migrations_are_a_warning_that_says_how_they_get_applied() {
        let line = schema_verdict(&[1, 2, 3], &[(1, true)]);
        assert_eq!(line.status, Status::Warn);
        assert!(line.detail.contains("2 migration(s) pending") && line.detail.contains("hunterd migrate"), "{line:?}");
    }

    #[test]
    fn a_schema_from_a_newer_hunterd_fails_and_says_to_upgrade() {
        let line = schema_verdict(&[1, 2], &[(1, true), (2, true), (7, true)]);
        assert_eq!(line.status, Status::Fail);
        assert!(line.detail.contains("version 7") && line.detail.contains("upgrade hunterd"), "{line:?}");
    }

    #[test]
    fn a_migration_that_failed_part_way_fails_the_check() {
        let line = schema_verdict(&[1, 2], &[(1, true), (2, false)]);
        assert_eq!(line.status, Status::Fail);
        assert!(line.detail.contains("migration 2 failed"), "{line:?}");
    }

    #[test]
    fn a_server_without_pg_trgm_is_named_with_what_to_install_and_run() {
        let line = trigram_verdict(false, false, true, false);
        assert_eq!(line.status, Status::Warn);
        assert!(line.detail.contains("lacks the extension") && line.detail.contains("contrib"), "{line:?}");
        assert!(line.detail.contains("CREATE EXTENSION pg_trgm") && line.detail.contains("gin_trgm_ops"), "{line:?}");
    }

    #[test]
    fn pg_trgm_with_its_index_is_ok() {
        assert_eq!(trigram_verdict(true, true, true, true).status, Status::Ok);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn the_check_reads_the_extension_and_index_from_the_database(pool: sqlx::PgPool) {
        assert_eq!(trigram(&pool).await.status, Status::Ok);
        sqlx::query("DROP INDEX lead_list_search_idx").execute(&pool).await.unwrap();
        let line = trigram(&pool).await;
        assert!(line.status == Status::Warn && line.detail.contains("CREATE INDEX lead_list_search_idx"), "{line:?}");
        sqlx::query("DROP EXTENSION pg_trgm").execute(&pool).await.unwrap();
        let line = trigram(&pool).await;
        assert!(line.status == Status::Warn && line.detail.contains("not installed in this database"), "{line:?}");
    }

    #[test]
    fn only_failures_fail_the_command() {
        let warn = CheckLine::new(Status::Warn, "socket", "not started");
        let ok = CheckLine::new(Status::Ok, "config", "defaults");
        assert!(passed(&[ok.clone(), warn.clone()]));
        assert!(!passed(&[ok, warn, CheckLine::new(Status::Fail, "dns", "timeout")]));
    }

    #[test]
    fn lines_are_aligned_status_name_detail() {
        let text = render(&[CheckLine::new(Status::Fail, "dns", "127.0.0.1:1: timeout")]);
        assert_eq!(text, "FAIL  dns         127.0.0.1:1: timeout\n");
    }
}
