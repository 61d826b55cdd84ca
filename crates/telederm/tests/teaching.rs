//! Issue 17: teaching cases. A consultant marks an answered referral whose patient consented to
//! teaching; referrers of any practice then see it without the patient's name, NHS number, date
//! of birth, postcode or contact details, and without any photo in which a face was detected.
//! Over HTTP against the real binary, with the pages' forms.

mod common;

use common::{Api, Server, draft_body, photo, photo_with_faces};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple 42";

/// The patient of these referrals: every identifier is distinctive, so the test can look for it.
fn patient() -> Value {
    json!({
        "nhs_number": "943 476 5919", "given_name": "Wiktoria", "family_name": "Zielinska-Quartermaine",
        "date_of_birth": "1980-05-17", "sex": "female", "postcode": "N16 7XQ",
        "contact": {"email": "wiktoria.zq@example.org", "phone": "07700 900123"}
    })
}

async fn ok(api: &Api, path: &str, body: Value) -> Value {
    let (s, b) = api.post(path, &body).await;
    assert!(s.is_success(), "{path}: {s} {b}");
    b
}

/// An answered City & Hackney referral (advice) with three photos and, fourth, a photo in which
/// the detector finds faces. Returns the referral id and the face photo's id.
async fn answered(gp: &Api, consultant: &Api, teaching_consent: bool) -> (String, String) {
    let mut body = draft_body("hackney-rash", "ras", json!({}));
    body["patient"] = patient();
    body["eligibility_answers"]["patient"]["postcode"] = json!("N16 7XQ");
    body["consent"]["teaching"] = json!(teaching_consent);
    let (s, draft) = gp.post("/referrals", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{draft}");
    let id = draft["id"].as_str().unwrap().to_string();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        let (s, p) = gp.upload(&id, kind, photo(i as u64 + 1, 0.0)).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
    }
    let (s, face) = gp.upload(&id, "locator", photo_with_faces()).await;
    assert_eq!(s, StatusCode::CREATED, "{face}");
    assert!(face["report"]["faces"].as_u64().unwrap_or(0) > 0, "the detector finds the faces: {face}");
    ok(gp, &format!("/referrals/{id}/submit"), json!({})).await;
    ok(consultant, &format!("/referrals/{id}/claim"), json!({})).await;
    ok(
        consultant,
        &format!("/referrals/{id}/outcome"),
        json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema", "management_plan": "Potent topical steroid for two weeks, then emollients."}),
    )
    .await;
    (id, face["id"].as_str().unwrap().to_string())
}

/// Every way the test patient could be recognised, as it would appear in JSON or a page.
fn identifiers() -> Vec<&'static str> {
    vec!["Wiktoria", "Zielinska", "Quartermaine", "9434765919", "943 476 5919", "1980-05-17", "17 May 1980", "N16 7XQ", "wiktoria.zq", "07700 900123"]
}

fn assert_no_identifiers(what: &str, text: &str) {
    for id in identifiers() {
        assert!(!text.contains(id), "{what} shows the patient's {id:?}: {text}");
    }
}

