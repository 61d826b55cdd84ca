//! Issue 13: what each person is told and can do next (hazards H2, H10-H12 in
//! docs/clinical-safety/hazard-log.md). Over HTTP against the real binary: urgency in lists and
//! notifications, the GP's next steps (withdraw with a reason, discard, close, copy into a new
//! referral, the two-week-wait instruction), alerts, and the clock that stops while the service
//! waits for the GP.

mod common;

use common::{Api, Server, clock_at, complete_draft, draft_body, env_refs, libfaketime, pdf_text};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The templates of the messages written for a referral, in order (read from the demo's own
/// database, as the worker would).
async fn templates(server: &Server, id: &str) -> Vec<(String, String)> {
    let store = telederm_store::Store::connect_without_migrating(&format!("sqlite://{}", server.data_dir.join("telederm.db").display()))
        .await
        .unwrap();
    let rows = store.list_outbox(telederm_domain::ReferralId::parse(id).unwrap()).await.unwrap();
    store.close().await;
    rows.into_iter().map(|m| (m.recipient, m.template.name().to_string())).collect()
}

/// The list row for `id` in a list answer (`referrals` or `worklist`).
fn row(list: &Value, key: &str, id: &str) -> Value {
    list[key].as_array().unwrap_or(&Vec::new()).iter().find(|r| r["id"] == id).cloned().unwrap_or(Value::Null)
}

fn flags(row: &Value) -> Vec<String> {
    row["flags"].as_array().map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

async fn page(api: &Api, path: &str) -> (StatusCode, String, String) {
    let r = api.client.get(format!("{}{path}", api.base.trim_end_matches("/api/v1"))).send().await.unwrap();
    let status = r.status();
    let url = r.url().path().to_string();
    (status, url, r.text().await.unwrap())
}

/// Posts a page form (with the page's CSRF token, taken from `from`), following the redirect.
/// Returns the final page's status, path and query, and body.
async fn post_form(api: &Api, from: &str, action: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
    let (_, _, html) = page(api, from).await;
    let csrf = html.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF field on the page").to_string();
    let mut form: Vec<(&str, &str)> = vec![("_csrf", &csrf)];
    form.extend_from_slice(fields);
    let r = api.client.post(format!("{}{action}", api.base.trim_end_matches("/api/v1"))).form(&form).send().await.unwrap();
    let status = r.status();
    let url = format!("{}?{}", r.url().path(), r.url().query().unwrap_or(""));
    (status, url, r.text().await.unwrap())
}

async fn submitted(gp: &Api, service: &str, route: &str, priority: &str) -> String {
    let id = complete_draft(gp, service, route, json!({})).await;
    if priority != "routine" {
        let (s, b) = gp.patch(&format!("/referrals/{id}"), &json!({"priority": priority})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("submitted")), "{b}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgency_is_tagged_in_lists_and_marked_in_the_subject_of_every_notification() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let urgent = submitted(&gp, "hackney-rash", "ras", "urgent").await;
    let routine = submitted(&gp, "hackney-rash", "ras", "routine").await;

    // The consultants are told of the urgent one with the marked template; the routine one not.
    let consultant_email = server.demo_credentials()["consultant"].0.clone();
    assert!(templates(&server, &urgent).await.contains(&(consultant_email.clone(), "consultant_urgent_case_assigned".into())));
    assert!(templates(&server, &routine).await.contains(&(consultant_email.clone(), "consultant_case_assigned".into())));
    assert!(!templates(&server, &routine).await.iter().any(|(_, t)| t.contains("urgent")));

    // Tagged in the worklist (API and page); on the same due date the urgent case comes first.
    let (_, list) = consultant.get("/worklist").await;
    assert_eq!(flags(&row(&list, "referrals", &urgent)), ["urgent"], "{list}");
    assert_eq!(flags(&row(&list, "referrals", &routine)), Vec::<String>::new());
    let ids: Vec<&str> = list["referrals"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    let (u, r) = (ids.iter().position(|i| *i == urgent).unwrap(), ids.iter().position(|i| *i == routine).unwrap());
    assert_eq!(row(&list, "referrals", &urgent)["due_date"], row(&list, "referrals", &routine)["due_date"]);
    assert!(u < r, "an urgent case sorts before a routine one due the same day: {ids:?}");
    let (_, _, worklist) = page(&consultant, "/worklist").await;
    let urgent_row = worklist.split("<tr").skip(1).find(|tr| tr.contains(&urgent)).unwrap();
    assert!(urgent_row.contains(">Urgent</strong>"), "{urgent_row}");

    // An urgent face-to-face outcome on a routine referral: the GP's message is the marked one,
    // the GP's list and the case page say so.
    for (id, code) in [(&routine, "face_to_face_urgent"), (&urgent, "advice_management_plan")] {
        let (s, b) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = consultant
            .post(&format!("/referrals/{id}/outcome"), &json!({"code": code, "diagnosis": "Discoid eczema", "management_plan": "Emollients."}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let gp_email = server.demo_credentials()["referrer"].0.clone();
    assert!(templates(&server, &routine).await.contains(&(gp_email.clone(), "gp_urgent_response_ready".into())));
    assert!(templates(&server, &urgent).await.contains(&(gp_email.clone(), "gp_urgent_response_ready".into())), "urgent priority stays urgent");
    let (_, list) = gp.get("/referrals").await;
    assert_eq!(flags(&row(&list, "referrals", &routine)), ["urgent", "outcome_ready"], "{list}");
    let (_, _, case) = page(&gp, &format!("/referrals/{routine}")).await;
    assert!(case.contains("data-urgency>Urgent</strong>"), "the case page shows the urgency");
    assert!(case.contains("data-gp-action>"), "and the action for the GP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gp_withdraws_with_a_reason_discards_a_draft_and_closes_after_reading() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;

    // Withdrawing what the service has needs a reason; the reason is kept on the referral.
    let sent = submitted(&gp, "hackney-rash", "ras", "routine").await;
    let (s, b) = gp.post(&format!("/referrals/{sent}/withdraw"), &json!({"reason": "  "})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("withdraw_reason_required")), "{b}");
    let (_, _, case) = page(&gp, &format!("/referrals/{sent}")).await;
    assert!(case.contains("id=\"withdraw\""), "the case page offers to withdraw");
    let (s, url, body) = post_form(&gp, &format!("/referrals/{sent}"), &format!("/referrals/{sent}/withdraw"), &[("reason", "The rash has cleared.")]).await;
    assert_eq!((s, url.as_str()), (StatusCode::OK, format!("/referrals/{sent}?done=withdrawn").as_str()));
    assert!(body.contains("The referral was withdrawn"), "{body}");
    let (_, detail) = gp.get(&format!("/referrals/{sent}")).await;
    assert_eq!(detail["referral"]["status"], "withdrawn");
    assert!(detail["messages"].as_array().unwrap().iter().any(|m| m["body"] == "Withdrawn: The rash has cleared."), "{detail}");
    let (_, work) = consultant.get("/worklist").await;
    assert_eq!(row(&work, "referrals", &sent), Value::Null, "it left the worklist");

    // A draft is discarded from its page and leaves the GP's list.
    let draft = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (s, url, list_page) = post_form(&gp, &format!("/referrals/{draft}"), &format!("/referrals/{draft}/discard"), &[]).await;
    assert_eq!((s, url.as_str()), (StatusCode::OK, "/referrals?done=discarded"));
    assert!(list_page.contains("The draft was discarded.") && !list_page.contains(&draft), "gone from the list");
    let (s, b) = gp.post(&format!("/referrals/{sent}/discard"), &json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")), "only a draft is discarded: {b}");

    // After the outcome the GP closes it from the case page.
    let answered = submitted(&gp, "hackney-rash", "ras", "routine").await;
    consultant.post(&format!("/referrals/{answered}/claim"), &json!({})).await;
    let (s, b) = consultant
        .post(&format!("/referrals/{answered}/outcome"), &json!({"code": "advice_management_plan", "management_plan": "Emollients twice daily."}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, list) = gp.get("/referrals").await;
    assert_eq!(flags(&row(&list, "referrals", &answered)), ["outcome_ready"]);
    let (_, _, list_page) = page(&gp, "/referrals").await;
    let tr = list_page.split("<tr").find(|tr| tr.contains(&answered)).unwrap();
    assert!(tr.contains("data-flag>Outcome ready</strong>"), "the GP's list page shows the flag: {tr}");
    let (s, url, _) = post_form(&gp, &format!("/referrals/{answered}"), &format!("/referrals/{answered}/close"), &[]).await;
    assert_eq!((s, url.as_str()), (StatusCode::OK, "/referrals?done=closed"));
    let (_, list) = gp.get("/referrals").await;
    assert_eq!(row(&list, "referrals", &answered)["status"], "closed");
    assert_eq!(flags(&row(&list, "referrals", &answered)), Vec::<String>::new(), "nothing left to do");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_referral_is_copied_into_a_new_draft_with_its_patient_history_and_photos() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let id = submitted(&gp, "hackney-rash", "ras", "routine").await;

    // While the service has it, it cannot be copied (that would be a duplicate referral).
    let (s, b) = gp.post(&format!("/referrals/{id}/copy"), &json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("referral_still_open")), "{b}");

    consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    let (s, b) = consultant
        .post(&format!("/referrals/{id}/outcome"), &json!({"code": "rejected", "rejection_reason": "poor_image_quality", "management_plan": "Retake the close-ups in daylight."}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, _, list) = page(&gp, "/referrals").await;
    let tr = list.split("<tr").find(|tr| tr.contains(&id)).unwrap();
    assert!(tr.contains(&format!("href=\"/referrals/{id}#next-steps\">See why and what to do next")), "{tr}");

    // The consultant may not copy it; another practice's GP cannot see it.
    let (s, b) = consultant.post(&format!("/referrals/{id}/copy"), &json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{b}");

    // The GP copies it from the case page and lands on the new draft's first step.
    let (_, _, case) = page(&gp, &format!("/referrals/{id}")).await;
    assert!(case.contains("id=\"next-steps\"") && case.contains("Copy into a new referral"), "the case page offers the copy");
    let (s, url, start) = post_form(&gp, &format!("/referrals/{id}"), &format!("/referrals/{id}/copy"), &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(url.ends_with("/start?copied=1") && url != format!("/referrals/{id}/start?copied=1"), "{url}");
    assert!(start.contains("data-copied"), "the start page says it is a copy");
    let copy = url.trim_start_matches("/referrals/").split('/').next().unwrap().to_string();

    let (_, original) = gp.get(&format!("/referrals/{id}")).await;
    let (_, new) = gp.get(&format!("/referrals/{copy}")).await;
    assert_eq!(new["referral"]["status"], "draft");
    assert_eq!(original["referral"]["status"], "rejected", "the original is unchanged");
    for field in ["patient", "history", "consent", "eligibility_answers", "service_id", "route"] {
        assert_eq!(new["referral"][field], original["referral"][field], "{field}");
    }
    assert_eq!(new["referral"]["outcome"], Value::Null);
    let kinds = |d: &Value| d["photos"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(kinds(&new), kinds(&original));
    // The photos are copies: the same bytes under new ids.
    let (a, b) = (&original["photos"][0], &new["photos"][0]);
    assert_ne!(a["id"], b["id"]);
    let bytes = |rid: &str, pid: &str| gp.client.get(format!("{}/referrals/{rid}/photos/{pid}/original", gp.base)).send();
    let one = bytes(&id, a["id"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    let two = bytes(&copy, b["id"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    assert!(!one.is_empty() && one == two);
    // And it can be sent as a new referral.
    let (s, b) = gp.post(&format!("/referrals/{copy}/submit"), &json!({})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("submitted")), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_week_wait_redirect_says_what_to_do_links_the_form_and_offers_to_discard() {
    let dir = tempfile::tempdir().unwrap();
    let services = dir.path().join("services");
    std::fs::create_dir_all(&services).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services");
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        let mut text = std::fs::read_to_string(e.path()).unwrap();
        if e.file_name() == "hackney-rash.toml" {
            text = text.replacen("response_target_working_days", "two_week_wait_form_url = \"https://2ww.example.nhs.uk/skin\"\nresponse_target_working_days", 1);
        }
        std::fs::write(services.join(e.file_name()), text).unwrap();
    }
    let data = dir.path().join("data");
    let server = Server::start("demo", &data, &[("TELEDERM_SERVICES_DIR", services.to_str().unwrap())]).await;
    let gp = server.sign_in_as("referrer").await;
    let (s, created) = gp.post("/referrals", &draft_body("hackney-rash", "ras", json!({"meets_2ww_criteria": true}))).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        gp.upload(&id, kind, common::photo(i as u64 + 1, 0.0)).await;
    }
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("redirect_2ww")), "{b}");
    let message = b["message"].as_str().unwrap();
    assert!(message.contains("https://2ww.example.nhs.uk/skin") && message.contains("discard this draft"), "{message}");

    for path in [format!("/referrals/{id}/eligibility"), format!("/referrals/{id}")] {
        let (s, _, html) = page(&gp, &path).await;
        assert_eq!(s, StatusCode::OK);
        let block = html.split("data-two-week-wait").nth(1).or_else(|| html.split("data-decision-next=\"redirect_2ww\"").nth(1)).unwrap_or("");
        assert!(block.contains("href=\"https://2ww.example.nhs.uk/skin\""), "{path} links the local form");
        assert!(html.contains(&format!("action=\"/referrals/{id}/discard\"")), "{path} offers to discard the draft");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_stops_while_the_service_waits_for_the_gp_and_moves_the_due_date_by_the_days_it_waited() {
    let lib = libfaketime();
    let dir = tempfile::tempdir().unwrap();
    // Monday 2 March 2026, 09:00: received today, due in 3 working days (Hackney's target).
    let monday = clock_at(&lib, "2026-03-02 09:00:00");
    let mut server = Server::start("demo", dir.path(), &env_refs(&monday)).await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({"referral_date": "2026-03-02"})).await;
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Tue 3, Wed 4, Thu 5.
    assert_eq!(b["due_date"], "2026-03-05");
    consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    let (s, b) = consultant.post(&format!("/referrals/{id}/request-information"), &json!({"message": "Is it itchy at night?"})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("awaiting_information")), "{b}");
    let (_, list) = gp.get("/referrals").await;
    assert_eq!(flags(&row(&list, "referrals", &id)), ["question_asked"]);
    server.terminate();

    // A week later (Monday 9 March), before the GP answers: past the old due date, but the clock
    // is stopped, so the case is neither overdue nor due.
    let next_monday = clock_at(&lib, "2026-03-09 09:00:00");
    let server = Server::start("demo", dir.path(), &env_refs(&next_monday)).await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let (_, work) = consultant.get("/worklist").await;
    let waiting = row(&work, "referrals", &id);
    assert_eq!((&waiting["clock_paused"], &waiting["overdue"], &waiting["due_today"]), (&json!(true), &json!(false), &json!(false)), "{waiting}");
    let (_, _, worklist) = page(&consultant, "/worklist").await;
    let tr = worklist.split("<tr").find(|tr| tr.contains(&id)).unwrap();
    assert!(tr.contains("Clock paused") && !tr.contains("Overdue"), "{tr}");

    // The GP answers on Monday 9: the clock stopped for Tue 3 to Mon 9, five working days, so
    // Thursday 5 moves to Thursday 12.
    let (s, b) = gp.post(&format!("/referrals/{id}/reply"), &json!({"message": "Yes, worse at night."})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("in_review")), "{b}");
    assert_eq!(b["due_date"], "2026-03-12");
    let (_, work) = consultant.get("/worklist").await;
    let replied = row(&work, "referrals", &id);
    assert_eq!((&replied["due_date"], &replied["clock_paused"]), (&json!("2026-03-12"), &json!(false)));
    assert_eq!(flags(&replied), ["gp_replied"], "{replied}");
    let consultant_email = server.demo_credentials()["consultant"].0.clone();
    assert!(templates(&server, &id).await.contains(&(consultant_email, "consultant_gp_replied".into())), "the consultant is told");
    // The FHIR Task carries the new date.
    let (s, bundle) = gp.get(&format!("/fhir/ServiceRequest/{id}/$everything")).await;
    assert_eq!(s, StatusCode::OK);
    let task = bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).find(|r| r["resourceType"] == "Task").unwrap();
    assert_eq!(task["restriction"]["period"]["end"], "2026-03-12", "{task}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gp_is_alerted_when_the_patient_sends_photos_through_their_link() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let (s, created) = gp.post("/referrals", &draft_body("clinical-partnership", "advice_and_guidance", json!({"images_taken_by": "patient"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    // The practice sends the patient an upload link from the case page.
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let (_, _, case) = page(&gp, &format!("/referrals/{id}")).await;
    let csrf = case.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();
    let made = gp.client.post(format!("{}/referrals/{id}/patient-links", server.base)).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    let html = made.text().await.unwrap();
    let token = html.split("data-patient-link>").nth(1).and_then(|s| s.split('<').next()).and_then(|u| u.rsplit("/p/").next()).unwrap().to_string();

    // The patient confirms their date of birth, sends a photo and finishes.
    let at = |p: &str| format!("{}/p/{token}{p}", server.base);
    let verified = no_redirect.post(at("")).form(&[("dob_day", "17"), ("dob_month", "5"), ("dob_year", "1980")]).send().await.unwrap();
    assert_eq!(verified.status(), StatusCode::SEE_OTHER);
    let cookie = verified.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let form_page = no_redirect.get(at("")).header(reqwest::header::COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    let patient_csrf = form_page.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();
    let (_, before) = gp.get("/referrals").await;
    assert_eq!(flags(&row(&before, "referrals", &id)), Vec::<String>::new(), "nothing has arrived yet");
    let upload = reqwest::multipart::Form::new()
        .text("_csrf", patient_csrf.clone())
        .text("kind", "close_up")
        .part("file", reqwest::multipart::Part::bytes(common::photo(7, 0.0)).file_name("me.jpg"));
    let sent = no_redirect.post(at("/photos")).header(reqwest::header::COOKIE, &cookie).multipart(upload).send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    let done = no_redirect.post(at("/done")).header(reqwest::header::COOKIE, &cookie).form(&[("_csrf", patient_csrf.as_str()), ("consent", "yes")]).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);

    // The GP's list says so, and the GP is emailed (once, whatever the patient does next).
    let (_, list) = gp.get("/referrals").await;
    assert_eq!(flags(&row(&list, "referrals", &id)), ["patient_photos_arrived"], "{list}");
    let gp_email = server.demo_credentials()["referrer"].0.clone();
    let alerts = templates(&server, &id).await.into_iter().filter(|(_, t)| t == "gp_patient_photos_arrived").collect::<Vec<_>>();
    assert_eq!(alerts, [(gp_email, "gp_patient_photos_arrived".to_string())]);
    // Once the GP works on the referral again, the tag has done its job.
    let (s, b) = gp.patch(&format!("/referrals/{id}"), &json!({"history": {"presenting_complaint": "Photos from the patient received."}})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, list) = gp.get("/referrals").await;
    assert_eq!(flags(&row(&list, "referrals", &id)), Vec::<String>::new());
}

/// Who acts next, by route and outcome, as `docs/outcomes.md` ("Who acts next") tabulates it.
fn owner_in_the_doc(route: &str, code: &str) -> &'static str {
    match (code, route) {
        ("advice_management_plan", _) => "gp_manages",
        ("no_further_action", _) => "nothing",
        ("face_to_face_routine" | "face_to_face_urgent" | "biopsy", "ras") => "provider_books",
        ("face_to_face_routine" | "face_to_face_urgent" | "biopsy", _) => "gp_refers",
        // Only accepted on A&G with conversion authorised: the provider books.
        ("convert_to_referral", _) => "provider_books",
        ("onward_referral" | "redirect_two_week_wait", _) => "gp_refers",
        ("rejected", _) => "gp_manages",
        _ => unreachable!("{code}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_outcome_tells_the_gp_and_the_patient_who_acts_next() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let gp_email = server.demo_credentials()["referrer"].0.clone();
    let codes = [
        "advice_management_plan", "no_further_action", "face_to_face_routine", "face_to_face_urgent", "biopsy",
        "onward_referral", "convert_to_referral", "redirect_two_week_wait", "rejected",
    ];
    let mut failures = Vec::new();
    for (service, route) in [("nhs-advice-and-guidance", "advice_and_guidance"), ("hackney-rash", "ras")] {
        for code in codes {
            if code == "convert_to_referral" && route == "ras" {
                continue; // refused on RAS (journey.rs covers the refusal)
            }
            let id = complete_draft(&gp, service, route, json!({})).await;
            if code == "convert_to_referral" {
                gp.patch(&format!("/referrals/{id}"), &json!({"conversion_authorised": true})).await;
            }
            let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
            let mut body = json!({"code": code, "diagnosis": "Discoid eczema", "management_plan": "Emollients; see the plan.", "follow_up": "Review in 6 weeks."});
            if code == "onward_referral" {
                body["onward_service"] = json!("west-herts-paediatric");
            }
            if code == "rejected" {
                body["rejection_reason"] = json!("insufficient_information");
            }
            let (s, b) = consultant.post(&format!("/referrals/{id}/outcome"), &body).await;
            assert_eq!(s, StatusCode::OK, "{route} {code}: {b}");

            let letter = |kind: &str| gp.client.get(format!("{}/referrals/{id}/letters/{kind}?format=html", gp.base)).send();
            let gp_letter = letter("gp").await.unwrap().text().await.unwrap();
            let patient_letter = letter("patient").await.unwrap().text().await.unwrap();
            let owner = owner_in_the_doc(route, code);
            // What each is told, in words the owner column implies.
            let (gp_says, patient_says): (&[&str], &[&str]) = match (owner, code) {
                ("provider_books", _) => (&["the dermatology service will book"], &["will contact you with an appointment"]),
                ("gp_refers", _) => (&["Refer "], &["Your GP will refer you"]),
                ("gp_manages", "rejected") => (&["clinical responsibility remains with you"], &["Your GP practice will talk to you"]),
                ("gp_manages", _) => (&["Manage the patient in primary care"], &["Your GP practice will talk to you"]),
                ("nothing", _) => (&["No further action is needed"], &["does not think you need any treatment"]),
                _ => unreachable!(),
            };
            let action = gp_letter.split("Action for you").nth(1).unwrap_or("");
            for words in gp_says {
                if !action.contains(words) {
                    failures.push(format!("{route} {code}: the GP letter's action lacks {words:?}"));
                }
            }
            for words in patient_says {
                if !patient_letter.contains(words) {
                    failures.push(format!("{route} {code}: the patient letter lacks {words:?}"));
                }
            }
            if owner == "gp_refers" && patient_letter.contains("will contact you with an appointment") {
                failures.push(format!("{route} {code}: the patient is promised an appointment nobody will book"));
            }
            if code == "onward_referral" && (!gp_letter.contains("West Herts") || gp_letter.contains("west-herts-paediatric")) {
                failures.push(format!("{route} {code}: the onward service is not named"));
            }
            // The GP's notification: marked urgent exactly for the urgent outcomes.
            let urgent = matches!(code, "face_to_face_urgent" | "redirect_two_week_wait");
            let want = if urgent { "gp_urgent_response_ready" } else if code == "rejected" { "gp_request_returned" } else { "gp_response_ready" };
            if !templates(&server, &id).await.contains(&(gp_email.clone(), want.to_string())) {
                failures.push(format!("{route} {code}: the GP was not sent {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letters_fetched_over_http_print_polish_vietnamese_turkish_and_irish_names_as_written() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    for (given, family) in [("Łukasz", "Wróbel"), ("Hương", "Nguyễn Thị"), ("Çağrı", "Şahin"), ("Seán", "Ó Briain")] {
        let mut body = draft_body("hackney-rash", "ras", json!({}));
        body["patient"]["given_name"] = json!(given);
        body["patient"]["family_name"] = json!(family);
        let (s, created) = gp.post("/referrals", &body).await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap().to_string();
        for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
            gp.upload(&id, kind, common::photo(i as u64 + 1, 0.0)).await;
        }
        let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
        let (s, b) = consultant
            .post(&format!("/referrals/{id}/outcome"), &json!({"code": "advice_management_plan", "management_plan": "Emollients twice daily."}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        for kind in ["gp", "patient", "patient-large-print"] {
            let r = gp.client.get(format!("{}/referrals/{id}/letters/{kind}?format=pdf", gp.base)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let text = pdf_text(&r.bytes().await.unwrap());
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(flat.contains(&format!("{given} {family}")), "{kind} letter for {given} {family}:\n{text}");
        }
    }
}
