//! The audit trail, photo encryption at rest and key rotation, against the real binary.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Server, photo};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn cli(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telederm"));
    cmd.args(args).env("TELEDERM_DATA_DIR", data_dir).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run telederm")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Starts `telederm serve` expecting it to refuse: returns its exit status and output.
fn serve_refuses(data_dir: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telederm"));
    cmd.arg("serve")
        .env("TELEDERM_DATA_DIR", data_dir)
        .env("TELEDERM_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return (out.status.code(), text(&out));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("telederm serve kept running with a wrong or missing blob key");
}

async fn draft_with_photo(server: &Server) -> (String, Vec<u8>) {
    let gp = server.sign_in_as("referrer").await;
    let (s, r) = gp
        .post(
            "/referrals",
            &json!({
                "service_id": "hackney-rash", "route": "ras",
                "patient": {"nhs_number": "943 476 5919", "given_name": "Ada", "family_name": "Lovelace",
                            "date_of_birth": "1980-05-17", "sex": "female", "postcode": "E8 1DY"},
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    let (s, p) = gp.upload(&id, "close_up", photo(7, 0.0)).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let url = format!("{}/referrals/{id}/photos/{}/original", gp.base, p["id"].as_str().unwrap());
    let original = gp.client.get(url).send().await.unwrap();
    assert_eq!(original.status(), StatusCode::OK);
    (id, original.bytes().await.unwrap().to_vec())
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every photo of every referral the referrer sees can be downloaded.
async fn all_photos_readable(server: &Server) -> usize {
    let gp = server.sign_in_as("referrer").await;
    let (_, list) = gp.get("/referrals").await;
    let mut n = 0;
    for r in list["referrals"].as_array().unwrap() {
        let id = r["id"].as_str().unwrap();
        let (_, photos) = gp.get(&format!("/referrals/{id}/photos")).await;
        for p in photos["photos"].as_array().unwrap() {
            let url = format!("{}/referrals/{id}/photos/{}/thumbnail", gp.base, p["id"].as_str().unwrap());
            let resp = gp.client.get(url).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "photo {} of {id}", p["id"]);
            assert!(resp.bytes().await.unwrap().starts_with(&[0xFF, 0xD8, 0xFF]));
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_are_encrypted_on_disk_a_wrong_key_refuses_and_rotation_keeps_them_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut demo = Server::start("demo", dir, &[]).await;
    let old_key = dir.join("blob.key");
    assert!(old_key.exists(), "the demo makes its key on first start");
    let (_, original) = draft_with_photo(&demo).await;
    assert!(original.starts_with(&[0xFF, 0xD8, 0xFF]), "the API serves the decrypted JPEG");
    demo.kill();

    // Straight from disk: no image signature, no run of the image's bytes.
    let mut files = Vec::new();
    files_under(&dir.join("blobs"), &mut files);
    files.retain(|f| !f.components().any(|c| c.as_os_str() == ".tmp"));
    assert!(files.len() >= 4, "the demo photos and the upload are stored");
    let window = &original[original.len() / 2..original.len() / 2 + 48];
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(bytes.starts_with(b"TDENC\x01"), "{} is an encryption envelope", f.display());
        assert!(!bytes.starts_with(&[0xFF, 0xD8, 0xFF]) && !bytes.starts_with(b"\x89PNG"), "{}", f.display());
        assert!(!bytes.windows(4).any(|w| w == b"JFIF" || w == b"Exif"), "{} holds no JPEG markers", f.display());
        assert!(!bytes.windows(window.len()).any(|w| w == window), "{} holds none of the photo's bytes", f.display());
    }

    // Restart without the key, or with another key: refused, saying which setting to fix.
    let (code, out) = serve_refuses(dir, &[]);
    assert_ne!(code, Some(0));
    assert!(out.contains("no blob key is configured") && out.contains("TELEDERM_BLOB_KEY_FILE"), "{out}");
    let wrong = dir.join("wrong.key");
    let o = cli(dir, &["keys", "generate", "--out", wrong.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (code, out) = serve_refuses(dir, &[("TELEDERM_BLOB_KEY_FILE", wrong.to_str().unwrap())]);
    assert_ne!(code, Some(0));
    assert!(out.contains("refusing to serve photos") && out.contains("TELEDERM_BLOB_KEY_FILE"), "{out}");

    // Rotate to a new key: every blob re-wrapped, resumable (a second run has nothing to do).
    let new_key = dir.join("new.key");
    assert!(cli(dir, &["keys", "generate", "--out", new_key.to_str().unwrap()], &[]).status.success());
    let rotating = [("TELEDERM_BLOB_KEY_FILE", new_key.to_str().unwrap()), ("TELEDERM_BLOB_KEY_PREVIOUS_FILE", old_key.to_str().unwrap())];
    let o = cli(dir, &["keys", "rotate"], &rotating);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("rotation finished"), "{}", text(&o));
    assert!(text(&o).contains(&format!("{n}/{n} blobs", n = files.len())), "progress is shown: {}", text(&o));
    let again = cli(dir, &["keys", "rotate"], &rotating);
    assert!(again.status.success() && text(&again).contains(&format!("{} already under the new key", files.len())), "{}", text(&again));

    // The new key alone serves every photo; the old key alone is refused.
    let server = Server::start("serve", dir, &[("TELEDERM_BLOB_KEY_FILE", new_key.to_str().unwrap())]).await;
    assert!(all_photos_readable(&server).await >= 4);
    drop(server);
    let (code, out) = serve_refuses(dir, &[("TELEDERM_BLOB_KEY_FILE", old_key.to_str().unwrap())]);
    assert_ne!(code, Some(0));
    assert!(out.contains("refusing to serve photos"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_records_reads_and_refusals_and_verify_names_a_changed_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut demo = Server::start("demo", dir, &[]).await;
    let (id, _) = draft_with_photo(&demo).await;
    let consultant = demo.sign_in_as("consultant").await;
    // A consultant cannot see a draft: refused (404) and recorded as denied.
    let (s, _) = consultant.get(&format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = consultant.get("/referrals/not-a-real-id").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The admin page: system admins search it; others are refused.
    let admin = demo.sign_in_as("system_admin").await;
    let page = admin.client.get(format!("{}/admin/audit?referral={id}", demo.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("photo.upload") && html.contains("referral.read") && html.contains("data-outcome=\"denied\""), "{html}");
    let dashboard = admin.client.get(format!("{}/admin", demo.base)).send().await.unwrap().text().await.unwrap();
    assert!(dashboard.contains("href=\"/admin/audit\""), "reachable from the dashboard");
    let gp = demo.sign_in_as("referrer").await;
    let refused = gp.client.get(format!("{}/admin/audit", demo.base)).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    demo.kill();

    // Export for the DPO: who, role, organisation, action, record, address, outcome.
    let o = cli(dir, &["audit", "export", "--since", "2000-01-01"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let entries: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let read = entries
        .iter()
        .find(|e| e["action"] == "referral.read" && e["referral_id"] == id.as_str() && e["actor_role"] == "referrer")
        .expect("the GP's read is recorded");
    assert_eq!(read["outcome"], "allowed");
    assert_eq!(read["client_addr"], "127.0.0.1");
    assert!(read["organisation_id"].is_string() && read["actor_id"].is_string() && read["at"].is_string());
    let denied = entries
        .iter()
        .find(|e| e["outcome"] == "denied" && e["referral_id"] == id.as_str() && e["actor_role"] == "consultant")
        .expect("the consultant's refusal is recorded");
    assert_eq!(denied["action"], "referral.view");
    assert!(entries.iter().any(|e| e["outcome"] == "denied" && e["record_id"] == "not-a-real-id"), "probes are recorded");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Lovelace"), "no patient details in the trail");
    let csv = cli(dir, &["audit", "export", "--since", "2000-01-01", "--until", "2999-12-31", "--format", "csv"], &[]);
    assert!(String::from_utf8_lossy(&csv.stdout).starts_with("seq,id,at,actor_id,"));

    // The retention purge runs from the command line too (nothing in the demo is old enough).
    let dry = cli(dir, &["retention", "run", "--dry-run"], &[("TELEDERM_BLOB_KEY_FILE", dir.join("blob.key").to_str().unwrap())]);
    assert!(dry.status.success() && text(&dry).contains("referrals examined, 0 expired (dry run"), "{}", text(&dry));

    let ok = cli(dir, &["audit", "verify"], &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("intact"));

    // Change one field of one entry behind Telederm's back.
    let victim = &entries[2];
    let url = format!("sqlite://{}", dir.join("telederm.db").display());
    let store = telederm_store::Store::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_log SET client_addr = '10.9.9.9' WHERE id = $1")
        .bind(victim["id"].as_str().unwrap())
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let bad = cli(dir, &["audit", "verify"], &[]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let msg = text(&bad);
    assert!(msg.contains(victim["id"].as_str().unwrap()) && msg.contains(&format!("sequence {}", victim["seq"])) && msg.contains("hash"), "{msg}");
}
