//! The background worker that runs inside `telederm serve` and `telederm demo`: it claims jobs from
//! the database queue (`telederm_store::jobs`) and runs each by its kind through [`handlers`], the
//! one registry of job kinds. Every node runs one (unless `TELEDERM_WORKER=off`); the database
//! hands each job to exactly one of them.
//!
//! Periodic jobs ([`schedule`]) are enqueued by every node with a unique key per period
//! (`sla_reminders:2026-03-09`), so each period's job exists once however many nodes start it.
//!
//! Shutdown: when the stop token is cancelled (SIGTERM, Ctrl-C) the loops stop claiming, finish
//! the jobs they hold and record their outcome, then return.
//!
//! Adding a job kind: write `async fn my_job(cx: &JobContext, job: &Job) -> Result<(), JobError>`
//! and add one line to [`handlers`] (and one to [`schedule`] if it runs periodically).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Europe::London;
use futures::future::BoxFuture;
use telederm_notify::dispatch::{CancellationToken, JobError, handle_send_notification, run_jobs_until};
use telederm_store::gp_letters::{MESH_POLL_JOB, SEND_GP_LETTER_JOB};
use telederm_store::outbox::SEND_NOTIFICATION_JOB;
use telederm_store::retention::RETENTION_PURGE_JOB;
use telederm_store::sla::SLA_REMINDERS_JOB;
use telederm_store::sweep::{ORPHAN_SWEEP_JOB, REGENERATE_THUMBNAILS_JOB};
use telederm_store::{Job, NewJob};
use telederm_web::AppState;
use tokio::task::JoinSet;

pub use crate::wiring::JobContext;

/// A job handler: runs one claimed job. `Err(JobError::Retry)` tries again later with backoff,
/// `Err(JobError::Fatal)` makes the job dead at once (for an admin to look at).
pub type Handler = fn(Arc<JobContext>, Job) -> BoxFuture<'static, Result<(), JobError>>;

/// Turns `async fn f(cx: &JobContext, job: &Job) -> Result<(), JobError>` into a [`Handler`].
macro_rules! handler {
    ($f:path) => {{
        fn run(cx: Arc<JobContext>, job: Job) -> BoxFuture<'static, Result<(), JobError>> {
            Box::pin(async move { $f(&cx, &job).await })
        }
        run as Handler
    }};
}

/// Every job kind this binary runs, kind → handler. The only place that maps kinds to code:
/// add a kind with one line.
pub fn handlers() -> Vec<(&'static str, Handler)> {
    vec![
        (SEND_NOTIFICATION_JOB, handler!(send_notification)),
        (SLA_REMINDERS_JOB, handler!(sla_reminders)),
        (ORPHAN_SWEEP_JOB, handler!(crate::maintenance::orphan_sweep)),
        (REGENERATE_THUMBNAILS_JOB, handler!(crate::maintenance::regenerate_thumbnails)),
        (RETENTION_PURGE_JOB, handler!(retention_purge)),
        (SEND_GP_LETTER_JOB, handler!(crate::mesh::send_gp_letter)),
        (MESH_POLL_JOB, handler!(crate::mesh::mesh_poll)),
    ]
}

/// How often a periodic job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Once a day, due at this hour (Europe/London), or at once if a node starts later that day.
    Daily { hour: u32 },
    /// Once an hour.
    Hourly,
}

/// Periodic jobs: each node enqueues the current period's job of each kind; the unique key makes
/// it one job.
pub fn schedule() -> Vec<(&'static str, Period)> {
    vec![
        (SLA_REMINDERS_JOB, Period::Daily { hour: 7 }),
        (ORPHAN_SWEEP_JOB, Period::Hourly),
        (RETENTION_PURGE_JOB, Period::Daily { hour: 2 }),
    ]
}

/// The job for `kind` in the period containing `now`: its unique key, payload and due time.
/// The payload carries the period's London date (`"date"`) so a retry works on the same day.
pub fn periodic_job(kind: &str, period: Period, now: DateTime<Utc>) -> NewJob {
    let local = now.with_timezone(&London);
    let date = local.date_naive();
    let (key, run_at) = match period {
        Period::Daily { hour } => {
            let due = London
                .from_local_datetime(&date.and_hms_opt(hour.min(23), 0, 0).unwrap_or_default())
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(now);
            (format!("{kind}:{date}"), due.max(now))
        }
        Period::Hourly => (format!("{kind}:{date}T{:02}", local.hour()), now),
    };
    NewJob::new(kind, serde_json::json!({ "date": date.to_string() })).unique(key).at(run_at)
}

