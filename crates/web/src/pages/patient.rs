//! Patient upload links. The practice creates a link for one referral; the patient opens
//! `/p/{token}` on their phone, confirms their date of birth, sees the photo guidance, uploads
//! photos (each checked at once) and finishes. The pages show nothing clinical.
//!
//! Security: the token has 256 bits of randomness and only its SHA-256 is stored; a link expires
//! (7 days by default), can be revoked, locks after 5 wrong dates of birth, takes at most 5 photos,
//! and works only while the referral accepts photos. After the date of birth matches, a separate
//! random cookie (its hash stored on the link) proves it for the rest of the visit.

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Multipart, OriginalUri, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDate, Utc};
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::ReferralStatus;
use telederm_store::patient_links::PatientLink;

use super::form::{FormData, busy_page, is_busy, read_upload};
use super::views::{Errors, Nav, PhotoView};
use super::{PageError, PageResult, Viewer, constant_time_eq, html, see_other};
use crate::AppState;
use crate::access::Capability;
use crate::audit::{self, Actor, Target};
use telederm_store::AuditOutcome;
use crate::auth::{new_token, token_hash};
use crate::error::ApiError;
use crate::usecases;

pub const LINK_DAYS: i64 = 7;
pub const MAX_DOB_FAILURES: i64 = 5;
pub const MAX_LINK_PHOTOS: i64 = 5;
const COOKIE: &str = "telederm_patient";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/referrals/{id}/patient-links", post(create_link))
        .route("/referrals/{id}/patient-links/{link_id}/revoke", post(revoke_link))
        .route("/p/{token}", get(landing).post(verify))
        .route("/p/{token}/photos", post(upload).layer(axum::extract::DefaultBodyLimit::max(30 * 1024 * 1024)))
        .route("/p/{token}/done", post(finish))
}

// ---------------------------------------------------------------- the practice's side

async fn create_link(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    let r = usecases::load(&state, &v.user, &id, Capability::UploadPhoto).await?;
    let policy = usecases::policy(&state, &r.service_id)?;
    if !policy.patient_upload_links {
        return Err(PageError(ApiError::conflict("links_not_offered", format!("{} does not take photos through patient upload links.", policy.name))));
    }
    if !r.status.accepts_photos() {
        return Err(PageError(ApiError::conflict("photos_locked", "Patient links can be sent only for a draft or when the consultant asks for more photos.")));
    }
    let (token, hash) = new_token();
    let now = Utc::now();
    let link = PatientLink {
        id: uuid::Uuid::new_v4(),
        token_hash: hash,
        referral_id: r.id,
        created_by: Some(v.user.id),
        created_at: now,
        expires_at: now + Duration::days(LINK_DAYS),
        revoked_at: None,
        failed_attempts: 0,
        locked_at: None,
        session_hash: None,
        verified_at: None,
        max_photos: MAX_LINK_PHOTOS,
        photos_uploaded: 0,
        submitted_at: None,
    };
    // The patient is sent the link (if they gave an email address, or a phone number and the
    // notifier sends text messages); the practice also sees it to pass on by hand.
    let url = format!("{}/p/{token}", state.settings.public_url.trim_end_matches('/'));
    let notices: Vec<_> = crate::notices::to_patient(&state, &r, crate::notices::templates::PATIENT_PHOTO_REQUEST, url, &link.id.to_string())
        .into_iter()
        .collect();
    let result = state.store.create_patient_link_notifying(&link, &notices).await.map_err(ApiError::from);
    audit::outcome_of(&state, &Actor::user(&v.user), "patient_link.create", Target::within("patient_link", link.id, r.id), &result, "").await;
    result?;
    let path: String = form_urlencoded::byte_serialize(format!("/p/{token}").as_bytes()).collect();
    Ok(see_other(&format!("/referrals/{id}?link={path}#patient-link")))
}

