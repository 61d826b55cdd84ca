//! Hazard H3 (docs/clinical-safety/hazard-log.md): a child referred to a service that excludes
//! identifiable children's faces is refused at submit when a photo's quality report says a face was
//! detected, even when the GP answered `face_identifiable_in_images = false`.

mod common;

use chrono::Datelike;
use common::{Server, draft_body};
use reqwest::StatusCode;
use serde_json::json;

/// rustface's own test photo (a group of people), from the cargo registry the imaging crate's
/// build already reads it from, cropped as in `crates/imaging/tests/intake.rs` and scaled up so
/// it passes the resolution check: faces are about a tenth of the frame, as in a locator shot.
fn photo_with_faces() -> Vec<u8> {
    let home = std::env::var_os("CARGO_HOME").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo")
    });
    let src = home.join("registry/src");
    let path = std::fs::read_dir(&src)
        .expect("cargo registry")
        .flatten()
        .flat_map(|reg| std::fs::read_dir(reg.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("rustface-")))
        .map(|p| p.join("test.png"))
        .find(|p| p.is_file())
        .expect("rustface's test.png in the cargo registry");
    let group = image::open(path).expect("rustface test.png").to_rgb8();
    let crop = image::imageops::crop_imm(&group, 200, 60, 480, 360).to_image();
    let big = image::imageops::resize(&crop, 960, 720, image::imageops::FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    big.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

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
    assert!(message.contains("Remove the photo"), "{message}");
    assert!(message.contains(&face_id), "the message names the photo: {message}");
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
