//! The shared work queue and result storage, against a real database.

use hunter_tests::TestDb;
use hunterd::jobs::{housekeeping, queue};
use hunterd::pipeline::rescan;
use hunterd::pipeline::store::{self, ScanOutcome, StoredDetection, StoredScore};
use hunterd::scan::{MxHost, ScanResult, ScanStatus, SpfResult, SpfStatus, TenantHints};
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;

async fn migrated() -> (TestDb, PgPool) {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    hunterd::db::MIGRATOR.run(&pool).await.unwrap();
    (db, pool)
}

async fn companies(pool: &PgPool, n: usize) -> Vec<i64> {
    sqlx::query_scalar(
        "INSERT INTO companies (domain, source) SELECT 'd' || i || '.example', 'test' FROM generate_series(1, $1) i RETURNING id",
    )
    .bind(n as i32)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn outcome(company_id: i64, provider: &str, mx: &str) -> ScanOutcome {
    ScanOutcome {
        company_id,
        scan: ScanResult {
            domain: "d1.example".into(),
            status: ScanStatus::Ok,
            mx: vec![MxHost { preference: 10, host: mx.into(), cname_target: None, addresses: vec![] }],
            spf: SpfResult {
                status: SpfStatus::Valid,
                record: Some("v=spf1 -all".into()),
                all_records: vec!["v=spf1 -all".into()],
                includes: vec![],
                lookup_count: 0,
                tree: None,
            },
            dmarc: None,
            dkim: vec![],
            hints: TenantHints::default(),
            apex_txt: vec![],
            raw: vec![],
            queries: 5,
            warnings: vec![],
        },
        detection: StoredDetection { provider: provider.into(), ..StoredDetection::default() },
        score: StoredScore {
            score: 50,
            segment: "Cold".into(),
            reason: "r".into(),
            rules_version: "t".into(),
            ..StoredScore::default()
        },
        registration: None,
        registration_due: false,
        enrichment: None,
        started_at: chrono::Utc::now(),
        duration_ms: 12,
    }
}

#[tokio::test]
async fn asking_twice_to_scan_a_company_queues_one_scan() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 3).await;
    assert_eq!(queue::enqueue_scans(&pool, &ids, 0).await.unwrap(), 3);
    assert_eq!(queue::enqueue_scans(&pool, &ids, 0).await.unwrap(), 0);
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM job_queue").fetch_one(&pool).await.unwrap();
    assert_eq!(queued, 3);
}

#[tokio::test]
async fn claims_take_the_highest_priority_first_then_the_item_ready_longest() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 3).await;
    queue::enqueue_scans(&pool, &ids, 0).await.unwrap();
    // The first-queued item was retried: its backoff ended after the others became ready.
    sqlx::query("UPDATE job_queue SET run_after = now() - interval '1 minute' WHERE payload->>'company_id' = $1")
        .bind(ids[0].to_string())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE job_queue SET run_after = now() - interval '1 hour' WHERE payload->>'company_id' <> $1")
        .bind(ids[0].to_string())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE job_queue SET priority = 5 WHERE payload->>'company_id' = $1")
        .bind(ids[2].to_string())
        .execute(&pool)
        .await
        .unwrap();
    let mut in_claim_order = Vec::new();
    while let [item] = queue::claim(&pool, "scan", "me", 1, Duration::from_secs(60)).await.unwrap().as_slice() {
        in_claim_order.push(item.payload["company_id"].as_i64().unwrap());
    }
    assert_eq!(in_claim_order, vec![ids[2], ids[1], ids[0]]);
}

#[tokio::test]
async fn concurrent_claimers_never_take_the_same_item() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 500).await;
    queue::enqueue_scans(&pool, &ids, 0).await.unwrap();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{worker}");
            let mut mine = Vec::new();
            loop {
                let items = queue::claim(&pool, "scan", &owner, 7, Duration::from_secs(60)).await.unwrap();
                if items.is_empty() {
                    return mine;
                }
                mine.extend(items.iter().map(|i| i.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for id in task.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "item {id} claimed twice");
        }
    }
    assert_eq!(total, 500);
}

