//! Sign-in, sign-out and password change.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiJson;
use crate::AppState;
use crate::auth::{self, CurrentUser};
use crate::error::{ApiError, ApiResult, Code, ErrorBody};
use telederm_domain::organisation::User;
use crate::audit::ClientAddr;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    email: String,
    password: String,
}

#[utoipa::path(post, path = "/auth/sign-in", operation_id = "sign_in", tag = "session",
    summary = "Sign in; sets the session cookie",
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie` carries the session", body = User,
            headers(("Set-Cookie" = String, description = "The session cookie `telederm_session`"))),
        (status = 401, description = "invalid_credentials: wrong email or password (the same answer whether or not the account exists)", body = ErrorBody),
        (status = 422, description = "The body has a wrong or missing value", body = ErrorBody),
        (status = 429, description = "too_many_attempts: too many failed sign-ins for this account or address; wait `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = i64, description = "Seconds to wait"))),
    ))]
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

#[utoipa::path(post, path = "/auth/sign-out", operation_id = "sign_out", tag = "session",
    summary = "Sign out; ends the session",
    responses(
        (status = 204, description = "Signed out; the browser is also asked to clear this site's storage (drafts the pages keep)",
            headers(("Clear-Site-Data" = String, description = "Always `\"storage\"`"))),
    ))]
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

#[utoipa::path(get, path = "/me", operation_id = "me", tag = "session",
    summary = "The signed-in user",
    responses((status = 200, description = "User", body = User)))]
pub async fn me(CurrentUser(user): CurrentUser) -> Response {
    Json(user).into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current_password: String,
    /// 12 to 256 characters, not a common password, not your name or email.
    #[schema(min_length = 12, max_length = 256)]
    new_password: String,
}

/// Changes the signed-in user's password: the current one must be right (with the same lockout as
/// sign-in), the new one must pass the password rules. Every session of the user ends; this client
/// gets a fresh one.
#[utoipa::path(post, path = "/auth/change-password", operation_id = "change_password", tag = "session",
    summary = "Change your password; ends all your sessions and starts a fresh one for this client",
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; the Set-Cookie carries the new session",
            headers(("Set-Cookie" = String, description = "The new session cookie"))),
        (status = 401, description = "Not signed in, or invalid_credentials: the current password is wrong", body = ErrorBody),
        (status = 422, description = "The new password breaks a password rule: password_too_short, password_too_long, password_too_common or password_personal", body = ErrorBody),
        (status = 429, description = "too_many_attempts: wait `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = i64, description = "Seconds to wait"))),
    ))]
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
