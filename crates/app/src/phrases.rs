//! Saved phrases: per-service text for the outcome's management plan and safety-netting. The
//! service's consultants read them (the outcome form offers them); its service admins write them.
//! Each write is one transaction with its `phrase.<action>` audit entry.

use telederm_domain::organisation::{Role, User};
use telederm_store::{AuditOutcome, SavedPhrase};

use crate::App;
use crate::audit::{self, Actor, Target};
use crate::error::{Code, Error, Result};

pub const KINDS: [(&str, &str); 2] = [("plan", "Management plan"), ("safety_net", "Follow-up and safety-netting")];
const MAX_TITLE: usize = 80;
const MAX_BODY: usize = 4000;

fn target(id: uuid::Uuid) -> Target {
    Target { record_type: "saved_phrase", record_id: Some(id.to_string()), referral_id: None }
}

/// A phrase id that names nothing: "not found", saying what.
fn missing(e: telederm_store::StoreError) -> Error {
    match e {
        telederm_store::StoreError::NotFound => Error::not_found("saved phrase"),
        e => e.into(),
    }
}

fn serves(user: &User, service_id: &str) -> bool {
    user.services.iter().any(|s| s == service_id)
}

/// The phrases of `service_id`, for its consultants and service admins.
pub async fn list(state: &App, user: &User, service_id: &str) -> Result<Vec<SavedPhrase>> {
    if !(matches!(user.role, Role::Consultant | Role::ServiceAdmin) && serves(user, service_id)) {
        return Err(Error::forbidden("Saved phrases are for the service's consultants and service admins."));
    }
    state.policy(service_id)?;
    Ok(state.store.list_phrases(&[service_id.to_string()]).await?)
}

/// What a service admin sends to create or change a phrase.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhraseBody {
    /// `plan` or `safety_net`.
    pub kind: String,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub position: i64,
}

fn check(body: &PhraseBody) -> Result<()> {
    let bad = |m: String| Err(Error::new(Code::InvalidPhrase, m));
    if !KINDS.iter().any(|(k, _)| *k == body.kind) {
        return bad(format!("{:?} is not a kind of phrase: use plan (management plan) or safety_net (follow-up and safety-netting).", body.kind));
    }
    if body.title.trim().is_empty() {
        return bad("Give the phrase a short title (what the consultant picks it by).".into());
    }
    if body.title.chars().count() > MAX_TITLE {
        return bad(format!("Keep the title to {MAX_TITLE} characters."));
    }
    if body.body.trim().is_empty() {
        return bad("Write the text the phrase inserts.".into());
    }
    if body.body.chars().count() > MAX_BODY {
        return bad(format!("Keep the text to {MAX_BODY} characters."));
    }
    Ok(())
}

async fn admin_of(state: &App, user: &User, service_id: &str, action: &str, t: Target) -> Result<()> {
    if user.role == Role::ServiceAdmin && serves(user, service_id) && state.policies.contains_key(service_id) {
        return Ok(());
    }
    let e = if state.policies.contains_key(service_id) || user.role != Role::ServiceAdmin {
        Error::forbidden("Only the service's admins can change its saved phrases.")
    } else {
        Error::not_found("service")
    };
    Err(audit::denied(state, &Actor::user(user), action, t, e).await)
}

/// Adds (no `id`) or changes a phrase of `service_id`.
pub async fn save(state: &App, user: &User, service_id: &str, id: Option<&str>, body: PhraseBody) -> Result<SavedPhrase> {
    let action = if id.is_some() { "phrase.update" } else { "phrase.create" };
    let actor = Actor::user(user);
    let pid = match id {
        Some(raw) => uuid::Uuid::parse_str(raw).map_err(|_| Error::not_found("saved phrase"))?,
        None => uuid::Uuid::now_v7(),
    };
    admin_of(state, user, service_id, action, target(pid)).await?;
    let result = async {
        check(&body)?;
        let now = state.now();
        let created_at = match id {
            Some(_) => {
                let old = state.store.get_phrase(pid).await.map_err(missing)?;
                if old.service_id != service_id {
                    return Err(Error::not_found("saved phrase"));
                }
                old.created_at
            }
            None => now,
        };
        let p = SavedPhrase {
            id: pid,
            service_id: service_id.to_string(),
            kind: body.kind,
            title: body.title.trim().to_string(),
            body: body.body.trim().to_string(),
            position: body.position,
            created_at,
            updated_at: now,
        };
        let entry = audit::entry(&actor, action, target(pid), AuditOutcome::Allowed, format!("service={service_id}"));
        state.store.save_phrase(&p, Some(user.id.0), &entry).await?;
        Ok(p)
    }
    .await;
    if result.is_err() {
        audit::outcome_of(state, &actor, action, target(pid), &result, "").await;
    }
    result
}

pub async fn delete(state: &App, user: &User, service_id: &str, id: &str) -> Result<()> {
    let pid = uuid::Uuid::parse_str(id).map_err(|_| Error::not_found("saved phrase"))?;
    admin_of(state, user, service_id, "phrase.delete", target(pid)).await?;
    let old = state.store.get_phrase(pid).await.map_err(missing)?;
    if old.service_id != service_id {
        return Err(Error::not_found("saved phrase"));
    }
    let entry = audit::entry(&Actor::user(user), "phrase.delete", target(pid), AuditOutcome::Allowed, format!("service={service_id}"));
    Ok(state.store.delete_phrase(pid, &entry).await?)
}

/// `text` with the chosen phrase of `service_id` added on a new paragraph (the outcome form
/// without JavaScript: the consultant picks a phrase and the server inserts it). No phrase chosen:
/// `text` as it is. A phrase of another service or kind is refused (`invalid_phrase`).
pub async fn append(state: &App, user: &User, service_id: &str, kind: &str, text: &str, phrase_id: &str) -> Result<String> {
    if phrase_id.trim().is_empty() {
        return Ok(text.to_string());
    }
    let unknown = || Error::new(Code::InvalidPhrase, "That saved phrase is not one of this service's (it may have just been deleted): reload the page and pick again.");
    let pid = uuid::Uuid::parse_str(phrase_id.trim()).map_err(|_| unknown())?;
    let phrase = list(state, user, service_id).await?.into_iter().find(|p| p.id == pid && p.kind == kind).ok_or_else(unknown)?;
    let text = text.trim_end();
    if text.contains(phrase.body.as_str()) {
        return Ok(text.to_string());
    }
    Ok(if text.is_empty() { phrase.body } else { format!("{text}\n\n{}", phrase.body) })
}
