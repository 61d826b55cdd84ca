//! Referral endpoints: thin JSON adapters over [`telederm_app::referrals`], where the rules live.

use axum::Json;
use axum::extract::{Path, State};

use super::ApiQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use telederm_domain::referral::Referral;

use super::ApiJson;
use crate::AppState;
use telederm_app::access::{self, Capability, Scope};
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use telederm_app::referrals::{self, CreateReferral, ListQuery, OutcomeBody, UpdateDraft, WithdrawBody};

pub(super) use telederm_app::referrals::load;

/// A referral as the API shows it: its fields plus `due_date_provisional` (the due date is past the
/// official bank-holiday data, computed from the statutory rules; see the domain's calendar).
pub fn referral_json(state: &AppState, r: &Referral) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_else(|e| panic!("a referral always serialises: {e}"));
    let provisional = r.due_date.is_some_and(|d| state.calendar.get().is_provisional(d));
    if let serde_json::Value::Object(map) = &mut v {
        map.insert("due_date_provisional".into(), serde_json::Value::Bool(provisional));
    }
    v
}

fn out(state: &AppState, r: &Referral) -> Json<serde_json::Value> {
    Json(referral_json(state, r))
}

pub async fn create(State(state): State<AppState>, CurrentUser(user): CurrentUser, ApiJson(body): ApiJson<CreateReferral>) -> ApiResult<Response> {
    let referral = referrals::create_draft(&state, &user, body).await?;
    Ok((StatusCode::CREATED, out(&state, &referral)).into_response())
}

pub async fn update_draft(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateDraft>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::update_draft(&state, &user, &id, body).await?).into_response())
}

pub async fn submit(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(out(&state, &referrals::submit(&state, &user, &id).await?).into_response())
}

pub async fn claim(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(out(&state, &referrals::claim(&state, &user, &id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    message: String,
}

pub async fn request_information(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::request_information(&state, &user, &id, &body.message).await?).into_response())
}

pub async fn reply(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::reply(&state, &user, &id, &body.message).await?).into_response())
}

pub async fn record_outcome(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OutcomeBody>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::record_outcome(&state, &user, &id, body).await?).into_response())
}

pub async fn withdraw(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WithdrawBody>,
) -> ApiResult<Response> {
    Ok(out(&state, &referrals::withdraw(&state, &user, &id, body).await?).into_response())
}

pub async fn close(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(out(&state, &referrals::close(&state, &user, &id).await?).into_response())
}

pub async fn detail(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    let r = load(&state, &user, &id, Capability::View).await?;
    let photos = state.store.list_photos(r.id).await?;
    let messages = state.store.list_messages(r.id).await?;
    let events = state.store.list_events(r.id).await?;
    let scope = Scope::from(&r);
    let allowed: Vec<&str> = access::permitted_now(&user, r.status, &scope).into_iter().map(|c| c.as_str()).collect();
    let service = state.policies.get(&r.service_id).map(|p| serde_json::json!({"id": p.id, "name": p.name, "response_target_working_days": p.response_target_working_days}));
    Ok(Json(serde_json::json!({
        "referral": referral_json(&state, &r),
        "service": service,
        "photos": photos,
        "messages": messages,
        "events": events,
        "permitted_actions": allowed,
    }))
    .into_response())
}

pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Response> {
    let items = referrals::list(&state, &user, &q).await?;
    Ok(Json(serde_json::json!({ "referrals": items })).into_response())
}

/// A consultant's (or service admin's) open referrals, earliest deadline first.
pub async fn worklist(State(state): State<AppState>, CurrentUser(user): CurrentUser, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Response> {
    let items = referrals::worklist(&state, &user, &q).await?;
    Ok(Json(serde_json::json!({ "referrals": items })).into_response())
}
