//! Issue 19: a key rotation interrupted part-way (SIGKILL once its progress shows blobs done) and
//! run again (docs/security.md, "Rotation": "If interrupted, run it again: blobs already under the
//! new key are skipped").
//!
//! The blob store holds the demo's photos, a GP's uploads, and 400 filler blobs put under the old
//! key beforehand so the rotation is long enough to stop in the middle. The envelope's key id is
//! read from the bytes on disk by the documented format (`"TDENC" 0x01 | key id length | key id |
//! …`), not through Telederm's own reader.

mod common;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Server, photo};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use telederm_store::blob_crypto::{Kek, Keyring};
use telederm_store::blobs::BlobStore;

const FILLER: usize = 400;

fn telederm(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telederm"));
    cmd.args(args).env("TELEDERM_DATA_DIR", dir).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Every blob file under `dir/blobs` (not the temporary directory), by file name (its key).
fn blob_files(dir: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(p: &Path, out: &mut BTreeMap<String, PathBuf>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != ".tmp") {
                    walk(&path, out);
                }
            } else {
                out.insert(path.file_name().unwrap().to_string_lossy().into_owned(), path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&dir.join("blobs"), &mut out);
    out
}

/// The key id in a stored envelope, by the documented layout.
fn envelope_key_id(bytes: &[u8]) -> String {
    assert!(bytes.starts_with(b"TDENC\x01"), "an encryption envelope, version 1");
    let n = bytes[6] as usize;
    String::from_utf8(bytes[7..7 + n].to_vec()).expect("a text key id")
}

/// How many blobs on disk are under each key id.
fn key_ids(dir: &Path) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for path in blob_files(dir).values() {
        *ids.entry(envelope_key_id(&std::fs::read(path).unwrap())).or_default() += 1;
    }
    ids
}

fn kek(path: &Path) -> Kek {
    Kek::from_base64(std::fs::read_to_string(path).unwrap().trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rotation_resumes_and_leaves_every_blob_under_the_new_key_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut demo = Server::start("demo", dir, &[]).await;
    let old_key = dir.join("blob.key");

    // A GP's draft with three photos; what the API serves for each, before the rotation.
    let gp = demo.sign_in_as("referrer").await;
    let (s, r) = gp.post("/referrals", &common::draft_body("hackney-rash", "ras", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    let mut served = Vec::new();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        let (s, p) = gp.upload(&id, kind, photo(500 + i as u64, 0.0)).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let pid = p["id"].as_str().unwrap().to_string();
        for variant in ["original", "attachment", "preview", "thumbnail"] {
            let resp = gp.client.get(format!("{}/referrals/{id}/photos/{pid}/{variant}", gp.base)).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            served.push((pid.clone(), variant, resp.bytes().await.unwrap().to_vec()));
        }
    }
    demo.kill();

    // Filler blobs under the old key, so the rotation takes long enough to interrupt.
    let url = format!("file://{}", dir.join("blobs").display());
    let old = BlobStore::open(&url).unwrap().with_keyring(Keyring { current: kek(&old_key), previous: None });
    for i in 0..FILLER {
        old.put(format!("filler blob {i}: {}", "x".repeat(2048)).into_bytes()).await.unwrap();
    }
    let old_id = kek(&old_key).id().to_string();
    let before = key_ids(dir);
    let total = blob_files(dir).len();
    assert_eq!(before, BTreeMap::from([(old_id.clone(), total)]), "every blob starts under the old key");
    assert!(total >= FILLER + 12);

    let new_key = dir.join("new.key");
    let (ok, out) = telederm(dir, &["keys", "generate", "--out", new_key.to_str().unwrap()], &[]);
    assert!(ok, "{out}");
    let new_id = kek(&new_key).id().to_string();
    assert!(out.contains(&new_id), "{out}");
    let rotating = [("TELEDERM_BLOB_KEY_FILE", new_key.to_str().unwrap()), ("TELEDERM_BLOB_KEY_PREVIOUS_FILE", old_key.to_str().unwrap())];

    // Start the rotation and kill it (SIGKILL) as soon as its progress shows 50 blobs done.
    let mut child = Command::new(env!("CARGO_BIN_EXE_telederm"))
        .args(["keys", "rotate"])
        .env("TELEDERM_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .envs(rotating)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines.next().expect("the rotation printed progress before it ended").unwrap();
        seen.push(line.clone());
        if line.trim_start().starts_with(&format!("50/{total} blobs")) {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed part-way: {seen:?}");

    // Part-way: some blobs under the new key, the rest still under the old one, none lost.
    let mid = key_ids(dir);
    let (moved, left) = (mid.get(&new_id).copied().unwrap_or(0), mid.get(&old_id).copied().unwrap_or(0));
    assert!(moved >= 50 && left > 0 && moved + left == total, "interrupted in the middle: {mid:?} of {total}");
    assert_eq!(mid.len(), 2, "{mid:?}");

    // Run again: it skips what was done and finishes.
    let (ok, out) = telederm(dir, &["keys", "rotate"], &rotating);
    assert!(ok && out.contains("rotation finished"), "{out}");
    let expected = format!("{total}/{total} blobs: {left} re-wrapped, 0 encrypted, {moved} already under the new key, 0 failed");
    assert!(out.contains(&expected), "expected {expected:?} in {out}");
    assert_eq!(key_ids(dir), BTreeMap::from([(new_id.clone(), total)]), "every blob is under the new key");

    // The new key alone opens every blob, each exactly once: the plaintext is no envelope and
    // hashes (SHA-256, computed here) to its key.
    let new_only = BlobStore::open(&url).unwrap().with_keyring(Keyring { current: kek(&new_key), previous: None });
    let old_only = BlobStore::open(&url).unwrap().with_keyring(Keyring { current: kek(&old_key), previous: None });
    for key in blob_files(dir).keys() {
        let plain = new_only.get(key).await.unwrap_or_else(|e| panic!("{key} under the new key: {e}"));
        assert!(!plain.starts_with(b"TDENC"), "{key} was encrypted twice");
        assert_eq!(hex::encode(Sha256::digest(&plain)), *key, "{key} decrypts to its own content");
        assert!(old_only.get(key).await.is_err(), "{key} still opens with the old key");
    }

    // Served byte for byte by a node with the new key only.
    let server = Server::start("serve", dir, &[("TELEDERM_BLOB_KEY_FILE", new_key.to_str().unwrap())]).await;
    let gp = server.sign_in_as("referrer").await;
    for (pid, variant, bytes) in &served {
        let resp = gp.client.get(format!("{}/referrals/{id}/photos/{pid}/{variant}", gp.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{pid} {variant}");
        assert!(resp.bytes().await.unwrap().to_vec() == *bytes, "photo {pid} {variant} is served as it was before the rotation");
    }
}
