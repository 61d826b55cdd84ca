//! Issue 19: the SLA reminder job through the real binary, with the mail received on loopback.
//!
//! `telederm serve` on a fresh installation made with the CLI (a practice, a provider running
//! Hackney and Homerton, two Hackney consultants, a Homerton consultant, each service's lead), its
//! clock set by libfaketime. Referrals are submitted on different days with the worker off, so no
//! reminder is written before the day under test; then a node with SMTP starts on Friday 6 March
//! 2026 at 09:00 London, when the day's `sla_reminders` job (due 07:00) runs at once.
//!
//! Expected, from `docs/operations.md` ("Notifications": due tomorrow / due today to the assigned
//! consultant, else the service's consultants; past due once per referral to the service's admins,
//! its lead) and Hackney's target of 3 working days (`services/hackney-rash.toml`), counted by hand
//! on the March 2026 calendar (no bank holidays):
//!
//! | referral | submitted | due | on Fri 6 | on Mon 9 |
//! |---|---|---|---|---|
//! | A, claimed by consultant 1 | Mon 2 | Thu 5 | breached: the Hackney lead | nothing (once per referral) |
//! | B, claimed by consultant 1 | Tue 3 | Fri 6 | due today: consultant 1 only | breached: the lead |
//! | D, answered on Thu 5 | Tue 3 | Fri 6 | nothing | nothing |
//! | E | Tue 3 | Fri 6 | due today: consultants 1 and 2 | breached: the lead |
//! | C | Wed 4 | Mon 9 (the next working day) | due tomorrow: consultants 1 and 2 | due today: both |
//! | G | Thu 5 | Tue 10 | nothing | due tomorrow: both |
//!
//! Nobody else (the GP, the Homerton consultant and lead, the patient) gets a reminder.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Api, Server, clock_at, complete_draft, env_refs, libfaketime};
use reqwest::StatusCode;
use serde_json::json;
use telederm_store::testkit::SmtpServer;

const PUBLIC_URL: &str = "https://telederm.sla.test";
const PASSWORD: &str = "a long and correct horse battery staple";
const GP: &str = "gp@practice.sla.test";
const CONSULTANT_1: &str = "consultant1@hackney.sla.test";
const CONSULTANT_2: &str = "consultant2@hackney.sla.test";
const HOMERTON_CONSULTANT: &str = "consultant@homerton.sla.test";
const LEAD: &str = "lead@hackney.sla.test";
const HOMERTON_LEAD: &str = "lead@homerton.sla.test";

// The subjects people see (crates/notify templates; docs/operations.md names the templates).
const DUE_TOMORROW: &str = "Teledermatology: a request is due tomorrow";
const DUE_TODAY: &str = "Teledermatology: a request is due today";
const BREACHED: &str = "Teledermatology: a request is past its deadline";

fn run_cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_telederm"));
    cmd.args(args).env("TELEDERM_DATA_DIR", dir).env("RUST_LOG", "warn").env("SLA_TEST_PASSWORD", PASSWORD);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run telederm");
    assert!(out.status.success(), "telederm {args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// A fresh installation made the way an operator would: organisations and users from the CLI.
fn install(dir: &Path) -> String {
    let key = dir.join("blob.key");
    run_cli(dir, &["keys", "generate", "--out", key.to_str().unwrap()], &[]);
    let key = key.to_str().unwrap().to_string();
    let env = [("TELEDERM_BLOB_KEY_FILE", key.as_str())];
    run_cli(dir, &["organisation", "add", "--ods", "F84001", "--name", "Mare Street Surgery", "--kind", "practice"], &env);
    run_cli(
        dir,
        &["organisation", "add", "--ods", "RQX", "--name", "Homerton Healthcare", "--kind", "provider", "--service", "hackney-rash", "--service", "homerton"],
        &env,
    );
    let users: [(&str, &str, &str, &[&str]); 6] = [
        (GP, "referrer", "F84001", &[]),
        (CONSULTANT_1, "consultant", "RQX", &["hackney-rash"]),
        (CONSULTANT_2, "consultant", "RQX", &["hackney-rash"]),
        (HOMERTON_CONSULTANT, "consultant", "RQX", &["homerton"]),
        (LEAD, "service_admin", "RQX", &["hackney-rash"]),
        (HOMERTON_LEAD, "service_admin", "RQX", &["homerton"]),
    ];
    for (email, role, org, services) in users {
        let mut args = vec!["user", "add", "--email", email, "--name", email, "--role", role, "--organisation", org, "--password-env", "SLA_TEST_PASSWORD"];
        if role == "referrer" {
            args.extend(["--profession", "gp"]);
        }
        for s in services {
            args.extend(["--service", s]);
        }
        run_cli(dir, &args, &env);
    }
    key
}

/// Starts `telederm serve` on `dir` with its clock at `at`, the worker off (setting-up days).
async fn start_quiet(dir: &Path, key: &str, lib: &str, at: &str) -> Server {
    let mut env = clock_at(lib, at);
    env.extend([("TELEDERM_BLOB_KEY_FILE", key.to_string()), ("TELEDERM_WORKER", "off".into()), ("TELEDERM_PUBLIC_URL", PUBLIC_URL.into())]);
    Server::start("serve", dir, &env_refs(&env)).await
}

async fn submit_on(server: &Server, day: &str) -> String {
    let gp = server.sign_in(GP, PASSWORD).await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({"referral_date": day})).await;
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("submitted")), "{b}");
    id
}

