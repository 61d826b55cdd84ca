//! `telederm fhir`: FHIR R4 export and import (docs/fhir-mapping.md).

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use telederm_domain::ReferralId;
use telederm_fhir::export::ExportOptions;
use telederm_fhir::import::ImportOptions;
use telederm_fhir::store_io::{self, ImportError, Sources};

use crate::config::Config;

#[derive(Subcommand)]
pub enum FhirCmd {
    /// Export referrals as a FHIR Bundle: `--all` writes one `collection` Bundle of every
    /// referral; `--referral ID` writes that referral's `$everything` Bundle.
    Export {
        /// Every referral, as one `collection` Bundle.
        #[arg(long, conflicts_with = "referral", required_unless_present = "referral")]
        all: bool,
        /// One referral, by id.
        #[arg(long)]
        referral: Option<String>,
        /// With `--referral`: a `transaction` Bundle another system can POST to create it.
        #[arg(long, requires = "referral")]
        transaction: bool,
        /// Where to write the Bundle (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Restore a `transaction` (or exported `collection`) Bundle from another Telederm: creates its
    /// referrals as they were (statuses, outcomes, messages) with their organisations and users
    /// (without passwords), in one transaction, audited; or prints an OperationOutcome naming
    /// every problem and changes nothing. An operator's command only: over HTTP an import is a
    /// draft of the caller's (docs/security.md).
    Import {
        /// The Bundle (JSON).
        file: PathBuf,
    },
}

pub async fn run(config: &Config, cmd: FhirCmd) -> anyhow::Result<()> {
    let state = crate::wiring::build_state(config).await?;
    let src = Sources {
        store: &state.store,
        blobs: &state.blobs,
        service_names: state.service_names(),
    };
    match cmd {
        FhirCmd::Export { all, referral, transaction, out } => {
            let opts = ExportOptions::new(Utc::now());
            let bundle = if all {
                store_io::export_all(&src, &opts).await?
            } else {
                let raw = referral.clone().unwrap_or_default();
                let id = ReferralId::parse(&raw).with_context(|| format!("{raw:?} is not a referral id"))?;
                if transaction {
                    telederm_fhir::export::transaction(&store_io::load_record(&src, id).await?, &opts)
                } else {
                    store_io::everything(&src, id, &opts).await?
                }
            };
            let what = if all { "all referrals".to_string() } else { format!("referral {}", referral.as_deref().unwrap_or_default()) };
            crate::wiring::record_cli(&state.store, "fhir.export", "referral", what).await?;
            let text = serde_json::to_string_pretty(&bundle)? + "\n";
            match out {
                Some(path) => {
                    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
                    let n = bundle["entry"].as_array().map_or(0, Vec::len);
                    eprintln!("wrote a {} Bundle of {n} resources to {}", bundle["type"].as_str().unwrap_or("?"), path.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        FhirCmd::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let bundle: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
            let opts = ImportOptions { known_services: Some(state.policies.keys().cloned().collect()) };
            let audit = crate::wiring::cli_entry("fhir.import", "referral", format!("file={}", file.display()));
            match store_io::import_bundle(&src, &bundle, &opts, audit).await {
                Ok(ids) => {
                    for id in &ids {
                        println!("imported referral {id}");
                    }
                    eprintln!("{} referral(s) imported", ids.len());
                    Ok(())
                }
                Err(e @ ImportError::Invalid(_)) => {
                    println!("{}", serde_json::to_string_pretty(&e.operation_outcome())?);
                    anyhow::bail!("{} was not imported: {e}", file.display())
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
