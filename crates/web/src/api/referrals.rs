//! Referral endpoints: thin JSON adapters over [`telederm_app::referrals`], where the rules live.

use axum::Json;
use axum::extract::{Path, State};

use super::ApiQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use telederm_domain::referral::{Message, Referral};
use telederm_store::{EventRecord, PhotoRecord};

use super::ApiJson;
use crate::AppState;
use telederm_app::access::{self, Capability, Scope};
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::error::ErrorBody;
use telederm_app::referrals::{self, CreateReferral, ListItem, ListQuery, OutcomeBody, UpdateDraft, WithdrawBody};

pub(super) use telederm_app::referrals::load;

/// A referral as the API shows it: its fields plus `due_date_provisional`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReferralView {
    #[serde(flatten)]
    pub referral: Referral,
    /// The due date is past the official bank-holiday data, so it was computed from the statutory
    /// England and Wales rules; a bank holiday proclaimed later could move it. Pages show it as
    /// provisional.
    pub due_date_provisional: bool,
}

/// A referral as the API shows it (see [`ReferralView`]).
pub fn referral_json(state: &AppState, r: &Referral) -> ReferralView {
    let provisional = r.due_date.is_some_and(|d| state.calendar.get().is_provisional(d));
    ReferralView { referral: r.clone(), due_date_provisional: provisional }
}

fn out(state: &AppState, r: &Referral) -> Json<ReferralView> {
    Json(referral_json(state, r))
}

/// The service a referral is for, as the detail view names it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceSummary {
    pub id: String,
    pub name: String,
    pub response_target_working_days: u32,
}

/// `GET /referrals/{id}`: a referral with its photos, messages, history and what the caller may
/// do with it now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReferralDetail {
    pub referral: ReferralView,
    /// Null when the installation no longer runs the referral's service.
    pub service: Option<ServiceSummary>,
    pub photos: Vec<PhotoRecord>,
    pub messages: Vec<Message>,
    pub events: Vec<EventRecord>,
    /// The actions the caller may take on the referral in its current state.
    pub permitted_actions: Vec<telederm_app::access::Capability>,
}

/// A list of referrals (`GET /referrals`, `GET /worklist`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReferralList {
    pub referrals: Vec<ListItem>,
}

#[utoipa::path(post, path = "/referrals", operation_id = "create_referral", tag = "referrals",
    summary = "Start a draft referral (referrers)",
    request_body = CreateReferral,
    responses(
        (status = 201, description = "The draft", body = ReferralView),
        (status = 403, description = "Your role may not do this (only referrers start referrals), or csrf_refused", body = ErrorBody),
        (status = 422, description = "The body has a wrong or missing value (unknown_service, route_not_offered, invalid_body, ...)", body = ErrorBody),
    ))]
pub async fn create(State(state): State<AppState>, CurrentUser(user): CurrentUser, ApiJson(body): ApiJson<CreateReferral>) -> ApiResult<Response> {
    let referral = referrals::create_draft(&state, &user, body).await?;
    Ok((StatusCode::CREATED, out(&state, &referral)).into_response())
}

#[utoipa::path(patch, path = "/referrals/{id}", operation_id = "update_draft", tag = "referrals",
    summary = "Update a draft (absent fields unchanged)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    request_body = UpdateDraft,
    responses(
        (status = 200, description = "The draft", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Not a draft any more (not_a_draft), or saved elsewhere since your version (conflict)", body = ErrorBody),
        (status = 422, description = "The body has a wrong or missing value", body = ErrorBody),
    ))]
pub async fn update_draft(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateDraft>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::update_draft(&state, &user, &id, body).await?).into_response())
}

#[utoipa::path(post, path = "/referrals/{id}/submit", operation_id = "submit_referral", tag = "referrals",
    summary = "Submit: checks completeness and eligibility, sets the due date",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "The referral after the change", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Not allowed in the referral's current state (illegal_transition, ...)", body = ErrorBody),
        (status = 422, description = "Incomplete or ineligible; details carry the problems or the eligibility decision", body = ErrorBody),
    ))]
pub async fn submit(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(out(&state, &referrals::submit(&state, &user, &id).await?).into_response())
}

#[utoipa::path(post, path = "/referrals/{id}/claim", operation_id = "claim_referral", tag = "referrals",
    summary = "Claim for review (consultants)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "The referral after the change", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Not allowed in the referral's current state (illegal_transition, ...)", body = ErrorBody),
    ))]
pub async fn claim(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(out(&state, &referrals::claim(&state, &user, &id).await?).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// Up to 8,000 characters (the e-RS limit), not blank.
    #[schema(max_length = 8000)]
    message: String,
}

/// `POST /referrals/{id}/request-information`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InformationRequestBody {
    /// Up to 8,000 characters (the e-RS limit), not blank.
    #[schema(max_length = 8000)]
    message: String,
    /// What is asked for, counted by kind in the practice report (optional).
    #[serde(default)]
    topic: Option<telederm_domain::referral::InformationTopic>,
}

#[utoipa::path(post, path = "/referrals/{id}/request-information", operation_id = "request_information", tag = "referrals",
    summary = "Ask the referrer for more information or photos",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    request_body = InformationRequestBody,
    responses(
        (status = 200, description = "The referral after the change", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Not allowed in the referral's current state (illegal_transition, ...)", body = ErrorBody),
        (status = 422, description = "The body has a wrong or missing value", body = ErrorBody),
    ))]
