//! Issue 11 §1: what a FHIR import over HTTP may create. A referrer's import is a draft of their
//! own: never an outcome, a status past `submitted`, anyone else's authorship, or an account. A
//! whole-installation restore is the operator's CLI command, all or nothing, and a clash is an
//! OperationOutcome, never a 500.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The `$everything` Bundle of one of the GP's answered referrals, as an attacker would start.
async fn answered_bundle(gp: &Api) -> (String, Value) {
    let (s, list) = gp.get("/referrals?status=outcome_issued").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let id = list["referrals"][0]["id"].as_str().expect("the demo has an answered referral").to_string();
    let (s, bundle) = gp.get(&format!("/fhir/ServiceRequest/{id}/$everything")).await;
    assert_eq!(s, StatusCode::OK, "{bundle}");
    (id, bundle)
}

/// Drops photos and letters and gives the referral a new id everywhere it is named.
fn forge(bundle: &Value, old_id: &str) -> Value {
    let mut b = bundle.clone();
    let entries = b["entry"].as_array_mut().unwrap();
    entries.retain(|e| !matches!(e["resource"]["resourceType"].as_str(), Some("Binary" | "DocumentReference")));
    for e in entries.iter_mut().filter(|e| e["resource"]["resourceType"] == "ServiceRequest") {
        if let Some(info) = e["resource"]["supportingInfo"].as_array_mut() {
            info.retain(|i| !i["reference"].as_str().unwrap_or_default().starts_with("DocumentReference/"));
        }
    }
    let text = serde_json::to_string(&b).unwrap().replace(old_id, &uuid::Uuid::new_v4().to_string());
    serde_json::from_str(&text).unwrap()
}

