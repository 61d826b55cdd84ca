//! Moving and keeping an installation: `telederm db copy`, `telederm blobs copy`,
//! `telederm backup`, `telederm restore`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use telederm_store::blobs::{BlobCopyReport, BlobStore, copy_blobs};
use telederm_store::copy::{CopyReport, TableSummary, copy_database};
use telederm_store::{Dialect, Store, StoreError};

use crate::config::Config;

#[derive(Subcommand)]
pub enum DbCmd {
    /// Copy a whole database into an empty one (SQLite ⇄ PostgreSQL), then compare row counts and
    /// checksums of every table. The source is only read; stop the service first.
    Copy {
        /// sqlite://PATH or postgres://... to read.
        #[arg(long)]
        from: String,
        /// sqlite://PATH or postgres://... to write: created and migrated if needed, must be empty.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
pub enum BlobsCmd {
    /// Copy every photo blob from one store to another (file:// or s3://), checking each hash.
    /// Blobs the target already has are skipped, so it can be re-run after an interruption.
    Copy {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
}

fn bar(what: &str) -> ProgressBar {
    // Drawn on stderr only when it is a terminal.
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Opens a database that must already exist, without changing it (no migration, no new file).
async fn open_existing(url: &str) -> anyhow::Result<Store> {
    let shown = crate::config::redact_url(url);
    if Dialect::from_url(url).map_err(|e| anyhow::anyhow!("{e}"))? == Dialect::Sqlite {
        let path = sqlite_path(url)?;
        if !path.is_file() {
            bail!("there is no SQLite database at {} (from {shown})", path.display());
        }
    }
    let store = Store::connect_without_migrating(url).await.with_context(|| format!("cannot open the database {shown}"))?;
    Ok(store)
}

/// The file of an `sqlite://PATH[?options]` URL.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).context("not an sqlite: URL")?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        bail!("{url:?} names no database file");
    }
    Ok(PathBuf::from(path))
}

/// Opens (creating and migrating if needed) a database to write into.
async fn open_target(url: &str) -> anyhow::Result<Store> {
    if Dialect::from_url(url).map_err(|e| anyhow::anyhow!("{e}"))? == Dialect::Sqlite
        && let Some(dir) = sqlite_path(url)?.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Store::connect(url).await.with_context(|| format!("cannot open the target database {}", crate::config::redact_url(url)))
}

fn explain(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Conflict(m) if m.contains("not empty") => anyhow::anyhow!(
            "{m}: db copy and restore write only into an empty database; create a new database (or use a new data directory) and run it again"
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Copies `from` into `to` with a progress bar; checks counts and checksums (in
/// `copy_database`) and that the source did not change meanwhile.
async fn copy_with_progress(from: &Store, to: &Store) -> anyhow::Result<CopyReport> {
    let before = from.summarise_tables().await?;
    let pb = bar("copying");
    let mut base = 0u64;
    let mut last_total = 0u64;
    let report = copy_database(from, to, |table, done, total| {
        if done == 0 {
            base += last_total;
            last_total = total;
            pb.inc_length(total);
            pb.set_message(table.to_string());
        }
        pb.set_position(base + done);
    })
    .await
    .map_err(explain)?;
    pb.finish_and_clear();
    let after = from.summarise_tables().await?;
    if before != after {
        bail!("the source changed during the copy (is the service still running on it?): stop it, empty the target and copy again");
    }
    Ok(report)
}

fn print_tables(tables: &[TableSummary]) {
    for t in tables {
        println!("  {:<20} {:>9} rows  sha256 {}", t.table, t.rows, &t.sha256[..16]);
    }
}

pub async fn run_db(cmd: DbCmd) -> anyhow::Result<()> {
    match cmd {
        DbCmd::Copy { from, to } => {
            if from == to {
                bail!("--from and --to are the same database");
            }
            let source = open_existing(&from).await?;
            let target = open_target(&to).await?;
            let report = copy_with_progress(&source, &target).await?;
            println!(
                "copied {} rows in {} tables from {} to {}; counts and checksums match, the source is unchanged:",
                report.total_rows(),
                report.tables.len(),
                crate::config::redact_url(&from),
                crate::config::redact_url(&to)
            );
            print_tables(&report.tables);
            source.close().await;
            target.close().await;
            Ok(())
        }
    }
}

/// Opens a blob store that must already exist (a `file://` directory is not created).
fn open_blobs_existing(url: &str) -> anyhow::Result<BlobStore> {
    if let Some(path) = url.strip_prefix("file://")
        && !Path::new(path).is_dir()
    {
        bail!("there is no blob directory at {path}");
    }
    BlobStore::open(url).map_err(|e| anyhow::anyhow!("blob store {url}: {e}"))
}

async fn copy_blobs_with_progress(from: &BlobStore, to: &BlobStore) -> anyhow::Result<BlobCopyReport> {
    let pb = bar("blobs");
    let report = copy_blobs(from, to, |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    })
    .await
    .map_err(|e| anyhow::anyhow!("copying blobs: {e}"))?;
    pb.finish_and_clear();
    Ok(report)
}

pub async fn run_blobs(cmd: BlobsCmd) -> anyhow::Result<()> {
    match cmd {
        BlobsCmd::Copy { from, to } => {
            if from == to {
                bail!("--from and --to are the same blob store");
            }
            let source = open_blobs_existing(&from)?;
            let target = BlobStore::open(&to).map_err(|e| anyhow::anyhow!("blob store {to}: {e}"))?;
            let r = copy_blobs_with_progress(&source, &target).await?;
            println!(
                "{} blobs in {}: {} copied to {}, {} already there (each hash checked)",
                r.total,
                source.describe(),
                r.copied,
                target.describe(),
                r.skipped
            );
            Ok(())
        }
    }
}

/// `manifest.json` in a backup directory.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub telederm_version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub database: String,
    pub tables: Vec<ManifestTable>,
    pub blobs: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestTable {
    pub table: String,
    pub rows: u64,
    pub sha256: String,
}

impl From<&TableSummary> for ManifestTable {
    fn from(t: &TableSummary) -> Self {
        ManifestTable { table: t.table.clone(), rows: t.rows, sha256: t.sha256.clone() }
    }
}

const BACKUP_DB: &str = "telederm.db";
const BACKUP_BLOBS: &str = "blobs";
const MANIFEST: &str = "manifest.json";

fn backup_db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join(BACKUP_DB).display())
}

/// `telederm backup --to DIR`: a consistent online copy of the SQLite database (`VACUUM INTO`),
/// every blob it refers to, and a manifest of table counts and checksums.
pub async fn backup(config: &Config, to: &Path) -> anyhow::Result<()> {
    let url = config.database_url();
    if Dialect::from_url(&url).map_err(|e| anyhow::anyhow!("{e}"))? != Dialect::Sqlite {
        bail!(
            "telederm backup copies an SQLite database; for PostgreSQL use pg_dump or your provider's snapshots \
             (or `telederm db copy --from {} --to sqlite://DIR/telederm.db` with the service stopped)",
            crate::config::redact_url(&url)
        );
    }
    if to.exists() && std::fs::read_dir(to).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} is not empty: back up into a new directory", to.display());
    }
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let to = to.canonicalize()?;
    let live = open_existing(&url).await?;
    // One statement, one read transaction: a consistent snapshot while the service keeps running.
    let db_path = to.join(BACKUP_DB);
    sqlx::query("VACUUM INTO $1")
        .bind(db_path.display().to_string())
        .execute(live.pool())
        .await
        .with_context(|| format!("VACUUM INTO {} failed", db_path.display()))?;
    live.close().await;

