//! Issue 19: FHIR export and import round trip through the CLI and the HTTP API.
//!
//! Expectations from docs/fhir-mapping.md:
//! - "two exports of the same data are identical apart from `Bundle.id` and `Bundle.timestamp`"
//!   (and `fullUrl`, whose base is the address asked: "Base of `Bundle.entry.fullUrl`");
//! - "Import accepts its own exports, so `export --all` on one installation and `import` on another
//!   moves every referral, with its photos, messages and outcome" — exporting the restored
//!   referral again gives the same Bundle, except what the page says is not imported
//!   (`ServiceRequest.meta.versionId`);
//! - the photo's exported bytes are "the e-RS-sized attachment derivative", with the `sha256`
//!   extension "(hex; the blob key)" and `attachment.size`;
//! - over HTTP an import is a draft of the caller's (docs/security.md): patient, history, consent
//!   and eligibility answers come over, each photo's bytes through the photo check.
//!
//! Photo bytes are compared by SHA-256 computed here (sha2), Binary data decoded here.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Api, Server, complete_draft};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Standard base64 (RFC 4648 §4), decoded without Telederm's code.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c:?}"),
        }
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().filter(|&c| c != b'=').collect();
        let mut n = 0u32;
        for (i, &c) in data.iter().enumerate() {
            n |= value(c) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..data.len().saturating_sub(1)]);
    }
    out
}

fn resources(bundle: &Value) -> BTreeMap<String, Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (format!("{}/{}", e["resource"]["resourceType"].as_str().unwrap(), e["resource"]["id"].as_str().unwrap()), e["resource"].clone()))
        .collect()
}

/// The Bundle without what differs between two exports of the same data: its id, timestamp and
/// the base of the full URLs.
fn comparable(bundle: &Value) -> Value {
    let mut b = bundle.clone();
    let o = b.as_object_mut().unwrap();
    o.remove("id");
    o.remove("timestamp");
    for e in b["entry"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("fullUrl");
    }
    b
}