/// Makes the Bundle's consultant a new person with a new email and a system administrator's role.
fn plant_admin(bundle: &mut Value, consultant_email: &str) -> String {
    let planted = "planted-admin@evil.example".to_string();
    let text = serde_json::to_string(bundle).unwrap().replace(consultant_email, &planted);
    *bundle = serde_json::from_str(&text).unwrap();
    for e in bundle["entry"].as_array_mut().unwrap() {
        let r = &mut e["resource"];
        if r["resourceType"] == "PractitionerRole" {
            for c in r["code"].as_array_mut().into_iter().flatten() {
                for coding in c["coding"].as_array_mut().into_iter().flatten() {
                    if coding["code"] == "consultant" {
                        coding["code"] = json!("system_admin");
                    }
                }
            }
        }
    }
    planted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gp_cannot_forge_an_outcome_or_plant_an_account_through_the_import() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let (_, me) = gp.get("/me").await;
    let creds = server.demo_credentials();
    let consultant_email = creds["consultant"].0.clone();
    let (old_id, everything) = answered_bundle(&gp).await;
    let mut forged = forge(&everything, &old_id);
    let planted = plant_admin(&mut forged, &consultant_email);

    let (s, resp) = gp.post("/fhir", &forged).await;
    assert_eq!(s, StatusCode::CREATED, "{resp}");
    let entry = &resp["entry"][0]["response"];
    let new_id = entry["location"].as_str().unwrap().trim_start_matches("ServiceRequest/").to_string();
    assert_ne!(new_id, old_id);
    // What the import read but did not take over is said, as information.
    let said: Vec<&str> = entry["outcome"]["issue"].as_array().unwrap().iter().map(|i| i["diagnostics"].as_str().unwrap()).collect();
    assert!(entry["outcome"]["issue"].as_array().unwrap().iter().all(|i| i["severity"] == "information"), "{entry}");
    assert!(said.iter().any(|d| d.contains("outcome")), "{said:?}");
    assert!(said.iter().any(|d| d.contains("practitioner")), "{said:?}");

    // The referral is the GP's own draft: no outcome, no consultant, no history by anyone else.
    let (s, detail) = gp.get(&format!("/referrals/{new_id}")).await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    let r = &detail["referral"];
    assert_eq!(r["status"], "draft");
    assert!(r["outcome"].is_null(), "{r}");
    assert!(r["assignee_id"].is_null(), "{r}");
    assert!(r["due_date"].is_null() && r["submitted_at"].is_null(), "{r}");
    assert_eq!(r["referrer_id"], me["id"]);
    assert_eq!(r["practice_id"], me["organisation_id"]);
    assert_eq!(detail["messages"], json!([]));
    assert_eq!(detail["events"], json!([]));
    assert_eq!(detail["photos"], json!([]));
    // ...so there is no letter telling a patient a specialist looked at photos.
    let (s, _) = gp.get(&format!("/referrals/{new_id}/letters/patient?format=html")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // ...and no account was created or changed.
    let (ok, users, err) = server.cli(&["user", "list"], &[]);
    assert!(ok, "{err}");
    assert!(!users.contains(&planted), "{users}");
    assert_eq!(users.lines().filter(|l| l.contains("\tsystem_admin\t")).count(), 1, "{users}");
    // The consultant still sees the original as before; the draft is not on any worklist.
    let consultant = server.sign_in_as("consultant").await;
    let (_, work) = consultant.get("/worklist").await;
    assert!(!work.to_string().contains(&new_id));

    // The import is one audited act by the GP.
    let (ok, trail, err) = server.cli(&["audit", "export", "--since", "2000-01-01", "--format", "jsonl"], &[]);
    assert!(ok, "{err}");
    let import = trail.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["action"] == "fhir.import" && e["outcome"] == "allowed").expect("audited");
    assert_eq!(import["actor_id"], me["id"]);
    assert!(import["detail"].as_str().unwrap().contains(&new_id), "{import}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_referrers_import_and_a_refused_import_leaves_nothing() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let (old_id, everything) = answered_bundle(&gp).await;
    let forged = forge(&everything, &old_id);

    // A system administrator cannot restore over HTTP (the CLI is the only way).
    let admin = server.sign_in_as("system_admin").await;
    let (s, body) = admin.post("/fhir", &forged).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["resourceType"], "OperationOutcome");

    // Asked to send at once, an import that the submit rules refuse writes nothing at all.
    let (_, before) = gp.get("/referrals?limit=1000").await;
    let mut incomplete = forged.clone();
    for e in incomplete["entry"].as_array_mut().unwrap() {
        if e["resource"]["resourceType"] == "QuestionnaireResponse" {
            e["resource"]["item"] = json!([]);
        }
        if e["resource"]["resourceType"] == "ServiceRequest" {
            e["resource"]["note"] = json!([]);
        }
    }
    let (s, body) = gp.post("/fhir?submit=true", &incomplete).await;
    assert!(s == StatusCode::UNPROCESSABLE_ENTITY, "{s} {body}");
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert!(body["issue"].as_array().unwrap().iter().any(|i| i["severity"] == "error"), "{body}");
    let (_, after) = gp.get("/referrals?limit=1000").await;
    assert_eq!(before["referrals"].as_array().unwrap().len(), after["referrals"].as_array().unwrap().len(), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_can_be_sent_at_once_by_the_ordinary_submit_rules() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (s, bundle) = gp.get(&format!("/fhir/ServiceRequest/{id}/$everything")).await;
    assert_eq!(s, StatusCode::OK);
    let mut tx = bundle.clone();
    let text = serde_json::to_string(&tx).unwrap().replace(&id, &uuid::Uuid::new_v4().to_string());
    tx = serde_json::from_str(&text).unwrap();
    let (s, resp) = gp.post("/fhir?submit=true", &tx).await;
    assert_eq!(s, StatusCode::CREATED, "{resp}");
    let new_id = resp["entry"][0]["response"]["location"].as_str().unwrap().trim_start_matches("ServiceRequest/").to_string();
    let (_, detail) = gp.get(&format!("/referrals/{new_id}")).await;
    assert_eq!(detail["referral"]["status"], "submitted", "{detail}");
    assert!(detail["referral"]["due_date"].is_string(), "the due date is set by this service's rules");
    // The photos came through Telederm's own photo check, as the GP's uploads.
    let photos = detail["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 3, "{detail}");
    assert!(photos.iter().all(|p| p["uploaded_by"] == detail["referral"]["referrer_id"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_that_clashes_is_an_operation_outcome_and_changes_nothing() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let (old_id, everything) = answered_bundle(&gp).await;
    // Same referral under a new id, but the consultant's email changed while their id stayed:
    // the restore would need a second account with the same id.
    let mut forged = forge(&everything, &old_id);
    let creds = server.demo_credentials();
    let text = serde_json::to_string(&forged).unwrap().replace(&creds["consultant"].0, "someone-else@demo.telederm.nhs.uk");
    forged = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.json");
    std::fs::write(&file, serde_json::to_string(&forged).unwrap()).unwrap();
    let (_, before) = gp.get("/referrals?limit=1000").await;
    let key = server.data_dir.join("blob.key");
    let (ok, out, err) = server.cli(&["fhir", "import", file.to_str().unwrap()], &[("TELEDERM_BLOB_KEY_FILE", key.to_str().unwrap())]);
    assert!(!ok, "refused: {out}");
    assert!(out.contains("\"duplicate\""), "an OperationOutcome names the clash: {out}{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (_, after) = gp.get("/referrals?limit=1000").await;
    assert_eq!(before["referrals"].as_array().unwrap().len(), after["referrals"].as_array().unwrap().len());
    let (_, users, _) = server.cli(&["user", "list"], &[]);
    assert!(!users.contains("someone-else@"), "{users}");
}
