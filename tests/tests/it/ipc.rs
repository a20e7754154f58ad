//! The socket protocol as a client sees it, including clients that misbehave.

use hunter_tests::{Daemon, DaemonOptions, TestDb, scratch_dir};
use hunter_tui::client::{Client, ClientError};
use interprocess::local_socket::tokio::{Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, ToFsName};
use protocol::{DatabaseMode, Event, Hello, JobState, Request, Response};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn external_daemon() -> (Daemon, TestDb, tempfile::TempDir) {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start(&DaemonOptions::in_dir(dir.path(), Some(db.url.clone()))).await;
    (daemon, db, dir)
}

async fn raw_stream(daemon: &Daemon) -> Stream {
    let name = daemon.options.socket.as_path().to_fs_name::<GenericFilePath>().unwrap();
    Stream::connect(name).await.unwrap()
}

/// Reads until the daemon closes the connection; fails if it stays open.
async fn assert_closed_by_daemon(mut stream: Stream) {
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the daemon kept a misbehaving connection open");
}

async fn assert_still_serves(client: &Client) {
    let resp = client.request_timeout(Request::Ping, Duration::from_secs(5)).await.expect("ping after bad client");
    assert_eq!(resp, Response::Pong);
}

#[tokio::test]
async fn a_request_round_trips_through_the_socket() {
    let (daemon, _db, _dir) = external_daemon().await;
    let client = daemon.client().await;
    assert_eq!(client.request(Request::Ping).await.unwrap(), Response::Pong);
    let Response::Status(status) = client.request(Request::Status).await.unwrap() else { panic!("not a status") };
    assert_eq!(status.protocol, protocol::PROTOCOL_VERSION);
    assert_eq!(status.build_version, protocol::BUILD_VERSION);
    assert_eq!(status.database.mode, DatabaseMode::External);
    assert!(status.database.schema_version > 0, "migrations were applied");
    assert!(status.jobs.iter().any(|j| j.name == "housekeeping"), "the scheduler's jobs are visible");
    assert_eq!(client.daemon().build_version, protocol::BUILD_VERSION);
}

