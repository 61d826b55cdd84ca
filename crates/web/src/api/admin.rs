//! Operations for system administrators: background jobs (`GET /admin/jobs`, `POST
//! /admin/jobs/{id}/retry`).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use telederm_store::JobState;

use crate::AppState;
use telederm_app::access;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Code};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// queued, running, done or dead; default dead.
    pub state: Option<String>,
    pub limit: Option<i64>,
}

pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, super::ApiQuery(q): super::ApiQuery<JobsQuery>) -> ApiResult<Json<serde_json::Value>> {
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
    let counts: serde_json::Map<String, serde_json::Value> =
        state.store.job_counts().await?.into_iter().map(|(s, n)| (s.as_str().to_string(), n.into())).collect();
    Ok(Json(serde_json::json!({
        "jobs": jobs,
        "counts": counts,
        "outbox_pending": state.store.pending_outbox_count().await?,
        "notifier": state.settings.notifier,
    })))
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

pub async fn retry_one(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    access::allow_operations(&user)?;
    retry(&state, &id).await?;
    let job = state.store.get_job(uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("dead job"))?).await?;
    Ok(Json(serde_json::json!({ "job": job })))
}
