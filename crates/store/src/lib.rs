//! Telederm's storage port.
//!
//! [`Store`] is the one SQL adapter: the same queries run on SQLite (the embedded default) and
//! PostgreSQL (for several nodes), chosen by the URL scheme through sqlx's `Any` driver. Each
//! dialect has its own migrations (`migrations/sqlite`, `migrations/postgres`); everything else is
//! portable SQL with `$n` parameters, text timestamps and 0/1 booleans. Photos live in a
//! [`blobs::BlobStore`], never in the database.

pub mod audit;
pub mod blob_crypto;
pub mod blobs;
pub mod calendar;
pub mod copy;
pub mod documents;
pub mod gp_letter_queue;
pub mod gp_letters;
mod codec;
pub mod jobs;
pub mod key_rotation;
mod name_words;
pub mod outbox;
mod referrals;
pub mod reports;
pub mod retention;
pub mod sla;
pub mod sweep;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod patient_links;
pub mod patient_feedback;
pub mod phrases;
pub mod teaching;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};

pub use audit::{AuditEntry, AuditFilter, AuditOutcome, NewAuditEntry};
pub use documents::{DocumentRecord, insert_document_in};
pub use gp_letters::{GpLetter, GpLetterStatus, NewGpLetter, insert_gp_letter_in};
pub use jobs::{Job, JobState, NewJob, enqueue_job_in};
pub use outbox::{Channel, OutboxMessage, OutboxRecord, OutboxState, Template, insert_outbox};
pub use referrals::{EventRecord, FaceConfirmation, PhotoRecord, ReferralFilter, ReferralSummary, add_message_in, insert_import_source_in, insert_photo_in, insert_referral_in};
pub use phrases::SavedPhrase;
pub use sweep::{SweepError, SweepReport, sweep_orphan_blobs};
pub use users::{OidcLogin, SessionUser, UserOrigin, create_organisation_in, create_user_in};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// Someone else changed the record first, or a unique value is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// The same failure for a second caller (one batch's error answers every entry in it): the
    /// same kind, and still [`StoreError::is_unavailable`] when this one is.
    pub fn duplicate(&self) -> StoreError {
        match self {
            StoreError::NotFound => StoreError::NotFound,
            StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
            StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
            StoreError::UnsupportedUrl(u) => StoreError::UnsupportedUrl(u.clone()),
            StoreError::Database(sqlx::Error::PoolTimedOut) => StoreError::Database(sqlx::Error::PoolTimedOut),
            e if e.is_unavailable() => {
                StoreError::Database(sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, e.to_string())))
            }
            e => StoreError::Database(sqlx::Error::Protocol(e.to_string())),
        }
    }

    /// Whether the database could not be reached (down, restarting, refusing connections, or
    /// every pooled connection busy for [`ACQUIRE_TIMEOUT`]) rather than refusing this request:
    /// the request may succeed if tried again later, and nothing was written.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else { return false };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
            // PostgreSQL's own answers: class 08 (connection exception), 57P01-57P03 (the server
            // is shutting down, crashed, or cannot accept connections yet), 53300 (too many
            // connections).
            sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P0") || c == "53300"),
            _ => false,
        }
    }
}

/// How long a request waits for a database connection before it fails with
/// [`StoreError::is_unavailable`] (an answer such as `503 database_unavailable`, instead of a
/// request hanging while the database is down). While the database is unreachable the pool keeps
/// trying to connect for this long, so a node recovers on its own once it is back.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a claimed job is held before another worker may take it over, unless a node sets
/// another with [`Store::with_job_lease`].
pub const DEFAULT_JOB_LEASE: Duration = Duration::from_secs(300);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> Result<Dialect> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Dialect::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_string()))
        }
    }
}

