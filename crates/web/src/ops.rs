//! Operations endpoints and instruments: `GET /readyz` (database and blob store reachable),
//! Prometheus `GET /metrics`, and the request middleware that counts, times and logs every request
//! by its route template (never the raw path, which can hold a patient link's token).
//!
//! Metrics use the `prometheus` crate (without its protobuf feature) on one registry for the
//! process. Counters and histograms are per node; the gauges read from the database at scrape time
//! (jobs by state, queue depth, pending notifications, SLA breaches) are the same on every node.
//! `telederm_calendar_days_left` is the days of official bank-holiday data left in the calendar
//! this node uses (negative once past it; due dates are then provisional): alert below 90.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use chrono_tz::Europe::London;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::AppState;
use crate::error::{ApiError, Code, ErrorBody};

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    jobs_finished: IntCounterVec,
    jobs: IntGaugeVec,
    gauges: IntGaugeVec,
    calendar_days_left: IntGauge,
}

fn build() -> prometheus::Result<Metrics> {
    let registry = Registry::new();
    let http_requests = IntCounterVec::new(
        Opts::new("telederm_http_requests_total", "HTTP requests by method, route template and status"),
        &["method", "route", "status"],
    )?;
    let http_duration = HistogramVec::new(
        HistogramOpts::new("telederm_http_request_duration_seconds", "HTTP request latency by method and route template")
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        &["method", "route"],
    )?;
    let jobs_finished = IntCounterVec::new(
        Opts::new("telederm_jobs_finished_total", "Jobs run on this node by kind and outcome (done, retry, dead)"),
        &["kind", "outcome"],
    )?;
    let jobs = IntGaugeVec::new(Opts::new("telederm_jobs", "Jobs in the queue by state (queued, running, done, dead)"), &["state"])?;
    let gauges = IntGaugeVec::new(Opts::new("telederm_state", "Work waiting, read from the database at scrape time"), &["what"])?;
    registry.register(Box::new(http_requests.clone()))?;
    registry.register(Box::new(http_duration.clone()))?;
    registry.register(Box::new(telederm_app::metrics::PHOTO_UPLOADS.clone()))?;
    registry.register(Box::new(telederm_app::metrics::PHOTO_INTAKE_STAGES.clone()))?;
    registry.register(Box::new(jobs_finished.clone()))?;
    registry.register(Box::new(jobs.clone()))?;
    let calendar_days_left = IntGauge::new(
        "telederm_calendar_days_left",
        "Days of official bank-holiday data left in the calendar in use (negative when past it: due dates are then provisional)",
    )?;
    registry.register(Box::new(gauges.clone()))?;
    registry.register(Box::new(calendar_days_left.clone()))?;
    Ok(Metrics { registry, http_requests, http_duration, jobs_finished, jobs, gauges, calendar_days_left })
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| build().expect("metric names and labels are valid constants"));

/// Counts a job run on this node: `outcome` is `done`, `retry` or `dead`.
pub fn job_finished(kind: &str, outcome: &str) {
    METRICS.jobs_finished.with_label_values(&[kind, outcome]).inc();
}

/// Counts, times and logs each request under its route template.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let response = next.run(req).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    let status_text = status.to_string();
    METRICS.http_requests.with_label_values(&[method.as_str(), route.as_str(), status_text.as_str()]).inc();
    METRICS.http_duration.with_label_values(&[method.as_str(), route.as_str()]).observe(elapsed.as_secs_f64());
    tracing::info!(target: "telederm::http", method = %method, route = %route, status, duration_ms = elapsed.as_secs_f64() * 1000.0, "request");
    response
}

/// Refreshes the gauges that come from the database. A failed read leaves the last value.
async fn refresh(state: &AppState) {
    match state.store.job_counts().await {
        Ok(counts) => {
            for s in [
                telederm_store::JobState::Queued,
                telederm_store::JobState::Running,
                telederm_store::JobState::Done,
                telederm_store::JobState::Dead,
            ] {
                let n = counts.iter().find(|(st, _)| *st == s).map_or(0, |(_, n)| *n);
                METRICS.jobs.with_label_values(&[s.as_str()]).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: counting jobs failed"),
    }
    let today = Utc::now().with_timezone(&London).date_naive();
    METRICS.calendar_days_left.set(state.calendar.get().days_left(today));
    let reads = [
        ("job_queue_depth", state.store.due_job_count(Utc::now()).await),
        ("outbox_pending", state.store.pending_outbox_count().await),
        ("sla_breached_referrals", state.store.count_breached_referrals(today).await),
    ];
    for (what, n) in reads {
        match n {
            Ok(n) => METRICS.gauges.with_label_values(&[what]).set(n),
            Err(e) => tracing::warn!(what, error = %e, "metrics: reading a gauge failed"),
        }
    }
    // Outcome letters into the GP record (MESH): those that need filing by hand, and those on their way.
    match state.store.gp_letter_counts().await {
        Ok(counts) => {
            use telederm_store::GpLetterStatus as S;
            let sum = |f: &dyn Fn(S) -> bool| counts.iter().filter(|(s, _)| f(*s)).map(|(_, n)| *n).sum::<i64>();
            METRICS.gauges.with_label_values(&["gp_letters_not_filed"]).set(sum(&|s| s.is_problem()));
            METRICS.gauges.with_label_values(&["gp_letters_in_flight"]).set(sum(&|s| matches!(s, S::Pending | S::Sent | S::Delivered)));
        }
        Err(e) => tracing::warn!(error = %e, "metrics: counting outcome letters failed"),
    }
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "Alive: the text `ok`", content(("text/plain")))))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    summary = "Prometheus metrics (text format); serve on an internal address only",
    responses((status = 200, description = "Prometheus text exposition format", content(("text/plain")))))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    refresh(&state).await;
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut out) {
        return ApiError::internal("metrics encoding", e).into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response()
}