/// Names the resources that differ (a whole-Bundle diff would be unreadable).
fn assert_same_resources(a: &Value, b: &Value, what: &str) {
    let (ra, rb) = (resources(a), resources(b));
    assert_eq!(ra.keys().collect::<Vec<_>>(), rb.keys().collect::<Vec<_>>(), "{what}: the same resources");
    for (k, v) in &ra {
        assert!(*v == rb[k], "{what}: {k} differs:\n{v}\n---\n{}", rb[k]);
    }
    assert_eq!(comparable(a), comparable(b), "{what}");
}

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telederm"))
        .args(args)
        .env("TELEDERM_DATA_DIR", dir)
        .env("TELEDERM_BLOB_KEY_FILE", dir.join("blob.key"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "telederm {args:?}: {text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn bytes(api: &Api, path: &str) -> Vec<u8> {
    let r = api.client.get(format!("{}{path}", api.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.bytes().await.unwrap().to_vec()
}

/// A referral with photos, a question and its answer, and an outcome.
async fn answered_referral(server: &Server) -> String {
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({"body_sites": ["arm", "leg"]})).await;
    let (s, b) = gp
        .patch(
            &format!("/referrals/{id}"),
            &json!({"consent": {"given_by": "patient", "method": "written", "direct_care": true, "teaching": true, "research": false}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = consultant.post(&format!("/referrals/{id}/request-information"), &json!({"message": "Is it itchy at night?"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = gp.post(&format!("/referrals/{id}/reply"), &json!({"message": "Yes, mostly at night."})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = consultant
        .post(
            &format!("/referrals/{id}/outcome"),
            &json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema",
                    "management_plan": "Potent topical steroid once daily for 2 weeks.", "follow_up": "Review in 6 weeks."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_survives_export_and_import_through_the_cli_and_the_api() {
    let a = Server::demo().await;
    let id = answered_referral(&a).await;
    let gp = a.sign_in_as("referrer").await;
    let (s, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let original = detail["referral"].clone();
    // The attachment derivative of each photo, as the API serves it: what the Bundle must carry.
    let mut attachments = BTreeMap::new();
    for p in detail["photos"].as_array().unwrap() {
        let pid = p["id"].as_str().unwrap();
        let body = bytes(&gp, &format!("/referrals/{id}/photos/{pid}/attachment")).await;
        attachments.insert(pid.to_string(), (p["kind"].as_str().unwrap().to_string(), sha256(&body), body.len()));
    }
    assert_eq!(attachments.len(), 3);

    // Over HTTP.
    let (s, http) = gp.get(&format!("/fhir/ServiceRequest/{id}/$everything")).await;
    assert_eq!(s, StatusCode::OK, "{http}");
    assert_eq!(http["type"], "searchset");
    let res = resources(&http);
    for (pid, (kind, digest, size)) in &attachments {
        let doc = &res[&format!("DocumentReference/{pid}")];
        let bin = &res[&format!("Binary/bin-{pid}")];
        let data = base64_decode(bin["data"].as_str().unwrap());
        assert_eq!(sha256(&data), *digest, "photo {pid}: the Binary is the attachment derivative");
        let ext = |name: &str| -> Value {
            doc["extension"].as_array().unwrap().iter().find(|e| e["url"].as_str().unwrap().ends_with(&format!("/{name}"))).cloned().unwrap_or(Value::Null)
        };
        assert_eq!(ext("sha256")["valueString"], json!(digest), "{doc}");
        assert_eq!(ext("photo-kind")["valueCode"], json!(kind), "{doc}");
        assert_eq!(doc["content"][0]["attachment"]["size"], json!(size));
        assert_eq!(doc["content"][0]["attachment"]["contentType"], "image/jpeg");
    }
    let patient = &res[&format!("Patient/patient-{id}")];
    assert_eq!(patient["birthDate"], original["patient"]["date_of_birth"]);
    assert_eq!(patient["address"][0]["postalCode"], original["patient"]["postcode"]);
    let nhs = patient["identifier"].as_array().unwrap().iter().find(|i| i["system"] == "https://fhir.nhs.uk/Id/nhs-number").unwrap();
    assert_eq!(nhs["value"], "9434765919");

    // With the CLI: the same Bundle.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("everything.json");
    cli(&a.data_dir, &["fhir", "export", "--referral", &id, "--out", file.to_str().unwrap()]);
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_same_resources(&http, &exported, "HTTP and CLI exports");

    // Restored with `telederm fhir import` into an empty installation: exported again, the same.
    let empty = tempfile::tempdir().unwrap();
    cli(empty.path(), &["keys", "generate", "--out", empty.path().join("blob.key").to_str().unwrap()]);
    cli(empty.path(), &["fhir", "import", file.to_str().unwrap()]);
    let again: Value = serde_json::from_str(&cli(empty.path(), &["fhir", "export", "--referral", &id])).unwrap();
    let mut want = exported.clone();
    let mut got = again.clone();
    for b in [&mut want, &mut got] {
        for e in b["entry"].as_array_mut().unwrap() {
            if e["resource"]["resourceType"] == "ServiceRequest" {
                e["resource"]["meta"].as_object_mut().unwrap().remove("versionId");
            }
        }
    }
    assert_same_resources(&want, &got, "export, import into an empty installation, export");

    // Imported over HTTP by another installation's GP: their draft, with the same patient,
    // history, consent and eligibility answers, and the same photo bytes.
    let tx: Value = serde_json::from_str(&cli(&a.data_dir, &["fhir", "export", "--referral", &id, "--transaction"])).unwrap();
    assert_eq!(tx["type"], "transaction");
    let b = Server::demo().await;
    let gp_b = b.sign_in_as("referrer").await;
    let (s, resp) = gp_b.post("/fhir", &tx).await;
    assert_eq!(s, StatusCode::CREATED, "{resp}");
    assert_eq!(resp["type"], "transaction-response");
    let new_id = resp["entry"][0]["response"]["location"].as_str().unwrap().trim_start_matches("ServiceRequest/").to_string();
    assert_eq!(resp["entry"][0]["resource"]["status"], "draft");
    let (s, imported) = gp_b.get(&format!("/referrals/{new_id}")).await;
    assert_eq!(s, StatusCode::OK, "{imported}");
    let (_, me) = gp_b.get("/me").await;
    let r = &imported["referral"];
    assert_eq!(r["status"], "draft");
    assert_eq!(r["referrer_id"], me["id"], "the caller's own draft");
    assert_eq!(r["outcome"], Value::Null, "an outcome is never imported over HTTP");
    for field in ["patient", "history", "consent", "eligibility_answers", "service_id", "route", "priority", "conversion_authorised"] {
        assert_eq!(r[field], original[field], "{field}");
    }
    let mut want: Vec<(String, String)> = attachments.values().map(|(k, d, _)| (k.clone(), d.clone())).collect();
    let mut got = Vec::new();
    for p in imported["photos"].as_array().unwrap() {
        let pid = p["id"].as_str().unwrap();
        let body = bytes(&gp_b, &format!("/referrals/{new_id}/photos/{pid}/original")).await;
        got.push((p["kind"].as_str().unwrap().to_string(), sha256(&body)));
    }
    want.sort();
    got.sort();
    assert_eq!(got, want, "each photo arrives with the bytes it was exported with");
}
