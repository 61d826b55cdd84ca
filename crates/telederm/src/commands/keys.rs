//! Photo encryption keys: opening the blob store with them, `telederm keys generate`,
//! `telederm keys rotate`, and the startup check that the configured key opens the photos
//! (docs/security.md, "Encryption at rest").

use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;
use telederm_store::blobs::{BlobError, Kek, Rewrapped};
use telederm_store::key_rotation::PLAINTEXT;

use crate::wiring::record_cli;
use crate::wiring::{open_blobs, write_key_file};
use crate::config::Config;

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Make a new random 256-bit blob key (base64) and print its id.
    Generate {
        /// Write the key to this new file (mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Re-wrap every photo blob's data key under the current key (TELEDERM_BLOB_KEY_FILE), reading
    /// blobs still under the previous key (TELEDERM_BLOB_KEY_PREVIOUS_FILE); also encrypts blobs
    /// stored before encryption was on. Resumable: run it again after an interruption.
    Rotate,
}

pub async fn run(config: &Config, cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::Generate { out } => {
            let kek = Kek::generate();
            match out {
                Some(path) => {
                    write_key_file(&path, &kek)?;
                    println!("wrote a new blob key with id {} to {}", kek.id(), path.display());
                }
                None => {
                    println!("{}", kek.to_base64());
                    eprintln!("key id {}", kek.id());
                }
            }
            Ok(())
        }
        KeysCmd::Rotate => rotate(config).await,
    }
}

async fn rotate(config: &Config) -> anyhow::Result<()> {
    let store = crate::wiring::open_store(config).await?;
    let blobs = open_blobs(config, &store).await?;
    let Some(keyring) = blobs.keyring().cloned() else {
        bail!("TELEDERM_BLOB_ENCRYPTION is off: there is nothing to rotate")
    };
    let from = keyring.previous.as_ref().map_or(PLAINTEXT, |k| k.id()).to_string();
    let to = keyring.current.id().to_string();
    let rotation = store.start_key_rotation(&from, &to).await?;
    let keys = blobs.list().await?;
    let total = keys.len();
    eprintln!("moving {total} blobs from key {from} to key {to} (rotation {})", rotation.id);
    let (mut rewrapped, mut current, mut encrypted, mut failed) = (0usize, 0usize, 0usize, Vec::new());
    for (i, key) in keys.iter().enumerate() {
        match blobs.rewrap(key).await {
            Ok(Rewrapped::Rewrapped) => rewrapped += 1,
            Ok(Rewrapped::AlreadyCurrent) => current += 1,
            Ok(Rewrapped::Encrypted) => encrypted += 1,
            // Swept away meanwhile: nothing to protect.
            Err(BlobError::NotFound(_)) => current += 1,
            Err(e) => failed.push(format!("{key}: {e}")),
        }
        let done = i + 1;
        if done % 50 == 0 || done == total {
            eprintln!("  {done}/{total} blobs: {rewrapped} re-wrapped, {encrypted} encrypted, {current} already under the new key, {} failed", failed.len());
            store.record_key_rotation(&rotation.id, total as i64, (done - failed.len()) as i64, false).await?;
        }
    }
    if !failed.is_empty() {
        for f in failed.iter().take(20) {
            eprintln!("  failed: {f}");
        }
        bail!("{} of {total} blobs could not be moved to the new key; fix the cause and run `telederm keys rotate` again (it resumes)", failed.len());
    }
    store.record_key_rotation(&rotation.id, total as i64, total as i64, true).await?;
    record_cli(&store, "keys.rotate", "blob", format!("from={from} to={to} blobs={total} rewrapped={rewrapped} encrypted={encrypted}")).await?;
    println!("rotation finished: every blob is under key {to}.");
    if from != PLAINTEXT {
        println!("Remove TELEDERM_BLOB_KEY_PREVIOUS(_FILE) and restart; the old key is no longer accepted and can be destroyed.");
    }
    Ok(())
}
