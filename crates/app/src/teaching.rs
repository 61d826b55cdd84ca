//! Teaching cases (issue 17): a consultant marks an answered referral whose patient consented to
//! teaching; every referrer (and every consultant and service admin) can then see it without the
//! patient's identifiers (what is kept: [`telederm_domain::teaching`]). Marking and unmarking are
//! one transaction each with their audit entry; every read is in the audit trail.

use telederm_domain::calendar::received_local_date;
use telederm_domain::organisation::{Role, User};
use telederm_domain::teaching::{PhotoFacts, TeachingCase, TeachingRefusal};
use telederm_domain::{PhotoId, ReferralId};
use telederm_store::{AuditOutcome, StoreError};

use crate::App;
use crate::access::Capability;
use crate::audit::{self, Actor, Target};
use crate::error::{Code, Error, Result};
use crate::{photos, referrals};

/// How many teaching cases a list shows.
pub const LIST_LIMIT: i64 = 200;

fn consultant_only(user: &User) -> Result<()> {
    if user.role != Role::Consultant {
        return Err(Error::forbidden("Only a consultant of the service can mark or unmark a teaching case."));
    }
    Ok(())
}

/// Teaching cases are for staff who refer or answer referrals (not for patients' links).
fn may_read(user: &User) -> Result<()> {
    match user.role {
        Role::Referrer | Role::Consultant | Role::ServiceAdmin => Ok(()),
        _ => Err(Error::forbidden("Teaching cases are for referrers, consultants and service admins.")),
    }
}

/// The consultant marks an answered referral as a teaching case with a note for referrers.
pub async fn mark(app: &App, user: &User, referral_id: &str, note: &str) -> Result<TeachingCase> {
    let referral = referrals::load(app, user, referral_id, Capability::View).await?;
    let target = Target::referral(referral.id);
    let result = async {
        consultant_only(user)?;
        let photos = app.store.list_photos(referral.id).await?;
        let facts: Vec<PhotoFacts<'_>> = photos
            .iter()
            .map(|p| PhotoFacts { id: p.id.0, kind: p.kind.short_name(), face_detected: photos::face_detected(&p.report) })
            .collect();
        let received = referral.submitted_at.map(received_local_date).unwrap_or_else(|| received_local_date(app.now()));
        let case = TeachingCase::from_referral(uuid::Uuid::now_v7(), &referral, &facts, note, received, app.now()).map_err(|e| match e {
            TeachingRefusal::NoConsent => Error::new(Code::TeachingConsentMissing,
                "The patient did not consent to their photos being used for teaching, so this referral cannot be a teaching case."),
            TeachingRefusal::NotAnswered => Error::new(Code::NoOutcome,
                "Record the outcome first: only an answered referral can be a teaching case."),
            TeachingRefusal::BadNote => Error::new(Code::InvalidTeachingNote, format!(
                "Write a note for referrers saying what this case teaches (at most {} characters). Leave out the patient's name and other identifiers.",
                telederm_domain::teaching::NOTE_MAX_CHARS)),
        })?;
        let entry = audit::entry(&Actor::user(user), "teaching.mark", target.clone(), AuditOutcome::Allowed, format!("case={}", case.id));
        app.store.save_teaching_case(referral.id, user.id.0, &case, &entry).await.map_err(|e| match e {
            StoreError::Conflict(_) => Error::new(Code::Conflict, "This referral is already a teaching case; unmark it first to write a new note."),
            other => other.into(),
        })?;
        Ok(case)
    }
    .await;
    if result.is_err() {
        audit::outcome_of(app, &Actor::user(user), "teaching.mark", target, &result, "").await;
    }
    result
}

/// The consultant takes a referral off the teaching cases.
pub async fn unmark(app: &App, user: &User, referral_id: &str) -> Result<()> {
    let referral = referrals::load(app, user, referral_id, Capability::View).await?;
    let target = Target::referral(referral.id);
    let result = async {
        consultant_only(user)?;
        let entry = audit::entry(&Actor::user(user), "teaching.unmark", target.clone(), AuditOutcome::Allowed, "");
        app.store.delete_teaching_case(referral.id, &entry).await.map_err(|e| match e {
            StoreError::NotFound => Error::not_found("teaching case"),
            other => other.into(),
        })
    }
    .await;
    if result.is_err() {
        audit::outcome_of(app, &Actor::user(user), "teaching.unmark", target, &result, "").await;
    }
    result
}

/// The teaching case made from a referral the caller has already loaded (the case page).
pub async fn of_referral(app: &App, referral: ReferralId) -> Result<Option<TeachingCase>> {
    Ok(app.store.teaching_case_of(referral).await?)
}

/// Every teaching case, newest first (at most [`LIST_LIMIT`]).
pub async fn list(app: &App, user: &User) -> Result<Vec<TeachingCase>> {
    if let Err(e) = may_read(user) {
        return Err(audit::denied(app, &Actor::user(user), "teaching.list", Target::many("teaching_case"), e).await);
    }
    let cases = app.store.list_teaching_cases(LIST_LIMIT).await?;
    audit::record(app, &Actor::user(user), "teaching.list", Target::many("teaching_case"), AuditOutcome::Allowed, format!("rows={}", cases.len())).await?;
    Ok(cases)
}

fn case_target(id: &str) -> Target {
    Target { record_type: "teaching_case", record_id: Some(id.chars().take(64).collect()), referral_id: None }
}

async fn load(app: &App, user: &User, id: &str) -> Result<(TeachingCase, ReferralId)> {
    may_read(user)?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| Error::not_found("teaching case"))?;
    app.store.get_teaching_case(id).await.map_err(|e| match e {
        StoreError::NotFound => Error::not_found("teaching case"),
        other => other.into(),
    })
}

/// One teaching case.
pub async fn get(app: &App, user: &User, id: &str) -> Result<TeachingCase> {
    match load(app, user, id).await {
        Ok((case, _)) => {
            audit::record(app, &Actor::user(user), "teaching.read", case_target(id), AuditOutcome::Allowed, "").await?;
            Ok(case)
        }
        Err(e) => Err(audit::denied(app, &Actor::user(user), "teaching.read", case_target(id), e).await),
    }
}

/// A teaching case's photo (its preview JPEG, metadata already removed at intake). Only the photos
/// the case lists, and never one in which the photo check detected a face.
pub async fn photo(app: &App, user: &User, id: &str, photo_id: &str) -> Result<Vec<u8>> {
    let found = async {
        let (case, referral) = load(app, user, id).await?;
        let pid = PhotoId::parse(photo_id).filter(|p| case.shows_photo(p.0)).ok_or_else(|| Error::not_found("photo"))?;
        let photo = app.store.get_photo(pid).await.map_err(|_| Error::not_found("photo"))?;
        if photo.referral_id != referral || photos::face_detected(&photo.report) {
            return Err(Error::not_found("photo"));
        }
        Ok(photo)
    }
    .await;
    match found {
        Ok(photo) => {
            let bytes = app.blobs.get(&photo.preview_key).await?;
            audit::record(app, &Actor::user(user), "teaching.photo", case_target(id), AuditOutcome::Allowed, format!("photo={}", photo.id)).await?;
            Ok(bytes)
        }
        Err(e) => Err(audit::denied(app, &Actor::user(user), "teaching.photo", case_target(id), e).await),
    }
}
