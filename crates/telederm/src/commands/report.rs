//! `telederm report practice-quality|equity|service`: the reports of `GET /api/v1/reports/...`,
//! computed by the same use cases with the same access rules, as the user named by `--as`.

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use telederm_app::reports;

use crate::config::Config;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

#[derive(Subcommand)]
pub enum ReportCmd {
    /// Per-practice referral quality beside the service's figures.
    PracticeQuality {
        /// The user whose view to print (their email): a GP sees their own practice, a service
        /// admin their services' practices.
        #[arg(long = "as")]
        as_user: String,
        /// A practice's ODS code (default: every practice the user may see).
        #[arg(long)]
        practice: Option<String>,
        /// First day received, YYYY-MM-DD (default: 89 days before --to).
        #[arg(long)]
        from: Option<String>,
        /// Last day received, YYYY-MM-DD (default: today).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Equity monitoring of a service (service admins), with suppressed cells.
    Equity {
        #[arg(long = "as")]
        as_user: String,
        /// The service's id.
        #[arg(long)]
        service: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// A service's dashboard: weekly volumes, within target, breaches, outcome mix, turnaround.
    Service {
        #[arg(long = "as")]
        as_user: String,
        #[arg(long)]
        service: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Rewrites every referral's report facts and recounts the practice-quality report's month
    /// totals from them (after loading referrals or facts straight into the database).
    RebuildFacts,
}

fn print(format: Format, json: impl serde::Serialize, csv: impl FnOnce() -> String) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        Format::Csv => print!("{}", csv()),
    }
    Ok(())
}

pub async fn run(config: &Config, cmd: ReportCmd) -> anyhow::Result<()> {
    // No photos are read: the blob store is opened without its key, as for account commands.
    let state = crate::wiring::admin_app(config, crate::wiring::open_store(config).await?).await?;
    let fail = crate::wiring::cli_error;
    let user = |email: String| {
        let store = state.store.clone();
        async move {
            store
                .user_by_email(&email)
                .await?
                .map(|(u, _)| u)
                .with_context(|| format!("there is no user {email:?}: --as takes the email of a GP or service admin"))
        }
    };
    match cmd {
        ReportCmd::PracticeQuality { as_user, practice, from, to, format } => {
            let user = user(as_user).await?;
            let (from, to) = reports::period(&state, from.as_deref(), to.as_deref()).map_err(fail)?;
            let r = reports::practice_quality(&state, &user, practice.as_deref(), from, to).await.map_err(fail)?;
            print(format, &r, || reports::csv::practice_quality(&r))
        }
        ReportCmd::Equity { as_user, service, from, to, format } => {
            let user = user(as_user).await?;
            let (from, to) = reports::period(&state, from.as_deref(), to.as_deref()).map_err(fail)?;
            let r = reports::equity(&state, &user, &service, from, to).await.map_err(fail)?;
            print(format, &r, || reports::csv::equity(&r))
        }
        ReportCmd::Service { as_user, service, from, to, format } => {
            let user = user(as_user).await?;
            let (from, to) = reports::period(&state, from.as_deref(), to.as_deref()).map_err(fail)?;
            let r = reports::service_dashboard(&state, &user, &service, from, to).await.map_err(fail)?;
            print(format, &r, || reports::csv::service(&r, None))
        }
        ReportCmd::RebuildFacts => {
            let n = reports::rebuild_facts(&state).await.map_err(fail)?;
            eprintln!("rewrote the report facts of {n} referrals and recounted the month totals");
            Ok(())
        }
    }
}
