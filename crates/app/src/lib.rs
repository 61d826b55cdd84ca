//! Telederm's application layer: every use case once, for every adapter (the JSON API, the pages,
//! the CLI, the demo, the worker and the FHIR import call these and nothing below them).
//!
//! Each use case is a function over an explicit context ([`App`]: store, blobs, policies, calendar,
//! clock, intake budget) and the acting user. It loads through the access table ([`access`]),
//! applies the pure rules of `telederm_domain`, and writes its change in **one** transaction with
//! its audit entry ([`audit`]); a refused action writes only its refusal's entry. Errors come from
//! one catalogue ([`error::Code`]).
//!
//! | module | use cases |
//! |---|---|
//! | [`referrals`] | create and edit a draft, submit, claim, request information, reply, record an outcome, withdraw, close, lists |
//! | [`photos`] | upload (intake, quality check, blobs), delete, read |
//! | [`documents`] | PDF attachments: upload (sniffed, size-limited, blobs), delete, read |
//! | [`patient_links`] | create, revoke and use a patient's photo upload link, open a status link |
//! | [`links`] | patient link records and addresses (upload and status links) |
//! | [`users`] | create organisations and users, set passwords, link single sign-on identities |
//! | [`imports`] | a GP system's FHIR Bundle as the caller's draft |
//! | [`notices`] | who is told what when a referral changes (outbox rows in the change's transaction) |

pub mod access;
pub mod audit;
pub mod credentials;
pub mod documents;
pub mod error;
pub mod feedback;
pub mod gp_letters;
pub mod imports;
pub mod intake;
pub mod links;
pub mod metrics;
pub mod notices;
pub mod patient_links;
pub mod photos;
pub mod phrases;
pub mod referrals;
pub mod reports;
pub mod teaching;
pub mod users;

pub use error::{Code, Error, Result};

use std::collections::BTreeMap;
use std::sync::Arc;

use telederm_domain::calendar::Calendar;
use telederm_domain::policy::ServicePolicy;
use telederm_imaging::IntakeLimits;
use telederm_store::Store;
use telederm_store::blobs::BlobStore;

/// Default photo intake budget (MiB): sized for a node with 2 GiB of memory, leaving the rest for
/// the process itself, uploads being received and the database connections.
pub const DEFAULT_INTAKE_MEMORY_MB: u64 = 640;
/// Default largest document (PDF) upload: 10 MB.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 10_000_000;
/// Default time an upload waits for intake memory (milliseconds).
pub const DEFAULT_INTAKE_WAIT_MS: u64 = 5000;

/// The settings use cases read.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest photo upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Largest document (PDF) accepted, in bytes (a service's `max_attachment_bytes` may lower it).
    pub max_document_bytes: u64,
    /// Most attachments on one referral: photos and documents counted together.
    pub max_photos_per_referral: usize,
    /// Where people reach the service: the base of links in notifications (no trailing slash).
    pub public_url: String,
    /// Whether the notifier can send text messages (patients with a phone number and no email).
    pub sms_enabled: bool,
    /// Working memory for photo intake on this node, in MiB (see [`intake`]).
    pub intake_memory_mb: u64,
    /// How long an upload waits for intake memory before it is answered `503 intake_busy`.
    pub intake_wait_ms: u64,
    /// Outcome letters go into the GP record over MESH (GP Connect Send Document): recording an
    /// outcome writes a letter to send (`gp_letters`).
    pub gp_letters: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_upload_bytes: 25 * 1024 * 1024,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            max_photos_per_referral: 20,
            public_url: "http://127.0.0.1:8080".into(),
            sms_enabled: false,
            intake_memory_mb: DEFAULT_INTAKE_MEMORY_MB,
            intake_wait_ms: DEFAULT_INTAKE_WAIT_MS,
            gp_letters: false,
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

/// What every use case works over. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub blobs: BlobStore,
    pub policies: Arc<BTreeMap<String, ServicePolicy>>,
    /// The working-day calendar in use: `app.calendar.get()`. Replaced while running when a
    /// newer bank-holiday file is loaded into the database (`telederm calendar update`).
    pub calendar: Arc<CalendarCell>,
    pub config: Arc<Config>,
    /// The time use cases act at.
    pub clock: Clock,
    /// Admission of photo decodes within the node's intake memory budget.
    pub intake: Arc<intake::IntakeGate>,
    /// The onward-services directory (`directory.toml` beside the policies, or the built-in
    /// example entries).
    pub directory: Arc<telederm_domain::directory::Directory>,
}

impl App {
    pub fn new(store: Store, blobs: BlobStore, policies: Vec<ServicePolicy>, calendar: Calendar, config: Config) -> Self {
        let intake = Arc::new(intake::IntakeGate::new(config.intake_memory_mb, std::time::Duration::from_millis(config.intake_wait_ms)));
        App {
            intake,
            store,
            blobs,
            policies: Arc::new(policies.into_iter().map(|p| (p.id.clone(), p)).collect()),
            calendar: Arc::new(CalendarCell::new(calendar, "built-in")),
            config: Arc::new(config),
            clock: Clock::system(),
            directory: Arc::new(telederm_domain::directory::Directory::builtin()),
        }
    }

    /// Display names by id, for letters and exports: the services' names, and "name, provider" of
    /// the onward-services directory's entries (a service's own id wins over a directory entry's).
    pub fn service_names(&self) -> BTreeMap<String, String> {
        let mut names: BTreeMap<String, String> = self.directory.services.iter().map(|e| (e.id.clone(), e.display())).collect();
        names.extend(self.policies.iter().map(|(id, p)| (id.clone(), p.name.clone())));
        names
    }

    /// Now, by this context's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn intake_limits(&self) -> IntakeLimits {
        IntakeLimits { max_file_bytes: self.config.max_upload_bytes, ..IntakeLimits::default() }
    }

    /// The service with this id.
    pub fn policy(&self, id: &str) -> Result<&ServicePolicy> {
        self.policies.get(id).ok_or_else(|| {
            Error::new(Code::UnknownService, format!("There is no service {id:?}. GET /api/v1/services lists them."))
        })
    }
}