pub async fn request_information(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InformationRequestBody>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::request_information(&state, &user, &id, &body.message, body.topic).await?).into_response())
}

#[utoipa::path(post, path = "/referrals/{id}/reply", operation_id = "reply", tag = "referrals",
    summary = "Answer an information request (referrers)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    request_body = MessageBody,
    responses(
        (status = 200, description = "The referral after the change", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Not allowed in the referral's current state (illegal_transition, ...)", body = ErrorBody),
        (status = 422, description = "The body has a wrong or missing value", body = ErrorBody),
    ))]
pub async fn reply(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::reply(&state, &user, &id, &body.message).await?).into_response())
}

#[utoipa::path(post, path = "/referrals/{id}/outcome", operation_id = "record_outcome", tag = "referrals",
    summary = "Record the outcome (consultants)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    request_body = OutcomeBody,
    responses(
        (status = 200, description = "The referral after the change", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Not allowed in the referral's current state (illegal_transition, ...)", body = ErrorBody),
        (status = 422, description = "The body has a wrong or missing value", body = ErrorBody),
    ))]
pub async fn record_outcome(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OutcomeBody>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::record_outcome(&state, &user, &id, body).await?).into_response())
}

#[utoipa::path(post, path = "/referrals/{id}/withdraw", operation_id = "withdraw_referral", tag = "referrals",
    summary = "Withdraw (referrers)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    request_body = WithdrawBody,
    responses(
        (status = 200, description = "The referral after the change", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Not allowed in the referral's current state (illegal_transition, ...)", body = ErrorBody),
        (status = 422, description = "The body has a wrong or missing value", body = ErrorBody),
    ))]
pub async fn withdraw(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WithdrawBody>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::withdraw(&state, &user, &id, body).await?).into_response())
}

#[utoipa::path(post, path = "/referrals/{id}/close", operation_id = "close_referral", tag = "referrals",
    summary = "Close after reading the outcome (referrers)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "The referral after the change", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Not allowed in the referral's current state (illegal_transition, ...)", body = ErrorBody),
    ))]
pub async fn close(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(out(&state, &referrals::close(&state, &user, &id).await?).into_response())
}

#[utoipa::path(post, path = "/referrals/{id}/discard", operation_id = "discard_draft", tag = "referrals",
    summary = "Discard a draft that will not be sent (referrers); it leaves the referrer's list",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "The referral after the change (withdrawn, never submitted)", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Not a draft (illegal_transition)", body = ErrorBody),
    ))]
pub async fn discard(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(out(&state, &referrals::discard_draft(&state, &user, &id).await?).into_response())
}

#[utoipa::path(post, path = "/referrals/{id}/copy", operation_id = "copy_referral", tag = "referrals",
    summary = "Copy a finished referral (returned, withdrawn, answered) or a turned-away draft into a new draft (referrers of its practice)",
    description = "The new draft has the same patient, history, consent, checklist answers and photos (copied); the original is unchanged.",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 201, description = "The new draft", body = ReferralView),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "The service still has the referral (referral_still_open)", body = ErrorBody),
    ))]
pub async fn copy(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    let r = referrals::copy_into_new(&state, &user, &id).await?;
    Ok((StatusCode::CREATED, out(&state, &r)).into_response())
}

#[utoipa::path(get, path = "/referrals/{id}", operation_id = "get_referral", tag = "referrals",
    summary = "A referral with its photos, messages, history and permitted actions",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "Detail", body = ReferralDetail),
        (status = 404, description = "No such record you can see", body = ErrorBody),
    ))]
pub async fn detail(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    let r = load(&state, &user, &id, Capability::View).await?;
    let photos = state.store.list_photos(r.id).await?;
    let messages = state.store.list_messages(r.id).await?;
    let events = state.store.list_events(r.id).await?;
    let scope = Scope::from(&r);
    let permitted_actions = access::permitted_now(&user, r.status, &scope);
    let service = state.policies.get(&r.service_id).map(|p| ServiceSummary {
        id: p.id.clone(),
        name: p.name.clone(),
        response_target_working_days: p.response_target_working_days,
    });
    Ok(Json(ReferralDetail { referral: referral_json(&state, &r), service, photos, messages, events, permitted_actions }).into_response())
}

#[utoipa::path(get, path = "/referrals", operation_id = "list_referrals", tag = "referrals",
    summary = "Referrals the caller may see",
    params(ListQuery),
    responses(
        (status = 200, description = "List", body = ReferralList),
    ))]
pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Response> {
    let items = referrals::list(&state, &user, &q).await?;
    Ok(Json(ReferralList { referrals: items }).into_response())
}

/// A consultant's (or service admin's) open referrals, earliest deadline first.
#[utoipa::path(get, path = "/worklist", operation_id = "worklist", tag = "referrals",
    summary = "Open referrals of the caller's services, earliest deadline first",
    params(ListQuery),
    responses(
        (status = 200, description = "Worklist", body = ReferralList),
        (status = 403, description = "The worklist is for consultants and service admins", body = ErrorBody),
    ))]
pub async fn worklist(State(state): State<AppState>, CurrentUser(user): CurrentUser, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Response> {
    let items = referrals::worklist(&state, &user, &q).await?;
    Ok(Json(ReferralList { referrals: items }).into_response())
}
