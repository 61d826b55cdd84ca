//! Issue 19: retention through the daily job and through `telederm retention run`, on the real
//! binary with libfaketime moving its clock.
//!
//! The rule (docs/security.md, "Retention", default policy): a sent referral is kept 8 years after
//! its last activity (adults); referrals the service is still working on never expire; the purge
//! removes the referral with its photos (and their blobs), messages, events, patient links and
//! queued notifications, appends a `retention.purge` audit entry, and keeps the audit trail.
//!
//! Fixtures: an adult's referral answered on 2 March 2026 (kept until 2 March 2034), with an upload
//! link and status links, a visit on a status link, and its notifications still queued (no notifier);
//! one submitted the same day and never answered (never expires); one answered on 10 January 2030
//! (kept until 10 January 2038). The purge runs on 1 June 2035.
//!
//! What "gone" means is taken from the database's own schema, not from the purge's list: every
//! table with a `referral_id` column (except the audit trail) must hold no row of the purged
//! referral, and every table with a `link_id` column no row of its links.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Api, Server, clock_at, draft_body, env_refs, libfaketime, photo};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    lib: String,
    /// Answered in March 2026: expired by June 2035.
    old: String,
    /// Submitted in March 2026 and never answered: never expires.
    open: String,
    /// Answered in January 2030: kept until January 2038.
    recent: String,
}

/// A draft with three photos of its own (seeds no other referral uses, so no blob is shared),
/// with an upload link for the patient made first when `server` is given.
async fn draft_with_photos(gp: &Api, day: &str, seed: u64, link_on: Option<&Server>) -> String {
    // Upload links are offered by the Clinical Partnership service (services/*.toml).
    let (service, route) = if link_on.is_some() { ("clinical-partnership", "advice_and_guidance") } else { ("hackney-rash", "ras") };
    let (s, b) = gp.post("/referrals", &draft_body(service, route, json!({"referral_date": day}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    if let Some(server) = link_on {
        let page = gp.client.get(format!("{}/referrals/{id}", server.base)).send().await.unwrap().text().await.unwrap();
        let csrf = page.split("name=\"_csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("a CSRF token").to_string();
        let r = gp.client.post(format!("{}/referrals/{id}/patient-links", server.base)).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "the upload link is made");
        assert!(r.url().query().is_some_and(|q| q.starts_with("link=%2Fp%2F")), "{}", r.url());
    }
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        let (s, p) = gp.upload(&id, kind, photo(seed * 10 + i as u64, 0.0)).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
    }
    id
}

async fn submit_and_answer(gp: &Api, consultant: Option<&Api>, id: &str) {
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("submitted")), "{b}");
    if let Some(c) = consultant {
        let (s, b) = c.post(&format!("/referrals/{id}/claim"), &json!({})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = c
            .post(&format!("/referrals/{id}/outcome"), &json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema", "management_plan": "Emollients."}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
}

async fn pool(dir: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("telederm.db").display())).await.unwrap()
}

/// The tables (from the database's own catalogue) that have a column called `column`.
async fn tables_with(pool: &sqlx::SqlitePool, column: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("name"))
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let cols: Vec<String> = sqlx::query(&format!("SELECT name FROM pragma_table_info('{t}')")).fetch_all(pool).await.unwrap().iter().map(|r| r.get("name")).collect();
        if cols.iter().any(|c| c == column) {
            out.push(t);
        }
    }
    out
}

/// Rows per table that belong to referral `id` (by `referral_id`, or by `link_id` for its links).
async fn rows_of(pool: &sqlx::SqlitePool, id: &str, links: &[String]) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    // The audit trail is kept by design ("the audit trail itself is kept").
    for t in tables_with(pool, "referral_id").await.into_iter().filter(|t| t != "audit_log") {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {t} WHERE referral_id = $1")).bind(id).fetch_one(pool).await.unwrap().get("n");
        out.push((t, n));
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM referrals WHERE id = $1").bind(id).fetch_one(pool).await.unwrap().get("n");
    out.push(("referrals".into(), n));
    for t in tables_with(pool, "link_id").await {
        let mut n = 0i64;
        for l in links {
            n += sqlx::query(&format!("SELECT COUNT(*) AS n FROM {t} WHERE link_id = $1")).bind(l).fetch_one(pool).await.unwrap().get::<i64, _>("n");
        }
        out.push((t, n));
    }
    out
}

async fn link_ids(pool: &sqlx::SqlitePool, id: &str) -> Vec<String> {
    sqlx::query("SELECT id FROM patient_links WHERE referral_id = $1").bind(id).fetch_all(pool).await.unwrap().iter().map(|r| r.get("id")).collect()
}

