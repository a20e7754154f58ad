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
