//! `hunterd migrate` against a real database.

use hunter_tests::{TestDb, hunterd_command, scratch_dir};

fn migrate(db: &TestDb, extra: &[&str]) -> std::process::Output {
    migrate_url(&db.url, extra)
}

fn migrate_url(url: &str, extra: &[&str]) -> std::process::Output {
    let dir = scratch_dir();
    let state = dir.path().join("state");
    let mut args = vec!["--config", "/dev/null", "--state-dir", state.to_str().unwrap(), "migrate"];
    args.extend_from_slice(extra);
    hunterd_command(&args, &[("HUNTER_DATABASE__URL", url)])
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = TestDb::create().await;
    let first = migrate(&db, &[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let pool = db.pool().await;
    let tables = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = tables(pool.clone()).await;
    let second = migrate(&db, &[]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(tables(pool.clone()).await, before);
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap();
    // Reversible migrations are an up and a down script each; only the ups are recorded.
    let ups = hunterd::db::MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).count();
    assert_eq!(applied as usize, ups);
    for table in [
        "companies",
        "intake_rows",
        "scans",
        "scores",
        "job_queue",
        "job_schedule",
        "events",
        "notes",
        "tags",
        "favorites",
    ] {
        assert!(before.contains(&table.to_string()), "missing table {table}: {before:?}");
    }
    pool.close().await;
}

#[tokio::test]
async fn scan_history_and_score_details_are_compressed_with_lz4() {
    let db = TestDb::create().await;
    let out = migrate(&db, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pool = db.pool().await;
    let methods: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.attrelid::regclass::text || '.' || a.attname, a.attcompression::text FROM pg_attribute a
          WHERE a.attrelid IN ('scans'::regclass, 'scores'::regclass)
            AND a.attname IN ('raw_records', 'signals', 'detection', 'registration', 'enrichment', 'breakdown',
                              'sales_summary')
          ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(methods.len(), 7);
    for (column, method) in methods {
        assert_eq!(method, "l", "{column} is compressed with lz4");
    }
}

#[tokio::test]
async fn migrate_status_lists_applied_and_pending() {
    let db = TestDb::create().await;
    let pending = migrate(&db, &["status"]);
    assert!(pending.status.success());
    assert!(String::from_utf8_lossy(&pending.stdout).starts_with("pending"));
    assert!(migrate(&db, &[]).status.success());
    let applied = String::from_utf8_lossy(&migrate(&db, &["status"]).stdout).to_string();
    assert!(applied.lines().all(|l| l.starts_with("applied")), "{applied}");
}

#[tokio::test]
async fn migrate_reports_an_unreachable_database_clearly() {
    let dir = scratch_dir();
    let state = dir.path().join("state");
    let out = hunterd_command(
        &["--config", "/dev/null", "--state-dir", state.to_str().unwrap(), "migrate"],
        &[
            ("HUNTER_DATABASE__URL", "postgres://nobody:secretpw@127.0.0.1:1/none"),
            ("HUNTER_DATABASE__CONNECT_TIMEOUT", "1s"),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot connect to PostgreSQL at postgres://nobody:[redacted]@127.0.0.1:1/none"),
        "{stderr}"
    );
    assert!(!stderr.contains("secretpw"), "{stderr}");
}

/// A role that may build the schema but not create extensions (it does not own the database) still
/// migrates: the lead list is there, free text only lacks its trigram index.
#[tokio::test]
async fn a_role_that_may_not_create_pg_trgm_still_migrates_without_the_trigram_index() {
    let db = TestDb::create().await;
    let admin = db.pool().await;
    let role = format!("hunter_noext_{}", uuid::Uuid::new_v4().simple());
    for sql in [format!("CREATE ROLE {role} LOGIN"), format!("GRANT USAGE, CREATE ON SCHEMA public TO {role}")] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await.unwrap();
    }
    // The same server and database, as that role (the test server trusts local connections).
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    let out = migrate_url(&format!("{scheme}://{role}@{host}"), &[]);
    let migrated = out.status.success();
    let found: (bool, bool, bool) = sqlx::query_as(
        "SELECT to_regclass('lead_list') IS NOT NULL, to_regclass('lead_list_search_idx') IS NOT NULL,
                EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP OWNED BY {role}"))).execute(&admin).await.unwrap();
    admin.close().await;
    drop(db);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&hunter_tests::admin_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE {role}"))).execute(&mut conn).await.unwrap();

    assert!(migrated, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(found, (true, false, false));
}
