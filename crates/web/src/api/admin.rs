//! Operations for system administrators: background jobs (`GET /admin/jobs`, `POST
//! /admin/jobs/{id}/retry`).

use axum::Json;
use axum::extract::{Path, State};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use telederm_store::{Job, JobState};

use crate::AppState;
use telederm_app::access;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Code, ErrorBody};

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// queued, running, done or dead; default dead.
    #[param(value_type = Option<JobState>, inline)]
    pub state: Option<String>,
    /// How many jobs at most (default 100); taken as 1 when smaller, 1000 when larger.
    pub limit: Option<i64>,
}

/// `GET /admin/jobs`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct JobList {
    /// The jobs in the state asked for.
    pub jobs: Vec<Job>,
    /// How many jobs are in each state (`queued`, `running`, `done`, `dead`; states with none are
    /// left out).
    pub counts: BTreeMap<String, i64>,
    /// Notifications waiting in the outbox.
    pub outbox_pending: i64,
    /// The provider configured on the node that answered (SMTP, GOV.UK Notify), or null:
    /// notifications then wait in the outbox.
    pub notifier: Option<String>,
}

/// `POST /admin/jobs/{id}/retry`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct JobRetried {
    pub job: Job,
}

#[utoipa::path(get, path = "/admin/jobs", operation_id = "list_jobs", tag = "operations",
    summary = "Background jobs of one state (default dead), with counts by state and notifications waiting (system admins)",
    params(JobsQuery),
    responses(
        (status = 200, description = "Jobs", body = JobList),
        (status = 403, description = "For system admins only", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, super::ApiQuery(q): super::ApiQuery<JobsQuery>) -> ApiResult<Json<JobList>> {
    access::allow_operations(&user)?;
    let wanted = match q.state.as_deref().unwrap_or("dead") {
        "queued" => JobState::Queued,
        "running" => JobState::Running,
        "done" => JobState::Done,
        "dead" => JobState::Dead,
        other => {
            return Err(ApiError::new(Code::InvalidQuery, format!("{other:?} is not a job state: use queued, running, done or dead.")));
        }
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let jobs = state.store.list_jobs(Some(wanted), limit).await?;
    let counts = state.store.job_counts().await?.into_iter().map(|(s, n)| (s.as_str().to_string(), n)).collect();
    Ok(Json(JobList {
        jobs,
        counts,
        outbox_pending: state.store.pending_outbox_count().await?,
        notifier: state.settings.notifier.clone(),
    }))
}

/// Gives a dead job a fresh set of attempts (shared by the API and the admin page).
pub async fn retry(state: &AppState, id: &str) -> ApiResult<()> {
    let id = uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found("dead job"))?;
    match state.store.retry_dead_job(id).await {
        Ok(()) => Ok(()),
        Err(telederm_store::StoreError::NotFound) => Err(ApiError::not_found("dead job")),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(post, path = "/admin/jobs/{id}/retry", operation_id = "retry_job", tag = "operations",
    summary = "Give a dead job a fresh set of attempts, due now (system admins)",
    params(("id" = uuid::Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job, queued again", body = JobRetried),
        (status = 403, description = "For system admins only", body = ErrorBody),
        (status = 404, description = "No dead job with this id", body = ErrorBody),
    ))]
pub async fn retry_one(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Json<JobRetried>> {
    access::allow_operations(&user)?;
    retry(&state, &id).await?;
    let job = state.store.get_job(uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("dead job"))?).await?;
    Ok(Json(JobRetried { job }))
}
