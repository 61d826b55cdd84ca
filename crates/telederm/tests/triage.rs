//! Issue 15, the consultant's half: a triage workstation. Over HTTP against the real binary: saved
//! phrases (CRUD and who may do what), "record and open next case" in worklist order, the coded
//! (SNOMED CT) diagnosis in the FHIR export as a Condition, the bounded on-demand preview the image
//! viewer zooms into, and the case page's referrer, sex, body sites, checklist warnings, timeline
//! and the worklist's counts.

mod common;

use common::{Api, Server, complete_draft};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn origin(api: &Api) -> String {
    api.base.trim_end_matches("/api/v1").to_string()
}

async fn page(api: &Api, path: &str) -> (StatusCode, String, String) {
    let r = api.client.get(format!("{}{path}", origin(api))).send().await.unwrap();
    let status = r.status();
    let url = format!("{}?{}", r.url().path(), r.url().query().unwrap_or(""));
    (status, url, r.text().await.unwrap())
}

/// Posts a page form with the CSRF token of the page at `from`, following the redirect: the final
/// page's status, path with query, and body.
async fn post_form(api: &Api, from: &str, action: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
    let (_, _, html) = page(api, from).await;
    let csrf = html.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF field on the page").to_string();
    let mut form: Vec<(&str, &str)> = vec![("_csrf", &csrf)];
    form.extend_from_slice(fields);
    let r = api.client.post(format!("{}{action}", origin(api))).form(&form).send().await.unwrap();
    let status = r.status();
    let url = format!("{}?{}", r.url().path(), r.url().query().unwrap_or(""));
    (status, url, r.text().await.unwrap())
}

async fn put(api: &Api, path: &str, body: &Value) -> (StatusCode, Value) {
    let r = api.client.put(format!("{}{path}", api.base)).json(body).send().await.unwrap();
    let s = r.status();
    let t = r.text().await.unwrap();
    (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

async fn delete(api: &Api, path: &str) -> StatusCode {
    api.client.delete(format!("{}{path}", api.base)).send().await.unwrap().status()
}

async fn submitted(gp: &Api, overrides: Value) -> String {
    let id = complete_draft(gp, "hackney-rash", "ras", overrides).await;
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, b["status"].as_str()), (StatusCode::OK, Some("submitted")), "{b}");
    id
}

