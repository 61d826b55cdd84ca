//! The application side of the audit trail (`telederm_store::audit`): who is acting (a signed-in
//! user, a patient on an upload link), on which record, and the one function that appends an
//! entry. A state change appends its entry in its own transaction ([`entry`] with
//! `Store::apply_change` and friends); a read appends it before the data is returned, and a read
//! whose entry cannot be written fails: nothing is shown that the trail does not know about.
//!
//! The client address comes from the adapter: the web layer runs each request inside
//! [`with_client_address`], so use cases record it without every signature carrying it.

use std::future::Future;

use telederm_domain::ReferralId;
use telederm_domain::organisation::User;
use telederm_store::audit::{AuditOutcome, NewAuditEntry};

use crate::App;
use crate::error::{Error, Result};

tokio::task_local! {
    static CLIENT_ADDR: Option<String>;
}

/// Runs `f` with `addr` as the client address of every audit entry it writes.
pub async fn with_client_address<F: Future>(addr: Option<String>, f: F) -> F::Output {
    CLIENT_ADDR.scope(addr, f).await
}

/// The current request's client address, if the caller ran inside [`with_client_address`].
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
        Actor { id: None, label: "patient (link)".into(), role: Some("patient".into()), organisation_id: None }
    }

    /// The operator at the command line, who has no user account here: `cli (<login name>)`.
    pub fn cli() -> Actor {
        Actor::operator(&format!("cli ({})", std::env::var("USER").unwrap_or_else(|_| "operator".into())))
    }

    /// Someone acting outside any account (the demo's seeding: `telederm demo`).
    pub fn operator(label: &str) -> Actor {
        Actor { id: None, label: label.into(), role: Some("operator".into()), organisation_id: None }
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
pub async fn record(state: &App, actor: &Actor, action: &str, target: Target, outcome: AuditOutcome, detail: impl Into<String>) -> Result<()> {
    let entry = entry(actor, action, target, outcome, detail);
    state.store.append_audit(&entry).await.map_err(|e| Error::store_failure("writing the audit trail", e))?;
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
pub async fn denied(state: &App, actor: &Actor, action: &str, target: Target, err: Error) -> Error {
    if let Err(e) = record(state, actor, action, target, AuditOutcome::Denied, format!("code={}", err.code)).await {
        return e;
    }
    err
}

/// Records how a write that was allowed ended: `allowed` when it succeeded, `failed` (with the
/// error's code) when it did not. The write has already happened (or not) by now, so a failure to
/// write the entry is logged rather than turning a done write into an error.
pub async fn outcome_of<T>(state: &App, actor: &Actor, action: &str, target: Target, result: &Result<T>, detail: &str) {
    let (outcome, detail) = match result {
        Ok(_) => (AuditOutcome::Allowed, detail.to_string()),
        Err(e) if detail.is_empty() => (AuditOutcome::Failed, format!("code={}", e.code)),
        Err(e) => (AuditOutcome::Failed, format!("{detail}; code={}", e.code)),
    };
    if record(state, actor, action, target, outcome, detail).await.is_err() {
        tracing::error!(action, "the audit entry for a write could not be written");
    }
}

