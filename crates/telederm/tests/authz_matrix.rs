//! The authorisation matrix: every API route (from the OpenAPI document, which another test keeps
//! equal to the router) and every page route (from the page modules' sources) is called as
//! anonymous, as each role, and as each role from another organisation, and the answer is checked
//! against the table below. A route without a row fails the test, so a new route cannot ship
//! without someone deciding who may use it. Then IDOR: guessed and foreign ids never reveal
//! anything.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Server;
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    ReferrerOther,
    ConsultantOther,
    ServiceAdminOther,
    SystemAdmin,
    ServiceAdmin,
    Consultant,
    Referrer,
}
use Who::*;

/// Denied identities first, so that allowed calls (which may change the referral) come last.
const EVERYONE: [Who; 8] = [Anonymous, ReferrerOther, ConsultantOther, ServiceAdminOther, SystemAdmin, ServiceAdmin, Consultant, Referrer];
const SIGNED_IN: &[Who] = &[ReferrerOther, ConsultantOther, ServiceAdminOther, SystemAdmin, ServiceAdmin, Consultant, Referrer];
/// Who may see the practice's submitted referral R (and its photos, letters, FHIR bundle).
const SEES_R: &[Who] = &[Referrer, Consultant, ServiceAdmin];
const REFERRERS: &[Who] = &[Referrer, ReferrerOther];
const SERVICE_STAFF: &[Who] = &[Consultant, ServiceAdmin, ConsultantOther, ServiceAdminOther];
const ADMINS: &[Who] = &[ServiceAdmin, ServiceAdminOther, SystemAdmin];
const PUBLIC: &[Who] = &EVERYONE;
/// Who may see practice-quality reports: GPs (their own practice) and service admins (their
/// services' practices; one with no services sees an empty report).
const REPORT_READERS: &[Who] = &[Referrer, ReferrerOther, ServiceAdmin, ServiceAdminOther];
/// Who may see teaching cases (issue 17): every referrer, consultant and service admin, whatever
/// their organisation (the cases carry no patient identifiers).
const TEACHING_READERS: &[Who] = &[Referrer, ReferrerOther, Consultant, ConsultantOther, ServiceAdmin, ServiceAdminOther];

/// What an allowed caller gets back. Never "anything but a refusal": a 500 is a wrong answer.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// Exactly this status (and, for a JSON answer, no error `code` in the body).
    Status(u16),
    /// Exactly this documented refusal that is not about permission (the row's fixture state makes
    /// the action illegal or the input wrong): the status and the error body's `code`.
    Refused(u16, &'static str),
}
use Answer::*;

