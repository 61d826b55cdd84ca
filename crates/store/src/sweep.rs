//! Blob maintenance: the orphan-blob sweep, and the photo queries thumbnail regeneration needs.
//!
//! An upload stores its blobs first and commits the photo record after, so a crash (or a refused
//! record) in between leaves blobs no photo refers to; so does deleting a photo, or regenerating a
//! derivative whose bytes changed. The sweep deletes such orphans once they are older than a grace
//! period, so an upload still in flight (blobs written, record not yet committed) is never touched.
//!
//! Order matters: the sweep lists a page of blobs, keeps those older than the cutoff, asks the
//! database which of them are referenced, then checks each remaining blob's time once more just
//! before deleting it (storing the same bytes again refreshes the time, see
//! [`crate::blobs::BlobInfo::last_modified`]). The one race left is an identical re-upload of an
//! orphan that is already older than the grace period landing in the instant between that last
//! check and the delete; the grace period should be much longer than any upload (default 1 hour).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::Row;
use telederm_domain::{PhotoId, ReferralId};

use crate::blobs::{BlobError, BlobStore};
use crate::{Result, Store, StoreError};

/// The job kind that runs [`sweep_orphan_blobs`].
pub const ORPHAN_SWEEP_JOB: &str = "orphan_sweep";
/// The job kind that re-derives one photo's preview and thumbnail.
pub const REGENERATE_THUMBNAILS_JOB: &str = "regenerate_thumbnails";

/// Blob keys checked against the database per query.
const PAGE: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Blobs listed.
    pub examined: u64,
    /// Unreferenced blobs left alone because they are newer than the cutoff.
    pub recent_orphans: u64,
    /// Keys deleted (or, in a dry run, that would have been).
    pub removed: Vec<String>,
    pub removed_bytes: u64,
}

/// Deletes every blob that no photo or document refers to and that was last written at or before `cutoff`
/// (now minus the grace period). With `dry_run` nothing is deleted; the report says what would be.
/// Safe to run on several nodes at once and to re-run: deleting an absent blob is not an error.
pub async fn sweep_orphan_blobs(store: &Store, blobs: &BlobStore, cutoff: DateTime<Utc>, dry_run: bool) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport::default();
    let mut pages = blobs.list_info().try_chunks(PAGE);
    while let Some(page) = pages.try_next().await.map_err(|e| e.1)? {
        report.examined += page.len() as u64;
        let keys: Vec<String> = page.iter().map(|b| b.key.clone()).collect();
        let referenced = store.referenced_blob_keys_among(&keys).await?;
        for blob in page.into_iter().filter(|b| !referenced.contains(&b.key)) {
            if blob.last_modified > cutoff {
                report.recent_orphans += 1;
                continue;
            }
            // Stored again since the listing (an upload of the same bytes in flight)?
            match blobs.info(&blob.key).await? {
                Some(now) if now.last_modified <= cutoff => {}
                Some(_) => {
                    report.recent_orphans += 1;
                    continue;
                }
                None => continue,
            }
            if !dry_run {
                blobs.delete(&blob.key).await?;
                tracing::info!(key = %blob.key, bytes = blob.size, "orphan blob removed");
            }
            report.removed_bytes += blob.size;
            report.removed.push(blob.key);
        }
    }
    Ok(report)
}

impl Store {
    /// Which of `keys` some photo refers to (as original, attachment, preview or thumbnail), or
    /// some document (its PDF).
    pub async fn referenced_blob_keys_among(&self, keys: &[String]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(PAGE) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let list = params.join(", ");
            // Each arm uses its own index (migration 0008).
            let mut sql = ["original_key", "attachment_key", "preview_key", "thumbnail_key"]
                .map(|c| format!("SELECT {c} AS k FROM photos WHERE {c} IN ({list})"))
                .join(" UNION ");
            // Documents' PDFs (migration 0020, its own index).
            sql.push_str(&format!(" UNION SELECT blob_key AS k FROM referral_documents WHERE blob_key IN ({list})"));
            let mut q = sqlx::query(&sql);
            for k in chunk {
                q = q.bind(k.as_str());
            }
            for r in q.fetch_all(&self.pool).await? {
                found.insert(r.get::<String, _>("k"));
            }
        }
        Ok(found)
    }

    /// Photo ids in id order after `after`, at most `limit`, optionally of one referral (for
    /// enqueueing thumbnail regeneration page by page).
    pub async fn list_photo_ids(&self, referral: Option<ReferralId>, after: Option<PhotoId>, limit: i64) -> Result<Vec<PhotoId>> {
        let rows = sqlx::query(
            "SELECT id FROM photos WHERE ($1 IS NULL OR referral_id = $1) AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(referral.map(|r| r.to_string()))
        .bind(after.map(|p| p.to_string()))
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.get("id");
                PhotoId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("photo id {id:?}")))
            })
            .collect()
    }

    /// Points a photo at new preview and thumbnail blobs (after regenerating them). Returns
    /// `false` when the photo no longer exists.
    pub async fn set_photo_derivatives(&self, id: PhotoId, preview_key: &str, thumbnail_key: &str) -> Result<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE photos SET preview_key = $1, thumbnail_key = $2 WHERE id = $3")
            .bind(preview_key)
            .bind(thumbnail_key)
            .bind(id.to_string())
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
