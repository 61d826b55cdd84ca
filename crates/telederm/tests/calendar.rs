//! Issue 11 part 3: a deployment never stops taking referrals because its bank-holiday data aged.
//! The real binary runs under a clock in 2028 (libfaketime, as `faketime` does: the test checks
//! that the server really sees 2028), past the built-in data (2025-2027).

mod common;

use std::path::Path;

use common::{Server, clock_at, complete_draft, env_refs, libfaketime};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn readyz(server: &Server) -> Value {
    let r = reqwest::get(format!("{}/readyz", server.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "a node past its bank-holiday data stays ready");
    r.json().await.unwrap()
}

async fn page(api: &common::Api, base: &str, path: &str) -> String {
    let r = api.client.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_under_a_clock_in_2028_gives_a_provisional_due_date() {
    let lib = libfaketime();
    // Monday 10 January 2028, ten days past the built-in data: `demo` must start and seed.
    let env = clock_at(&lib, "2028-01-10 10:00:00");
    let server = Server::demo_with(&env_refs(&env), None).await;

    let ready = readyz(&server).await;
    assert_eq!(ready["checks"]["calendar"], "past_official_data", "{ready}");
    assert_eq!(ready["calendar"]["days_left"], -10, "the server's clock is in 2028: {ready}");
    assert_eq!(ready["calendar"]["official_data_ends"], "2027-12-31");
    assert_eq!(ready["calendar"]["source"], "built-in");
    assert!(ready["calendar"]["warning"].as_str().unwrap().contains("telederm calendar update"), "{ready}");
    let metrics = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "telederm_calendar_days_left -10"), "{metrics}");

    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "nhs-advice-and-guidance", "advice_and_guidance", json!({"referral_date": "2028-01-10"})).await;
    let (status, submitted) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    assert_eq!(submitted["status"], "submitted");
    assert!(submitted["submitted_at"].as_str().unwrap().starts_with("2028-01-10"), "{submitted}");
    assert_eq!(submitted["due_date_provisional"], true, "{submitted}");
    let due = submitted["due_date"].as_str().unwrap().to_string();
    // The same date as the command line computes for that moment of receipt (statutory rules).
    let (ok, out, err) = server.cli(
        &["sla", "due-date", "--received", submitted["submitted_at"].as_str().unwrap(), "--service", "nhs-advice-and-guidance"],
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), due);
    assert!(err.contains("provisional"), "{err}");

    // The API lists and detail say so, and so do the GP's and the consultant's pages.
    let (_, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(detail["referral"]["due_date_provisional"], true);
    let (_, list) = gp.get("/referrals").await;
    let row = list["referrals"].as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["due_date_provisional"], true, "{row}");
    assert!(page(&gp, &server.base, &format!("/referrals/{id}")).await.contains("data-due-provisional"));
    assert!(page(&gp, &server.base, "/referrals").await.contains("data-due-provisional"));
    let consultant = server.sign_in_as("consultant").await;
    assert!(page(&consultant, &server.base, "/worklist").await.contains("data-due-provisional"));
    let (s, claimed) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!((s, &claimed["due_date_provisional"]), (StatusCode::OK, &json!(true)), "{claimed}");

    // Operators are told on the admin dashboard.
    let admin = server.sign_in_as("system_admin").await;
    let html = page(&admin, &server.base, "/admin").await;
    assert!(html.contains("data-calendar-warning") && html.contains("ended on 2027-12-31"), "{html}");
}

fn gov_uk_file(days: &[(&str, &str)]) -> String {
    let events: Vec<Value> =
        days.iter().map(|(title, date)| json!({"title": title, "date": date, "notes": "", "bunting": true})).collect();
    json!({
        "england-and-wales": {"division": "england-and-wales", "events": events},
        "scotland": {"division": "scotland", "events": [{"title": "St Andrew’s Day", "date": "2028-11-30", "notes": "", "bunting": true}]}
    })
    .to_string()
}