async fn revoke_link(State(state): State<AppState>, v: Viewer, Path((id, link_id)): Path<(String, String)>, form: FormData) -> PageResult {
    v.check(&form)?;
    let r = usecases::load(&state, &v.user, &id, Capability::UploadPhoto).await?;
    let link_id = uuid::Uuid::parse_str(&link_id).map_err(|_| ApiError::not_found("link"))?;
    if !state.store.list_patient_links(r.id).await?.iter().any(|l| l.id == link_id) {
        return Err(PageError(ApiError::not_found("link")));
    }
    let result = state.store.revoke_patient_link(link_id, Utc::now()).await.map_err(ApiError::from);
    audit::outcome_of(&state, &Actor::user(&v.user), "patient_link.revoke", Target::within("patient_link", link_id, r.id), &result, "").await;
    result?;
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

/// The patient pages' one message for any link that cannot be used: it says nothing about why
/// (or whose), so a guessed or old link learns nothing.
fn unavailable() -> PageError {
    PageError(ApiError::not_found("upload link (it may have expired or been cancelled: ask your GP practice for a new one)"))
}

async fn find_link(state: &AppState, token: &str) -> Result<PatientLink, PageError> {
    let found = if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        None
    } else {
        state.store.patient_link_by_token_hash(&token_hash(token)).await?
    };
    match found {
        Some(link) => Ok(link),
        None => {
            let target = Target::many("patient_link");
            Err(PageError(audit::denied(state, &Actor::patient_link(), "patient_link.use", target, unavailable().0).await))
        }
    }
}

/// Records what the patient did with a link (ids only: the link and its referral).
async fn link_audit(state: &AppState, link: &PatientLink, action: &str, outcome: AuditOutcome, detail: &str) -> Result<(), PageError> {
    let target = Target::within("patient_link", link.id, link.referral_id);
    audit::record(state, &Actor::patient_link(), action, target, outcome, detail).await.map_err(PageError)
}

/// A link that exists but cannot be used now (expired, revoked, locked, finished): refused, and
/// recorded with the reason.
async fn refuse_unusable(state: &AppState, link: &PatientLink, action: &str) -> PageError {
    let now = Utc::now();
    let why = if link.revoked_at.is_some() {
        "revoked"
    } else if link.locked_at.is_some() {
        "locked"
    } else if link.expires_at <= now {
        "expired"
    } else {
        "not usable"
    };
    match link_audit(state, link, action, AuditOutcome::Denied, &format!("link {why}")).await {
        Ok(()) => unavailable(),
        Err(e) => e,
    }
}

fn verified(link: &PatientLink, cookie: &Option<String>) -> bool {
    match (&link.session_hash, cookie) {
        (Some(h), Some(c)) => constant_time_eq(h.as_bytes(), token_hash(c).as_bytes()),
        _ => false,
    }
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage {
    nav: Nav,
    token: String,
    mode: &'static str,
    errors: Errors,
    day: String,
    month: String,
    year: String,
    csrf: String,
    photos: Vec<PhotoView>,
    just: Option<PhotoView>,
    remaining: i64,
    max_mb: u64,
    status_text: String,
    practice_guidance: Vec<String>,
    kinds: Vec<(&'static str, &'static str)>,
}

impl PatientPage {
    fn new(token: &str, mode: &'static str) -> Self {
        PatientPage {
            nav: Nav::anonymous(),
            token: token.into(),
            mode,
            errors: Errors::default(),
            day: String::new(),
            month: String::new(),
            year: String::new(),
            csrf: String::new(),
            photos: Vec::new(),
            just: None,
            remaining: 0,
            max_mb: 0,
            status_text: String::new(),
            practice_guidance: Vec::new(),
            kinds: vec![
                ("locator", "A photo from further away (1 to 1.5 metres) showing where on your body it is"),
                ("close_up", "A close-up (about 30 cm away)"),
            ],
        }
    }
}

fn plain_status(s: ReferralStatus) -> &'static str {
    match s {
        ReferralStatus::Draft => "Your GP practice has your photos and will send them to a skin specialist.",
        ReferralStatus::Submitted | ReferralStatus::InReview => "A skin specialist is looking at your photos. Your GP practice will contact you with their advice.",
        ReferralStatus::AwaitingInformation => "The skin specialist has asked your GP practice for more information. Your practice will contact you if they need anything else.",
        ReferralStatus::OutcomeIssued | ReferralStatus::Closed => "The skin specialist has replied to your GP practice. Your practice will contact you about what happens next.",
        ReferralStatus::Rejected => "Your GP practice will contact you about what happens next.",
        ReferralStatus::Withdrawn => "Your GP practice is no longer using this request. Contact them if you have questions.",
    }
}

