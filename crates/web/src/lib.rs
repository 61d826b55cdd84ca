//! Telederm over HTTP: the JSON API under `/api/v1`, its OpenAPI document, pages, and the
//! operations endpoints (`/healthz`, `/readyz`, `/metrics`).

//!
//! An adapter: handlers and pages parse input, call the application layer (`telederm_app`) and
//! render. [`AppState`] is the application context plus what only HTTP needs (sign-in settings,
//! single sign-on).

pub mod audit;
pub mod api;
pub mod auth;
pub mod error;
pub mod ops;
pub mod pages;
pub mod security;

/// Single sign-on (its pages live with the other pages).
pub use pages::oidc;

pub use telederm_app::{App, CalendarCell, Clock, DEFAULT_INTAKE_MEMORY_MB, DEFAULT_INTAKE_WAIT_MS, DEFAULT_MAX_DOCUMENT_BYTES};

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use telederm_domain::calendar::Calendar;
use telederm_domain::policy::ServicePolicy;
use telederm_store::Store;
use telederm_store::blobs::BlobStore;

/// Settings the web layer needs (the binary builds them from its configuration).
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Largest photo upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Largest document (PDF) upload accepted, in bytes.
    pub max_document_bytes: u64,
    /// Most photos and documents together on one referral.
    pub max_photos_per_referral: usize,
    /// Mark cookies `Secure` (when served over TLS).
    pub secure_cookies: bool,
    /// Where people reach the service: the base of links in notifications (no trailing slash).
    pub public_url: String,
    /// Whether the notifier can send text messages (patients with a phone number and no email).
    pub sms_enabled: bool,
    /// The notification provider configured on this node (`SMTP`, `GOV.UK Notify`), if any:
    /// without one, notifications wait in the outbox (the admin jobs page says so).
    pub notifier: Option<String>,
    /// A reverse proxy is in front: take the client's address (for the audit trail and sign-in rate limits) from the last
    /// `X-Forwarded-For` entry instead of the TCP peer.
    pub trust_proxy: bool,
    /// Send `Strict-Transport-Security` (when served over TLS, directly or behind a proxy).
    pub hsts: bool,
    /// A session ends after this long without use.
    pub session_idle_seconds: i64,
    /// A session ends this long after sign-in, whatever happens.
    pub session_max_seconds: i64,
    /// Failed sign-ins are counted over this sliding window.
    pub sign_in_window_seconds: i64,
    /// Failed sign-ins to one account from one client address within the window before the
    /// account is refused from that address (until they age out).
    pub max_failures_per_account: usize,
    /// Failed sign-ins to one account from any addresses within the window before it is refused
    /// everywhere.
    pub max_failures_per_account_any_address: usize,
    /// Failed sign-ins from one client address (any accounts) within the window before attempts
    /// from it are slowed and its wrong passwords answered 429 (correct ones still sign in).
    pub max_failures_per_address: usize,
    /// How long each sign-in attempt from a slowed address waits first.
    pub sign_in_slowdown_ms: u64,
    /// Largest request body for anything but a photo upload.
    pub max_body_bytes: usize,
    /// OpenID Connect single sign-on, when configured.
    pub oidc: Option<oidc::OidcSettings>,
    /// Working memory for photo intake on this node, in MiB (see [`intake`]).
    pub intake_memory_mb: u64,
    /// How long an upload waits for intake memory before it is answered `503 intake_busy`.
    pub intake_wait_ms: u64,
    /// Outcome letters are sent into the GP record over MESH (TELEDERM_MESH_URL is set).
    pub gp_letters: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            max_upload_bytes: 25 * 1024 * 1024,
            max_document_bytes: telederm_app::DEFAULT_MAX_DOCUMENT_BYTES,
            max_photos_per_referral: 20,
            secure_cookies: false,
            public_url: "http://127.0.0.1:8080".into(),
            sms_enabled: false,
            notifier: None,
            trust_proxy: false,
            hsts: false,
            session_idle_seconds: 30 * 60,
            session_max_seconds: 12 * 3600,
            sign_in_window_seconds: 15 * 60,
            max_failures_per_account: 5,
            max_failures_per_account_any_address: 20,
            max_failures_per_address: 20,
            sign_in_slowdown_ms: 1500,
            max_body_bytes: 2 * 1024 * 1024,
            oidc: None,
            intake_memory_mb: DEFAULT_INTAKE_MEMORY_MB,
            intake_wait_ms: DEFAULT_INTAKE_WAIT_MS,
            gp_letters: false,
        }
    }
}

/// Everything a request handler can reach: the application context (`state.store`,
/// `state.policies`, ... through `Deref`) and the web settings. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    /// Discovered OpenID Connect provider metadata and keys (fetched on first use).
    pub oidc: Arc<oidc::OidcClient>,
    pub settings: Arc<WebSettings>,
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl AppState {
    pub fn new(store: Store, blobs: BlobStore, policies: Vec<ServicePolicy>, calendar: Calendar, settings: WebSettings) -> Self {
        let oidc = Arc::new(oidc::OidcClient::new(settings.oidc.clone()));
        let config = telederm_app::Config {
            max_upload_bytes: settings.max_upload_bytes,
            max_document_bytes: settings.max_document_bytes,
            max_photos_per_referral: settings.max_photos_per_referral,
            public_url: settings.public_url.clone(),
            sms_enabled: settings.sms_enabled,
            intake_memory_mb: settings.intake_memory_mb,
            intake_wait_ms: settings.intake_wait_ms,
            gp_letters: settings.gp_letters,
        };
        AppState { app: App::new(store, blobs, policies, calendar, config), oidc, settings: Arc::new(settings) }
    }
}

/// The largest request body any route takes: the largest photo upload (the page upload forms allow
/// 30 MiB) plus its form.
pub fn hard_body_limit(settings: &WebSettings) -> usize {
    usize::try_from(settings.max_upload_bytes).unwrap_or(usize::MAX).max(30 << 20).saturating_add(4 << 20)
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    // No request body may be larger than the largest photo upload (plus its form), whatever the
    // route (the page upload forms allow 30 MiB); other routes are held to `max_body_bytes`.
    let hard_limit = hard_body_limit(&state.settings);
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest("/api/v1", api::routes(&state))
        .merge(pages::routes())
        .layer(axum::extract::DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(hard_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), api::uniform_errors))
        // Outside the body limits and the error shaping, so their answers carry the security
        // headers too (it reads only the request's headers, never its body).
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::harden))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(api::panic_response))
        .layer(axum::middleware::from_fn(ops::track))
        .layer(axum::middleware::from_fn_with_state(state.clone(), audit::client_address_layer))
        .with_state(state)
}
