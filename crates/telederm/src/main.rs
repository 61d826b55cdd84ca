//! The `telederm` binary: parses the command line and hands each command to its module.

mod commands;
mod config;
mod demo;
mod maintenance;
mod mesh;
mod wiring;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::server::{self, ConfigArg, ConfigCmd, OrganisationCmd, UserCmd};

#[derive(Parser)]
#[command(name = "telederm", version, about = "Teledermatology referrals for the NHS")]
struct Cli {
    #[command(flatten)]
    config: ConfigArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum MeshCmd {
    /// Handshake with the configured mailbox, then (given an ODS code) look up the practice's
    /// mailbox for the letters' workflow.
    Check {
        /// A GP practice's ODS code, e.g. F84001.
        ods_code: Option<String>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve,
    /// Run the service with demo data (seeded on first start of a fresh data directory).
    Demo,
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Manage organisations (GP practices and providers).
    Organisation {
        #[command(subcommand)]
        cmd: OrganisationCmd,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Show the configuration.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// MESH (outcome letters into the GP record): check the mailbox and a practice's endpoint.
    Mesh {
        #[command(subcommand)]
        cmd: MeshCmd,
    },
    /// Bank holidays for working-day deadlines: load a newer gov.uk file, show the range in use.
    Calendar {
        #[command(subcommand)]
        cmd: commands::calendar::CalendarCmd,
    },
    /// Check a referral's eligibility answers against a service policy.
    Eligibility {
        #[command(subcommand)]
        cmd: commands::rules::EligibilityCmd,
    },
    /// Working-day deadlines.
    Sla {
        #[command(subcommand)]
        cmd: commands::rules::SlaCmd,
    },
    /// NHS number validation (Modulus 11).
    NhsNumber {
        #[command(subcommand)]
        cmd: commands::rules::NhsNumberCmd,
    },
    /// The loaded service policies.
    Services {
        #[command(subcommand)]
        cmd: commands::rules::ServicesCmd,
    },
    /// FHIR R4 (UK Core) export and import.
    Fhir {
        #[command(subcommand)]
        cmd: commands::fhir::FhirCmd,
    },
    /// The audit trail: verify its hash chain, export it.
    Audit {
        #[command(subcommand)]
        cmd: commands::audit::AuditCmd,
    },
    /// Photo encryption keys: generate one, rotate to a new one.
    Keys {
        #[command(subcommand)]
        cmd: commands::keys::KeysCmd,
    },
    /// Records retention: purge referrals whose retention period has ended.
    Retention {
        #[command(subcommand)]
        cmd: commands::retention::RetentionCmd,
    },
    /// Image intake: quality checks and derivatives.
    Image {
        #[command(subcommand)]
        cmd: commands::image::ImageCmd,
    },
    /// Move a whole database between SQLite and PostgreSQL.
    Db {
        #[command(subcommand)]
        cmd: commands::ops::DbCmd,
    },
    /// Photo blobs: copy between stores (file:// and s3://), orphan sweep, thumbnail regeneration.
    Blobs {
        #[command(subcommand)]
        cmd: commands::blobs::BlobsCmd,
    },
    /// Reports (issue 17): per-practice referral quality, equity monitoring, the service dashboard.
    Report {
        #[command(subcommand)]
        cmd: commands::report::ReportCmd,
    },
    /// Back up the SQLite database (consistent, while running) and the photos into a new directory.
    Backup {
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Restore a backup into the configured (empty) database and blob store.
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Eligibility { cmd } => commands::rules::run_eligibility(cmd),
        Command::Sla { cmd } => commands::rules::run_sla(cmd),
        Command::NhsNumber { cmd } => commands::rules::run_nhs_number(cmd),
        Command::Services { cmd } => commands::rules::run_services(cmd),
        Command::Image { cmd } => commands::image::run(cmd),
        command => match run_async(cli.config, command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                if e.downcast_ref::<commands::audit::ChainBroken>().is_some() { ExitCode::from(1) } else { ExitCode::from(2) }
            }
        },
    }
}

fn run_async(config: ConfigArg, command: Command) -> anyhow::Result<()> {
    let config = config.load()?;
    init_logging(&config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match command {
            Command::Serve => server::serve(&config, crate::wiring::build_state(&config).await?).await,
            Command::Demo => {
                let config = demo::ensure_blob_key(config)?;
                let state = crate::wiring::build_state(&config).await?;
                demo::seed_if_empty(&config, &state).await?;
                server::serve(&config, state).await
            }
            Command::Migrate => {
                crate::wiring::open_store(&config).await?;
                println!("database schema is up to date: {}", config.printable_database_url());
                Ok(())
            }
            Command::User { cmd } => server::user(&config, cmd).await,
            Command::Organisation { cmd } => server::organisation(&config, cmd).await,
            Command::Fhir { cmd } => commands::fhir::run(&config, cmd).await,
            Command::Db { cmd } => commands::ops::run_db(cmd).await,
            Command::Blobs { cmd } => commands::blobs::run(&config, cmd).await,
            Command::Report { cmd } => commands::report::run(&config, cmd).await,
            Command::Backup { to } => commands::ops::backup(&config, &to).await,
            Command::Restore { from } => commands::ops::restore(&config, &from).await,
            Command::Audit { cmd } => commands::audit::run(&config, cmd).await,
            Command::Keys { cmd } => commands::keys::run(&config, cmd).await,
            Command::Retention { cmd } => commands::retention::run(&config, cmd).await,
            Command::Calendar { cmd } => commands::calendar::run(&config, cmd).await,
            Command::Mesh { cmd: MeshCmd::Check { ods_code } } => mesh::check(&config, ods_code.as_deref()).await,
            Command::Config { cmd: ConfigCmd::Print } => {
                print!("{}", config.printable());
                Ok(())
            }
            _ => unreachable!("synchronous commands are handled in main"),
        }
    })
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format == "json" { builder.json().try_init() } else { builder.try_init() };
}
