//! Patient links at `/p/{token}`. An upload link: the practice creates it for one referral; the
//! patient opens it on their phone, confirms their date of birth, sees the photo guidance, uploads
//! photos (each checked at once) and finishes. A status link (in every message to the patient):
//! after the date of birth, the referral's progress in plain English
//! (`telederm_domain::patient_status`). The pages show nothing clinical.
//!
//! Security (`telederm_app::patient_links`): the token has 256 bits of randomness and only its
//! SHA-256 is stored; a link expires (an upload link after 7 days, a status link 30 days after the
//! outcome), can be revoked, locks after 5 wrong dates of birth, and an upload link takes at most
//! 5 photos while the referral accepts them. Each browser whose date of birth matched gets its own
//! random cookie (its hash stored, for an hour), so any of the patient's devices can open the link.

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Multipart, OriginalUri, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use telederm_domain::patient_status::{self, PatientStatus};
use telederm_domain::policy::PhotoKind;
use telederm_store::patient_links::{LinkPurpose, PatientLink};

use super::form::{FormData, busy_page, is_busy, read_upload};
use super::views::{Errors, Nav, PhotoView};
use super::{PageError, PageResult, Viewer, constant_time_eq, html, see_other};
use telederm_app::feedback;
use telederm_app::patient_links::{self, DobCheck, LinkUpload};
use telederm_domain::patient_voice::{FeedbackRating, QUESTIONS};

use crate::AppState;
use crate::auth::token_hash;
use crate::error::{ApiError, Code};
const COOKIE: &str = "telederm_patient";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/referrals/{id}/patient-links", post(create_link))
        .route("/referrals/{id}/patient-links/{link_id}/revoke", post(revoke_link))
        .route("/p/{token}", get(landing).post(verify))
        .route("/p/{token}/photos", post(upload).layer(axum::extract::DefaultBodyLimit::max(30 * 1024 * 1024)))
        .route("/p/{token}/photos/{photo_id}/remove", post(remove_photo))
        .route("/p/{token}/answers", post(save_answers))
        .route("/p/{token}/done", post(finish))
        .route("/p/{token}/feedback", post(give_feedback))
}

// ---------------------------------------------------------------- the practice's side

async fn create_link(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    let made = patient_links::create(&state, &v.user, &id).await?;
    let path: String = form_urlencoded::byte_serialize(format!("/p/{}", made.token).as_bytes()).collect();
    Ok(see_other(&format!("/referrals/{id}?link={path}#patient-link")))
}

async fn revoke_link(State(state): State<AppState>, v: Viewer, Path((id, link_id)): Path<(String, String)>, form: FormData) -> PageResult {
    v.check(&form)?;
    patient_links::revoke(&state, &v.user, &id, &link_id).await?;
    Ok(see_other(&format!("/referrals/{id}#patient-link")))
}

// ---------------------------------------------------------------- the patient's side

fn patient_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

struct PatientCookie(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for PatientCookie {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PatientCookie(patient_cookie(parts)))
    }
}

fn csrf_of(cookie: &str) -> String {
    token_hash(&format!("patient-csrf\0{cookie}"))
}

async fn find_link(state: &AppState, token: &str) -> Result<PatientLink, PageError> {
    Ok(patient_links::find(state, token).await?)
}

