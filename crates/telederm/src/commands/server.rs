//! `telederm serve`, `telederm demo`, `telederm migrate`, `telederm user add`, `telederm config print`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use telederm_domain::calendar::Calendar;
use telederm_domain::organisation::{Role, User};
use telederm_domain::policy::{self, ServicePolicy};
use telederm_store::Store;
use telederm_web::{AppState, WebSettings};

use crate::config::Config;
use crate::worker::JobContext;
use telederm_notify::dispatch::CancellationToken;

#[derive(Args, Clone, Default)]
pub struct ConfigArg {
    /// A TOML configuration file (also `TELEDERM_CONFIG`).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn load(&self) -> anyhow::Result<Config> {
        Config::load(self.config.as_deref())
    }
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user who can sign in.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// referrer, consultant, service_admin or system_admin.
        #[arg(long)]
        role: String,
        /// ODS code of the user's organisation (practice or provider).
        #[arg(long)]
        organisation: String,
        /// Services a consultant or service admin works (repeatable).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Read the password from this environment variable instead of generating one.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
pub enum OrganisationCmd {
    /// Register a GP practice or a provider.
    Add {
        /// ODS code, e.g. F84001 (practice) or RQX (provider).
        #[arg(long)]
        ods: String,
        #[arg(long)]
        name: String,
        /// `practice` or `provider`.
        #[arg(long)]
        kind: String,
        /// Services a provider runs (repeatable).
        #[arg(long = "service")]
        services: Vec<String>,
    },
    /// List organisations.
    List,
}

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration (secrets hidden).
    Print,
}

/// The service policies: from the configured directory, or the five built in.
pub fn load_policies(config: &Config) -> anyhow::Result<Vec<ServicePolicy>> {
    match &config.services_dir {
        Some(dir) => policy::load_dir(dir).map_err(|e| anyhow::anyhow!("{e}")),
        None => Ok(policy::builtin()),
    }
}

/// The calendar in the configured `bank_holidays` file, or the built-in one. A node uses this or
/// a newer one from the database: see [`crate::commands::calendar::choose`].
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

pub async fn build_state(config: &Config) -> anyhow::Result<AppState> {
    let store = open_store(config).await?;
    let blobs = crate::commands::keys::open_blobs(config, &store).await?;
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
        ..WebSettings::default()
    };
    let calendar = crate::commands::calendar::choose(config, &store).await?;
    let state = AppState::new(store, blobs, load_policies(config)?, calendar.calendar.clone(), settings);
    state.calendar.replace(calendar.calendar, calendar.source);
    Ok(state)
}

/// Serves (and runs the background worker) until Ctrl-C or SIGTERM; then stops accepting
/// connections and claiming jobs, finishes in-flight requests and jobs, and returns.
pub async fn serve(config: &Config, state: AppState) -> anyhow::Result<()> {
    crate::commands::keys::check_key_opens_photos(&state.store, &state.blobs).await?;
    let notifier = config.notifier()?;
    if notifier.is_some() && config.public_url.is_none() {
        tracing::warn!(
            public_url = %config.public_url(),
            "TELEDERM_PUBLIC_URL is not set: links in notifications point at this node's own address; set it to the address people use"
        );
    }
    if notifier.is_none() {
        tracing::warn!(
            "no notifier is configured (TELEDERM_SMTP_URL or TELEDERM_NOTIFY_API_KEY): notifications stay queued in the outbox \
             and are sent once a node with a notifier runs"
        );
    }
    crate::commands::calendar::log_in_use(&state.calendar.get(), &state.calendar.source());
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| format!("cannot listen on {} (is another server using it? set TELEDERM_BIND)", config.bind))?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let cx = Arc::new(JobContext { state: state.clone(), config: Arc::new(config.clone()), notifier });
    let worker = crate::worker::start(cx, stop.clone());
    let calendar_watch = crate::commands::calendar::watch(config.clone(), state.clone(), stop.clone());
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests and jobs");
            stop.cancel();
        }
    });
    let app = telederm_web::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        let tls = tls_config(cert, key).await?;
        tracing::info!(%addr, "telederm listening (HTTPS)");
        println!("Telederm is running at https://{addr}/ (Ctrl-C to stop)");
        let handle = axum_server::Handle::new();
        tokio::spawn({
            let (handle, stop) = (handle.clone(), stop.clone());
            async move {
                stop.cancelled().await;
                handle.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
            }
        });
        axum_server::from_tcp_rustls(listener.into_std()?, tls).handle(handle).serve(app).await
    } else {
        tracing::info!(%addr, "telederm listening");
        println!("Telederm is running at http://{addr}/ (Ctrl-C to stop)");
        axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned()).await
    };
    stop.cancel();
    let _ = calendar_watch.await;
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    served?;
    tracing::info!("telederm stopped");
    Ok(())
}

