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

/// Connects as hunterd works: the daemon role, with the password from its file.
async fn daemon_role_pool(state_dir: &Path, password: Option<&str>) -> Result<sqlx::PgPool, sqlx::Error> {
    let mut options = PgConnectOptions::new()
        .socket(state_dir.join("postgres/run"))
        .port(5432)
        .username("hunter_app")
        .database("hunter");
    if let Some(password) = password {
        options = options.password(password);
    }
    sqlx::postgres::PgPoolOptions::new().max_connections(1).connect_with(options).await
}

fn daemon_password(state_dir: &Path) -> String {
    std::fs::read_to_string(state_dir.join("postgres/daemon.password")).unwrap().trim().to_string()
}

/// Tables, views, sequences and functions of Hunter's schema that `role` does not own (those of
/// extensions such as pg_trgm belong to PostgreSQL's bootstrap superuser, as for every trusted one).
async fn not_owned_by(pool: &sqlx::PgPool, role: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'S') AND pg_get_userbyid(c.relowner) <> $1
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
         UNION ALL
         SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> $1
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
    )
    .bind(role)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn hunterd_works_as_a_role_that_owns_the_schema_and_is_no_superuser() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let _daemon = Daemon::start(&options).await;
    let pool = daemon_role_pool(&options.state_dir, Some(&daemon_password(&options.state_dir))).await.unwrap();
    let superuser: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!superuser, "the daemon role must not be a superuser");
    assert_eq!(not_owned_by(&pool, "hunter_app").await, Vec::<String>::new());
    // What a superuser could do and the daemon role cannot: run a program on the server.
    let refused = sqlx::query("COPY (SELECT 1) TO PROGRAM 'true'").execute(&pool).await;
    assert!(refused.is_err(), "COPY TO PROGRAM must be refused to the daemon role");
}

#[tokio::test]
async fn the_cluster_lets_nobody_in_without_a_password_or_the_daemons_account() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let _daemon = Daemon::start(&options).await;
    let without = daemon_role_pool(&options.state_dir, None).await;
    assert!(without.is_err(), "the daemon role signed in without a password");
    let wrong = daemon_role_pool(&options.state_dir, Some("guess")).await;
    assert!(wrong.is_err(), "the daemon role signed in with a wrong password");
    let hba = std::fs::read_to_string(options.state_dir.join("postgres/data/pg_hba.conf")).unwrap();
    assert!(!hba.contains("trust"), "{hba}");
    let mode = std::fs::metadata(options.state_dir.join("postgres/daemon.password")).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
}

#[tokio::test]
async fn a_cluster_an_older_release_made_with_trust_and_a_superuser_owner_is_locked_down_with_its_data() {
    let dir = scratch_dir();
    let options = DaemonOptions::in_dir(dir.path(), None);
    let mut daemon = Daemon::start(&options).await;
    assert!(daemon.stop().success());
    // What an older hunterd left: every local connection trusted, everything owned by the superuser.
    let data = options.state_dir.join("postgres/data");
    let hba = data.join("pg_hba.conf");
    std::fs::write(&hba, "local all all trust\n").unwrap();
    let daemon = Daemon::start(&options).await;
    let superuser = cluster_pool(&options.state_dir).await;
    sqlx::query("INSERT INTO companies (domain, source) VALUES ('contoso.com', 'test')")
        .execute(&superuser)
        .await
        .unwrap();
    sqlx::query("ALTER DATABASE hunter OWNER TO hunter").execute(&superuser).await.unwrap();
    sqlx::query("ALTER TABLE companies OWNER TO hunter").execute(&superuser).await.unwrap();
    sqlx::query("ALTER FUNCTION lead_list_company() OWNER TO hunter").execute(&superuser).await.unwrap();
    superuser.close().await;
    drop(daemon);
    std::fs::write(&hba, "local all all trust\n").unwrap();

    let _daemon = Daemon::start(&options).await;
    assert!(!std::fs::read_to_string(&hba).unwrap().contains("trust"));
    assert!(daemon_role_pool(&options.state_dir, None).await.is_err(), "trust must be gone");
    let pool = daemon_role_pool(&options.state_dir, Some(&daemon_password(&options.state_dir))).await.unwrap();
    assert_eq!(not_owned_by(&pool, "hunter_app").await, Vec::<String>::new());
    let kept: Vec<String> = sqlx::query_scalar("SELECT domain FROM companies").fetch_all(&pool).await.unwrap();
    assert_eq!(kept, vec!["contoso.com".to_string()]);
}