/// Enqueues the current period's periodic jobs (idempotent across nodes). Returns how many were new.
pub async fn enqueue_periodic(state: &AppState, now: DateTime<Utc>) -> usize {
    let mut created = 0;
    for (kind, period) in schedule() {
        match state.store.enqueue_job(&periodic_job(kind, period, now)).await {
            Ok(Some(_)) => created += 1,
            Ok(None) => {}
            Err(e) => tracing::warn!(kind, error = %e, "could not schedule a periodic job"),
        }
    }
    created
}

/// This node's worker name in the jobs table: host and process id.
pub fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "telederm".into());
    format!("{host}:{}", std::process::id())
}

/// The kinds this node claims: all registered kinds, except notifications when no notifier is
/// configured (they stay queued in the outbox until a node with a notifier runs them), and the
/// MESH jobs when MESH is not configured.
pub fn claimable_kinds_with(has_notifier: bool, has_mesh: bool) -> Vec<&'static str> {
    handlers()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| has_notifier || *k != SEND_NOTIFICATION_JOB)
        .filter(|k| has_mesh || (*k != SEND_GP_LETTER_JOB && *k != MESH_POLL_JOB))
        .collect()
}

/// The inbox poll of the time slot containing `now` (one job per slot, however many nodes).
pub fn mesh_poll_job(now: DateTime<Utc>, every_seconds: u64) -> NewJob {
    let slot = now.timestamp() / every_seconds.max(1) as i64;
    NewJob::new(MESH_POLL_JOB, serde_json::json!({})).unique(format!("{MESH_POLL_JOB}:{every_seconds}:{slot}")).max_attempts(1)
}

/// Runs one claimed job through the registry.
pub async fn dispatch(cx: Arc<JobContext>, job: Job) -> Result<(), JobError> {
    let kind = job.kind.clone();
    let Some((_, handler)) = handlers().into_iter().find(|(k, _)| *k == kind) else {
        return Err(JobError::Fatal(format!("no handler for job kind {kind:?} in this version of Telederm")));
    };
    let result = handler(cx, job).await;
    let outcome = match &result {
        Ok(()) => "done",
        Err(JobError::Retry(_)) => "retry",
        Err(JobError::Fatal(_)) => "dead",
    };
    telederm_web::ops::job_finished(&kind, outcome);
    result
}

/// Starts the worker (job loops and the periodic scheduler) unless the configuration turns it
/// off. The returned task ends after `stop` is cancelled and in-flight jobs have finished.
pub fn start(cx: Arc<JobContext>, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
    if !cx.config.worker_enabled() {
        tracing::info!("background worker is off on this node (TELEDERM_WORKER=off)");
        return None;
    }
    let kinds = claimable_kinds_with(cx.notifier.is_some(), cx.mesh.is_some());
    let concurrency = cx.config.worker_concurrency.max(1);
    let name = worker_name();
    tracing::info!(worker = %name, concurrency, kinds = ?kinds, "background worker started");
    Some(tokio::spawn(async move {
        let mut loops = JoinSet::new();
        for i in 0..concurrency {
            let (cx, stop, kinds) = (cx.clone(), stop.clone(), kinds.clone());
            let name = format!("{name}/{i}");
            loops.spawn(async move {
                let store = cx.state.store.clone();
                run_jobs_until(&store, &name, &kinds, 1, Duration::from_millis(cx.config.worker_poll_ms.max(50)), false, &stop, |job| {
                    dispatch(cx.clone(), job)
                })
                .await
            });
        }
        let scheduler = {
            let (state, stop) = (cx.state.clone(), stop.clone());
            tokio::spawn(async move {
                loop {
                    enqueue_periodic(&state, Utc::now()).await;
                    tokio::select! { _ = tokio::time::sleep(Duration::from_secs(60)) => {}, _ = stop.cancelled() => return }
                }
            })
        };
        let mesh_poller = cx.mesh.is_some().then(|| {
            let (state, stop, every) = (cx.state.clone(), stop.clone(), cx.config.mesh_poll_seconds.max(1));
            tokio::spawn(async move {
                loop {
                    if let Err(e) = state.store.enqueue_job(&mesh_poll_job(Utc::now(), every)).await {
                        tracing::warn!(error = %e, "could not schedule the MESH inbox poll");
                    }
                    tokio::select! { _ = tokio::time::sleep(Duration::from_secs(every)) => {}, _ = stop.cancelled() => return }
                }
            })
        });
        let mut ran = 0;
        while let Some(r) = loops.join_next().await {
            ran += r.unwrap_or(0);
        }
        let _ = scheduler.await;
        if let Some(p) = mesh_poller {
            let _ = p.await;
        }
        tracing::info!(jobs_run = ran, "background worker stopped");
    }))
}

// ------------------------------------------------------------------------------------ handlers

async fn send_notification(cx: &JobContext, job: &Job) -> Result<(), JobError> {
    let Some(notifier) = &cx.notifier else {
        return Err(JobError::Retry("no notifier is configured on this node (set TELEDERM_SMTP_URL or TELEDERM_NOTIFY_API_KEY)".into()));
    };
    handle_send_notification(&cx.state.store, notifier.as_ref(), job).await
}

