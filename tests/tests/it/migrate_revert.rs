//! `hunterd migrate revert` against a real database, and the switch from single-file to up/down
//! migrations not breaking databases the previous release migrated.

use std::path::{Path, PathBuf};
use std::process::Output;

use hunter_tests::{TestDb, hunterd_command, scratch_dir};

/// The up scripts' SHA-384 as the previous release (single-file migrations) recorded them: the
/// `.up.sql` files must stay byte-identical or those databases fail validation.
const RELEASED: [(i64, &str, &str); 3] = [
    (
        20261123000001,
        "foundation",
        "49751d2790bf151aea50b496d12f1e36a91bd82a72339daec671bb0ed24892e352e7c0b908ee633a43e220bbacbb7c76",
    ),
    (
        20261123000002,
        "leads",
        "7e2151442e652269e7ecd3263b5df527ff0f802baba233b040fc0f21cbf019f5f59dd6755917e68fec790834c071c7d3",
    ),
    (
        20261123000003,
        "ip_enrichment",
        "3efa18adac5daf904b51089c57225e0660a1a200da1853c637ee87b869ff73d7f7b7c8297cf49b835a7362337eaa6cf3",
    ),
];

/// Runs `hunterd migrate <extra>` in external mode with an empty config and a private state dir.
fn migrate(db: &TestDb, extra: &[&str]) -> Output {
    let dir = scratch_dir();
    let config = dir.path().join("hunterd.toml");
    std::fs::write(&config, "").expect("write empty config");
    let state = dir.path().join("state");
    let mut args = vec!["migrate"];
    args.extend_from_slice(extra);
    hunterd_command(
        &args,
        &[
            ("HUNTER_DATABASE__URL", &db.url),
            ("HUNTER_CONFIG", config.to_str().expect("utf-8 path")),
            ("HUNTER_STATE_DIR", state.to_str().expect("utf-8 path")),
        ],
    )
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn known_versions() -> Vec<i64> {
    hunterd::db::MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).map(|m| m.version).collect()
}

async fn applied(pool: &sqlx::PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
        .expect("read _sqlx_migrations")
}

/// Everything in the public schema that migrations shape: relations (tables, indexes, sequences),
/// columns with types and defaults, and index definitions.
async fn schema(pool: &sqlx::PgPool) -> Vec<String> {
    let mut rows: Vec<String> = sqlx::query_scalar(
        "SELECT c.relkind::text || ' ' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public'
         UNION ALL
         SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
                || coalesce(column_default, '') || coalesce(' generated ' || generation_expression, '')
         FROM information_schema.columns WHERE table_schema = 'public'
         UNION ALL
         SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
         UNION ALL
         SELECT 'constraint ' || conrelid::regclass::text || ' ' || pg_get_constraintdef(c.oid)
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'
         UNION ALL
         SELECT 'type ' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = 'public'
         UNION ALL
         SELECT 'function ' || p.proname || coalesce(' ' || array_to_string(p.proconfig, ','), '') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public'
         UNION ALL
         SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal
         UNION ALL
         SELECT 'compression ' || c.relname || '.' || a.attname || ' ' || a.attcompression::text FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND a.attcompression::text <> ''",
    )
    .fetch_all(pool)
    .await
    .expect("read the schema");
    rows.sort();
    rows
}

