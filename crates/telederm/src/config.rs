//! Configuration: typed defaults, then an optional TOML file, then `TELEDERM_*` environment
//! variables. Unknown keys in the file are errors. `telederm config print` shows the result with
//! secrets hidden.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use telederm_domain::retention::RetentionPolicy;
use telederm_store::blobs::{Kek, Keyring};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the SQLite database and local blobs live (`TELEDERM_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Address to listen on (`TELEDERM_BIND`).
    pub bind: String,
    /// `sqlite://PATH` or `postgres://...` (`TELEDERM_DATABASE_URL`); default under the data dir.
    pub database_url: Option<String>,
    /// `file://PATH` (`TELEDERM_BLOB_URL`); default `<data dir>/blobs`.
    pub blob_url: Option<String>,
    /// A directory of service policy files replacing the built-in five (`TELEDERM_SERVICES_DIR`).
    pub services_dir: Option<PathBuf>,
    /// A gov.uk-format bank-holidays JSON file replacing the built-in one (`TELEDERM_BANK_HOLIDAYS`).
    pub bank_holidays: Option<PathBuf>,
    /// Largest photo upload in megabytes (`TELEDERM_MAX_UPLOAD_MB`).
    pub max_upload_mb: u64,
    /// Largest document (PDF) upload in megabytes (`TELEDERM_MAX_DOCUMENT_MB`); a service's
    /// `max_attachment_bytes` may lower it for its referrals.
    pub max_document_mb: u64,
    /// Memory this node gives to decoding photos, in MiB (`TELEDERM_INTAKE_MEMORY_MB`): a photo
    /// is decoded only when the working memory its header calls for is free in this budget.
    pub intake_memory_mb: u64,
    /// How long an upload waits for intake memory before `503 intake_busy`, in milliseconds
    /// (`TELEDERM_INTAKE_WAIT_MS`).
    pub intake_wait_ms: u64,
    /// How many steps of nice (0-19) photo processing runs below request handling
    /// (`TELEDERM_INTAKE_NICE`; 0: the same priority).
    pub intake_nice: i32,
    /// `text` or `json` logs (`TELEDERM_LOG_FORMAT`).
    pub log_format: String,
    /// Where people reach this service, the base of links in notifications
    /// (`TELEDERM_PUBLIC_URL`, e.g. `https://telederm.example.nhs.uk`); default `http://<bind>`.
    pub public_url: Option<String>,
    /// `on` or `off`: whether this node runs background jobs (`TELEDERM_WORKER`).
    pub worker: String,
    /// Jobs this node runs at once (`TELEDERM_WORKER_CONCURRENCY`).
    pub worker_concurrency: usize,
    /// How often an idle worker looks for due jobs, in milliseconds (`TELEDERM_WORKER_POLL_MS`).
    pub worker_poll_ms: u64,
    /// How long a worker holds a claimed job, in seconds (`TELEDERM_JOB_LEASE_SECONDS`): a job
    /// whose node dies is run again by another node once this runs out. Longer than any job takes.
    pub job_lease_seconds: u64,
    /// Email over SMTP (`TELEDERM_SMTP_URL`): `smtp://host:port` (plain, local relay only),
    /// `smtp+starttls://user:pass@host:587` or `smtps://user:pass@host:465`.
    pub smtp_url: Option<String>,
    /// The sender of emails (`TELEDERM_SMTP_FROM`), e.g. `Telederm <no-reply@example.nhs.uk>`.
    pub smtp_from: Option<String>,
    /// GOV.UK Notify API key (`TELEDERM_NOTIFY_API_KEY`): email and SMS through Notify.
    pub notify_api_key: Option<String>,
    /// GOV.UK Notify's API address (`TELEDERM_NOTIFY_BASE_URL`).
    pub notify_base_url: String,
    /// Our template name → Notify email template id (`TELEDERM_NOTIFY_EMAIL_TEMPLATES=name=id,...`).
    pub notify_email_templates: BTreeMap<String, String>,
    /// Our template name → Notify SMS template id (`TELEDERM_NOTIFY_SMS_TEMPLATES=name=id,...`).
    pub notify_sms_templates: BTreeMap<String, String>,
    /// A reverse proxy is in front: the audit trail and sign-in rate limits take the client address from the last
    /// `X-Forwarded-For` entry (`TELEDERM_TRUST_PROXY`, `true` or `false`).
    pub trust_proxy: bool,
    /// Encrypt photo blobs at rest (`TELEDERM_BLOB_ENCRYPTION`, `on` by default). `off` stores
    /// them in plaintext: only for throwaway data, never for real patients.
    pub blob_encryption: bool,
    /// The blob key-encryption key: a file holding 32 random bytes in base64, as written by
    /// `telederm keys generate` (`TELEDERM_BLOB_KEY_FILE`).
    pub blob_key_file: Option<PathBuf>,
    /// The previous key, accepted only while `telederm keys rotate` moves blobs off it
    /// (`TELEDERM_BLOB_KEY_PREVIOUS_FILE`).
    pub blob_key_previous_file: Option<PathBuf>,
    /// How long records are kept (`[retention.referral]` and `[retention.draft]` in the file:
    /// `years_after_last_activity`, `child_until_age`, `adult_age`).
    pub retention: RetentionPolicy,
    /// The key itself, base64 (`TELEDERM_BLOB_KEY`; environment only, never in the file).
    #[serde(skip)]
    pub blob_key: Option<String>,
    /// The previous key itself (`TELEDERM_BLOB_KEY_PREVIOUS`; environment only).
    #[serde(skip)]
    pub blob_key_previous: Option<String>,
    /// PEM certificate chain for serving HTTPS directly (`TELEDERM_TLS_CERT`; with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert` (`TELEDERM_TLS_KEY`).
    pub tls_key: Option<PathBuf>,
    /// A session ends after this many minutes without use (`TELEDERM_SESSION_IDLE_MINUTES`).
    pub session_idle_minutes: i64,
    /// A session ends this many hours after sign-in (`TELEDERM_SESSION_MAX_HOURS`).
    pub session_max_hours: i64,
    /// OpenID Connect issuer URL for single sign-on (`TELEDERM_OIDC_ISSUER`).
    pub oidc_issuer: Option<String>,
    /// OpenID Connect client id (`TELEDERM_OIDC_CLIENT_ID`).
    pub oidc_client_id: Option<String>,
    /// OpenID Connect client secret (`TELEDERM_OIDC_CLIENT_SECRET`); hidden by `config print`.
    pub oidc_client_secret: Option<String>,
    /// The MESH API's address (`TELEDERM_MESH_URL`): set, outcome letters go into the GP record
    /// (GP Connect Send Document); unset, they do not.
    pub mesh_url: Option<String>,
    /// Telederm's MESH mailbox id (`TELEDERM_MESH_MAILBOX`).
    pub mesh_mailbox: Option<String>,
    /// The mailbox password (`TELEDERM_MESH_PASSWORD`); hidden by `config print`.
    pub mesh_password: Option<String>,
    /// The MESH environment's shared key (`TELEDERM_MESH_SHARED_KEY`); hidden by `config print`.
    pub mesh_shared_key: Option<String>,
    /// PEM client certificate, key and CA for mutual TLS (`TELEDERM_MESH_CLIENT_CERT`,
    /// `TELEDERM_MESH_CLIENT_KEY`, `TELEDERM_MESH_CA`; required by NHS MESH, not by the sandbox).
    pub mesh_client_cert: Option<PathBuf>,
    pub mesh_client_key: Option<PathBuf>,
    pub mesh_ca: Option<PathBuf>,
    /// The workflow of outcome letters (`TELEDERM_MESH_WORKFLOW`); acknowledgements come back
    /// under the same id with `_ACK`.
    pub mesh_workflow: String,
    /// How often the worker reads Telederm's MESH inbox, in seconds (`TELEDERM_MESH_POLL_SECONDS`).
    pub mesh_poll_seconds: u64,
    /// How long after sending a letter without a business acknowledgement (filed) it is marked
    /// failed and the GP told, in minutes (`TELEDERM_MESH_ACK_TIMEOUT_MINUTES`).
    pub mesh_ack_timeout_minutes: u64,
    /// Largest MESH chunk in bytes (`TELEDERM_MESH_CHUNK_BYTES`, at most and by default 100 MB).
    pub mesh_chunk_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./telederm-data"),
            bind: "127.0.0.1:8080".into(),
            database_url: None,
            blob_url: None,
            services_dir: None,
            bank_holidays: None,
            max_upload_mb: 25,
            max_document_mb: 10,
            intake_memory_mb: telederm_web::DEFAULT_INTAKE_MEMORY_MB,
            intake_wait_ms: telederm_web::DEFAULT_INTAKE_WAIT_MS,
            intake_nice: telederm_imaging::INTAKE_THREAD_NICE,
            log_format: "text".into(),
            public_url: None,
            worker: "on".into(),
            worker_concurrency: 2,
            worker_poll_ms: 1000,
            job_lease_seconds: 300,
            smtp_url: None,
            smtp_from: None,
            notify_api_key: None,
            notify_base_url: telederm_notify::GOVUK_NOTIFY_BASE_URL.into(),
            notify_email_templates: BTreeMap::new(),
            notify_sms_templates: BTreeMap::new(),
            trust_proxy: false,
            blob_encryption: true,
            blob_key_file: None,
            blob_key_previous_file: None,
            retention: RetentionPolicy::default(),
            blob_key: None,
            blob_key_previous: None,
            tls_cert: None,
            tls_key: None,
            session_idle_minutes: 30,
            session_max_hours: 12,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            mesh_url: None,
            mesh_mailbox: None,
            mesh_password: None,
            mesh_shared_key: None,
            mesh_client_cert: None,
            mesh_client_key: None,
            mesh_ca: None,
            mesh_workflow: "GPFED_CONSULT_REPORT".into(),
            mesh_poll_seconds: 60,
            mesh_ack_timeout_minutes: 48 * 60,
            mesh_chunk_bytes: telederm_mesh::client::MESH_MAX_CHUNK_BYTES,
        }
    }
}

