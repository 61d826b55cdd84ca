//! Teaching cases (issue 17): thin adapters over [`telederm_app::teaching`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use telederm_domain::teaching::TeachingCase;

use super::ApiJson;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/referrals/{id}/teaching", post(mark).delete(unmark))
        .route("/teaching", get(list))
        .route("/teaching/{id}", get(detail))
        .route("/teaching/{id}/photos/{photo_id}", get(photo))
}

/// `POST /referrals/{id}/teaching`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkTeaching {
    /// What the case teaches, for referrers (no names or other identifiers), at most 2,000 characters.
    pub note: String,
}

/// `GET /teaching`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TeachingList {
    /// Newest first, at most 200.
    pub cases: Vec<TeachingCase>,
}

#[utoipa::path(post, path = "/referrals/{id}/teaching", operation_id = "mark_teaching_case", tag = "teaching",
    summary = "Mark an answered referral whose patient consented to teaching as a teaching case (its consultants)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    request_body = MarkTeaching,
    responses(
        (status = 201, description = "Marked: the case as referrers will see it (no patient identifiers)", body = TeachingCase),
        (status = 403, description = "Not a consultant (forbidden)", body = ErrorBody),
        (status = 404, description = "No such referral you can see", body = ErrorBody),
        (status = 409, description = "No outcome yet (no_outcome), or already a teaching case (conflict)", body = ErrorBody),
        (status = 422, description = "The patient did not consent to teaching (teaching_consent_missing), or the note is empty or too long (invalid_teaching_note)", body = ErrorBody),
    ))]
pub async fn mark(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>, ApiJson(body): ApiJson<MarkTeaching>) -> ApiResult<Response> {
    let case = telederm_app::teaching::mark(&state, &user, &id, &body.note).await?;
    Ok((StatusCode::CREATED, Json(case)).into_response())
}

#[utoipa::path(delete, path = "/referrals/{id}/teaching", operation_id = "unmark_teaching_case", tag = "teaching",
    summary = "Take a referral off the teaching cases (its consultants)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not a consultant (forbidden)", body = ErrorBody),
        (status = 404, description = "No such referral you can see, or it is not a teaching case", body = ErrorBody),
    ))]
pub async fn unmark(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<StatusCode> {
    telederm_app::teaching::unmark(&state, &user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/teaching", operation_id = "list_teaching_cases", tag = "teaching",
    summary = "Teaching cases, without patient identifiers (referrers, consultants, service admins)",
    responses(
        (status = 200, description = "Newest first", body = TeachingList),
        (status = 403, description = "Not a role that sees teaching cases (forbidden)", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> ApiResult<Json<TeachingList>> {
    Ok(Json(TeachingList { cases: telederm_app::teaching::list(&state, &user).await? }))
}

#[utoipa::path(get, path = "/teaching/{id}", operation_id = "get_teaching_case", tag = "teaching",
    summary = "One teaching case",
    params(("id" = uuid::Uuid, Path, description = "The teaching case's id")),
    responses(
        (status = 200, description = "The case", body = TeachingCase),
        (status = 403, description = "Not a role that sees teaching cases (forbidden)", body = ErrorBody),
        (status = 404, description = "No such teaching case", body = ErrorBody),
    ))]
pub async fn detail(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Json<TeachingCase>> {
    Ok(Json(telederm_app::teaching::get(&state, &user, &id).await?))
}

#[utoipa::path(get, path = "/teaching/{id}/photos/{photo_id}", operation_id = "get_teaching_photo", tag = "teaching",
    summary = "A teaching case's photo (preview JPEG; photos with a detected face are never served)",
    params(("id" = uuid::Uuid, Path, description = "The teaching case's id"), ("photo_id" = uuid::Uuid, Path, description = "A photo the case lists")),
    responses(
        (status = 200, description = "The photo", content(("image/jpeg"))),
        (status = 403, description = "Not a role that sees teaching cases (forbidden)", body = ErrorBody),
        (status = 404, description = "No such case, or not one of its photos", body = ErrorBody),
    ))]
pub async fn photo(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path((id, photo_id)): Path<(String, String)>) -> ApiResult<Response> {
    let bytes = telederm_app::teaching::photo(&state, &user, &id, &photo_id).await?;
    Ok(super::photos::image_response("image/jpeg", bytes))
}