async fn due_date(api: &Api, id: &str) -> String {
    let (s, b) = api.get(&format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["referral"]["due_date"].as_str().unwrap_or_default().to_string()
}

/// (recipient, subject, referral id) of every SLA reminder received, by parsing the raw messages.
fn reminders(smtp: &SmtpServer, ids: &[(&str, &String)]) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for m in smtp.messages() {
        let header = |name: &str| m.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().trim_matches(['<', '>']).to_string());
        let subject = header("Subject: ").unwrap_or_default();
        if ![DUE_TOMORROW, DUE_TODAY, BREACHED].contains(&subject.as_str()) {
            continue;
        }
        let to = header("To: ").unwrap_or_default();
        let which: Vec<&str> = ids.iter().filter(|(_, id)| m.contains(&format!("{PUBLIC_URL}/referrals/{id}"))).map(|(n, _)| *n).collect();
        assert_eq!(which.len(), 1, "a reminder links to exactly one referral: {m}");
        out.insert((to, subject, which[0].to_string()));
    }
    out
}

/// How many SLA reminders arrived (a set of them would hide a duplicate).
fn sla_messages(smtp: &SmtpServer) -> usize {
    smtp.messages().iter().filter(|m| [DUE_TOMORROW, DUE_TODAY, BREACHED].iter().any(|s| m.lines().any(|l| l == format!("Subject: {s}")))).count()
}

fn expect(rows: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    rows.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
}

