//! Hazard H3 (docs/clinical-safety/hazard-log.md): a child referred to a service that excludes
//! identifiable children's faces is refused at submit when a photo's quality report says a face was
//! detected, even when the GP answered `face_identifiable_in_images = false`.

mod common;

use chrono::Datelike;
use common::{Server, draft_body, photo_with_faces};
use reqwest::StatusCode;
use serde_json::json;

/// A complete Homerton draft (whose policy excludes identifiable children's faces) for a patient
/// born on `dob`, the checklist saying no face is identifiable.
async fn homerton_draft(gp: &common::Api, dob: &str) -> String {
    let mut body = draft_body("homerton", "ras", json!({"face_identifiable_in_images": false}));
    body["patient"]["date_of_birth"] = json!(dob);
    body["eligibility_answers"]["patient"]["date_of_birth"] = json!(dob);
    let (s, created) = gp.post("/referrals", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        let (s, p) = gp.upload(&id, kind, common::photo(i as u64 + 1, 0.0)).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
    }
    id
}

fn child_dob() -> String {
    let today = chrono::Utc::now().date_naive();
    today.with_year(today.year() - 9).unwrap_or(today - chrono::Duration::days(9 * 365)).to_string()
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_childs_photo_with_a_detected_face_is_refused_at_submit() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let id = homerton_draft(&gp, &child_dob()).await;
    let (s, face) = gp.upload(&id, "locator", photo_with_faces()).await;
    assert_eq!(s, StatusCode::CREATED, "{face}");
    assert!(face["report"]["faces"].as_u64().unwrap_or(0) > 0, "the detector should find the faces: {face}");
    assert_ne!(face["report"]["verdict"], "reject", "{face}");
    let face_id = face["id"].as_str().unwrap().to_string();

    let (s, body) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("child_face_identifiable")), "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("Remove or retake the photo"), "{message}");
    // The photo is named as the GP sees it (the fourth photo, a locator shot), never by its id.
    assert!(message.contains("photo 4 (locator)") && !message.contains(&face_id), "{message}");
    assert_eq!(body["details"]["photos"], json!([face_id]));
    let (_, detail) = gp.get(&format!("/referrals/{id}")).await;
    let status = detail["referral"]["status"].as_str().or(detail["status"].as_str());
    assert_eq!(status, Some("draft"), "nothing was sent: {detail}");

    // Without the photo, the same referral goes.
    let r = gp.client.delete(format!("{}/referrals/{id}/photos/{face_id}", gp.base)).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let (s, body) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adults_photo_with_a_detected_face_is_not_refused_by_the_child_rule() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let id = homerton_draft(&gp, "1980-05-17").await;
    let (s, face) = gp.upload(&id, "locator", photo_with_faces()).await;
    assert_eq!(s, StatusCode::CREATED, "{face}");
    let (s, body) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gp_can_confirm_on_the_photo_that_a_detected_face_is_not_identifiable() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let id = homerton_draft(&gp, &child_dob()).await;
    let (_, face) = gp.upload(&id, "locator", photo_with_faces()).await;
    let face_id = face["id"].as_str().unwrap().to_string();
    let (_, plain) = gp.get(&format!("/referrals/{id}/photos")).await;
    let plain_id = plain["photos"][0]["id"].as_str().unwrap().to_string();
    assert_ne!(plain_id, face_id);

    // Nothing to confirm on a photo without a detected face; a consultant cannot confirm.
    let (s, b) = gp.post(&format!("/referrals/{id}/photos/{plain_id}/face-not-identifiable"), &json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("no_face_detected")), "{b}");
    let consultant = server.sign_in_as("consultant").await;
    let (s, _) = consultant.post(&format!("/referrals/{id}/photos/{face_id}/face-not-identifiable"), &json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a consultant cannot see (or confirm on) a draft");

    // The GP's photo page offers the confirmation on that photo only.
    let html = gp.client.get(format!("{}/referrals/{id}/photos", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("/photos/{face_id}/confirm-face")) && !html.contains(&format!("/photos/{plain_id}/confirm-face")));

    let (s, confirmed) = gp.post(&format!("/referrals/{id}/photos/{face_id}/face-not-identifiable"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{confirmed}");
    let me = gp.get("/me").await.1;
    assert_eq!(confirmed["face_confirmed"]["by"], me["id"], "{confirmed}");
    let (_, photos) = gp.get(&format!("/referrals/{id}/photos")).await;
    let stored = photos["photos"].as_array().unwrap().iter().find(|p| p["id"] == face_id.as_str()).unwrap().clone();
    assert_eq!(stored["face_confirmed"], confirmed["face_confirmed"], "recorded on the photo");

    // The confirmation is audited with the photo as its target, and the referral now goes.
    let (ok, out, err) = server.cli(&["audit", "export", "--since", "2000-01-01", "--format", "jsonl"], &[]);
    assert!(ok, "{err}");
    let entries: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let confirmations: Vec<&serde_json::Value> = entries.iter().filter(|e| e["action"] == "photo.confirm_face").collect();
    let outcomes: Vec<(&str, bool)> = confirmations.iter().map(|e| (e["outcome"].as_str().unwrap(), e.to_string().contains(&face_id))).collect();
    assert_eq!(outcomes, [("failed", false), ("allowed", true)], "the refusal on the photo without a face, then the confirmation: {confirmations:#?}");
    let (s, body) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

