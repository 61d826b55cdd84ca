//! `telederm db copy`, `blobs copy`, `backup` and `restore` as an operator runs them.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{Server, complete_draft};
use reqwest::StatusCode;
use serde_json::json;
use telederm_store::Store;
use telederm_store::testkit::{S3Server, TestDatabase};

fn telederm(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telederm"));
    cmd.args(args).env("RUST_LOG", "warn").env_remove("TELEDERM_DATABASE_URL").env_remove("TELEDERM_BLOB_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run telederm")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn summaries(url: &str) -> Vec<telederm_store::copy::TableSummary> {
    let store = Store::connect_without_migrating(url).await.unwrap();
    let s = store.summarise_tables().await.unwrap();
    store.close().await;
    s
}

/// A demo installation with one more referral (with photos) made through the API; returns its
/// data directory and the referral's id.
async fn seeded(dir: &Path) -> String {
    let mut server = Server::start("demo", dir, &[("TELEDERM_WORKER", "off")]).await;
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (s, _) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK);
    server.terminate();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_copy_round_trips_sqlite_to_postgres_to_sqlite_and_refuses_a_full_target() {
    let tmp = tempfile::tempdir().unwrap();
    seeded(tmp.path()).await;
    let source = format!("sqlite://{}", tmp.path().join("telederm.db").display());
    let before = summaries(&source).await;
    assert!(before.iter().find(|t| t.table == "referrals").unwrap().rows >= 5);

    let pg = TestDatabase::postgres().await;
    let out = telederm(&["db", "copy", "--from", &source, "--to", &pg.url], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("counts and checksums match"), "{}", text(&out));
    assert_eq!(summaries(&source).await, before, "the source is unchanged");
    assert_eq!(summaries(&pg.url).await, before, "PostgreSQL holds the same rows");

    let back = format!("sqlite://{}", tmp.path().join("back").join("copy.db").display());
    let out = telederm(&["db", "copy", "--from", &pg.url, "--to", &back], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(summaries(&back).await, before, "and back to SQLite, identical");

    // A target with data is refused, and left as it was.
    let out = telederm(&["db", "copy", "--from", &source, "--to", &pg.url], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not empty") && text(&out).contains("empty database"), "{}", text(&out));
    assert_eq!(summaries(&pg.url).await, before);

    // A source that does not exist is not created.
    let missing = tmp.path().join("nope.db");
    let out = telederm(&["db", "copy", "--from", &format!("sqlite://{}", missing.display()), "--to", &back], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no SQLite database"), "{}", text(&out));
    assert!(!missing.exists());
}

/// The environment that points `s3://` URLs at a loopback S3 server.
fn s3_env(s3: &S3Server) -> Vec<(&'static str, String)> {
    vec![
        ("TELEDERM_S3_ENDPOINT", s3.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("TELEDERM_S3_REGION", "eu-west-2".into()),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_copy_moves_every_blob_to_s3_and_back_and_can_be_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    seeded(tmp.path()).await;
    let s3 = S3Server::start();
    let env = s3_env(&s3);
    let env = env_refs(&env);
    let from = format!("file://{}", tmp.path().join("blobs").display());
    let bucket = format!("s3://{}/region-a", s3.bucket);
    let back = format!("file://{}", tmp.path().join("copy").display());

    let out = telederm(&["blobs", "copy", "--from", &from, "--to", &bucket], &env);
    assert!(out.status.success(), "{}", text(&out));
    let out = telederm(&["blobs", "copy", "--from", &bucket, "--to", &back], &env);
    assert!(out.status.success(), "{}", text(&out));

    let mut source = telederm_store::blobs::BlobStore::open(&from).unwrap().list().await.unwrap();
    let mut in_s3 = s3.blob_store("region-a").list().await.unwrap();
    let mut copied = telederm_store::blobs::BlobStore::open(&back).unwrap().list().await.unwrap();
    source.sort();
    in_s3.sort();
    copied.sort();
    assert!(!source.is_empty());
    assert_eq!(in_s3, source, "every blob reached the bucket");
    assert_eq!(copied, source, "and came back");

    // Re-running copies nothing new.
    let out = telederm(&["blobs", "copy", "--from", &from, "--to", &bucket], &env);
    assert!(text(&out).contains(&format!("0 copied to {bucket}, {} already there", source.len())), "{}", text(&out));
    // A missing source directory is an error, not an empty copy.
    let out = telederm(&["blobs", "copy", "--from", "file:///no/such/dir", "--to", &back], &env);
    assert!(!out.status.success() && text(&out).contains("no blob directory"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_then_restore_into_a_fresh_directory_serves_the_same_referral() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let server = Server::start("demo", &live, &[]).await;
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (_, original) = gp.get(&format!("/referrals/{id}")).await;
    let photo = original["photos"][0]["id"].as_str().unwrap().to_string();
    let photo_url = |api: &common::Api| format!("{}/referrals/{id}/photos/{photo}/original", api.base);
    let original_bytes = gp.client.get(photo_url(&gp)).send().await.unwrap().bytes().await.unwrap();

    // Online: the server keeps running during the backup.
    let backup = tmp.path().join("backup");
    let live_env = [("TELEDERM_DATA_DIR", live.to_str().unwrap())];
    let out = telederm(&["backup", "--to", backup.to_str().unwrap()], &live_env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(backup.join("manifest.json").is_file() && backup.join("telederm.db").is_file());
    let out = telederm(&["backup", "--to", backup.to_str().unwrap()], &live_env);
    assert!(!out.status.success() && text(&out).contains("not empty"), "never overwrites a backup: {}", text(&out));
    drop(server);

    let fresh = tmp.path().join("fresh");
    let fresh_env = [("TELEDERM_DATA_DIR", fresh.to_str().unwrap())];
    let out = telederm(&["restore", "--from", backup.to_str().unwrap()], &fresh_env);
    assert!(out.status.success(), "{}", text(&out));
    let out = telederm(&["restore", "--from", backup.to_str().unwrap()], &fresh_env);
    assert!(!out.status.success() && text(&out).contains("not empty"), "restore refuses a used database: {}", text(&out));

    std::fs::copy(live.join("demo-credentials.txt"), fresh.join("demo-credentials.txt")).unwrap();
    // The photo key is not in the backup (keep it separately); the restored node needs it.
    let key = live.join("blob.key");
    let restored = Server::start("serve", &fresh, &[("TELEDERM_BLOB_KEY_FILE", key.to_str().unwrap())]).await;
    let gp = restored.sign_in_as("referrer").await;
    let (s, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["referral"], original["referral"]);
    assert_eq!(detail["photos"], original["photos"]);
    let bytes = gp.client.get(photo_url(&gp)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes, original_bytes, "the photo comes back byte for byte");

    drop(restored);

    // The same backup restores into PostgreSQL and S3 (a move to the region shape), and serves.
    let pg = TestDatabase::postgres().await;
    let s3 = S3Server::start();
    let mut env = s3_env(&s3);
    env.push(("TELEDERM_DATABASE_URL", pg.url.clone()));
    env.push(("TELEDERM_BLOB_URL", format!("s3://{}/restored", s3.bucket)));
    let region_dir = tmp.path().join("region");
    std::fs::create_dir_all(&region_dir).unwrap();
    env.push(("TELEDERM_DATA_DIR", region_dir.display().to_string()));
    // The photos stay encrypted through backup and restore: the region needs the live key.
    env.push(("TELEDERM_BLOB_KEY_FILE", key.display().to_string()));
    let env = env_refs(&env);
    let out = telederm(&["restore", "--from", backup.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::copy(live.join("demo-credentials.txt"), region_dir.join("demo-credentials.txt")).unwrap();
    let region = Server::start("serve", &region_dir, &env).await;
    let gp = region.sign_in_as("referrer").await;
    let (s, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["referral"], original["referral"]);
    let bytes = gp.client.get(photo_url(&gp)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes, original_bytes, "the photo is served from the bucket");
    drop(region);

    // One changed cell in the backup's database (the manifest untouched) is refused, naming the
    // table, before anything is written to the target.
    let backup_url = format!("sqlite://{}", backup.join("telederm.db").display());
    let set_name = |name: String| {
        let (url, id) = (backup_url.clone(), id.clone());
        async move {
            let store = Store::connect_without_migrating(&url).await.unwrap();
            let old: String = sqlx::Row::get(&sqlx::query(&format!("SELECT patient_name FROM referrals WHERE id = '{id}'")).fetch_one(store.pool()).await.unwrap(), "patient_name");
            let n = sqlx::query("UPDATE referrals SET patient_name = $1 WHERE id = $2").bind(name).bind(&id).execute(store.pool()).await.unwrap();
            assert_eq!(n.rows_affected(), 1);
            // Into the database file itself (restore reads that file, not a write-ahead log).
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(store.pool()).await.unwrap();
            store.close().await;
            old
        }
    };
    let original_name = set_name("Someone Else".into()).await;
    assert_ne!(original_name, "Someone Else");
    let damaged = tmp.path().join("damaged");
    let out = telederm(&["restore", "--from", backup.to_str().unwrap()], &[("TELEDERM_DATA_DIR", damaged.to_str().unwrap())]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("does not match its manifest: table `referrals` holds"), "{}", text(&out));
    assert!(!damaged.join("telederm.db").exists(), "nothing restored from a damaged backup");
    // Put back, the backup restores again (so it was that one cell).
    set_name(original_name).await;
    let out = telederm(&["restore", "--from", backup.to_str().unwrap()], &[("TELEDERM_DATA_DIR", damaged.to_str().unwrap())]);
    assert!(out.status.success(), "{}", text(&out));

    // A damaged manifest is refused.
    let manifest = backup.join("manifest.json");
    let tampered = std::fs::read_to_string(&manifest).unwrap().replacen("\"rows\": ", "\"rows\": 1", 1);
    std::fs::write(&manifest, tampered).unwrap();
    let other = tmp.path().join("other");
    let out = telederm(&["restore", "--from", backup.to_str().unwrap()], &[("TELEDERM_DATA_DIR", other.to_str().unwrap())]);
    assert!(!out.status.success() && text(&out).contains("does not match its manifest"), "{}", text(&out));
}
