//! The embedded default: a private PostgreSQL cluster owned by hunterd under its state directory.

use hunter_tests::{Daemon, DaemonOptions, embedded_postmaster_pid, scratch_dir};
use protocol::{DatabaseMode, Request, Response};
use sqlx::postgres::PgConnectOptions;
use std::path::Path;

/// Connects to the cluster the way hunterd does (its private socket; root may enter it).
async fn cluster_pool(state_dir: &Path) -> sqlx::PgPool {
    let options =
        PgConnectOptions::new().socket(state_dir.join("postgres/run")).port(5432).username("hunter").database("hunter");
    sqlx::PgPool::connect_with(options).await.expect("connect to the embedded cluster")
}

async fn status(daemon: &Daemon) -> protocol::DaemonStatus {
    match daemon.client().await.request(Request::Status).await.unwrap() {
        Response::Status(status) => *status,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn starts_from_an_empty_state_dir_and_keeps_data_across_a_restart() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let mut daemon = Daemon::start(&options).await;
    let status = status(&daemon).await;
    assert_eq!(status.database.mode, DatabaseMode::Embedded);
    assert!(status.database.schema_version > 0);
    let pool = cluster_pool(&options.state_dir).await;
    sqlx::query("INSERT INTO companies (domain, source) VALUES ('contoso.com', 'test')").execute(&pool).await.unwrap();
    pool.close().await;

    assert!(daemon.stop().success(), "stderr: {}", daemon.stderr());
    assert_eq!(embedded_postmaster_pid(&options.state_dir), None, "the cluster stops with the daemon");

    let daemon = Daemon::start(&options).await;
    let pool = cluster_pool(&options.state_dir).await;
    let kept: Vec<String> = sqlx::query_scalar("SELECT domain FROM companies").fetch_all(&pool).await.unwrap();
    assert_eq!(kept, vec!["contoso.com".to_string()]);
    pool.close().await;
    drop(daemon);
}

#[tokio::test]
async fn recovers_after_the_daemon_was_killed_with_sigkill() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let mut daemon = Daemon::start(&options).await;
    let pool = cluster_pool(&options.state_dir).await;
    sqlx::query("INSERT INTO companies (domain, source) VALUES ('fabrikam.com', 'test')").execute(&pool).await.unwrap();
    pool.close().await;

    daemon.kill_hard();
    // The socket file and the lock file are left behind, and the cluster may still run.
    assert!(options.socket.exists());

    let mut daemon = Daemon::start(&options).await;
    assert_eq!(status(&daemon).await.database.mode, DatabaseMode::Embedded);
    let pool = cluster_pool(&options.state_dir).await;
    let kept: Vec<String> = sqlx::query_scalar("SELECT domain FROM companies").fetch_all(&pool).await.unwrap();
    assert_eq!(kept, vec!["fabrikam.com".to_string()]);
    pool.close().await;

    assert!(daemon.stop().success(), "stderr: {}", daemon.stderr());
    assert_eq!(embedded_postmaster_pid(&options.state_dir), None);
}

#[tokio::test]
async fn recovers_when_both_daemon_and_cluster_were_killed() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let mut daemon = Daemon::start(&options).await;
    let postmaster = embedded_postmaster_pid(&options.state_dir).expect("cluster running");
    daemon.kill_hard();
    // A power cut: the postmaster dies too, leaving postmaster.pid behind.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(postmaster), nix::sys::signal::Signal::SIGKILL).unwrap();
    while embedded_postmaster_pid(&options.state_dir).is_some() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let daemon = Daemon::start(&options).await;
    assert_eq!(status(&daemon).await.database.mode, DatabaseMode::Embedded);
}

#[cfg(unix)]
#[tokio::test]
async fn the_cluster_listens_on_its_private_socket_only() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let daemon = Daemon::start(&options).await;
    let pool = cluster_pool(&options.state_dir).await;
    let listen: String = sqlx::query_scalar("SHOW listen_addresses").fetch_one(&pool).await.unwrap();
    assert_eq!(listen, "");
    pool.close().await;
    use std::os::unix::fs::PermissionsExt;
    let run_mode = std::fs::metadata(options.state_dir.join("postgres/run")).unwrap().permissions().mode() & 0o777;
    assert_eq!(run_mode, 0o700);
    drop(daemon);
}

/// The uid a process runs as, from /proc.
fn uid_of(pid: i32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn hunter_account() -> nix::unistd::User {
    nix::unistd::User::from_name("hunter").unwrap().expect("the `hunter` account exists once a root daemon started")
}

#[tokio::test]
async fn as_root_the_cluster_runs_as_its_own_hunter_account_never_a_shared_one() {
    if !nix::unistd::Uid::effective().is_root() {
        return;
    }
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let daemon = Daemon::start(&options).await;
    let hunter = hunter_account();
    let postmaster = embedded_postmaster_pid(&options.state_dir).expect("cluster running");
    assert_eq!(uid_of(postmaster), hunter.uid.as_raw());
    assert_ne!(hunter.uid.as_raw(), 65534, "`hunter` is not `nobody`");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(options.state_dir.join("postgres/data")).unwrap().uid(), hunter.uid.as_raw());
    drop(daemon);
}

#[tokio::test]
async fn a_cluster_an_older_release_ran_as_nobody_is_handed_to_the_hunter_account_with_its_data() {
    if !nix::unistd::Uid::effective().is_root() {
        return;
    }
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let mut daemon = Daemon::start(&options).await;
    let pool = cluster_pool(&options.state_dir).await;
    sqlx::query("INSERT INTO companies (domain, source) VALUES ('fabrikam.com', 'test')").execute(&pool).await.unwrap();
    pool.close().await;
    assert!(daemon.stop().success());
    let nobody = nix::unistd::Uid::from_raw(65534);
    let nogroup = nix::unistd::Gid::from_raw(65534);
    for top in ["postgres/data", "postgres/run", "postgres/postgres.log"] {
        chown_tree(&options.state_dir.join(top), nobody, nogroup);
    }

    let daemon = Daemon::start(&options).await;
    let postmaster = embedded_postmaster_pid(&options.state_dir).expect("cluster running");
    assert_eq!(uid_of(postmaster), hunter_account().uid.as_raw());
    let pool = cluster_pool(&options.state_dir).await;
    let kept: Vec<String> = sqlx::query_scalar("SELECT domain FROM companies").fetch_all(&pool).await.unwrap();
    assert_eq!(kept, vec!["fabrikam.com".to_string()]);
    pool.close().await;
    drop(daemon);
}

fn chown_tree(path: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) {
    nix::unistd::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}
