//! Issue 15, the GP's half: a referral in fewer steps. Over HTTP against the real binary: services
//! suggested from the patient's age and postcode with the reason, the route taken from a service
//! that offers one, child-only questions asked only about children, and several photos uploaded
//! at once, each sorted by what the service still needs, checked, and re-tagged when sorted wrong.

mod common;

use common::{Api, Server, photo};
use reqwest::StatusCode;
use serde_json::Value;

fn site(api: &Api) -> String {
    api.base.trim_end_matches("/api/v1").to_string()
}

async fn page(api: &Api, path: &str) -> (StatusCode, String) {
    let r = api.client.get(format!("{}{path}", site(api))).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

fn csrf(html: &str) -> String {
    html.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF field on the page").to_string()
}

/// Posts a page form with the CSRF token from `from`; returns the final status, path and body.
async fn post_form(api: &Api, from: &str, action: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
    let token = csrf(&page(api, from).await.1);
    let mut form: Vec<(&str, &str)> = vec![("_csrf", &token)];
    form.extend_from_slice(fields);
    let r = api.client.post(format!("{}{action}", site(api))).form(&form).send().await.unwrap();
    let status = r.status();
    let url = format!("{}?{}", r.url().path(), r.url().query().unwrap_or(""));
    (status, url, r.text().await.unwrap())
}

fn suggestion<'a>(body: &'a Value, service: &str) -> &'a Value {
    body["suggestions"].as_array().unwrap().iter().find(|s| s["service"] == service).unwrap_or_else(|| panic!("{service} in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_suggested_from_age_and_postcode_with_the_reason() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let today = chrono::Utc::now().date_naive();
    let nine = today.checked_sub_months(chrono::Months::new(9 * 12 + 2)).unwrap().to_string();

    let (status, child) = gp.get(&format!("/services/suggestions?date_of_birth={nine}&postcode=WD17%201AA")).await;
    assert_eq!(status, StatusCode::OK, "{child}");
    let herts = suggestion(&child, "west-herts-paediatric");
    assert_eq!(herts["suits"], true, "{herts}");
    assert!(herts["reason"].as_str().unwrap().contains("this patient is 9"), "{herts}");
    assert_eq!(child["suggestions"][0]["suits"], true, "services that suit come first: {child}");

    let (status, adult) = gp.get("/services/suggestions?date_of_birth=1979-03-04&postcode=E8%201DY").await;
    assert_eq!(status, StatusCode::OK);
    let herts = suggestion(&adult, "west-herts-paediatric");
    assert_eq!(herts["suits"], false);
    assert!(herts["reason"].as_str().unwrap().starts_with("Takes patients under 16"), "{herts}");
    let hackney = suggestion(&adult, "hackney-rash");
    assert_eq!(hackney["suits"], true, "{hackney}");
    assert!(hackney["reason"].as_str().unwrap().ends_with("has no catchment limit"), "{hackney}");
    // A child outside Herts Valleys: the age fits, the postcode does not.
    let (_, outside) = gp.get(&format!("/services/suggestions?date_of_birth={nine}&postcode=E8%201DY")).await;
    let herts = suggestion(&outside, "west-herts-paediatric");
    assert_eq!(herts["suits"], false);
    assert!(herts["reason"].as_str().unwrap().contains("only; this patient lives in E8"), "{herts}");

    // Not a date, or missing: the query is wrong (400). A date in the future or a postcode that is
    // not one: the details are (422), and the message says which.
    for bad in ["date_of_birth=1979-13-04&postcode=E8%201DY", "postcode=E8%201DY"] {
        let (status, body) = gp.get(&format!("/services/suggestions?{bad}")).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{bad}: {body}");
    }
    let tomorrow = (today + chrono::Days::new(2)).to_string();
    for (bad, says) in [("date_of_birth=1979-03-04&postcode=nowhere".to_string(), "postcode"), (format!("date_of_birth={tomorrow}&postcode=E8%201DY"), "future")] {
        let (status, body) = gp.get(&format!("/services/suggestions?{bad}")).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_patient_details")), "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    let (status, _) = server.anonymous().get("/services/suggestions?date_of_birth=1979-03-04&postcode=E8%201DY").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Without JavaScript, a step 1 page that knows the patient says the same.
    let (status, _, html) = post_form(&gp, "/referrals/new", "/referrals/new", &[
        ("nhs_number", "943 476 5919"), ("given_name", "Ada"), ("family_name", "Lovelace"),
        ("dob_day", "4"), ("dob_month", "3"), ("dob_year", "1979"), ("sex", "female"), ("postcode", "WD17 1AA"),
    ]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no service chosen yet");
    assert!(html.contains("Takes patients under 16; this patient is"), "the page gives each service's reason");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_is_taken_from_the_service_and_child_only_questions_are_asked_only_about_children() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let start = |dob: (&'static str, &'static str, &'static str)| {
        vec![
            ("nhs_number", "943 476 5919"), ("given_name", "Ada"), ("family_name", "Lovelace"),
            ("dob_day", dob.0), ("dob_month", dob.1), ("dob_year", dob.2), ("sex", "female"), ("postcode", "E8 1DY"),
            ("service", "homerton"),
        ]
    };
    // No route given: Homerton offers the Referral Assessment Service only, so that is the route.
    let (status, url, _) = post_form(&gp, "/referrals/new", "/referrals/new", &start(("4", "3", "1979"))).await;
    assert_eq!(status, StatusCode::OK);
    let id = url.trim_start_matches("/referrals/").split('/').next().unwrap().to_string();
    assert!(url.ends_with("/eligibility?"), "{url}");
    let (_, draft) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(draft["referral"]["route"], "ras", "{draft}");
    // A route the service does not offer, left over in the form, is not held against the GP.
    let mut with_other = start(("4", "3", "1979"));
    with_other.push(("route", "advice_and_guidance"));
    let (status, url, _) = post_form(&gp, &format!("/referrals/{id}/start"), &format!("/referrals/{id}/start"), &with_other).await;
    assert_eq!((status, url.ends_with("/eligibility?")), (StatusCode::OK, true), "{url}");

    // An adult: no child-only questions; saved without them, they are recorded as "no".
    let (_, html) = page(&gp, &format!("/referrals/{id}/eligibility")).await;
    assert!(!html.contains("name=\"face_identifiable_in_images\" type=\"radio\""), "the face question is not asked about an adult");
    assert!(!html.contains("name=\"known_chronic_inflammatory_condition\" type=\"radio\""));
    assert!(html.contains("name=\"consent_given\""), "questions for everyone are asked");
    let answers = [
        ("condition", "rash"), ("lesion_count", "0"), ("body_sites", "arm"), ("meets_2ww_criteria", "no"),
        ("extreme_psychological_distress", "no"), ("widespread", "no"), ("severe_or_systemic_or_urgent", "no"),
        ("imaging_practical", "yes"), ("safeguarding_concerns", "no"), ("has_capacity_to_consent", "yes"),
        ("best_interests_referral", "no"), ("consent_given", "yes"), ("dermoscopic_images", "no"),
        ("seen_face_to_face", "yes"), ("images_taken_by", "clinician"),
    ];
    let (status, url, body) = post_form(&gp, &format!("/referrals/{id}/eligibility"), &format!("/referrals/{id}/eligibility"), &answers).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(url.ends_with("/details?"), "eligible, on to the details: {url}");
    let (_, draft) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(draft["referral"]["eligibility_answers"]["face_identifiable_in_images"], false);
    // A "yes" smuggled in for a question not asked changes nothing.
    let mut smuggled = answers.to_vec();
    smuggled.push(("face_identifiable_in_images", "yes"));
    post_form(&gp, &format!("/referrals/{id}/eligibility"), &format!("/referrals/{id}/eligibility"), &smuggled).await;
    let (_, draft) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(draft["referral"]["eligibility_answers"]["face_identifiable_in_images"], false);

    // A child at the same service is asked both, and must answer them.
    let today = chrono::Utc::now().date_naive();
    let year = (today.format("%Y").to_string().parse::<i32>().unwrap() - 9).to_string();
    let child: Vec<(&str, &str)> = start(("4", "3", "1979")).into_iter().map(|(k, v)| if k == "dob_year" { (k, year.as_str()) } else { (k, v) }).collect();
    let (_, url, _) = post_form(&gp, "/referrals/new", "/referrals/new", &child).await;
    let child_id = url.trim_start_matches("/referrals/").split('/').next().unwrap().to_string();
    let (_, html) = page(&gp, &format!("/referrals/{child_id}/eligibility")).await;
    assert!(html.contains("name=\"face_identifiable_in_images\" type=\"radio\""), "a child is asked about faces");
    let (status, _, html) = post_form(&gp, &format!("/referrals/{child_id}/eligibility"), &format!("/referrals/{child_id}/eligibility"), &answers).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Will the patient&#39;s face be identifiable") || html.contains("Will the patient's face be identifiable"), "the missing answer is named");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_photos_go_up_at_once_sorted_by_what_the_service_needs_and_each_can_be_retagged() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let (status, body) = gp.post("/referrals", &common::draft_body("hackney-rash", "ras", serde_json::json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let photos_page = format!("/referrals/{id}/photos");
    let token = csrf(&page(&gp, &photos_page).await.1);
    let upload = |parts: Vec<(&'static str, Vec<u8>)>, kind: &'static str| {
        let mut form = reqwest::multipart::Form::new().text("_csrf", token.clone()).text("kind", kind);
        for (name, bytes) in parts {
            form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
        }
        gp.client.post(format!("{}{photos_page}", site(&gp))).multipart(form).send()
    };

    // Three photos, one of them not a photo at all: the two good ones are kept and sorted
    // (locator, then close-up), the bad one is named with the reason.
    let r = upload(vec![("arm-far.jpg", photo(1, 0.0)), ("notes.txt", b"not a photo".to_vec()), ("arm-near.jpg", photo(2, 0.0))], "auto").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("notes.txt: "), "the refused file is named");
    assert_eq!(html.matches("app-photo-check ").count(), 2, "both good photos are checked on the page");
    let (_, listed) = gp.get(&format!("/referrals/{id}/photos")).await;
    let kinds: Vec<&str> = listed["photos"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["locator", "close_up"], "{listed}");

    // One more, sorted into the close-up still needed: it passes and the service's photos are
    // complete, so the GP goes straight on to the review, which says so.
    let r = upload(vec![("arm-near-2.jpg", photo(3, 0.0))], "auto").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), format!("/referrals/{id}/review"), "{}", r.url());
    let html = r.text().await.unwrap();
    assert!(html.contains("data-photos-checked=\"1\""), "the review says the photo passed its check");

    // The GP says the second photo is in fact a locator: recorded and audited.
    let (_, listed) = gp.get(&format!("/referrals/{id}/photos")).await;
    let second = listed["photos"][1]["id"].as_str().unwrap().to_string();
    let (status, url, _) = post_form(&gp, &photos_page, &format!("/referrals/{id}/photos/{second}/kind"), &[("kind", "locator")]).await;
    assert_eq!(status, StatusCode::OK, "{url}");
    let (_, listed) = gp.get(&format!("/referrals/{id}/photos")).await;
    assert_eq!(listed["photos"][1]["kind"], "locator");
    let (status, _, _) = post_form(&gp, &photos_page, &format!("/referrals/{id}/photos/{second}/kind"), &[("kind", "panorama")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an unknown kind is refused on the page");
    let admin = server.sign_in_as("system_admin").await;
    let (_, audit) = page(&admin, &format!("/admin/audit?referral={id}&action=photo.set_kind")).await;
    assert!(audit.contains("photo.set_kind"), "the change is audited");

    // A sent referral's photos are locked.
    let (status, _) = gp.post(&format!("/referrals/{id}/submit"), &serde_json::json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "two locators and one close-up fall short of the service's photos");
    post_form(&gp, &photos_page, &format!("/referrals/{id}/photos/{second}/kind"), &[("kind", "close_up")]).await;
    let (status, body) = gp.post(&format!("/referrals/{id}/submit"), &serde_json::json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = post_form(&gp, &format!("/referrals/{id}"), &format!("/referrals/{id}/photos/{second}/kind"), &[("kind", "locator")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "photos of a sent referral cannot be re-tagged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethnic_category_and_fitzpatrick_type_are_recorded_when_given_and_reach_the_equity_report() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    // On step 1, optional: recorded as the Data Dictionary code and the type.
    let (status, url, _) = post_form(&gp, "/referrals/new", "/referrals/new", &[
        ("nhs_number", "943 476 5919"), ("given_name", "Ada"), ("family_name", "Lovelace"),
        ("dob_day", "4"), ("dob_month", "3"), ("dob_year", "1979"), ("sex", "female"), ("postcode", "E8 1DY"),
        ("service", "hackney-rash"), ("ethnic_category", "N"), ("fitzpatrick_type", "V"),
    ]).await;
    assert_eq!(status, StatusCode::OK, "{url}");
    let id = url.trim_start_matches("/referrals/").split('/').next().unwrap().to_string();
    let (_, draft) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(draft["referral"]["patient"]["ethnic_category"], "N", "{draft}");
    assert_eq!(draft["referral"]["patient"]["fitzpatrick_type"], "V");
    let (_, html) = page(&gp, &format!("/referrals/{id}/start")).await;
    assert!(html.contains("<option value=\"N\" selected>"), "kept on the page");
    // Not recorded: absent, not a guess.
    let (_, created) = gp.post("/referrals", &common::draft_body("hackney-rash", "ras", serde_json::json!({}))).await;
    assert!(created["patient"].get("ethnic_category").is_none(), "{created}");
    // An unknown code is refused by the API, naming the field.
    let mut bad = common::draft_body("hackney-rash", "ras", serde_json::json!({}));
    bad["patient"]["ethnic_category"] = serde_json::json!("Q");
    let (status, body) = gp.post("/referrals", &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Sent, it counts in the equity report under its own group (one referral: suppressed).
    let mut body = common::draft_body("hackney-rash", "ras", serde_json::json!({}));
    body["patient"]["ethnic_category"] = serde_json::json!("N");
    body["patient"]["fitzpatrick_type"] = serde_json::json!("V");
    let (_, created) = gp.post("/referrals", &body).await;
    let sent = created["id"].as_str().unwrap().to_string();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        gp.upload(&sent, kind, photo(i as u64 + 1, 0.0)).await;
    }
    let (status, b) = gp.post(&format!("/referrals/{sent}/submit"), &serde_json::json!({})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let admin = server.sign_in_as("service_admin").await;
    let (status, eq) = admin.get("/reports/equity?service=hackney-rash").await;
    assert_eq!(status, StatusCode::OK, "{eq}");
    let groups = |dimension: &str| -> Vec<Value> {
        eq["dimensions"].as_array().unwrap().iter().find(|d| d["dimension"] == dimension).unwrap()["groups"].as_array().unwrap().clone()
    };
    let n = groups("ethnic_category").into_iter().find(|g| g["group"] == "N").unwrap_or_else(|| panic!("group N in {eq}"));
    assert_eq!(n["referrals"], serde_json::json!({"count": null, "suppressed": true}), "{n}");
    let v = groups("fitzpatrick_type").into_iter().find(|g| g["group"] == "V").unwrap();
    assert_eq!(v["referrals"]["suppressed"], true, "{v}");
}
