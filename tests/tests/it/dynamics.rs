//! The Dynamics 365 push against a strict local Dataverse + identity fake: real hunterd processes,
//! real PostgreSQL, `hunter-tui push` as users run it.

use hunter_tests::fakes::dataverse::{CLIENT_ID, FakeDataverse, Fault, Limits, SECRET, TENANT, crate_code};
use hunter_tests::{Daemon, DaemonOptions, TestDb, hunterd_command, scratch_dir, tui_command};
use sqlx::PgPool;
use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

struct Setup {
    fake: FakeDataverse,
    db: TestDb,
    pool: PgPool,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Setup {
        let fake = FakeDataverse::start().await;
        let db = TestDb::create().await;
        let pool = db.pool().await;
        hunterd::db::MIGRATOR.run(&pool).await.unwrap();
        let dir = scratch_dir();
        write_secret(&dir.path().join("d365-secret"), SECRET);
        Setup { fake, db, pool, dir }
    }

    fn options(&self, extra: &[(&str, &str)]) -> DaemonOptions {
        let mut options = DaemonOptions::in_dir(self.dir.path(), Some(self.db.url.clone()));
        let secret = self.dir.path().join("d365-secret").display().to_string();
        let mut env: Vec<(String, String)> = vec![
            ("HUNTER_FEATURES__DYNAMICS_PUSH".into(), "true".into()),
            ("HUNTER_DYNAMICS__ORG_URL".into(), self.fake.org_url()),
            ("HUNTER_DYNAMICS__AUTHORITY_URL".into(), self.fake.authority_url()),
            ("HUNTER_DYNAMICS__TENANT_ID".into(), TENANT.into()),
            ("HUNTER_DYNAMICS__CLIENT_ID".into(), CLIENT_ID.into()),
            ("HUNTER_DYNAMICS__CLIENT_SECRET_FILE".into(), secret),
            // Nothing here scans: the leads are written as already scanned.
            ("HUNTER_WHOIS__ENABLED".into(), "false".into()),
            ("HUNTER_SCAN__NAMESERVERS".into(), "127.0.0.1:9".into()),
        ];
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        options.extra_env = env;
        options
    }

    async fn daemon(&self, extra: &[(&str, &str)]) -> Daemon {
        Daemon::start(&self.options(extra)).await
    }

    /// Leads `lead1.example` … `leadN.example`, scored and freshly scanned.
    async fn leads(&self, n: usize) -> Vec<String> {
        sqlx::query(
            "WITH c AS (INSERT INTO companies (domain, company_name, source)
                        SELECT 'lead' || i || '.example', 'Lead ' || i, 'test' FROM generate_series(1, $1) i
                        RETURNING id)
             INSERT INTO lead_state (company_id, scan_status, scanned_at, provider, score, segment, technical_heat,
                                     priority, legacy_priority, infrastructure_summary)
             SELECT id, 'ok', now(), 'Google Workspace', 82, 'Migration', 'Hot', 'P1', 1, 'Mail hosted by Google'
               FROM c",
        )
        .bind(n as i32)
        .execute(&self.pool)
        .await
        .unwrap();
        (1..=n).map(|i| format!("lead{i}.example")).collect()
    }

    fn socket(&self) -> String {
        self.dir.path().join("hunterd.sock").display().to_string()
    }

    fn push(&self, args: &[&str]) -> std::process::Output {
        let socket = self.socket();
        let mut all = vec!["--socket", socket.as_str(), "push"];
        all.extend_from_slice(args);
        tui_command(&all, &[])
    }

    async fn push_state(&self, domain: &str) -> (String, i32, Option<String>, Option<String>) {
        sqlx::query_as(
            "SELECT p.state, p.attempts, p.last_error, p.record_url FROM d365_push p
               JOIN companies c ON c.id = p.company_id WHERE c.domain = $1",
        )
        .bind(domain)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// Writes after the token: the Dataverse calls that changed or created a lead.
    fn writes(&self) -> Vec<hunter_tests::fakes::dataverse::Recorded> {
        self.fake.requests().into_iter().filter(|r| r.method == "POST" || r.method == "PATCH").collect()
    }
}

