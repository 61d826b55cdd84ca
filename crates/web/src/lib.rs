//! Telederm over HTTP: the JSON API under `/api/v1`, its OpenAPI document, pages, and the
//! operations endpoints (`/healthz`, `/readyz`, `/metrics`).

pub mod access;
pub mod audit;
pub mod api;
pub mod auth;
pub mod error;
pub mod fhir_import;
pub mod intake;
pub mod notices;
pub mod oidc;
pub mod ops;
pub mod pages;
pub mod security;
pub mod usecases;

pub use api::store_photo;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use telederm_domain::calendar::Calendar;
use telederm_domain::policy::ServicePolicy;
use telederm_imaging::IntakeLimits;
use telederm_store::Store;
use telederm_store::blobs::BlobStore;

/// Settings the web layer needs (the binary builds them from its configuration).
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Largest photo upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Most photos on one referral.
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
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            max_upload_bytes: 25 * 1024 * 1024,
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
        }
    }
}

/// The working-day calendar in use and where it came from (`built-in`, a file, the database),
/// swappable while the node runs.
pub struct CalendarCell {
    inner: std::sync::RwLock<(Arc<Calendar>, String)>,
}

impl CalendarCell {
    pub fn new(calendar: Calendar, source: impl Into<String>) -> Self {
        CalendarCell { inner: std::sync::RwLock::new((Arc::new(calendar), source.into())) }
    }

    /// The calendar in use now.
    pub fn get(&self) -> Arc<Calendar> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner).0.clone()
    }

    /// Where the calendar in use came from.
    pub fn source(&self) -> String {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner).1.clone()
    }

    /// Puts `calendar` in use; returns whether it differs from the one before.
    pub fn replace(&self, calendar: Calendar, source: impl Into<String>) -> bool {
        let mut guard = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = *guard.0 != calendar;
        *guard = (Arc::new(calendar), source.into());
        changed
    }
}
/// Default photo intake budget (MiB): sized for a node with 2 GiB of memory, leaving the rest for
/// the process itself, uploads being received and the database connections.
pub const DEFAULT_INTAKE_MEMORY_MB: u64 = 640;
/// Default time an upload waits for intake memory (milliseconds).
pub const DEFAULT_INTAKE_WAIT_MS: u64 = 5000;

/// Everything a request handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Discovered OpenID Connect provider metadata and keys (fetched on first use).
    pub oidc: Arc<oidc::OidcClient>,
    pub blobs: BlobStore,
    pub policies: Arc<BTreeMap<String, ServicePolicy>>,
    /// The working-day calendar in use: `state.calendar.get()`. Replaced while running when a
    /// newer bank-holiday file is loaded into the database (`telederm calendar update`).
    pub calendar: Arc<CalendarCell>,
    pub settings: Arc<WebSettings>,
    /// The time use cases act at.
    pub clock: Clock,
    /// Admission of photo decodes within the node's intake memory budget.
    pub intake: Arc<intake::IntakeGate>,
}

/// The time use cases act at: the system clock, or a fixed instant (the demo seeds its history
/// through the use cases at the times it happened).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock(Option<chrono::DateTime<chrono::Utc>>);

impl Clock {
    pub fn system() -> Clock {
        Clock(None)
    }
    pub fn fixed(at: chrono::DateTime<chrono::Utc>) -> Clock {
        Clock(Some(at))
    }
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.unwrap_or_else(chrono::Utc::now)
    }
}

impl AppState {
    pub fn new(store: Store, blobs: BlobStore, policies: Vec<ServicePolicy>, calendar: Calendar, settings: WebSettings) -> Self {
        let oidc = Arc::new(oidc::OidcClient::new(settings.oidc.clone()));
        let intake = Arc::new(intake::IntakeGate::new(settings.intake_memory_mb, std::time::Duration::from_millis(settings.intake_wait_ms)));
        AppState {
            intake,
            oidc,
            store,
            blobs,
            policies: Arc::new(policies.into_iter().map(|p| (p.id.clone(), p)).collect()),
            calendar: Arc::new(CalendarCell::new(calendar, "built-in")),
            settings: Arc::new(settings),
            clock: Clock::system(),
        }
    }

    /// Now, by this state's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn intake_limits(&self) -> IntakeLimits {
        IntakeLimits { max_file_bytes: self.settings.max_upload_bytes, ..IntakeLimits::default() }
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
