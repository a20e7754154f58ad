//! hunter-tui's scriptable subcommands against a real daemon: exit codes and output contracts.

use hunter_tests::dns::{DnsServer, Zone};
use hunter_tests::{Daemon, TestDb, scratch_dir, tui_command};

fn run(daemon: &Daemon, args: &[&str]) -> std::process::Output {
    let socket = daemon.options.socket.to_str().unwrap().to_string();
    let mut full = vec!["--socket", socket.as_str()];
    full.extend_from_slice(args);
    let full: Vec<&str> = full.to_vec();
    tui_command(&full, &[("NO_COLOR", "1")])
}

#[tokio::test]
async fn add_wait_then_export_gives_the_contract_csv() {
    let dns = DnsServer::start([Zone::new("contoso.com")
        .mx(0, "contoso-com.mail.protection.outlook.com")
        .txt("v=spf1 include:spf.protection.outlook.com -all")
        .dmarc("v=DMARC1; p=reject")]);
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;

    let added = run(&daemon, &["add", "--wait", "contoso.com", "gmail.com"]);
    assert_eq!(added.status.code(), Some(2), "some input was rejected: {}", String::from_utf8_lossy(&added.stderr));
    let stdout = String::from_utf8_lossy(&added.stdout);
    assert!(stdout.contains("accepted") && stdout.contains("contoso.com"), "{stdout}");
    assert!(stdout.contains("rejected") && stdout.contains("gmail.com"), "{stdout}");

    let exported = run(&daemon, &["export"]);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let csv = String::from_utf8_lossy(&exported.stdout);
    let mut lines = csv.lines();
    assert!(
        lines.next().unwrap().starts_with(
            "domain,company,provider,gateway,local_provider,mx_hosts,spf,spf_includes,dkim,dmarc_policy,dmarc_pct,score,segment,commercial_segment,technical_heat,commercial_heat,priority,priority_label,scan_status,scanned_at"
        ),
        "{csv}"
    );
    let row = lines.next().expect("one lead");
    assert!(row.starts_with("contoso.com,,M365,,,contoso-com.mail.protection.outlook.com,true,"), "{row}");

    let json = run(&daemon, &["export", "--format", "json", "--filter", "provider=M365"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON export");
    assert_eq!(value[0]["domain"], "contoso.com");
}

#[tokio::test]
async fn import_reports_rejected_rows_and_exits_2() {
    let dns = DnsServer::start([Zone::new("contoso.com").mx(0, "contoso-com.mail.protection.outlook.com")]);
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let file = dir.path().join("leads.csv");
    std::fs::write(&file, "domain\ncontoso.com\ncom.tr\n").unwrap();
    let out = run(&daemon, &["import", "--wait", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 accepted") && stdout.contains("1 rejected"), "{stdout}");
    assert!(stdout.contains("line 3"), "{stdout}");
}

#[tokio::test]
async fn commands_exit_1_with_one_line_when_the_daemon_is_down() {
    let dir = scratch_dir();
    let socket = dir.path().join("nobody.sock");
    let out = tui_command(&["--socket", socket.to_str().unwrap(), "export"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("hunterd is not running"), "{stderr}");
}
