//! Issue 14: what the five services say that a deployment configures per service. Over HTTP
//! against the real binary with a services directory of its own.

mod common;

use common::{Server, complete_draft, pdf_text};
use reqwest::StatusCode;
use serde_json::json;

/// The built-in policy files, with `edit` applied to the one named `file`.
fn services_dir(root: &std::path::Path, file: &str, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let dir = root.join("services");
    std::fs::create_dir_all(&dir).unwrap();
    let built_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services");
    for e in std::fs::read_dir(built_in).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        std::fs::write(dir.join(e.file_name()), if e.file_name() == file { edit(text) } else { text }).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_with_a_two_day_agreement_gets_two_day_due_dates() {
    let tmp = tempfile::tempdir().unwrap();
    // The demo practice (Y00001) has agreed 2 working days with the clinical partnership; the
    // service's default stays 3.
    let services = services_dir(tmp.path(), "clinical-partnership.toml", |t| {
        format!("{t}\n[[practice_response_targets]]\nods_code = \"Y00001\"\nworking_days = 2\n")
    });
    let services = services.to_str().unwrap();
    let server = Server::start("demo", &tmp.path().join("data"), &[("TELEDERM_SERVICES_DIR", services)]).await;
    let gp = server.sign_in_as("referrer").await;

    let due_by_cli = |received: &str, days: &str| {
        let (ok, out, err) = server.cli(&["sla", "due-date", "--received", received, "--working-days", days], &[]);
        assert!(ok, "{err}");
        out.trim().to_string()
    };
    for (service, route, days) in [("clinical-partnership", "advice_and_guidance", "2"), ("hackney-rash", "ras", "3")] {
        let id = complete_draft(&gp, service, route, json!({})).await;
        let (s, sent) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
        assert_eq!(s, StatusCode::OK, "{sent}");
        let received = sent["submitted_at"].as_str().unwrap();
        assert_eq!(sent["due_date"].as_str().unwrap(), due_by_cli(received, days), "{service}: {days} working days");
        assert_ne!(due_by_cli(received, "2"), due_by_cli(received, "3"), "the two targets give different dates");
    }

    // Both targets are shown: the command line, the API's service and the service directory.
    let (ok, out, err) = server.cli(&["services", "list"], &[("TELEDERM_SERVICES_DIR", services)]);
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with("clinical-partnership")).unwrap();
    assert!(line.contains("3 working days (practices: Y00001=2)"), "{line}");
    let (_, service) = gp.get("/services/clinical-partnership").await;
    assert_eq!(service["practice_response_targets"], json!([{"ods_code": "Y00001", "working_days": 2}]), "{service}");
    let html = gp.client.get(format!("{}/referrals/new", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("3 working days; by agreement with the practice: Y00001 2 working days"));

    // A malformed agreement stops the node from starting with the file and line named.
    let bad = services_dir(&tmp.path().join("bad"), "clinical-partnership.toml", |t| {
        format!("{t}\n[[practice_response_targets]]\nods_code = \"Y00001\"\nworking_days = 0\n")
    });
    let (ok, _, err) = server.cli(&["services", "list"], &[("TELEDERM_SERVICES_DIR", bad.to_str().unwrap())]);
    assert!(!ok && err.contains("clinical-partnership.toml") && err.contains("at least 1 working day"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurses_submission_to_a_gp_only_service_is_refused_and_a_gp_sends_the_same_draft() {
    let server = Server::demo().await;
    let password = "amber kestrel meadow";
    let (ok, out, err) = server.cli(
        &["user", "add", "--email", "nurse@demo.telederm.nhs.uk", "--name", "Nia Nurse", "--role", "referrer",
          "--organisation", "Y00001", "--profession", "nurse", "--password-env", "PW"],
        &[("PW", password)],
    );
    assert!(ok, "{out}{err}");
    let nurse = server.sign_in("nurse@demo.telederm.nhs.uk", password).await;
    let (_, me) = nurse.get("/me").await;
    assert_eq!(me["profession"], "nurse", "{me}");

    // Homerton takes referrals from GPs only (seed 000); the nurse may prepare the draft.
    let id = complete_draft(&nurse, "homerton", "ras", json!({})).await;
    let (s, b) = nurse.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("profession_not_accepted")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("GPs only"), "{b}");
    let (_, detail) = nurse.get(&format!("/referrals/{id}")).await;
    assert_eq!(detail["referral"]["status"], "draft", "nothing was sent");
    // A service without the restriction takes the nurse's referral.
    let other = complete_draft(&nurse, "hackney-rash", "ras", json!({})).await;
    let (s, b) = nurse.post(&format!("/referrals/{other}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A GP of the same practice sends the nurse's draft.
    let gp = server.sign_in_as("referrer").await;
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("submitted")), "{b}");
    // The CLI refuses an unknown profession.
    let (ok, _, err) = server.cli(
        &["user", "add", "--email", "x@demo.telederm.nhs.uk", "--name", "X", "--role", "referrer", "--organisation", "Y00001", "--profession", "surgeon", "--password-env", "PW"],
        &[("PW", password)],
    );
    assert!(!ok && err.contains("unknown profession"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ras_referral_carries_its_ubrn_validated_shown_searchable_and_exported() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let mut body = common::draft_body("hackney-rash", "ras", json!({}));
    for bad in ["1234 5678 901", "1234567890123", "1234 5678 90AB"] {
        body["ubrn"] = json!(bad);
        let (s, b) = gp.post("/referrals", &body).await;
        assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_ubrn")), "{bad}: {b}");
    }
    let mut ag = common::draft_body("nhs-advice-and-guidance", "advice_and_guidance", json!({}));
    ag["ubrn"] = json!("0000 4000 1234");
    let (s, b) = gp.post("/referrals", &ag).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_ubrn")), "not on A&G: {b}");

    body["ubrn"] = json!("0000 4000 1234");
    let (s, created) = gp.post("/referrals", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["ubrn"], "000040001234", "stored as its 12 digits");
    let id = created["id"].as_str().unwrap().to_string();

    // Searchable, shown on the case, exported as the e-RS identifier.
    let (_, found) = gp.get("/referrals?ubrn=0000-4000-1234").await;
    let ids: Vec<&str> = found["referrals"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, [id.as_str()]);
    let (_, none) = gp.get("/referrals?ubrn=000040009999").await;
    assert_eq!(none["referrals"], json!([]));
    let html = gp.client.get(format!("{}/referrals/{id}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-ubrn>000040001234<"), "the case page shows it");
    let (s, bundle) = gp.get(&format!("/fhir/ServiceRequest/{id}/$everything")).await;
    assert_eq!(s, StatusCode::OK);
    let sr = bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).find(|r| r["resourceType"] == "ServiceRequest").unwrap().clone();
    assert!(sr["identifier"].as_array().unwrap().contains(&json!({"system": "https://fhir.nhs.uk/Id/UBRN", "value": "000040001234"})), "{sr}");

    // A mistyped UBRN on the details page is shown there and the rest of the typing is kept.
    let page = gp.client.get(format!("{}/referrals/{id}/details", server.base)).send().await.unwrap().text().await.unwrap();
    let csrf = page.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();
    let r = gp
        .client
        .post(format!("{}/referrals/{id}/details", server.base))
        .form(&[("_csrf", csrf.as_str()), ("given_by", "patient"), ("method", "verbal"), ("direct_care", "yes"), ("teaching", "no"),
                ("research", "no"), ("presenting_complaint", "Scaly plaques on both elbows for two months."), ("priority", "routine"), ("ubrn", "12345")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("is not an e-RS UBRN") && html.contains("value=\"12345\""), "the error and the typed value");
    let (_, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(detail["referral"]["history"]["presenting_complaint"], "Scaly plaques on both elbows for two months.", "the rest was saved");
    assert_eq!(detail["referral"]["ubrn"], "000040001234", "the good UBRN is kept");

    // Printed on the letters, in the groups of four people read it in (pdftotext reads the PDF).
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        gp.upload(&id, kind, common::photo(i as u64 + 1, 0.0)).await;
    }
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let consultant = server.sign_in_as("consultant").await;
    consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    let (s, b) = consultant.post(&format!("/referrals/{id}/outcome"), &json!({"code": "advice_management_plan", "management_plan": "Emollients twice daily."})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for (kind, label) in [("gp", "e-RS UBRN"), ("patient", "Booking reference")] {
        let r = gp.client.get(format!("{}/referrals/{id}/letters/{kind}?format=pdf", gp.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let flat = pdf_text(&r.bytes().await.unwrap()).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(label) && flat.contains("0000 4000 1234"), "{kind} letter: {flat}");
    }
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patients_contact_preference_decides_how_they_hear_and_is_checked_against_their_details() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    // Texts preferred, but the number is a landline: refused, saying what to do.
    let mut body = common::draft_body("hackney-rash", "ras", json!({}));
    body["patient"]["contact"] = json!({"email": "ada@example.org", "phone": "020 7946 0018", "prefers": "text"});
    let (s, b) = gp.post("/referrals", &body).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_contact_preference")), "{b}");
    assert!(b["message"].as_str().unwrap().contains("UK mobile"), "{b}");
    body["patient"]["contact"] = json!({"prefers": "email"});
    let (s, b) = gp.post("/referrals", &body).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_contact_preference")), "{b}");

    // Letters only, in large print: Telederm sends the patient nothing (the GP's list says it
    // cannot reach them), and the GP letter says large print was asked for.
    body["patient"]["contact"] = json!({"email": "ada@example.org", "prefers": "letter", "large_print": true});
    let (s, created) = gp.post("/referrals", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["patient"]["contact"]["prefers"], "letter", "{created}");
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        gp.upload(&id, kind, common::photo(i as u64 + 1, 0.0)).await;
    }
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, list) = gp.get("/referrals").await;
    let row = list["referrals"].as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["patient_unreachable"], true, "{row}");
    consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    let (s, b) = consultant.post(&format!("/referrals/{id}/outcome"), &json!({"code": "advice_management_plan", "management_plan": "Emollients twice daily."})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let store = telederm_store::Store::connect_without_migrating(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap();
    let outbox = store.list_outbox(telederm_domain::ReferralId::parse(&id).unwrap()).await.unwrap();
    store.close().await;
    assert!(!outbox.is_empty(), "the GP and the service are still told");
    assert!(outbox.iter().all(|m| m.recipient != "ada@example.org"), "nothing goes to the patient: {:?}", outbox.iter().map(|m| &m.recipient).collect::<Vec<_>>());
    let r = gp.client.get(format!("{}/referrals/{id}/letters/gp?format=pdf", gp.base)).send().await.unwrap();
    let flat = pdf_text(&r.bytes().await.unwrap()).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains("Large print: the patient asked for it"), "{flat}");

    // The same without a preference: the patient is emailed.
    body["patient"]["contact"] = json!({"email": "ada@example.org"});
    let (_, created) = gp.post("/referrals", &body).await;
    let other = created["id"].as_str().unwrap().to_string();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        gp.upload(&other, kind, common::photo(i as u64 + 1, 0.0)).await;
    }
    gp.post(&format!("/referrals/{other}/submit"), &json!({})).await;
    consultant.post(&format!("/referrals/{other}/claim"), &json!({})).await;
    consultant.post(&format!("/referrals/{other}/outcome"), &json!({"code": "advice_management_plan", "management_plan": "Emollients twice daily."})).await;
    let store = telederm_store::Store::connect_without_migrating(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap();
    let outbox = store.list_outbox(telederm_domain::ReferralId::parse(&other).unwrap()).await.unwrap();
    store.close().await;
    assert!(outbox.iter().any(|m| m.recipient == "ada@example.org"), "without a preference the patient is emailed");
}