/// The database behind Telederm. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite allows one writer: writes queue here instead of failing with `SQLITE_BUSY`.
    write_lock: Arc<tokio::sync::Mutex<()>>,
    /// How long this store's workers hold a claimed job ([`Store::claim_jobs`]).
    job_lease: Duration,
    /// Entries waiting for this node's audit writer ([`Store::append_audit`]); started on first use.
    audit_queue: Arc<std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<audit::Pending>>>>,
    audit_batches: Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Connects, creating an SQLite file if needed, and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store> {
        let store = Self::connect_without_migrating(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub async fn connect_without_migrating(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url)?;
        let url = match dialect {
            // Create the file on first start; WAL and synchronous=FULL are set on every connection.
            Dialect::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 8 } else { 16 })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        use sqlx::Executor;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        // Read the database through a memory map shared by all connections. Every
                        // request appends to the audit trail, and in WAL mode any write makes every
                        // other connection drop its whole page cache, so without the map each list
                        // would copy its index and table pages in again (bench/scale measures it).
                        conn.execute("PRAGMA mmap_size = 1073741824").await?;
                        // Planner statistics for tables that have none or have grown tenfold since
                        // (SQLite's advice for long-lived connections; bounded work). Without them
                        // the worklist would not pick its partial index (migration 0008). Best
                        // effort: a busy database must not stop the connection from opening.
                        let _ = conn.execute("PRAGMA optimize = 0x10002").await;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Store {
            pool,
            dialect,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            job_lease: DEFAULT_JOB_LEASE,
            audit_queue: Default::default(),
            audit_batches: Default::default(),
        })
    }

    /// The same store, with workers holding each claimed job for `lease` (a node's
    /// `TELEDERM_JOB_LEASE_SECONDS`): a job whose worker dies is claimed again once it runs out.
    pub fn with_job_lease(mut self, lease: Duration) -> Store {
        self.job_lease = lease;
        self
    }

    /// How long workers on this store hold a claimed job.
    pub fn job_lease(&self) -> Duration {
        self.job_lease
    }

    pub async fn migrate(&self) -> Result<()> {
        match self.dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await?,
        }
        self.backfill_report_facts().await?;
        self.backfill_name_words().await
    }

    /// Awaits `fill` when the one-row marker table `marker` says it has not run on this database,
    /// then marks it done: derived data a migration adds, filled in once from what is already
    /// stored. Returns what `fill` counted, or `None` when it had run before.
    pub(crate) async fn once(&self, marker: &str, fill: impl std::future::Future<Output = Result<u64>>) -> Result<Option<u64>> {
        let done: i64 = sqlx::Row::get(&sqlx::query(&format!("SELECT done FROM {marker}")).fetch_one(&self.pool).await?, "done");
        if done != 0 {
            return Ok(None);
        }
        let counted = fill.await?;
        sqlx::query(&format!("UPDATE {marker} SET done = 1")).execute(&self.pool).await?;
        Ok(Some(counted))
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Starts a write transaction; on SQLite, waits for the single writer slot first and takes
    /// the database's write lock at once (`BEGIN IMMEDIATE`), so a transaction that reads before
    /// it writes can never fail half-way with "database is locked".
    pub(crate) async fn begin_write(&self) -> Result<WriteTx<'_>> {
        let (guard, tx) = match self.dialect {
            Dialect::Sqlite => {
                let guard = self.write_lock.lock().await;
                (Some(guard), self.pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            Dialect::Postgres => (None, self.pool.begin().await?),
        };
        Ok(WriteTx { tx, _guard: guard, dialect: self.dialect, audit: Vec::new() })
    }

    /// Opens a write transaction for callers that add their own rows to a store write, e.g.
    /// [`outbox::insert_outbox`] and [`jobs::enqueue_job_in`]. Commit it with [`WriteTx::commit`];
    /// dropping it rolls back.
    pub async fn begin(&self) -> Result<WriteTx<'_>> {
        self.begin_write().await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// An open write transaction (see [`Store::begin`]).
pub struct WriteTx<'a> {
    pub(crate) tx: sqlx::Transaction<'static, sqlx::Any>,
    _guard: Option<tokio::sync::MutexGuard<'a, ()>>,
    dialect: Dialect,
    /// Audit entries of this change, chained at commit (see [`audit::append_audit_in`]).
    pub(crate) audit: Vec<audit::NewAuditEntry>,
}

impl WriteTx<'_> {
    /// Chains the change's audit entries, then commits: the entries and the change commit
    /// together or not at all, and the audit chain's head is locked only for these last
    /// statements, not for the whole change (issue 18: every request appends an entry, so a
    /// lock held across a use case's other statements queued every node behind it).
    pub async fn commit(mut self) -> Result<()> {
        let entries = std::mem::take(&mut self.audit);
        audit::chain_audit_entries(&mut self, &entries).await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// The connection, for statements of the caller's own.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}