impl Config {
    /// Defaults, then `file` (or `TELEDERM_CONFIG`) if given, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let env_file = std::env::var_os("TELEDERM_CONFIG").map(PathBuf::from);
        let mut config = match file.map(Path::to_path_buf).or(env_file) {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read configuration file {}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("configuration file {}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("TELEDERM_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("TELEDERM_BIND") {
            self.bind = v;
        }
        if let Some(v) = get("TELEDERM_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("TELEDERM_BLOB_URL") {
            self.blob_url = Some(v);
        }
        if let Some(v) = get("TELEDERM_SERVICES_DIR") {
            self.services_dir = Some(v.into());
        }
        if let Some(v) = get("TELEDERM_BANK_HOLIDAYS") {
            self.bank_holidays = Some(v.into());
        }
        if let Some(v) = get("TELEDERM_MAX_UPLOAD_MB") {
            self.max_upload_mb = v.parse().with_context(|| format!("TELEDERM_MAX_UPLOAD_MB={v:?} is not a whole number of megabytes"))?;
        }
        if let Some(v) = get("TELEDERM_MAX_DOCUMENT_MB") {
            self.max_document_mb = v.parse().with_context(|| format!("TELEDERM_MAX_DOCUMENT_MB={v:?} is not a whole number of megabytes"))?;
        }
        if let Some(v) = get("TELEDERM_INTAKE_MEMORY_MB") {
            self.intake_memory_mb = v.parse().with_context(|| format!("TELEDERM_INTAKE_MEMORY_MB={v:?} is not a whole number of megabytes"))?;
        }
        if let Some(v) = get("TELEDERM_INTAKE_WAIT_MS") {
            self.intake_wait_ms = v.parse().with_context(|| format!("TELEDERM_INTAKE_WAIT_MS={v:?} is not a whole number of milliseconds"))?;
        }
        if let Some(v) = get("TELEDERM_INTAKE_NICE") {
            self.intake_nice = v.parse().with_context(|| format!("TELEDERM_INTAKE_NICE={v:?} is not a whole number from 0 to 19"))?;
        }
        if let Some(v) = get("TELEDERM_LOG_FORMAT") {
            self.log_format = v;
        }
        if let Some(v) = get("TELEDERM_TRUST_PROXY") {
            self.trust_proxy = parse_bool("TELEDERM_TRUST_PROXY", &v)?;
        }
        if let Some(v) = get("TELEDERM_BLOB_ENCRYPTION") {
            self.blob_encryption = match v.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "1" | "aes-256-gcm" => true,
                "off" | "false" | "0" | "none" => false,
                _ => bail!("TELEDERM_BLOB_ENCRYPTION={v:?}: use on (the default) or off"),
            };
        }
        if let Some(v) = get("TELEDERM_BLOB_KEY_FILE") {
            self.blob_key_file = Some(v.into());
        }
        if let Some(v) = get("TELEDERM_BLOB_KEY_PREVIOUS_FILE") {
            self.blob_key_previous_file = Some(v.into());
        }
        self.blob_key = get("TELEDERM_BLOB_KEY").filter(|v| !v.trim().is_empty());
        self.blob_key_previous = get("TELEDERM_BLOB_KEY_PREVIOUS").filter(|v| !v.trim().is_empty());
        self.retention.validate().map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        if let Some(v) = get("TELEDERM_TLS_CERT") {
            self.tls_cert = Some(v.into());
        }
        if let Some(v) = get("TELEDERM_TLS_KEY") {
            self.tls_key = Some(v.into());
        }
        if let Some(v) = get("TELEDERM_SESSION_IDLE_MINUTES") {
            self.session_idle_minutes = v.parse().with_context(|| format!("TELEDERM_SESSION_IDLE_MINUTES={v:?} is not a whole number of minutes"))?;
        }
        if let Some(v) = get("TELEDERM_SESSION_MAX_HOURS") {
            self.session_max_hours = v.parse().with_context(|| format!("TELEDERM_SESSION_MAX_HOURS={v:?} is not a whole number of hours"))?;
        }
        if let Some(v) = get("TELEDERM_OIDC_ISSUER") {
            self.oidc_issuer = Some(v);
        }
        if let Some(v) = get("TELEDERM_OIDC_CLIENT_ID") {
            self.oidc_client_id = Some(v);
        }
        if let Some(v) = get("TELEDERM_OIDC_CLIENT_SECRET") {
            self.oidc_client_secret = Some(v);
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be \"text\" or \"json\", not {:?}", self.log_format);
        }
        if let Some(v) = get("TELEDERM_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = get("TELEDERM_WORKER") {
            self.worker = v;
        }
        if let Some(v) = get("TELEDERM_WORKER_CONCURRENCY") {
            self.worker_concurrency = v
                .parse()
                .with_context(|| format!("TELEDERM_WORKER_CONCURRENCY={v:?} is not a whole number of jobs"))?;
        }
        if let Some(v) = get("TELEDERM_WORKER_POLL_MS") {
            self.worker_poll_ms = v.parse().with_context(|| format!("TELEDERM_WORKER_POLL_MS={v:?} is not a whole number of milliseconds"))?;
        }
        if let Some(v) = get("TELEDERM_JOB_LEASE_SECONDS") {
            self.job_lease_seconds =
                v.parse().with_context(|| format!("TELEDERM_JOB_LEASE_SECONDS={v:?} is not a whole number of seconds"))?;
        }
        for (var, field) in [
            ("TELEDERM_SMTP_URL", &mut self.smtp_url),
            ("TELEDERM_SMTP_FROM", &mut self.smtp_from),
            ("TELEDERM_NOTIFY_API_KEY", &mut self.notify_api_key),
        ] {
            if let Some(v) = get(var).filter(|v| !v.trim().is_empty()) {
                *field = Some(v);
            }
        }
        for (var, field) in [
            ("TELEDERM_MESH_URL", &mut self.mesh_url),
            ("TELEDERM_MESH_MAILBOX", &mut self.mesh_mailbox),
            ("TELEDERM_MESH_PASSWORD", &mut self.mesh_password),
            ("TELEDERM_MESH_SHARED_KEY", &mut self.mesh_shared_key),
        ] {
            if let Some(v) = get(var).filter(|v| !v.trim().is_empty()) {
                *field = Some(v);
            }
        }
        for (var, field) in [
            ("TELEDERM_MESH_CLIENT_CERT", &mut self.mesh_client_cert),
            ("TELEDERM_MESH_CLIENT_KEY", &mut self.mesh_client_key),
            ("TELEDERM_MESH_CA", &mut self.mesh_ca),
        ] {
            if let Some(v) = get(var).filter(|v| !v.trim().is_empty()) {
                *field = Some(v.into());
            }
        }
        if let Some(v) = get("TELEDERM_MESH_WORKFLOW").filter(|v| !v.trim().is_empty()) {
            self.mesh_workflow = v;
        }
        if let Some(v) = get("TELEDERM_MESH_POLL_SECONDS") {
            self.mesh_poll_seconds = v.parse().with_context(|| format!("TELEDERM_MESH_POLL_SECONDS={v:?} is not a whole number of seconds"))?;
        }
        if let Some(v) = get("TELEDERM_MESH_ACK_TIMEOUT_MINUTES") {
            self.mesh_ack_timeout_minutes =
                v.parse().with_context(|| format!("TELEDERM_MESH_ACK_TIMEOUT_MINUTES={v:?} is not a whole number of minutes"))?;
        }
        if let Some(v) = get("TELEDERM_MESH_CHUNK_BYTES") {
            self.mesh_chunk_bytes = v.parse().with_context(|| format!("TELEDERM_MESH_CHUNK_BYTES={v:?} is not a whole number of bytes"))?;
        }
        if let Some(v) = get("TELEDERM_NOTIFY_BASE_URL") {
            self.notify_base_url = v;
        }
        for (var, map) in [
            ("TELEDERM_NOTIFY_EMAIL_TEMPLATES", &mut self.notify_email_templates),
            ("TELEDERM_NOTIFY_SMS_TEMPLATES", &mut self.notify_sms_templates),
        ] {
            if let Some(v) = get(var) {
                *map = parse_template_map(var, &v)?;
            }
        }
        self.validate()
    }

    /// Checks values that the file or the environment may have set.
    fn validate(&self) -> anyhow::Result<()> {
        if self.session_idle_minutes < 1 || self.session_max_hours < 1 {
            bail!("session_idle_minutes and session_max_hours must be at least 1");
        }
        if self.intake_memory_mb < 64 {
            bail!(
                "intake_memory_mb (TELEDERM_INTAKE_MEMORY_MB) is {} MB: at least 64 MB is needed to take even a small photo",
                self.intake_memory_mb
            );
        }
        if !(0..=19).contains(&self.intake_nice) {
            bail!("intake_nice (TELEDERM_INTAKE_NICE) is {}: use 0 (photo processing at the same priority as requests) to 19", self.intake_nice);
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("set both TELEDERM_TLS_CERT and TELEDERM_TLS_KEY (PEM files) to serve HTTPS, or neither");
        }
        let oidc = [&self.oidc_issuer, &self.oidc_client_id, &self.oidc_client_secret];
        if oidc.iter().any(|v| v.is_some()) && !oidc.iter().all(|v| v.is_some()) {
            bail!("single sign-on needs all of TELEDERM_OIDC_ISSUER, TELEDERM_OIDC_CLIENT_ID and TELEDERM_OIDC_CLIENT_SECRET");
        }
        if self.mesh_url.is_some() {
            let missing: Vec<&str> = [
                ("TELEDERM_MESH_MAILBOX", self.mesh_mailbox.is_none()),
                ("TELEDERM_MESH_PASSWORD", self.mesh_password.is_none()),
                ("TELEDERM_MESH_SHARED_KEY", self.mesh_shared_key.is_none()),
            ]
            .into_iter()
            .filter_map(|(v, m)| m.then_some(v))
            .collect();
            if !missing.is_empty() {
                bail!("TELEDERM_MESH_URL is set, so MESH also needs {}", missing.join(", "));
            }
            if self.mesh_client_cert.is_some() != self.mesh_client_key.is_some() {
                bail!("set both TELEDERM_MESH_CLIENT_CERT and TELEDERM_MESH_CLIENT_KEY (PEM files) for mutual TLS, or neither");
            }
            if self.mesh_poll_seconds < 1 || self.mesh_ack_timeout_minutes < 1 {
                bail!("TELEDERM_MESH_POLL_SECONDS and TELEDERM_MESH_ACK_TIMEOUT_MINUTES must be at least 1");
            }
            if self.mesh_chunk_bytes < 1 || self.mesh_chunk_bytes > telederm_mesh::client::MESH_MAX_CHUNK_BYTES {
                bail!("TELEDERM_MESH_CHUNK_BYTES must be between 1 and 100000000 (MESH's limit)");
            }
        }
        if self.job_lease_seconds < 1 {
            bail!("job_lease_seconds (TELEDERM_JOB_LEASE_SECONDS) must be at least 1");
        }
        if !matches!(self.worker.as_str(), "on" | "off") {
            bail!("worker must be \"on\" or \"off\" (TELEDERM_WORKER), not {:?}", self.worker);
        }
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url)
                .with_context(|| format!("TELEDERM_PUBLIC_URL={url:?} is not a URL: give the address people use, e.g. https://telederm.example.nhs.uk"))?;
            let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if !(parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback)) {
                bail!("TELEDERM_PUBLIC_URL={url:?} must start with https:// (or http:// on this machine): it is the base of links in notifications");
            }
        }
        for (name, map) in [("email", &self.notify_email_templates), ("SMS", &self.notify_sms_templates)] {
            for key in map.keys() {
                if telederm_notify::Template::parse(key).is_none() {
                    let known: Vec<&str> = telederm_notify::Template::ALL.iter().map(|t| t.name()).collect();
                    bail!("GOV.UK Notify {name} template {key:?} is not a Telederm template; use one of: {}", known.join(", "));
                }
            }
        }
        if self.smtp_url.is_some() && self.notify_api_key.is_some() {
            bail!("both TELEDERM_SMTP_URL and TELEDERM_NOTIFY_API_KEY are set: choose one notification provider");
        }
        if let Some(url) = &self.smtp_url {
            smtp_settings(url, self.smtp_from.as_deref())?;
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("telederm.db").display()))
    }

    pub fn blob_url(&self) -> String {
        self.blob_url.clone().unwrap_or_else(|| format!("file://{}", self.data_dir.join("blobs").display()))
    }

    pub fn tls(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// The base of links in messages: `TELEDERM_PUBLIC_URL`, else this node's own address.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("{}://{}", if self.tls() { "https" } else { "http" }, self.bind.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]")),
        }
    }

    pub fn worker_enabled(&self) -> bool {
        self.worker == "on"
    }

    /// The notifier the configuration chooses, or `None` (notifications then stay queued).
    pub fn notifier(&self) -> anyhow::Result<Option<std::sync::Arc<dyn telederm_notify::Notifier>>> {
        if let Some(url) = &self.smtp_url {
            let settings = smtp_settings(url, self.smtp_from.as_deref())?;
            let n = telederm_notify::SmtpNotifier::new(&settings).map_err(|e| anyhow::anyhow!("TELEDERM_SMTP_URL: {e}"))?;
            return Ok(Some(std::sync::Arc::new(n)));
        }
        if let Some(key) = &self.notify_api_key {
            let settings = telederm_notify::GovUkNotifySettings {
                api_key: key.clone(),
                base_url: self.notify_base_url.clone(),
                email_templates: self.notify_email_templates.clone().into_iter().collect(),
                sms_templates: self.notify_sms_templates.clone().into_iter().collect(),
                timeout: std::time::Duration::from_secs(30),
            };
            let n = telederm_notify::GovUkNotify::new(&settings).map_err(|e| anyhow::anyhow!("TELEDERM_NOTIFY_API_KEY: {e}"))?;
            return Ok(Some(std::sync::Arc::new(n)));
        }
        Ok(None)
    }

    /// The configured notification provider, for people to read.
    pub fn notifier_name(&self) -> Option<&'static str> {
        if self.smtp_url.is_some() {
            Some("SMTP")
        } else if self.notify_api_key.is_some() {
            Some("GOV.UK Notify")
        } else {
            None
        }
    }

    /// Whether the configured notifier can send text messages (only GOV.UK Notify can).
    /// The MESH client settings, when `TELEDERM_MESH_URL` is set (outcome letters then go to the GP
    /// record).
    pub fn mesh_settings(&self) -> Option<telederm_mesh::MeshSettings> {
        Some(telederm_mesh::MeshSettings {
            url: self.mesh_url.clone()?,
            mailbox: self.mesh_mailbox.clone().unwrap_or_default(),
            password: self.mesh_password.clone().unwrap_or_default(),
            shared_key: self.mesh_shared_key.clone().unwrap_or_default(),
            client_cert: self.mesh_client_cert.clone(),
            client_key: self.mesh_client_key.clone(),
            ca: self.mesh_ca.clone(),
            chunk_bytes: self.mesh_chunk_bytes,
            timeout: std::time::Duration::from_secs(120),
        })
    }

    pub fn sms_enabled(&self) -> bool {
        self.notify_api_key.is_some()
    }

    /// The blob keys, or `None` when encryption is explicitly off. A missing, unreadable or
    /// malformed key is an error naming the setting to fix (the server does not start without it).
    pub fn keyring(&self) -> anyhow::Result<Option<Keyring>> {
        if !self.blob_encryption {
            return Ok(None);
        }
        let current = read_key("TELEDERM_BLOB_KEY", self.blob_key.as_deref(), self.blob_key_file.as_deref())?.with_context(|| {
            "photos are encrypted at rest and no blob key is configured: set TELEDERM_BLOB_KEY_FILE to a key file \
             made by `telederm keys generate` (or TELEDERM_BLOB_KEY to the key itself), or set \
             TELEDERM_BLOB_ENCRYPTION=off to store photos unencrypted (never for real patient data)"
        })?;
        let previous = read_key("TELEDERM_BLOB_KEY_PREVIOUS", self.blob_key_previous.as_deref(), self.blob_key_previous_file.as_deref())?;
        Ok(Some(Keyring { current, previous }))
    }

    pub fn printable_database_url(&self) -> String {
        redact_url(&self.database_url())
    }

    /// The effective configuration as TOML, with passwords in URLs hidden.
    pub fn printable(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = Some(redact_url(&self.database_url()));
        shown.blob_url = Some(redact_url(&self.blob_url()));
        shown.public_url = Some(self.public_url());
        shown.smtp_url = self.smtp_url.as_deref().map(redact_url);
        shown.notify_api_key = self.notify_api_key.as_ref().map(|_| "***".to_string());
        if shown.oidc_client_secret.is_some() {
            shown.oidc_client_secret = Some("***".into());
        }
        shown.mesh_url = self.mesh_url.as_deref().map(redact_url);
        shown.mesh_password = self.mesh_password.as_ref().map(|_| "***".to_string());
        shown.mesh_shared_key = self.mesh_shared_key.as_ref().map(|_| "***".to_string());
        toml::to_string_pretty(&shown).unwrap_or_default()
    }
}

