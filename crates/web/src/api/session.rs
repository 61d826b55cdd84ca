//! Sign-in, sign-out and password change.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiJson;
use crate::AppState;
use crate::auth::{self, CurrentUser};
use crate::error::{ApiError, ApiResult, Code};
use crate::audit::ClientAddr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    email: String,
    password: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let user = auth::authenticate(&state, &body.email, &body.password, &client).await?;
    let token = auth::start_session(&state, &user, auth::cookie_in(&headers, auth::SESSION_COOKIE).as_deref()).await?;
    Ok(([(header::SET_COOKIE, auth::session_cookie(&state, &token))], Json(user)).into_response())
}

pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = auth::cookie_in(&headers, auth::SESSION_COOKIE) {
        state.store.delete_session(&auth::token_hash(&token)).await?;
    }
    // The browser also drops this site's storage (drafts typed in the pages), as page sign-out does.
    let (clear_name, clear_value) = crate::pages::clear_site_storage();
    let mut resp = (StatusCode::NO_CONTENT, [(header::SET_COOKIE, auth::clear_cookie(&state))]).into_response();
    resp.headers_mut().insert(clear_name, clear_value);
    Ok(resp)
}

pub async fn me(CurrentUser(user): CurrentUser) -> Response {
    Json(user).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Changes the signed-in user's password: the current one must be right (with the same lockout as
/// sign-in), the new one must pass the password rules. Every session of the user ends; this client
/// gets a fresh one.
pub async fn change_password(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    client: ClientAddr,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<Response> {
    auth::authenticate(&state, &user.email, &body.current_password, &client).await.map_err(|e| {
        if e.code == Code::InvalidCredentials {
            ApiError::new(Code::InvalidCredentials,  "Your current password is not right. Check it and try again.")
        } else {
            e
        }
    })?;
    telederm_app::users::set_password(&state, &user, body.new_password).await?;
    let token = auth::start_session(&state, &user, None).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, auth::session_cookie(&state, &token))]).into_response())
}
