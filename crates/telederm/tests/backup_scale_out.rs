//! Backup and restore of a scale-out installation (PostgreSQL and an S3-compatible bucket), the
//! path docs/operations.md documents: `pg_dump` and `telederm blobs copy` to a backup directory,
//! then `pg_restore` and `telederm blobs copy` into an empty database and an empty bucket. The
//! restored installation has the same tables (counts and checksums), passes `telederm audit
//! verify`, and serves every photo, byte for byte.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Api, Server, draft_body};
use reqwest::StatusCode;
use serde_json::json;
use telederm_store::Store;
use telederm_store::blobs::sha256_hex;
use telederm_store::testkit::{S3Server, TestDatabase, postgres_bin_dir};

const BLOB_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PREFIX: &str = "region-a";

fn env(db: &TestDatabase, s3: &S3Server) -> Vec<(String, String)> {
    [
        ("TELEDERM_DATABASE_URL", db.url.clone()),
        ("TELEDERM_BLOB_URL", format!("s3://{}/{PREFIX}", s3.bucket)),
        ("TELEDERM_S3_ENDPOINT", s3.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("TELEDERM_BLOB_KEY", BLOB_KEY.into()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .to_vec()
}

/// Runs a program; panics with its output unless it succeeds. Returns its stdout.
fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn telederm(args: &[&str], env: &[(String, String)], data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telederm"));
    cmd.args(args).env("TELEDERM_DATA_DIR", data_dir).envs(env.iter().map(|(k, v)| (k, v))).env("RUST_LOG", "warn");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_and_s3_installation_is_backed_up_and_restored_into_an_empty_one() {
    let pg_bin = postgres_bin_dir().expect("pg_dump and pg_restore (install postgresql)");
    // --- The installation: seeded by the demo, plus a photo uploaded through the API. ---------
    let (src_db, src_s3) = (TestDatabase::postgres().await, S3Server::start());
    let src_env = env(&src_db, &src_s3);
    let node_dir = tempfile::tempdir().unwrap();
    let refs: Vec<(&str, &str)> = src_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut node = Server::start("demo", node_dir.path(), &refs).await;
    let gp = node.sign_in_as("referrer").await;
    let (s, b) = gp.post("/referrals", &draft_body("nhs-advice-and-guidance", "advice_and_guidance", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, p) = gp.upload(b["id"].as_str().unwrap(), "locator", common::photo(7, 0.0)).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let credentials = std::fs::read_to_string(node.data_dir.join("demo-credentials.txt")).unwrap();
    // Stopped so the comparison below is exact (pg_dump itself reads one consistent snapshot
    // and may run while the service does).
    assert!(node.terminate().success());

    // --- Backup: the database with pg_dump, then the bucket with telederm blobs copy. ---------
    let backup = tempfile::tempdir().unwrap();
    let dump = backup.path().join("telederm.dump");
    let mut pg_dump = Command::new(pg_bin.join("pg_dump"));
    pg_dump.args(["--format=custom", "--no-owner", "--no-privileges", "--file"]).arg(&dump).arg(&src_db.url);
    run(pg_dump, "pg_dump");
    let blobs_dir = format!("file://{}", backup.path().join("blobs").display());
    let from = format!("s3://{}/{PREFIX}", src_s3.bucket);
    run(telederm(&["blobs", "copy", "--from", &from, "--to", &blobs_dir], &src_env, node_dir.path()), "blobs copy to the backup");

    // --- Restore into an empty database and an empty bucket. -----------------------------------
    let (dst_db, dst_s3) = (TestDatabase::postgres().await, S3Server::start());
    let dst_env = env(&dst_db, &dst_s3);
    let mut pg_restore = Command::new(pg_bin.join("pg_restore"));
    pg_restore.args(["--no-owner", "--no-privileges", "--exit-on-error", "--dbname", &dst_db.url]).arg(&dump);
    run(pg_restore, "pg_restore");
    let to = format!("s3://{}/{PREFIX}", dst_s3.bucket);
    let restore_dir = tempfile::tempdir().unwrap();
    run(telederm(&["blobs", "copy", "--from", &blobs_dir, "--to", &to], &dst_env, restore_dir.path()), "blobs copy from the backup");

    // Same tables, row for row.
    let (src, dst) = (Store::connect_without_migrating(&src_db.url).await.unwrap(), Store::connect_without_migrating(&dst_db.url).await.unwrap());
    let (a, b) = (src.summarise_tables().await.unwrap(), dst.summarise_tables().await.unwrap());
    assert_eq!(format!("{a:?}"), format!("{b:?}"), "the restored tables match the original's counts and checksums");
    src.close().await;
    // The audit trail's hash chain is whole.
    let verified = run(telederm(&["audit", "verify"], &dst_env, restore_dir.path()), "audit verify on the restored installation");
    eprintln!("audit verify: {}", verified.trim());

    // --- The restored installation serves every photo. ------------------------------------------
    std::fs::write(restore_dir.path().join("demo-credentials.txt"), credentials).unwrap();
    let refs: Vec<(&str, &str)> = dst_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let restored = Server::start("serve", restore_dir.path(), &refs).await;
    let mut viewers: Vec<Api> = Vec::new();
    for role in ["referrer", "consultant"] {
        viewers.push(restored.sign_in_as(role).await);
    }
    use sqlx::Row;
    let referrals: Vec<String> = sqlx::query("SELECT DISTINCT referral_id FROM photos")
        .fetch_all(dst.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("referral_id"))
        .collect();
    assert!(referrals.len() >= 2, "the demo's photos and the uploaded one");
    let mut served = 0;
    for referral in &referrals {
        let mut photos = None;
        for api in &viewers {
            let (s, list) = api.get(&format!("/referrals/{referral}/photos")).await;
            if s == StatusCode::OK {
                photos = Some((api, list));
                break;
            }
        }
        let (api, list) = photos.unwrap_or_else(|| panic!("no demo user can see referral {referral} after the restore"));
        for photo in list["photos"].as_array().unwrap() {
            let id = photo["id"].as_str().unwrap();
            for variant in ["original", "attachment", "preview", "thumbnail"] {
                let r = api.client.get(format!("{}/referrals/{referral}/photos/{id}/{variant}", api.base)).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK, "photo {id} {variant}");
                let bytes = r.bytes().await.unwrap();
                assert_eq!(sha256_hex(&bytes), photo[format!("{variant}_key")].as_str().unwrap(), "photo {id} {variant} is byte for byte the original");
            }
            served += 1;
        }
    }
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM photos").fetch_one(dst.pool()).await.unwrap();
    assert_eq!(served, count, "every photo was served");
    eprintln!("restored installation served all {served} photos");
    dst.close().await;
}