/// `name=id,name=id` (as in `TELEDERM_NOTIFY_EMAIL_TEMPLATES`) into a map.
fn parse_template_map(var: &str, v: &str) -> anyhow::Result<BTreeMap<String, String>> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, id)) if !k.trim().is_empty() && !id.trim().is_empty() => Ok((k.trim().to_string(), id.trim().to_string())),
            _ => bail!("{var}: {pair:?} is not name=template-id (e.g. gp_response_ready=f33517ff-2a88-4f6e-b855-c550268ce08a)"),
        })
        .collect()
}

/// SMTP settings from `smtp://host:port` (plain), `smtp+starttls://…` or `smtps://…`, with an
/// optional `user:password@` (percent-encoded) and the sender address.
pub fn smtp_settings(url: &str, from: Option<&str>) -> anyhow::Result<telederm_notify::SmtpSettings> {
    use telederm_notify::SmtpTls;
    let hint = "use smtp://host:port (plain, local relay), smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465";
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("TELEDERM_SMTP_URL {}: {e}; {hint}", redact_url(url)))?;
    let (tls, default_port) = match parsed.scheme() {
        "smtp" => (SmtpTls::None, 25),
        "smtp+starttls" => (SmtpTls::StartTls, 587),
        "smtps" => (SmtpTls::Tls, 465),
        other => bail!("TELEDERM_SMTP_URL scheme {other:?} is not supported: {hint}"),
    };
    let host = parsed.host_str().filter(|h| !h.is_empty()).with_context(|| format!("TELEDERM_SMTP_URL has no host: {hint}"))?;
    let from = from.filter(|f| !f.trim().is_empty()).context(
        "TELEDERM_SMTP_URL is set but TELEDERM_SMTP_FROM is not: set the sender, e.g. TELEDERM_SMTP_FROM='Telederm <no-reply@example.nhs.uk>'",
    )?;
    if !from.contains('@') {
        bail!("TELEDERM_SMTP_FROM={from:?} is not an email address (e.g. 'Telederm <no-reply@example.nhs.uk>')");
    }
    let mut s = telederm_notify::SmtpSettings::plain(host.trim_matches(['[', ']']), parsed.port().unwrap_or(default_port), from.trim());
    s.tls = tls;
    if !parsed.username().is_empty() {
        s.username = Some(decode(parsed.username()));
        s.password = parsed.password().map(decode);
    }
    Ok(s)
}