/// The bank-holiday calendar's part of `/readyz`: never makes the node unready (referrals must go
/// on being taken), but says when the official data ends soon (`ending_soon`, from 90 days before)
/// or has ended (`past_official_data`: due dates are provisional), with the operator's next step.
fn calendar_detail(state: &AppState) -> CalendarReadiness {
    let calendar = state.calendar.get();
    let today = Utc::now().with_timezone(&London).date_naive();
    let left = calendar.days_left(today);
    let status = match left {
        l if l < 0 => CalendarState::PastOfficialData,
        _ if calendar.needs_update(today) => CalendarState::EndingSoon,
        _ => CalendarState::Ok,
    };
    CalendarReadiness {
        status,
        source: state.calendar.source(),
        official_data_ends: calendar.last_day(),
        days_left: left,
        warning: calendar.warning(today),
    }
}

/// `GET /readyz` when ready.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Ready {
    pub status: ReadyState,
    pub checks: ReadyChecks,
    /// The bank-holiday calendar: warns from 90 days before its official data ends (load a newer
    /// one with `telederm calendar update`), never makes the node unready.
    pub calendar: CalendarReadiness,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyState {
    Ready,
}

/// Each part `/readyz` checks (also the `details` of its 503).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReadyChecks {
    pub database: PartState,
    pub blob_store: PartState,
    pub calendar: CalendarState,
}

#[derive(serde::Serialize, utoipa::ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum PartState {
    Ok,
    Unreachable,
}

#[derive(serde::Serialize, utoipa::ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum CalendarState {
    Ok,
    EndingSoon,
    PastOfficialData,
}

/// The bank-holiday calendar this node uses.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CalendarReadiness {
    pub status: CalendarState,
    /// Where the data came from (built in, a file, or the database).
    pub source: String,
    pub official_data_ends: chrono::NaiveDate,
    /// Days of official data left (negative once past it).
    pub days_left: i64,
    pub warning: Option<String>,
}

/// `GET /readyz`: 200 when the database and the blob store answer; otherwise 503 naming which
/// did not (the cause goes to the log, not to the caller). The body also reports the bank-holiday
/// calendar (`checks.calendar` and `calendar`), which warns but never makes the node unready.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    summary = "Readiness: the database and the blob store answer",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready (code not_ready); details name each part: ok or unreachable", body = ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let limit = Duration::from_secs(5);
    let database = match tokio::time::timeout(limit, state.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("no answer within 5 s".into()),
    };
    let blobs = match tokio::time::timeout(limit, state.blobs.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("no answer within 5 s".into()),
    };
    let word = |e: &Option<String>| if e.is_none() { PartState::Ok } else { PartState::Unreachable };
    let calendar = calendar_detail(&state);
    let checks = ReadyChecks { database: word(&database), blob_store: word(&blobs), calendar: calendar.status };
    if database.is_none() && blobs.is_none() {
        return (StatusCode::OK, axum::Json(Ready { status: ReadyState::Ready, checks, calendar })).into_response();
    }
    let mut failed = Vec::new();
    if let Some(e) = &database {
        tracing::warn!(error = %e, "readyz: the database is unreachable");
        failed.push("the database (check TELEDERM_DATABASE_URL and that the server is up)");
    }
    if let Some(e) = &blobs {
        tracing::warn!(error = %e, "readyz: the blob store is unreachable");
        failed.push("the blob store (check TELEDERM_BLOB_URL, the directory or bucket, and credentials)");
    }
    ApiError::new(Code::NotReady, format!("Not ready: cannot reach {}.", failed.join(" or ")))
        .with_details(serde_json::to_value(&checks).unwrap_or_default())
        .into_response()
}