/// The built-in years plus 2028, with a one-off holiday no rule computes (Friday 2 June 2028).
fn newer_file() -> String {
    let builtin: Value = serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bank-holidays.json")).unwrap()).unwrap();
    let mut events = builtin["england-and-wales"]["events"].as_array().unwrap().clone();
    for (title, date) in [
        ("New Year’s Day", "2028-01-03"), ("Good Friday", "2028-04-14"), ("Easter Monday", "2028-04-17"),
        ("Early May bank holiday", "2028-05-01"), ("Spring bank holiday", "2028-05-29"), ("One-off bank holiday", "2028-06-02"),
        ("Summer bank holiday", "2028-08-28"), ("Christmas Day", "2028-12-25"), ("Boxing Day", "2028-12-26"),
    ] {
        events.push(json!({"title": title, "date": date, "notes": "", "bunting": true}));
    }
    json!({"england-and-wales": {"division": "england-and-wales", "events": events}}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_update_validates_loads_into_the_database_and_nodes_use_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_telederm"))
            .args(args)
            .env("TELEDERM_DATA_DIR", &data)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, out, err) = run(&["calendar", "status"]);
    assert!(ok, "{err}");
    assert!(out.contains("source: built-in"), "{out}");
    assert!(out.contains("official data: 2025-01-01 to 2027-12-31 (24 bank holidays)"), "{out}");
    assert!(out.contains("days of official data left: "), "{out}");

    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let refused = [
        (write("not-json.json", "<html>Bank holidays</html>"), "bank_holidays_invalid"),
        (write("scotland.json", r#"{"scotland": {"division": "scotland", "events": []}}"#), "no \"england-and-wales\" division"),
        (write("bad-date.json", r#"{"england-and-wales": {"events": [{"title": "X", "date": "2028-02-30"}]}}"#), "not YYYY-MM-DD"),
        (write("older.json", &gov_uk_file(&[("New Year’s Day", "2026-01-01")])), "before the calendar in use"),
        (write("future.json", &gov_uk_file(&[("New Year’s Day", "2040-01-02")])), "after today"),
        (tmp.path().join("missing.json").display().to_string(), "cannot read"),
    ];
    for (file, needle) in &refused {
        let (ok, _, err) = run(&["calendar", "update", file.as_str()]);
        assert!(!ok, "{file} must be refused");
        assert!(err.contains(needle), "{file}: {err}");
    }
    let (_, out, _) = run(&["calendar", "status"]);
    assert!(out.contains("source: built-in"), "nothing was loaded by a refused file: {out}");

    let newer = write("bank-holidays.json", &newer_file());
    let (ok, out, err) = run(&["calendar", "update", newer.as_str()]);
    assert!(ok, "{err}");
    assert!(out.contains("2025-01-01 to 2028-12-31 (33 bank holidays)"), "{out}");
    let (_, out, _) = run(&["calendar", "status"]);
    assert!(out.contains("source: database (loaded "), "{out}");
    assert!(out.contains("official data: 2025-01-01 to 2028-12-31"), "{out}");

    // A node started on this database uses it: under a clock in 2028 the data still has 356 days,
    // the one-off holiday counts, and the due date is not provisional.
    let lib = libfaketime();
    let env = clock_at(&lib, "2028-06-01 10:00:00");
    let server = Server::start("demo", &data, &env_refs(&env)).await;
    let ready = readyz(&server).await;
    assert_eq!(ready["checks"]["calendar"], "ok", "{ready}");
    assert_eq!(ready["calendar"]["official_data_ends"], "2028-12-31");
    assert!(ready["calendar"]["source"].as_str().unwrap().starts_with("database"), "{ready}");
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "nhs-advice-and-guidance", "advice_and_guidance", json!({"referral_date": "2028-06-01"})).await;
    let (status, submitted) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    assert_eq!(submitted["due_date_provisional"], false, "{submitted}");
    // Received Thursday 1 June 2028: Friday 2nd is the loaded one-off holiday.
    let (ok, expected, err) = server.cli(
        &["sla", "due-date", "--received", "2028-06-01T10:00:00Z", "--service", "nhs-advice-and-guidance"],
        &[("TELEDERM_BANK_HOLIDAYS", newer.as_str())],
    );
    assert!(ok, "{err}");
    assert_eq!(submitted["due_date"], expected.trim());
    let (ok, by_rules, _) = server.cli(&["sla", "due-date", "--received", "2028-06-01T10:00:00Z", "--service", "nhs-advice-and-guidance"], &[]);
    assert!(ok);
    assert_ne!(by_rules.trim(), expected.trim(), "the one-off holiday moves the due date");
}
