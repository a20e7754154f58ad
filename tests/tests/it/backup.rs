//! `hunterd backup` and `hunterd restore` against real PostgreSQL, through the real binary.

use hunter_tests::{Daemon, DaemonOptions, TestDb, admin_url, hunterd_command, scratch_dir, with_database};
use protocol::{Request, Response};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

/// Runs a hunterd one-shot command on the external database at `url`.
fn hunterd(url: &str, dir: &Path, args: &[&str]) -> Output {
    let state = dir.join("state");
    let mut full = vec!["--config", "/dev/null", "--state-dir", state.to_str().unwrap()];
    full.extend_from_slice(args);
    hunterd_command(&full, &[("HUNTER_DATABASE__URL", url), ("HUNTER_DATABASE__CONNECT_TIMEOUT", "5s")])
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A migrated database holding one company per domain.
async fn seeded(domains: &[&str]) -> TestDb {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let migrated = hunterd(&db.url, dir.path(), &["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let pool = db.pool().await;
    for domain in domains {
        sqlx::query("INSERT INTO companies (domain, source) VALUES ($1, 'test')")
            .bind(domain)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    db
}

/// How many migrations this hunterd applies (reversible ones also carry their down scripts).
fn up_migrations() -> usize {
    hunterd::db::MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).count()
}

async fn domains(db: &TestDb) -> Vec<String> {
    let pool = db.pool().await;
    let domains = sqlx::query_scalar("SELECT domain FROM companies ORDER BY domain").fetch_all(&pool).await.unwrap();
    pool.close().await;
    domains
}

/// A backup of a database holding `domains`, in its own directory.
async fn backup_of(domains: &[&str], dir: &Path) -> std::path::PathBuf {
    let source = seeded(domains).await;
    let file = dir.join("hunter.dump");
    let out = hunterd(&source.url, dir, &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    file
}

#[tokio::test]
async fn a_backup_restored_into_an_empty_database_gives_back_the_same_companies() {
    let source = seeded(&["contoso.com", "fabrikam.com"]).await;
    let dir = scratch_dir();
    let file = dir.path().join("hunter.dump");
    let backed_up = hunterd(&source.url, dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(backed_up.status.success(), "{}", stderr(&backed_up));
    let line = stdout(&backed_up);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains("2 companies") && line.contains(file.to_str().unwrap()), "{line}");

    let target = TestDb::create().await;
    let restored = hunterd(&target.url, dir.path(), &["restore", file.to_str().unwrap()]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert!(stdout(&restored).contains("2 companies"), "{}", stdout(&restored));
    assert_eq!(domains(&target).await, ["contoso.com", "fabrikam.com"]);
    let pool = target.pool().await;
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&pool).await.unwrap();
    assert_eq!(applied as usize, up_migrations());
    pool.close().await;
}

/// One row or more in every table Hunter owns, through the columns a scan, an import and a person fill.
const EVERY_TABLE: &str = r#"
INSERT INTO companies (domain, source, company_name) VALUES ('contoso.com', 'import', 'Contoso'), ('fabrikam.com', 'manual', NULL);
INSERT INTO batches (id, kind) VALUES ('00000000-0000-0000-0000-000000000001', 'import');
INSERT INTO batch_members (batch_id, company_id)
  SELECT '00000000-0000-0000-0000-000000000001'::uuid, id FROM companies WHERE domain = 'contoso.com';
INSERT INTO intake_rows (company_id, source, batch_id, line_no, raw, outcome, reason)
  SELECT id, 'import', '00000000-0000-0000-0000-000000000001'::uuid, 2, '{"Website": "contoso.com"}'::jsonb, 'accepted', NULL
    FROM companies WHERE domain = 'contoso.com'
  UNION ALL SELECT NULL, 'import', '00000000-0000-0000-0000-000000000001'::uuid, 3, '{"Website": "gmail.com"}'::jsonb, 'rejected', 'free-mail';
INSERT INTO job_queue (kind, payload, dedup_key, priority)
  SELECT 'scan', jsonb_build_object('company_id', id), id::text, 10 FROM companies WHERE domain = 'fabrikam.com';
INSERT INTO job_schedule (name, interval_secs) VALUES ('rescans', 3600);
INSERT INTO scans (company_id, status) SELECT id, 'ok' FROM companies WHERE domain = 'contoso.com';
INSERT INTO scores (company_id, scan_id, score, segment, rules_version) SELECT company_id, id, 72, 'Existing', 'r1' FROM scans;
INSERT INTO lead_state (company_id, scan_id, score_id, scan_status, scanned_at, provider, score, mx_hosts)
  SELECT company_id, scan_id, id, 'ok', '2026-12-01 10:00:00+00', 'M365', 72, '{contoso-com.mail.protection.outlook.com}' FROM scores;
INSERT INTO events (kind, company_id, payload)
  SELECT 'change', id, '{"field": "provider", "old": "Google", "new": "M365"}'::jsonb FROM companies WHERE domain = 'contoso.com';
INSERT INTO favorites (company_id) SELECT id FROM companies WHERE domain = 'contoso.com';
INSERT INTO notes (company_id, author, body) SELECT id, 'alice', 'called, wants a demo' FROM companies WHERE domain = 'contoso.com';
INSERT INTO tags (company_id, tag) SELECT id, 'vip' FROM companies WHERE domain = 'contoso.com';
INSERT INTO registrations (company_id, state, data)
  SELECT id, 'found', '{"registrar": "MarkMonitor"}'::jsonb FROM companies WHERE domain = 'contoso.com';
INSERT INTO ip_enrichment (ip, result, source_version) VALUES ('192.0.2.1', '{"country": "DE"}', 'GeoLite2 2026-11-28');
INSERT INTO pc_referrals (referral_id, referral_kind, domain, raw, link_status, company_id, deal_value)
  SELECT 'r-1', 'co-sell', 'contoso.com', '{"id": "r-1"}'::jsonb, 'linked', id, 25000 FROM companies WHERE domain = 'contoso.com';
INSERT INTO sync_runs (job, finished_at, outcome, fetched, created, watermark)
  VALUES ('partner_center_sync', now(), 'ok', 1, 1, '2026-12-01 10:00:00+00');
INSERT INTO d365_push (company_id, state, lead_id, record_url, sent_payload, payload_hash, pushed_at)
  SELECT id, 'synced', '5f1c0a52-0000-0000-0000-000000000001',
         'https://org.example/main.aspx?etn=lead&id=5f1c0a52-0000-0000-0000-000000000001&pagetype=entityrecord',
         '{"subject": "Hunter: Contoso (contoso.com)"}'::jsonb, 'abc', now()
    FROM companies WHERE domain = 'contoso.com';
INSERT INTO d365_audit (company_id, operation, entity, http_status, duration_ms)
  SELECT id, 'create', 'lead', 201, 12 FROM companies WHERE domain = 'contoso.com';
"#;

/// Every table of schema `public` (where Hunter's migrations put everything).
async fn tables(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// A table's whole content as JSON, rows in a stable order.
async fn contents(pool: &sqlx::PgPool, table: &str) -> String {
    let sql = format!(
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text)::text, '[]') FROM public.\"{table}\" t"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.unwrap()
}

/// Every sequence's position, so ids handed out after a restore do not collide with restored ones.
async fn sequences(pool: &sqlx::PgPool) -> Vec<(String, Option<i64>)> {
    sqlx::query_as("SELECT sequencename::text, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_backup_restored_into_an_empty_database_gives_back_every_table_row_for_row() {
    let source = seeded(&[]).await;
    execute(&source, EVERY_TABLE).await;
    let dir = scratch_dir();
    let file = dir.path().join("hunter.dump");
    let out = hunterd(&source.url, dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let target = TestDb::create().await;
    let out = hunterd(&target.url, dir.path(), &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let (before, after) = (source.pool().await, target.pool().await);
    let owned = tables(&before).await;
    assert_eq!(tables(&after).await, owned);
    for table in &owned {
        let expected = contents(&before, table).await;
        assert_ne!(expected, "[]", "fill `{table}` in EVERY_TABLE: an empty table proves nothing");
        assert_eq!(contents(&after, table).await, expected, "table {table}");
    }
    assert_eq!(sequences(&after).await, sequences(&before).await);
    before.close().await;
    after.close().await;
}

#[tokio::test]
async fn restore_refuses_a_database_with_data_and_leaves_it_unchanged() {
    let dir = scratch_dir();
    let file = backup_of(&["contoso.com"], dir.path()).await;
    let target = seeded(&["northwind.com"]).await;
    let out = hunterd(&target.url, dir.path(), &["restore", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("1 company") && err.contains("--force"), "{err}");
    assert_eq!(domains(&target).await, ["northwind.com"]);
}

#[tokio::test]
async fn restore_with_force_replaces_the_data() {
    let dir = scratch_dir();
    let file = backup_of(&["contoso.com", "fabrikam.com"], dir.path()).await;
    let target = seeded(&["northwind.com"]).await;
    let out = hunterd(&target.url, dir.path(), &["restore", "--force", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(domains(&target).await, ["contoso.com", "fabrikam.com"]);
}

#[tokio::test]
async fn restoring_a_file_that_is_not_a_backup_fails_naming_it_and_changes_nothing() {
    let dir = scratch_dir();
    let file = dir.path().join("leads.csv");
    std::fs::write(&file, "domain\ncontoso.com\n").unwrap();
    let target = seeded(&["northwind.com"]).await;
    let out = hunterd(&target.url, dir.path(), &["restore", "--force", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(file.to_str().unwrap()) && err.contains("pg_dump archive"), "{err}");
    assert_eq!(domains(&target).await, ["northwind.com"]);
}

#[tokio::test]
async fn a_truncated_backup_fails_to_restore_and_changes_nothing() {
    let dir = scratch_dir();
    let file = backup_of(&["contoso.com", "fabrikam.com"], dir.path()).await;
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 64]).unwrap();
    let target = seeded(&["northwind.com"]).await;
    let out = hunterd(&target.url, dir.path(), &["restore", "--force", file.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains(file.to_str().unwrap()), "{}", stderr(&out));
    assert_eq!(domains(&target).await, ["northwind.com"]);
}

#[tokio::test]
async fn the_backup_file_is_private_and_no_temporary_file_is_left() {
    let source = seeded(&["contoso.com"]).await;
    let dir = scratch_dir();
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let file = backups.join("hunter.dump");
    let out = hunterd(&source.url, dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let left: Vec<_> = std::fs::read_dir(&backups).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("hunter.dump")]);
}

#[tokio::test]
async fn a_failed_backup_leaves_no_file() {
    let dir = scratch_dir();
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let file = backups.join("hunter.dump");
    let missing = with_database(&admin_url(), &format!("hunter_missing_{}", uuid::Uuid::new_v4().simple()));
    let out = hunterd(&missing, dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 0, "{}", stderr(&out));
}

#[tokio::test]
async fn backup_works_next_to_a_running_embedded_daemon_and_restore_asks_to_stop_it() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let daemon = Daemon::start(&options).await;
    let file = dir.path().join("hunter.dump");
    let args = |extra: &[&str]| {
        let mut args = vec!["--config", "/dev/null", "--state-dir", options.state_dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| hunterd_command(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);

    let out = run(args(&["backup", file.to_str().unwrap()]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("0 companies"), "{}", stdout(&out));
    assert!(file.is_file());
    let status = daemon.client().await.request(Request::Status).await.unwrap();
    assert!(matches!(status, Response::Status(_)), "{status:?}");

    let out = run(args(&["restore", file.to_str().unwrap()]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("stop hunterd (pid {})", daemon.pid())), "{}", stderr(&out));
    drop(daemon);
}

#[tokio::test]
async fn a_backup_from_an_older_hunterd_is_upgraded_on_restore() {
    // A database at the first schema version only, as an older hunterd left it.
    let source = TestDb::create().await;
    let migrations = tempfile::tempdir().unwrap();
    let first = hunterd::db::MIGRATOR.iter().next().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for entry in std::fs::read_dir(workspace.join("migrations")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with(&format!("{}_", first.version)) {
            std::fs::copy(entry.path(), migrations.path().join(entry.file_name())).unwrap();
        }
    }
    let pool = source.pool().await;
    sqlx::migrate::Migrator::new(migrations.path()).await.unwrap().run(&pool).await.unwrap();
    sqlx::query("INSERT INTO companies (domain, source) VALUES ('contoso.com', 'test')").execute(&pool).await.unwrap();
    pool.close().await;
    let dir = scratch_dir();
    let file = dir.path().join("old.dump");
    let out = hunterd(&source.url, dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let target = TestDb::create().await;
    let out = hunterd(&target.url, dir.path(), &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("upgraded from schema version {}", first.version)), "{}", stdout(&out));
    assert_eq!(domains(&target).await, ["contoso.com"]);
    let pool = target.pool().await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(applied as usize, up_migrations());
    pool.close().await;
}

#[tokio::test]
async fn a_backup_from_a_newer_hunterd_is_refused_before_anything_changes() {
    let source = seeded(&["contoso.com"]).await;
    let pool = source.pool().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (29991231000001, 'from the future', true, '\\x00', 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let dir = scratch_dir();
    let file = dir.path().join("future.dump");
    let out = hunterd(&source.url, dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let target = seeded(&["northwind.com"]).await;
    let out = hunterd(&target.url, dir.path(), &["restore", "--force", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("newer hunterd") && err.contains("29991231000001"), "{err}");
    assert_eq!(domains(&target).await, ["northwind.com"]);
}

/// Runs SQL on a test database.
async fn execute(db: &TestDb, sql: &str) {
    let pool = db.pool().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await.unwrap();
    pool.close().await;
}

async fn exists(db: &TestDb, object: &str) -> bool {
    let pool = db.pool().await;
    let found: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL OR to_regprocedure($1) IS NOT NULL")
        .bind(object)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    found
}

#[tokio::test]
async fn a_forced_restore_replaces_hunters_tables_and_leaves_other_objects_in_public_alone() {
    let dir = scratch_dir();
    let file = backup_of(&["contoso.com"], dir.path()).await;
    let target = seeded(&["northwind.com"]).await;
    execute(&target, "CREATE TABLE public.reporting_notes (note text); INSERT INTO reporting_notes VALUES ('keep me')")
        .await;

    let out = hunterd(&target.url, dir.path(), &["restore", "--force", file.to_str().unwrap()]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(domains(&target).await, ["contoso.com"]);
    let pool = target.pool().await;
    let kept: Vec<String> = sqlx::query_scalar("SELECT note FROM reporting_notes").fetch_all(&pool).await.unwrap();
    assert_eq!(kept, ["keep me"]);
    pool.close().await;
}

#[tokio::test]
async fn a_database_holding_only_a_function_is_restored_into_without_losing_it() {
    let dir = scratch_dir();
    let file = backup_of(&["contoso.com"], dir.path()).await;
    let target = TestDb::create().await;
    execute(&target, "CREATE FUNCTION public.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'").await;

    let out = hunterd(&target.url, dir.path(), &["restore", file.to_str().unwrap()]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(domains(&target).await, ["contoso.com"]);
    assert!(exists(&target, "public.answer()").await, "the function survives");
}

#[tokio::test]
async fn a_view_on_hunters_tables_makes_a_forced_restore_fail_and_changes_nothing() {
    let dir = scratch_dir();
    let file = backup_of(&["contoso.com"], dir.path()).await;
    let target = seeded(&["northwind.com"]).await;
    execute(&target, "CREATE VIEW public.company_report AS SELECT domain FROM companies").await;

    let out = hunterd(&target.url, dir.path(), &["restore", "--force", file.to_str().unwrap()]);

    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("other objects depend on it") && err.contains("nothing in the database"), "{err}");
    assert_eq!(domains(&target).await, ["northwind.com"]);
    assert!(exists(&target, "public.company_report").await);
}

#[tokio::test]
async fn restore_refuses_while_a_daemon_is_connected_to_the_external_database() {
    let dir = scratch_dir();
    let file = backup_of(&["contoso.com"], dir.path()).await;
    let target = seeded(&["northwind.com"]).await;
    let daemon_dir = scratch_dir();
    let daemon = Daemon::start(&DaemonOptions::in_dir(daemon_dir.path(), Some(target.url.clone()))).await;

    let out = hunterd(&target.url, dir.path(), &["restore", "--force", file.to_str().unwrap()]);

    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("hunterd is connected") && err.contains("pid "), "{err}");
    assert_eq!(domains(&target).await, ["northwind.com"]);
    drop(daemon);
}

/// A `hunterd backup` into `dir/backups/hunter.dump` whose pg_dump waits: a transaction of the test
/// holds an exclusive lock on a table pg_dump must read. Returns once pg_dump is waiting for it
/// and the backup's temporary file exists.
struct StalledBackup {
    child: std::process::Child,
    blocker: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
    backups: std::path::PathBuf,
    pool: sqlx::PgPool,
}

impl StalledBackup {
    async fn start(db: &TestDb, dir: &Path) -> StalledBackup {
        let pool = db.pool().await;
        let mut blocker = pool.begin().await.unwrap();
        // Not `companies`: the backup counts those before pg_dump starts.
        sqlx::query("LOCK TABLE scans IN ACCESS EXCLUSIVE MODE").execute(&mut *blocker).await.unwrap();
        let backups = dir.join("backups");
        std::fs::create_dir(&backups).unwrap();
        let file = backups.join("hunter.dump");
        let mut cmd = std::process::Command::new(hunter_tests::binary("hunterd"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HUNTER_")) {
            cmd.env_remove(k);
        }
        let state = dir.join("state");
        cmd.args(["--config", "/dev/null", "--state-dir", state.to_str().unwrap(), "backup", file.to_str().unwrap()])
            .env("HUNTER_DATABASE__URL", &db.url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        let stalled = StalledBackup { child, blocker: Some(blocker), backups, pool };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while stalled.temporaries().is_empty() || !stalled.pg_dump_waits().await {
            assert!(std::time::Instant::now() < deadline, "pg_dump never started waiting for the lock");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        stalled
    }

    /// Ends the test's transaction and with it the lock pg_dump waits for.
    async fn release(&mut self) {
        if let Some(blocker) = self.blocker.take() {
            blocker.rollback().await.unwrap();
        }
    }

    async fn pg_dump_waits(&self) -> bool {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                              AND application_name = 'pg_dump' AND wait_event_type = 'Lock')",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// Whether a pg_dump process for this test's database still runs (its session can outlive it
    /// while the server waits for the lock).
    async fn pg_dump_runs(&self) -> bool {
        let dbname: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&self.pool).await.unwrap();
        let wanted = format!("--dbname={dbname}");
        std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first().is_some_and(|arg0| arg0.ends_with(b"pg_dump")) && args.contains(&wanted.as_bytes())
        })
    }

    fn temporaries(&self) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&self.backups)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".hunter.dump."))
            .collect()
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.backups)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Sends `signal` and waits for hunterd to exit.
    fn interrupt(&mut self, signal: nix::sys::signal::Signal) -> Output {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "hunterd backup did not exit after {signal}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let child = std::mem::replace(&mut self.child, std::process::Command::new("true").spawn().unwrap());
        child.wait_with_output().unwrap()
    }
}

async fn interrupted_backup_leaves_nothing(signal: nix::sys::signal::Signal) {
    let db = seeded(&["contoso.com"]).await;
    let dir = scratch_dir();
    let mut backup = StalledBackup::start(&db, dir.path()).await;

    let out = backup.interrupt(signal);

    assert!(!out.status.success());
    let stderr = stderr(&out);
    assert!(stderr.contains(&format!("interrupted by {signal}: no backup was written to")), "{stderr}");
    assert_eq!(backup.files(), Vec::<String>::new(), "{stderr}");
    // pg_dump went with it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while backup.pg_dump_runs().await {
        assert!(std::time::Instant::now() < deadline, "pg_dump still runs after the backup was interrupted");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    backup.release().await;
}

#[tokio::test]
async fn ctrl_c_during_a_backup_removes_its_temporary_file() {
    interrupted_backup_leaves_nothing(nix::sys::signal::Signal::SIGINT).await;
}

#[tokio::test]
async fn sigterm_during_a_backup_removes_its_temporary_file() {
    interrupted_backup_leaves_nothing(nix::sys::signal::Signal::SIGTERM).await;
}

#[tokio::test]
async fn the_next_backup_removes_the_temporary_file_a_killed_backup_left() {
    let db = seeded(&["contoso.com"]).await;
    let dir = scratch_dir();
    let mut backup = StalledBackup::start(&db, dir.path()).await;
    // A temporary of another backup file, which is none of this backup's business.
    let other = backup.backups.join(format!(".notes.dump.{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::write(&other, "").unwrap();

    backup.interrupt(nix::sys::signal::Signal::SIGKILL);
    let left = backup.temporaries();
    assert_eq!(left.len(), 1, "{:?}", backup.files());
    // The orphaned pg_dump still holds the file; once it is gone, nobody does.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'pg_dump'",
    )
    .execute(&backup.pool)
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while nix::fcntl::Flock::lock(std::fs::File::open(&left[0]).unwrap(), nix::fcntl::FlockArg::LockExclusiveNonblock)
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "pg_dump kept the temporary file locked");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    backup.release().await;

    let file = backup.backups.join("hunter.dump");
    let out = hunterd(&db.url, dir.path(), &["backup", file.to_str().unwrap()]);

    assert!(out.status.success(), "{}", stderr(&out));
    let notes = other.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(backup.files(), [notes, "hunter.dump".to_string()]);
}

#[tokio::test]
async fn a_temporary_file_a_running_backup_holds_is_left_alone() {
    let db = seeded(&["contoso.com"]).await;
    let dir = scratch_dir();
    let file = dir.path().join("hunter.dump");
    let in_progress = dir.path().join(format!(".hunter.dump.{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::write(&in_progress, "").unwrap();
    let _held =
        nix::fcntl::Flock::lock(std::fs::File::open(&in_progress).unwrap(), nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .unwrap();

    let out = hunterd(&db.url, dir.path(), &["backup", file.to_str().unwrap()]);

    assert!(out.status.success(), "{}", stderr(&out));
    assert!(in_progress.exists());
}

#[tokio::test]
async fn restoring_an_archive_made_by_a_newer_postgresql_names_both_versions_and_changes_nothing() {
    let dir = scratch_dir();
    let file = backup_of(&["contoso.com"], dir.path()).await;
    let target = TestDb::create().await;
    let pool = target.pool().await;
    let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&pool).await.unwrap();
    let major = version.split(|c: char| !c.is_ascii_digit()).next().unwrap().to_string();
    // The header's "dumped from" version is the first copy of the server version in the archive:
    // make it say PostgreSQL 99 (the same length keeps the rest of the archive intact).
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.windows(version.len()).position(|w| w == version.as_bytes()).expect("server version in header");
    let newer = format!("{:9<width$}", "", width = major.len());
    bytes[at..at + major.len()].copy_from_slice(newer.as_bytes());
    let newer_file = dir.path().join("from-newer.dump");
    std::fs::write(&newer_file, bytes).unwrap();

    let out = hunterd(&target.url, dir.path(), &["restore", newer_file.to_str().unwrap()]);

    assert!(!out.status.success(), "{}", stdout(&out));
    let stderr = stderr(&out);
    assert!(stderr.contains(&format!("was made by PostgreSQL {newer}, this server is {major}")), "{stderr}");
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tables, 0);
}
