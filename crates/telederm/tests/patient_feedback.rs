//! Issue 14, patients: on the upload link the patient removes a photo before finishing, answers
//! the symptom questions in their own words (which reach the GP's case, on the page and in the
//! API), and must confirm their consent before finishing; after the outcome their status page asks
//! for feedback, which is stored once, counted on the service admin's dashboard (their services
//! only) and exported as CSV.

mod common;

use common::{Server, complete_draft, photo};
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use telederm_store::Template;

fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A signed-in person's session cookie and page form token.
struct Session {
    cookie: String,
    csrf: String,
}

async fn session(server: &Server, email: &str, password: &str) -> Session {
    let r = client().post(format!("{}/api/v1/auth/sign-in", server.base)).json(&json!({"email": email, "password": password})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = r.headers()[header::SET_COOKIE].to_str().unwrap().trim_start_matches("telederm_session=").split(';').next().unwrap().to_string();
    let csrf = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("telederm-csrf\0{token}").as_bytes()));
    Session { cookie: format!("telederm_session={token}"), csrf }
}

async fn demo_session(server: &Server, role: &str) -> Session {
    let (email, password) = server.demo_credentials()[role].clone();
    session(server, &email, &password).await
}

impl Session {
    async fn get(&self, server: &Server, path: &str) -> (StatusCode, String) {
        let r = client().get(format!("{}{path}", server.base)).header(header::COOKIE, &self.cookie).send().await.unwrap();
        (r.status(), decoded(&r.text().await.unwrap()))
    }

    async fn get_api(&self, server: &Server, path: &str) -> Value {
        let r = client().get(format!("{}/api/v1{path}", server.base)).header(header::COOKIE, &self.cookie).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    async fn post_api(&self, server: &Server, path: &str, body: Value) -> Value {
        let r = client().post(format!("{}/api/v1{path}", server.base)).header(header::COOKIE, &self.cookie).json(&body).send().await.unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }
}

fn decoded(html: &str) -> String {
    html.replace("&#x27;", "'").replace("&#39;", "'").replace("&quot;", "\"").replace("&amp;", "&").replace("&#x3D;", "=")
}

/// The patient's phone: the visit's cookie and the page's form token, once the date of birth matched.
struct Phone {
    base: String,
    cookie: String,
    csrf: String,
}

impl Phone {
    async fn open(server: &Server, link_path: &str, dob: (&str, &str, &str)) -> Phone {
        let base = format!("{}{link_path}", server.base);
        let r = client().post(&base).form(&[("dob_day", dob.0), ("dob_month", dob.1), ("dob_year", dob.2)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "the date of birth matches");
        let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
        let secret = cookie.split_once('=').unwrap().1;
        // The page's form token, as every form on the page carries it.
        let csrf = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("patient-csrf\0{secret}").as_bytes()));
        let phone = Phone { base, cookie, csrf };
        let (status, page) = phone.page("").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!page.contains("name=\"_csrf\"") || page.contains(&format!("value=\"{}\"", phone.csrf)), "the form token");
        phone
    }

    async fn page(&self, query: &str) -> (StatusCode, String) {
        let r = client().get(format!("{}{query}", self.base)).header(header::COOKIE, &self.cookie).send().await.unwrap();
        (r.status(), decoded(&r.text().await.unwrap()))
    }

    /// Posts a form (with the page's token unless `fields` gives one); (status, Location, body).
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if !fields.iter().any(|(k, _)| *k == "_csrf") {
            form.push(("_csrf", &self.csrf));
        }
        let r = client().post(format!("{}{path}", self.base)).header(header::COOKIE, &self.cookie).form(&form).send().await.unwrap();
        let location = r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        (r.status(), location, decoded(&r.text().await.unwrap()))
    }

    /// Sends a photo; the new photo's id (from the page's redirect to its check).
    async fn upload(&self, bytes: Vec<u8>) -> String {
        let form = reqwest::multipart::Form::new()
            .text("_csrf", self.csrf.clone())
            .text("kind", "close_up")
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name("me.jpg"));
        let r = client().post(format!("{}/photos", self.base)).header(header::COOKIE, &self.cookie).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
        location.split("?photo=").nth(1).and_then(|l| l.strip_suffix("#photo-check")).unwrap_or_else(|| panic!("{location}")).to_string()
    }
}

/// The photo-check card of the page shown after an upload.
fn check_card(page: &str) -> String {
    let start = page.find("id=\"photo-check\"").expect("the photo check");
    page[start..].split("</div>\n</div>").next().unwrap().to_string()
}

