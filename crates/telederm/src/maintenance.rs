//! Blob maintenance: the `orphan_sweep` and `regenerate_thumbnails` jobs (run by the worker on
//! every node) and the work behind `telederm blobs sweep` and `telederm blobs regenerate-thumbnails`.

use chrono::{Duration, Utc};
use serde::Deserialize;
use telederm_domain::{PhotoId, ReferralId};
use telederm_imaging::{IntakeLimits, QualityRequirements};
use telederm_store::blobs::BlobStore;
use telederm_store::sweep::REGENERATE_THUMBNAILS_JOB;
use telederm_notify::dispatch::JobError;
use telederm_store::{Job, NewJob, Store, StoreError, SweepReport, enqueue_job_in, sweep_orphan_blobs};

use crate::wiring::JobContext;

/// How old an unreferenced blob must be before the scheduled sweep deletes it: far longer than
/// any upload takes between storing its blobs and committing its record.
pub const DEFAULT_GRACE: Duration = Duration::hours(1);

/// A job that cannot run as written (retrying will not help).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadPayload(pub String);

/// Parses a grace period: `0`, `90s`, `15m`, `1h`, `2d`.
pub fn parse_grace(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a duration: use a whole number with s, m, h or d, e.g. 90s, 15m, 1h, 2d");
    if s == "0" {
        return Ok(Duration::zero());
    }
    let (n, unit) = s.split_at(s.len().checked_sub(1).ok_or_else(bad)?);
    let n: i64 = n.parse().map_err(|_| bad())?;
    if n < 0 {
        return Err(bad());
    }
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    };
    secs.and_then(Duration::try_seconds).ok_or_else(bad)
}

/// The scheduler's payload also carries the period (`"date"`), which the sweep does not need.
#[derive(Deserialize)]
struct SweepPayload {
    grace_seconds: Option<i64>,
}

/// The `orphan_sweep` job (scheduled hourly by the worker): payload `{"grace_seconds": N}`,
/// default one hour.
pub async fn orphan_sweep_job(store: &Store, blobs: &BlobStore, job: &Job) -> anyhow::Result<SweepReport> {
    let p: SweepPayload =
        serde_json::from_value(job.payload.clone()).map_err(|e| BadPayload(format!("orphan_sweep payload {}: {e}", job.payload)))?;
    let grace = match p.grace_seconds {
        None => DEFAULT_GRACE,
        Some(s) if s >= 0 => Duration::try_seconds(s).ok_or_else(|| BadPayload(format!("grace_seconds {s} is too large")))?,
        Some(s) => return Err(BadPayload(format!("grace_seconds {s} is negative")).into()),
    };
    let report = sweep_orphan_blobs(store, blobs, Utc::now() - grace, false).await?;
    tracing::info!(examined = report.examined, removed = report.removed.len(), bytes = report.removed_bytes, "orphan sweep finished");
    Ok(report)
}

/// A failure as the queue sees it: a payload that cannot work is dead at once, anything else
/// (database or blob store unreachable…) is retried with backoff.
fn job_error(e: anyhow::Error) -> JobError {
    if e.is::<BadPayload>() { JobError::Fatal(format!("{e:#}")) } else { JobError::Retry(format!("{e:#}")) }
}

/// The worker's `orphan_sweep` handler.
pub async fn orphan_sweep(cx: &JobContext, job: &Job) -> Result<(), JobError> {
    orphan_sweep_job(&cx.state.store, &cx.state.blobs, job).await.map(|_| ()).map_err(job_error)
}

/// The worker's `regenerate_thumbnails` handler.
pub async fn regenerate_thumbnails(cx: &JobContext, job: &Job) -> Result<(), JobError> {
    regenerate_thumbnails_job(&cx.state.store, &cx.state.blobs, job).await.map(|_| ()).map_err(job_error)
}

