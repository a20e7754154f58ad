//! What people add to a lead through the socket — notes, tags, favourites — and reading them back.

use hunter_tests::{Daemon, DaemonOptions, TestDb, scratch_dir};
use hunter_tui::client::{Client, ClientError};
use protocol::ErrorKind;

async fn daemon_with_lead() -> (Daemon, TestDb, tempfile::TempDir) {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start(&DaemonOptions::in_dir(dir.path(), Some(db.url.clone()))).await;
    sqlx::query("INSERT INTO companies (domain, source) VALUES ('contoso.com', 'test')")
        .execute(&db.pool().await)
        .await
        .unwrap();
    (daemon, db, dir)
}

fn remote_kind(error: ClientError) -> (ErrorKind, String) {
    match error {
        ClientError::Remote(e) => (e.kind, e.message),
        other => panic!("expected an error from hunterd, got {other:?}"),
    }
}

async fn tags(client: &Client) -> Vec<String> {
    client.lead_detail("contoso.com").await.unwrap().row.tags
}

#[tokio::test]
async fn a_note_is_stored_and_read_back_in_the_lead_detail() {
    let (daemon, _db, _dir) = daemon_with_lead().await;
    let client = daemon.client().await;
    client.add_note("Contoso.com", "alice", "  called, wants a demo  ").await.unwrap();
    client.add_note("contoso.com", "bob", "sent the offer").await.unwrap();
    let notes = client.lead_detail("contoso.com").await.unwrap().notes;
    let mut bodies: Vec<&str> = notes.iter().map(|n| n.body.as_str()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, vec!["called, wants a demo", "sent the offer"], "trimmed, both kept");
}

#[tokio::test]
async fn a_note_is_written_under_the_callers_login_whatever_the_client_claims() {
    let (daemon, _db, _dir) = daemon_with_lead().await;
    let client = daemon.client().await;
    client.add_note("contoso.com", "mallory", "called, wants a demo").await.unwrap();
    let me = nix::unistd::User::from_uid(nix::unistd::Uid::current()).unwrap().expect("a passwd entry").name;
    let notes = client.lead_detail("contoso.com").await.unwrap().notes;
    let authors: Vec<&str> = notes.iter().map(|n| n.author.as_str()).collect();
    assert_eq!(authors, vec![me.as_str()], "the socket's peer, not the client's word");
}

#[tokio::test]
async fn tags_favourites_and_rescans_record_the_callers_login() {
    let (daemon, db, _dir) = daemon_with_lead().await;
    let client = daemon.client().await;
    client.set_tag("contoso.com", "vip", true).await.unwrap();
    client.set_favorite("contoso.com", true).await.unwrap();
    let batch = client.rescan(vec!["contoso.com".into()]).await.unwrap().batch_id.expect("a rescan batch");
    let me = nix::unistd::User::from_uid(nix::unistd::Uid::current()).unwrap().expect("a passwd entry").name;
    let pool = db.pool().await;
    let tagged_by: Option<String> =
        sqlx::query_scalar("SELECT added_by FROM tags WHERE tag = 'vip'").fetch_one(&pool).await.unwrap();
    let favoured_by: Option<String> =
        sqlx::query_scalar("SELECT added_by FROM favorites").fetch_one(&pool).await.unwrap();
    let requested_by: Option<String> = sqlx::query_scalar("SELECT requested_by FROM batches WHERE id = $1::uuid")
        .bind(&batch)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((tagged_by, favoured_by, requested_by), (Some(me.clone()), Some(me.clone()), Some(me)));
}

#[tokio::test]
async fn the_lead_detail_says_who_tagged_favoured_and_asked_for_a_rescan_newest_first() {
    let (daemon, _db, _dir) = daemon_with_lead().await;
    let client = daemon.client().await;
    client.set_tag("contoso.com", "vip", true).await.unwrap();
    client.set_favorite("contoso.com", true).await.unwrap();
    client.rescan(vec!["contoso.com".into()]).await.unwrap();
    let me = nix::unistd::User::from_uid(nix::unistd::Uid::current()).unwrap().expect("a passwd entry").name;
    let activity = client.lead_detail("contoso.com").await.unwrap().activity;
    let said: Vec<(Option<&str>, &str)> = activity.iter().map(|a| (a.who.as_deref(), a.what.as_str())).collect();
    assert_eq!(
        said,
        vec![
            (Some(me.as_str()), "asked for a rescan"),
            (Some(me.as_str()), "marked as favourite"),
            (Some(me.as_str()), "tagged vip")
        ]
    );
    assert!(activity.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
}

#[tokio::test]
async fn an_empty_note_or_one_for_an_unknown_lead_is_refused_with_the_reason() {
    let (daemon, _db, _dir) = daemon_with_lead().await;
    let client = daemon.client().await;
    let (kind, message) = remote_kind(client.add_note("contoso.com", "alice", "   ").await.unwrap_err());
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(message.contains("empty"), "{message}");
    let (kind, message) = remote_kind(client.add_note("nobody.example", "alice", "hello").await.unwrap_err());
    assert_eq!(kind, ErrorKind::NotFound);
    assert!(message.contains("nobody.example"), "{message}");
    assert!(client.lead_detail("contoso.com").await.unwrap().notes.is_empty());
}

#[tokio::test]
async fn a_tag_is_added_once_in_lower_case_and_can_be_removed() {
    let (daemon, _db, _dir) = daemon_with_lead().await;
    let client = daemon.client().await;
    client.set_tag("contoso.com", "Hot-Lead", true).await.unwrap();
    client.set_tag("contoso.com", "hot-lead", true).await.unwrap();
    client.set_tag("contoso.com", "renewal", true).await.unwrap();
    let mut shown = tags(&client).await;
    shown.sort_unstable();
    assert_eq!(shown, vec!["hot-lead", "renewal"]);
    client.set_tag("contoso.com", "HOT-LEAD", false).await.unwrap();
    assert_eq!(tags(&client).await, vec!["renewal"]);
    client.set_tag("contoso.com", "never-set", false).await.expect("removing a missing tag is not an error");
}

#[tokio::test]
async fn a_tag_that_is_not_one_word_of_at_most_64_characters_is_refused() {
    let (daemon, _db, _dir) = daemon_with_lead().await;
    let client = daemon.client().await;
    for bad in ["two words".to_string(), "   ".to_string(), "x".repeat(65)] {
        let (kind, message) = remote_kind(client.set_tag("contoso.com", &bad, true).await.unwrap_err());
        assert_eq!(kind, ErrorKind::InvalidInput, "{bad:?}");
        assert!(message.contains("not a tag"), "{message}");
    }
    client.set_tag("contoso.com", &"x".repeat(64), true).await.expect("64 characters is fine");
    assert_eq!(tags(&client).await, vec!["x".repeat(64)]);
}

#[tokio::test]
async fn a_favourite_can_be_set_and_unset() {
    let (daemon, _db, _dir) = daemon_with_lead().await;
    let client = daemon.client().await;
    let favorite = || async { client.lead_detail("contoso.com").await.unwrap().row.favorite };
    assert!(!favorite().await);
    client.set_favorite("contoso.com", true).await.unwrap();
    client.set_favorite("contoso.com", true).await.unwrap();
    assert!(favorite().await);
    client.set_favorite("contoso.com", false).await.unwrap();
    assert!(!favorite().await);
    let (kind, _) = remote_kind(client.set_favorite("nobody.example", true).await.unwrap_err());
    assert_eq!(kind, ErrorKind::NotFound);
}