/// A sharp photo at a phone camera's size (the service recommends a short side of 1280 pixels).
fn full_size_photo(seed: u64) -> Vec<u8> {
    use telederm_imaging::synth::{JpegOpts, Scene, jpeg, render};
    jpeg(&render(&Scene { width: 2000, height: 1500, seed, ..Scene::default() }), JpegOpts::default())
}

async fn db(server: &Server) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patient_removes_a_photo_answers_in_their_own_words_and_consents_before_finishing() {
    let server = Server::demo().await;
    let gp = demo_session(&server, "referrer").await;
    let draft = gp
        .post_api(&server, "/referrals", json!({"service_id": "clinical-partnership", "route": "advice_and_guidance", "patient": {
            "nhs_number": "943 476 5919", "given_name": "Grace", "family_name": "Hopper", "date_of_birth": "1984-02-29",
            "sex": "female", "postcode": "E8 1DY"}}))
        .await;
    let id = draft["id"].as_str().unwrap().to_string();
    // A photo the GP took: the patient's link can never remove it.
    let gp_photo = gp_upload(&server, &gp, &id).await;

    let r = client().post(format!("{}/referrals/{id}/patient-links", server.base)).header(header::COOKIE, &gp.cookie).form(&[("_csrf", gp.csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
    let encoded = location.split("link=").nth(1).unwrap().split('#').next().unwrap();
    let link_path: String = form_urlencoded::parse(format!("p={encoded}").as_bytes()).next().unwrap().1.into_owned();
    let phone = Phone::open(&server, &link_path, ("29", "2", "1984")).await;

    // The page names the practice that asked.
    let pool = db(&server).await;
    let (practice,): (String,) = sqlx::query_as("SELECT o.name FROM organisations o JOIN referrals r ON r.practice_id = o.id WHERE r.id = ?1").bind(&id).fetch_one(&pool).await.unwrap();
    let (_, page) = phone.page("").await;
    assert!(page.contains(&format!("{practice} has asked you for photos")), "the practice is named: {practice}");
    assert!(page.contains("You can send 5 more photos"));

    // A blurred photo, then a good one. The good one's check never says to take it again.
    let blurred = phone.upload(photo(21, 0.006)).await;
    let (_, page) = phone.page(&format!("?photo={blurred}")).await;
    let card = check_card(&page);
    assert!(!card.contains("data-verdict=\"accept\""), "the blurred photo is flagged: {card}");
    assert!(card.contains("remove"), "the flagged photo's check says it can be removed: {card}");
    let good = phone.upload(full_size_photo(22)).await;
    let (_, page) = phone.page(&format!("?photo={good}")).await;
    let card = check_card(&page);
    assert!(card.contains("data-verdict=\"accept\""), "{card}");
    assert!(!card.to_lowercase().contains("again") && !card.contains("remove"), "a good photo's message: {card}");
    assert!(page.contains("You can send 3 more photos"));

    // Removing needs the page's form token, and reaches only the photos sent through this link.
    let (status, _, _) = phone.post(&format!("/photos/{blurred}/remove"), &[("_csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = phone.post(&format!("/photos/{gp_photo}/remove"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the GP's photo is not the patient's to remove");
    let (status, location, _) = phone.post(&format!("/photos/{blurred}/remove"), &[]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, format!("{link_path}?removed=1#photos").as_str()));
    let (_, page) = phone.page("?removed=1").await;
    assert!(page.contains("The photo has been removed") && page.contains("You can send 4 more photos"), "the place came back");
    assert!(!page.contains(&blurred) && page.contains(&good));
    let kept: Vec<(String,)> = sqlx::query_as("SELECT id FROM photos WHERE referral_id = ?1 ORDER BY id").bind(&id).fetch_all(&pool).await.unwrap();
    let mut want = vec![(gp_photo.clone(),), (good.clone(),)];
    want.sort();
    assert_eq!(kept, want, "the blurred photo is gone; the GP's and the good one stay");
    let (status, _, _) = phone.post(&format!("/photos/{blurred}/remove"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a removed photo cannot be removed twice");
    let (actor, detail): (String, String) =
        sqlx::query_as("SELECT actor_label, detail FROM audit_log WHERE action = 'photo.delete' AND record_id = ?1 AND outcome = 'allowed'").bind(&blurred).fetch_one(&pool).await.unwrap();
    assert_eq!(actor, "patient (link)");
    assert!(detail.contains("removed by the patient"), "{detail}");

    // The symptom questions: all empty is refused; answered, they reach the GP's case and the API.
    let (status, _, body) = phone.post("/answers", &[("how_long", " "), ("itch_or_pain", ""), ("changing", ""), ("tried", "")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Answer at least one"), "{body}");
    let answers = [("how_long", "About 3 weeks"), ("itch_or_pain", "It itches at night"), ("changing", "Getting bigger"), ("tried", "Hydrocortisone cream, no better")];
    let (status, location, _) = phone.post("/answers", &answers).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, format!("{link_path}?answers=saved#symptoms").as_str()));
    let (_, page) = phone.page("?answers=saved").await;
    assert!(page.contains("Your answers have been saved") && page.contains("It itches at night"), "shown back to the patient");
    let detail = gp.get_api(&server, &format!("/referrals/{id}")).await;
    let told = &detail["referral"]["patient_answers"];
    for (field, answer) in answers {
        assert_eq!(told[field], answer, "{detail}");
    }
    let (status, case) = gp.get(&server, &format!("/referrals/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(case.contains("What the patient told us") && case.contains("Hydrocortisone cream, no better") && case.contains("Does it itch or hurt?"), "the GP's case page");
    // The GP editing the draft does not lose them.
    let r = client().patch(format!("{}/api/v1/referrals/{id}", server.base)).header(header::COOKIE, &gp.cookie)
        .json(&json!({"version": detail["referral"]["version"], "history": {"presenting_complaint": "Rash on the arm"}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(gp.get_api(&server, &format!("/referrals/{id}")).await["referral"]["patient_answers"]["how_long"], "About 3 weeks");

    // Finishing needs the consent box; without it nothing is sent.
    let (status, _, body) = phone.post("/done", &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Confirm that you agree to send your photos") && body.contains("href=\"#consent\""), "{body}");
    let (submitted,): (Option<String>,) = sqlx::query_as("SELECT submitted_at FROM patient_links WHERE referral_id = ?1").bind(&id).fetch_one(&pool).await.unwrap();
    assert_eq!(submitted, None);
    let (status, location, _) = phone.post("/done", &[("consent", "yes")]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, link_path.as_str()));
    let (detail,): (String,) = sqlx::query_as("SELECT detail FROM audit_log WHERE action = 'patient_link.submit' AND outcome = 'allowed'").fetch_one(&pool).await.unwrap();
    assert!(detail.contains("consent"), "{detail}");

    // Finished: the photos are the practice's now.
    let (status, _, _) = phone.post(&format!("/photos/{good}/remove"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM photos WHERE id = ?1").bind(&good).fetch_one(&pool).await.unwrap();
    assert_eq!(n, 1);
    let (status, _, _) = phone.post("/answers", &answers).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a finished link takes no more answers");
}

async fn gp_upload(server: &Server, gp: &Session, id: &str) -> String {
    let form = reqwest::multipart::Form::new().text("kind", "locator").part("file", reqwest::multipart::Part::bytes(photo(20, 0.0)).file_name("gp.jpg"));
    let r = client().post(format!("{}/api/v1/referrals/{id}/photos", server.base)).header(header::COOKIE, &gp.cookie).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

/// The link of the one message with this template to the patient of `id`, as a path.
async fn message_link(server: &Server, id: &str, template: Template) -> String {
    let store = telederm_store::Store::connect_without_migrating(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap();
    let rows = store.list_outbox(telederm_domain::ReferralId::parse(id).unwrap()).await.unwrap();
    store.close().await;
    let links: Vec<String> = rows.into_iter().filter(|m| m.template == template).map(|m| m.link).collect();
    assert_eq!(links.len(), 1, "{template:?}");
    links[0].strip_prefix(&server.base).unwrap().to_string()
}

const DOB: (&str, &str, &str) = ("17", "5", "1980");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_after_the_outcome_is_stored_once_counted_for_the_services_admins_and_exported() {
    let server = Server::demo().await;
    let gp_api = server.sign_in_as("referrer").await;
    let consultant = demo_session(&server, "consultant").await;
    let id = complete_draft(&gp_api, "hackney-rash", "ras", json!({})).await;
    let (status, body) = gp_api.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Before the outcome the status page asks for nothing, and feedback is refused.
    let sent = message_link(&server, &id, Template::PatientReferralSent).await;
    let early = Phone::open(&server, &sent, DOB).await;
    let (_, page) = early.page("").await;
    assert!(page.contains("data-patient-status") && !page.contains("/feedback\""), "no feedback form yet");
    let (status, _, body) = early.post("/feedback", &[("rating", "good")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("once the skin service has responded"), "{body}");

    consultant.post_api(&server, &format!("/referrals/{id}/claim"), json!({})).await;
    consultant
        .post_api(&server, &format!("/referrals/{id}/outcome"), json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema", "management_plan": "Emollients.", "follow_up": "None."}))
        .await;

    // The final message's link opens the status page, which invites feedback.
    let ready = message_link(&server, &id, Template::PatientResponseReady).await;
    let phone = Phone::open(&server, &ready, DOB).await;
    let (_, page) = phone.page("").await;
    assert!(page.contains("We would love to hear from you") && page.contains(&format!("action=\"{ready}/feedback\"")), "{page}");
    for clinical in ["symptom", "diagnosis", "medication"] {
        assert!(!page.to_lowercase().contains(&format!("name=\"{clinical}")), "no clinical question");
    }

    // No rating, or an unknown one, is refused; then stored once.
    let (status, _, body) = phone.post("/feedback", &[("rating", "superb"), ("comment", "Kept")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Choose how your experience of the service was") && body.contains(">Kept</textarea>"), "{body}");
    let comment = "=Quick, clear \"answer\"; thank you";
    let (status, location, _) = phone.post("/feedback", &[("rating", "good"), ("comment", comment)]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, format!("{ready}#feedback").as_str()));
    let (_, page) = phone.page("").await;
    assert!(page.contains("Thank you for your feedback (Good)") && !page.contains("/feedback\""), "thanked, and not asked again");
    let (status, _, body) = phone.post("/feedback", &[("rating", "poor")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let pool = db(&server).await;
    let rows: Vec<(String, String, String)> = sqlx::query_as("SELECT rating, comment, service_id FROM patient_feedback WHERE referral_id = ?1").bind(&id).fetch_all(&pool).await.unwrap();
    assert_eq!(rows, vec![("good".to_string(), comment.to_string(), "hackney-rash".to_string())]);
    let (actor,): (String,) = sqlx::query_as("SELECT actor_label FROM audit_log WHERE action = 'patient_feedback.create' AND outcome = 'allowed'").fetch_one(&pool).await.unwrap();
    assert_eq!(actor, "patient (link)");

    // The service's admin: counted on the dashboard with the comment, and in the CSV.
    let admin = demo_session(&server, "service_admin").await;
    let (status, dash) = admin.get(&server, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(dash.contains("data-feedback-count=\"Good\">1<") && dash.contains("data-feedback-count=\"Very poor\">0<"), "counts per rating");
    assert!(dash.contains("Quick, clear") && dash.contains("answer") && dash.contains("thank you"), "the comment is shown");
    let r = client().get(format!("{}/admin/feedback.csv", server.base)).header(header::COOKIE, &admin.cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "submitted_at,service,rating,comment");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].ends_with(",hackney-rash,good,\"'=Quick, clear \"\"answer\"\"; thank you\""), "quoted, the formula defused: {csv}");
    assert!(!csv.contains(&id) && !csv.contains("Lovelace"), "no identifiers in the export");

    // Another provider's admin sees none of it; a GP may not look.
    let (ok, out, err) = server.cli(&["organisation", "add", "--ods", "RZZ", "--name", "Elsewhere Dermatology", "--kind", "provider"], &[]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = server.cli(
        &["user", "add", "--email", "admin@elsewhere.nhs.uk", "--name", "Other Admin", "--role", "service_admin", "--organisation", "RZZ", "--password-env", "PW"],
        &[("PW", "amber kestrel meadow")],
    );
    assert!(ok, "{out}{err}");
    let other = session(&server, "admin@elsewhere.nhs.uk", "amber kestrel meadow").await;
    let (_, dash) = other.get(&server, "/admin").await;
    assert!(dash.contains("data-feedback-count=\"Good\">0<") && !dash.contains("Quick, clear"), "another provider's admin");
    let (_, csv) = other.get(&server, "/admin/feedback.csv").await;
    assert_eq!(csv.trim_end(), "submitted_at,service,rating,comment");
    let gp = demo_session(&server, "referrer").await;
    assert_eq!(gp.get(&server, "/admin/feedback.csv").await.0, StatusCode::FORBIDDEN);
}
