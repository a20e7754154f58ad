//! Starting, refusing and stopping daemons.

use hunter_tests::{Daemon, DaemonOptions, TestDb, scratch_dir, spawn_daemon};
use protocol::{Request, Response};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

#[tokio::test]
async fn a_second_daemon_on_the_same_socket_refuses_to_start() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let first = Daemon::start(&DaemonOptions::in_dir(dir.path(), Some(db.url.clone()))).await;
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.state_dir = dir.path().join("other-state");
    let mut second = spawn_daemon(&options);
    let status = second.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    let expected = format!("another hunterd is already serving on {}", options.socket.display());
    assert!(second.stderr().contains(&expected), "stderr: {}", second.stderr());
    // The first one is untouched.
    assert_eq!(first.client().await.request(Request::Ping).await.unwrap(), Response::Pong);
}

#[tokio::test]
async fn a_second_daemon_on_the_same_state_dir_refuses_to_start() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let first = Daemon::start(&DaemonOptions::in_dir(dir.path(), Some(db.url.clone()))).await;
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.socket = dir.path().join("other.sock");
    let mut second = spawn_daemon(&options);
    assert!(!second.wait_exit(Duration::from_secs(30)).success());
    assert!(second.stderr().contains("is using state directory"), "stderr: {}", second.stderr());
    assert_eq!(first.client().await.request(Request::Ping).await.unwrap(), Response::Pong);
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    // A socket nobody listens on, as a crashed daemon leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&options.socket).unwrap());
    assert!(std::fs::symlink_metadata(&options.socket).unwrap().file_type().is_socket());
    let daemon = Daemon::start(&options).await;
    assert_eq!(daemon.client().await.request(Request::Ping).await.unwrap(), Response::Pong);
}

#[tokio::test]
async fn a_regular_file_at_the_socket_path_is_not_deleted() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    std::fs::write(&options.socket, b"precious").unwrap();
    let mut daemon = spawn_daemon(&options);
    assert!(!daemon.wait_exit(Duration::from_secs(30)).success());
    assert!(daemon.stderr().contains("exists and is not a socket"), "stderr: {}", daemon.stderr());
    assert_eq!(std::fs::read(&options.socket).unwrap(), b"precious");
}

#[tokio::test]
async fn the_socket_is_reachable_by_its_owner_only() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start(&DaemonOptions::in_dir(dir.path(), Some(db.url.clone()))).await;
    let mode = std::fs::metadata(&daemon.options.socket).unwrap().permissions().mode() & 0o777;
    // No `hunter` group on test machines: owner only. (With the group: 0660.)
    assert_eq!(mode & 0o007, 0, "socket is world-accessible: {mode:o}");
    if nix::unistd::Group::from_name("hunter").ok().flatten().is_none() {
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test]
async fn sigterm_stops_the_daemon_cleanly_and_removes_its_socket() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let mut daemon = Daemon::start(&DaemonOptions::in_dir(dir.path(), Some(db.url.clone()))).await;
    let status = daemon.stop();
    assert!(status.success(), "exit status {status}; stderr: {}", daemon.stderr());
    assert!(!daemon.options.socket.exists(), "socket left behind after a clean stop");
    assert!(daemon.log().contains("hunterd stopped"), "log: {}", daemon.log());
}

#[tokio::test]
async fn subscribers_are_told_when_the_daemon_shuts_down() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let mut daemon = Daemon::start(&DaemonOptions::in_dir(dir.path(), Some(db.url.clone()))).await;
    let mut client = daemon.client().await;
    let mut events = client.take_events().unwrap();
    client.request(Request::Subscribe).await.unwrap();
    let _ = daemon.stop();
    let notice = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(event) = events.recv().await {
            if event == protocol::Event::ShuttingDown {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(notice, Ok(true));
}

/// The lease a job run leaves behind when its daemon is killed mid-run: written as an earlier run of
/// the daemon on `state_dir` (same daemon id, another pid), due in two minutes.
async fn leave_a_killed_runs_lease(pool: &sqlx::PgPool, state_dir: &std::path::Path, job: &str) {
    let id = std::fs::read_to_string(state_dir.join("daemon-id")).unwrap();
    sqlx::query(
        "UPDATE job_schedule SET running_by = $2, lease_expires_at = now() + interval '120 seconds' WHERE name = $1",
    )
    .bind(job)
    .bind(format!("{}:somehost:1", id.trim()))
    .execute(pool)
    .await
    .unwrap();
}

async fn run_job_and_wait(client: &hunter_tui::client::Client, job: &str, patience: Duration) {
    let before = client.jobs().await.unwrap().into_iter().find(|j| j.name == job).unwrap().last_finished_at;
    client.run_job(job).await.unwrap();
    let deadline = std::time::Instant::now() + patience;
    loop {
        let info = client.jobs().await.unwrap().into_iter().find(|j| j.name == job).unwrap();
        if info.last_finished_at.is_some() && info.last_finished_at != before {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "`{job}` did not run within {patience:?}: {info:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_restarted_daemon_takes_back_the_jobs_its_killed_run_held_without_waiting_out_the_lease() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    let mut first = Daemon::start(&options).await;
    first.kill_hard();
    leave_a_killed_runs_lease(&db.pool().await, &options.state_dir, "rescans").await;

    let restarted = Daemon::start(&options).await;
    let client = restarted.client().await;
    // The lease left behind has two minutes to go: a run within 30 s means it was taken back.
    run_job_and_wait(&client, "rescans", Duration::from_secs(30)).await;
}

#[tokio::test]
async fn a_run_asked_for_while_another_daemon_holds_the_job_happens_once_the_job_is_free() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    let daemon = Daemon::start(&options).await;
    let pool = db.pool().await;
    // Another daemon (another state directory) is running the job.
    sqlx::query(
        "UPDATE job_schedule SET running_by = 'elsewhere:otherhost:9', lease_expires_at = now() + interval '3 seconds'
          WHERE name = 'rescans'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let client = daemon.client().await;
    // Asked for while held: it runs once the other daemon's lease ends, not never.
    run_job_and_wait(&client, "rescans", Duration::from_secs(30)).await;
}