async fn blob_keys(pool: &sqlx::SqlitePool, id: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for r in sqlx::query("SELECT original_key, attachment_key, preview_key, thumbnail_key FROM photos WHERE referral_id = $1").bind(id).fetch_all(pool).await.unwrap() {
        for c in ["original_key", "attachment_key", "preview_key", "thumbnail_key"] {
            keys.insert(r.get::<String, _>(c));
        }
    }
    keys
}

/// The blob files on disk, by name (the file store names each file by its key).
fn blob_files(dir: &Path) -> BTreeSet<String> {
    fn walk(p: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != ".tmp") {
                    walk(&path, out);
                }
            } else {
                out.insert(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&dir.join("blobs"), &mut out);
    out
}

async fn fixture() -> Fixture {
    let lib = libfaketime();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();

    // Monday 2 March 2026: the old referral, with an upload link made on its draft, and the open one.
    let mut s = Server::start("demo", &dir, &env_refs(&clock_at(&lib, "2026-03-02 09:00:00"))).await;
    let gp = s.sign_in_as("referrer").await;
    let consultant = s.sign_in_as("consultant").await;
    let old = draft_with_photos(&gp, "2026-03-02", 101, Some(&s)).await;
    submit_and_answer(&gp, Some(&consultant), &old).await;
    let open = draft_with_photos(&gp, "2026-03-02", 102, None).await;
    submit_and_answer(&gp, None, &open).await;

    // The patient opens the status link of the "answered" message (queued: no notifier) and gives
    // their date of birth: a visit.
    let store = telederm_store::Store::connect_without_migrating(&format!("sqlite://{}", dir.join("telederm.db").display())).await.unwrap();
    let rows = store.list_outbox(telederm_domain::ReferralId::parse(&old).unwrap()).await.unwrap();
    store.close().await;
    let link = rows
        .iter()
        .find(|m| m.template.name() == "patient_response_ready")
        .map(|m| m.link.clone())
        .expect("the patient's answer message waits in the outbox");
    let browser = Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = browser.post(&link).form(&[("dob_day", "17"), ("dob_month", "5"), ("dob_year", "1980")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the date of birth matches");
    s.terminate();

    // Thursday 10 January 2030: the recent referral.
    let mut s = Server::start("demo", &dir, &env_refs(&clock_at(&lib, "2030-01-10 09:00:00"))).await;
    let gp = s.sign_in_as("referrer").await;
    let consultant = s.sign_in_as("consultant").await;
    let recent = draft_with_photos(&gp, "2030-01-10", 103, None).await;
    submit_and_answer(&gp, Some(&consultant), &recent).await;
    s.terminate();

    // Everything the purge must remove is really there before it runs.
    let p = pool(&dir).await;
    let links = link_ids(&p, &old).await;
    assert!(links.len() >= 3, "an upload link and status links: {links:?}");
    let have = rows_of(&p, &old, &links).await;
    for table in ["referrals", "photos", "referral_events", "patient_links", "patient_link_visits", "outbox", "report_facts"] {
        let n = have.iter().find(|(t, _)| t == table).map(|(_, n)| *n).unwrap_or_else(|| panic!("no table {table}: {have:?}"));
        assert!(n > 0, "the old referral has rows in {table} before the purge: {have:?}");
    }
    let queued: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE referral_id = $1 AND state <> 'sent'").bind(&old).fetch_one(&p).await.unwrap().get("n");
    assert!(queued >= 3, "its notifications are still queued");
    let keys = blob_keys(&p, &old).await;
    assert!(keys.len() >= 9, "originals and derivatives of three photos: {keys:?}");
    assert!(keys.is_subset(&blob_files(&dir)), "its blobs are on disk");
    p.close().await;
    Fixture { _tmp: tmp, dir, lib, old, open, recent }
}

struct Before {
    old_links: Vec<String>,
    old_blobs: BTreeSet<String>,
    kept: Vec<(String, Vec<(String, i64)>, BTreeSet<String>)>,
}

async fn before(f: &Fixture) -> Before {
    let p = pool(&f.dir).await;
    let old_links = link_ids(&p, &f.old).await;
    let old_blobs = blob_keys(&p, &f.old).await;
    let mut kept = Vec::new();
    for id in [&f.open, &f.recent] {
        let links = link_ids(&p, id).await;
        kept.push((id.clone(), rows_of(&p, id, &links).await, blob_keys(&p, id).await));
    }
    p.close().await;
    Before { old_links, old_blobs, kept }
}

/// The purge removed the old referral and everything of it, kept the others whole, recorded itself
/// by `actor`, and left the audit chain intact.
async fn assert_purged(f: &Fixture, b: &Before, actor: &str) {
    let p = pool(&f.dir).await;
    let left = rows_of(&p, &f.old, &b.old_links).await;
    assert!(left.iter().all(|(_, n)| *n == 0), "rows of the purged referral are left: {left:?}");
    let files = blob_files(&f.dir);
    let kept_files: Vec<&String> = b.old_blobs.iter().filter(|k| files.contains(*k)).collect();
    assert!(kept_files.is_empty(), "its blob files are gone from the blob directory: {kept_files:?}");
    for (id, rows, blobs) in &b.kept {
        let links = link_ids(&p, id).await;
        assert_eq!(&rows_of(&p, id, &links).await, rows, "referral {id}, inside its retention, is untouched");
        assert!(blobs.is_subset(&files), "referral {id} keeps its blobs");
    }
    p.close().await;

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telederm"))
        .args(["audit", "export", "--since", "2000-01-01"])
        .env("TELEDERM_DATA_DIR", &f.dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let entries: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let purges: Vec<&Value> = entries.iter().filter(|e| e["action"] == "retention.purge").collect();
    let of_old: Vec<&&Value> = purges.iter().filter(|e| e["referral_id"] == f.old.as_str()).collect();
    assert_eq!(of_old.len(), 1, "one retention.purge entry for the old referral: {purges:?}");
    assert_eq!(of_old[0]["actor_label"], actor);
    assert_eq!(of_old[0]["outcome"], "allowed");
    assert!(!purges.iter().any(|e| e["referral_id"] == f.open.as_str() || e["referral_id"] == f.recent.as_str()), "{purges:?}");
    assert!(entries.iter().any(|e| e["referral_id"] == f.old.as_str() && e["action"] == "referral.submit"), "the audit trail itself is kept");

    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_telederm")).args(["audit", "verify"]).env("TELEDERM_DATA_DIR", &f.dir).output().unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_run_purges_an_expired_referral_with_its_links_visits_notifications_and_blobs() {
    let f = fixture().await;
    let b = before(&f).await;
    let mut env = clock_at(&f.lib, "2035-06-01 09:00:00");
    env.push(("TELEDERM_BLOB_KEY_FILE", f.dir.join("blob.key").display().to_string()));
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_telederm"));
        cmd.args(args).env("TELEDERM_DATA_DIR", &f.dir).env("RUST_LOG", "warn");
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };

    // A dry run lists it with the date from the rule and changes nothing.
    let dry = run(&["retention", "run", "--dry-run", "--json"]);
    let listed = dry["expired"].as_array().unwrap().iter().find(|e| e["referral_id"] == f.old.as_str()).cloned().expect("the old referral is listed");
    assert_eq!((listed["last_activity"].as_str(), listed["retain_until"].as_str()), (Some("2026-03-02"), Some("2034-03-02")), "{listed}");
    assert_eq!(dry["purged"], 0);
    let after_dry = before(&f).await;
    assert_eq!((after_dry.old_links.len(), after_dry.old_blobs.len()), (b.old_links.len(), b.old_blobs.len()), "a dry run changes nothing");

    let report = run(&["retention", "run", "--json"]);
    let expired: Vec<&str> = report["expired"].as_array().unwrap().iter().filter_map(|e| e["referral_id"].as_str()).collect();
    assert!(expired.contains(&f.old.as_str()), "{report}");
    assert!(!expired.contains(&f.open.as_str()) && !expired.contains(&f.recent.as_str()), "{report}");
    assert_eq!(report["errors"], json!([]));
    assert_purged(&f, &b, "cli (telederm retention run)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_retention_job_purges_the_same_way() {
    let f = fixture().await;
    let b = before(&f).await;
    // 1 June 2035, 09:00: the day's purge (due 02:00) runs at once on a node that starts later.
    let _s = Server::start("demo", &f.dir, &env_refs(&clock_at(&f.lib, "2035-06-01 09:00:00"))).await;
    let p = pool(&f.dir).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let state: Option<String> =
            sqlx::query("SELECT state FROM jobs WHERE unique_key = 'retention_purge:2035-06-01'").fetch_optional(&p).await.unwrap().map(|r| r.get("state"));
        if state.as_deref() == Some("done") {
            break;
        }
        assert!(Instant::now() < deadline, "the purge job is {state:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    p.close().await;
    assert_purged(&f, &b, "job:retention_purge").await;
}
