//! One application layer (issue 12): the demo is seeded through the use cases, so the audit trail
//! shows its submissions and outcomes with their actors; a refused or failed action writes only
//! its refusal's audit entry — nothing of the referral changes.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn trail(server: &Server) -> Vec<Value> {
    let (ok, out, err) = server.cli(&["audit", "export", "--since", "2000-01-01", "--format", "jsonl"], &[]);
    assert!(ok, "{err}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_is_seeded_through_the_use_cases_and_refusals_write_nothing_but_their_entry() {
    let server = Server::demo().await;
    let creds = server.demo_credentials();
    let entries = trail(&server);
    let count = |action: &str, role: &str, actor: &str| {
        entries.iter().filter(|e| e["action"] == action && e["outcome"] == "allowed" && e["actor_role"] == role && e["actor_label"] == actor).count()
    };
    let (gp_email, consultant_email) = (creds["referrer"].0.as_str(), creds["consultant"].0.as_str());
    assert_eq!(count("referral.create", "referrer", gp_email), 6, "six demo referrals, each created by the GP");
    assert_eq!(count("referral.submit", "referrer", gp_email), 5, "five sent by the GP");
    assert_eq!(count("referral.claim", "consultant", consultant_email), 4);
    assert_eq!(count("referral.request_information", "consultant", consultant_email), 1);
    assert_eq!(count("referral.record_outcome", "consultant", consultant_email), 2, "an answer and a rejection");
    assert_eq!(count("teaching.mark", "consultant", consultant_email), 1, "the answer with teaching consent is the demo's teaching case");
    assert!(count("photo.upload", "referrer", gp_email) >= 16, "every demo photo went through the upload use case");

    let gp = server.sign_in_as("referrer").await;
    // An incomplete submit and an ineligible one (2WW) are refused and change nothing.
    let (s, draft) = gp.post("/referrals", &draft_body("hackney-rash", "ras", json!({"meets_2ww_criteria": true}))).await;
    assert_eq!(s, StatusCode::CREATED, "{draft}");
    let id = draft["id"].as_str().unwrap().to_string();
    let (s, body) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("incomplete_referral")), "{body}");
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        assert_eq!(gp.upload(&id, kind, photo(i as u64 + 1, 0.0)).await.0, StatusCode::CREATED);
    }
    let (s, body) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("redirect_2ww")), "{body}");
    assert!(body["details"]["reasons"].is_array(), "the decision comes back with the refusal: {body}");
    let (_, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(detail["referral"]["version"], draft["version"], "the referral was not written");
    assert!(detail["referral"]["eligibility"].is_null(), "{detail}");
    assert_eq!(detail["events"], json!([]));
    // A consultant may not send a GP's draft: refused before anything is read or written.
    let consultant = server.sign_in_as("consultant").await;
    let (s, _) = consultant.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert!(s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN, "{s}");

    let about: Vec<Value> = trail(&server).into_iter().filter(|e| e["referral_id"] == id.as_str() && e["action"] == "referral.submit").collect();
    let outcomes: Vec<(&str, &str)> = about.iter().map(|e| (e["outcome"].as_str().unwrap(), e["detail"].as_str().unwrap())).collect();
    assert_eq!(outcomes, [("failed", "code=incomplete_referral"), ("failed", "code=redirect_2ww"), ("denied", "code=not_found")], "{about:#?}");
}
