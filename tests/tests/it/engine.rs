//! The engine end to end: a real daemon scans domains served by a real DNS server, scores them and
//! answers lead queries; two daemons share one queue.

use hunter_tests::dns::{DnsServer, Zone, synthetic};
use hunter_tests::{Daemon, TestDb, scratch_dir, wait_for_batch};
use protocol::{LeadFilter, LeadQuery, LeadSort, Request, Response, Seek};
use std::time::Duration;

async fn insert_companies(db: &TestDb, domains: &[String]) {
    let pool = db.pool().await;
    sqlx::query("INSERT INTO companies (domain, source) SELECT d, 'test' FROM unnest($1::text[]) d")
        .bind(domains)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

fn m365_full() -> Zone {
    Zone::new("contoso.com")
        .mx(0, "contoso-com.mail.protection.outlook.com")
        .txt("v=spf1 include:spf.protection.outlook.com -all")
        .txt("MS=ms12345678")
        .dmarc("v=DMARC1; p=reject; rua=mailto:d@contoso.com")
        .dkim_cname("selector1", "selector1-contoso-com._domainkey.contoso.onmicrosoft.com")
        .dkim("selector2", "v=DKIM1; k=rsa; p=MIIBIjANBgkq")
        .autodiscover_cname("autodiscover.outlook.com")
}

fn google() -> Zone {
    Zone::new("fabrikam.com")
        .mx(1, "aspmx.l.google.com")
        .mx(5, "alt1.aspmx.l.google.com")
        .txt("v=spf1 include:_spf.google.com ~all")
        .dkim("google", "v=DKIM1; k=rsa; p=MIIBIjANBgkq")
        .dmarc("v=DMARC1; p=quarantine")
}

fn no_mx() -> Zone {
    Zone::new("nomail.example").txt("v=spf1 -all")
}

#[tokio::test]
async fn scanned_leads_are_scored_and_listed_with_their_breakdown() {
    let dns = DnsServer::start([m365_full(), google(), no_mx()]);
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let domains = vec!["contoso.com".to_string(), "fabrikam.com".to_string(), "nomail.example".to_string()];
    insert_companies(&db, &domains).await;
    let client = daemon.client().await;
    let Response::Queued { batch_id: Some(batch), queued, unknown } =
        client.request(Request::Rescan { domains: domains.clone() }).await.unwrap()
    else {
        panic!("not queued")
    };
    assert_eq!((queued, unknown.len()), (3, 0));
    wait_for_batch(&client, &batch, Duration::from_secs(30)).await;

    let query = LeadQuery { sort: LeadSort::Score, descending: true, ..LeadQuery::default() };
    let Response::Leads(page) = client.request(Request::ListLeads(Box::new(query))).await.unwrap() else { panic!() };
    assert_eq!(page.rows.len(), 3);
    let by_domain = |d: &str| page.rows.iter().find(|r| r.domain == d).unwrap().clone();
    let contoso = by_domain("contoso.com");
    assert_eq!(contoso.provider.as_deref(), Some("M365"));
    assert_eq!(contoso.segment.as_deref(), Some("Existing"));
    assert_eq!(contoso.dmarc_policy.as_deref(), Some("reject"));
    assert_eq!(contoso.scan_status.as_deref(), Some("ok"));
    let fabrikam = by_domain("fabrikam.com");
    assert_eq!(fabrikam.provider.as_deref(), Some("Google"));
    assert_eq!(fabrikam.segment.as_deref(), Some("Migration"));
    assert_eq!(fabrikam.priority.as_deref(), Some("P2"));
    let nomail = by_domain("nomail.example");
    assert_eq!(nomail.scan_status.as_deref(), Some("no_mx"));
    assert_eq!((nomail.score, nomail.segment.as_deref()), (Some(0), Some("Skip")));

    let Response::Lead(detail) = client.request(Request::LeadDetail { domain: "contoso.com".into() }).await.unwrap()
    else {
        panic!()
    };
    let sum: i32 = detail.breakdown.iter().map(|c| c.points).sum();
    assert_eq!(Some(sum), detail.row.score, "the breakdown sums to the score: {:?}", detail.breakdown);
    assert!(!detail.evidence.is_empty(), "provider detection keeps its evidence");
    assert!(detail.sales_summary.is_some());
    assert!(detail.records.iter().any(|r| r.rtype == "MX"), "raw records are kept");
    assert_eq!(detail.scans.len(), 1);
}

#[tokio::test]
async fn server_side_filters_and_paging_apply() {
    let dns = DnsServer::start([m365_full(), google(), no_mx()]);
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let domains = vec!["contoso.com".to_string(), "fabrikam.com".to_string(), "nomail.example".to_string()];
    insert_companies(&db, &domains).await;
    let client = daemon.client().await;
    let Response::Queued { batch_id: Some(batch), .. } = client.request(Request::RescanAll).await.unwrap() else {
        panic!()
    };
    wait_for_batch(&client, &batch, Duration::from_secs(30)).await;

    let page = |filter: &str, limit: u32, seek: Seek| {
        let query = LeadQuery {
            filter: LeadFilter::parse(filter).unwrap(),
            sort: LeadSort::Domain,
            descending: false,
            seek,
            limit,
        };
        let client = &client;
        async move {
            match client.request(Request::ListLeads(Box::new(query))).await.unwrap() {
                Response::Leads(page) => page,
                other => panic!("{other:?}"),
            }
        }
    };
    let list = |filter: &str, limit: u32, offset: u64| page(filter, limit, Seek::Offset(offset));
    let count = |filter: &str| {
        let request = Request::CountLeads(Box::new(LeadFilter::parse(filter).unwrap()));
        let client = &client;
        async move {
            match client.request(request).await.unwrap() {
                Response::LeadCount(count) => {
                    assert!(count.exact, "a few leads are counted exactly");
                    count.count
                }
                other => panic!("{other:?}"),
            }
        }
    };
    let google = list("provider=google", 100, 0).await;
    assert_eq!(google.rows.iter().map(|r| r.domain.as_str()).collect::<Vec<_>>(), vec!["fabrikam.com"]);
    assert_eq!(count("score>=50").await, 2);
    assert_eq!(list("segment=Skip", 100, 0).await.rows[0].domain, "nomail.example");
    assert_eq!(count("fabri").await, 1);
    assert_eq!(count("").await, 3);
    let second_page = list("", 1, 1).await;
    assert_eq!(second_page.rows.len(), 1);
    assert_eq!(second_page.rows[0].domain, "fabrikam.com");
    let first_page = list("", 1, 0).await;
    let after_first = page("", 1, Seek::After(first_page.last.clone().unwrap())).await;
    assert_eq!(after_first, second_page, "the next page by keyset is the next page by offset");
    let last_page = page("", 1, Seek::Last).await;
    let before_last = page("", 1, Seek::Before(last_page.first.clone().unwrap())).await;
    assert_eq!(before_last, second_page);

    client
        .request(Request::SetTag { domain: "contoso.com".into(), tag: "Hot-Lead".into(), present: true })
        .await
        .unwrap();
    client.request(Request::SetFavorite { domain: "contoso.com".into(), favorite: true }).await.unwrap();
    assert_eq!(list("tag=hot-lead", 100, 0).await.rows[0].domain, "contoso.com");
    assert_eq!(count("favorite").await, 1);
}

#[tokio::test]
async fn a_rescan_after_a_dns_change_records_the_change() {
    let dns = DnsServer::start([m365_full()]);
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    insert_companies(&db, &["contoso.com".to_string()]).await;
    let client = daemon.client().await;
    let rescan = || async {
        let Response::Queued { batch_id: Some(batch), .. } =
            client.request(Request::Rescan { domains: vec!["contoso.com".into()] }).await.unwrap()
        else {
            panic!()
        };
        wait_for_batch(&client, &batch, Duration::from_secs(30)).await;
    };
    rescan().await;
    // The company moved to Google Workspace.
    dns.set_zones([Zone::new("contoso.com")
        .mx(1, "aspmx.l.google.com")
        .txt("v=spf1 include:_spf.google.com ~all")
        .dmarc("v=DMARC1; p=reject")]);
    rescan().await;
    let Response::Changes(changes) = client.request(Request::Changes { limit: 10 }).await.unwrap() else { panic!() };
    let provider = changes.iter().find(|c| c.field == "provider").expect("a provider change");
    assert_eq!((provider.from.as_deref(), provider.to.as_deref()), (Some("M365"), Some("Google")));
    let me = nix::unistd::User::from_uid(nix::unistd::Uid::current()).unwrap().expect("a passwd entry").name;
    assert_eq!(provider.requested_by.as_deref(), Some(me.as_str()), "found by the rescan this user asked for");
    assert!(changes.iter().any(|c| c.field == "mx"));
    assert!(changes.iter().any(|c| c.field == "dkim"), "{changes:?}");
}

#[tokio::test]
async fn two_daemons_on_one_database_scan_each_domain_exactly_once() {
    let dns = DnsServer::builder().synthetic().threads(1).start();
    let db = TestDb::create().await;
    let (dir_a, dir_b) = (scratch_dir(), scratch_dir());
    let a = Daemon::start_scanning(&db, dir_a.path(), &dns).await;
    let b = Daemon::start_scanning(&db, dir_b.path(), &dns).await;
    let domains: Vec<String> = (0..2_000).map(synthetic::domain).collect();
    insert_companies(&db, &domains).await;
    let client = a.client().await;
    let Response::Queued { batch_id: Some(batch), queued, .. } = client.request(Request::RescanAll).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(queued, 2_000);
    wait_for_batch(&client, &batch, Duration::from_secs(180)).await;

    let pool = db.pool().await;
    let per_company: Vec<i64> = sqlx::query_scalar(
        "SELECT count(s.id) FROM companies c LEFT JOIN scans s ON s.company_id = c.id GROUP BY c.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(per_company.len(), 2_000);
    assert!(per_company.iter().all(|n| *n == 1), "some domain was scanned twice or never");
    let scanners: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT scanned_by) FROM scans").fetch_one(&pool).await.unwrap();
    assert_eq!(scanners, 2, "both daemons took a share");
    pool.close().await;
    drop(b);
}
