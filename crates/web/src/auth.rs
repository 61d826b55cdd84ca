//! Sign-in: argon2id password hashes, lockout and rate limits, and server-side sessions
//! identified by a random token in a cookie. Only the SHA-256 of a token is stored.
//!
//! One piece of code signs people in ([`authenticate`]) for the JSON API and the sign-in page;
//! one starts sessions ([`start_session`], which also ends the session the browser came with, so a
//! planted token never becomes signed in); one reads them ([`current_session`], which enforces the
//! idle and absolute expiry).


use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use telederm_domain::organisation::User;
use telederm_store::SessionUser;

use crate::AppState;
use crate::error::{ApiError, Code};
use crate::audit::ClientAddr;

pub const SESSION_COOKIE: &str = "telederm_session";

pub use telederm_app::credentials::{
    ARGON2_ITERATIONS, ARGON2_LANES, ARGON2_MEMORY_KIB, DUMMY_HASH, check_new_password, hash_password, hash_password_async, needs_rehash, new_token,
    token_hash, verify_password, verify_password_async,
};

// ------------------------------------------------------------------ lockout and rate limits

/// Failures for one account from anywhere (a distributed attack on one account).
const SCOPE_ACCOUNT: &str = "account";
/// Failures for one account from one client address (a person's typos, a script at one desk).
const SCOPE_PAIR: &str = "account_address";
/// Failures from one client address, for any account (password spraying).
const SCOPE_ADDRESS: &str = "address";

/// `429 too_many_attempts` with the seconds to wait (also sent as `Retry-After`).
pub fn too_many_attempts(retry_after_seconds: i64) -> ApiError {
    let minutes = (retry_after_seconds + 59) / 60;
    ApiError::new(
        Code::TooManyAttempts,
        format!(
            "Too many sign-in attempts. Wait {minutes} minute{} and try again, or use single sign-on; \
             if you have forgotten your password, ask your administrator to reset it.",
            if minutes == 1 { "" } else { "s" }
        ),
    )
    .with_details(serde_json::json!({ "retry_after_seconds": retry_after_seconds }))
}

pub fn invalid_credentials() -> ApiError {
    ApiError::new(
        Code::InvalidCredentials,
        "That email and password do not match an account. Check them and try again.",
    )
}

/// Seconds until fewer than `max` of these failures (oldest first) are inside the window, or
/// `None` when there are fewer than `max` already.
fn locked_for(failures: &[DateTime<Utc>], max: usize, window: chrono::Duration, now: DateTime<Utc>) -> Option<i64> {
    if max == 0 || failures.len() < max {
        return None;
    }
    let frees_at = failures[failures.len() - max] + window;
    Some((frees_at - now).num_seconds().max(1))
}