async fn verified(state: &AppState, link: &PatientLink, cookie: &Option<String>) -> Result<bool, PageError> {
    Ok(patient_links::verified(state, link, cookie.as_deref()).await?)
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    nav: Nav,
    token: String,
    mode: &'static str,
    /// A status link (its verify page speaks of the request's progress, not of photos).
    for_status: bool,
    errors: Errors,
    day: String,
    month: String,
    year: String,
    csrf: String,
    photos: Vec<PhotoView>,
    just: Option<PhotoView>,
    remaining: i64,
    max_mb: u64,
    status: PatientStatus,
    /// The patient has just finished sending photos through an upload link.
    thanks: bool,
    practice_guidance: Vec<String>,
    kinds: Vec<(&'static str, &'static str)>,
    /// The practice that asked for the photos (shown after the date of birth).
    practice: String,
    /// The symptom questions: (field, question, hint, answer so far).
    questions: Vec<(&'static str, &'static str, &'static str, String)>,
    /// The patient's answers were just saved.
    answers_saved: bool,
    /// A photo was just removed.
    removed: bool,
    /// The status page asks for feedback (the service has responded, none given yet).
    feedback_open: bool,
    /// The feedback already given: its rating's label.
    feedback_given: Option<&'static str>,
    ratings: Vec<(&'static str, &'static str)>,
    rating: String,
    comment: String,
}

impl PatientPage {
    fn new(token: &str, mode: &'static str, purpose: LinkPurpose) -> Self {
        PatientPage {
            nav: Nav::anonymous(),
            token: token.into(),
            mode,
            for_status: purpose == LinkPurpose::Status,
            errors: Errors::default(),
            day: String::new(),
            month: String::new(),
            year: String::new(),
            csrf: String::new(),
            photos: Vec::new(),
            just: None,
            remaining: 0,
            max_mb: 0,
            status: PatientStatus { tag: "", heading: "", paragraphs: Vec::new() },
            thanks: false,
            practice_guidance: Vec::new(),
            kinds: vec![
                ("locator", "A photo from further away (1 to 1.5 metres) showing where on your body it is"),
                ("close_up", "A close-up (about 30 cm away)"),
            ],
            practice: String::new(),
            questions: Vec::new(),
            answers_saved: false,
            removed: false,
            feedback_open: false,
            feedback_given: None,
            ratings: FeedbackRating::ALL.iter().map(|r| (r.as_str(), r.label())).collect(),
            rating: String::new(),
            comment: String::new(),
        }
    }
}

async fn upload_view(state: &AppState, token: &str, link: &PatientLink, cookie: &str, errors: Errors, just: Option<&str>) -> Result<Response, PageError> {
    page_view(state, token, link, cookie, errors, just, &FormData(Vec::new())).await
}

/// The verified patient's page; `form` holds what they just typed (shown again with an error)
/// or the page's query (`answers=saved`, `removed=1`).
async fn page_view(state: &AppState, token: &str, link: &PatientLink, cookie: &str, errors: Errors, just: Option<&str>, form: &FormData) -> Result<Response, PageError> {
    let (r, photos) = patient_links::view(state, link).await?;
    let status_only = link.purpose == LinkPurpose::Status || link.submitted_at.is_some() || !link.is_usable(state.now());
    let mut page = PatientPage::new(token, if status_only { "status" } else { "upload" }, link.purpose);
    let photos: Vec<PhotoView> = photos.iter().map(PhotoView::from).collect();
    page.errors = errors;
    page.csrf = csrf_of(cookie);
    page.just = just.and_then(|j| photos.iter().find(|p| p.id == j).cloned());
    page.photos = photos;
    page.remaining = (link.max_photos - link.photos_uploaded).max(0);
    page.max_mb = state.settings.max_upload_bytes / 1_000_000;
    let outcome_for_patient = state.policies.get(&r.service_id).map(|p| p.outcome_for_patient).unwrap_or_default();
    page.status = patient_status::for_referral(&r, outcome_for_patient);
    page.thanks = link.purpose == LinkPurpose::Upload && link.submitted_at.is_some();
    page.practice_guidance = state.policies.get(&r.service_id).map(|p| p.photo_guidance.clone()).unwrap_or_default();
    page.practice = state.store.get_organisation(r.practice_id).await.map(|o| o.name).unwrap_or_else(|_| "Your GP practice".into());
    page.questions = QUESTIONS
        .iter()
        .map(|(field, q, hint)| {
            let saved = r.patient_answers.as_ref().map(|a| a.get(field).to_string()).unwrap_or_default();
            (*field, *q, *hint, form.opt(field).map_or(saved, str::to_string))
        })
        .collect();
    page.answers_saved = form.get("answers") == "saved";
    page.removed = form.get("removed") == "1";
    if link.purpose == LinkPurpose::Status && feedback::open(&r) {
        let given = feedback::given(state, link).await?;
        page.feedback_given = given.map(|f| f.rating.label());
        page.feedback_open = page.feedback_given.is_none();
    }
    page.rating = form.get("rating").to_string();
    page.comment = form.get("comment").to_string();
    Ok(html(&page))
}

/// The verified visit's cookie for a form post (checked against the page's form token), or where
/// to send the browser instead: to the date of birth when the visit is not open.
async fn visit(state: &AppState, token: &str, link: &PatientLink, cookie: &PatientCookie, csrf: &str) -> Result<Result<String, Response>, PageError> {
    if !verified(state, link, &cookie.0).await? {
        return Ok(Err(see_other(&format!("/p/{token}"))));
    }
    let c = cookie.0.clone().unwrap_or_default();
    if !constant_time_eq(csrf.as_bytes(), csrf_of(&c).as_bytes()) {
        return Err(PageError(ApiError::forbidden("This form has expired. Go back, reload the page and try again.")));
    }
    Ok(Ok(c))
}

async fn landing(State(state): State<AppState>, Path(token): Path<String>, cookie: PatientCookie, uri: OriginalUri) -> PageResult {
    let link = find_link(&state, &token).await?;
    if verified(&state, &link, &cookie.0).await? {
        if link.purpose == LinkPurpose::Status {
            // A status link ends for every browser at once (30 days after the outcome).
            patient_links::check_usable(&state, &link, "patient_link.read").await?;
        }
        let q = FormData::from_query(uri.query().unwrap_or(""));
        let c = cookie.0.unwrap_or_default();
        return page_view(&state, &token, &link, &c, Errors::default(), q.opt("photo"), &q).await;
    }
    patient_links::check_usable(&state, &link, "patient_link.open").await?;
    Ok(html(&PatientPage::new(&token, "verify", link.purpose)))
}

async fn verify(State(state): State<AppState>, Path(token): Path<String>, form: FormData) -> PageResult {
    let link = find_link(&state, &token).await?;
    patient_links::check_usable(&state, &link, "patient_link.verify").await?;
    let (d, m, y) = (form.get("dob_day").trim(), form.get("dob_month").trim(), form.get("dob_year").trim());
    let given = match (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) {
        (Ok(y), Ok(m), Ok(d)) => NaiveDate::from_ymd_opt(y, m, d),
        _ => None,
    };
    let mut page = PatientPage::new(&token, "verify", link.purpose);
    page.day = d.into();
    page.month = m.into();
    page.year = y.into();
    match given {
        None => {
            page.errors.add("dob_day", "Enter your date of birth as day, month and year, for example 14 3 1988");
        }
        Some(g) => match patient_links::verify_dob(&state, &link, g).await? {
            DobCheck::Verified { secret } => {
                let mut resp = see_other(&format!("/p/{token}"));
                let c = format!("{COOKIE}={secret}; Path=/p/{token}; HttpOnly; SameSite=Strict; Max-Age={}{}", patient_links::VISIT_MINUTES * 60, if state.settings.secure_cookies { "; Secure" } else { "" });
                if let Ok(v) = HeaderValue::from_str(&c) {
                    resp.headers_mut().insert(header::SET_COOKIE, v);
                }
                return Ok(resp);
            }
            DobCheck::Wrong { left } => {
                page.errors.add("dob_day", format!("The date of birth does not match our records. Check it and try again ({left} tries left)"));
            }
        },
    }
    let mut resp = html(&page);
    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(resp)
}

async fn upload(State(state): State<AppState>, Path(token): Path<String>, cookie: PatientCookie, multipart: Multipart) -> PageResult {
    // The link (and the visit's cookie) is checked before a byte of the body is read: an unknown,
    // unverified or unusable link never gets the server to receive and buffer a photo.
    let link = find_link(&state, &token).await?;
    if link.purpose != LinkPurpose::Upload {
        return Err(patient_links::unavailable().into());
    }
    let c = cookie.0.clone().unwrap_or_default();
    if !verified(&state, &link, &cookie.0).await? {
        return Ok(see_other(&format!("/p/{token}")));
    }
    patient_links::check_usable(&state, &link, "photo.upload").await?;
    let upload = read_upload(multipart, state.settings.max_upload_bytes).await;
    let mut errors = Errors::default();
    let upload = match upload {
        Ok(u) => u,
        Err(e) => {
            errors.add("file", e.message);
            return Ok(with_status(upload_view(&state, &token, &link, &c, errors, None).await?));
        }
    };
    if !constant_time_eq(upload.fields.get("_csrf").as_bytes(), csrf_of(&c).as_bytes()) {
        return Err(PageError(ApiError::forbidden("This form has expired. Go back, reload the page and try again.")));
    }
    let Some(bytes) = upload.file else {
        errors.add("file", "Choose a photo to upload");
        return Ok(with_status(upload_view(&state, &token, &link, &c, errors, None).await?));
    };
    let kind = if upload.fields.get("kind") == "locator" { PhotoKind::Locator } else { PhotoKind::CloseUp };
    match patient_links::upload(&state, &link, kind, bytes).await {
        Ok(LinkUpload::Stored(photo)) => Ok(see_other(&format!("/p/{token}?photo={}#photo-check", photo.id))),
        Ok(LinkUpload::LimitReached { max_photos }) => {
            errors.add("file", format!("You have already sent {max_photos} photos, the most this link takes. Press 'I have finished' to send them."));
            Ok(with_status(upload_view(&state, &token, &link, &c, errors, None).await?))
        }
        Err(e) => {
            if is_busy(&e) {
                errors.add("file", e.message.clone());
                let link = find_link(&state, &token).await?;
                return Ok(busy_page(upload_view(&state, &token, &link, &c, errors, None).await?, &e));
            }
            if e.status() >= 500 || matches!(e.code, Code::NotFound | Code::LinkUnavailable) {
                return Err(e.into());
            }
            errors.add("file", e.message);
            let link = find_link(&state, &token).await?;
            Ok(with_status(upload_view(&state, &token, &link, &c, errors, None).await?))
        }
    }
}

fn with_status(mut r: Response) -> Response {
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

async fn finish(State(state): State<AppState>, Path(token): Path<String>, cookie: PatientCookie, form: FormData) -> PageResult {
    let link = find_link(&state, &token).await?;
    let c = match visit(&state, &token, &link, &cookie, form.get("_csrf")).await? {
        Ok(c) => c,
        Err(to) => return Ok(to),
    };
    match patient_links::finish(&state, &link, form.get("consent") == "yes").await {
        Ok(()) => Ok(see_other(&format!("/p/{token}")).into_response()),
        Err(e) if e.code == Code::ConsentRequired => {
            let mut errors = Errors::default();
            errors.add("consent", e.message);
            Ok(with_status(upload_view(&state, &token, &link, &c, errors, None).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// The patient removes a photo they sent through this link (before finishing).
async fn remove_photo(State(state): State<AppState>, Path((token, photo_id)): Path<(String, String)>, cookie: PatientCookie, form: FormData) -> PageResult {
    let link = find_link(&state, &token).await?;
    if link.purpose != LinkPurpose::Upload {
        return Err(patient_links::unavailable().into());
    }
    if let Err(to) = visit(&state, &token, &link, &cookie, form.get("_csrf")).await? {
        return Ok(to);
    }
    patient_links::remove_photo(&state, &link, &photo_id).await?;
    Ok(see_other(&format!("/p/{token}?removed=1#photos")))
}

/// The patient answers the symptom questions in their own words.
async fn save_answers(State(state): State<AppState>, Path(token): Path<String>, cookie: PatientCookie, form: FormData) -> PageResult {
    let link = find_link(&state, &token).await?;
    if link.purpose != LinkPurpose::Upload {
        return Err(patient_links::unavailable().into());
    }
    let c = match visit(&state, &token, &link, &cookie, form.get("_csrf")).await? {
        Ok(c) => c,
        Err(to) => return Ok(to),
    };
    let f = |k: &str| form.get(k).to_string();
    match patient_links::save_answers(&state, &link, &f("how_long"), &f("itch_or_pain"), &f("changing"), &f("tried")).await {
        Ok(_) => Ok(see_other(&format!("/p/{token}?answers=saved#symptoms"))),
        Err(e) if e.code == Code::InvalidPatientAnswers => {
            let mut errors = Errors::default();
            let field = e.details.as_ref().and_then(|d| d["field"].as_str()).unwrap_or("how_long").to_string();
            errors.add(&field, e.message);
            Ok(with_status(page_view(&state, &token, &link, &c, errors, None, &form).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// The patient tells us how it went (after the outcome, on their status link).
async fn give_feedback(State(state): State<AppState>, Path(token): Path<String>, cookie: PatientCookie, form: FormData) -> PageResult {
    let link = find_link(&state, &token).await?;
    let c = match visit(&state, &token, &link, &cookie, form.get("_csrf")).await? {
        Ok(c) => c,
        Err(to) => return Ok(to),
    };
    match feedback::give(&state, &link, form.get("rating"), form.get("comment")).await {
        Ok(_) => Ok(see_other(&format!("/p/{token}#feedback"))),
        Err(e) if e.code == Code::InvalidFeedback => {
            let mut errors = Errors::default();
            let field = e.details.as_ref().and_then(|d| d["field"].as_str()).unwrap_or("rating").to_string();
            errors.add(&field, e.message);
            Ok(with_status(page_view(&state, &token, &link, &c, errors, None, &form).await?))
        }
        Err(e) => Err(e.into()),
    }
}

