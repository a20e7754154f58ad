//! Adding and importing domains through a real daemon, then following their scans.

use hunter_tests::dns::{DnsServer, Zone};
use hunter_tests::{Daemon, TestDb, scratch_dir, wait_for_batch};
use protocol::{IntakeOutcome, Request, Response};
use std::time::Duration;

fn zones() -> Vec<Zone> {
    vec![
        Zone::new("contoso.com")
            .mx(0, "contoso-com.mail.protection.outlook.com")
            .txt("v=spf1 include:spf.protection.outlook.com -all"),
        Zone::new("fabrikam.com").mx(1, "aspmx.l.google.com").txt("v=spf1 include:_spf.google.com ~all"),
    ]
}

#[tokio::test]
async fn added_domains_are_normalised_validated_and_scanned() {
    let dns = DnsServer::start(zones());
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let client = daemon.client().await;
    let inputs = vec![
        "https://www.Contoso.com/about".to_string(),
        "alice@fabrikam.com".to_string(),
        "gmail.com".to_string(),
        "contoso.com".to_string(),
    ];
    let Response::Added(report) = client.request(Request::AddDomains { inputs }).await.unwrap() else { panic!() };
    let outcomes: Vec<(IntakeOutcome, Option<&str>)> =
        report.results.iter().map(|r| (r.outcome, r.domain.as_deref())).collect();
    assert_eq!(outcomes[0], (IntakeOutcome::Accepted, Some("contoso.com")));
    assert_eq!(outcomes[1], (IntakeOutcome::Accepted, Some("fabrikam.com")));
    assert_eq!(outcomes[2].0, IntakeOutcome::Rejected);
    assert!(report.results[2].reason.as_deref().unwrap_or_default().contains("free"), "{:?}", report.results[2]);
    assert_eq!(outcomes[3], (IntakeOutcome::Merged, Some("contoso.com")));

    wait_for_batch(&client, report.batch_id.as_deref().expect("a batch to follow"), Duration::from_secs(30)).await;
    let Response::Leads(page) = client.request(Request::ListLeads(Box::default())).await.unwrap() else { panic!() };
    assert_eq!(page.rows.len(), 2);
    assert!(page.rows.iter().all(|r| r.scan_status.as_deref() == Some("ok")), "{:?}", page.rows);
}

#[tokio::test]
async fn an_uploaded_csv_is_imported_with_row_precise_rejections_and_scanned() {
    let dns = DnsServer::start(zones());
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let client = daemon.client().await;
    let csv = dir.path().join("leads.csv");
    std::fs::write(&csv, "Company;Website\nContoso;https://contoso.com\nNobody;not a domain\nFabrikam;www.fabrikam.com\nContoso again;contoso.com\n").unwrap();
    let report = hunter_tui::commands::upload(&client, &csv).await.unwrap();
    assert_eq!((report.accepted, report.merged, report.rejected), (2, 1, 1), "{report:?}");
    assert_eq!(report.rejected_rows[0].line, 3);
    assert_eq!(report.file_name, "leads.csv");
    wait_for_batch(&client, report.batch_id.as_deref().unwrap(), Duration::from_secs(30)).await;
    let Response::Leads(page) = client.request(Request::ListLeads(Box::default())).await.unwrap() else { panic!() };
    let companies: Vec<Option<&str>> = page.rows.iter().map(|r| r.company.as_deref()).collect();
    assert!(companies.contains(&Some("Contoso")), "{companies:?}");
    assert_eq!(page.rows.len(), 2);
}

#[tokio::test]
async fn a_broken_upload_stores_nothing_and_says_why() {
    let dns = DnsServer::start(zones());
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let client = daemon.client().await;
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let err = hunter_tui::commands::upload(&client, &empty).await.unwrap_err().to_string();
    assert!(err.contains("empty.csv") && err.contains("empty") && err.contains("nothing was imported"), "{err}");
    let Response::Leads(page) = client.request(Request::ListLeads(Box::default())).await.unwrap() else { panic!() };
    assert_eq!(page.rows.len(), 0);
}

/// Makes every insert into the scan queue fail, as a full disk or a lost lock would.
async fn break_the_scan_queue(db: &TestDb) {
    let pool = db.pool().await;
    sqlx::query(
        "CREATE FUNCTION refuse_queue() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'the scan queue is broken'; END $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER refuse_queue BEFORE INSERT ON job_queue FOR EACH ROW EXECUTE FUNCTION refuse_queue()")
        .execute(&pool)
        .await
        .unwrap();
}

async fn companies_stored(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM companies").fetch_one(&db.pool().await).await.unwrap()
}

#[tokio::test]
async fn an_import_whose_scans_cannot_be_queued_stores_nothing_and_says_so() {
    let dns = DnsServer::start(zones());
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let client = daemon.client().await;
    break_the_scan_queue(&db).await;
    let csv = dir.path().join("leads.csv");
    std::fs::write(&csv, "Website\ncontoso.com\nfabrikam.com\n").unwrap();
    let err = hunter_tui::commands::upload(&client, &csv).await.unwrap_err().to_string();
    assert!(err.contains("leads.csv") && err.contains("nothing was imported"), "{err}");
    assert_eq!(companies_stored(&db).await, 0, "companies stored without their scans queued");
}

#[tokio::test]
async fn an_add_whose_scans_cannot_be_queued_stores_nothing_and_says_so() {
    let dns = DnsServer::start(zones());
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let client = daemon.client().await;
    break_the_scan_queue(&db).await;
    let err = client.request(Request::AddDomains { inputs: vec!["contoso.com".into()] }).await.unwrap_err();
    assert!(err.to_string().contains("database unavailable"), "{err}");
    assert_eq!(companies_stored(&db).await, 0, "companies stored without their scans queued");
}