/// rustls (ring) from PEM certificate chain and key files, refusing clearly when they are unusable.
async fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p).with_context(|| format!("cannot read the TLS {what} {} (TELEDERM_TLS_{})", p.display(), what.to_uppercase()))
    };
    let (cert_pem, key_pem) = (read(cert, "cert")?, read(key, "key")?);
    axum_server::tls_rustls::RustlsConfig::from_pem(cert_pem, key_pem)
        .await
        .with_context(|| format!("the TLS certificate {} and key {} are not a usable PEM pair", cert.display(), key.display()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub async fn organisation(config: &Config, cmd: OrganisationCmd) -> anyhow::Result<()> {
    use telederm_domain::organisation::{Organisation, OrganisationKind};
    let store = open_store(config).await?;
    match cmd {
        OrganisationCmd::Add { ods, name, kind, services } => {
            let kind = match kind.as_str() {
                "practice" | "gp_practice" => OrganisationKind::GpPractice,
                "provider" => OrganisationKind::Provider,
                other => anyhow::bail!("unknown organisation kind {other:?}: use practice or provider"),
            };
            anyhow::ensure!(!ods.trim().is_empty(), "give the organisation's ODS code with --ods");
            let policies = load_policies(config)?;
            for s in &services {
                anyhow::ensure!(policies.iter().any(|p| &p.id == s), "unknown service {s:?}: `telederm services list` shows them");
            }
            anyhow::ensure!(kind == OrganisationKind::Provider || services.is_empty(), "only a provider runs services");
            let org = Organisation { id: Default::default(), kind, ods_code: ods.trim().to_uppercase(), name, services };
            store.create_organisation(&org).await?;
            println!("created {} {} ({})", org.ods_code, org.name, org.id);
        }
        OrganisationCmd::List => {
            for o in store.list_organisations().await? {
                println!("{}\t{:?}\t{}\t{}", o.ods_code, o.kind, o.name, o.services.join(","));
            }
        }
    }
    Ok(())
}

pub async fn user(config: &Config, cmd: UserCmd) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    match cmd {
        UserCmd::Add { email, name, role, organisation, services, password_env } => {
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role {role:?}: use referrer, consultant, service_admin or system_admin"))?;
            let org = store
                .organisation_by_ods(&organisation)
                .await?
                .with_context(|| format!("no organisation with ODS code {organisation:?}"))?;
            let policies = load_policies(config)?;
            for s in &services {
                anyhow::ensure!(policies.iter().any(|p| &p.id == s), "unknown service {s:?}: `telederm services list` shows them");
                // A consultant or service admin sees a service's referrals: only staff of the
                // provider that runs it may be assigned to it.
                anyhow::ensure!(
                    org.services.contains(s),
                    "{} ({}) does not run the service {s:?}: assign only services of the user's own organisation",
                    org.name,
                    org.ods_code
                );
            }
            // A password the operator chose is never echoed (it would land in terminal logs); a
            // generated one is printed once, as it exists nowhere else.
            let (password, generated) = match password_env {
                Some(var) => (std::env::var(&var).with_context(|| format!("environment variable {var} is not set"))?, false),
                None => (crate::demo::random_password(), true),
            };
            telederm_domain::password::check_password(&password, &email, &name)
                .map_err(|e| anyhow::anyhow!("{} ({})", e, e.code()))?;
            let user = User { id: Default::default(), email, display_name: name, role, organisation_id: org.id, services };
            let hash = telederm_web::auth::hash_password(&password)?;
            store.create_user(&user, &hash).await?;
            if generated {
                println!("created {} ({}) with password: {password}", user.email, role.as_str());
            } else {
                println!("created {} ({}) with the password from the environment", user.email, role.as_str());
            }
        }
        UserCmd::List => {
            for u in store.list_users().await? {
                println!("{}\t{}\t{}\t{}", u.email, u.role.as_str(), u.display_name, u.services.join(","));
            }
        }
    }
    Ok(())
}

