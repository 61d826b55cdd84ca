//! Draining the outbox: the `send_notification` job's handler, and a small worker loop that runs
//! any handler over the store's job queue.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use telederm_store::outbox::SEND_NOTIFICATION_JOB;
use telederm_store::{Job, JobState, OutboxState, Store};
pub use tokio_util::sync::CancellationToken;

use crate::{Notification, Notifier, NotifyError};

/// What a job handler reports.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Try again later (with the queue's backoff).
    #[error("{0}")]
    Retry(String),
    /// Trying again will not help: the job is dead at once, for an admin to look at.
    #[error("{0}")]
    Fatal(String),
}

/// Delivers one outbox message if it is still pending, then marks it sent. Running it twice sends
/// once, unless the process dies between sending and marking (then the reader may get it twice;
/// never zero times).
pub async fn deliver_outbox(store: &Store, notifier: &dyn Notifier, outbox_id: uuid::Uuid) -> Result<bool, JobError> {
    let m = store.get_outbox(outbox_id).await.map_err(|e| JobError::Retry(e.to_string()))?;
    if m.state == OutboxState::Sent {
        return Ok(false);
    }
    let n = Notification::new(m.channel, &m.recipient, m.template, &m.link)
        .map_err(|e| JobError::Fatal(e.to_string()))?
        .with_reference(m.id.to_string());
    let delivery = notifier.send(&n).await.map_err(|e| match e {
        NotifyError::Temporary(_) => JobError::Retry(e.to_string()),
        _ => JobError::Fatal(e.to_string()),
    })?;
    store
        .mark_outbox_sent(m.id, delivery.provider_reference.as_deref(), Utc::now())
        .await
        .map_err(|e| JobError::Retry(e.to_string()))
}

/// The `send_notification` handler: the job's payload is `{"outbox_id": "…"}`.
pub async fn handle_send_notification(store: &Store, notifier: &dyn Notifier, job: &Job) -> Result<(), JobError> {
    let id = job
        .payload
        .get("outbox_id")
        .and_then(|v| v.as_str())
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .ok_or_else(|| JobError::Fatal(format!("job {} has no outbox_id", job.id)))?;
    deliver_outbox(store, notifier, id).await.map(|_| ())
}

/// Claims and runs jobs of `kinds` (every kind if empty), polling every `idle` when there is
/// nothing to do, forever, or until none are due when `drain` is set. Each job's outcome is
/// recorded: done, retried with backoff, or dead. Returns how many jobs it ran. Stop a forever
/// loop by dropping its future (a job cut off half-way is claimed again when its lease runs out),
/// or use [`run_jobs_until`] to stop between jobs.
pub async fn run_jobs<H, F>(
    store: &Store,
    worker: &str,
    kinds: &[&str],
    batch: i64,
    idle: Duration,
    drain: bool,
    handler: H,
) -> usize
where
    H: FnMut(Job) -> F,
    F: Future<Output = Result<(), JobError>>,
{
    run_jobs_until(store, worker, kinds, batch, idle, drain, &CancellationToken::new(), handler).await
}

/// [`run_jobs`] that stops claiming once `stop` is cancelled: the jobs already claimed are run
/// to the end and recorded, then it returns (graceful shutdown).
#[allow(clippy::too_many_arguments)]
pub async fn run_jobs_until<H, F>(
    store: &Store,
    worker: &str,
    kinds: &[&str],
    batch: i64,
    idle: Duration,
    drain: bool,
    stop: &CancellationToken,
    mut handler: H,
) -> usize
where
    H: FnMut(Job) -> F,
    F: Future<Output = Result<(), JobError>>,
{
    let mut ran = 0;
    loop {
        if stop.is_cancelled() {
            return ran;
        }
        let claimed =
            if kinds.is_empty() { store.claim_jobs(worker, batch).await } else { store.claim_jobs_of_kinds(worker, batch, kinds).await };
        let jobs = match claimed {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(worker, error = %e, "claiming jobs failed");
                tokio::select! { _ = tokio::time::sleep(idle) => {}, _ = stop.cancelled() => {} }
                continue;
            }
        };
        if jobs.is_empty() {
            if drain {
                return ran;
            }
            tokio::select! { _ = tokio::time::sleep(idle) => {}, _ = stop.cancelled() => {} }
            continue;
        }
        for job in jobs {
            let (id, kind) = (job.id, job.kind.clone());
            ran += 1;
            let outcome = handler(job).await;
            let recorded = match outcome {
                Ok(()) => store.complete_job(id, worker).await.map(|_| JobState::Done),
                Err(JobError::Retry(e)) => store.fail_job(id, worker, &e, Utc::now()).await,
                Err(JobError::Fatal(e)) => store.kill_job(id, worker, &e).await.map(|_| JobState::Dead),
            };
            match recorded {
                Ok(state) => tracing::debug!(worker, %id, kind, state = state.as_str(), "job finished"),
                Err(e) => tracing::warn!(worker, %id, kind, error = %e, "recording a job's outcome failed"),
            }
        }
    }
}

/// Runs the notification jobs in the queue until none are due (for tests and one-shot commands).
pub async fn drain_notifications(store: &Store, notifier: &dyn Notifier, worker: &str) -> usize {
    run_jobs(store, worker, &[SEND_NOTIFICATION_JOB], 10, Duration::from_millis(50), true, |job| async move {
        handle_send_notification(store, notifier, &job).await
    })
    .await
}
