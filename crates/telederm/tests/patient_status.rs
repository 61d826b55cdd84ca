//! Issue 13, hazard 4: patients are kept informed. Every message to a patient carries a link to
//! their own status page, which opens after the date-of-birth check in any browser, says where the
//! request is in plain English (the outcome itself only where the service's policy allows), and
//! expires 30 days after the outcome. A patient Telederm cannot reach is flagged to their GP.

mod common;

use common::{Api, Server, clock_at, complete_draft, env_refs, libfaketime};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use telederm_domain::outcome::{OutcomeCode, next_step};
use telederm_domain::patient_status::GP_HAS_THE_ANSWER;
use telederm_domain::route::Route;
use telederm_store::Template;

/// The date of birth of `common::patient` ("1980-05-17") as the patient types it.
const DOB: (&str, &str, &str) = ("17", "5", "1980");
const UNREACHABLE: &str = "Patient cannot be contacted by Telederm: tell them yourself";

/// A browser of the patient's: its own cookie jar, following no redirects.
struct Browser(Client);

impl Browser {
    fn new() -> Browser {
        Browser(Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap())
    }

    /// The page at `link` as text (HTML entities for quotes decoded).
    async fn open(&self, link: &str) -> (StatusCode, String) {
        let r = self.0.get(link).send().await.unwrap();
        (r.status(), decoded(&r.text().await.unwrap()))
    }

    /// Gives a date of birth on the link's page; the answer's status.
    async fn give_dob(&self, link: &str, dob: (&str, &str, &str)) -> StatusCode {
        let form = [("dob_day", dob.0), ("dob_month", dob.1), ("dob_year", dob.2)];
        self.0.post(link).form(&form).send().await.unwrap().status()
    }

    /// The status page after a matching date of birth in this browser.
    async fn verify_and_open(&self, link: &str) -> String {
        assert_eq!(self.give_dob(link, DOB).await, StatusCode::SEE_OTHER, "the date of birth matches");
        let (status, page) = self.open(link).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("data-patient-status"), "the status page: {page}");
        page
    }
}

fn decoded(html: &str) -> String {
    html.replace("&#x27;", "'").replace("&#39;", "'").replace("&quot;", "\"").replace("&amp;", "&")
}

