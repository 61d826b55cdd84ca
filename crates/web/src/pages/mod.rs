//! Server-rendered pages for GPs, consultants, patients and admins (NHS.UK frontend, askama).
//!
//! Pages work without JavaScript: every change is a POST followed by a redirect. Each page handler
//! is a thin adapter over [`telederm_app::referrals`] (the same rules as the JSON API) and
//! [`telederm_app::access`] (the same permissions). State-changing forms carry a CSRF token derived from
//! the session ([`Viewer::csrf`]); it is checked in one place, [`Viewer::check`].

// The templates' shared macros (radios, selects) compare values of different types through
// `to_string()`; clippy flags that in askama's generated code.
#![allow(clippy::cmp_owned)]

pub mod oidc;
mod admin;
mod assets;
mod charts;
mod reports;
mod consultant;
mod form;
mod gp;
mod patient;
mod phrases;
mod teaching;
mod triage;
mod views;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use telederm_domain::organisation::{Role, User};

use crate::AppState;
use crate::auth;
use crate::error::{ApiError, Code};
use crate::audit::ClientAddr;

pub use form::FormData;

pub fn routes() -> Router<AppState> {
    // Security headers (CSP, nosniff, framing, referrer) are set for every response in
    // `crate::security::harden`.
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", axum::routing::post(sign_out))
        .merge(oidc::routes())
        .merge(gp::routes())
        .merge(consultant::routes())
        .merge(admin::routes())
        .merge(reports::routes())
        .merge(teaching::routes())
        .merge(patient::routes())
        .merge(assets::routes())
        .merge(phrases::routes())
}

/// The signed-in person looking at a page. Without a session, the page redirects to sign-in.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub csrf: String,
    /// Names this session's typing in the browser's storage (`draft_scope_for`).
    pub draft_scope: String,
}

fn csrf_for(session_token: &str) -> String {
    hex::encode(Sha256::digest(format!("telederm-csrf\0{session_token}").as_bytes()))
}

/// The opaque per-session scope of the browser drafts that `app.mjs` keeps (`data-draft-scope`
/// on `<body>`): a one-way hash of the session token, separate from the CSRF token, so it says
/// nothing about the user or the token. A new session, whoever's, gets a new scope, and the
/// script drops every draft of another scope before restoring anything.
fn draft_scope_for(session_token: &str) -> String {
    hex::encode(&Sha256::digest(format!("telederm-draft-scope\0{session_token}").as_bytes())[..16])
}

/// `Clear-Site-Data: "storage"` for sign-out answers: the browser drops this site's local and
/// session storage (drafts typed in this session among them). Cookies are cleared by `Set-Cookie`.
pub(crate) fn clear_site_storage() -> (header::HeaderName, HeaderValue) {
    (header::HeaderName::from_static("clear-site-data"), HeaderValue::from_static("\"storage\""))
}

impl Viewer {
    /// Refuses a state-changing form whose CSRF token is not this session's.
    pub fn check(&self, form: &FormData) -> Result<(), PageError> {
        self.check_token(form.get("_csrf"))
    }

    pub fn check_token(&self, token: &str) -> Result<(), PageError> {
        if !token.is_empty() && constant_time_eq(token.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(PageError(ApiError::forbidden(
                "This form has expired or did not come from Telederm. Go back, reload the page and try again.",
            )))
        }
    }

    pub fn is(&self, role: Role) -> bool {
        self.user.role == role
    }
}

pub(crate) use telederm_app::credentials::constant_time_eq;

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let to_sign_in = || {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
            Redirect::to(&format!("/sign-in?next={next}")).into_response()
        };
        let Some(token) = auth::cookie_token(parts) else { return Err(to_sign_in()) };
        match auth::current_session(state, &token).await {
            Ok(Some(s)) => Ok(Viewer { user: s.user, csrf: csrf_for(&token), draft_scope: draft_scope_for(&token) }),
            Ok(None) => Err(to_sign_in()),
            Err(e) => Err(PageError(e).into_response()),
        }
    }
}

/// An error shown as an NHS-styled page, with the API error's message (what to do next).
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<telederm_store::StoreError> for PageError {
    fn from(e: telederm_store::StoreError) -> Self {
        PageError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: views::Nav,
    status: u16,
    title: &'a str,
    message: &'a str,
    /// Whether to offer the way home (not to a patient, whose link is all they have).
    home: bool,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let patient_link = self.0.code == Code::LinkUnavailable;
        let title = match status {
            _ if patient_link => "This link has expired",
            StatusCode::NOT_FOUND => "Page not found",
            StatusCode::FORBIDDEN => "You cannot do that",
            StatusCode::CONFLICT => "That cannot be done now",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            s if s.is_server_error() => "Sorry, there is a problem with the service",
            _ => "There is a problem",
        };
        // An error page leaves the browser's drafts alone (`Nav::anonymous()` has no draft scope).
        let page = ErrorPage { nav: views::Nav::anonymous(), status: status.as_u16(), title, message: &self.0.message, home: !patient_link };
        let mut resp = (status, html(&page)).into_response();
        if let Some(secs) = self.0.retry_after() {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

pub type PageResult = Result<Response, PageError>;

/// Renders a template as an HTML response (a render failure is a 500 page, never a panic).
pub fn html<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(body) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(%e, "template render failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Sorry, there is a problem with the service.").into_response()
        }
    }
}