#[tokio::test]
async fn work_of_a_dead_daemon_is_requeued_after_its_lease() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 1).await;
    queue::enqueue_scans(&pool, &ids, 0).await.unwrap();
    let claimed = queue::claim(&pool, "scan", "dead", 10, Duration::from_millis(10)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let summary = housekeeping::run(&pool).await.unwrap();
    assert!(summary.starts_with("requeued 1 "), "{summary}");
    let again = queue::claim(&pool, "scan", "alive", 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
}

#[tokio::test]
async fn a_stored_scan_becomes_the_leads_current_state_and_completes_its_job() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 1).await;
    queue::enqueue_scans(&pool, &ids, 0).await.unwrap();
    let item = queue::claim(&pool, "scan", "me", 1, Duration::from_secs(60)).await.unwrap().remove(0);
    let changes = store::store(&pool, &outcome(ids[0], "M365", "a.mail.protection.outlook.com"), Some((item.id, "me")))
        .await
        .unwrap();
    assert!(changes.is_empty(), "a first scan is not a change");
    let (provider, score): (String, i32) =
        sqlx::query_as("SELECT provider, score FROM lead_state WHERE company_id = $1")
            .bind(ids[0])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((provider.as_str(), score), ("M365", 50));
    let state: String =
        sqlx::query_scalar("SELECT state FROM job_queue WHERE id = $1").bind(item.id).fetch_one(&pool).await.unwrap();
    assert_eq!(state, "done");
}

#[tokio::test]
async fn a_provider_move_between_scans_is_recorded_as_a_change() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 1).await;
    store::store(&pool, &outcome(ids[0], "M365", "a.mail.protection.outlook.com"), None).await.unwrap();
    let changes = store::store(&pool, &outcome(ids[0], "Google", "aspmx.l.google.com"), None).await.unwrap();
    let fields: Vec<&str> = changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, vec!["provider", "mx"]);
    let feed = hunterd::leads::changes(&pool, 10).await.unwrap();
    assert_eq!(feed.len(), 2);
    assert!(feed.iter().any(|c| c.field == "provider" && c.to.as_deref() == Some("Google")));
    assert!(feed.iter().all(|c| c.requested_by.is_none()), "nobody asked for these scans: {feed:?}");
    let scans: i64 = sqlx::query_scalar("SELECT count(*) FROM scans").fetch_one(&pool).await.unwrap();
    assert_eq!(scans, 2, "history is kept");
}

#[tokio::test]
async fn batch_progress_counts_members_scanned_after_the_batch() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 2).await;
    let batch = queue::create_batch(&pool, "test", &ids).await.unwrap();
    let p = queue::batch_progress(&pool, &batch).await.unwrap().unwrap();
    assert_eq!((p.done, p.total), (0, 2));
    store::store(&pool, &outcome(ids[0], "M365", "a.mail.protection.outlook.com"), None).await.unwrap();
    let p = queue::batch_progress(&pool, &batch).await.unwrap().unwrap();
    assert_eq!((p.done, p.total), (1, 2));
}

#[tokio::test]
async fn batch_progress_knows_an_empty_batch_from_an_unknown_one() {
    let (_db, pool) = migrated().await;
    let empty = queue::create_batch(&pool, "test", &[]).await.unwrap();
    let p = queue::batch_progress(&pool, &empty).await.unwrap().expect("the batch exists");
    assert_eq!((p.done, p.total), (0, 0));
    let unknown = uuid::Uuid::new_v4().to_string();
    assert!(queue::batch_progress(&pool, &unknown).await.unwrap().is_none());
}

// --- the periodic `rescans` job ---

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A company whose last scan was `hours_ago` (None: a lead_state row that was never scanned).
async fn scanned(pool: &PgPool, company_id: i64, hours_ago: Option<i32>) {
    sqlx::query("INSERT INTO lead_state (company_id, scanned_at) VALUES ($1, now() - make_interval(hours => $2))")
        .bind(company_id)
        .bind(hours_ago)
        .execute(pool)
        .await
        .unwrap();
}