/// The messages to the patient of referral `id` with this template, as (recipient, link), read from
/// the outbox (no notifier is configured, so they wait there with their link).
async fn patient_messages(server: &Server, id: &str, template: Template) -> Vec<(String, String)> {
    let store = telederm_store::Store::connect_without_migrating(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap();
    let rows = store.list_outbox(telederm_domain::ReferralId::parse(id).unwrap()).await.unwrap();
    store.close().await;
    rows.into_iter().filter(|m| m.template == template).map(|m| (m.recipient, m.link)).collect()
}

/// The one message with this template to the patient of `id`: its link, a status link of its own.
async fn status_link(server: &Server, id: &str, template: Template) -> String {
    let messages = patient_messages(server, id, template).await;
    assert_eq!(messages.len(), 1, "one {template:?} message: {messages:?}");
    let (to, link) = messages[0].clone();
    assert_eq!(to, "ada@example.org");
    let token = link.strip_prefix(&format!("{}/p/", server.base)).unwrap_or_else(|| panic!("a link to the patient's page: {link}"));
    assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{link}");
    link
}

async fn ok(api: &Api, path: &str, body: Value) -> Value {
    let (s, b) = api.post(path, &body).await;
    assert_eq!(s, StatusCode::OK, "{path}: {b}");
    b
}

async fn submitted(gp: &Api, service: &str, route: &str) -> String {
    let id = complete_draft(gp, service, route, json!({})).await;
    ok(gp, &format!("/referrals/{id}/submit"), json!({})).await;
    id
}

async fn answer(consultant: &Api, id: &str, outcome: Value) {
    ok(consultant, &format!("/referrals/{id}/claim"), json!({})).await;
    ok(consultant, &format!("/referrals/{id}/outcome"), outcome).await;
}

async fn page(api: &Api, base: &str, path: &str) -> String {
    let r = api.client.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

/// The row of the GP's list page for referral `id`.
fn list_row(html: &str, id: &str) -> String {
    html.split("<tr").find(|row| row.contains(&format!("/referrals/{id}\""))).unwrap_or_else(|| panic!("no row for {id}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_patient_message_opens_their_status_page_in_any_browser_after_the_date_of_birth() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let id = submitted(&gp, "hackney-rash", "ras").await;

    // The message sent at submission links to the patient's page; the database keeps only the
    // token's hash, on a status link.
    let link = status_link(&server, &id, Template::PatientReferralSent).await;
    let token = link.rsplit('/').next().unwrap().to_string();
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap();
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT token_hash, purpose FROM patient_links WHERE referral_id = ?1").bind(&id).fetch_all(&db).await.unwrap();
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    assert_eq!(stored, vec![(hash, "status".to_string())], "only the hash of the token is stored");

    // A browser that has not given the date of birth is asked for it and shown nothing else.
    let phone = Browser::new();
    let (status, landing) = phone.open(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(landing.contains("See how your skin review is going") && landing.contains("What is your date of birth?"), "{landing}");
    for secret in ["Lovelace", "Ada", "943 476 5919", "hackney", "Itchy rash", "data-patient-status"] {
        assert!(!landing.contains(secret), "the page before the date of birth shows {secret:?}");
    }

    // The phone and then a laptop each pass the check; the phone's visit stays open after the
    // laptop's (each browser has its own).
    let laptop = Browser::new();
    let sent = "Your request has been sent to a skin specialist";
    assert!(phone.verify_and_open(&link).await.contains(sent));
    assert!(laptop.verify_and_open(&link).await.contains(sent));
    let (status, again) = phone.open(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(again.contains(sent), "the first browser still sees the status: {again}");
    assert!(!again.contains("type=\"file\""), "a status link takes no photos");

    // Each state in plain English, in both browsers.
    ok(&consultant, &format!("/referrals/{id}/claim"), json!({})).await;
    assert!(laptop.open(&link).await.1.contains("A skin specialist is looking at your request"));
    ok(&consultant, &format!("/referrals/{id}/request-information"), json!({"message": "Is it worse after detergents?"})).await;
    let waiting = phone.open(&link).await.1;
    assert!(waiting.contains("The specialist has asked your GP practice for more information"), "{waiting}");
    assert!(!waiting.contains("detergents"), "the question is not shown to the patient");
    // While the service waits for photos, a status link still takes none.
    let form = reqwest::multipart::Form::new().text("kind", "close_up").part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("me.jpg"));
    let refused = phone.0.post(format!("{link}/photos")).multipart(form).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND, "a status link is not an upload link");
    ok(&gp, &format!("/referrals/{id}/reply"), json!({"message": "Yes, much worse."})).await;
    ok(
        &consultant,
        &format!("/referrals/{id}/outcome"),
        json!({"code": "advice_management_plan", "diagnosis": "Irritant contact dermatitis", "management_plan": "Emollient and a mild steroid ointment."}),
    )
    .await;

    // The outcome's message has its own link, which opens in a third browser; the earlier link
    // says the same. City & Hackney's GP discusses the answer first: no outcome on the page.
    let answered_link = status_link(&server, &id, Template::PatientResponseReady).await;
    assert_ne!(answered_link, link);
    let tablet = Browser::new();
    for page in [tablet.verify_and_open(&answered_link).await, phone.open(&link).await.1] {
        assert!(page.contains("The specialist has answered") && page.contains(GP_HAS_THE_ANSWER), "{page}");
        for clinical in ["dermatitis", "Emollient", "steroid", next_step(Route::Ras, OutcomeCode::AdviceManagementPlan, false).patient_told] {
            assert!(!page.contains(clinical), "the page shows {clinical:?}: {page}");
        }
    }

    // Five wrong dates of birth, from five browsers, lock the link for every browser that has
    // not passed yet; the right date then gets the expired page.
    for tries in 1..=5 {
        let expected = if tries < 5 { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::FORBIDDEN };
        assert_eq!(Browser::new().give_dob(&answered_link, ("1", "1", "1980")).await, expected, "wrong date {tries}");
    }
    let late = Browser::new();
    assert_eq!(late.give_dob(&answered_link, DOB).await, StatusCode::NOT_FOUND);
    let (status, expired) = late.open(&answered_link).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(expired.contains("This link has expired") && expired.contains("Contact your GP practice"), "{expired}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_the_outcome_only_where_the_service_lets_the_patient_see_it_first() {
    // City & Hackney set to show the outcome; Clinical Partnership as shipped (its GP discusses it).
    let services = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        // The onward-services directory sits beside the policies (copied as it is).
        let directory = path.ends_with("directory.toml");
        assert!(directory || text.contains("outcome_for_patient = \"gp_discusses_first\""), "{}: the seed services say the GP discusses it", path.display());
        if path.ends_with("hackney-rash.toml") {
            text = text.replace("outcome_for_patient = \"gp_discusses_first\"", "outcome_for_patient = \"shown_to_patient\"");
        }
        std::fs::write(services.path().join(path.file_name().unwrap()), text).unwrap();
    }
    let server = Server::demo_with(&[("TELEDERM_SERVICES_DIR", services.path().to_str().unwrap())], None).await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;

    let shown = submitted(&gp, "hackney-rash", "ras").await;
    answer(&consultant, &shown, json!({"code": "face_to_face_routine", "diagnosis": "Discoid eczema"})).await;
    let first = submitted(&gp, "clinical-partnership", "advice_and_guidance").await;
    answer(&consultant, &first, json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema", "management_plan": "Potent steroid ointment."})).await;

    let told = next_step(Route::Ras, OutcomeCode::FaceToFaceRoutine, false).patient_told;
    let page = Browser::new().verify_and_open(&status_link(&server, &shown, Template::PatientResponseReady).await).await;
    assert!(page.contains(told), "the patient letter's words: {page}");
    assert!(!page.contains(GP_HAS_THE_ANSWER) && !page.contains("Discoid"), "{page}");

    let advice = next_step(Route::AdviceAndGuidance, OutcomeCode::AdviceManagementPlan, false).patient_told;
    let page = Browser::new().verify_and_open(&status_link(&server, &first, Template::PatientResponseReady).await).await;
    assert!(page.contains(GP_HAS_THE_ANSWER), "{page}");
    assert!(!page.contains(advice) && !page.contains("Discoid") && !page.contains("steroid"), "{page}");
}

/// The server on `data` and `port` (the links' address) under a clock `days` days (and an hour)
/// from now (libfaketime).
async fn later(data: &std::path::Path, port: u16, days: i64) -> Server {
    let at = (chrono::Utc::now() + chrono::Duration::days(days) + chrono::Duration::hours(1)).format("%Y-%m-%d %H:%M:%S").to_string();
    Server::start_on("demo", data, &env_refs(&clock_at(&libfaketime(), &at)), port).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_link_works_while_the_referral_is_open_and_for_30_days_after_the_outcome() {
    let data = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut server = Server::start_on("demo", data.path(), &[], port).await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let answered = submitted(&gp, "hackney-rash", "ras").await;
    answer(&consultant, &answered, json!({"code": "no_further_action", "diagnosis": "Post-inflammatory change"})).await;
    let open = submitted(&gp, "hackney-rash", "ras").await;
    let links = [
        status_link(&server, &answered, Template::PatientReferralSent).await,
        status_link(&server, &answered, Template::PatientResponseReady).await,
    ];
    let open_link = status_link(&server, &open, Template::PatientReferralSent).await;
    assert!(server.terminate().success());

    let mut server = later(data.path(), port, 29).await;
    for link in links.iter().chain([&open_link]) {
        assert!(Browser::new().verify_and_open(link).await.contains("data-patient-status"));
    }
    assert!(server.terminate().success());

    let _server = later(data.path(), port, 30).await;
    for link in &links {
        let browser = Browser::new();
        let (status, page) = browser.open(link).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{link}");
        assert!(page.contains("This link has expired") && page.contains("Contact your GP practice"), "{page}");
        assert!(!page.contains("Go to your home page"), "a patient is not sent to the staff sign-in");
        assert_eq!(browser.give_dob(link, DOB).await, StatusCode::NOT_FOUND);
    }
    // A referral still waiting for its answer keeps its link.
    assert!(Browser::new().verify_and_open(&open_link).await.contains("Your request has been sent to a skin specialist"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gp_is_told_when_telederm_cannot_contact_the_patient() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let mut ids = Vec::new();
    // No contact details; a mobile only (no GOV.UK Notify here, so no text messages); an email.
    for contact in [json!({}), json!({"phone": "07700 900123"}), json!({"email": "ada@example.org", "phone": "020 7946 0018"})] {
        let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
        let mut patient = common::patient("1980-05-17");
        patient["contact"] = contact;
        let (s, b) = gp.patch(&format!("/referrals/{id}"), &json!({"patient": patient})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        ok(&gp, &format!("/referrals/{id}/submit"), json!({})).await;
        ids.push(id);
    }
    let unreachable = [true, true, false];

    let (_, list) = gp.get("/referrals").await;
    let html = page(&gp, &server.base, "/referrals").await;
    for (id, expected) in ids.iter().zip(unreachable) {
        let item = list["referrals"].as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap();
        assert_eq!(item["patient_unreachable"], expected, "{item}");
        let row = list_row(&html, id);
        assert_eq!(row.contains(UNREACHABLE) && row.contains("data-patient-unreachable"), expected, "{row}");
        let case = decoded(&page(&gp, &server.base, &format!("/referrals/{id}")).await);
        assert_eq!(case.contains(UNREACHABLE), expected, "the case page of {id}");
        let messages = patient_messages(&server, id, Template::PatientReferralSent).await;
        assert_eq!(messages.len(), usize::from(!expected), "a message only where Telederm can send one: {messages:?}");
    }

    // Once the GP has withdrawn the referral there is nothing left to tell the patient.
    ok(&gp, &format!("/referrals/{}/withdraw", ids[0]), json!({"reason": "Seen in surgery"})).await;
    assert!(!list_row(&page(&gp, &server.base, "/referrals").await, &ids[0]).contains(UNREACHABLE));
}