fn write_secret(path: &Path, secret: &str) {
    std::fs::write(path, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn text(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

async fn until<F: Fn() -> bool>(what: &str, patience: Duration, done: F) {
    let deadline = Instant::now() + patience;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_pushed_lead_is_created_in_d365_with_hunters_columns() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    let _daemon = s.daemon(&[]).await;
    let out = s.push(&[&domains[0], "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let leads = s.fake.leads();
    assert_eq!(leads.len(), 1);
    let (id, cols) = &leads[0];
    assert_eq!(cols["subject"], "Hunter: Lead 1 (lead1.example)");
    assert_eq!(cols["companyname"], "Lead 1");
    assert_eq!(cols["websiteurl"], "https://lead1.example");
    assert_eq!(cols["leadqualitycode"], 1, "Hot");
    assert_eq!(cols["hnt_domain"], "lead1.example");
    assert_eq!(cols["hnt_finalscore"], 82);
    assert_eq!(cols["hnt_priority"], "P1");
    assert_eq!(cols["hnt_segment"], "Migration");
    let (state, _, _, url) = s.push_state("lead1.example").await;
    assert_eq!(state, "synced");
    assert_eq!(url.unwrap(), format!("{}/main.aspx?etn=lead&id={id}&pagetype=entityrecord", s.fake.org_url()));
    let create = s.writes().into_iter().find(|r| r.method == "POST").expect("a create");
    assert_eq!(create.header("MSCRM.SuppressDuplicateDetection"), Some("false"));
    assert!(create.header("Authorization").is_some_and(|a| a.starts_with("Bearer ")));
    assert_eq!(s.fake.tokens_issued(), 1);
}

#[tokio::test]
async fn pushing_twice_creates_one_record_and_a_repush_sends_only_what_changed() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    let _daemon = s.daemon(&[]).await;
    assert_eq!(s.push(&[&domains[0], "--wait"]).status.code(), Some(0));
    sqlx::query("UPDATE lead_state SET score = 91").execute(&s.pool).await.unwrap();
    assert_eq!(s.push(&[&domains[0], "--wait"]).status.code(), Some(0));
    let writes = s.writes();
    let update = writes.last().unwrap();
    assert_eq!(update.method, "PATCH");
    assert_eq!(update.header("If-Match"), Some("*"), "update only, never a create");
    assert_eq!(update.body.as_ref().unwrap(), &serde_json::json!({"hnt_finalscore": 91}));

    let before = s.fake.requests().len();
    assert_eq!(s.push(&[&domains[0], "--wait"]).status.code(), Some(0));
    assert_eq!(s.fake.requests().len(), before, "nothing changed: nothing sent");
    assert_eq!(s.fake.leads().len(), 1);
    assert_eq!(s.fake.leads()[0].1["hnt_finalscore"], 91);
}

#[tokio::test]
async fn with_an_alternate_key_a_single_push_is_an_upsert_by_the_domain() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    let _daemon = s.daemon(&[("HUNTER_DYNAMICS__LEAD_KEY", "hnt_domain")]).await;
    assert_eq!(s.push(&[&domains[0], "--wait"]).status.code(), Some(0));
    sqlx::query("UPDATE lead_state SET segment = 'Existing'").execute(&s.pool).await.unwrap();
    assert_eq!(s.push(&[&domains[0], "--wait"]).status.code(), Some(0));
    let writes = s.writes();
    assert_eq!(writes.len(), 2);
    assert!(writes.iter().all(|w| w.method == "PATCH" && w.path.contains("leads(hnt_domain=")), "{writes:?}");
    assert!(writes.iter().all(|w| w.header("If-Match").is_none()), "an upsert, not an update");
    assert!(writes.iter().all(|w| w.body.as_ref().is_some_and(|b| b.get("hnt_domain").is_none())), "key not in body");
    assert_eq!(writes[1].body.as_ref().unwrap(), &serde_json::json!({"hnt_segment": "Existing"}));
    assert_eq!(s.fake.leads().len(), 1);
}

#[tokio::test]
async fn a_bulk_push_with_an_alternate_key_goes_in_batches_of_upserts() {
    const N: usize = 120;
    let s = Setup::new().await;
    let domains = s.leads(N).await;
    let _daemon = s.daemon(&[("HUNTER_DYNAMICS__LEAD_KEY", "hnt_domain")]).await;
    let out = s.push(&["--filter", "segment=Migration", "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let leads = s.fake.leads();
    let distinct: HashSet<String> = leads.iter().map(|(_, c)| c["hnt_domain"].as_str().unwrap().to_string()).collect();
    assert_eq!((leads.len(), distinct.len()), (N, N));
    let requests = s.fake.requests();
    assert!(requests.iter().all(|r| r.method == "POST" && r.path.ends_with("$batch")), "{requests:?}");
    assert!(requests.len() as f64 / N as f64 <= 0.05, "{} requests for {N} leads", requests.len());
    // A second bulk push after a change updates the same records.
    sqlx::query("UPDATE lead_state SET score = 50").execute(&s.pool).await.unwrap();
    let mut args: Vec<&str> = domains.iter().map(String::as_str).collect();
    args.push("--wait");
    assert_eq!(s.push(&args).status.code(), Some(0));
    let leads = s.fake.leads();
    assert_eq!(leads.len(), N);
    assert!(leads.iter().all(|(_, c)| c["hnt_finalscore"] == 50));
}

#[tokio::test]
async fn a_refused_lead_in_a_batch_fails_alone() {
    let s = Setup::new().await;
    let domains = s.leads(5).await;
    s.fake.refuse_company("Lead 3");
    let _daemon = s.daemon(&[("HUNTER_DYNAMICS__LEAD_KEY", "hnt_domain")]).await;
    let mut args: Vec<&str> = domains.iter().map(String::as_str).collect();
    args.push("--wait");
    let out = s.push(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("lead3.example: Dataverse 400 0x80040265"), "{}", text(&out));
    assert_eq!(s.fake.leads().len(), 4);
    assert_eq!(s.push_state("lead3.example").await.0, "failed");
    assert_eq!(s.push_state("lead5.example").await.0, "synced");
    assert_eq!(s.fake.requests().len(), 1, "one $batch");
}

#[tokio::test]
async fn a_lead_already_in_d365_for_the_website_is_updated_not_duplicated() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    let existing =
        s.fake.insert_lead(serde_json::json!({"subject": "typed by sales", "websiteurl": "http://www.LEAD1.example/"}));
    let _daemon = s.daemon(&[]).await;
    assert_eq!(s.push(&[&domains[0], "--wait"]).status.code(), Some(0));
    let leads = s.fake.leads();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].0, existing);
    assert_eq!(leads[0].1["hnt_domain"], "lead1.example");
}

#[tokio::test]
async fn duplicate_detection_marks_the_lead_duplicate_in_d365_and_links_the_existing_record() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    s.fake.set_duplicate_rule("companyname");
    let existing = s.fake.insert_lead(
        serde_json::json!({"subject": "other", "companyname": "Lead 1", "websiteurl": "https://elsewhere.example"}),
    );
    let _daemon = s.daemon(&[]).await;
    let out = s.push(&[&domains[0], "--wait"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("1 duplicate in D365"), "{}", text(&out));
    let (state, _, note, url) = s.push_state("lead1.example").await;
    assert_eq!(state, "duplicate");
    assert!(note.unwrap().contains("duplicate in D365"));
    assert!(url.unwrap().contains(&existing.to_string()), "linked to the record D365 matched");
    assert_eq!(s.fake.leads().len(), 1, "not retried into a second record");
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_push_goes_through() {
    let s = Setup::new().await;
    let domains = s.leads(2).await;
    let _daemon = s.daemon(&[]).await;
    assert_eq!(s.push(&[&domains[0], "--wait"]).status.code(), Some(0));
    s.fake.expire_tokens();
    assert_eq!(s.push(&[&domains[1], "--wait"]).status.code(), Some(0));
    assert_eq!(s.fake.tokens_issued(), 2);
    assert!(s.fake.requests().iter().any(|r| r.status == 401));
    assert_eq!(s.fake.leads().len(), 2);
}

#[tokio::test]
async fn a_wrong_secret_keeps_pushes_pending_with_one_line_naming_the_secret_file() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    write_secret(&s.dir.path().join("d365-secret"), "not-the-secret");
    let daemon = s.daemon(&[]).await;
    let client = daemon.client().await;
    let queued = client.push_leads(domains.clone()).await.unwrap();
    let batch = queued.batch_id.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let progress = loop {
        let p = client.push_progress(&batch).await.unwrap();
        if p.last_error.is_some() {
            break p;
        }
        assert!(Instant::now() < deadline, "no error reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let line = progress.last_error.unwrap();
    assert!(line.contains("invalid_client") && line.contains("dynamics.client_secret_file"), "{line}");
    assert!(!line.contains("not-the-secret"), "the secret never shows");
    let (state, attempts, _, _) = s.push_state("lead1.example").await;
    assert_eq!((state.as_str(), attempts), ("pending", 0), "a configuration problem does not use up attempts");
    assert!(s.fake.leads().is_empty());
}

#[tokio::test]
async fn push_wait_stops_at_a_sign_in_problem_and_the_queued_leads_go_out_once_it_is_fixed() {
    let s = Setup::new().await;
    let domains = s.leads(2).await;
    write_secret(&s.dir.path().join("d365-secret"), "not-the-secret");
    let daemon = s.daemon(&[]).await;
    let out = s.push(&[&domains[0], &domains[1], "--wait"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "blocked is a failure, not a hang: {said}");
    assert!(said.contains("push blocked:") && said.contains("dynamics.client_secret_file"), "{said}");
    assert!(said.contains("2 lead(s) stay queued and go out once this is fixed"), "{said}");
    assert!(!said.contains("not-the-secret"), "the secret never shows");
    assert_eq!(s.push_state("lead1.example").await.0, "pending");

    let status = daemon.client().await.status().await.unwrap();
    let d365 = status.sign_ins.iter().find(|s| s.service == "Dynamics 365").expect("listed while the push is on");
    assert!(!d365.ok && d365.state.contains("dynamics.client_secret_file"), "status says a fix is needed: {d365:?}");

    write_secret(&s.dir.path().join("d365-secret"), SECRET);
    until("the queued leads to reach D365 after the fix", Duration::from_secs(60), || s.fake.leads().len() == 2).await;
    // A push that went through clears it.
    let client = daemon.client().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.status().await.unwrap();
        let d365 = status.sign_ins.iter().find(|s| s.service == "Dynamics 365").unwrap().clone();
        if d365.ok {
            break;
        }
        assert!(Instant::now() < deadline, "status still says a fix is needed: {d365:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_lead_detail_says_who_asked_for_its_push() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    let daemon = s.daemon(&[]).await;
    let out = s.push(&[&domains[0], "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let me = nix::unistd::User::from_uid(nix::unistd::Uid::current()).unwrap().expect("a passwd entry").name;
    let activity = daemon.client().await.lead_detail(&domains[0]).await.unwrap().activity;
    assert!(
        activity.iter().any(|a| a.who.as_deref() == Some(me.as_str()) && a.what == "asked for a push to Dynamics 365"),
        "{activity:?}"
    );
}

#[tokio::test]
async fn push_wait_json_says_why_it_is_blocked() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    write_secret(&s.dir.path().join("d365-secret"), "not-the-secret");
    let _daemon = s.daemon(&[]).await;
    let out = s.push(&[&domains[0], "--wait", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = &answer["result"];
    assert_eq!(result["waiting"], 1, "{answer}");
    assert!(result["blocked"].as_str().is_some_and(|b| b.contains("dynamics.client_secret_file")), "{answer}");
}

#[tokio::test]
async fn push_wait_rides_out_a_daemon_restart_and_reports_the_same_batch() {
    let s = Setup::new().await;
    let domains = s.leads(2).await;
    // D365 is down at first: the pushes wait in the queue, and `--wait` with them.
    let outage = Fault {
        status: 503,
        headers: Vec::new(),
        body: serde_json::json!({"error": {"code": "", "message": "Service Unavailable"}}),
    };
    s.fake.inject(outage, 10_000);
    let options = s.options(&[]);
    let mut daemon = Daemon::start(&options).await;
    let socket = s.socket();
    let mut args = vec!["--socket", socket.as_str(), "--reconnect-for", "60s", "push", "--wait"];
    args.extend(domains.iter().map(String::as_str));
    let mut waiting = hunter_tests::spawn_tui(&args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM d365_push WHERE last_error IS NOT NULL")
        .fetch_one(&s.pool)
        .await
        .unwrap()
        == 0
    {
        assert!(Instant::now() < deadline, "the push never met the outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert!(daemon.stop().success());
    s.fake.clear_faults();
    let _restarted = Daemon::start(&options).await;

    let deadline = Instant::now() + Duration::from_secs(90);
    while waiting.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "`push --wait` never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = waiting.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("connection to hunterd lost (restarting?); reconnecting for up to 1m"), "{said}");
    assert!(said.contains("2 synced, 0 failed, 0 duplicate in D365"), "{said}");
    assert_eq!(s.fake.leads().len(), 2);
}

#[tokio::test]
async fn a_column_missing_in_d365_fails_the_push_naming_the_column() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    s.fake.drop_columns(&["hnt_segment"]);
    let _daemon = s.daemon(&[]).await;
    let out = s.push(&[&domains[0], "--wait"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("hnt_segment"), "{}", text(&out));
    assert_eq!(s.push_state("lead1.example").await.0, "failed");
}

#[tokio::test]
async fn the_push_is_refused_with_directions_while_the_feature_is_off() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    let _daemon = s.daemon(&[("HUNTER_FEATURES__DYNAMICS_PUSH", "false")]).await;
    let out = s.push(&[&domains[0]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("features.dynamics_push = true"), "{}", text(&out));
}

#[tokio::test]
async fn a_429_storm_ends_with_every_lead_synced_and_never_more_requests_in_flight_than_configured() {
    let s = Setup::new().await;
    let domains = s.leads(24).await;
    s.fake.set_delay(Duration::from_millis(40));
    s.fake.set_limits(Limits {
        requests: Some((15, Duration::from_secs(2))),
        concurrency: Some(3),
        retry_after_secs: 1,
    });
    s.fake.inject_every(7, Fault::throttle(crate_code::EXECUTION_TIME, 1));
    let _daemon = s.daemon(&[("HUNTER_DYNAMICS__MAX_CONCURRENCY", "2")]).await;
    let mut args: Vec<&str> = domains.iter().map(String::as_str).collect();
    args.push("--wait");
    let out = s.push(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let throttled = s.fake.requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled > 0, "the storm happened");
    assert!(s.fake.max_concurrent() <= 2, "saw {} concurrent requests", s.fake.max_concurrent());
    let leads = s.fake.leads();
    let distinct: HashSet<String> = leads.iter().map(|(_, c)| c["hnt_domain"].as_str().unwrap().to_string()).collect();
    assert_eq!((leads.len(), distinct.len()), (24, 24));
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM d365_audit WHERE http_status = 429").fetch_one(&s.pool).await.unwrap();
    assert_eq!(audited as usize, throttled, "every call is in the audit log");
}

#[tokio::test]
async fn d365_unreachable_leaves_pushes_pending_and_the_rest_of_hunter_working() {
    let s = Setup::new().await;
    let domains = s.leads(3).await;
    // Nothing listens there: every Dataverse call fails to connect (tokens still come from the fake).
    let daemon = s.daemon(&[("HUNTER_DYNAMICS__ORG_URL", "http://127.0.0.1:9")]).await;
    let client = daemon.client().await;
    let batch = client.push_leads(domains.clone()).await.unwrap().batch_id.unwrap();
    let pool = s.pool.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let failed_calls: i64 =
            sqlx::query_scalar("SELECT count(*) FROM d365_audit WHERE http_status IS NULL AND entity = 'lead'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if failed_calls >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the worker never tried");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let p = client.push_progress(&batch).await.unwrap();
    assert_eq!((p.pending + p.in_flight, p.failed, p.synced), (3, 0, 0));
    assert!(p.last_error.unwrap().contains("unreachable"));
    // The rest of Hunter answers as usual.
    client.status().await.unwrap();
    let added = client.add_domains(vec!["fabrikam.com".into()]).await.unwrap();
    assert!(added.batch_id.is_some(), "the new domain was queued for scanning");
    assert_eq!(client.lead_detail("lead1.example").await.unwrap().row.domain, "lead1.example");
    for d in &domains {
        let (state, attempts, _, _) = s.push_state(d).await;
        assert!(state == "pending" || state == "in_flight", "{d}: {state}");
        assert_eq!(attempts.min(1), attempts, "an outage spends no attempts");
    }
    // The sync screen's job says so.
    client.run_job("dynamics-push").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let job = loop {
        let jobs = client.jobs().await.unwrap();
        let job = jobs.into_iter().find(|j| j.name == "dynamics-push").expect("the dynamics-push job");
        if job.last_error.is_some() {
            break job;
        }
        assert!(Instant::now() < deadline, "the job never reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error = job.last_error.unwrap();
    assert!(error.contains("3 pending") || error.contains("in flight"), "{error}");
    assert!(error.contains("unreachable"), "{error}");
}

#[tokio::test]
async fn sigkill_in_the_middle_of_a_bulk_push_then_restart_ends_with_each_lead_exactly_once() {
    const N: usize = 150;
    let s = Setup::new().await;
    let domains = s.leads(N).await;
    s.fake.set_delay(Duration::from_millis(15));
    let options = s.options(&[]);
    let mut daemon = Daemon::start(&options).await;
    let client = daemon.client().await;
    let batch = client.push_leads(domains.clone()).await.unwrap().batch_id.unwrap();
    until("a part of the push", Duration::from_secs(60), || s.fake.leads().len() >= N / 4).await;
    daemon.kill_hard();
    let created_before = s.fake.leads().len();
    assert!(created_before < N, "killed mid-push ({created_before} of {N} created)");

    let daemon = Daemon::start(&options).await;
    let client = daemon.client().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let p = client.push_progress(&batch).await.unwrap();
        if p.finished() {
            assert_eq!((p.synced, p.failed, p.duplicate), (N as u64, 0, 0));
            break;
        }
        assert!(Instant::now() < deadline, "push did not finish: {p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leads = s.fake.leads();
    let distinct: HashSet<String> =
        leads.iter().map(|(_, c)| c["hnt_domain"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(leads.len(), N, "no lead twice");
    assert_eq!(distinct.len(), N);
    let stored: Vec<Option<uuid::Uuid>> =
        sqlx::query_scalar("SELECT lead_id FROM d365_push").fetch_all(&s.pool).await.unwrap();
    let ids: HashSet<uuid::Uuid> = leads.iter().map(|(id, _)| *id).collect();
    assert!(stored.iter().all(|id| id.is_some_and(|id| ids.contains(&id))), "every stored id is a real record");
}

/// `hunterd check` with the daemon's Dynamics settings; returns (exit code, stdout).
fn check(s: &Setup, extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let options = s.options(extra);
    let (state, socket) = (options.state_dir.display().to_string(), options.socket.display().to_string());
    let mut env: Vec<(&str, &str)> = options.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend([
        ("HUNTER_CONFIG", "/dev/null"),
        ("HUNTER_STATE_DIR", state.as_str()),
        ("HUNTER_SOCKET", socket.as_str()),
        ("HUNTER_DATABASE__URL", s.db.url.as_str()),
    ]);
    let out = hunterd_command(&["check"], &env);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn dynamics_lines(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.split_whitespace().nth(1) == Some("dynamics")).collect()
}

#[tokio::test]
async fn check_signs_in_reaches_the_org_and_finds_the_columns() {
    let s = Setup::new().await;
    let (_, report) = check(&s, &[]);
    let lines = dynamics_lines(&report);
    assert_eq!(lines.len(), 2, "{report}");
    assert!(lines.iter().all(|l| l.starts_with("ok")), "{report}");
    assert!(lines[0].contains("WhoAmI"), "{report}");
}

#[tokio::test]
async fn check_names_the_columns_missing_in_d365() {
    let s = Setup::new().await;
    s.fake.drop_columns(&["hnt_priority", "hnt_commercialsegment"]);
    let (code, report) = check(&s, &[]);
    assert_ne!(code, Some(0));
    let lines = dynamics_lines(&report);
    let missing = lines.iter().find(|l| l.starts_with("FAIL")).expect(&report);
    assert!(missing.contains("hnt_priority") && missing.contains("hnt_commercialsegment"), "{missing}");
    assert!(!missing.contains("hnt_segment,"), "{missing}");
}

#[tokio::test]
async fn check_names_a_bad_secret() {
    let s = Setup::new().await;
    write_secret(&s.dir.path().join("d365-secret"), "wrong");
    let (code, report) = check(&s, &[]);
    assert_ne!(code, Some(0));
    let line = dynamics_lines(&report).into_iter().find(|l| l.starts_with("FAIL")).expect(&report).to_string();
    assert!(line.contains("invalid_client") && line.contains("AADSTS7000215"), "{line}");
}

#[tokio::test]
async fn a_pushed_lead_shows_its_d365_state_in_the_export_and_its_history_in_the_detail() {
    let s = Setup::new().await;
    let domains = s.leads(2).await;
    let daemon = s.daemon(&[]).await;
    assert_eq!(s.push(&[&domains[0], "--wait"]).status.code(), Some(0));
    let socket = s.socket();
    let out = tui_command(&["--socket", &socket, "export"], &[]);
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name} in {header:?}"));
    let pushed: Vec<&str> = csv.lines().find(|l| l.starts_with("lead1.example,")).unwrap().split(',').collect();
    let (id, _) = &s.fake.leads()[0];
    assert_eq!(pushed[col("d365_status")], "synced");
    assert_eq!(pushed[col("d365_lead_id")], id.to_string());
    assert!(pushed[col("d365_url")].contains(&format!("id={id}")));
    assert!(pushed[col("d365_pushed_at")].ends_with('Z'));
    let other: Vec<&str> = csv.lines().find(|l| l.starts_with("lead2.example,")).unwrap().split(',').collect();
    assert_eq!(other[col("d365_status")], "", "never pushed");

    let detail = daemon.client().await.lead_detail("lead1.example").await.unwrap();
    let sync = detail.d365.expect("push state in the detail");
    assert_eq!(sync.status, "synced");
    let ops: Vec<&str> = sync.history.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(ops, vec!["create", "lookup"], "newest first");
    let preview =
        daemon.client().await.push_preview(vec!["lead1.example".into(), "lead2.example".into()]).await.unwrap();
    assert_eq!((preview[0].create, preview[0].fields.len()), (false, 0), "nothing changed");
    assert!(preview[1].create && preview[1].fields.contains(&"hnt_domain".to_string()));
}

#[tokio::test]
async fn two_daemons_claiming_the_push_queue_never_take_the_same_lead() {
    use hunterd::dynamics::queue;
    let s = Setup::new().await;
    s.leads(40).await;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM companies").fetch_all(&s.pool).await.unwrap();
    queue::enqueue(&s.pool, &ids, uuid::Uuid::new_v4(), "tester").await.unwrap();
    let claim = |owner: &'static str| {
        let pool = s.pool.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let got = queue::claim(&pool, owner, 3).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|c| c.company_id));
            }
        }
    };
    let (a, b) = tokio::join!(claim("daemon-a:h:1"), claim("daemon-b:h:2"));
    let all: HashSet<i64> = a.iter().chain(&b).copied().collect();
    assert_eq!(a.len() + b.len(), 40, "every lead claimed once");
    assert_eq!(all.len(), 40, "no lead claimed by both");
}

#[tokio::test]
async fn a_token_dataverse_keeps_refusing_points_at_the_application_user() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    // Dataverse refuses the token even after a fresh one: the app has no application user there.
    let refusal = Fault {
        status: 401,
        headers: vec![],
        body: serde_json::json!({"error": {"code": "0x80072243", "message": "The user is not a member of the organization."}}),
    };
    s.fake.inject(refusal, 1000);
    let daemon = s.daemon(&[]).await;
    let client = daemon.client().await;
    let batch = client.push_leads(domains).await.unwrap().batch_id.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = loop {
        if let Some(e) = client.push_progress(&batch).await.unwrap().last_error {
            break e;
        }
        assert!(Instant::now() < deadline, "no error reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(line.contains("401") && line.contains("application user"), "{line}");
    let refused: Vec<_> = s.fake.requests().into_iter().filter(|r| r.status == 401).collect();
    assert!(refused.len() >= 2 && s.fake.tokens_issued() >= 2, "a fresh token was tried before giving the verdict");
    assert_ne!(s.push_state("lead1.example").await.0, "failed", "a configuration problem never fails the lead");
    assert!(s.fake.leads().is_empty());
}

#[tokio::test]
async fn a_lead_with_a_partner_center_referral_is_partner_sourced_with_the_referral_contact() {
    let s = Setup::new().await;
    let domains = s.leads(1).await;
    sqlx::query(
        "INSERT INTO pc_referrals (referral_id, referral_kind, domain, contact_emails, raw, link_status, company_id, updated_time)
         SELECT 'ref-42', 'co-sell', domain, ARRAY['someone@gmail.com', 'Buyer@lead1.example'], '{}'::jsonb, 'linked', id, now()
           FROM companies WHERE domain = 'lead1.example'",
    )
    .execute(&s.pool)
    .await
    .unwrap();
    let _daemon = s.daemon(&[]).await;
    assert_eq!(s.push(&[&domains[0], "--wait"]).status.code(), Some(0));
    let (_, cols) = &s.fake.leads()[0];
    assert_eq!(cols["leadsourcecode"], 4, "Partner");
    assert_eq!(cols["hnt_referralid"], "ref-42");
    assert_eq!(cols["emailaddress1"], "Buyer@lead1.example", "the contact at the company's own domain");
}
