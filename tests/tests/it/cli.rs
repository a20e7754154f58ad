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

/// A minimal workbook whose first sheet's XML is `head`, then `pattern` repeated up to `len` bytes, then `tail`.
fn xlsx_with_sheet(head: &str, pattern: &[u8], len: usize, tail: &str) -> Vec<u8> {
    use std::io::Write;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(len > u32::MAX as usize / 2);
    let parts: [(&str, &str); 4] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
    ];
    for (name, text) in parts {
        out.start_file(name, options).unwrap();
        out.write_all(text.as_bytes()).unwrap();
    }
    out.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    out.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#).unwrap();
    out.write_all(head.as_bytes()).unwrap();
    let chunk: Vec<u8> = pattern.iter().copied().cycle().take(1024 * 1024 / pattern.len() * pattern.len()).collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        out.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    out.write_all(tail.as_bytes()).unwrap();
    out.write_all(b"</sheetData></worksheet>").unwrap();
    out.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_decompression_bomb_xlsx_is_refused_naming_the_limit_and_nothing_is_imported() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let dns = DnsServer::start([]);
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let file = dir.path().join("bomb.xlsx");
    // 16 MiB of identical rows pack into a few KiB.
    let row = br#"<row><c t="inlineStr"><is><t>x</t></is></c></row>"#;
    std::fs::write(&file, xlsx_with_sheet("", row, 16 * 1024 * 1024 / row.len() * row.len(), "")).unwrap();
    let out = run(&daemon, &["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("more than 100 times") && stderr.contains("nothing was imported"), "{stderr}");
    let pool = db.pool().await;
    let companies: i64 = sqlx::query_scalar("SELECT count(*) FROM companies").fetch_one(&pool).await.unwrap();
    assert_eq!(companies, 0);
}

#[tokio::test]
async fn a_spreadsheet_cell_longer_than_a_row_may_be_is_refused_naming_the_limit() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let dns = DnsServer::start([]);
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let file = dir.path().join("wide.xlsx");
    let cell =
        xlsx_with_sheet(r#"<row r="1"><c r="A1" t="inlineStr"><is><t>"#, b"a", 100 * 1024, "</t></is></c></row>");
    std::fs::write(&file, cell).unwrap();
    let out = run(&daemon, &["import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("longer than 64 KiB"), "{stderr}");
}

#[tokio::test]
async fn exported_csv_neutralises_formulas_while_json_keeps_the_names_exact() {
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let dns = DnsServer::start([]);
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let file = dir.path().join("leads.csv");
    let names = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3+cmd|' /C calc'!A0", "\t=1+1"];
    let mut text = String::from("domain;company\n");
    for (i, name) in names.iter().enumerate() {
        text.push_str(&format!("evil{i}.com;\"{}\"\n", name.replace('"', "\"\"")));
    }
    std::fs::write(&file, text).unwrap();
    let imported = run(&daemon, &["import", file.to_str().unwrap()]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));

    let csv = String::from_utf8(run(&daemon, &["export", "--sort", "domain"]).stdout).unwrap();
    let companies: Vec<&str> = csv.lines().skip(1).map(|l| l.split_once(',').unwrap().1).collect();
    assert!(companies[0].starts_with(r#""'=HYPERLINK(""http://x"",""y"")""#), "{csv}");
    assert!(companies[1].starts_with("'+cmd|' /C calc'!A0,"), "{csv}");
    assert!(companies[2].starts_with("'@SUM(1),"), "{csv}");
    assert!(companies[3].starts_with("'-2+3+cmd|' /C calc'!A0,"), "{csv}");
    assert!(companies[4].starts_with("'=1+1,"), "{csv}");

    let json = run(&daemon, &["export", "--sort", "domain", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON export");
    assert_eq!(value[0]["company"], names[0]);
    assert_eq!(value[2]["company"], "@SUM(1)");
}

#[tokio::test]
async fn a_temporary_spf_failure_is_published_spf_with_spf_result_temperror_and_costs_no_points() {
    use hunter_tests::dns::Behaviour;
    let dns = DnsServer::start([
        Zone::new("contoso.com")
            .mx(0, "contoso-com.mail.protection.outlook.com")
            .txt("v=spf1 include:spf.flaky.net -all")
            .dmarc("v=DMARC1; p=reject"),
        Zone::new("flaky.net").txt_at("spf", "v=spf1 -all").behave("spf.flaky.net", Behaviour::ServFail),
    ]);
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let daemon = Daemon::start_scanning(&db, dir.path(), &dns).await;
    let added = run(&daemon, &["add", "--wait", "contoso.com"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    let exported = run(&daemon, &["export"]);
    let csv = String::from_utf8_lossy(&exported.stdout).to_string();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name}: {header:?}"));
    assert_eq!(at("spf_result"), at("infrastructure_summary") + 1, "appended when it landed: {header:?}");
    assert_eq!(at("d365_status"), at("spf_result") + 1, "the Dynamics group came next: {header:?}");
    assert_eq!(header.last(), Some(&"referral_id"), "then Partner Center's: {header:?}");
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!((column("spf"), column("spf_result")), ("true", "temperror"), "{csv}");

    let client = daemon.client().await;
    let protocol::Response::Lead(detail) =
        client.request(protocol::Request::LeadDetail { domain: "contoso.com".into() }).await.unwrap()
    else {
        panic!("no detail")
    };
    let keys: Vec<&str> = detail.breakdown.iter().map(|c| c.key.as_str()).collect();
    assert!(keys.contains(&"spf") && !keys.contains(&"no_spf"), "{keys:?}");
    assert_eq!(detail.spf_evaluation.as_deref(), Some("temperror (1 DNS lookups)"));
}

#[tokio::test]
async fn add_wait_rides_out_a_daemon_restart_with_a_notice_and_finishes_the_same_batch() {
    use hunter_tests::dns::synthetic;
    use hunter_tests::{DaemonOptions, scan_env};
    use std::time::{Duration, Instant};
    let dns = DnsServer::builder().synthetic().delay(Duration::from_millis(150)).start();
    let db = TestDb::create().await;
    let dir = scratch_dir();
    let mut options = DaemonOptions::in_dir(dir.path(), Some(db.url.clone()));
    options.extra_env = scan_env(&dns);
    options.extra_env.push(("HUNTER_SCAN__CONCURRENCY".into(), "2".into()));
    let mut daemon = Daemon::start(&options).await;
    let domains: Vec<String> = (0..16).map(synthetic::domain).collect();

    let mut args = vec!["--socket", options.socket.to_str().unwrap(), "--reconnect-for", "60s", "add", "--wait"];
    args.extend(domains.iter().map(String::as_str));
    let mut waiting = hunter_tests::spawn_tui(&args);
    let pool = db.pool().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM batches").fetch_one(&pool).await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "the add never reached the daemon");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert!(daemon.stop().success());
    let _restarted = Daemon::start(&options).await;
    let restarted = Instant::now();

    let deadline = Instant::now() + Duration::from_secs(90);
    while waiting.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "`add --wait` never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("figure: restart to `add --wait` done {:.1} s", restarted.elapsed().as_secs_f64());
    let out = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(stderr.contains("connection to hunterd lost (restarting?); reconnecting for up to 1m"), "{stderr}");
    assert!(stderr.contains("reconnected to hunterd; still waiting"), "{stderr}");
    let unscanned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM companies c LEFT JOIN lead_state ls ON ls.company_id = c.id WHERE ls.scanned_at IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unscanned, 0, "--wait returned before every domain of the batch was scanned");
}