/// The working day after `day` by the service calendar.
fn next_working_day(cx: &JobContext, day: NaiveDate) -> NaiveDate {
    let calendar = cx.state.calendar.get();
    let mut d = day;
    for _ in 0..31 {
        d = d.succ_opt().unwrap_or(d);
        if calendar.is_working_day(d) {
            return d;
        }
    }
    d
}

/// The London day a periodic job is for (the `"date"` [`periodic_job`] writes), so a retry works
/// on the same day; today for a job enqueued without one.
fn job_day(job: &Job) -> NaiveDate {
    job.payload
        .get("date")
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse::<NaiveDate>().ok())
        .unwrap_or_else(|| Utc::now().with_timezone(&London).date_naive())
}

async fn sla_reminders(cx: &JobContext, job: &Job) -> Result<(), JobError> {
    let today = job_day(job);
    let base = cx.state.settings.public_url.trim_end_matches('/').to_string();
    let written = cx
        .state
        .store
        .queue_sla_reminders(today, next_working_day(cx, today), |id| format!("{base}/referrals/{id}"), |service| {
            cx.state.policies.get(service).is_some_and(|p| p.pause_clock_while_awaiting_information)
        })
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    tracing::info!(%today, reminders = written, "SLA reminders queued");
    Ok(())
}

/// Purges the referrals whose retention ended by the job's day (docs/security.md, "Retention");
/// each purge is in the audit trail. Problems with single referrals are retried the next day; a
/// failure to read the database retries the job.
async fn retention_purge(cx: &JobContext, job: &Job) -> Result<(), JobError> {
    let today = job_day(job);
    let report = cx
        .state
        .store
        .run_retention(&cx.state.blobs, &cx.config.retention, today, false, "job:retention_purge")
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    for e in &report.errors {
        tracing::warn!(error = %e, "retention purge: could not purge; the next run retries");
    }
    tracing::info!(%today, examined = report.examined, purged = report.purged, blobs = report.blobs_deleted, "retention purge done");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_registered_once() {
        let kinds: Vec<&str> = handlers().into_iter().map(|(k, _)| k).collect();
        let mut unique = kinds.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(kinds.len(), unique.len(), "a kind is registered twice: {kinds:?}");
        for (kind, _) in schedule() {
            assert!(kinds.contains(&kind), "scheduled kind {kind} has no handler");
        }
    }

    #[test]
    fn daily_jobs_have_one_key_per_london_day_and_are_due_at_their_hour() {
        let morning = Utc.with_ymd_and_hms(2026, 3, 9, 5, 30, 0).unwrap();
        let evening = Utc.with_ymd_and_hms(2026, 3, 9, 22, 0, 0).unwrap();
        let a = periodic_job("sla_reminders", Period::Daily { hour: 7 }, morning);
        let b = periodic_job("sla_reminders", Period::Daily { hour: 7 }, evening);
        assert_eq!(a.unique_key.as_deref(), Some("sla_reminders:2026-03-09"));
        assert_eq!(a.unique_key, b.unique_key);
        assert_eq!(a.run_at, Utc.with_ymd_and_hms(2026, 3, 9, 7, 0, 0).unwrap());
        assert_eq!(b.run_at, evening, "a node starting after the hour runs it at once");
        assert_eq!(a.payload["date"], "2026-03-09");
        // British Summer Time: 07:00 London is 06:00 UTC; 23:30 UTC is already the next London day.
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 23, 30, 0).unwrap();
        let c = periodic_job("sla_reminders", Period::Daily { hour: 7 }, summer);
        assert_eq!(c.unique_key.as_deref(), Some("sla_reminders:2026-07-02"));
        assert_eq!(c.run_at, Utc.with_ymd_and_hms(2026, 7, 2, 6, 0, 0).unwrap());
        let h = periodic_job("orphan_sweep", Period::Hourly, summer);
        assert_eq!(h.unique_key.as_deref(), Some("orphan_sweep:2026-07-02T00"));
    }

    #[test]
    fn notifications_are_not_claimed_without_a_notifier() {
        assert!(claimable_kinds_with(true, false).contains(&SEND_NOTIFICATION_JOB));
        assert!(!claimable_kinds_with(false, false).contains(&SEND_NOTIFICATION_JOB));
        assert!(claimable_kinds_with(false, false).contains(&SLA_REMINDERS_JOB));
        assert!(!claimable_kinds_with(true, false).contains(&SEND_GP_LETTER_JOB), "MESH jobs wait for a node with MESH");
        assert!(claimable_kinds_with(false, true).contains(&MESH_POLL_JOB));
    }
}
