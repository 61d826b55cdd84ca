//! `telederm serve`, `telederm demo`, `telederm migrate`, `telederm user add`, `telederm config print`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use telederm_domain::organisation::Role;
use telederm_app::audit::Actor;
use telederm_web::AppState;

use crate::wiring::{admin_app, cli_error, open_store};
use crate::config::Config;
use crate::wiring::JobContext;
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
        /// For referrers: gp, nurse, pharmacist, physician_associate or other (services may take
        /// referrals from some professions only).
        #[arg(long)]
        profession: Option<String>,
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

/// Serves (and runs the background worker) until Ctrl-C or SIGTERM; then stops accepting
/// connections and claiming jobs, finishes in-flight requests and jobs, and returns.
pub async fn serve(config: &Config, state: AppState) -> anyhow::Result<()> {
    crate::wiring::check_key_opens_photos(&state.store, &state.blobs).await?;
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
    let mesh = match config.mesh_settings() {
        Some(settings) => Some(telederm_mesh::MeshClient::new(settings).context("MESH (TELEDERM_MESH_*)")?),
        None => None,
    };
    let cx = Arc::new(JobContext { state: state.clone(), config: Arc::new(config.clone()), notifier, mesh });
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
            let app = admin_app(config, store).await?;
            let org = Organisation { id: Default::default(), kind, ods_code: ods, name, services };
            let org = telederm_app::users::create_organisation(&app, &Actor::cli(), org).await.map_err(cli_error)?;
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
        UserCmd::Add { email, name, role, organisation, services, password_env, profession } => {
            let profession = profession
                .map(|p| {
                    telederm_domain::organisation::Profession::parse(&p)
                        .with_context(|| format!("unknown profession {p:?}: use gp, nurse, pharmacist, physician_associate or other"))
                })
                .transpose()?;
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role {role:?}: use referrer, consultant, service_admin or system_admin"))?;
            let org = store
                .organisation_by_ods(&organisation)
                .await?
                .with_context(|| format!("no organisation with ODS code {organisation:?}"))?;
            // A password the operator chose is never echoed (it would land in terminal logs); a
            // generated one is printed once, as it exists nowhere else.
            let (password, generated) = match password_env {
                Some(var) => (std::env::var(&var).with_context(|| format!("environment variable {var} is not set"))?, false),
                None => (crate::demo::random_password(), true),
            };
            let app = admin_app(config, store).await?;
            let new = telederm_app::users::NewUser { email, display_name: name, role, organisation_id: org.id, services, password: password.clone(), profession };
            let user = telederm_app::users::create_user(&app, &Actor::cli(), new).await.map_err(cli_error)?;
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

