//! How many clients hunterd serves and what the others are told: a cap per account (the socket
//! peer's uid) below the global one, a refusal in words instead of a reset, idle connections closed.

use hunter_tests::{Daemon, DaemonOptions, TestDb, binary, scratch_dir, tui_command};
use hunter_tui::client::{Client, ClientError};
use protocol::{Request, Response};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

async fn daemon_with(settings: &[(&str, &str)]) -> (Daemon, TestDb, tempfile::TempDir) {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.extra_env = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let daemon = Daemon::start(&options).await;
    (daemon, db, dir)
}

async fn connect(daemon: &Daemon) -> Result<Client, ClientError> {
    Client::connect(&daemon.options.socket, "hunter-tests").await
}

/// Connects once the slot of an earlier connection (the start-up probe's, one the test closed) is
/// free: the daemon frees it when it sees the connection close.
async fn connect_when_free(daemon: &Daemon) -> Client {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match connect(daemon).await {
            Ok(client) => return client,
            Err(e) => assert!(std::time::Instant::now() < deadline, "no slot was freed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pings(client: &Client) -> bool {
    matches!(client.request_timeout(Request::Ping, Duration::from_secs(5)).await, Ok(Response::Pong))
}

#[tokio::test]
async fn an_account_at_its_cap_is_told_hunterd_is_busy_while_another_account_is_still_served() {
    let (daemon, _db, _dir) =
        daemon_with(&[("HUNTER_SERVER__MAX_CLIENTS", "10"), ("HUNTER_SERVER__MAX_CLIENTS_PER_USER", "3")]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_when_free(&daemon).await);
    }

    match connect(&daemon).await {
        Err(ClientError::Refused(why)) => {
            assert!(why.starts_with("hunterd is busy: uid 0 (root) already has 3 connections"), "{why}");
            assert!(why.contains("server.max_clients_per_user"), "{why}");
        }
        Err(other) => panic!("refused without the reason: {other}"),
        Ok(_) => panic!("a fourth connection of one account was let in"),
    }
    let socket = daemon.options.socket.display().to_string();
    let status = tui_command(&["--socket", &socket, "status"], &[]);
    assert_eq!(status.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&status.stderr).contains("hunterd is busy"), "{status:?}");

    // Another account (here `nobody`, let onto the socket for the test) is not locked out.
    std::fs::set_permissions(&daemon.options.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    // A copy beside the socket: the build tree may sit in a directory only root can enter (a clone
    // in `mktemp -d`), which `nobody` could not run the binary from.
    let copy = daemon.options.socket.with_file_name("hunter-tui-for-nobody");
    std::fs::copy(binary("hunter-tui"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let other = std::process::Command::new(&copy)
        .args(["--socket", &socket, "status"])
        .env_remove("HUNTER_SOCKET")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(other.status.success(), "{other:?}");

    // A closed connection frees its slot (once the daemon has seen it close).
    held.pop();
    assert!(pings(&connect_when_free(&daemon).await).await);
}

#[tokio::test]
async fn past_the_global_cap_every_client_is_told_hunterd_is_busy_with_the_count() {
    let (daemon, _db, _dir) =
        daemon_with(&[("HUNTER_SERVER__MAX_CLIENTS", "2"), ("HUNTER_SERVER__MAX_CLIENTS_PER_USER", "2")]).await;
    let _held = (connect_when_free(&daemon).await, connect_when_free(&daemon).await);
    match connect(&daemon).await {
        Err(ClientError::Refused(why)) => assert!(why.starts_with("hunterd is busy (2 clients connected"), "{why}"),
        Err(other) => panic!("refused without the reason: {other}"),
        Ok(_) => panic!("a third connection was let in"),
    }
}

#[tokio::test]
async fn an_idle_connection_without_a_subscription_is_closed_and_a_subscribed_one_is_kept() {
    let (daemon, _db, _dir) = daemon_with(&[("HUNTER_SERVER__IDLE_TIMEOUT", "1s")]).await;
    let idle = connect(&daemon).await.unwrap();
    let subscribed = connect(&daemon).await.unwrap();
    subscribed.subscribe().await.unwrap();
    let busy = connect(&daemon).await.unwrap();
    // Keeps asking: never idle for a whole second.
    for _ in 0..12 {
        assert!(pings(&busy).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    match idle.request_timeout(Request::Ping, Duration::from_secs(5)).await {
        Err(ClientError::Disconnected) => {}
        other => panic!("an idle connection was kept open: {other:?}"),
    }
    assert!(pings(&subscribed).await, "a subscribed connection was closed");
    assert!(daemon.log().contains("closing a connection idle for 1s"), "{}", daemon.log());
}