/// Waits until the day's `sla_reminders` job is done and nothing is left in the outbox.
async fn wait_for_the_day(dir: &Path, day: &str) {
    use sqlx::Row;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("telederm.db").display())).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let job: Option<String> = sqlx::query("SELECT state FROM jobs WHERE unique_key = $1")
            .bind(format!("sla_reminders:{day}"))
            .fetch_optional(&pool)
            .await
            .unwrap()
            .map(|r| r.get("state"));
        let pending: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE state <> 'sent'").fetch_one(&pool).await.unwrap().get("n");
        if job.as_deref() == Some("done") && pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the {day} SLA job is {job:?} with {pending} messages unsent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_job_emails_due_tomorrow_due_today_and_breached_to_the_right_people_once() {
    let lib = libfaketime();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = install(dir);

    // Monday 2 March: A.
    let mut s = start_quiet(dir, &key, &lib, "2026-03-02 09:00:00").await;
    let a = submit_on(&s, "2026-03-02").await;
    let gp = s.sign_in(GP, PASSWORD).await;
    assert_eq!(due_date(&gp, &a).await, "2026-03-05");
    s.terminate();

    // Tuesday 3: B, D, E (due Friday 6).
    let mut s = start_quiet(dir, &key, &lib, "2026-03-03 09:00:00").await;
    let (b, d, e) = (submit_on(&s, "2026-03-03").await, submit_on(&s, "2026-03-03").await, submit_on(&s, "2026-03-03").await);
    let gp = s.sign_in(GP, PASSWORD).await;
    assert_eq!(due_date(&gp, &b).await, "2026-03-06");
    s.terminate();

    // Wednesday 4: C (due Monday 9).
    let mut s = start_quiet(dir, &key, &lib, "2026-03-04 09:00:00").await;
    let c = submit_on(&s, "2026-03-04").await;
    let gp = s.sign_in(GP, PASSWORD).await;
    assert_eq!(due_date(&gp, &c).await, "2026-03-09");
    s.terminate();

    // Thursday 5: G (due Tuesday 10); consultant 1 claims A and B and answers D in time.
    let mut s = start_quiet(dir, &key, &lib, "2026-03-05 09:00:00").await;
    let g = submit_on(&s, "2026-03-05").await;
    let gp = s.sign_in(GP, PASSWORD).await;
    assert_eq!(due_date(&gp, &g).await, "2026-03-10");
    let one = s.sign_in(CONSULTANT_1, PASSWORD).await;
    for id in [&a, &b, &d] {
        let (st, body) = one.post(&format!("/referrals/{id}/claim"), &json!({})).await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    let (st, body) = one
        .post(&format!("/referrals/{d}/outcome"), &json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema", "management_plan": "Emollients."}))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    s.terminate();

    let ids = [("A", &a), ("B", &b), ("C", &c), ("D", &d), ("E", &e), ("G", &g)];

    // Friday 6, 09:00: a node with SMTP starts; the day's job runs at once.
    let smtp = SmtpServer::start();
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let node = |at: &str| {
        let mut env = clock_at(&lib, at);
        env.extend([
            ("TELEDERM_BLOB_KEY_FILE", key.clone()),
            ("TELEDERM_PUBLIC_URL", PUBLIC_URL.into()),
            ("TELEDERM_SMTP_URL", url.clone()),
            ("TELEDERM_SMTP_FROM", "Telederm <no-reply@sla.test>".into()),
            ("TELEDERM_WORKER_POLL_MS", "100".into()),
        ]);
        env
    };
    let mut s = Server::start("serve", dir, &env_refs(&node("2026-03-06 09:00:00"))).await;
    wait_for_the_day(dir, "2026-03-06").await;
    let friday = expect(&[
        (LEAD, BREACHED, "A"),
        (CONSULTANT_1, DUE_TODAY, "B"),
        (CONSULTANT_1, DUE_TODAY, "E"),
        (CONSULTANT_2, DUE_TODAY, "E"),
        (CONSULTANT_1, DUE_TOMORROW, "C"),
        (CONSULTANT_2, DUE_TOMORROW, "C"),
    ]);
    assert_eq!(reminders(&smtp, &ids), friday);
    // Exactly one message each (a set would hide a duplicate).
    let count = sla_messages(&smtp);
    assert_eq!(count, friday.len(), "one message per reminder");
    s.terminate();

    // Friday again (a second node, or a restart): the day's job exists once, nothing is re-sent.
    let mut s = Server::start("serve", dir, &env_refs(&node("2026-03-06 15:00:00"))).await;
    wait_for_the_day(dir, "2026-03-06").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(reminders(&smtp, &ids), friday);
    s.terminate();

    // Monday 9: C is due today, G due tomorrow, B and E have breached; A's breach is not repeated.
    let _s = Server::start("serve", dir, &env_refs(&node("2026-03-09 09:00:00"))).await;
    wait_for_the_day(dir, "2026-03-09").await;
    let monday = expect(&[
        (CONSULTANT_1, DUE_TODAY, "C"),
        (CONSULTANT_2, DUE_TODAY, "C"),
        (CONSULTANT_1, DUE_TOMORROW, "G"),
        (CONSULTANT_2, DUE_TOMORROW, "G"),
        (LEAD, BREACHED, "B"),
        (LEAD, BREACHED, "E"),
    ]);
    let all = reminders(&smtp, &ids);
    assert_eq!(all.difference(&friday).cloned().collect::<BTreeSet<_>>(), monday, "Monday's reminders");
    let count = sla_messages(&smtp);
    assert_eq!(count, friday.len() + monday.len(), "A's breach and Friday's reminders are not sent again");
}
