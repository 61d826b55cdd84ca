//! The binary's wiring: configuration into the parts every command and the server share (the
//! store, the blob store with its keys, the service policies, the calendar, the application and
//! web state, the job context, the operator's audit entries). Commands use this module; it uses
//! none of them.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use telederm_domain::calendar::Calendar;
use telederm_domain::policy::{self, ServicePolicy};
use telederm_notify::Notifier;
use telederm_store::audit::NewAuditEntry;
use telederm_store::blobs::{BlobError, BlobStore, Kek};
use telederm_store::{AuditOutcome, Store};
use telederm_web::{AppState, WebSettings};

use crate::config::Config;

/// The service policies: from the configured directory, or the five built in.
pub fn load_policies(config: &Config) -> anyhow::Result<Vec<ServicePolicy>> {
    match &config.services_dir {
        Some(dir) => policy::load_dir(dir).map_err(|e| anyhow::anyhow!("{e}")),
        None => Ok(policy::builtin()),
    }
}

/// The onward-services directory: `directory.toml` in the configured services directory when it
/// has one, else the built-in example entries.
pub fn load_directory(config: &Config) -> anyhow::Result<telederm_domain::directory::Directory> {
    use telederm_domain::directory::{Directory, FILE_NAME};
    match config.services_dir.as_ref().map(|d| d.join(FILE_NAME)).filter(|p| p.exists()) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read the directory file {}", path.display()))?;
            Directory::from_toml(&path.display().to_string(), &text).map_err(|e| anyhow::anyhow!("{e}"))
        }
        None => Ok(Directory::builtin()),
    }
}

/// The calendar in the configured `bank_holidays` file, or the built-in one. A node uses this or
/// a newer one from the database: see [`choose`].
pub fn load_calendar(config: &Config) -> anyhow::Result<Calendar> {
    match &config.bank_holidays {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read bank holidays file {}", path.display()))?;
            Calendar::from_json(&text).map_err(|e| anyhow::anyhow!("bank holidays file {}: {e}", path.display()))
        }
        None => Ok(Calendar::builtin()),
    }
}

pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    }
    let store = Store::connect(&config.database_url())
        .await
        .with_context(|| format!("cannot open the database {}", config.printable_database_url()))?;
    Ok(store.with_job_lease(std::time::Duration::from_secs(config.job_lease_seconds)))
}

/// The application context for the operator's account commands (no photos are touched, so the
/// blob store is opened without its key).
pub async fn admin_app(config: &Config, store: Store) -> anyhow::Result<telederm_app::App> {
    let blobs = telederm_store::blobs::BlobStore::open(&config.blob_url()).map_err(|e| anyhow::anyhow!("blob store: {e}"))?;
    let calendar = choose(config, &store).await?;
    Ok(telederm_app::App::new(store, blobs, load_policies(config)?, calendar.calendar, telederm_app::Config::default()))
}

/// An application error as the CLI reports it: the message and its code.
pub fn cli_error(e: telederm_app::Error) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e.message, e.code.as_str())
}

pub async fn build_state(config: &Config) -> anyhow::Result<AppState> {
    let store = open_store(config).await?;
    let blobs = open_blobs(config, &store).await?;
    let public_url = config.public_url();
    let https = public_url.starts_with("https://");
    let oidc = match (&config.oidc_issuer, &config.oidc_client_id, &config.oidc_client_secret) {
        (Some(issuer), Some(client_id), Some(client_secret)) => Some(telederm_web::oidc::OidcSettings {
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            redirect_url: format!("{public_url}/auth/oidc/callback"),
        }),
        _ => None,
    };
    let settings = WebSettings {
        max_upload_bytes: config.max_upload_mb * 1_000_000,
        max_document_bytes: config.max_document_mb * 1_000_000,
        sms_enabled: config.sms_enabled(),
        notifier: config.notifier_name().map(str::to_string),
        secure_cookies: https,
        hsts: https,
        public_url,
        trust_proxy: config.trust_proxy,
        session_idle_seconds: config.session_idle_minutes * 60,
        session_max_seconds: config.session_max_hours * 3600,
        oidc,
        intake_memory_mb: config.intake_memory_mb,
        intake_wait_ms: config.intake_wait_ms,
        gp_letters: config.mesh_url.is_some(),
        ..WebSettings::default()
    };
    telederm_imaging::set_intake_thread_nice(config.intake_nice);
    let calendar = choose(config, &store).await?;
    let mut state = AppState::new(store, blobs, load_policies(config)?, calendar.calendar.clone(), settings);
    state.app.directory = std::sync::Arc::new(load_directory(config)?);
    state.calendar.replace(calendar.calendar, calendar.source);
    Ok(state)
}

