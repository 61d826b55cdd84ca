//! The consultant's aids (issue 15): the list of common skin conditions with their SNOMED CT codes,
//! and each service's saved phrases (read by its consultants, written by its service admins).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use telederm_app::phrases::{self, PhraseBody};
use telederm_domain::diagnoses::{self, CodedDiagnosis, Leaflet};
use telederm_store::SavedPhrase;

use super::ApiJson;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/diagnoses", get(list_diagnoses))
        .route("/services/{id}/phrases", get(list_phrases).post(create_phrase))
        .route("/services/{id}/phrases/{phrase_id}", put(update_phrase).delete(delete_phrase))
}

/// `GET /diagnoses`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DiagnosisList {
    /// SNOMED CT: `http://snomed.info/sct`.
    pub system: &'static str,
    pub diagnoses: Vec<CodedDiagnosis>,
    /// Curated patient information to point to (all of it, whatever the query).
    pub leaflets: Vec<Leaflet>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiagnosisQuery {
    /// Words the term, another name or the code contains (any case); all when absent.
    pub q: Option<String>,
}

#[utoipa::path(get, path = "/diagnoses", operation_id = "list_diagnoses", tag = "outcomes",
    summary = "Common skin conditions with their SNOMED CT codes (for an outcome's diagnosis_code)",
    params(DiagnosisQuery),
    responses((status = 200, description = "Conditions matching the query, best first", body = DiagnosisList)))]
pub async fn list_diagnoses(_user: CurrentUser, Query(q): Query<DiagnosisQuery>) -> Json<DiagnosisList> {
    Json(DiagnosisList {
        system: "http://snomed.info/sct",
        diagnoses: diagnoses::search(q.q.as_deref().unwrap_or("")).into_iter().copied().collect(),
        leaflets: diagnoses::LEAFLETS.to_vec(),
    })
}

/// `GET /services/{id}/phrases`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PhraseList {
    pub phrases: Vec<SavedPhrase>,
}

#[utoipa::path(get, path = "/services/{id}/phrases", operation_id = "list_phrases", tag = "outcomes",
    summary = "The service's saved phrases (its consultants and service admins)",
    params(("id" = String, Path, description = "The service's id")),
    responses(
        (status = 200, description = "Phrases by kind and order", body = PhraseList),
        (status = 403, description = "Not a consultant or service admin of this service", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
    ))]
pub async fn list_phrases(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Json<PhraseList>> {
    Ok(Json(PhraseList { phrases: phrases::list(&state, &user, &id).await? }))
}

#[utoipa::path(post, path = "/services/{id}/phrases", operation_id = "create_phrase", tag = "outcomes",
    summary = "Add a saved phrase (the service's admins)",
    params(("id" = String, Path, description = "The service's id")),
    request_body = PhraseBody,
    responses(
        (status = 201, description = "Added", body = SavedPhrase),
        (status = 403, description = "Not a service admin of this service", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
        (status = 409, description = "The service has a phrase of this kind with this title (conflict)", body = ErrorBody),
        (status = 422, description = "No title or text, an unknown kind, or too long (invalid_phrase)", body = ErrorBody),
    ))]
pub async fn create_phrase(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>, ApiJson(body): ApiJson<PhraseBody>) -> ApiResult<Response> {
    let p = phrases::save(&state, &user, &id, None, body).await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

#[utoipa::path(put, path = "/services/{id}/phrases/{phrase_id}", operation_id = "update_phrase", tag = "outcomes",
    summary = "Change a saved phrase (the service's admins)",
    params(("id" = String, Path, description = "The service's id"), ("phrase_id" = uuid::Uuid, Path, description = "The phrase's id")),
    request_body = PhraseBody,
    responses(
        (status = 200, description = "Changed", body = SavedPhrase),
        (status = 403, description = "Not a service admin of this service", body = ErrorBody),
        (status = 404, description = "No such phrase in this service", body = ErrorBody),
        (status = 409, description = "The service has another phrase of this kind with this title (conflict)", body = ErrorBody),
        (status = 422, description = "No title or text, an unknown kind, or too long (invalid_phrase)", body = ErrorBody),
    ))]
pub async fn update_phrase(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, phrase_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<PhraseBody>,
) -> ApiResult<Json<SavedPhrase>> {
    Ok(Json(phrases::save(&state, &user, &id, Some(&phrase_id), body).await?))
}

#[utoipa::path(delete, path = "/services/{id}/phrases/{phrase_id}", operation_id = "delete_phrase", tag = "outcomes",
    summary = "Delete a saved phrase (the service's admins)",
    params(("id" = String, Path, description = "The service's id"), ("phrase_id" = uuid::Uuid, Path, description = "The phrase's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not a service admin of this service", body = ErrorBody),
        (status = 404, description = "No such phrase in this service", body = ErrorBody),
    ))]
pub async fn delete_phrase(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path((id, phrase_id)): Path<(String, String)>) -> ApiResult<StatusCode> {
    phrases::delete(&state, &user, &id, &phrase_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