/// How a row is judged.
#[derive(Clone, Copy)]
enum Check {
    /// Allowed: exactly the answer given. Denied: 401 when anonymous, else 403 or 404.
    Access(Answer),
    /// A list every signed-in user may ask for: 200, and the referral R is listed only for `allowed`.
    ListsR,
    /// About a record that does not exist: the allowed get past the permission check to a 404
    /// whose message contains this text; the others are refused (401, 403).
    ReachesMissing(&'static str),
}

struct Row {
    method: &'static str,
    route: &'static str,
    allowed: &'static [Who],
    check: Check,
}

/// A row whose allowed callers get a page (200) or a redirect that is not to the sign-in page.
const fn row(method: &'static str, route: &'static str, allowed: &'static [Who]) -> Row {
    Row { method, route, allowed, check: Check::Access(Status(200)) }
}

/// An API row: `allowed` get exactly `answer`.
const fn api(method: &'static str, route: &'static str, allowed: &'static [Who], answer: Answer) -> Row {
    Row { method, route, allowed, check: Check::Access(answer) }
}

/// Who may call each API route (paths as in the OpenAPI document, under /api/v1).
/// `{id}` is R (a submitted referral of the demo practice) for reads and consultant actions, D (a
/// draft of the same practice) for draft edits.
fn api_rows() -> Vec<Row> {
    vec![
        api("get", "/openapi.json", PUBLIC, Status(200)),
        // The body's credentials are wrong (the fixture): past the permission check, refused as such.
        api("post", "/auth/sign-in", PUBLIC, Refused(401, "invalid_credentials")),
        api("post", "/auth/change-password", SIGNED_IN, Refused(401, "invalid_credentials")),
        api("get", "/me", SIGNED_IN, Status(200)),
        api("get", "/services", SIGNED_IN, Status(200)),
        api("get", "/services/{id}", SIGNED_IN, Status(200)),
        // No date of birth or postcode (the fixture): checked, and refused for what is missing.
        api("get", "/services/suggestions", SIGNED_IN, Refused(400, "invalid_query")),
        // No answers (the fixture): checked, and refused for what is missing.
        api("post", "/eligibility/check", SIGNED_IN, Refused(422, "invalid_eligibility_answers")),
        // Lists first, while R is still open (the actions below move it on).
        Row { method: "get", route: "/referrals", allowed: &[Referrer, Consultant, ServiceAdmin], check: Check::ListsR },
        Row { method: "get", route: "/worklist", allowed: &[Consultant, ServiceAdmin], check: Check::ListsR },
        api("post", "/referrals", REFERRERS, Status(201)),
        api("get", "/referrals/{id}", SEES_R, Status(200)),
        api("patch", "/referrals/{id}", &[Referrer], Status(200)),
        // D has no photos yet: it may not be sent.
        api("post", "/referrals/{id}/submit", &[Referrer], Refused(422, "incomplete_referral")),
        // R through its whole review: claimed, a question, the answer, the outcome.
        api("post", "/referrals/{id}/claim", &[Consultant], Status(200)),
        api("post", "/referrals/{id}/request-information", &[Consultant], Status(200)),
        api("post", "/referrals/{id}/reply", &[Referrer], Status(200)),
        api("post", "/referrals/{id}/outcome", &[Consultant], Status(200)),
        // With its outcome issued, R can no longer be withdrawn; it can be closed.
        api("post", "/referrals/{id}/withdraw", &[Referrer], Refused(409, "illegal_transition")),
        api("post", "/referrals/{id}/close", &[Referrer], Status(200)),
        // Closed, R is no draft to discard; it can be copied into a new draft.
        api("post", "/referrals/{id}/discard", &[Referrer], Refused(409, "illegal_transition")),
        api("post", "/referrals/{id}/copy", &[Referrer], Status(201)),
        api("get", "/referrals/{id}/photos", SEES_R, Status(200)),
        api("post", "/referrals/{id}/photos", &[Referrer], Status(201)),
        // D's photo shows no face: nothing to confirm.
        api("post", "/referrals/{id}/photos/{photo_id}/face-not-identifiable", &[Referrer], Refused(409, "no_face_detected")),
        api("get", "/referrals/{id}/photos/{photo_id}/{variant}", SEES_R, Status(200)),
        // Issue 14: documents (PDFs) on a referral, like photos: the practice's referrers add them
        // to a draft (D); whoever sees R reads R's (the demo's referral letter).
        api("get", "/referrals/{id}/documents", SEES_R, Status(200)),
        api("post", "/referrals/{id}/documents", &[Referrer], Status(201)),
        api("get", "/referrals/{id}/documents/{document_id}", SEES_R, Status(200)),
        // The onward-services directory (no patient data).
        api("get", "/directory", SIGNED_IN, Status(200)),
        // Over HTTP an import is a referral from the caller: referrers only (operators restore with the CLI).
        api("post", "/fhir", &[Referrer], Status(201)),
        api("get", "/fhir/ServiceRequest/{id}/$everything", SEES_R, Status(200)),
        // A published definition (no patient data), like the OpenAPI document.
        api("get", "/fhir/Questionnaire/telederm-referral", PUBLIC, Status(200)),
        api("get", "/referrals/{id}/letters/{kind}", SEES_R, Status(200)),
        // Reports (issue 17): a service's reports for its admins only (`?service=` is the demo's).
        api("get", "/reports/practice-quality", REPORT_READERS, Status(200)),
        api("get", "/reports/equity", &[ServiceAdmin], Status(200)),
        api("get", "/reports/service", &[ServiceAdmin], Status(200)),
        // Teaching cases (issue 17): R's patient did not consent to teaching; R is no teaching case.
        api("post", "/referrals/{id}/teaching", &[Consultant], Refused(422, "teaching_consent_missing")),
        api("delete", "/referrals/{id}/teaching", &[Consultant], Refused(404, "not_found")),
        api("get", "/teaching", TEACHING_READERS, Status(200)),
        Row { method: "get", route: "/teaching/{id}", allowed: TEACHING_READERS, check: Check::ReachesMissing("teaching case") },
        Row { method: "get", route: "/teaching/{id}/photos/{photo_id}", allowed: TEACHING_READERS, check: Check::ReachesMissing("teaching case") },
        // Issue 15: the coded-diagnosis list (no patient data); saved phrases, read by the
        // service's consultants and admins, written by its admins.
        api("get", "/diagnoses", SIGNED_IN, Status(200)),
        api("get", "/services/{id}/phrases", &[Consultant, ServiceAdmin], Status(200)),
        api("post", "/services/{id}/phrases", &[ServiceAdmin], Status(201)),
        Row { method: "put", route: "/services/{id}/phrases/{phrase_id}", allowed: &[ServiceAdmin], check: Check::ReachesMissing("saved phrase") },
        Row { method: "delete", route: "/services/{id}/phrases/{phrase_id}", allowed: &[ServiceAdmin], check: Check::ReachesMissing("saved phrase") },
        // Operations (system administrators), and the probes outside /api/v1.
        api("get", "/admin/jobs", &[SystemAdmin], Status(200)),
        Row { method: "post", route: "/admin/jobs/{id}/retry", allowed: &[SystemAdmin], check: Check::ReachesMissing("dead job") },
        api("get", "/readyz", PUBLIC, Status(200)),
        api("get", "/metrics", PUBLIC, Status(200)),
        // Last: these change the draft's documents and photos and the session itself.
        api("delete", "/referrals/{id}/documents/{document_id}", &[Referrer], Status(204)),
        api("delete", "/referrals/{id}/photos/{photo_id}", &[Referrer], Status(204)),
        api("post", "/auth/sign-out", PUBLIC, Status(204)),
    ]
}

/// Who may use each page. GETs are all called; POSTs are called (with the caller's own valid form
/// token) for the identities that must be refused here, and for the allowed ones, with a real form
/// and an exact expected answer, in `allowed_page_posts_get_exactly_their_answer`.
fn page_rows() -> Vec<Row> {
    vec![
        row("get", "/", SIGNED_IN),
        row("get", "/sign-in", PUBLIC),
        row("post", "/sign-in", PUBLIC),
        row("post", "/sign-out", SIGNED_IN),
        row("get", "/auth/oidc/start", &[]),
        row("get", "/auth/oidc/callback", &[]),
        row("get", "/referrals", REFERRERS),
        row("get", "/referrals/new", REFERRERS),
        row("post", "/referrals/new", REFERRERS),
        row("get", "/referrals/{id}/start", &[Referrer]),
        row("post", "/referrals/{id}/start", &[Referrer]),
        row("get", "/referrals/{id}/eligibility", &[Referrer]),
        row("post", "/referrals/{id}/eligibility", &[Referrer]),
        row("get", "/referrals/{id}/details", &[Referrer]),
        row("post", "/referrals/{id}/details", &[Referrer]),
        row("get", "/referrals/{id}/photos", &[Referrer]),
        row("post", "/referrals/{id}/photos", &[Referrer]),
        row("post", "/referrals/{id}/photos/{photo_id}/kind", &[Referrer]),
        row("post", "/referrals/{id}/photos/{photo_id}/delete", &[Referrer]),
        row("post", "/referrals/{id}/documents", &[Referrer]),
        row("post", "/referrals/{id}/documents/{document_id}/delete", &[Referrer]),
        row("get", "/referrals/{id}/review", &[Referrer]),
        row("post", "/referrals/{id}/submit", &[Referrer]),
        row("post", "/referrals/{id}/reply", &[Referrer]),
        row("post", "/referrals/{id}/photos/{photo_id}/confirm-face", &[Referrer]),
        row("post", "/referrals/{id}/withdraw", &[Referrer]),
        row("post", "/referrals/{id}/discard", &[Referrer]),
        row("post", "/referrals/{id}/close", &[Referrer]),
        row("post", "/referrals/{id}/copy", &[Referrer]),
        row("get", "/worklist", SERVICE_STAFF),
        row("get", "/referrals/{id}", SEES_R),
        row("post", "/referrals/{id}/claim", &[Consultant]),
        row("post", "/referrals/{id}/request-information", &[Consultant]),
        row("post", "/referrals/{id}/outcome", &[Consultant]),
        row("post", "/referrals/{id}/patient-links", &[Referrer]),
        row("post", "/referrals/{id}/patient-links/{link_id}/revoke", &[Referrer]),
        row("get", "/admin", ADMINS),
        row("get", "/admin/users", &[SystemAdmin]),
        row("post", "/admin/users", &[SystemAdmin]),
        row("get", "/admin/services", ADMINS),
        row("get", "/admin/jobs", &[SystemAdmin]),
        row("post", "/admin/jobs/{id}/retry", &[SystemAdmin]),
        row("get", "/admin/audit", ADMINS),
        row("get", "/admin/feedback.csv", ADMINS),
        row("get", "/reports", REPORT_READERS),
        row("get", "/reports/practice-quality", REPORT_READERS),
        row("get", "/reports/practice-quality.csv", REPORT_READERS),
        row("get", "/reports/practice-quality.pdf", REPORT_READERS),
        row("get", "/reports/equity", &[ServiceAdmin]),
        row("get", "/reports/equity.csv", &[ServiceAdmin]),
        row("get", "/reports/service", &[ServiceAdmin]),
        row("get", "/reports/service.csv", &[ServiceAdmin]),
        row("get", "/teaching", TEACHING_READERS),
        // No teaching case has R's id: the allowed reach "not found".
        Row { method: "get", route: "/teaching/{id}", allowed: TEACHING_READERS, check: Check::ReachesMissing("teaching case") },
        row("post", "/referrals/{id}/teaching", &[Consultant]),
        row("post", "/referrals/{id}/teaching/remove", &[Consultant]),
        row("get", "/admin/phrases", &[ServiceAdmin, ServiceAdminOther]),
        row("post", "/admin/phrases", &[ServiceAdmin]),
        row("post", "/admin/phrases/{id}", &[ServiceAdmin]),
        row("post", "/admin/phrases/{id}/delete", &[ServiceAdmin]),
        // Patient pages answer by link token only; an unknown token is "not available" for all.
        row("get", "/p/{token}", &[]),
        row("post", "/p/{token}", &[]),
        row("post", "/p/{token}/photos", &[]),
        row("post", "/p/{token}/done", &[]),
        row("post", "/p/{token}/photos/{photo_id}/remove", &[]),
        row("post", "/p/{token}/answers", &[]),
        row("post", "/p/{token}/feedback", &[]),
        row("get", "/assets/{*path}", PUBLIC),
        row("get", "/favicon.ico", PUBLIC),
    ]
}

/// (method, route) pairs the page modules register, read from their sources.
fn page_routes_in_source() -> BTreeSet<(String, String)> {
    let sources = [
        include_str!("../../web/src/pages/mod.rs"),
        include_str!("../../web/src/pages/gp.rs"),
        include_str!("../../web/src/pages/consultant.rs"),
        include_str!("../../web/src/pages/admin.rs"),
        include_str!("../../web/src/pages/patient.rs"),
        include_str!("../../web/src/pages/assets.rs"),
        include_str!("../../web/src/pages/oidc.rs"),
        include_str!("../../web/src/pages/reports.rs"),
        include_str!("../../web/src/pages/phrases.rs"),
        include_str!("../../web/src/pages/teaching.rs"),
    ];
    let mut out = BTreeSet::new();
    for source in sources {
        for chunk in source.split(".route(").skip(1) {
            let Some(path) = chunk.trim_start().strip_prefix('"').and_then(|r| r.split('"').next()) else { continue };
            // The arguments of this `.route(...)` call, by matching parentheses.
            let mut depth = 1;
            let end = chunk
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(chunk.len(), |(i, _)| i);
            let call = &chunk[..end];
            for method in ["get", "post", "delete", "patch"] {
                if call.contains(&format!("{method}(")) {
                    out.insert((method.to_string(), path.to_string()));
                }
            }
        }
    }
    out
}

struct World {
    server: Server,
    /// Session token per identity.
    tokens: BTreeMap<Who, String>,
    r: String,
    r_photo: String,
    d: String,
    d_photo: String,
    /// The demo's referral letter on R, and a document the referrer adds to D.
    r_document: String,
    d_document: String,
    fhir_bundle: Value,
}

fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn token_for(server: &Server, email: &str, password: &str) -> String {
    let r = client().post(format!("{}/api/v1/auth/sign-in", server.base)).json(&json!({"email": email, "password": password})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "sign in {email}");
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.trim_start_matches("telederm_session=").split(';').next().unwrap().to_string()
}

async fn world() -> World {
    let server = Server::demo().await;
    let creds = server.demo_credentials();
    let mut tokens = BTreeMap::new();
    for (who, role) in [(Referrer, "referrer"), (Consultant, "consultant"), (ServiceAdmin, "service_admin"), (SystemAdmin, "system_admin")] {
        let (email, password) = &creds[role];
        tokens.insert(who, token_for(&server, email, password).await);
    }
    // Another practice and another provider, each with its own people.
    for args in [
        vec!["organisation", "add", "--ods", "Y99999", "--name", "Elsewhere Practice", "--kind", "practice"],
        vec!["organisation", "add", "--ods", "RZZ", "--name", "Elsewhere Dermatology", "--kind", "provider"],
    ] {
        let (ok, out, err) = server.cli(&args, &[]);
        assert!(ok, "{out}{err}");
    }
    let password = "amber kestrel meadow";
    for (who, email, role, org) in [
        (ReferrerOther, "gp@elsewhere.nhs.uk", "referrer", "Y99999"),
        (ConsultantOther, "derm@elsewhere.nhs.uk", "consultant", "RZZ"),
        (ServiceAdminOther, "admin@elsewhere.nhs.uk", "service_admin", "RZZ"),
    ] {
        let (ok, out, err) = server.cli(
            &["user", "add", "--email", email, "--name", "Other Person", "--role", role, "--organisation", org, "--password-env", "PW"],
            &[("PW", password)],
        );
        assert!(ok, "{out}{err}");
        tokens.insert(who, token_for(&server, email, password).await);
    }
    // A consultant cannot be given a service their organisation does not run.
    let (ok, _, err) = server.cli(
        &["user", "add", "--email", "x@elsewhere.nhs.uk", "--name", "X", "--role", "consultant", "--organisation", "RZZ", "--service", "hackney-rash", "--password-env", "PW"],
        &[("PW", password)],
    );
    assert!(!ok && err.contains("does not run"), "{err}");

    let gp = |path: &str| {
        let url = format!("{}/api/v1{path}", server.base);
        let token = tokens[&Referrer].clone();
        async move {
            let r = client().get(url).header(header::COOKIE, format!("telederm_session={token}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let list = gp("/referrals").await;
    let rows = list["referrals"].as_array().unwrap();
    let find = |status: &str| {
        rows.iter().find(|r| r["status"] == status).and_then(|r| r["id"].as_str()).unwrap_or_else(|| panic!("a {status} demo referral")).to_string()
    };
    let (r, d) = (find("submitted"), find("draft"));
    let first_photo = |v: Value| v["photos"][0]["id"].as_str().expect("a photo").to_string();
    let r_photo = first_photo(gp(&format!("/referrals/{r}/photos")).await);
    let d_photo = first_photo(gp(&format!("/referrals/{d}/photos")).await);
    let fhir_bundle = gp(&format!("/fhir/ServiceRequest/{r}/$everything")).await;
    let r_document = gp(&format!("/referrals/{r}/documents")).await["documents"][0]["id"].as_str().expect("the demo's referral letter on R").to_string();
    let added = client()
        .post(format!("{}/api/v1/referrals/{d}/documents", server.base))
        .header(header::COOKIE, format!("telederm_session={}", tokens[&Referrer]))
        .multipart(reqwest::multipart::Form::new().text("kind", "consent_form").part("file", reqwest::multipart::Part::bytes(common::sample_pdf(&["Consent"])).file_name("c.pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let d_document = added.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    World { server, tokens, r, r_photo, d, d_photo, r_document, d_document, fhir_bundle }
}

/// Which referral a route is about: draft edits use D, everything else R.
fn concrete(w: &World, route: &str, method: &str, page: bool) -> String {
    let draft_only = [
        "/start", "/eligibility", "/details", "/review", "/submit", "/patient-links",
    ];
    let uses_draft = ((route.contains("/photos") || route.contains("/documents")) && (method != "get" || page))
        || draft_only.iter().any(|s| route.contains(s))
        || (route == "/referrals/{id}" && method == "patch");
    let (id, photo, document) = if uses_draft { (&w.d, &w.d_photo, &w.d_document) } else { (&w.r, &w.r_photo, &w.r_document) };
    if route.starts_with("/services/{id}") {
        return route.replace("{id}", "hackney-rash").replace("{phrase_id}", "00000000-0000-0000-0000-000000000000");
    }
    if route.starts_with("/admin/phrases/{id}") {
        return route.replace("{id}", "00000000-0000-0000-0000-000000000000");
    }
    if route.starts_with("/reports/equity") || route.starts_with("/reports/service") {
        return format!("{route}?service=hackney-rash");
    }
    if route.starts_with("/admin/jobs/{id}") {
        return route.replace("{id}", "00000000-0000-0000-0000-000000000000");
    }
    route
        .replace("{id}", id)
        .replace("{photo_id}", photo)
        .replace("{document_id}", document)
        .replace("{variant}", "preview")
        .replace("{kind}", "gp")
        .replace("{link_id}", "00000000-0000-0000-0000-000000000000")
        .replace("{token}", &"0".repeat(64))
        .replace("{*path}", "app.css")
}

fn api_body(w: &World, who: Who, method: &str, route: &str) -> Option<Value> {
    let patient = json!({"nhs_number": "943 476 5919", "given_name": "Ada", "family_name": "Lovelace",
        "date_of_birth": "1980-05-17", "sex": "female", "postcode": "E8 1DY"});
    Some(match (method, route) {
        // One unknown account per caller, so that no account reaches the sign-in throttle.
        ("post", "/auth/sign-in") => json!({"email": format!("matrix-nobody-{who:?}@example.org"), "password": "not a password at all"}),
        ("post", "/auth/change-password") => json!({"current_password": "wrong wrong wrong", "new_password": "quiet harbour lantern"}),
        ("post", "/eligibility/check") => json!({"service": "hackney-rash", "answers": {}}),
        ("post", "/referrals") => json!({"service_id": "hackney-rash", "route": "ras", "patient": patient}),
        ("patch", _) => json!({}),
        ("post", "/referrals/{id}/request-information") | ("post", "/referrals/{id}/reply") => json!({"message": "Please send a close-up."}),
        ("post", "/referrals/{id}/outcome") => json!({"code": "advice_management_plan", "management_plan": "Emollients."}),
        ("post", "/referrals/{id}/withdraw") => json!({"reason": "matrix"}),
        ("post", "/referrals/{id}/teaching") => json!({"note": "Matrix note."}),
        ("post", "/fhir") => w.fhir_bundle.clone(),
        ("post" | "put", "/services/{id}/phrases") | ("put", "/services/{id}/phrases/{phrase_id}") => {
            json!({"kind": "plan", "title": format!("Matrix phrase {who:?}"), "body": "Emollients twice daily."})
        }
        ("post", _) => json!({}),
        _ => return None,
    })
}

async fn call(w: &World, who: Who, method: &str, url: &str, body: Option<Value>, multipart: bool, form: Option<Vec<(String, String)>>) -> reqwest::Response {
    call_with_file(w, who, method, url, body, multipart.then(tiny_jpeg), form).await
}

/// As [`call`], with `file` (when given) sent as a multipart photo upload.
async fn call_with_file(w: &World, who: Who, method: &str, url: &str, body: Option<Value>, file: Option<Vec<u8>>, form: Option<Vec<(String, String)>>) -> reqwest::Response {
    let c = client();
    let mut req = match method {
        "get" => c.get(url),
        "post" => c.post(url),
        "patch" => c.patch(url),
        "put" => c.put(url),
        "delete" => c.delete(url),
        other => panic!("method {other}"),
    };
    if let Some(token) = w.tokens.get(&who) {
        req = req.header(header::COOKIE, format!("telederm_session={token}"));
    }
    if let Some(file) = file {
        let kind = if url.contains("/documents") { "referral_letter" } else { "close_up" };
        let mut f = reqwest::multipart::Form::new().text("kind", kind).part("file", reqwest::multipart::Part::bytes(file).file_name("p.jpg"));
        for (k, v) in form.unwrap_or_default() {
            f = f.text(k, v);
        }
        req = req.multipart(f);
    } else if let Some(form) = form {
        req = req.form(&form);
    } else if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// A small file for callers who must be refused: a refusing server may answer before reading a
/// large body. (Allowed callers send a real photo.)
fn tiny_jpeg() -> Vec<u8> {
    let mut v = vec![0xff, 0xd8, 0xff, 0xe0];
    v.extend(std::iter::repeat_n(0u8, 256));
    v
}

fn csrf(token: &str) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("telederm-csrf\0{token}").as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_as_every_identity() {
    // Every routed API path and method has a row, and every row is a routed path.
    let doc: Value = serde_json::from_str(telederm_web::api::openapi::json()).unwrap();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, _)| *p != "/healthz")
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), p.clone())))
        .collect();
    let api = api_rows();
    let covered: BTreeSet<(String, String)> = api.iter().map(|r| (r.method.to_string(), r.route.to_string())).collect();
    assert_eq!(documented, covered, "every API route needs a row in api_rows() (and no row may name a route that does not exist)");
    let pages = page_rows();
    let page_covered: BTreeSet<(String, String)> = pages.iter().map(|r| (r.method.to_string(), r.route.to_string())).collect();
    assert_eq!(page_routes_in_source(), page_covered, "every page route needs a row in page_rows()");

    let w = world().await;
    let mut failures = Vec::new();
    // Pages first: their calls change nothing, and the API's last row signs everyone out.
    for r in &pages {
        let url = format!("{}{}", w.server.base, concrete(&w, r.route, r.method, true));
        for who in EVERYONE {
            let allowed = r.allowed.contains(&who);
            if r.method == "post" && (allowed || r.route == "/sign-out") {
                continue;
            }
            let form = (r.method == "post").then(|| {
                let token = w.tokens.get(&who).map(|t| csrf(t)).unwrap_or_default();
                vec![("_csrf".to_string(), token), ("email".to_string(), "nobody@example.org".into()), ("password".to_string(), "x".into())]
            });
            let multipart = r.method == "post" && (r.route.ends_with("/photos") || r.route.ends_with("/documents"));
            let resp = call(&w, who, r.method, &url, None, multipart, form).await;
            let status = resp.status();
            let location = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let to_sign_in = status == StatusCode::SEE_OTHER && location.starts_with("/sign-in");
            let text = resp.text().await.unwrap_or_default();
            let ok = if r.allowed.is_empty() {
                // Only reachable with something the identity does not have (a link token, SSO set-up).
                status == StatusCode::NOT_FOUND || to_sign_in
            } else if let (true, Check::ReachesMissing(what)) = (allowed, r.check) {
                status == StatusCode::NOT_FOUND && text.contains(what)
            } else if allowed {
                status == StatusCode::OK || (status == StatusCode::SEE_OTHER && !to_sign_in) || (r.route == "/sign-in" && r.method == "post")
            } else if who == Anonymous {
                to_sign_in
            } else {
                status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND
            };
            if !ok {
                failures.push(format!("page {} {} as {who:?}: {status} {location}", r.method.to_uppercase(), r.route));
            }
        }
    }
    // Paths the document serves from the root rather than /api/v1 (operations probes).
    let at_root: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, ops)| ops.as_object().unwrap().values().any(|op| op["servers"][0]["url"] == "/"))
        .map(|(p, _)| p.clone())
        .collect();
    for r in &api {
        let prefix = if at_root.contains(r.route) { "" } else { "/api/v1" };
        let url = format!("{}{prefix}{}", w.server.base, concrete(&w, r.route, r.method, false));
        for who in EVERYONE {
            let allowed = r.allowed.contains(&who);
            let upload = r.method == "post" && r.route == "/referrals/{id}/photos";
            let file = upload.then(|| if allowed { common::photo(7, 0.0) } else { tiny_jpeg() });
            // A document upload: a real PDF of the kind given, for everyone (refused callers are
            // refused before it is read).
            let document = r.method == "post" && r.route == "/referrals/{id}/documents";
            let file = if document { Some(common::sample_pdf(&["Matrix letter"])) } else { file };
            let resp = call_with_file(&w, who, r.method, &url, api_body(&w, who, r.method, r.route), file, None).await;
            let status = resp.status();
            let content_type = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let text = resp.text().await.unwrap_or_default();
            let code = || serde_json::from_str::<Value>(&text).ok().and_then(|v| v["code"].as_str().map(str::to_string));
            let ok = match r.check {
                Check::Access(answer) if allowed => match answer {
                    Status(s) => status.as_u16() == s && (!content_type.starts_with("application/json") || code().is_none()),
                    Refused(s, c) => status.as_u16() == s && code().as_deref() == Some(c),
                },
                Check::Access(_) if who == Anonymous => status == StatusCode::UNAUTHORIZED,
                Check::Access(_) => status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                Check::ReachesMissing(what) if allowed => status == StatusCode::NOT_FOUND && text.contains(what),
                Check::ReachesMissing(_) => status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
                Check::ListsR if who == Anonymous => status == StatusCode::UNAUTHORIZED,
                Check::ListsR => {
                    // A role that has no list at all may be refused; otherwise R shows only to those allowed.
                    (status == StatusCode::OK && text.contains(&w.r) == allowed) || (!allowed && status == StatusCode::FORBIDDEN)
                }
            };
            if !ok {
                failures.push(format!("API {} {} as {who:?}: {status} {}", r.method.to_uppercase(), r.route, text.chars().take(160).collect::<String>()));
            }
        }
    }
    assert!(failures.is_empty(), "{} unexpected answers:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessed_and_foreign_ids_reveal_nothing() {
    let w = world().await;
    let base = &w.server.base;
    let random = uuid::Uuid::new_v4().to_string();
    let not_found_body = |who: Who, url: String| {
        let w = &w;
        async move {
            let r = call(w, who, "get", &url, None, false, None).await;
            (r.status(), r.text().await.unwrap_or_default())
        }
    };
    // A random id and another practice's real id get the same answer, so ids cannot be probed.
    for who in [ReferrerOther, ConsultantOther, ServiceAdminOther, SystemAdmin] {
        let (s1, b1) = not_found_body(who, format!("{base}/api/v1/referrals/{random}")).await;
        let (s2, b2) = not_found_body(who, format!("{base}/api/v1/referrals/{}", w.r)).await;
        assert_eq!((s1, &b1), (StatusCode::NOT_FOUND, &b2), "{who:?}: {s2} {b2}");
        assert!(!b2.contains("Lovelace") && !b2.contains(&w.r));
        // The photo bytes, by the right photo id under the right referral, are not served either.
        let (s, _) = not_found_body(who, format!("{base}/api/v1/referrals/{}/photos/{}/original", w.r, w.r_photo)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{who:?}");
        // Nor the referral's documents, listed or by id.
        let (s, b) = not_found_body(who, format!("{base}/api/v1/referrals/{}/documents/{}", w.r, w.r_document)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{who:?}");
        assert!(!b.contains("%PDF"));
        let (s, _) = not_found_body(who, format!("{base}/api/v1/referrals/{}/documents", w.r)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{who:?}");
    }
    // A photo id under the wrong referral (one the caller may see) is not served.
    let (s, _) = not_found_body(Referrer, format!("{base}/api/v1/referrals/{}/photos/{}/original", w.d, w.r_photo)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "photo of R through D");
    let (s, _) = not_found_body(Referrer, format!("{base}/api/v1/referrals/{}/documents/{}", w.d, w.r_document)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "document of R through D");
    // Malformed ids are refused without a server error.
    for bad in ["1", "..%2F..%2Fetc%2Fpasswd", "00000000-0000-0000-0000-00000000000g", "%00"] {
        let (s, _) = not_found_body(Referrer, format!("{base}/api/v1/referrals/{bad}")).await;
        assert!(s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST, "{bad}: {s}");
    }
    // Lists filtered by another practice's service or NHS number show nothing of it.
    let (s, b) = not_found_body(ReferrerOther, format!("{base}/api/v1/referrals?nhs_number=9434765919")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!b.contains(&w.r));
    let (s, b) = not_found_body(ConsultantOther, format!("{base}/api/v1/worklist?service=hackney-rash")).await;
    assert!(s == StatusCode::OK && !b.contains(&w.r), "{s} {b}");
    // A referrer from another practice cannot import a referral for this practice through FHIR.
    let r = call(&w, ReferrerOther, "post", &format!("{base}/api/v1/fhir"), Some(w.fhir_bundle.clone()), false, None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// What an allowed page POST answers.
enum PageAnswer {
    /// 303 to exactly this location.
    To(String),
    /// 303 to a location with this start and end (a new id in between).
    ToLike(String, &'static str),
    /// The form again with this status (a documented refusal of the form's contents, not of the
    /// caller), showing this text.
    Form(u16, &'static str),
}

/// A page POST: route, caller, form fields, file to upload, expected answer.
type PagePost = (&'static str, Who, Vec<(String, String)>, Option<Vec<u8>>, PageAnswer);

fn form_value<'a>(html: &'a str, before: &str) -> Option<&'a str> {
    html.split(before).nth(1).and_then(|r| r.split('"').next())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_page_posts_get_exactly_their_answer() {
    let w = world().await;
    let base = w.server.base.clone();
    let (r, d) = (w.r.clone(), w.d.clone());
    let me = call(&w, Referrer, "get", &format!("{base}/api/v1/me"), None, false, None).await.json::<Value>().await.unwrap();
    let practice = me["organisation_id"].as_str().expect("the referrer's organisation").to_string();
    let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let start_form = f(&[
        ("nhs_number", "943 476 5919"), ("given_name", "Ada"), ("family_name", "Lovelace"), ("dob_day", "17"), ("dob_month", "5"),
        ("dob_year", "1980"), ("sex", "female"), ("postcode", "E8 1DY"), ("service", "clinical-partnership"),
        ("route", "advice_and_guidance"),
    ]);
    // A session of the referrer's own to sign out with (the shared one is used after it).
    let creds = w.server.demo_credentials();
    let (email, password) = &creds["referrer"];
    let spare = token_for(&w.server, email, password).await;

    let mut calls: Vec<PagePost> = vec![
        ("/sign-in", Anonymous, f(&[("email", "matrix-nobody@example.org"), ("password", "not a password at all")]), None, PageAnswer::Form(422, "is not right")),
        ("/referrals/new", Referrer, start_form.clone(), None, PageAnswer::ToLike("/referrals/".into(), "/eligibility")),
        ("/referrals/new", ReferrerOther, start_form.clone(), None, PageAnswer::ToLike("/referrals/".into(), "/eligibility")),
        ("/referrals/{id}/start", Referrer, start_form.clone(), None, PageAnswer::To(format!("/referrals/{d}/eligibility"))),
        // No answers: saved, and the questions shown again to be answered.
        ("/referrals/{id}/eligibility", Referrer, vec![], None, PageAnswer::Form(422, "nhsuk-error-summary__list")),
        (
            "/referrals/{id}/details",
            Referrer,
            f(&[("given_by", "patient"), ("method", "verbal"), ("direct_care", "yes"), ("teaching", "no"), ("research", "no"),
                ("presenting_complaint", "An itchy rash on both forearms for three weeks.")]),
            None,
            PageAnswer::To(format!("/referrals/{d}/photos")),
        ),
        ("/referrals/{id}/photos", Referrer, f(&[("kind", "close_up")]), Some(common::photo(11, 0.0)), PageAnswer::ToLike(format!("/referrals/{d}/photos?uploaded="), "&kind=close_up#photo-check")),
        // D's photo shows no face: the refusal is the error page, with the reason.
        ("/referrals/{id}/photos/{photo_id}/confirm-face", Referrer, vec![], None, PageAnswer::Form(409, "found no face")),
        ("/referrals/{id}/photos/{photo_id}/kind", Referrer, f(&[("kind", "locator")]), None, PageAnswer::ToLike(format!("/referrals/{d}/photos#kind-"), "")),
        ("/referrals/{id}/photos/{photo_id}/delete", Referrer, vec![], None, PageAnswer::ToLike(format!("/referrals/{d}/photos?kind="), "")),
        (
            "/referrals/{id}/documents",
            Referrer,
            f(&[("kind", "referral_letter"), ("title", "Letter from the practice")]),
            Some(common::sample_pdf(&["Dear colleague"])),
            PageAnswer::To(format!("/referrals/{d}?done=document_added#documents")),
        ),
        ("/referrals/{id}/documents/{document_id}/delete", Referrer, vec![], None, PageAnswer::To(format!("/referrals/{d}?done=document_removed#documents"))),
        ("/referrals/{id}/patient-links", Referrer, vec![], None, PageAnswer::ToLike(format!("/referrals/{d}?link=%2Fp%2F"), "#patient-link")),
        ("/referrals/{id}/patient-links/{link_id}/revoke", Referrer, vec![], None, PageAnswer::To(format!("/referrals/{d}#patient-link"))),
        // The eligibility questions are still unanswered: the review lists what to fix.
        ("/referrals/{id}/submit", Referrer, vec![], None, PageAnswer::Form(422, "nhsuk-error-summary__list")),
        ("/referrals/{id}/claim", Consultant, vec![], None, PageAnswer::To(format!("/referrals/{r}?done=claimed"))),
        ("/referrals/{id}/request-information", Consultant, f(&[("message", "Please send a close-up.")]), None, PageAnswer::To(format!("/referrals/{r}?done=requested"))),
        ("/referrals/{id}/reply", Referrer, f(&[("message", "Attached as asked.")]), None, PageAnswer::To(format!("/referrals/{r}?replied=1"))),
        (
            "/referrals/{id}/outcome",
            Consultant,
            f(&[("code", "advice_management_plan"), ("management_plan", "Emollients twice daily.")]),
            None,
            PageAnswer::To(format!("/referrals/{r}?done=outcome")),
        ),
        // Answered, R can no longer be withdrawn (shown on its page), nor discarded; it is closed, then copied.
        // R's patient did not consent to teaching (shown on its page); R is no teaching case to remove.
        ("/referrals/{id}/teaching", Consultant, f(&[("teaching_note", "Matrix note.")]), None, PageAnswer::ToLike(format!("/referrals/{r}?error="), "#teaching")),
        ("/referrals/{id}/teaching/remove", Consultant, vec![], None, PageAnswer::Form(404, "teaching case")),
        ("/referrals/{id}/withdraw", Referrer, f(&[("reason", "matrix")]), None, PageAnswer::ToLike(format!("/referrals/{r}?error="), "#withdraw")),
        ("/referrals/{id}/discard", Referrer, vec![], None, PageAnswer::ToLike(format!("/referrals/{r}?error="), "#next-steps")),
        ("/referrals/{id}/close", Referrer, vec![], None, PageAnswer::To("/referrals?done=closed".into())),
        ("/referrals/{id}/copy", Referrer, vec![], None, PageAnswer::ToLike("/referrals/".into(), "/start?copied=1")),
        (
            "/admin/users",
            SystemAdmin,
            f(&[("display_name", "New Person"), ("email", "new.person@example.nhs.uk"), ("role", "referrer"), ("organisation", &practice),
                ("password", "copper lantern harbour")]),
            None,
            PageAnswer::To("/admin/users?created=1".into()),
        ),
        // Issue 15: a phrase added through the admin page; no such phrase to change or delete.
        (
            "/admin/phrases",
            ServiceAdmin,
            f(&[("service", "hackney-rash"), ("kind", "plan"), ("title", "Matrix page phrase"), ("body", "Emollients."), ("position", "1")]),
            None,
            PageAnswer::To("/admin/phrases?done=added".into()),
        ),
        ("/admin/phrases/{id}", ServiceAdmin, f(&[("service", "hackney-rash"), ("kind", "plan"), ("title", "Matrix"), ("body", "Emollients.")]), None, PageAnswer::Form(404, "saved phrase")),
        ("/admin/phrases/{id}/delete", ServiceAdmin, f(&[("service", "hackney-rash")]), None, PageAnswer::Form(404, "saved phrase")),
        // No such dead job: past the permission check to "not found".
        ("/admin/jobs/{id}/retry", SystemAdmin, vec![], None, PageAnswer::Form(404, "dead job")),
        ("/sign-out", Referrer, vec![], None, PageAnswer::To("/sign-in".into())),
    ];

    // Every allowed identity of every page POST row is called (the patient pages have none).
    let wanted: BTreeSet<(&str, Who)> =
        page_rows().iter().filter(|r| r.method == "post").flat_map(|r| r.allowed.iter().map(move |who| (r.route, *who))).collect();
    let mut have: BTreeSet<(&str, Who)> = calls.iter().map(|(route, who, ..)| (*route, *who)).collect();
    // /sign-in and /sign-out allow many; one call each stands for the rest (the same handler, no per-role branch).
    for (route, who) in &wanted {
        if *route == "/sign-in" || *route == "/sign-out" {
            have.insert((route, *who));
        }
    }
    assert_eq!(have, wanted, "an allowed page POST without an expected answer");

    let tokens = w.tokens.clone();
    let mut failures = Vec::new();
    let mut last_location = String::new();
    for (route, who, mut form, file, answer) in calls.drain(..) {
        let mut path = concrete(&w, route, "post", true);
        if route.ends_with("/revoke") {
            // The link made just before, as listed on the page its creation redirected to.
            let page = call(&w, Referrer, "get", &format!("{base}{last_location}"), None, false, None).await.text().await.unwrap();
            let link = form_value(&page, &format!("action=\"/referrals/{d}/patient-links/")).unwrap_or_else(|| panic!("the new link on {last_location:?}; so far: {failures:#?}"));
            path = format!("/referrals/{d}/patient-links/{link}");
        }
        let token = if route == "/sign-out" { spare.clone() } else { tokens.get(&who).cloned().unwrap_or_default() };
        form.insert(0, ("_csrf".into(), if token.is_empty() { String::new() } else { csrf(&token) }));
        let mut req = client().post(format!("{base}{path}"));
        if !token.is_empty() {
            req = req.header(header::COOKIE, format!("telederm_session={token}"));
        }
        req = match file {
            Some(bytes) => {
                let mut m = reqwest::multipart::Form::new();
                for (k, v) in form {
                    m = m.text(k, v);
                }
                req.multipart(m.part("file", reqwest::multipart::Part::bytes(bytes).file_name("p.jpg")))
            }
            None => req.form(&form),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let location = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = resp.text().await.unwrap_or_default();
        last_location = location.clone();
        let ok = match &answer {
            PageAnswer::To(to) => status == 303 && location == *to,
            PageAnswer::ToLike(start, end) => status == 303 && location.starts_with(start.as_str()) && location.ends_with(end) && location.len() > start.len() + end.len(),
            PageAnswer::Form(s, text) => status == *s && body.contains(text),
        };
        if !ok {
            failures.push(format!("page POST {route} as {who:?}: {status} {location} {}", body.chars().take(200).collect::<String>()));
        }
        if route == "/sign-out" {
            // That session is over; the shared one still works.
            let me = client().get(format!("{base}/api/v1/me")).header(header::COOKIE, format!("telederm_session={spare}")).send().await.unwrap();
            assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "signed out");
        }
    }
    assert!(failures.is_empty(), "{} unexpected answers:\n{}", failures.len(), failures.join("\n"));
    // The effects are there: R went through its review and was closed, the new user exists.
    let detail = call(&w, Referrer, "get", &format!("{base}/api/v1/referrals/{r}"), None, false, None).await.json::<Value>().await.unwrap();
    assert_eq!(detail["referral"]["status"], "closed", "{detail}");
    let actions: Vec<&str> = detail["events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["submit", "claim", "request_information", "reply", "issue_outcome", "close"]);
    let (ok, out, err) = w.server.cli(&["user", "list"], &[]);
    assert!(ok && out.contains("new.person@example.nhs.uk"), "{out}{err}");
}