/// Queued scan items as (company id, priority), by company.
async fn queued_scans(pool: &PgPool) -> Vec<(i64, i16)> {
    sqlx::query_as(
        "SELECT (payload->>'company_id')::bigint AS c, priority FROM job_queue
          WHERE kind = 'scan' AND state = 'queued' ORDER BY c",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_rescans_job_queues_leads_scanned_longer_ago_than_the_interval_and_never_scanned_ones() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 4).await;
    scanned(&pool, ids[0], Some(48)).await;
    scanned(&pool, ids[1], Some(1)).await;
    scanned(&pool, ids[2], None).await;
    // ids[3] has no lead_state at all: added, never scanned.
    assert_eq!(rescan::queue_due(&pool, DAY, 100).await.unwrap(), 3);
    assert_eq!(queued_scans(&pool).await, vec![(ids[0], 0), (ids[2], 0), (ids[3], 0)], "priority 0, below people's");
}

#[tokio::test]
async fn the_rescans_job_takes_the_longest_unscanned_first_and_at_most_its_limit() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 3).await;
    scanned(&pool, ids[0], Some(72)).await;
    scanned(&pool, ids[1], Some(120)).await;
    // ids[2]: never scanned, so first of all.
    assert_eq!(rescan::queue_due(&pool, DAY, 2).await.unwrap(), 2);
    assert_eq!(queued_scans(&pool).await, vec![(ids[1], 0), (ids[2], 0)]);
    // While those two wait, they are still the longest unscanned: a run adds nothing (the limit caps
    // what the job has outstanding). Once they are scanned, the next run takes the rest.
    assert_eq!(rescan::queue_due(&pool, DAY, 2).await.unwrap(), 0);
    sqlx::query("UPDATE job_queue SET state = 'done'").execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO lead_state (company_id, scanned_at) VALUES ($1, now())
                 ON CONFLICT (company_id) DO UPDATE SET scanned_at = now()",
    )
    .bind(ids[2])
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE lead_state SET scanned_at = now() WHERE company_id = $1")
        .bind(ids[1])
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(rescan::queue_due(&pool, DAY, 2).await.unwrap(), 1, "the next run takes the rest");
    assert_eq!(queued_scans(&pool).await, vec![(ids[0], 0)]);
}

#[tokio::test]
async fn the_rescans_job_never_queues_a_lead_twice_nor_lowers_a_scan_a_person_asked_for() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 2).await;
    queue::enqueue_scans(&pool, &ids[..1], 10).await.unwrap();
    assert_eq!(rescan::queue_due(&pool, DAY, 100).await.unwrap(), 1, "only the one not already queued");
    assert_eq!(rescan::queue_due(&pool, DAY, 100).await.unwrap(), 0);
    assert_eq!(queued_scans(&pool).await, vec![(ids[0], 10), (ids[1], 0)]);
}

#[tokio::test]
async fn the_rescans_job_reports_how_many_it_queued() {
    let (_db, pool) = migrated().await;
    companies(&pool, 2).await;
    assert_eq!(rescan::run(&pool, DAY).await.unwrap(), "queued 2 rescan(s)");
}

#[tokio::test]
async fn a_batch_of_results_is_stored_in_one_go_with_its_queue_items_completed() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 50).await;
    queue::enqueue_scans(&pool, &ids, 0).await.unwrap();
    let items = queue::claim(&pool, "scan", "me", 50, Duration::from_secs(60)).await.unwrap();
    let jobs: Vec<i64> = items.iter().map(|i| i.id).collect();
    let first: Vec<ScanOutcome> = ids.iter().map(|&id| outcome(id, "M365", "a.mail.protection.outlook.com")).collect();
    let changes = store::store_batch(&pool, &first, &jobs, Some("me")).await.unwrap();
    assert!(changes.iter().all(Vec::is_empty), "first scans are not changes");
    let (leads, done): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM lead_state WHERE provider = 'M365' AND score = 50 AND mx_hosts = '{a.mail.protection.outlook.com}'),
                (SELECT count(*) FROM job_queue WHERE state = 'done')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((leads, done), (50, 50));

    let second: Vec<ScanOutcome> = ids.iter().map(|&id| outcome(id, "Google", "aspmx.l.google.com")).collect();
    let changes = store::store_batch(&pool, &second, &[], None).await.unwrap();
    assert!(changes.iter().all(|c| c.iter().map(|f| f.field).collect::<Vec<_>>() == ["provider", "mx"]));
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE kind = 'change'").fetch_one(&pool).await.unwrap();
    assert_eq!(events, 100);
}

#[tokio::test]
async fn a_batch_that_fails_stores_nothing_and_completes_no_queue_item() {
    let (_db, pool) = migrated().await;
    let ids = companies(&pool, 3).await;
    queue::enqueue_scans(&pool, &ids, 0).await.unwrap();
    let items = queue::claim(&pool, "scan", "me", 3, Duration::from_secs(60)).await.unwrap();
    let jobs: Vec<i64> = items.iter().map(|i| i.id).collect();
    let mut batch: Vec<ScanOutcome> = ids.iter().map(|&id| outcome(id, "M365", "a.example")).collect();
    batch.push(outcome(ids[2] + 1000, "M365", "a.example")); // no such company
    assert!(store::store_batch(&pool, &batch, &jobs, Some("me")).await.is_err());
    let (leads, running): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM lead_state), (SELECT count(*) FROM job_queue WHERE state = 'running')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((leads, running), (0, 3), "the crash-safe unit is the batch: its scans are all redone");
}
