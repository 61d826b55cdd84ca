//! `telederm retention run [--dry-run]`: purges referrals whose retention period has ended
//! (docs/security.md, "Retention"). The same purge runs daily as the `retention_purge` job.

use chrono::Utc;
use chrono_tz::Europe::London;
use clap::Subcommand;

use crate::config::Config;

#[derive(Subcommand)]
pub enum RetentionCmd {
    /// Purge expired referrals with their photos, messages, events and blobs (each purge is
    /// recorded in the audit trail). `--dry-run` lists what would go and changes nothing.
    Run {
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &Config, cmd: RetentionCmd) -> anyhow::Result<()> {
    let RetentionCmd::Run { dry_run, json } = cmd;
    let store = crate::wiring::open_store(config).await?;
    let blobs = crate::wiring::open_blobs(config, &store).await?;
    let today = Utc::now().with_timezone(&London).date_naive();
    let report = store.run_retention(&blobs, &config.retention, today, dry_run, "cli (telederm retention run)").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for e in &report.expired {
            println!(
                "{} {} ({}, last activity {}, retained until {})",
                if dry_run { "would purge" } else { "purged" },
                e.referral_id,
                e.record_type,
                e.last_activity,
                e.retain_until
            );
        }
        println!(
            "{} referrals examined, {} expired{}",
            report.examined,
            report.expired.len(),
            if dry_run {
                " (dry run: nothing changed)".to_string()
            } else {
                format!(
                    "; purged {} with {} photos, {} messages, {} events and {} blobs",
                    report.purged, report.photos, report.messages, report.events, report.blobs_deleted
                )
            }
        );
    }
    if !report.errors.is_empty() {
        for e in &report.errors {
            eprintln!("error: {e}");
        }
        anyhow::bail!("{} problems during the purge; the next run retries", report.errors.len());
    }
    Ok(())
}