#[tokio::test]
async fn revert_undoes_only_the_newest_migration_and_migrate_reapplies_it() {
    let db = TestDb::create().await;
    succeeded(&migrate(&db, &[]));
    let pool = db.pool().await;
    let full = schema(&pool).await;
    let known = known_versions();
    let (newest, rest) = known.split_last().expect("at least one migration");

    let out = succeeded(&migrate(&db, &["revert"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with(&format!("reverted {newest} ")), "{out}");
    assert_eq!(lines[1], format!("database is at schema version {}", rest.last().copied().unwrap_or(0)));
    assert_eq!(applied(&pool).await, rest);
    assert_ne!(schema(&pool).await, full);

    let status = succeeded(&migrate(&db, &["status"]));
    assert_eq!(status.lines().filter(|l| l.starts_with("pending")).count(), 1, "{status}");
    assert!(status.lines().any(|l| l.starts_with("pending") && l.contains(&newest.to_string())), "{status}");

    succeeded(&migrate(&db, &[]));
    assert_eq!(applied(&pool).await, known);
    assert_eq!(schema(&pool).await, full);
    pool.close().await;
}

#[tokio::test]
async fn revert_to_zero_removes_the_whole_schema_and_migrate_rebuilds_it_identically() {
    let db = TestDb::create().await;
    succeeded(&migrate(&db, &[]));
    let pool = db.pool().await;
    let full = schema(&pool).await;

    let out = succeeded(&migrate(&db, &["revert", "--to", "0"]));
    let mut expected: Vec<String> = known_versions().iter().rev().map(|v| format!("reverted {v} ")).collect();
    expected.push("database is at schema version 0".into());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, prefix) in lines.iter().zip(&expected) {
        assert!(line.starts_with(prefix.as_str()), "{out}");
    }

    // Only sqlx's bookkeeping table (with its key, row type and array type) may remain, and empty.
    let left: Vec<String> = schema(&pool).await.into_iter().filter(|r| !r.contains("_sqlx_migrations")).collect();
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert!(applied(&pool).await.is_empty());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 0);

    succeeded(&migrate(&db, &[]));
    assert_eq!(schema(&pool).await, full);
    assert_eq!(applied(&pool).await, known_versions());
    pool.close().await;
}

#[tokio::test]
async fn reverting_to_each_version_then_migrating_restores_the_same_schema() {
    let db = TestDb::create().await;
    succeeded(&migrate(&db, &[]));
    let pool = db.pool().await;
    let full = schema(&pool).await;
    // An incomplete down script shows here: the up it leaves half-undone fails, or the schema differs.
    let mut targets = known_versions();
    targets.insert(0, 0);
    targets.pop();
    for target in targets.into_iter().rev() {
        let out = succeeded(&migrate(&db, &["revert", "--to", &target.to_string()]));
        assert!(out.ends_with(&format!("database is at schema version {target}\n")), "{out}");
        assert_eq!(applied(&pool).await, known_versions().into_iter().filter(|v| *v <= target).collect::<Vec<_>>());
        succeeded(&migrate(&db, &[]));
        assert_eq!(schema(&pool).await, full, "after reverting to {target} and migrating again");
    }
    pool.close().await;
}

#[tokio::test]
async fn revert_to_an_unknown_version_fails_naming_the_known_ones_and_changes_nothing() {
    let db = TestDb::create().await;
    succeeded(&migrate(&db, &[]));
    let pool = db.pool().await;
    let before = schema(&pool).await;

    let out = migrate(&db, &["revert", "--to", "20261123000099"]);
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown migration version 20261123000099"), "{stderr}");
    for version in known_versions() {
        assert!(stderr.contains(&version.to_string()), "{version} not named: {stderr}");
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains("reverted"));
    assert_eq!(applied(&pool).await, known_versions());
    assert_eq!(schema(&pool).await, before);
    pool.close().await;
}

#[test]
fn revert_refuses_while_a_daemon_holds_the_embedded_state_dir() {
    let dir = scratch_dir();
    let config = dir.path().join("hunterd.toml");
    std::fs::write(&config, "").expect("write empty config");
    let state = dir.path().join("state");
    // The lock a running daemon holds on its state directory.
    let paths = hunterd::paths::Paths::resolve(hunterd::paths::PathOverrides {
        config: Some(config.clone()),
        state_dir: Some(state.clone()),
        socket: None,
    });
    let _lock = hunterd::paths::lock_state_dir(&paths).expect("take the state-dir lock");

    // No database URL: embedded mode.
    let out = hunterd_command(
        &["migrate", "revert", "--to", "0"],
        &[
            ("HUNTER_CONFIG", config.to_str().expect("utf-8 path")),
            ("HUNTER_STATE_DIR", state.to_str().expect("utf-8 path")),
        ],
    );
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is using state directory"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("reverted"));
}

#[tokio::test]
async fn revert_with_nothing_applied_succeeds_and_changes_nothing() {
    let db = TestDb::create().await;
    let out = succeeded(&migrate(&db, &["revert"]));
    assert_eq!(out.trim(), "database is at schema version 0");
    let out = succeeded(&migrate(&db, &["revert", "--to", "0"]));
    assert_eq!(out.trim(), "database is at schema version 0");
}