/// Undoes `%XX` escapes (user names and passwords in URLs).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A key from the variable `var` or from `var_FILE`'s file (not both).
fn read_key(var: &str, inline: Option<&str>, file: Option<&Path>) -> anyhow::Result<Option<Kek>> {
    let (text, source) = match (inline, file) {
        (Some(_), Some(_)) => bail!("both {var} and {var}_FILE are set: set one of them"),
        (Some(t), None) => (t.to_string(), var.to_string()),
        (None, Some(path)) => (
            std::fs::read_to_string(path).with_context(|| format!("cannot read the blob key file {} ({var}_FILE)", path.display()))?,
            format!("{var}_FILE={}", path.display()),
        ),
        (None, None) => return Ok(None),
    };
    Kek::from_base64(&text).map(Some).map_err(|e| anyhow::anyhow!("{source}: {e}"))
}

fn parse_bool(var: &str, v: &str) -> anyhow::Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => bail!("{var}={v:?}: use true or false"),
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_defaults_and_urls_follow_the_data_dir() {
        let mut c = Config::default();
        let env = [("TELEDERM_DATA_DIR", "/srv/t"), ("TELEDERM_BIND", "0.0.0.0:9000")];
        c.apply_env(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
        assert_eq!(c.bind, "0.0.0.0:9000");
        assert_eq!(c.database_url(), "sqlite:///srv/t/telederm.db");
        assert_eq!(c.blob_url(), "file:///srv/t/blobs");
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<Config>("bnd = \"x\"").is_err());
        let mut c = Config::default();
        assert!(c.apply_env(|k| (k == "TELEDERM_MAX_UPLOAD_MB").then(|| "lots".to_string())).is_err());
        assert!(Config::default().apply_env(|k| (k == "TELEDERM_INTAKE_MEMORY_MB").then(|| "2GB".to_string())).is_err());
        assert!(Config::default().apply_env(|k| (k == "TELEDERM_INTAKE_MEMORY_MB").then(|| "8".to_string())).is_err());
        let mut c = Config::default();
        c.apply_env(|k| (k == "TELEDERM_INTAKE_MEMORY_MB").then(|| "1024".to_string())).unwrap();
        assert_eq!((c.intake_memory_mb, c.intake_wait_ms), (1024, 5000));
        assert_eq!(c.intake_nice, 10);
        assert!(Config::default().apply_env(|k| (k == "TELEDERM_INTAKE_NICE").then(|| "20".to_string())).is_err());
        assert!(Config::default().apply_env(|k| (k == "TELEDERM_INTAKE_NICE").then(|| "-5".to_string())).is_err());
        let mut c = Config::default();
        c.apply_env(|k| (k == "TELEDERM_INTAKE_NICE").then(|| "0".to_string())).unwrap();
        assert_eq!(c.intake_nice, 0);
    }

    #[test]
    fn smtp_urls_choose_tls_port_and_credentials() {
        let s = smtp_settings("smtps://app%40nhs.net:p%2Bss@smtp.example.org", Some("T <no-reply@example.org>")).unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("smtp.example.org", 465, telederm_notify::SmtpTls::Tls));
        assert_eq!(s.username.as_deref(), Some("app@nhs.net"));
        assert_eq!(s.password.as_deref(), Some("p+ss"));
        let s = smtp_settings("smtp://127.0.0.1:2525", Some("no-reply@example.org")).unwrap();
        assert_eq!((s.port, s.tls, s.username), (2525, telederm_notify::SmtpTls::None, None));
        assert_eq!(smtp_settings("smtp+starttls://relay", Some("a@b.org")).unwrap().port, 587);
        assert!(smtp_settings("http://relay", Some("a@b.org")).is_err());
        let e = smtp_settings("smtp://relay:25", None).unwrap_err().to_string();
        assert!(e.contains("TELEDERM_SMTP_FROM"), "{e}");
    }

    #[test]
    fn notifier_settings_are_checked_and_secrets_hidden() {
        let mut c = Config::default();
        let env = [
            ("TELEDERM_NOTIFY_API_KEY", "k-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0"),
            ("TELEDERM_NOTIFY_EMAIL_TEMPLATES", "gp_response_ready=abc, sla_breached=def"),
            ("TELEDERM_WORKER", "off"),
        ];
        c.apply_env(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
        assert_eq!(c.notify_email_templates.get("sla_breached").map(String::as_str), Some("def"));
        assert!(!c.worker_enabled());
        assert!(c.sms_enabled());
        let shown = c.printable();
        assert!(!shown.contains("3d844edf"), "{shown}");
        assert!(shown.contains("notify_api_key = \"***\""), "{shown}");
        assert!(shown.contains("public_url = \"http://127.0.0.1:8080\""), "{shown}");

        let bad = |k: &'static str, v: &'static str| {
            let mut c = Config::default();
            c.apply_env(|n| (n == k).then(|| v.to_string())).unwrap_err().to_string()
        };
        assert!(bad("TELEDERM_NOTIFY_EMAIL_TEMPLATES", "no_such=abc").contains("not a Telederm template"));
        assert!(bad("TELEDERM_WORKER", "maybe").contains("\"on\" or \"off\""));
        assert!(bad("TELEDERM_PUBLIC_URL", "ftp://x").contains("https://"));
        assert!(bad("TELEDERM_PUBLIC_URL", "http://telederm.example.nhs.uk").contains("https://"), "plain HTTP only on this machine");
        let mut ok = Config::default();
        ok.apply_env(|n| (n == "TELEDERM_PUBLIC_URL").then(|| "http://127.0.0.1:9000/".to_string())).unwrap();
        assert_eq!(ok.public_url(), "http://127.0.0.1:9000");
        let mut c = Config { smtp_url: Some("smtp://a:b@relay:25".into()), smtp_from: Some("a@b.org".into()), ..Config::default() };
        assert!(c.printable().contains("smtp://a:***@relay:25"));
        c.notify_api_key = Some("x".into());
        assert!(c.validate().unwrap_err().to_string().contains("choose one"));
    }

    #[test]
    fn tls_and_single_sign_on_need_all_their_parts_and_secrets_are_hidden() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert!(Config::default().apply_env(env(&[("TELEDERM_TLS_CERT", "/c.pem")])).is_err());
        assert!(Config::default().apply_env(env(&[("TELEDERM_OIDC_ISSUER", "https://id.example")])).is_err());
        assert!(Config::default().apply_env(env(&[("TELEDERM_PUBLIC_URL", "telederm.example")])).is_err());
        let mut c = Config::default();
        c.apply_env(env(&[
            ("TELEDERM_TLS_CERT", "/c.pem"),
            ("TELEDERM_TLS_KEY", "/k.pem"),
            ("TELEDERM_OIDC_ISSUER", "https://id.example"),
            ("TELEDERM_OIDC_CLIENT_ID", "telederm"),
            ("TELEDERM_OIDC_CLIENT_SECRET", "hush-hush"),
        ]))
        .unwrap();
        assert_eq!(c.public_url(), "https://127.0.0.1:8080");
        assert!(!c.printable().contains("hush-hush"));
    }

    #[test]
    fn mesh_needs_its_credentials_and_hides_its_secrets() {
        let mut c = Config::default();
        let err = c.apply_env(|k| (k == "TELEDERM_MESH_URL").then(|| "https://mesh.example".to_string())).unwrap_err();
        assert!(err.to_string().contains("TELEDERM_MESH_MAILBOX"), "{err}");
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "TELEDERM_MESH_URL" => Some("https://mesh.example".into()),
            "TELEDERM_MESH_MAILBOX" => Some("X26ABC1".into()),
            "TELEDERM_MESH_PASSWORD" => Some("m3shpass".into()),
            "TELEDERM_MESH_SHARED_KEY" => Some("sh4redkey".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.mesh_workflow, "GPFED_CONSULT_REPORT");
        let shown = c.printable();
        assert!(!shown.contains("m3shpass") && !shown.contains("sh4redkey"), "{shown}");
        assert!(shown.contains("mesh_password = \"***\"") && shown.contains("mesh_mailbox = \"X26ABC1\""), "{shown}");
    }

    #[test]
    fn secrets_in_urls_are_hidden() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/t"), "postgres://app:***@db:5432/t");
        assert_eq!(redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }
}
