//! `telederm blobs copy` (in [`crate::commands::ops`]), `telederm blobs sweep` and
//! `telederm blobs regenerate-thumbnails`.

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use telederm_domain::ReferralId;
use telederm_store::blobs::BlobStore;
use telederm_store::sweep_orphan_blobs;

use crate::wiring::open_store;
use crate::config::Config;
use crate::maintenance::{enqueue_regeneration, parse_grace};

#[derive(Subcommand)]
pub enum BlobsCmd {
    #[command(flatten)]
    Stores(crate::commands::ops::BlobsCmd),
    /// Delete blobs no photo refers to that are older than the grace period, and list them.
    Sweep {
        /// Leave unreferenced blobs younger than this alone (uploads in flight): 0, 90s, 15m, 1h, 2d.
        #[arg(long, default_value = "1h", value_parser = parse_grace)]
        grace: chrono::Duration,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Queue a job per photo that re-derives its preview and thumbnail from the original.
    RegenerateThumbnails {
        /// Only this referral's photos.
        #[arg(long)]
        referral: Option<String>,
    },
}

pub async fn run(config: &Config, cmd: BlobsCmd) -> anyhow::Result<()> {
    match cmd {
        BlobsCmd::Stores(cmd) => return crate::commands::ops::run_blobs(cmd).await,
        BlobsCmd::Sweep { grace, dry_run } => {
            let store = open_store(config).await?;
            let blobs = BlobStore::open(&config.blob_url()).map_err(|e| anyhow::anyhow!("blob store: {e}"))?;
            let report = sweep_orphan_blobs(&store, &blobs, Utc::now() - grace, dry_run)
                .await
                .with_context(|| format!("sweeping {}", blobs.describe()))?;
            for key in &report.removed {
                println!("{} {key}", if dry_run { "would remove" } else { "removed" });
            }
            println!(
                "{} {} orphan blob(s), {} bytes; {} blob(s) examined; {} unreferenced blob(s) younger than the grace period kept",
                if dry_run { "would remove" } else { "removed" },
                report.removed.len(),
                report.removed_bytes,
                report.examined,
                report.recent_orphans
            );
        }
        BlobsCmd::RegenerateThumbnails { referral } => {
            let store = open_store(config).await?;
            let referral = referral
                .map(|r| ReferralId::parse(&r).with_context(|| format!("{r:?} is not a referral id (a UUID)")))
                .transpose()?;
            let n = enqueue_regeneration(&store, referral).await?;
            println!("queued {n} regenerate_thumbnails job(s); running `telederm serve` nodes will run them");
        }
    }
    Ok(())
}