async fn upload_view(state: &AppState, token: &str, link: &PatientLink, cookie: &str, errors: Errors, just: Option<&str>) -> Result<Response, PageError> {
    link_audit(state, link, "patient_link.read", AuditOutcome::Allowed, "").await?;
    let r = state.store.get_referral(link.referral_id).await?;
    let mut page = PatientPage::new(token, if link.submitted_at.is_some() || !link.is_usable(Utc::now()) { "status" } else { "upload" });
    let photos: Vec<PhotoView> = state
        .store
        .list_photos(r.id)
        .await?
        .iter()
        .filter(|p| p.source == ImageSource::Patient && p.created_at >= link.created_at)
        .map(PhotoView::from)
        .collect();
    page.errors = errors;
    page.csrf = csrf_of(cookie);
    page.just = just.and_then(|j| photos.iter().find(|p| p.id == j).cloned());
    page.photos = photos;
    page.remaining = (link.max_photos - link.photos_uploaded).max(0);
    page.max_mb = state.settings.max_upload_bytes / 1_000_000;
    page.status_text = plain_status(r.status).into();
    page.practice_guidance = state.policies.get(&r.service_id).map(|p| p.photo_guidance.clone()).unwrap_or_default();
    Ok(html(&page))
}

async fn landing(State(state): State<AppState>, Path(token): Path<String>, cookie: PatientCookie, uri: OriginalUri) -> PageResult {
    let link = find_link(&state, &token).await?;
    if verified(&link, &cookie.0) {
        let q = FormData::from_query(uri.query().unwrap_or(""));
        let c = cookie.0.unwrap_or_default();
        return upload_view(&state, &token, &link, &c, Errors::default(), q.opt("photo")).await;
    }
    if !link.is_usable(Utc::now()) {
        return Err(refuse_unusable(&state, &link, "patient_link.open").await);
    }
    Ok(html(&PatientPage::new(&token, "verify")))
}

