//! The web side of the audit trail (`telederm_store::audit`): who is asking (the signed-in user,
//! a patient on an upload link), from which address, and the one function that appends an entry.
//!
//! The client address is captured once per request by [`client_address_layer`] and kept in a
//! task-local, so use cases record it without every signature carrying it. It is the TCP peer's
//! address; `X-Forwarded-For` is believed only when the operator said a proxy is in front
//! ([`crate::WebSettings::trust_proxy`]), and then only its last entry (the one the proxy added).
//!
//! Reads are recorded before the data is returned, and a read whose entry cannot be written fails:
//! nothing is shown that the trail does not know about.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use telederm_domain::ReferralId;
use telederm_domain::organisation::User;
use telederm_store::audit::{AuditOutcome, NewAuditEntry};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

tokio::task_local! {
    static CLIENT_ADDR: Option<String>;
}

/// Middleware: remembers the request's client address for the audit entries it writes.
pub async fn client_address_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let addr = client_address(peer, req.headers(), state.settings.trust_proxy);
    CLIENT_ADDR.scope(addr, next.run(req)).await
}

/// The client's address: the last `X-Forwarded-For` entry when a proxy is trusted and sent one,
/// else the TCP peer's address.
pub fn client_address(peer: Option<SocketAddr>, headers: &HeaderMap, trust_proxy: bool) -> Option<String> {
    if trust_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
            .and_then(|s| s.parse::<std::net::IpAddr>().ok());
        if let Some(ip) = forwarded {
            return Some(ip.to_string());
        }
    }
    peer.map(|p| p.ip().to_string())
}

/// The current request's client address, if the request went through [`client_address_layer`].
pub fn current_client_address() -> Option<String> {
    CLIENT_ADDR.try_with(Clone::clone).ok().flatten()
}

/// Who did it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<String>,
    pub label: String,
    pub role: Option<String>,
    pub organisation_id: Option<String>,
}

impl Actor {
    pub fn user(u: &User) -> Actor {
        Actor {
            id: Some(u.id.to_string()),
            label: u.email.clone(),
            role: Some(u.role.as_str().to_string()),
            organisation_id: Some(u.organisation_id.to_string()),
        }
    }

    /// A patient using an upload link (they have no account; the link is the record).
    pub fn patient_link() -> Actor {
        Actor { id: None, label: "patient (upload link)".into(), role: Some("patient".into()), organisation_id: None }
    }

    pub fn of(user: Option<&User>) -> Actor {
        user.map_or_else(Actor::patient_link, Actor::user)
    }
}

/// Which record.
#[derive(Debug, Clone)]
pub struct Target {
    pub record_type: &'static str,
    pub record_id: Option<String>,
    pub referral_id: Option<String>,
}

impl Target {
    pub fn referral(id: ReferralId) -> Target {
        Target { record_type: "referral", record_id: Some(id.to_string()), referral_id: Some(id.to_string()) }
    }

    /// A referral id as the client sent it (perhaps not an id at all: a probe), cut to 64 characters.
    pub fn referral_raw(raw: &str) -> Target {
        let id: String = raw.chars().take(64).collect();
        Target { record_type: "referral", record_id: Some(id.clone()), referral_id: Some(id) }
    }

    /// A record that belongs to a referral (a photo, a patient link, a letter).
    pub fn within(record_type: &'static str, id: impl ToString, referral: ReferralId) -> Target {
        Target { record_type, record_id: Some(id.to_string()), referral_id: Some(referral.to_string()) }
    }

    /// Many records at once (a list, an aggregate): no single id.
    pub fn many(record_type: &'static str) -> Target {
        Target { record_type, record_id: None, referral_id: None }
    }
}

/// Appends one entry with the current request's client address.
pub async fn record(state: &AppState, actor: &Actor, action: &str, target: Target, outcome: AuditOutcome, detail: impl Into<String>) -> ApiResult<()> {
    let entry = entry(actor, action, target, outcome, detail);
    state.store.append_audit(&entry).await.map_err(|e| ApiError::store_failure("writing the audit trail", e))?;
    Ok(())
}

/// The entry [`record`] appends, for writes that append it in their own transaction
/// ([`telederm_store::Store::apply_change`]).
pub fn entry(actor: &Actor, action: &str, target: Target, outcome: AuditOutcome, detail: impl Into<String>) -> NewAuditEntry {
    NewAuditEntry {
        actor_id: actor.id.clone(),
        actor_label: actor.label.clone(),
        actor_role: actor.role.clone(),
        organisation_id: actor.organisation_id.clone(),
        action: action.to_string(),
        record_type: target.record_type.to_string(),
        record_id: target.record_id,
        referral_id: target.referral_id,
        client_addr: current_client_address(),
        outcome: Some(outcome),
        detail: detail.into(),
    }
}

/// Records a refusal (the error's code says why) and hands the error back.
pub async fn denied(state: &AppState, actor: &Actor, action: &str, target: Target, err: ApiError) -> ApiError {
    if let Err(e) = record(state, actor, action, target, AuditOutcome::Denied, format!("code={}", err.body.code)).await {
        return e;
    }
    err
}

/// Records how a write that was allowed ended: `allowed` when it succeeded, `failed` (with the
/// error's code) when it did not. The write has already happened (or not) by now, so a failure to
/// write the entry is logged rather than turning a done write into an error.
pub async fn outcome_of<T>(state: &AppState, actor: &Actor, action: &str, target: Target, result: &ApiResult<T>, detail: &str) {
    let (outcome, detail) = match result {
        Ok(_) => (AuditOutcome::Allowed, detail.to_string()),
        Err(e) if detail.is_empty() => (AuditOutcome::Failed, format!("code={}", e.body.code)),
        Err(e) => (AuditOutcome::Failed, format!("{detail}; code={}", e.body.code)),
    };
    if record(state, actor, action, target, outcome, detail).await.is_err() {
        tracing::error!(action, "the audit entry for a write could not be written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_behind_a_trusted_proxy() {
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        assert_eq!(client_address(Some(peer), &h, false).as_deref(), Some("10.0.0.5"));
        assert_eq!(client_address(Some(peer), &h, true).as_deref(), Some("198.51.100.7"));
        let mut junk = HeaderMap::new();
        junk.append("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(client_address(Some(peer), &junk, true).as_deref(), Some("10.0.0.5"));
        assert_eq!(client_address(None, &HeaderMap::new(), true), None);
    }
}