#[tokio::test]
async fn responses_and_events_interleave_on_one_connection() {
    let (daemon, _db, _dir) = external_daemon().await;
    let mut client = daemon.client().await;
    let mut events = client.take_events().unwrap();
    assert_eq!(client.request(Request::Subscribe).await.unwrap(), Response::Ok);
    assert_eq!(client.request(Request::RunJob { name: "housekeeping".into() }).await.unwrap(), Response::Ok);
    // The forced run reports itself running, then finished with a result.
    let finished = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.recv().await {
            if let Event::JobChanged(job) = event
                && job.name == "housekeeping"
                && job.state == JobState::Idle
                && job.last_result.is_some()
            {
                return job;
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("a JobChanged event for the forced run");
    assert!(finished.last_finished_at.is_some());
    // And plain requests still work while subscribed.
    assert_eq!(client.request(Request::Ping).await.unwrap(), Response::Pong);
}

#[tokio::test]
async fn an_unknown_job_is_a_clear_error() {
    let (daemon, _db, _dir) = external_daemon().await;
    let client = daemon.client().await;
    let err = client.request(Request::RunJob { name: "nope".into() }).await.unwrap_err();
    assert!(err.to_string().contains("no scheduled job is called `nope`"), "{err}");
}

#[tokio::test]
async fn many_clients_are_served_at_once() {
    let (daemon, _db, _dir) = external_daemon().await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let client = daemon.client().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                assert_eq!(client.request(Request::Ping).await.unwrap(), Response::Pong);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn a_newer_client_is_told_the_daemon_is_older_and_the_daemon_logs_it() {
    let (daemon, _db, _dir) = external_daemon().await;
    let mut hello = Hello::new("hunter-tui");
    hello.protocol = protocol::PROTOCOL_VERSION + 1;
    hello.build_version = "9.9.9".into();
    let err = Client::connect_with_hello(&daemon.options.socket, hello).await.err().expect("refused");
    let ClientError::VersionMismatch(line) = err else { panic!("expected a version mismatch, got {err}") };
    let expected = format!(
        "hunterd {} (protocol {}) is older than hunter-tui 9.9.9 (protocol {}): upgrade hunterd to 9.9.9 and restart it",
        protocol::BUILD_VERSION,
        protocol::PROTOCOL_VERSION,
        protocol::PROTOCOL_VERSION + 1
    );
    assert_eq!(line, expected);
    // The daemon says the same on its side (stderr shows warnings when not on a terminal).
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        while !daemon.stderr().contains(&expected) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "daemon stderr lacks the mismatch line:\n{}", daemon.stderr());
}

#[tokio::test]
async fn an_older_client_is_told_to_upgrade_itself() {
    let (daemon, _db, _dir) = external_daemon().await;
    let mut hello = Hello::new("hunter-tui");
    hello.protocol = 0;
    hello.build_version = "0.0.1".into();
    let err = Client::connect_with_hello(&daemon.options.socket, hello).await.err().expect("refused");
    assert_eq!(
        err.to_string(),
        format!(
            "hunter-tui 0.0.1 (protocol 0) is older than hunterd {} (protocol {}): upgrade hunter-tui to {}",
            protocol::BUILD_VERSION,
            protocol::PROTOCOL_VERSION,
            protocol::BUILD_VERSION
        )
    );
}

#[tokio::test]
async fn an_oversize_frame_drops_only_that_client() {
    let (daemon, _db, _dir) = external_daemon().await;
    let good = daemon.client().await;
    let mut bad = raw_stream(&daemon).await;
    protocol::frame::send(&mut bad, &Hello::new("bad")).await.unwrap();
    let _welcome: protocol::Welcome = protocol::frame::recv(&mut bad).await.unwrap();
    bad.write_all(&(protocol::MAX_FRAME_LEN + 1).to_be_bytes()).await.unwrap();
    assert_closed_by_daemon(bad).await;
    assert_still_serves(&good).await;
}

#[tokio::test]
async fn an_oversize_hello_drops_only_that_client() {
    let (daemon, _db, _dir) = external_daemon().await;
    let good = daemon.client().await;
    let mut bad = raw_stream(&daemon).await;
    bad.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    assert_closed_by_daemon(bad).await;
    assert_still_serves(&good).await;
}

#[tokio::test]
async fn garbage_bytes_drop_only_that_client() {
    let (daemon, _db, _dir) = external_daemon().await;
    let good = daemon.client().await;
    let mut bad = raw_stream(&daemon).await;
    bad.write_all(&[0, 0, 0, 12, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8]).await.unwrap();
    assert_closed_by_daemon(bad).await;
    assert_still_serves(&good).await;
}

#[tokio::test]
async fn garbage_after_the_handshake_drops_only_that_client() {
    let (daemon, _db, _dir) = external_daemon().await;
    let good = daemon.client().await;
    let mut bad = raw_stream(&daemon).await;
    protocol::frame::send(&mut bad, &Hello::new("bad")).await.unwrap();
    let _welcome: protocol::Welcome = protocol::frame::recv(&mut bad).await.unwrap();
    protocol::frame::write_frame(&mut bad, &[0xff; 64]).await.unwrap();
    assert_closed_by_daemon(bad).await;
    assert_still_serves(&good).await;
}

#[tokio::test]
async fn a_half_open_client_does_not_block_others() {
    let (daemon, _db, _dir) = external_daemon().await;
    // Half a length prefix, then silence, with the connection held open.
    let mut stalled = raw_stream(&daemon).await;
    stalled.write_all(&[0, 0]).await.unwrap();
    let late = daemon.client().await;
    assert_still_serves(&late).await;
    drop(stalled);
}