async fn page(api: &Api, server: &Server, path: &str) -> (StatusCode, String) {
    let r = api.client.get(format!("{}{path}", server.base)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consented_answered_case_is_shared_with_every_referrer_without_identifiers_or_faces() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let (id, face_id) = answered(&gp, &consultant, true).await;

    // Only a consultant marks, and only with a note.
    let (s, b) = gp.post(&format!("/referrals/{id}/teaching"), &json!({"note": "A good example."})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{b}");
    let (s, b) = consultant.post(&format!("/referrals/{id}/teaching"), &json!({"note": "   "})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_teaching_note")), "{b}");
    let (s, b) = consultant.post(&format!("/referrals/{id}/teaching"), &json!({"note": "x".repeat(2001)})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_teaching_note")), "{b}");

    // Marked through the consultant's case page form.
    let (_, html) = page(&consultant, &server, &format!("/referrals/{id}")).await;
    assert!(html.contains("Mark as a teaching case"), "the form is offered on an answered, consented case");
    let csrf = html.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();
    let note = "Discoid eczema: coin-shaped, well-demarcated plaques; treat with a potent steroid, not an antifungal.";
    let r = consultant
        .client
        .post(format!("{}/referrals/{id}/teaching", server.base))
        .form(&[("_csrf", csrf.as_str()), ("teaching_note", note)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().query(), Some("done=teaching"));
    assert!(r.text().await.unwrap().contains("This is a <a href=\"/teaching/"), "the case page says it is a teaching case");
    let (s, b) = consultant.post(&format!("/referrals/{id}/teaching"), &json!({"note": "Again."})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "marked once: {b}");

    // A GP of another practice sees it: the diagnosis, outcome, note, age band, sex and site.
    server.cli(&["organisation", "add", "--ods", "Y09999", "--name", "Elsewhere Surgery", "--kind", "practice"], &[]);
    let (done, out, err) = server.cli(
        &["user", "add", "--email", "gp@elsewhere.test", "--name", "Dr Elsewhere", "--role", "referrer", "--organisation", "Y09999", "--password-env", "PW", "--profession", "gp"],
        &[("PW", PASSWORD)],
    );
    assert!(done, "{out}{err}");
    let other = server.sign_in("gp@elsewhere.test", PASSWORD).await;
    let (s, list) = other.get("/teaching").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    // The demo's own teaching case, and this one.
    let cases = list["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2, "{list}");
    let case = cases.iter().find(|c| c["note"] == note).expect("the new case is listed");
    assert_eq!(case["note"], note);
    assert_eq!(case["diagnosis"], "Discoid eczema");
    assert_eq!(case["outcome"], "advice_management_plan");
    assert_eq!(case["service_id"], "hackney-rash");
    assert_eq!(case["sex"], "female");
    // 1980-05-17, received in 2026 or later: 45-64 (the NHS age bands of docs/README "Reports").
    assert_eq!(case["age_band"], "45-64");
    assert_eq!(case["body_sites"], json!(["arm"]));
    assert_no_identifiers("the teaching list", &list.to_string());
    assert!(!list.to_string().contains(&id), "the referral's id is not given away");

    // The three photos without a face, never the fourth.
    let photos: Vec<String> = case["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(photos.len(), 3, "{case}");
    assert!(!photos.contains(&face_id), "the photo with a detected face is left out");
    let case_id = case["id"].as_str().unwrap().to_string();
    let case_id = case_id.as_str();
    for p in &photos {
        let r = other.client.get(format!("{}/teaching/{case_id}/photos/{p}", other.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        let bytes = r.bytes().await.unwrap();
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).expect("a JPEG");
        assert!(img.width() > 0);
    }
    let r = other.client.get(format!("{}/teaching/{case_id}/photos/{face_id}", other.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a photo with a face is never served");
    // The referral itself stays out of the other practice's reach.
    let (s, _) = other.get(&format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The pages: the list and the case, in the other GP's menu, without identifiers.
    let (s, html) = page(&other, &server, "/teaching").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("href=\"/teaching\"") && html.contains(&format!("/teaching/{case_id}")), "{html}");
    let (s, html) = page(&other, &server, &format!("/teaching/{case_id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("coin-shaped, well-demarcated plaques") && html.contains("Female, aged 45-64"), "{html}");
    assert_eq!(html.matches("data-teaching-photo").count(), 3);
    assert_no_identifiers("the teaching case page", &html);

    // Not for a system admin; reads and the marking are in the audit trail.
    let admin = server.sign_in_as("system_admin").await;
    let (s, b) = admin.get("/teaching").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{b}");
    let (done, out, err) = server.cli(&["audit", "export", "--since", "2000-01-01", "--format", "jsonl"], &[]);
    assert!(done, "{err}");
    let entries: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let count = |action: &str, outcome: &str| entries.iter().filter(|e| e["action"] == action && e["outcome"] == outcome).count();
    assert_eq!(count("teaching.mark", "allowed"), 2, "the demo's and this one");
    assert!(count("teaching.mark", "failed") >= 3, "refusals are recorded");
    assert_eq!(count("teaching.photo", "allowed"), 3);
    assert!(count("teaching.photo", "denied") >= 1);
    assert_eq!(count("teaching.list", "denied"), 1);

    // Unmarked: gone for everyone.
    let r = consultant.client.delete(format!("{}/referrals/{id}/teaching", consultant.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, _) = other.get(&format!("/teaching/{case_id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let left = other.get("/teaching").await.1;
    assert!(left["cases"].as_array().unwrap().iter().all(|c| c["id"] != case_id), "{left}");
    let r = consultant.client.delete(format!("{}/referrals/{id}/teaching", consultant.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing left to remove");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_teaching_consent_or_an_outcome_a_referral_is_not_a_teaching_case() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let (refused, _) = answered(&gp, &consultant, false).await;
    let (s, b) = consultant.post(&format!("/referrals/{refused}/teaching"), &json!({"note": "Classic discoid eczema."})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("teaching_consent_missing")), "{b}");
    let (_, html) = page(&consultant, &server, &format!("/referrals/{refused}")).await;
    assert!(html.contains("The patient did not consent to teaching") && !html.contains("Mark as a teaching case"));

    // Consent given, but not answered yet.
    let mut body = draft_body("hackney-rash", "ras", json!({}));
    body["consent"]["teaching"] = json!(true);
    let (_, draft) = gp.post("/referrals", &body).await;
    let open = draft["id"].as_str().unwrap().to_string();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        assert_eq!(gp.upload(&open, kind, photo(i as u64 + 1, 0.0)).await.0, StatusCode::CREATED);
    }
    ok(&gp, &format!("/referrals/{open}/submit"), json!({})).await;
    let (s, b) = consultant.post(&format!("/referrals/{open}/teaching"), &json!({"note": "Classic discoid eczema."})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("no_outcome")), "{b}");
    let list = gp.get("/teaching").await.1;
    assert_eq!(list["cases"].as_array().unwrap().len(), 1, "only the demo's own teaching case: {list}");
}