/// Migrates `db` exactly as the previous release did: its single-file migrations (the same SQL,
/// under their old `<version>_<description>.sql` names) run by sqlx's own migrator.
async fn migrate_like_previous_release(pool: &sqlx::PgPool) {
    let old = tempfile::tempdir().expect("temp dir");
    let current = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    for (version, description, _) in RELEASED {
        let up: PathBuf = current.join(format!("{version}_{description}.up.sql"));
        std::fs::copy(&up, old.path().join(format!("{version}_{description}.sql")))
            .unwrap_or_else(|e| panic!("copy {}: {e}", up.display()));
    }
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.expect("old-format migrator");
    assert!(migrator.iter().all(|m| m.migration_type == sqlx::migrate::MigrationType::Simple));
    migrator.run(pool).await.expect("run the old-format migrations");
}

#[tokio::test]
async fn a_database_migrated_by_the_single_file_release_still_validates() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    migrate_like_previous_release(&pool).await;

    // What the previous release recorded: the released files' checksums and descriptions.
    let recorded: Vec<(i64, String, Vec<u8>)> =
        sqlx::query_as("SELECT version, description, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let recorded: Vec<(i64, String, String)> = recorded.into_iter().map(|(v, d, c)| (v, d, hex(&c))).collect();
    let released: Vec<(i64, String, String)> =
        RELEASED.iter().map(|(v, d, c)| (*v, d.replace('_', " "), c.to_string())).collect();
    assert_eq!(recorded, released, "the .up.sql files no longer match the released migrations");
    let before = schema(&pool).await;

    succeeded(&migrate(&db, &[]));
    let status = succeeded(&migrate(&db, &["status"]));
    let applied_lines: Vec<&str> = status.lines().filter(|l| l.starts_with("applied")).collect();
    assert!(applied_lines.len() >= RELEASED.len(), "{status}");
    assert!(status.lines().all(|l| l.starts_with("applied")), "{status}");
    assert_eq!(applied(&pool).await, known_versions());
    if known_versions().len() == RELEASED.len() {
        assert_eq!(schema(&pool).await, before, "nothing pending, so nothing may change");
    }
    pool.close().await;
}

#[tokio::test]
async fn a_database_migrated_by_the_single_file_release_can_be_reverted() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    migrate_like_previous_release(&pool).await;
    succeeded(&migrate(&db, &[]));

    succeeded(&migrate(&db, &["revert", "--to", "0"]));
    assert!(applied(&pool).await.is_empty());
    let left: Vec<String> = schema(&pool).await.into_iter().filter(|r| !r.contains("_sqlx_migrations")).collect();
    assert!(left.is_empty(), "left behind: {left:#?}");
    pool.close().await;
}

#[tokio::test]
async fn revert_refuses_while_a_daemon_is_connected_to_the_external_database() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon =
        hunter_tests::Daemon::start(&hunter_tests::DaemonOptions::in_dir(dir.path(), Some(db.url.clone()))).await;

    let out = migrate(&db, &["revert"]);

    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hunterd is connected") && err.contains("stop every hunterd"), "{err}");
    let pool = db.pool().await;
    assert_eq!(applied(&pool).await, known_versions(), "nothing was reverted");
    pool.close().await;
    drop(daemon);
}

/// The migration that makes the free-text column again rewrites the lead list; the list is vacuumed
/// after it (VACUUM cannot run inside a migration), so its index-only walks do not read the heap
/// until autovacuum happens to come by.
#[tokio::test]
async fn a_migration_that_rewrites_the_lead_list_is_followed_by_a_vacuum_of_it() {
    let db = TestDb::create().await;
    succeeded(&migrate(&db, &[]));
    let pool = db.pool().await;
    let vacuums = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'lead_list'")
            .fetch_one(&pool)
            .await
            .expect("lead_list statistics")
    };
    assert_eq!(vacuums(pool.clone()).await, 0, "a new database's migration has nothing to vacuum");
    succeeded(&migrate(&db, &["revert", "--to", "20261211000003"]));
    succeeded(&migrate(&db, &[]));
    assert_eq!(vacuums(pool.clone()).await, 1);
    succeeded(&migrate(&db, &[]));
    assert_eq!(vacuums(pool.clone()).await, 1, "nothing new applied, nothing vacuumed");
    pool.close().await;
}