/// Signs a person in with their email and password. Failures are counted in the database (so the
/// limits hold across nodes) over a sliding window, three ways:
/// * one account from one client address ([`WebSettings::max_failures_per_account`]): that account
///   is refused from that address (429 `too_many_attempts`), so one person's typos or a script at
///   a GP practice's shared NAT address never lock out their colleagues;
/// * one account from anywhere ([`WebSettings::max_failures_per_account_any_address`]): the
///   account is refused everywhere (a distributed guess at one account);
/// * one address for any account ([`WebSettings::max_failures_per_address`]): password spraying.
///   The address is slowed, not shut: each attempt from it waits
///   [`WebSettings::sign_in_slowdown_ms`] first, and a wrong password is answered 429, while
///   other accounts' correct passwords still sign in.
///
/// A wrong email or password is 401 `invalid_credentials`, the same answer taking the same time
/// whether or not the account exists.
///
/// [`WebSettings::max_failures_per_account`]: crate::WebSettings::max_failures_per_account
/// [`WebSettings::max_failures_per_account_any_address`]: crate::WebSettings::max_failures_per_account_any_address
/// [`WebSettings::max_failures_per_address`]: crate::WebSettings::max_failures_per_address
/// [`WebSettings::sign_in_slowdown_ms`]: crate::WebSettings::sign_in_slowdown_ms
pub async fn authenticate(state: &AppState, email: &str, password: &str, client: &ClientAddr) -> Result<User, ApiError> {
    let s = &state.settings;
    let now = Utc::now();
    let window = chrono::Duration::seconds(s.sign_in_window_seconds.max(1));
    let account = email.trim().to_lowercase();
    let pair = format!("{account}|{}", client.0);
    let since = now - window;
    let account_failures = state.store.sign_in_failures_since(SCOPE_ACCOUNT, &account, since).await?;
    let pair_failures = state.store.sign_in_failures_since(SCOPE_PAIR, &pair, since).await?;
    let address_failures = state.store.sign_in_failures_since(SCOPE_ADDRESS, &client.0, since).await?;
    let locked = [
        locked_for(&pair_failures, s.max_failures_per_account, window, now),
        locked_for(&account_failures, s.max_failures_per_account_any_address, window, now),
    ];
    if let Some(wait) = locked.into_iter().flatten().max() {
        tracing::warn!(client = %client.0, "sign-in refused: too many recent failures for this account");
        return Err(too_many_attempts(wait));
    }
    let spraying = locked_for(&address_failures, s.max_failures_per_address, window, now);
    if spraying.is_some() {
        tracing::warn!(client = %client.0, "sign-in slowed: many recent failures from this address");
        tokio::time::sleep(std::time::Duration::from_millis(s.sign_in_slowdown_ms)).await;
    }
    let record_failure = || async {
        for (scope, subject) in [(SCOPE_ACCOUNT, account.as_str()), (SCOPE_PAIR, pair.as_str()), (SCOPE_ADDRESS, client.0.as_str())] {
            state.store.record_sign_in_failure(scope, subject, now, since).await?;
        }
        tracing::info!(client = %client.0, "sign-in failed");
        Ok::<_, ApiError>(match spraying {
            Some(wait) => too_many_attempts(wait),
            None => invalid_credentials(),
        })
    };
    if password.chars().count() > telederm_domain::password::MAX_LENGTH {
        // Not worth hashing; counts as a failure like any other wrong password.
        return Err(record_failure().await?);
    }
    let found = state.store.user_by_email(&account).await?;
    let hash = found.as_ref().map_or_else(|| DUMMY_HASH.clone(), |(_, h)| h.clone());
    let ok = verify_password_async(password.to_string(), hash.clone()).await?;
    match found {
        Some((user, _)) if ok => {
            state.store.clear_sign_in_failures(SCOPE_ACCOUNT, &account).await?;
            state.store.clear_sign_in_failures(SCOPE_PAIR, &pair).await?;
            if needs_rehash(&hash) {
                let fresh = hash_password_async(password.to_string()).await?;
                state.store.update_password_hash(user.id, &fresh).await?;
            }
            Ok(user)
        }
        _ => Err(record_failure().await?),
    }
}

// ------------------------------------------------------------------ sessions

/// Starts a session for `user` and returns the cookie token. The session the browser came with
/// (if any) is ended first: a token is never carried across sign-in (no session fixation).
pub async fn start_session(state: &AppState, user: &User, previous_token: Option<&str>) -> Result<String, ApiError> {
    if let Some(old) = previous_token {
        state.store.delete_session(&token_hash(old)).await?;
    }
    let (token, hash) = new_token();
    let now = Utc::now();
    let expires = now + chrono::Duration::seconds(state.settings.session_max_seconds);
    state.store.create_session(&hash, user.id, now, expires).await?;
    Ok(token)
}

/// The live session for a cookie token: not past its absolute expiry, not idle for longer than
/// the idle timeout. Using it keeps it alive.
pub async fn current_session(state: &AppState, token: &str) -> Result<Option<SessionUser>, ApiError> {
    let now = Utc::now();
    let idle_cutoff = now - chrono::Duration::seconds(state.settings.session_idle_seconds);
    Ok(state.store.use_session(&token_hash(token), now, idle_cutoff).await?)
}

/// The `Set-Cookie` value for a new session. `Secure` when served over TLS; always `HttpOnly`
/// and `SameSite=Lax` (the OIDC callback is a cross-site top-level GET and must carry cookies).
pub fn session_cookie(state: &AppState, token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        state.settings.session_max_seconds,
        if state.settings.secure_cookies { "; Secure" } else { "" }
    )
}

pub fn clear_cookie(state: &AppState) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if state.settings.secure_cookies { "; Secure" } else { "" }
    )
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    cookie_in(&parts.headers, name)
}

pub fn cookie_in(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn cookie_token(parts: &Parts) -> Option<String> {
    cookie_value(parts, SESSION_COOKIE)
}

/// The signed-in user. Extracting it refuses the request with 401 when nobody is signed in.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = cookie_token(parts).ok_or_else(ApiError::unauthenticated)?;
        match current_session(state, &token).await? {
            Some(s) => Ok(CurrentUser(s.user)),
            None => Err(ApiError::unauthenticated()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_lasts_until_enough_failures_leave_the_window() {
        let now = Utc::now();
        let w = chrono::Duration::minutes(15);
        let f: Vec<_> = (0..5).map(|i| now - chrono::Duration::minutes(10 - i)).collect();
        assert_eq!(locked_for(&f[..4], 5, w, now), None);
        // The oldest of the five failed 10 minutes ago: free again in 5 minutes.
        assert_eq!(locked_for(&f, 5, w, now), Some(300));
    }
}
