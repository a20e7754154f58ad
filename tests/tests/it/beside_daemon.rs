//! Read-only commands work next to a daemon running on its embedded cluster; commands that change
//! the schema or the data refuse, saying why, and leave the daemon running.

use hunter_tests::{Daemon, DaemonOptions, hunterd_command, scratch_dir};
use protocol::{Request, Response};
use std::process::Output;

/// Runs a hunterd command on the daemon's state directory and socket (embedded database).
fn beside(options: &DaemonOptions, args: &[&str]) -> Output {
    let state = options.state_dir.to_str().expect("utf-8 path");
    let socket = options.socket.to_str().expect("utf-8 path");
    let mut full = vec!["--config", "/dev/null", "--state-dir", state, "--socket", socket];
    full.extend_from_slice(args);
    hunterd_command(&full, &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn still_answers(daemon: &Daemon) {
    let status = daemon.client().await.request(Request::Status).await.expect("status request");
    assert!(matches!(status, Response::Status(_)), "{status:?}");
}

fn up_migrations() -> usize {
    hunterd::db::MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).count()
}

#[tokio::test]
async fn migrate_status_lists_every_migration_as_applied_next_to_a_running_embedded_daemon() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let daemon = Daemon::start(&options).await;

    let out = beside(&options, &["migrate", "status"]);

    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("applied ")).count(), up_migrations(), "{stdout}");
    assert!(!stdout.contains("pending"), "{stdout}");
    still_answers(&daemon).await;
}

#[tokio::test]
async fn check_config_works_next_to_a_running_embedded_daemon() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let daemon = Daemon::start(&options).await;

    let out = beside(&options, &["check-config"]);

    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("# database: embedded"), "{}", text(&out.stdout));
    still_answers(&daemon).await;
}

#[tokio::test]
async fn migrate_and_revert_refuse_next_to_a_running_embedded_daemon_saying_why() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let daemon = Daemon::start(&options).await;
    let pid = daemon.pid();

    let migrate = beside(&options, &["migrate"]);
    let revert = beside(&options, &["migrate", "revert"]);

    for (out, command) in [(&migrate, "hunterd migrate"), (&revert, "hunterd migrate revert")] {
        assert!(!out.status.success(), "{command} succeeded: {}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&format!("hunterd (pid {pid}) is using state directory")), "{stderr}");
        assert!(stderr.contains(&format!("`{command}` changes the schema it runs on, so stop it first")), "{stderr}");
    }
    // Nothing was reverted: every migration is still applied.
    let status = beside(&options, &["migrate", "status"]);
    assert!(!text(&status.stdout).contains("pending"), "{}", text(&status.stdout));
    still_answers(&daemon).await;
}