async fn verify(State(state): State<AppState>, Path(token): Path<String>, form: FormData) -> PageResult {
    let link = find_link(&state, &token).await?;
    let now = Utc::now();
    if !link.is_usable(now) {
        return Err(refuse_unusable(&state, &link, "patient_link.verify").await);
    }
    let r = state.store.get_referral(link.referral_id).await?;
    let (d, m, y) = (form.get("dob_day").trim(), form.get("dob_month").trim(), form.get("dob_year").trim());
    let given = match (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) {
        (Ok(y), Ok(m), Ok(d)) => NaiveDate::from_ymd_opt(y, m, d),
        _ => None,
    };
    let mut page = PatientPage::new(&token, "verify");
    page.day = d.into();
    page.month = m.into();
    page.year = y.into();
    match given {
        None => {
            page.errors.add("dob_day", "Enter your date of birth as day, month and year, for example 14 3 1988");
        }
        Some(g) if g == r.patient.date_of_birth => {
            let (cookie, hash) = new_token();
            state.store.verify_patient_link(link.id, &hash, now).await?;
            link_audit(&state, &link, "patient_link.verify", AuditOutcome::Allowed, "date of birth matched").await?;
            let mut resp = see_other(&format!("/p/{token}"));
            let c = format!("{COOKIE}={cookie}; Path=/p/{token}; HttpOnly; SameSite=Strict; Max-Age=3600{}", if state.settings.secure_cookies { "; Secure" } else { "" });
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            return Ok(resp);
        }
        Some(_) => {
            let after = state.store.record_patient_link_failure(link.id, now, MAX_DOB_FAILURES).await?;
            let detail = format!("date of birth did not match ({} of {MAX_DOB_FAILURES}){}", after.failed_attempts, if after.locked_at.is_some() { "; link locked" } else { "" });
            link_audit(&state, &link, "patient_link.verify", AuditOutcome::Denied, &detail).await?;
            if after.locked_at.is_some() {
                return Err(PageError(ApiError::forbidden(
                    "This link is now locked because the date of birth did not match too many times. Contact your GP practice for a new link.",
                )));
            }
            let left = MAX_DOB_FAILURES - after.failed_attempts;
            page.errors.add("dob_day", format!("The date of birth does not match our records. Check it and try again ({left} tries left)"));
        }
    }
    let mut resp = html(&page);
    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(resp)
}

async fn upload(State(state): State<AppState>, Path(token): Path<String>, cookie: PatientCookie, multipart: Multipart) -> PageResult {
    // The link (and the visit's cookie) is checked before a byte of the body is read: an unknown,
    // unverified or unusable link never gets the server to receive and buffer a photo.
    let link = find_link(&state, &token).await?;
    let c = cookie.0.clone().unwrap_or_default();
    if !verified(&link, &cookie.0) {
        return Ok(see_other(&format!("/p/{token}")));
    }
    if !link.is_usable(Utc::now()) {
        return Err(refuse_unusable(&state, &link, "photo.upload").await);
    }
    let upload = read_upload(multipart, state.settings.max_upload_bytes).await;
    let mut errors = Errors::default();
    let upload = match upload {
        Ok(u) => u,
        Err(e) => {
            errors.add("file", e.body.message);
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
    let r = state.store.get_referral(link.referral_id).await?;
    if !r.status.accepts_photos() {
        return Err(unavailable());
    }
    if !state.store.take_patient_link_photo(link.id).await? {
        errors.add("file", format!("You have already sent {} photos, the most this link takes. Press 'I have finished' to send them.", link.max_photos));
        return Ok(with_status(upload_view(&state, &token, &link, &c, errors, None).await?));
    }
    match crate::store_photo(&state, &r, kind, ImageSource::Patient, None, bytes).await {
        Ok(photo) => Ok(see_other(&format!("/p/{token}?photo={}#photo-check", photo.id))),
        Err(e) => {
            state.store.return_patient_link_photo(link.id).await?;
            if is_busy(&e) {
                errors.add("file", e.body.message.clone());
                let link = find_link(&state, &token).await?;
                return Ok(busy_page(upload_view(&state, &token, &link, &c, errors, None).await?, &e));
            }
            if e.status.is_server_error() {
                return Err(e.into());
            }
            errors.add("file", e.body.message);
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
    if !verified(&link, &cookie.0) {
        return Ok(see_other(&format!("/p/{token}")));
    }
    let c = cookie.0.unwrap_or_default();
    if !constant_time_eq(form.get("_csrf").as_bytes(), csrf_of(&c).as_bytes()) {
        return Err(PageError(ApiError::forbidden("This form has expired. Go back, reload the page and try again.")));
    }
    let result = state.store.submit_patient_link(link.id, Utc::now()).await;
    let outcome = if result.is_ok() { AuditOutcome::Allowed } else { AuditOutcome::Failed };
    link_audit(&state, &link, "patient_link.submit", outcome, "").await?;
    result?;
    Ok(see_other(&format!("/p/{token}")).into_response())
}

