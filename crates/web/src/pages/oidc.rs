//! Single sign-on with OpenID Connect: the authorisation-code flow with PKCE, the pattern NHS Care
//! Identity Service 2 (CIS2) uses for clinicians.
//!
//! `GET /auth/oidc/start` makes a fresh `state`, `nonce` and PKCE verifier, remembers them in the
//! database (single use, 10 minutes; `state` only as a hash) and in a cookie bound to this
//! browser, and sends the browser to the provider. `GET /auth/oidc/callback` checks `state`
//! against both, exchanges the code (with the PKCE verifier and the client secret) for tokens,
//! checks the ID token's signature against the provider's published keys (JWKS; asymmetric
//! algorithms only), its issuer, audience, expiry and nonce, and maps its claims to an existing
//! Telederm user by email. Optional claims narrow it further: `telederm_role` must name the
//! user's role, and CIS2's `nhsid_nrbac_roles` must include the user's organisation (ODS code).
//! `telederm_profession` (gp, nurse, pharmacist, physician_associate, other) sets a referrer's
//! profession, which services may limit referrals by.
//! Nobody is created on the fly: an unknown person sees a page saying whom to ask.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use telederm_store::OidcLogin;

use crate::AppState;
use crate::auth;
use crate::error::{ApiError, Code};
use super::{FormData, PageError, PageResult, Parts2, safe_next, signed_in_redirect};

const STATE_COOKIE: &str = "telederm_oidc";
/// How long a sign-in may take between leaving for the provider and coming back.
const LOGIN_TTL_SECONDS: i64 = 600;
/// Provider metadata and keys are fetched again after this long (and at once for an unknown key).
const METADATA_TTL: Duration = Duration::from_secs(3600);

/// Configuration (`TELEDERM_OIDC_ISSUER`, `TELEDERM_OIDC_CLIENT_ID`, `TELEDERM_OIDC_CLIENT_SECRET`;
/// the redirect URL is `<public URL>/auth/oidc/callback`).
#[derive(Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_url: String,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

#[derive(Debug, Clone)]
struct Discovered {
    metadata: ProviderMetadata,
    keys: JwkSet,
    fetched: Instant,
}

/// The provider as discovered (on first use, then cached).
pub struct OidcClient {
    settings: Option<OidcSettings>,
    http: reqwest::Client,
    discovered: tokio::sync::RwLock<Option<Discovered>>,
}

/// Why single sign-on did not work, for the log; people see [`sso_failed`].
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached or answered badly: {0}")]
    Provider(String),
    #[error("the ID token was not accepted: {0}")]
    Token(String),
}