/// What regenerating a photo's derivatives did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regenerated {
    /// The derivatives came out as stored (they were written again, repairing any lost blob).
    Unchanged,
    /// New preview or thumbnail bytes; the photo now points at them (the old blobs are left for
    /// the orphan sweep).
    Updated,
    /// The photo was deleted meanwhile.
    PhotoGone,
}

/// Re-derives one photo's preview and thumbnail from its stored original. Idempotent: running it
/// again stores the same bytes under the same keys.
pub async fn regenerate_photo(store: &Store, blobs: &BlobStore, id: PhotoId) -> anyhow::Result<Regenerated> {
    let photo = match store.get_photo(id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Ok(Regenerated::PhotoGone),
        Err(e) => return Err(e.into()),
    };
    let original = blobs.get_verified(&photo.original_key).await?;
    let limits = IntakeLimits {
        max_file_bytes: (original.len() as u64).max(IntakeLimits::default().max_file_bytes),
        ..IntakeLimits::default()
    };
    let intake = tokio::task::spawn_blocking(move || telederm_imaging::intake(&original, &limits, &QualityRequirements::default()))
        .await?
        .map_err(|e| BadPayload(format!("the stored original of photo {id} no longer passes intake: {e}")))?;
    // Blobs first, then the record (as on upload).
    let preview_key = blobs.put(intake.preview.bytes).await?;
    let thumbnail_key = blobs.put(intake.thumbnail.bytes).await?;
    if preview_key == photo.preview_key && thumbnail_key == photo.thumbnail_key {
        return Ok(Regenerated::Unchanged);
    }
    Ok(if store.set_photo_derivatives(id, &preview_key, &thumbnail_key).await? { Regenerated::Updated } else { Regenerated::PhotoGone })
}

/// The `regenerate_thumbnails` job: payload `{"photo_id": "…"}`.
pub async fn regenerate_thumbnails_job(store: &Store, blobs: &BlobStore, job: &Job) -> anyhow::Result<Regenerated> {
    let id = job
        .payload
        .get("photo_id")
        .and_then(|v| v.as_str())
        .and_then(PhotoId::parse)
        .ok_or_else(|| BadPayload(format!("regenerate_thumbnails payload {} has no photo_id", job.payload)))?;
    regenerate_photo(store, blobs, id).await
}

/// Queues one `regenerate_thumbnails` job per photo (of one referral, or all), a page per
/// transaction. Returns how many.
pub async fn enqueue_regeneration(store: &Store, referral: Option<ReferralId>) -> anyhow::Result<usize> {
    let mut after = None;
    let mut queued = 0;
    loop {
        let ids = store.list_photo_ids(referral, after, 500).await?;
        let Some(last) = ids.last().copied() else { return Ok(queued) };
        let mut w = store.begin().await?;
        for id in &ids {
            let job = NewJob::new(REGENERATE_THUMBNAILS_JOB, serde_json::json!({ "photo_id": id.to_string() })).max_attempts(3);
            enqueue_job_in(&mut w, &job).await?;
        }
        w.commit().await?;
        queued += ids.len();
        after = Some(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_periods_parse_and_bad_ones_say_what_to_write() {
        assert_eq!(parse_grace("0"), Ok(Duration::zero()));
        assert_eq!(parse_grace("0s"), Ok(Duration::zero()));
        assert_eq!(parse_grace("90s"), Ok(Duration::seconds(90)));
        assert_eq!(parse_grace("15m"), Ok(Duration::minutes(15)));
        assert_eq!(parse_grace("1h"), Ok(Duration::hours(1)));
        assert_eq!(parse_grace("2d"), Ok(Duration::days(2)));
        for bad in ["", "h", "1", "-1h", "1w", "1.5h", "99999999999999999d"] {
            let e = parse_grace(bad).unwrap_err();
            assert!(e.contains("90s, 15m, 1h, 2d"), "{bad:?}: {e}");
        }
    }
}