/// Redirect after a successful POST (303 so the browser GETs the next page).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// After a refused action on a referral: back to its case page with the refusal shown at
/// `anchor` (a state conflict or a form mistake), or the error page when the person may not act
/// (403) or see the referral (404), never a redirect that would hint at it.
pub fn back_to_case(id: &str, anchor: &str, e: ApiError) -> PageResult {
    if e.is_client_error() && !matches!(e.code, Code::NotFound | Code::Forbidden) {
        let msg: String = form_urlencoded::byte_serialize(e.message.as_bytes()).collect();
        return Ok(see_other(&format!("/referrals/{id}?error={msg}#{anchor}")));
    }
    Err(e.into())
}

async fn home(viewer: Viewer) -> Response {
    see_other(match viewer.user.role {
        Role::Referrer => "/referrals",
        Role::Consultant => "/worklist",
        Role::ServiceAdmin | Role::SystemAdmin => "/admin",
    })
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    nav: views::Nav,
    errors: views::Errors,
    email: String,
    next: String,
    /// The single sign-on button's label, when single sign-on is configured.
    sso: Option<&'static str>,
}

fn sso_label(state: &AppState) -> Option<&'static str> {
    state.settings.oidc.as_ref().map(|_| "Sign in with single sign-on (NHS Care Identity)")
}

/// Where to go after signing in: only a same-origin absolute path (one leading `/`, no `//`, no
/// `\`, no control characters or spaces, which browsers strip or read as `/` and so could turn
/// `/\t/evil.example` into `//evil.example`); anything else goes home.
pub(crate) fn safe_next(next: &str) -> String {
    let safe = next.starts_with('/')
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 2048;
    if safe { next.to_string() } else { "/".into() }
}

#[cfg(test)]
mod safe_next_tests {
    use super::safe_next;

    #[test]
    fn only_same_origin_absolute_paths_are_followed() {
        for ok in ["/", "/referrals", "/referrals/abc?tab=photos#top", "/a/b-c_d.e"] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%09/evil.example/\r",
            "/\\evil.example",
            "\\/evil.example",
            "https://evil.example/",
            "evil.example",
            "/ /evil.example",
            "/a//b",
            "",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
}

async fn sign_in_page(State(state): State<AppState>, uri: OriginalUri) -> Response {
    let q = FormData::from_query(uri.query().unwrap_or(""));
    html(&SignInPage {
        nav: views::Nav::signed_out(),
        errors: views::Errors::default(),
        email: String::new(),
        next: safe_next(q.get("next")),
        sso: sso_label(&state),
    })
}

async fn sign_in(State(state): State<AppState>, client: ClientAddr, previous: Parts2, form: FormData) -> PageResult {
    let email = form.get("email").trim().to_string();
    let password = form.get("password").to_string();
    let next = safe_next(form.get("next"));
    let mut errors = views::Errors::default();
    if email.is_empty() {
        errors.add("email", "Enter your email address");
    }
    if password.is_empty() {
        errors.add("password", "Enter your password");
    }
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    let mut retry_after = None;
    if errors.is_empty() {
        match auth::authenticate(&state, &email, &password, &client).await {
            Ok(user) => {
                let token = auth::start_session(&state, &user, previous.0.as_deref()).await?;
                return Ok(signed_in_redirect(&state, &token, &next));
            }
            Err(e) if e.code == Code::InvalidCredentials => {
                errors.add("email", "The email address or password is not right. Check them and try again");
            }
            Err(e) if e.code == Code::TooManyAttempts => {
                status = StatusCode::TOO_MANY_REQUESTS;
                retry_after = e.retry_after();
                errors.add("email", &e.message);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut resp = html(&SignInPage { nav: views::Nav::signed_out(), errors, email, next, sso: sso_label(&state) });
    *resp.status_mut() = status;
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    Ok(resp)
}

/// The redirect after signing in, carrying the new session's cookie.
pub(crate) fn signed_in_redirect(state: &AppState, token: &str, next: &str) -> Response {
    let mut resp = see_other(next);
    if let Ok(v) = HeaderValue::from_str(&auth::session_cookie(state, token)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn sign_out(State(state): State<AppState>, viewer: Viewer, parts: Parts2, form: FormData) -> PageResult {
    viewer.check(&form)?;
    if let Some(token) = parts.0 {
        state.store.delete_session(&auth::token_hash(&token)).await?;
    }
    let mut resp = see_other("/sign-in");
    if let Ok(v) = HeaderValue::from_str(&auth::clear_cookie(&state)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    let (name, value) = clear_site_storage();
    resp.headers_mut().insert(name, value);
    Ok(resp)
}

/// The raw session token from the cookie (for sign-out).
pub(crate) struct Parts2(pub(crate) Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Parts2 {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Parts2(auth::cookie_token(parts)))
    }
}