    let copy = Store::connect_without_migrating(&backup_db_url(&to)).await?;
    let tables = copy.summarise_tables().await?;
    let referenced = copy.referenced_blob_keys().await?;
    copy.close().await;

    // Blobs after the database: every blob the snapshot refers to was written before it.
    let blobs = BlobStore::open(&config.blob_url()).map_err(|e| anyhow::anyhow!("blob store: {e}"))?;
    let target = BlobStore::open(&format!("file://{}", to.join(BACKUP_BLOBS).display())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let r = copy_blobs_with_progress(&blobs, &target).await?;
    let have: std::collections::HashSet<String> = target.list().await.map_err(|e| anyhow::anyhow!("{e}"))?.into_iter().collect();
    let missing = referenced.iter().filter(|k| !have.contains(*k)).count();
    if missing > 0 {
        bail!("{missing} photos in the database have no blob in {}: the backup is incomplete", blobs.describe());
    }

    let manifest = Manifest {
        format: 1,
        telederm_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: chrono::Utc::now(),
        database: BACKUP_DB.into(),
        tables: tables.iter().map(ManifestTable::from).collect(),
        blobs: r.total,
    };
    std::fs::write(to.join(MANIFEST), serde_json::to_string_pretty(&manifest)?)?;
    let rows: u64 = tables.iter().map(|t| t.rows).sum();
    println!("backed up {rows} rows in {} tables and {} blobs to {}", tables.len(), r.total, to.display());
    Ok(())
}

/// `telederm restore --from DIR`: checks the backup against its manifest, then loads it into the
/// configured (empty) database and blob store.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<()> {
    let manifest_path = from.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("{} is not a Telederm backup (no {MANIFEST})", from.display()))?;
    let manifest: Manifest = serde_json::from_str(&text).with_context(|| format!("{} is damaged", manifest_path.display()))?;
    if manifest.format != 1 {
        bail!("backup format {} is not supported by this version of Telederm", manifest.format);
    }
    let backup_db = from.join(&manifest.database);
    if !backup_db.is_file() {
        bail!("the backup has no database file {}", backup_db.display());
    }
    // Work on a copy: the backup itself is never changed (not even migrated).
    let scratch = tempfile::tempdir()?;
    let work = scratch.path().join(BACKUP_DB);
    std::fs::copy(&backup_db, &work).with_context(|| format!("cannot read {}", backup_db.display()))?;
    let work_url = format!("sqlite://{}", work.display());
    {
        let copy = Store::connect_without_migrating(&work_url).await?;
        let tables: Vec<ManifestTable> = copy.summarise_tables().await?.iter().map(ManifestTable::from).collect();
        copy.close().await;
        // Table by table, so the message says where: any one changed cell changes that table's checksum.
        for listed in &manifest.tables {
            match tables.iter().find(|t| t.table == listed.table) {
                None => bail!("the backup's database does not match its manifest: table `{}` is missing", listed.table),
                Some(found) if found != listed => bail!(
                    "the backup's database does not match its manifest: table `{}` holds {} rows with checksum {}, the manifest lists {} rows with checksum {}; it is damaged or was changed",
                    listed.table,
                    found.rows,
                    &found.sha256[..16.min(found.sha256.len())],
                    listed.rows,
                    &listed.sha256[..16.min(listed.sha256.len())]
                ),
                Some(_) => {}
            }
        }
        if let Some(extra) = tables.iter().find(|t| !manifest.tables.iter().any(|m| m.table == t.table)) {
            bail!("the backup's database does not match its manifest: table `{}` is not in the manifest", extra.table);
        }
    }
    let source = Store::connect(&work_url).await.context("bringing the backup's schema up to date")?;
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    }
    let target = open_target(&config.database_url()).await?;
    let report = copy_with_progress(&source, &target).await?;
    source.close().await;
    target.close().await;

    let blob_dir = from.join(BACKUP_BLOBS);
    let blobs = if blob_dir.is_dir() {
        let src = BlobStore::open(&format!("file://{}", blob_dir.display())).map_err(|e| anyhow::anyhow!("{e}"))?;
        let dst = BlobStore::open(&config.blob_url()).map_err(|e| anyhow::anyhow!("blob store: {e}"))?;
        copy_blobs_with_progress(&src, &dst).await?.total
    } else {
        0
    };
    if blobs != manifest.blobs {
        bail!("the backup lists {} blobs but holds {blobs}", manifest.blobs);
    }
    println!(
        "restored {} rows in {} tables and {blobs} blobs into {}; counts and checksums match",
        report.total_rows(),
        report.tables.len(),
        config.printable_database_url()
    );
    Ok(())
}
