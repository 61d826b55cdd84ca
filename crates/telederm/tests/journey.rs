//! The whole referral journey over HTTP against the real binary on a temporary SQLite file.

mod common;

use common::{Server, complete_draft, patient};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advice_and_guidance_round_trip_with_an_information_request() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;

    let id = complete_draft(&gp, "nhs-advice-and-guidance", "advice_and_guidance", json!({})).await;
    let (status, submitted) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    assert_eq!(submitted["status"], "submitted");
    assert_eq!(submitted["eligibility"]["decision"], "eligible");
    let due = submitted["due_date"].as_str().expect("due date set at submission").to_string();

    // The consultant's worklist has it, with its due date, ordered by deadline.
    let (status, wl) = consultant.get("/worklist?service=nhs-advice-and-guidance").await;
    assert_eq!(status, StatusCode::OK);
    let rows = wl["referrals"].as_array().unwrap();
    let row = rows.iter().find(|r| r["id"] == id.as_str()).expect("in worklist");
    assert_eq!(row["due_date"], due.as_str());
    let dues: Vec<&str> = rows.iter().filter_map(|r| r["due_date"].as_str()).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "ordered by due date: {dues:?}");

    let (s, r) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("in_review")));
    let (s, r) = consultant.post(&format!("/referrals/{id}/request-information"), &json!({"message": "How long has the rash been itchy at night?"})).await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("awaiting_information")));

    // The GP sees the question and replies.
    let (_, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(detail["messages"][0]["kind"], "information_request");
    assert!(detail["permitted_actions"].as_array().unwrap().contains(&json!("reply")));
    let (s, r) = gp.post(&format!("/referrals/{id}/reply"), &json!({"message": "Two weeks, worse in the evening."})).await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("in_review")));

    let (s, r) = consultant
        .post(
            &format!("/referrals/{id}/outcome"),
            &json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema",
                    "management_plan": "Potent topical steroid once daily for 2 weeks.", "follow_up": "Review in 6 weeks."}),
        )
        .await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("outcome_issued")), "{r}");

    // The GP reads the outcome.
    let (_, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(detail["referral"]["outcome"]["code"], "advice_management_plan");
    assert_eq!(detail["referral"]["outcome"]["management_plan"], "Potent topical steroid once daily for 2 weeks.");
    assert_eq!(detail["messages"].as_array().unwrap().len(), 2);
    let actions: Vec<&str> = detail["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["submit", "claim", "request_information", "reply", "issue_outcome"]);

    // Photos can be downloaded by the consultant in every variant: exactly the derivatives intake
    // makes of the uploaded file (complete_draft uploads photo 1 as the locator).
    let locator = detail["photos"].as_array().unwrap().iter().find(|p| p["kind"] == "locator").expect("the locator photo");
    let photo_id = locator["id"].as_str().unwrap();
    let made = telederm_imaging::intake(&common::photo(1, 0.0), &Default::default(), &Default::default()).expect("the upload passes intake");
    for (variant, expected) in [("original", &made.original), ("attachment", &made.attachment), ("preview", &made.preview), ("thumbnail", &made.thumbnail)] {
        let resp = consultant.client.get(format!("{}/referrals/{id}/photos/{photo_id}/{variant}", consultant.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{variant}");
        assert_eq!(resp.headers()["content-type"], expected.content_type, "{variant}");
        let bytes = resp.bytes().await.unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        assert_eq!((bytes.len(), sha), (expected.bytes.len(), expected.sha256.clone()), "{variant}: the bytes intake made ({}x{})", expected.width, expected.height);
    }
    assert!(made.thumbnail.width.max(made.thumbnail.height) <= 256 && made.thumbnail.bytes != made.original.bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ras_referral_rejected_for_poor_images_and_illegal_transitions_refused() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;

    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    // Illegal before submission.
    // The consultant cannot even see a draft (404); the GP's close is an illegal transition (409).
    let (s, body) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "claim: {body}");
    let (s, body) = gp.post(&format!("/referrals/{id}/close"), &json!({})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")), "close: {body}");
    let (s, _) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")));
    let (s, body) = consultant.post(&format!("/referrals/{id}/outcome"), &json!({"code": "no_further_action"})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")), "outcome before claim");
    let (s, body) = gp.post(&format!("/referrals/{id}/reply"), &json!({"message": "hello"})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")), "reply with no question");

    consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    let (s, body) = consultant.post(&format!("/referrals/{id}/outcome"), &json!({"code": "rejected"})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_outcome")), "rejection needs a reason");
    let (s, r) = consultant
        .post(&format!("/referrals/{id}/outcome"), &json!({"code": "rejected", "rejection_reason": "poor_image_quality",
              "management_plan": "Retake the close-ups 30 cm away in good light."}))
        .await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("rejected")), "{r}");
    assert_eq!(r["outcome"]["rejection_reason"], "poor_image_quality");

    // Nothing moves a rejected referral.
    for (who, path, body) in [
        (&consultant, "claim", json!({})),
        (&consultant, "request-information", json!({"message": "?"})),
        (&consultant, "outcome", json!({"code": "no_further_action"})),
        (&gp, "withdraw", json!({})),
        (&gp, "submit", json!({})),
        (&gp, "close", json!({})),
    ] {
        let (s, b) = who.post(&format!("/referrals/{id}/{path}"), &body).await;
        assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")), "{path}: {b}");
    }
    // A&G conversion is refused on a RAS referral, and a draft cannot be edited once submitted.
    let (s, b) = gp.patch(&format!("/referrals/{id}"), &json!({"priority": "urgent"})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("not_a_draft")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ineligible_referrals_are_refused_with_the_services_reasons() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({"meets_2ww_criteria": true})).await;
    let (s, body) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("redirect_2ww")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("two-week-wait"));
    assert_eq!(body["details"]["decision"], "redirect_2ww");
    // A refused submit writes nothing: the draft stays as it was (the decision comes back in the
    // answer, and the draft's pages work it out again from its answers).
    let (_, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(detail["referral"]["status"], "draft");
    assert!(detail["referral"]["eligibility"].is_null(), "{detail}");

    let id = complete_draft(&gp, "hackney-rash", "ras", json!({"body_sites": ["genital"], "safeguarding_concerns": true})).await;
    let (s, body) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_eligible")));
    let codes: Vec<&str> = body["details"]["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"intimate_site") && codes.contains(&"safeguarding"), "every reason reported: {codes:?}");

    // A draft with missing parts lists what to fix.
    let (_, d) = gp.post("/referrals", &json!({"service_id": "hackney-rash", "route": "ras", "patient": patient("1980-05-17")})).await;
    let (s, body) = gp.post(&format!("/referrals/{}/submit", d["id"].as_str().unwrap()), &json!({})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("incomplete_referral")));
    let fields: Vec<&str> = body["details"]["problems"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"consent") && fields.contains(&"eligibility_answers") && fields.contains(&"photos"), "{fields:?}");
    // A route the service does not offer is refused.
    let (s, body) = gp.post("/referrals", &json!({"service_id": "hackney-rash", "route": "advice_and_guidance", "patient": patient("1980-05-17")})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("route_not_offered")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_and_wrong_role_calls_are_refused() {
    let server = Server::demo().await;
    let anon = server.anonymous();
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let sysadmin = server.sign_in_as("system_admin").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;

    for path in ["/me", "/services", "/referrals", "/worklist", &format!("/referrals/{id}")] {
        let (s, b) = anon.get(path).await;
        assert_eq!((s, b["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")), "GET {path}");
    }
    for path in ["claim", "submit", "reply", "outcome", "withdraw", "request-information", "close"] {
        let (s, b) = anon.post(&format!("/referrals/{id}/{path}"), &json!({})).await;
        assert_eq!((s, b["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")), "POST {path}");
    }
    let (s, b) = anon.post("/auth/sign-in", &json!({"email": "gp@demo.telederm.nhs.uk", "password": "wrong"})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));

    // Wrong role: the GP cannot triage, the consultant cannot refer, the system admin sees no clinical record.
    let (s, b) = gp.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (s, _) = gp.get("/worklist").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = consultant.post("/referrals", &json!({"service_id": "hackney-rash", "route": "ras", "patient": patient("1980-05-17")})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (s, b) = consultant.post(&format!("/referrals/{id}/withdraw"), &json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (s, b) = sysadmin.get(&format!("/referrals/{id}")).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, b) = sysadmin.get("/referrals").await;
    assert_eq!((s, b["referrals"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));

    // Bad input gets a clear code.
    let resp = gp.client.post(format!("{}/referrals", gp.base)).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (s, b) = gp.post("/referrals", &json!({"service_id": "hackney-rash", "route": "ras", "patient": {"nhs_number": "1234567890"}})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")), "{b}");
    let (s, b) = gp.get("/referrals/not-an-id").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, b) = gp.upload(&id, "close_up", b"GIF89a not really".to_vec()).await;
    assert_eq!(s, StatusCode::CONFLICT, "photos are locked once submitted: {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_the_api_document_and_serve_keeps_the_data_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut demo = Server::start("demo", tmp.path(), &[]).await;
    let (s, doc) = demo.anonymous().get("/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/referrals", "/referrals/{id}", "/referrals/{id}/submit", "/worklist", "/referrals/{id}/photos"] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI documents {path}");
    }
    let gp = demo.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (_, before) = gp.get("/referrals").await;
    let count = before["referrals"].as_array().unwrap().len();
    assert!(count >= 4, "demo seeds referrals in several states");
    demo.kill();

    // `serve` needs the photo key the demo made (it never picks up a key file by itself).
    let key = tmp.path().join("blob.key");
    let serve = Server::start("serve", tmp.path(), &[("TELEDERM_BLOB_KEY_FILE", key.to_str().unwrap())]).await;
    let gp = serve.sign_in_as("referrer").await;
    let (_, after) = gp.get("/referrals").await;
    assert_eq!(after["referrals"].as_array().unwrap().len(), count, "data kept across restart");
    let (s, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["photos"].as_array().unwrap().len(), 3, "acknowledged photos survive a kill");
}
