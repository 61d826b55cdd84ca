//! Organisations and accounts: the one way each is made, whoever makes it (the admin page, the
//! CLI, the demo), with the same checks and an audit entry in the same transaction.

use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_store::{AuditOutcome, StoreError};

use crate::App;
use crate::audit::{self, Actor, Target};
use crate::credentials::{check_new_password, hash_password_async};
use crate::error::{Code, Error, Result};

/// An account to create.
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub organisation_id: telederm_domain::OrganisationId,
    pub services: Vec<String>,
    pub password: String,
    /// For referrers (services may accept only some professions).
    pub profession: Option<telederm_domain::organisation::Profession>,
}

fn field(e: Error, name: &str) -> Error {
    e.with_details(serde_json::json!({ "field": name }))
}

/// Creates an account. Refused (with `details.field` naming the field to fix): a password the
/// rules refuse, an unknown organisation or service, a service the user's organisation does not
/// run (staff see a service's referrals only through the provider that runs it), an email already
/// in use.
pub async fn create_user(state: &App, actor: &Actor, new: NewUser) -> Result<User> {
    let email = new.email.trim().to_string();
    if !email.contains('@') {
        return Err(field(Error::new(Code::InvalidBody, "Enter the email address the person signs in with."), "email"));
    }
    check_new_password(&new.password, &email, &new.display_name)?;
    let org = match state.store.get_organisation(new.organisation_id).await {
        Ok(o) => o,
        Err(StoreError::NotFound) => return Err(field(Error::new(Code::InvalidBody, "There is no such organisation."), "organisation")),
        Err(e) => return Err(e.into()),
    };
    for s in &new.services {
        if !state.policies.contains_key(s) {
            return Err(field(Error::new(Code::UnknownService, format!("There is no service {s:?}.")), "services"));
        }
        if !org.services.contains(s) {
            return Err(field(
                Error::new(Code::InvalidBody, format!("{} ({}) does not run the service {s:?}: assign only services of the user's own organisation.", org.name, org.ods_code)),
                "services",
            ));
        }
    }
    if new.profession.is_some() && new.role != Role::Referrer {
        return Err(field(Error::new(Code::InvalidBody, "Only referrers have a profession here; leave it empty for other roles."), "profession"));
    }
    let user = User {
        id: Default::default(),
        email,
        display_name: new.display_name,
        role: new.role,
        organisation_id: org.id,
        services: new.services,
        profession: new.profession,
    };
    let hash = hash_password_async(new.password).await?;
    let target = Target { record_type: "user", record_id: Some(user.id.to_string()), referral_id: None };
    let entry = audit::entry(actor, "user.create", target.clone(), AuditOutcome::Allowed, format!("role={}", user.role.as_str()));
    let result = match state.store.create_user_audited(&user, &hash, &entry).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(field(Error::new(Code::Conflict, "There is already an account with this email address."), "email")),
        Err(e) => Err(e.into()),
    };
    if result.is_err() {
        audit::outcome_of(state, actor, "user.create", target, &result, "").await;
    }
    result
}

/// Creates an organisation: a GP practice (runs no services) or a provider running some of the
/// configured services.
pub async fn create_organisation(state: &App, actor: &Actor, mut org: Organisation) -> Result<Organisation> {
    org.ods_code = org.ods_code.trim().to_uppercase();
    if org.ods_code.is_empty() {
        return Err(field(Error::new(Code::InvalidBody, "Give the organisation's ODS code."), "ods_code"));
    }
    if org.kind != OrganisationKind::Provider && !org.services.is_empty() {
        return Err(field(Error::new(Code::InvalidBody, "Only a provider runs services."), "services"));
    }
    if let Some(s) = org.services.iter().find(|s| !state.policies.contains_key(*s)) {
        return Err(field(Error::new(Code::UnknownService, format!("There is no service {s:?}.")), "services"));
    }
    let target = Target { record_type: "organisation", record_id: Some(org.id.to_string()), referral_id: None };
    let entry = audit::entry(actor, "organisation.create", target, AuditOutcome::Allowed, format!("ods={}", org.ods_code));
    match state.store.create_organisation_audited(&org, &entry).await {
        Ok(()) => Ok(org),
        Err(StoreError::Conflict(_)) => Err(field(Error::new(Code::Conflict, "There is already an organisation with this ODS code."), "ods_code")),
        Err(e) => Err(e.into()),
    }
}

/// Sets a new password for `user` (the caller has checked the current one): the rules apply,
/// and every session of the user ends.
pub async fn set_password(state: &App, user: &User, new_password: String) -> Result<()> {
    check_new_password(&new_password, &user.email, &user.display_name)?;
    let hash = hash_password_async(new_password).await?;
    let target = Target { record_type: "user", record_id: Some(user.id.to_string()), referral_id: None };
    let entry = audit::entry(&Actor::user(user), "user.change_password", target, AuditOutcome::Allowed, "");
    state.store.set_password_hash(user.id, &hash, &entry).await?;
    Ok(())
}

/// Links a single sign-on identity (`issuer`, `subject`) to `user` on their first sign-in with it.
/// The single sign-on provider states the user's profession (claim `telederm_profession`): a
/// referrer's recorded profession follows it, with a `user.set_profession` audit entry. Returns
/// the user as recorded. Other roles carry no profession, so the claim changes nothing for them.
pub async fn profession_from_identity_provider(state: &App, user: User, profession: telederm_domain::organisation::Profession, issuer: &str) -> Result<User> {
    if user.role != Role::Referrer || user.profession == Some(profession) {
        return Ok(user);
    }
    let target = Target { record_type: "user", record_id: Some(user.id.to_string()), referral_id: None };
    let detail = format!("issuer={issuer} profession={}", profession.as_str());
    let entry = audit::entry(&Actor::user(&user), "user.set_profession", target, AuditOutcome::Allowed, detail);
    state.store.set_profession(user.id, profession, &entry).await?;
    Ok(User { profession: Some(profession), ..user })
}

pub async fn link_identity(state: &App, user: &User, issuer: &str, subject: &str) -> Result<()> {
    let target = Target { record_type: "user", record_id: Some(user.id.to_string()), referral_id: None };
    let entry = audit::entry(&Actor::user(user), "user.link_identity", target, AuditOutcome::Allowed, format!("issuer={issuer}"));
    state.store.link_identity(issuer, subject, user.id, state.now(), &entry).await?;
    Ok(())
}