/// The calendar in use and where it came from.
pub struct Chosen {
    pub calendar: Calendar,
    pub source: String,
}

/// The calendar this node should use now (see the module documentation for the order).
pub async fn choose(config: &Config, store: &Store) -> anyhow::Result<Chosen> {
    // (calendar, source, preference on equal reach)
    let mut candidates = vec![(Calendar::builtin(), "built-in".to_string(), 0)];
    if let Some(path) = &config.bank_holidays {
        candidates.push((load_calendar(config)?, format!("file {}", path.display()), 1));
    }
    if let Some(stored) = store.latest_bank_holidays().await.context("reading the bank-holiday file loaded into the database")? {
        match Calendar::from_json(&stored.body) {
            Ok(cal) => candidates.push((
                cal,
                format!("database (loaded {}, sha256 {})", stored.loaded_at.format("%Y-%m-%d %H:%M UTC"), &stored.sha256[..12]),
                2,
            )),
            // Validated when loaded, so only a hand-edited row gets here: keep serving.
            Err(e) => tracing::error!(id = %stored.id, error = %e, "the bank-holiday file in the database is invalid; ignoring it"),
        }
    }
    let (calendar, source, _) = candidates
        .into_iter()
        .max_by_key(|(cal, _, preference)| (cal.last_day(), *preference))
        .expect("the built-in calendar is always a candidate");
    Ok(Chosen { calendar, source })
}

/// Writes a new key file readable by its owner only; refuses to overwrite one.
pub fn write_key_file(path: &Path, kek: &Kek) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot create the key file {} (it must not exist yet)", path.display()))?;
    writeln!(f, "{}", kek.to_base64())?;
    f.sync_all()?;
    Ok(())
}

/// The blob store with the configured keys. The previous key is dropped (with a warning) once a
/// rotation off it has finished: it is accepted only during a rotation.
pub async fn open_blobs(config: &Config, store: &Store) -> anyhow::Result<BlobStore> {
    let blobs = BlobStore::open(&config.blob_url()).map_err(|e| anyhow::anyhow!("blob store: {e}"))?;
    let Some(mut keyring) = config.keyring()? else {
        tracing::warn!("TELEDERM_BLOB_ENCRYPTION=off: photos are stored unencrypted");
        return Ok(blobs);
    };
    if let Some(prev) = &keyring.previous {
        if prev.id() == keyring.current.id() {
            keyring.previous = None;
        } else if store.key_rotation_finished(prev.id(), keyring.current.id()).await? {
            tracing::warn!(
                previous = prev.id(),
                "the rotation off the previous blob key has finished, so it is no longer accepted: remove TELEDERM_BLOB_KEY_PREVIOUS(_FILE)"
            );
            keyring.previous = None;
        }
    }
    Ok(blobs.with_keyring(keyring))
}

/// Fails closed before serving: the newest photo must open with the configured key.
pub async fn check_key_opens_photos(store: &Store, blobs: &BlobStore) -> anyhow::Result<()> {
    let Some(key) = store.latest_photo_blob_key().await? else { return Ok(()) };
    match blobs.get_verified(&key).await {
        Ok(_) | Err(BlobError::NotFound(_)) => Ok(()),
        Err(e) if e.is_key_problem() => bail!("refusing to serve photos: {e}"),
        Err(e) => {
            tracing::error!(error = %e, "the newest photo's blob could not be read");
            Ok(())
        }
    }
}

/// An entry for things done from the command line (the operator has no user account here).
pub async fn record_cli(store: &Store, action: &str, record_type: &str, detail: String) -> anyhow::Result<()> {
    store.append_audit(&cli_entry(action, record_type, detail)).await.context("writing the audit trail")?;
    Ok(())
}

/// The audit entry of an operator's command, for commands that append it in their own transaction.
pub fn cli_entry(action: &str, record_type: &str, detail: String) -> NewAuditEntry {
    NewAuditEntry {
        actor_label: telederm_app::audit::Actor::cli().label,
        actor_role: Some("operator".into()),
        action: action.into(),
        record_type: record_type.into(),
        outcome: Some(AuditOutcome::Allowed),
        detail,
        ..NewAuditEntry::default()
    }
}

/// What a job handler can reach: the application (store, blobs, policies, calendar), the
/// configuration, and the notifier if one is configured.
pub struct JobContext {
    pub state: AppState,
    pub config: Arc<Config>,
    pub notifier: Option<Arc<dyn Notifier>>,
    /// The MESH client, when outcome letters go to the GP record (`TELEDERM_MESH_URL`).
    pub mesh: Option<telederm_mesh::MeshClient>,
}