/// The audit trail's entries of one action (read from the demo's own database).
async fn audit_actions(server: &Server, action: &str) -> Vec<telederm_store::AuditEntry> {
    let store = telederm_store::Store::connect_without_migrating(&format!("sqlite://{}", server.data_dir.join("telederm.db").display()))
        .await
        .unwrap();
    let f = telederm_store::AuditFilter { action: Some(action.into()), ..Default::default() };
    let rows = store.search_audit(&f).await.unwrap();
    store.close().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_phrases_are_written_by_service_admins_and_read_by_the_services_consultants() {
    let server = Server::demo().await;
    let admin = server.sign_in_as("service_admin").await;
    let consultant = server.sign_in_as("consultant").await;
    let gp = server.sign_in_as("referrer").await;
    let system = server.sign_in_as("system_admin").await;
    let body = json!({"kind": "plan", "title": "Tinea: topical antifungal", "body": "Terbinafine 1% cream twice daily for 2 weeks.", "position": 9});

    // Only the service's admins write.
    for (who, api) in [("consultant", &consultant), ("referrer", &gp), ("system admin", &system)] {
        let (s, b) = api.post("/services/hackney-rash/phrases", &body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{who}: {b}");
        assert_eq!(b["code"], "forbidden");
    }
    let (s, created) = admin.post("/services/hackney-rash/phrases", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!((created["kind"].as_str(), created["service_id"].as_str()), (Some("plan"), Some("hackney-rash")));

    // Checked: kind, title, text; one title per service and kind.
    for (bad, what) in [
        (json!({"kind": "letter", "title": "x", "body": "y"}), "kind"),
        (json!({"kind": "plan", "title": " ", "body": "y"}), "title"),
        (json!({"kind": "safety_net", "title": "x", "body": ""}), "text"),
    ] {
        let (s, b) = admin.post("/services/hackney-rash/phrases", &bad).await;
        assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_phrase")), "{what}: {b}");
    }
    let (s, b) = admin.post("/services/hackney-rash/phrases", &body).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{b}");
    let (s, b) = admin.post("/services/no-such-service/phrases", &body).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");

    // The service's consultants read them (and the seeded ones); referrers do not.
    let (s, list) = consultant.get("/services/hackney-rash/phrases").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let titles: Vec<&str> = list["phrases"].as_array().unwrap().iter().filter_map(|p| p["title"].as_str()).collect();
    assert!(titles.contains(&"Tinea: topical antifungal") && titles.contains(&"Standard safety-netting"), "{titles:?}");
    let (s, _) = gp.get("/services/hackney-rash/phrases").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Changed, then deleted; each write is in the audit trail (and each refusal).
    let (s, b) = put(&admin, &format!("/services/hackney-rash/phrases/{id}"), &json!({"kind": "plan", "title": "Tinea: topical antifungal", "body": "Terbinafine 1% cream once daily for 1 to 2 weeks."})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["body"].as_str().unwrap().contains("once daily"));
    let (s, b) = put(&consultant, &format!("/services/hackney-rash/phrases/{id}"), &body).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    // Another service's path does not reach this service's phrase.
    let other = server_other_service(&admin).await;
    assert_eq!(delete(&admin, &format!("/services/{other}/phrases/{id}")).await, StatusCode::NOT_FOUND);
    assert_eq!(delete(&admin, &format!("/services/hackney-rash/phrases/{id}")).await, StatusCode::NO_CONTENT);
    assert_eq!(delete(&admin, &format!("/services/hackney-rash/phrases/{id}")).await, StatusCode::NOT_FOUND);
    let (_, list) = consultant.get("/services/hackney-rash/phrases").await;
    assert!(!list["phrases"].as_array().unwrap().iter().any(|p| p["id"] == id.as_str()), "{list}");
    assert!(audit_actions(&server, "phrase.create").await.iter().any(|e| e.record_id.as_deref() == Some(id.as_str()) && e.outcome == "allowed"));
    assert!(audit_actions(&server, "phrase.update").await.iter().any(|e| e.record_id.as_deref() == Some(id.as_str()) && e.outcome == "allowed"));
    assert!(audit_actions(&server, "phrase.update").await.iter().any(|e| e.outcome == "denied"), "the consultant's refused change is audited");
    assert!(audit_actions(&server, "phrase.delete").await.iter().any(|e| e.record_id.as_deref() == Some(id.as_str()) && e.outcome == "allowed"));

    // The admin page lists them and adds one through its form; consultants cannot open it.
    let (s, _, html) = page(&admin, "/admin/phrases").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Eczema: emollients and topical steroid"), "seeded phrases are listed");
    let (s, url, html) = post_form(&admin, "/admin/phrases", "/admin/phrases", &[("service", "hackney-rash"), ("kind", "safety_net"), ("title", "Return if fever"), ("body", "Seek help the same day if a fever or spreading redness develops."), ("position", "3")]).await;
    assert_eq!((s, url.as_str()), (StatusCode::OK, "/admin/phrases?done=added"));
    assert!(html.contains("Return if fever"));
    let (s, url, html) = post_form(&admin, "/admin/phrases", "/admin/phrases", &[("service", "hackney-rash"), ("kind", "plan"), ("title", ""), ("body", "x")]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(url.starts_with("/admin/phrases?error="), "{url}");
    assert!(html.contains("short title"), "the form mistake is shown");
    let (s, _, _) = page(&consultant, "/admin/phrases").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// A service other than hackney-rash that the demo's service admin also runs.
async fn server_other_service(admin: &Api) -> String {
    let (_, me) = admin.get("/me").await;
    me["services"].as_array().unwrap().iter().filter_map(|s| s.as_str()).find(|s| *s != "hackney-rash").expect("a second demo service").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_and_open_next_case_lands_on_the_next_case_in_worklist_order() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    for _ in 0..3 {
        submitted(&gp, json!({})).await;
    }
    let (_, me) = consultant.get("/me").await;
    let me = me["id"].as_str().unwrap().to_string();
    // The first phrase of each kind of a case's service.
    let phrases_of = |service: String| {
        let c = &consultant;
        async move {
            let (_, list) = c.get(&format!("/services/{service}/phrases")).await;
            let first = |kind: &str| list["phrases"].as_array().unwrap().iter().find(|p| p["kind"] == kind).cloned().unwrap();
            (first("plan"), first("safety_net"))
        }
    };

    // Three cases in a row, each answered from the worklist's first workable case.
    let (_, list) = consultant.get("/worklist").await;
    let workable = |list: &Value| -> Vec<String> {
        list["referrals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "submitted" || (r["status"] == "in_review" && r["assignee_id"] == me.as_str()))
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let mut current = workable(&list)[0].clone();
    // The worklist opens the first of them.
    let (_, _, wl) = page(&consultant, "/worklist").await;
    assert!(wl.contains(&format!("href=\"/referrals/{current}\" data-next-case>Open the next case")), "the worklist's next case");
    for _ in 0..3 {
        let (_, list) = consultant.get("/worklist").await;
        let order = workable(&list);
        assert_eq!(order[0], current, "the case opened is the first workable one");
        let expected_next = order[1].clone();
        let case = format!("/referrals/{current}");
        let (_, r) = consultant.get(&case).await;
        if r["referral"]["status"] == "submitted" {
            let (s, _, _) = post_form(&consultant, &case, &format!("{case}/claim"), &[]).await;
            assert_eq!(s, StatusCode::OK);
        }
        let (plan, safety) = phrases_of(r["referral"]["service_id"].as_str().unwrap().to_string()).await;
        // Without JavaScript: the phrases are picked from the lists and added by the server.
        let (s, url, html) = post_form(
            &consultant,
            &case,
            &format!("{case}/outcome"),
            &[
                ("action", "outcome"),
                ("code", "advice_management_plan"),
                ("diagnosis", "Atopic dermatitis"),
                ("management_plan", ""),
                ("plan_phrase", plan["id"].as_str().unwrap()),
                ("follow_up", ""),
                ("safety_phrase", safety["id"].as_str().unwrap()),
                ("leaflet", "nhs-atopic-eczema"),
                ("priority", ""),
                ("onward_service", ""),
                ("then", "next"),
            ],
        )
        .await;
        assert_eq!((s, url.clone()), (StatusCode::OK, format!("/referrals/{expected_next}?done=outcome_next")), "{}", &html[..html.len().min(400)]);
        assert!(html.contains("This is the next case on your worklist"));
        let (_, done) = consultant.get(&case).await;
        let o = &done["referral"]["outcome"];
        assert_eq!(done["referral"]["status"], "outcome_issued", "{done}");
        assert_eq!(o["management_plan"], plan["body"], "the saved phrase is the plan");
        assert!(o["follow_up"].as_str().unwrap().starts_with(safety["body"].as_str().unwrap()), "{o}");
        assert!(o["follow_up"].as_str().unwrap().contains("https://www.nhs.uk/conditions/atopic-eczema/"), "the leaflet is linked: {o}");
        assert_eq!((o["diagnosis"].as_str(), o["diagnosis_code"].as_str()), (Some("Atopic dermatitis"), Some("24079001")), "a listed term is coded");
        current = expected_next;
    }

    // The same phrase picked again (JavaScript already put its text in the field) is not doubled.
    let case = format!("/referrals/{current}");
    let (_, r) = consultant.get(&case).await;
    if r["referral"]["status"] == "submitted" {
        post_form(&consultant, &case, &format!("{case}/claim"), &[]).await;
    }
    let service = r["referral"]["service_id"].as_str().unwrap().to_string();
    let (plan, _) = phrases_of(service.clone()).await;
    // A phrase of another service is refused as a form mistake, shown on the case.
    let other = if service == "hackney-rash" { "clinical-partnership" } else { "hackney-rash" };
    let (foreign, _) = phrases_of(other.to_string()).await;
    let (s, url, html) = post_form(&consultant, &case, &format!("{case}/outcome"), &[("action", "outcome"), ("code", "advice_management_plan"), ("management_plan", "x"), ("plan_phrase", foreign["id"].as_str().unwrap())]).await;
    assert_eq!(s, StatusCode::OK, "{url} {}", html.split("<main").nth(1).unwrap_or(&html).chars().take(600).collect::<String>());
    assert!(url.starts_with(&format!("{case}?error=")), "{url}");
    assert!(html.contains("not one of this service"), "the refusal is shown");
    let text = plan["body"].as_str().unwrap();
    let (s, url, _) = post_form(&consultant, &case, &format!("{case}/outcome"), &[("action", "outcome"), ("code", "advice_management_plan"), ("diagnosis", "Itchy patches, probably eczema"), ("management_plan", text), ("plan_phrase", plan["id"].as_str().unwrap())]).await;
    assert_eq!((s, url.as_str()), (StatusCode::OK, format!("{case}?done=outcome").as_str()), "without then=next the case page comes back");
    let (_, done) = consultant.get(&case).await;
    assert_eq!(done["referral"]["outcome"]["management_plan"].as_str(), Some(text));
    assert!(done["referral"]["outcome"].get("diagnosis_code").is_none(), "free text stays uncoded: {}", done["referral"]["outcome"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coded_diagnosis_is_exported_as_a_fhir_condition() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let id = submitted(&gp, json!({})).await;
    let (s, _) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!(s, StatusCode::OK);

    // The list the consultant picks from.
    let (s, list) = consultant.get("/diagnoses?q=psoria").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!((list["system"].as_str(), list["diagnoses"][0]["code"].as_str()), (Some("http://snomed.info/sct"), Some("9014002")));

    // A code not on the list is refused; the term is written when no text is given.
    let (s, b) = consultant.post(&format!("/referrals/{id}/outcome"), &json!({"code": "advice_management_plan", "diagnosis_code": "123456", "management_plan": "Emollients"})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_outcome")), "{b}");
    let (s, b) = consultant.post(&format!("/referrals/{id}/outcome"), &json!({"code": "advice_management_plan", "diagnosis_code": "9014002", "management_plan": "Potent topical steroid with a vitamin D analogue."})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["outcome"]["diagnosis"].as_str(), b["outcome"]["diagnosis_code"].as_str()), (Some("Psoriasis"), Some("9014002")));

    let (s, bundle) = consultant.get(&format!("/fhir/ServiceRequest/{id}/$everything")).await;
    assert_eq!(s, StatusCode::OK, "{bundle}");
    let resources: Vec<&Value> = bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
    let conditions: Vec<&&Value> = resources.iter().filter(|r| r["resourceType"] == "Condition").collect();
    assert_eq!(conditions.len(), 1, "{bundle}");
    let c = conditions[0];
    assert_eq!(c["code"]["coding"][0], json!({"system": "http://snomed.info/sct", "code": "9014002", "display": "Psoriasis"}));
    assert_eq!(c["code"]["text"], "Psoriasis");
    assert_eq!(c["verificationStatus"]["coding"][0]["code"], "provisional");
    assert_eq!(c["category"][0]["coding"][0]["code"], "encounter-diagnosis");
    // It points at resources in the same Bundle.
    let patient = c["subject"]["reference"].as_str().unwrap().trim_start_matches("Patient/");
    assert!(resources.iter().any(|r| r["resourceType"] == "Patient" && r["id"] == patient), "{c}");
    let task = resources.iter().find(|r| r["resourceType"] == "Task").unwrap();
    let coded = task["output"].as_array().unwrap().iter().find(|o| o["type"]["coding"][0]["code"] == "diagnosis-code").expect("the Task carries the code");
    assert_eq!(coded["valueCodeableConcept"]["coding"][0]["code"], "9014002");

    // The case page shows the code with the diagnosis.
    let (_, _, html) = page(&consultant, &format!("/referrals/{id}")).await;
    assert!(html.contains("(SNOMED CT 9014002)"), "the code is shown");
}

/// The width and height in a JPEG's frame header.
fn jpeg_dims(b: &[u8]) -> (u32, u32) {
    let mut i = 2;
    while i + 9 < b.len() {
        assert_eq!(b[i], 0xFF, "a JPEG marker at {i}");
        let marker = b[i + 1];
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        if matches!(marker, 0xC0..=0xC3) {
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
            return (w, h);
        }
        i += 2 + len;
    }
    panic!("no frame header");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewers_preview_is_made_to_size_within_bounds() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let id = submitted(&gp, json!({})).await;
    let (_, photos) = consultant.get(&format!("/referrals/{id}/photos")).await;
    let p = &photos["photos"][0];
    let (w, h) = (p["width"].as_u64().unwrap() as u32, p["height"].as_u64().unwrap() as u32);
    assert_eq!((w, h), (1600, 1200), "the test photo");
    let base = format!("{}/referrals/{id}/photos/{}", consultant.base, p["id"].as_str().unwrap());
    let get = |q: String| {
        let c = consultant.client.clone();
        async move {
            let r = c.get(q).send().await.unwrap();
            let s = r.status();
            let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            (s, ct, r.bytes().await.unwrap().to_vec())
        }
    };
    for (size, long) in [(256, 256u32), (800, 800), (1600, 1600), (4096, 1600)] {
        let (s, ct, bytes) = get(format!("{base}/preview?size={size}")).await;
        assert_eq!((s, ct.as_str()), (StatusCode::OK, "image/jpeg"), "size {size}");
        let (dw, dh) = jpeg_dims(&bytes);
        assert_eq!(dw.max(dh), long, "size {size}: never larger than asked, never enlarged");
        assert_eq!(dw * h, dh * w, "the aspect ratio is kept");
    }
    for bad in ["100", "4097", "100000", "big"] {
        let (s, _, body) = get(format!("{base}/preview?size={bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "size {bad}");
        let b: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(b["code"], "invalid_query", "{b}");
    }
    let (s, _, original) = get(format!("{base}/original?size=800")).await;
    assert_eq!((s, jpeg_dims(&original)), (StatusCode::OK, (1600, 1200)), "the other variants are served as stored");
    // Someone who may not see the referral gets nothing, sized or not.
    let other = server.anonymous();
    let (s, _, _) = {
        let r = other.client.get(format!("{base}/preview?size=800")).send().await.unwrap();
        (r.status(), (), ())
    };
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(audit_actions(&server, "photo.download").await.iter().any(|e| e.detail == "variant=preview size=800"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_case_page_shows_who_referred_the_body_sites_the_checklist_warnings_and_the_timeline() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let id = submitted(&gp, json!({"body_sites": ["arm", "face"], "images_taken_by": "patient", "seen_face_to_face": false})).await;
    let (s, _) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, html) = page(&consultant, &format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::OK);

    let (gp_email, _) = server.demo_credentials()["referrer"].clone();
    assert!(html.contains("data-referrer>Dr Asha Patel (GP)"), "the referrer");
    assert!(html.contains("data-practice>Nuttall Street Practice (demo)"), "the practice");
    assert!(html.contains(&format!("href=\"mailto:{gp_email}\"")), "how to reach them");
    assert!(html.contains("data-sex>Female"), "the patient's sex");
    // The diagram marks exactly the checklist's sites, and says so in text.
    let marked: Vec<&str> = html.split("app-body__part app-body__part--on\" data-site=\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    let mut sites = marked.clone();
    sites.dedup();
    assert_eq!(sites, ["arm", "face"], "{marked:?}");
    assert!(html.contains("Sites marked: arm, face."));
    assert!(html.contains("<li>Arm</li>") && html.contains("<li>Face</li>"));
    // The checklist's warnings, quoted.
    assert!(html.contains("Photos taken by the patient, not a clinician"), "patient-taken photos");
    assert!(html.contains("Not seen face to face: the GP answered &quot;Seen face to face: No&quot;") || html.contains("Not seen face to face: the GP answered &#34;Seen face to face: No&#34;"), "not seen face to face");
    assert!(html.contains("The referrer's checklist answers"));
    // The timeline: started, photos added, sent.
    let timeline = html.split("data-timeline").nth(1).unwrap();
    let started = timeline.find("Draft started").expect("started");
    let photo = timeline.find("Photo 1 added (locator)").expect("photo");
    let sent = timeline.find("Sent to the service").expect("sent");
    assert!(started < photo && photo < sent, "oldest first");
    // The viewer: sized previews for each photo, and the links that work without JavaScript.
    assert_eq!(html.matches("?size=1600\" data-zoom-src=").count(), 3, "three photos with a large preview");
    assert!(html.contains("data-viewer hidden"), "the viewer waits for its script");
    assert!(html.contains("Full-resolution original<span class=\"nhsuk-u-visually-hidden\"> of photo 1"));
    assert!(html.contains("Record and open next case"), "the consultant may answer and move on");
    assert!(html.contains("<option value=\"Psoriasis\" data-code=\"9014002\">"), "the coded diagnosis list");
    assert!(html.contains("Plastic surgery"), "onward referral beyond teledermatology");

    // The worklist counts open referrals per service and status.
    let (_, _, wl) = page(&consultant, "/worklist").await;
    let row = wl.split("data-count-service=\"hackney-rash\"").nth(1).expect("a row for the service").split("</tr>").next().unwrap();
    let (_, list) = consultant.get("/worklist?service=hackney-rash&status=submitted").await;
    let waiting = list["referrals"].as_array().unwrap().len();
    assert!(row.contains(&format!("data-count=\"submitted\">{waiting}<")), "{row} vs {waiting}");
    // A referrer's view of the same page does not show the consultant's tools.
    let (_, _, mine) = page(&gp, &format!("/referrals/{id}")).await;
    assert!(!mine.contains("data-referrer>") && !mine.contains("Record and open next case"));
}
