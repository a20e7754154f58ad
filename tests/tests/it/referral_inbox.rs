//! The referral inbox and manual links (issue 12): every synced referral listed whether it found a
//! company or not, links a person sets or removes, and that later syncs never undo them. The real
//! sync against the Partner Center fake, a real PostgreSQL database, and the real binaries where the
//! behaviour is a command's (the score changes need the daemon's scan workers).

use super::partner_center::{World, at, five_referrals, sync};
use hunter_tests::Daemon;
use hunter_tests::dns::{DnsServer, Zone};
use hunter_tests::fakes::partner_center::{odata_time, referral};
use hunterd::intake::DomainRules;
use hunterd::partner_center::inbox::{self, InboxError};
use protocol::{LinkStatus, ReferralFacet, ReferralFilter, ReferralQuery, ReferralRow, ReferralSort};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

const THREE_DAYS: Duration = Duration::from_secs(3 * 86_400);

async fn list(pool: &PgPool, query: ReferralQuery) -> protocol::ReferralPage {
    inbox::list(pool, &query, THREE_DAYS).await.unwrap()
}

fn filtered(filter: ReferralFilter) -> ReferralQuery {
    ReferralQuery { filter, sort: ReferralSort::Id, descending: false, ..ReferralQuery::default() }
}

fn ids(rows: &[ReferralRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

async fn one(pool: &PgPool, id: &str) -> ReferralRow {
    inbox::row(pool, id, THREE_DAYS).await.unwrap()
}

async fn link(pool: &PgPool, id: &str, domain: &str) -> Result<inbox::Relinked, InboxError> {
    inbox::link(pool, &DomainRules::default(), id, domain, "alice").await
}

async fn unlink(pool: &PgPool, id: &str) -> Result<inbox::Relinked, InboxError> {
    inbox::unlink(pool, &DomainRules::default(), id, "alice").await
}

#[tokio::test]
async fn every_synced_referral_is_in_the_inbox_linked_or_not_with_why() {
    let w = World::signed_in().await;
    five_referrals(&w.pc);
    sync(&w.syncer(), &w.pool).await.unwrap();
    let page = list(&w.pool, filtered(ReferralFilter::default())).await;
    assert_eq!(page.total, 5);
    type Seen<'a> = (&'a str, Option<&'a str>, Option<LinkStatus>, Option<&'a str>);
    let got: Vec<Seen> =
        page.rows.iter().map(|r| (r.id.as_str(), r.kind.as_deref(), r.link_status, r.domain.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("r1", Some("co-sell"), Some(LinkStatus::Linked), Some("contoso.com")),
            ("r2", Some("solution-provider"), Some(LinkStatus::Linked), Some("contoso.com")),
            ("r3", Some("marketing-qualified"), Some(LinkStatus::Linked), Some("contoso.com")),
            ("r4", Some("co-sell"), Some(LinkStatus::FreeMailOnly), None),
            ("r5", Some("marketplace"), Some(LinkStatus::Linked), Some("fabrikam.co.uk")),
        ]
    );
    let r4 = &page.rows[3];
    assert_eq!(
        (r4.customer.as_deref(), r4.status.as_deref(), r4.substatus.as_deref()),
        (Some("Somebody"), Some("New"), Some("Pending"))
    );
    assert_eq!((r4.deal_value.as_deref(), r4.currency.as_deref()), (Some("25000.00"), Some("USD")));
    assert_eq!(r4.contacts, ["someone@gmail.com"]);
    assert!(r4.link_reason.as_deref().is_some_and(|r| r.contains("free-mail")), "{:?}", r4.link_reason);
    assert!(r4.created.is_some() && r4.updated.is_some() && r4.expiration.is_some());
    assert_eq!(r4.manual_by, None);
}

#[tokio::test]
async fn the_inbox_filters_by_text_kind_status_and_link_status_sorts_and_pages() {
    let w = World::signed_in().await;
    five_referrals(&w.pc);
    sync(&w.syncer(), &w.pool).await.unwrap();
    let pool = &w.pool;
    let by_link = filtered(ReferralFilter { link_statuses: vec![LinkStatus::FreeMailOnly], ..Default::default() });
    assert_eq!(ids(&list(pool, by_link).await.rows), ["r4"]);
    let by_text = filtered(ReferralFilter { text: Some("FABRIKAM".into()), ..Default::default() });
    assert_eq!(ids(&list(pool, by_text).await.rows), ["r5"], "customer or domain, any case");
    let by_contact = filtered(ReferralFilter { text: Some("someone@".into()), ..Default::default() });
    assert_eq!(ids(&list(pool, by_contact).await.rows), ["r4"]);
    let by_kind = filtered(ReferralFilter { kinds: vec!["co-sell".into()], ..Default::default() });
    assert_eq!(ids(&list(pool, by_kind).await.rows), ["r1", "r4"]);
    let by_status = filtered(ReferralFilter { statuses: vec!["new".into()], ..Default::default() });
    assert_eq!(list(pool, by_status).await.total, 5, "status matches in any case");
    let none = filtered(ReferralFilter { statuses: vec!["Closed".into()], ..Default::default() });
    assert_eq!(list(pool, none).await.total, 0);

    let by_customer = ReferralQuery { sort: ReferralSort::Customer, descending: true, ..filtered(Default::default()) };
    let customers: Vec<String> =
        list(pool, by_customer).await.rows.iter().map(|r| r.customer.clone().unwrap_or_default()).collect();
    assert_eq!(customers, ["Somebody", "Fabrikam", "Contoso Ltd", "Contoso", "Contoso"]);

    let newest_first =
        ReferralQuery { sort: ReferralSort::Updated, descending: true, offset: 1, limit: 2, ..Default::default() };
    let page = list(pool, newest_first).await;
    assert_eq!((ids(&page.rows), page.total, page.offset), (vec!["r4", "r3"], 5, 1), "the second and third newest");
}

#[tokio::test]
async fn facets_count_each_value_among_the_referrals_the_other_facets_leave() {
    let w = World::signed_in().await;
    five_referrals(&w.pc);
    sync(&w.syncer(), &w.pool).await.unwrap();
    let co_sell =
        ReferralFilter { kinds: vec!["co-sell".into()], link_statuses: vec![LinkStatus::Linked], ..Default::default() };
    let links = inbox::facet_values(&w.pool, ReferralFacet::LinkStatus, &co_sell, THREE_DAYS).await.unwrap();
    let links: Vec<(&str, u64)> = links.iter().map(|f| (f.value.as_str(), f.count)).collect();
    assert_eq!(links, [("free_mail_only", 1), ("linked", 1)], "its own constraint (linked) is left out");
    let kinds = inbox::facet_values(&w.pool, ReferralFacet::Kind, &co_sell, THREE_DAYS).await.unwrap();
    let kinds: Vec<(&str, u64)> = kinds.iter().map(|f| (f.value.as_str(), f.count)).collect();
    assert_eq!(kinds, [("co-sell", 1), ("marketing-qualified", 1), ("marketplace", 1), ("solution-provider", 1)]);
}

#[tokio::test]
async fn incoming_referrals_waiting_for_an_answer_that_expire_within_the_window_are_flagged_and_counted() {
    let w = World::signed_in().await;
    let expiring_in = |id: &str, hours: i64, status: &str, direction: &str| {
        let mut r = referral(id, "co-sell", id, &[], None, at(30));
        r["expirationDateTime"] = json!(odata_time(chrono::Utc::now() + chrono::Duration::hours(hours)));
        r["status"] = json!(status);
        r["direction"] = json!(direction);
        r
    };
    w.pc.put(expiring_in("soon", 30, "New", "Incoming"));
    w.pc.put(expiring_in("later", 24 * 10, "New", "Incoming"));
    w.pc.put(expiring_in("answered", 30, "Active", "Incoming"));
    w.pc.put(expiring_in("gone", -2, "New", "Incoming"));
    w.pc.put(expiring_in("ours", 30, "New", "Outgoing"));
    sync(&w.syncer(), &w.pool).await.unwrap();
    let page = list(&w.pool, filtered(ReferralFilter::default())).await;
    let flagged: Vec<&str> = page.rows.iter().filter(|r| r.expiring_soon).map(|r| r.id.as_str()).collect();
    assert_eq!(flagged, ["soon"]);
    assert_eq!((page.expiring_soon, page.expiring_window_secs), (1, 3 * 86_400));
    let only =
        filtered(ReferralFilter { expiring_only: true, kinds: vec!["marketplace".into()], ..Default::default() });
    let page = list(&w.pool, only).await;
    assert_eq!((page.total, page.expiring_soon), (0, 1), "the status bar count ignores the filter");
    let wide =
        inbox::list(&w.pool, &filtered(ReferralFilter::default()), Duration::from_secs(11 * 86_400)).await.unwrap();
    assert_eq!(wide.expiring_soon, 2, "the window is the caller's (partner_center.expiring_soon)");
}

#[tokio::test]
async fn a_manual_link_survives_a_resync_that_still_has_no_website() {
    let w = World::signed_in().await;
    five_referrals(&w.pc);
    let syncer = w.syncer();
    sync(&syncer, &w.pool).await.unwrap();
    let done = link(&w.pool, "r4", " https://www.Somebody-Industries.com/contact ").await.unwrap();
    assert!(done.company_created && done.batch_id.is_some(), "{done:?}");
    let linked = one(&w.pool, "r4").await;
    assert_eq!(
        (linked.link_status, linked.domain.as_deref()),
        (Some(LinkStatus::Linked), Some("somebody-industries.com"))
    );
    assert_eq!(linked.manual_by.as_deref(), Some("alice"));
    let queued: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_queue q JOIN companies c ON c.id = (q.payload->>'company_id')::bigint
          WHERE q.kind = 'scan' AND c.domain = 'somebody-industries.com' AND q.priority = 10",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(queued, 1, "the new company is scanned at the priority of a person's request");

    sync(&syncer, &w.pool).await.unwrap();
    w.pc.touch("r4", chrono::Utc::now(), |r| r["substatus"] = json!("Received"));
    let summary = sync(&syncer, &w.pool).await.unwrap();
    assert!(summary.contains("updated 1"), "{summary}");
    let after = one(&w.pool, "r4").await;
    assert_eq!(after.substatus.as_deref(), Some("Received"), "the sync did store the change");
    assert_eq!(
        (after.link_status, after.domain.as_deref()),
        (Some(LinkStatus::Linked), Some("somebody-industries.com"))
    );
    assert_eq!((after.manual_by, after.link_reason), (Some("alice".into()), None));
    let company_linked: bool = sqlx::query_scalar(
        "SELECT p.company_id = c.id FROM pc_referrals p, companies c
          WHERE p.referral_id = 'r4' AND c.domain = 'somebody-industries.com'",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert!(company_linked);
}

#[tokio::test]
async fn a_link_is_refused_with_intakes_reason_for_what_intake_refuses_and_for_unknown_referrals() {
    let w = World::signed_in().await;
    five_referrals(&w.pc);
    sync(&w.syncer(), &w.pool).await.unwrap();
    let companies = "SELECT count(*) FROM companies";
    let before: i64 = sqlx::query_scalar(companies).fetch_one(&w.pool).await.unwrap();
    let free = link(&w.pool, "r4", "gmail.com").await.unwrap_err().to_string();
    assert!(free.contains("`gmail.com` is not a company domain") && free.contains("free-mail"), "{free}");
    let ip = link(&w.pool, "r4", "http://192.0.2.1/").await.unwrap_err().to_string();
    assert!(ip.contains("IP address"), "{ip}");
    let unknown = link(&w.pool, "nope", "contoso.com").await.unwrap_err();
    assert!(matches!(unknown, InboxError::NotFound(_)), "{unknown:?}");
    let after: i64 = sqlx::query_scalar(companies).fetch_one(&w.pool).await.unwrap();
    assert_eq!(before, after, "nothing was created");
    assert_eq!(one(&w.pool, "r4").await.link_status, Some(LinkStatus::FreeMailOnly));
}

#[tokio::test]
async fn removing_a_wrong_automatic_link_is_kept_by_later_syncs() {
    let w = World::signed_in().await;
    five_referrals(&w.pc);
    let syncer = w.syncer();
    sync(&syncer, &w.pool).await.unwrap();
    let done = unlink(&w.pool, "r5").await.unwrap();
    assert!(done.batch_id.is_some(), "fabrikam.co.uk is rescanned without the referral");
    let removed = one(&w.pool, "r5").await;
    assert_eq!((removed.link_status, removed.domain.as_deref()), (Some(LinkStatus::Unlinked), None));
    w.pc.touch("r5", chrono::Utc::now(), |r| r["status"] = json!("Active"));
    sync(&syncer, &w.pool).await.unwrap();
    let after = one(&w.pool, "r5").await;
    assert_eq!(after.status.as_deref(), Some("Active"));
    assert_eq!(
        (after.link_status, after.domain, after.manual_by),
        (Some(LinkStatus::Unlinked), None, Some("alice".into()))
    );
    let again = unlink(&w.pool, "r5").await.unwrap_err().to_string();
    assert!(again.contains("not linked (unlinked)"), "{again}");
}

#[tokio::test]
async fn removing_a_manual_link_goes_back_to_what_the_sync_found() {
    let w = World::signed_in().await;
    five_referrals(&w.pc);
    sync(&w.syncer(), &w.pool).await.unwrap();
    link(&w.pool, "r4", "somebody.example.com").await.unwrap();
    unlink(&w.pool, "r4").await.unwrap();
    let r4 = one(&w.pool, "r4").await;
    assert_eq!((r4.link_status, r4.domain, r4.manual_by), (Some(LinkStatus::FreeMailOnly), None, None));
}

/// contoso.com on Google Workspace with SPF and DMARC: a lead whose score the co-sell bonus changes.
fn contoso_dns() -> DnsServer {
    DnsServer::start([Zone::new("contoso.com")
        .mx(0, "aspmx.l.google.com")
        .txt("v=spf1 include:_spf.google.com ~all")
        .dmarc("v=DMARC1; p=reject")])
}

async fn score_of(pool: &PgPool, domain: &str) -> (i32, bool) {
    let (score, breakdown): (i32, serde_json::Value) = sqlx::query_as(
        "SELECT s.score, s.breakdown FROM lead_state ls JOIN scores s ON s.id = ls.score_id
           JOIN companies c ON c.id = ls.company_id WHERE c.domain = $1",
    )
    .bind(domain)
    .fetch_one(pool)
    .await
    .unwrap();
    let bonus = breakdown.as_array().unwrap().iter().any(|c| c["key"] == "partner_center_cosell" && c["points"] == 15);
    (score, bonus)
}

/// Runs hunter-tui against the daemon off the test's runtime (the fakes answer on it).
async fn tui(daemon: &Daemon, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = vec!["--socket".into(), daemon.options.socket.to_str().unwrap().into()];
    all.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        hunter_tests::tui_command(&args, &[])
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn linking_a_co_sell_referral_from_the_cli_applies_the_bonus_and_unlinking_removes_it() {
    let dns = contoso_dns();
    let w = World::signed_in().await;
    // Co-sell, only a free-mail contact: the sync cannot link it.
    w.pc.put(referral("r4", "co-sell", "Contoso", &["pat@gmail.com"], None, at(5)));
    sync(&w.syncer(), &w.pool).await.unwrap();
    let daemon = Daemon::start_scanning(&w._db, w.dir.path(), &dns).await;
    let added = tui(&daemon, &["add", "contoso.com", "--wait"]).await;
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let (plain, bonus) = score_of(&w.pool, "contoso.com").await;
    assert!(!bonus);

    let out = tui(&daemon, &["referrals", "link", "r4", "Contoso.com", "--wait"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("linked r4 to contoso.com (scan queued"), "{stdout}");
    assert_eq!(score_of(&w.pool, "contoso.com").await, (plain + 15, true), "the co-sell bonus counts");

    let out = tui(&daemon, &["referrals", "unlink", "r4", "--wait"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("unlinked r4 (now free_mail_only)"), "{stdout}");
    assert_eq!(score_of(&w.pool, "contoso.com").await, (plain, false), "the bonus is gone");
}

#[tokio::test]
async fn the_cli_lists_referrals_as_spreadsheet_safe_csv_or_json_and_fails_clearly() {
    let dns = DnsServer::start([]);
    let w = World::signed_in().await;
    five_referrals(&w.pc);
    w.pc.touch("r4", chrono::Utc::now(), |r| r["name"] = json!("=HYPERLINK(\"http://x\")"));
    sync(&w.syncer(), &w.pool).await.unwrap();
    let daemon = Daemon::start_scanning(&w._db, w.dir.path(), &dns).await;

    let csv = tui(&daemon, &["referrals", "--link-status", "free_mail_only"]).await;
    assert_eq!(csv.status.code(), Some(0), "{}", String::from_utf8_lossy(&csv.stderr));
    let text = String::from_utf8_lossy(&csv.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("referral_id,name,customer,kind,"), "{text}");
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1]
            .starts_with("r4,\"'=HYPERLINK(\"\"http://x\"\")\",Somebody,co-sell,Incoming,New,Pending,25000.00,USD,"),
        "{text}"
    );
    assert!(lines[1].contains(",free_mail_only,"), "{text}");

    let json = tui(&daemon, &["referrals", "--format", "json", "--sort", "id"]).await;
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let ids: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["referral_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["r1", "r2", "r3", "r4", "r5"]);
    assert_eq!(rows[3]["name"], "=HYPERLINK(\"http://x\")", "JSON stays exact");

    let refused = tui(&daemon, &["referrals", "link", "r4", "gmail.com"]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr.contains("`gmail.com` is not a company domain"), "{stderr}");
    let unknown = tui(&daemon, &["referrals", "unlink", "nope"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no referral `nope`"));
    let bad = tui(&daemon, &["referrals", "--link-status", "nodomain"]).await;
    assert_eq!(bad.status.code(), Some(2), "a misspelt status is a usage error");
}

#[tokio::test]
async fn relinking_a_wrongly_linked_referral_rescans_both_companies() {
    let w = World::signed_in().await;
    five_referrals(&w.pc);
    sync(&w.syncer(), &w.pool).await.unwrap();
    let done = link(&w.pool, "r5", "www.Northwind.com").await.unwrap();
    let batch = done.batch_id.expect("a rescan batch");
    let members: Vec<String> = sqlx::query_scalar(
        "SELECT c.domain FROM batch_members m JOIN companies c ON c.id = m.company_id
          WHERE m.batch_id = $1::uuid ORDER BY c.domain",
    )
    .bind(&batch)
    .fetch_all(&w.pool)
    .await
    .unwrap();
    assert_eq!(members, ["fabrikam.co.uk", "northwind.com"], "the new company and the one that loses the referral");
}