impl OidcClient {
    pub fn new(settings: Option<OidcSettings>) -> OidcClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        OidcClient { settings, http, discovered: tokio::sync::RwLock::new(None) }
    }

    pub fn settings(&self) -> Option<&OidcSettings> {
        self.settings.as_ref()
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let resp = self.http.get(url).send().await.map_err(|e| OidcError::Provider(format!("GET {url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(OidcError::Provider(format!("GET {url}: HTTP {}", resp.status())));
        }
        resp.json().await.map_err(|e| OidcError::Provider(format!("GET {url}: {e}")))
    }

    /// Provider metadata and keys, fetched when missing, stale, or `refresh` is asked for.
    async fn discover(&self, refresh: bool) -> Result<Discovered, OidcError> {
        let Some(settings) = &self.settings else { return Err(OidcError::Provider("single sign-on is not configured".into())) };
        if !refresh
            && let Some(d) = self.discovered.read().await.as_ref()
            && d.fetched.elapsed() < METADATA_TTL
        {
            return Ok(d.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", settings.issuer.trim_end_matches('/'));
        let metadata: ProviderMetadata = self.get_json(&url).await?;
        if metadata.issuer.trim_end_matches('/') != settings.issuer.trim_end_matches('/') {
            return Err(OidcError::Provider(format!(
                "the discovery document names issuer {:?}, not the configured {:?}",
                metadata.issuer, settings.issuer
            )));
        }
        let keys: JwkSet = self.get_json(&metadata.jwks_uri).await?;
        let d = Discovered { metadata, keys, fetched: Instant::now() };
        *self.discovered.write().await = Some(d.clone());
        Ok(d)
    }

    /// Checks an ID token's signature, issuer, audience, expiry and nonce; returns its claims.
    async fn validate_id_token(&self, id_token: &str, nonce: &str) -> Result<Value, OidcError> {
        let settings = self.settings.as_ref().ok_or_else(|| OidcError::Token("not configured".into()))?;
        let header = jsonwebtoken::decode_header(id_token).map_err(|e| OidcError::Token(format!("header: {e}")))?;
        // Only asymmetric signatures: never `none`, never HMAC with a shared secret.
        let allowed = [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
            Algorithm::ES256,
            Algorithm::ES384,
        ];
        if !allowed.contains(&header.alg) {
            return Err(OidcError::Token(format!("signature algorithm {:?} is not accepted", header.alg)));
        }
        let mut discovered = self.discover(false).await?;
        let find = |d: &Discovered| match &header.kid {
            Some(kid) => d.keys.find(kid).cloned(),
            None if d.keys.keys.len() == 1 => d.keys.keys.first().cloned(),
            None => None,
        };
        let jwk = match find(&discovered) {
            Some(k) => k,
            None => {
                // The provider may have rotated its keys.
                discovered = self.discover(true).await?;
                find(&discovered).ok_or_else(|| OidcError::Token(format!("no published key {:?}", header.kid)))?
            }
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| OidcError::Token(format!("key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[discovered.metadata.issuer.as_str()]);
        validation.set_audience(&[settings.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // A token marked "not before" a time still to come is not valid yet (checked when present).
        validation.validate_nbf = true;
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<Value>(id_token, &key, &validation).map_err(|e| OidcError::Token(e.to_string()))?;
        let claims = data.claims;
        if claims.get("nonce").and_then(Value::as_str).is_none_or(|n| !auth_eq(n, nonce)) {
            return Err(OidcError::Token("the nonce does not match this sign-in".into()));
        }
        if let Some(azp) = claims.get("azp").and_then(Value::as_str)
            && azp != settings.client_id
        {
            return Err(OidcError::Token(format!("the token was issued to {azp:?}")));
        }
        // OpenID Connect Core 3.1.3.7: a token for several audiences must name the party it was
        // issued to (checked above), or another client could replay its token here.
        if claims.get("aud").and_then(Value::as_array).is_some_and(|a| a.len() > 1) && claims.get("azp").is_none_or(Value::is_null) {
            return Err(OidcError::Token("the token names several audiences and no authorised party".into()));
        }
        Ok(claims)
    }

    /// Exchanges an authorisation code (with the PKCE verifier) for the provider's tokens.
    async fn exchange(&self, code: &str, verifier: &str) -> Result<TokenResponse, OidcError> {
        let settings = self.settings.as_ref().ok_or_else(|| OidcError::Provider("not configured".into()))?;
        let d = self.discover(false).await?;
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let resp = self
            .http
            .post(&d.metadata.token_endpoint)
            .basic_auth(enc(&settings.client_id), Some(enc(&settings.client_secret)))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", settings.redirect_url.as_str()),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(|e| OidcError::Provider(format!("token endpoint: {e}")))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(OidcError::Provider(format!("token endpoint: HTTP {status}: {}", text.chars().take(300).collect::<String>())));
        }
        serde_json::from_str(&text).map_err(|e| OidcError::Provider(format!("token endpoint answer: {e}")))
    }

    /// Claims from the userinfo endpoint (when the ID token carries no email), for the same subject.
    async fn userinfo(&self, access_token: &str, sub: &str) -> Result<Value, OidcError> {
        let d = self.discover(false).await?;
        let Some(url) = &d.metadata.userinfo_endpoint else { return Ok(Value::Null) };
        let resp = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| OidcError::Provider(format!("userinfo: {e}")))?;
        if !resp.status().is_success() {
            return Err(OidcError::Provider(format!("userinfo: HTTP {}", resp.status())));
        }
        let info: Value = resp.json().await.map_err(|e| OidcError::Provider(format!("userinfo: {e}")))?;
        if info.get("sub").and_then(Value::as_str) != Some(sub) {
            return Err(OidcError::Token("userinfo is about another subject".into()));
        }
        Ok(info)
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
    #[serde(default)]
    access_token: Option<String>,
}

fn auth_eq(a: &str, b: &str) -> bool {
    telederm_app::credentials::constant_time_eq(a.as_bytes(), b.as_bytes())
}

fn random_b64(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The PKCE S256 challenge for a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/auth/oidc/start", get(start)).route("/auth/oidc/callback", get(callback))
}

fn not_configured() -> PageError {
    PageError(ApiError::not_found("single sign-on (it is not set up here: sign in with your email and password)"))
}

/// What people see when single sign-on fails: the provider could not be reached or answered
/// badly (`sso_failed`, 502), or its ID token was not valid (`sso_refused`, 401: forged, expired,
/// for another client or another sign-in, which is not an outage).
fn sso_failed(e: &OidcError) -> PageError {
    tracing::warn!(error = %e, "single sign-on failed");
    let code = match e {
        OidcError::Provider(_) => Code::SsoFailed,
        OidcError::Token(_) => Code::SsoRefused,
    };
    PageError(ApiError::new(
        code,
        "Single sign-on did not work this time. Try again; if it keeps happening, sign in with your email and \
         password or contact your administrator.",
    ))
}

fn start_again() -> PageError {
    PageError(ApiError::new(Code::SsoExpired,
        "This sign-in has expired or was started in another browser. Go back to the sign-in page and choose single sign-on again.",
    ))
}

fn with_cookie(mut resp: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn state_cookie(state: &AppState, value: &str, max_age: i64) -> String {
    format!(
        "{STATE_COOKIE}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if state.settings.secure_cookies { "; Secure" } else { "" }
    )
}

async fn start(State(state): State<AppState>, uri: OriginalUri) -> PageResult {
    let settings = state.oidc.settings().ok_or_else(not_configured)?.clone();
    let d = state.oidc.discover(false).await.map_err(|e| sso_failed(&e))?;
    let q = FormData::from_query(uri.query().unwrap_or(""));
    let oidc_state = random_b64(32);
    let login = OidcLogin {
        nonce: random_b64(32),
        pkce_verifier: random_b64(32),
        next_path: safe_next(q.get("next")),
        created_at: Utc::now(),
    };
    state.store.create_oidc_login(&login, &auth::token_hash(&oidc_state)).await?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &settings.client_id)
        .append_pair("redirect_uri", &settings.redirect_url)
        .append_pair("scope", "openid email profile")
        .append_pair("state", &oidc_state)
        .append_pair("nonce", &login.nonce)
        .append_pair("code_challenge", &pkce_challenge(&login.pkce_verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let sep = if d.metadata.authorization_endpoint.contains('?') { '&' } else { '?' };
    let to = format!("{}{sep}{query}", d.metadata.authorization_endpoint);
    Ok(with_cookie(super::see_other(&to), &state_cookie(&state, &oidc_state, LOGIN_TTL_SECONDS)))
}

async fn callback(State(state): State<AppState>, uri: OriginalUri, headers: HeaderMap, previous: Parts2) -> PageResult {
    if state.oidc.settings().is_none() {
        return Err(not_configured());
    }
    let q = FormData::from_query(uri.query().unwrap_or(""));
    if let Some(error) = q.opt("error") {
        tracing::info!(error, description = q.get("error_description"), "identity provider refused the sign-in");
        return Err(PageError(ApiError::new(
            Code::SsoRefused,
            "The identity provider did not sign you in. Go back to the sign-in page and try again.",
        )));
    }
    let (Some(code), Some(returned_state)) = (q.opt("code"), q.opt("state")) else { return Err(start_again()) };
    // RFC 9207: a provider that names itself in the response must be the one we sent the person to.
    if let Some(iss) = q.opt("iss")
        && let Some(settings) = state.oidc.settings()
        && iss.trim_end_matches('/') != settings.issuer.trim_end_matches('/')
    {
        return Err(sso_failed(&OidcError::Provider(format!("the callback names issuer {iss:?}"))));
    }
    let cookie = auth::cookie_in(&headers, STATE_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !auth_eq(&cookie, returned_state) {
        return Err(start_again());
    }
    let not_before = Utc::now() - chrono::Duration::seconds(LOGIN_TTL_SECONDS);
    let login = state.store.take_oidc_login(&auth::token_hash(returned_state), not_before).await?.ok_or_else(start_again)?;
    let tokens = state.oidc.exchange(code, &login.pkce_verifier).await.map_err(|e| sso_failed(&e))?;
    let mut claims = state.oidc.validate_id_token(&tokens.id_token, &login.nonce).await.map_err(|e| sso_failed(&e))?;
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
    if claims.get("email").and_then(Value::as_str).is_none()
        && let Some(access) = &tokens.access_token
    {
        let info = state.oidc.userinfo(access, &sub).await.map_err(|e| sso_failed(&e))?;
        if let (Some(c), Some(i)) = (claims.as_object_mut(), info.as_object()) {
            for (k, v) in i {
                c.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    let user = map_claims(&state, &claims).await?;
    tracing::info!(user = %user.id, "signed in with single sign-on");
    let token = auth::start_session(&state, &user, previous.0.as_deref()).await?;
    let resp = signed_in_redirect(&state, &token, &login.next_path);
    Ok(with_cookie(resp, &state_cookie(&state, "", 0)))
}

fn refused(message: String) -> PageError {
    PageError(ApiError::new(Code::SsoUnknownUser,  message))
}

/// The Telederm user the claims describe: found by email, and consistent with the role and
/// organisation claims when the provider sends them.
async fn map_claims(state: &AppState, claims: &Value) -> Result<telederm_domain::organisation::User, PageError> {
    let email = claims.get("email").and_then(Value::as_str).map(str::trim).filter(|e| e.contains('@'));
    let Some(email) = email else {
        return Err(refused(
            "Your identity provider did not tell Telederm your email address, so Telederm cannot tell who you are. \
             Ask your administrator to release the email claim to Telederm."
                .into(),
        ));
    };
    if claims.get("email_verified").and_then(Value::as_bool) == Some(false) {
        return Err(refused(format!("Your identity provider has not verified the email address {email}. Verify it there, then try again.")));
    }
    // Once linked, an identity finds its account by (issuer, subject) alone: a changed or reused
    // email at the provider cannot move it to another account.
    let issuer = state.oidc.settings().map(|s| s.issuer.trim_end_matches('/').to_string()).unwrap_or_default();
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    let linked = if sub.is_empty() { None } else { state.store.user_by_identity(&issuer, sub).await? };
    let first_link = linked.is_none();
    let user = match linked {
        Some(user) => user,
        None => {
            let Some((user, hash)) = state.store.user_by_email(email).await? else {
                return Err(refused(format!(
                    "You signed in as {email}, but there is no Telederm account for that email address. \
                     Ask your service administrator to add you, then sign in again."
                )));
            };
            // A first link by email only for an account an administrator created: never for one a
            // restore created or one without a password.
            let (origin, already) = state.store.identity_link_facts(user.id, &issuer).await?;
            if origin != telederm_store::UserOrigin::Admin || hash.starts_with('!') {
                return Err(refused(format!(
                    "The Telederm account for {email} was brought in from another system and has not been confirmed by an administrator, \
                     so single sign-on cannot use it. Ask your service administrator to set it up, then sign in again."
                )));
            }
            if already {
                return Err(refused(format!(
                    "The Telederm account for {email} is already linked to another identity at your identity provider. \
                     Sign in with that identity, or ask your administrator."
                )));
            }
            user
        }
    };
    if let Some(role) = claims.get("telederm_role").and_then(Value::as_str)
        && role != user.role.as_str()
    {
        return Err(refused(format!(
            "Your identity provider says your role is {role:?}, but your Telederm account is a {}. Ask your administrator to correct one of them.",
            user.role.as_str()
        )));
    }
    if let Some(roles) = claims.get("nhsid_nrbac_roles").and_then(Value::as_array) {
        let org = state.store.get_organisation(user.organisation_id).await?;
        let listed = roles.iter().filter_map(|r| r.get("org_code").and_then(Value::as_str)).any(|c| c.eq_ignore_ascii_case(&org.ods_code));
        if !listed {
            return Err(refused(format!(
                "Your NHS smartcard roles do not include {} ({}), the organisation of your Telederm account. \
                 Choose a role at that organisation, or ask your administrator.",
                org.name, org.ods_code
            )));
        }
    }
    let user = match claims.get("telederm_profession").and_then(Value::as_str) {
        None => user,
        Some(named) => match telederm_domain::organisation::Profession::parse(named) {
            Some(profession) => telederm_app::users::profession_from_identity_provider(state, user, profession, &issuer).await?,
            None => {
                return Err(refused(format!(
                    "Your identity provider gives your profession as {named:?}, which Telederm does not know (it knows {}). Ask your administrator to correct it.",
                    telederm_domain::organisation::Profession::ALL.map(|p| p.as_str()).join(", ")
                )));
            }
        },
    };
    if first_link && !sub.is_empty() {
        telederm_app::users::link_identity(state, &user, &issuer, sub).await?;
    }
    Ok(user)
}

impl IntoResponse for OidcError {
    fn into_response(self) -> Response {
        sso_failed(&self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
