//! Patient links. An upload link: the practice creates it for one referral; the patient opens it
//! on their phone, confirms their date of birth, uploads photos (each checked at once) and
//! finishes. A status link: sent in every message to the patient ([`crate::notices::for_patient`]);
//! after the date of birth it shows the referral's progress in plain English.
//!
//! Security: the token has 256 bits of randomness and only its SHA-256 is stored; a link expires
//! (an upload link after [`links::UPLOAD_LINK_DAYS`]; a status link [`links::STATUS_DAYS_AFTER_END`]
//! days after the outcome, rejection or withdrawal), can be revoked, and locks after
//! [`MAX_DOB_FAILURES`] wrong dates of birth, counted across every browser. An upload link takes
//! at most [`MAX_LINK_PHOTOS`] photos and only while the referral accepts them. Each browser whose
//! date of birth matched gets its own random secret (only its hash stored, for [`VISIT_MINUTES`]),
//! so the patient can open the link on several devices. Every use of a link is in the audit trail
//! (ids only).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use telederm_domain::organisation::User;
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::ReferralStatus;
use telederm_store::patient_links::{LinkPurpose, PatientLink};
use telederm_store::{AuditOutcome, PhotoRecord};

use crate::access::Capability;
use crate::audit::{self, Actor, Target};
use crate::credentials::{new_token, token_hash};
use crate::error::{Code, Error, Result};
use crate::links::{self, NewLink};
use crate::{App, notices, referrals};

pub const MAX_DOB_FAILURES: i64 = 5;
pub const MAX_LINK_PHOTOS: i64 = 5;
/// How long a browser stays verified after its date of birth matched (its cookie's life too).
pub const VISIT_MINUTES: i64 = 60;

/// Creates an upload link for a referral the user may add photos to, and (in the same
/// transaction) the message that sends it to the patient when they gave an email address, or a
/// UK mobile number and the notifier sends text messages; the practice also sees it to pass on by hand.
pub async fn create(state: &App, user: &User, referral_id: &str) -> Result<NewLink> {
    let r = referrals::load(state, user, referral_id, Capability::UploadPhoto).await?;
    let policy = state.policy(&r.service_id)?;
    if !policy.patient_upload_links {
        return Err(Error::new(Code::LinksNotOffered, format!("{} does not take photos through patient upload links.", policy.name)));
    }
    if !r.status.accepts_photos() {
        return Err(Error::new(Code::PhotosLocked, "Patient links can be sent only for a draft or when the consultant asks for more photos."));
    }
    let NewLink { link, token } = links::new_link(state, &r, LinkPurpose::Upload, Some(user.id), MAX_LINK_PHOTOS);
    let notices: Vec<_> =
        notices::to_patient(state, &r, telederm_domain::notification::Template::PatientPhotoRequest, links::url(state, &token), &link.id.to_string()).into_iter().collect();
    let target = Target::within("patient_link", link.id, r.id);
    let entry = audit::entry(&Actor::user(user), "patient_link.create", target.clone(), AuditOutcome::Allowed, "");
    let result = state.store.create_patient_link_notifying(&link, &notices, &entry).await.map_err(Error::from);
    if result.is_err() {
        audit::outcome_of(state, &Actor::user(user), "patient_link.create", target, &result, "").await;
    }
    result?;
    Ok(NewLink { link, token })
}

/// Revokes one of a referral's links.
pub async fn revoke(state: &App, user: &User, referral_id: &str, link_id: &str) -> Result<()> {
    let r = referrals::load(state, user, referral_id, Capability::UploadPhoto).await?;
    let link_id = uuid::Uuid::parse_str(link_id).map_err(|_| Error::not_found("link"))?;
    if !state.store.list_patient_links(r.id).await?.iter().any(|l| l.id == link_id) {
        return Err(Error::not_found("link"));
    }
    let target = Target::within("patient_link", link_id, r.id);
    let entry = audit::entry(&Actor::user(user), "patient_link.revoke", target.clone(), AuditOutcome::Allowed, "");
    let result = state.store.revoke_patient_link(link_id, state.now(), &entry).await.map_err(Error::from);
    if result.is_err() {
        audit::outcome_of(state, &Actor::user(user), "patient_link.revoke", target, &result, "").await;
    }
    result
}

/// The one answer for any link that cannot be used (unknown, expired, revoked): it says nothing
/// about why (or whose), so a guessed or old link learns nothing, and tells the patient whom to ask.
pub fn unavailable() -> Error {
    Error::new(
        Code::LinkUnavailable,
        "This link has expired or is no longer in use. Contact your GP practice: they can tell you about your request, and send you a new link if you need one.",
    )
}

/// The link a token opens; an unknown token is refused (and recorded) as [`unavailable`].
pub async fn find(state: &App, token: &str) -> Result<PatientLink> {
    let found = if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        None
    } else {
        state.store.patient_link_by_token_hash(&token_hash(token)).await?
    };
    match found {
        Some(link) => Ok(link),
        None => Err(audit::denied(state, &Actor::patient_link(), "patient_link.use", Target::many("patient_link"), unavailable()).await),
    }
}

fn link_entry(link: &PatientLink, action: &str, outcome: AuditOutcome, detail: &str) -> telederm_store::audit::NewAuditEntry {
    audit::entry(&Actor::patient_link(), action, Target::within("patient_link", link.id, link.referral_id), outcome, detail)
}

/// Records what the patient did with a link (ids only: the link and its referral).
async fn link_audit(state: &App, link: &PatientLink, action: &str, outcome: AuditOutcome, detail: &str) -> Result<()> {
    let target = Target::within("patient_link", link.id, link.referral_id);
    audit::record(state, &Actor::patient_link(), action, target, outcome, detail).await
}

/// When a status link stops working: [`links::STATUS_DAYS_AFTER_END`] days after its referral was
/// answered, returned or withdrawn (the first event that ended it); `None` while it is open.
pub async fn status_link_end(state: &App, link: &PatientLink) -> Result<Option<DateTime<Utc>>> {
    let events = state.store.list_events(link.referral_id).await?;
    let ended = events.iter().find(|e| matches!(e.to_status, ReferralStatus::OutcomeIssued | ReferralStatus::Rejected | ReferralStatus::Withdrawn));
    Ok(ended.map(|e| e.at + Duration::days(links::STATUS_DAYS_AFTER_END)))
}

/// Whether the link can be used now; when not (expired, revoked, locked, finished), the refusal
/// to answer, recorded with the reason.
pub async fn check_usable(state: &App, link: &PatientLink, action: &str) -> Result<()> {
    let now = state.now();
    let why = if link.revoked_at.is_some() {
        "revoked"
    } else if link.locked_at.is_some() {
        "locked"
    } else if link.expires_at <= now {
        "expired"
    } else if link.purpose == LinkPurpose::Status && status_link_end(state, link).await?.is_some_and(|end| end <= now) {
        "expired (the referral ended more than 30 days ago)"
    } else if link.is_usable(now) {
        return Ok(());
    } else {
        "not usable"
    };
    link_audit(state, link, action, AuditOutcome::Denied, &format!("link {why}")).await?;
    Err(unavailable())
}

/// Whether `secret` (a browser's cookie) is an open visit to this link: its date of birth matched.
pub async fn verified(state: &App, link: &PatientLink, secret: Option<&str>) -> Result<bool> {
    match secret.filter(|s| !s.is_empty()) {
        Some(s) => Ok(state.store.patient_link_visit_open(link.id, &token_hash(s), state.now()).await?),
        None => Ok(false),
    }
}

/// What a date-of-birth check found.
pub enum DobCheck {
    /// It matched: the secret that proves it for the rest of this browser's visit.
    Verified { secret: String },
    /// It did not: this many tries are left.
    Wrong { left: i64 },
}

/// Checks the date of birth the patient gave against the referral's. A match hands this browser
/// its own visit's secret (other browsers' visits stay open); a mismatch counts towards the lock,
/// and the lock is answered `forbidden`. Each is written with its audit entry in one transaction.
pub async fn verify_dob(state: &App, link: &PatientLink, given: NaiveDate) -> Result<DobCheck> {
    check_usable(state, link, "patient_link.verify").await?;
    let r = state.store.get_referral(link.referral_id).await?;
    let now = state.now();
    if given == r.patient.date_of_birth {
        let (secret, hash) = new_token();
        let entry = link_entry(link, "patient_link.verify", AuditOutcome::Allowed, "date of birth matched");
        state.store.verify_patient_link(link.id, &hash, now, now + Duration::minutes(VISIT_MINUTES), &entry).await?;
        return Ok(DobCheck::Verified { secret });
    }
    let after = state
        .store
        .record_patient_link_failure(link.id, now, MAX_DOB_FAILURES, |after| {
            let detail = format!(
                "date of birth did not match ({} of {MAX_DOB_FAILURES}){}",
                after.failed_attempts,
                if after.locked_at.is_some() { "; link locked" } else { "" }
            );
            link_entry(link, "patient_link.verify", AuditOutcome::Denied, &detail)
        })
        .await?;
    if after.locked_at.is_some() {
        return Err(Error::forbidden(
            "This link is now locked because the date of birth did not match too many times. Contact your GP practice for a new link.",
        ));
    }
    Ok(DobCheck::Wrong { left: MAX_DOB_FAILURES - after.failed_attempts })
}

/// What the patient's page shows (recorded as `patient_link.read`): the referral (for its status
/// and the service's guidance) and the photos sent through this link.
pub async fn view(state: &App, link: &PatientLink) -> Result<(telederm_domain::referral::Referral, Vec<PhotoRecord>)> {
    link_audit(state, link, "patient_link.read", AuditOutcome::Allowed, "").await?;
    let r = state.store.get_referral(link.referral_id).await?;
    let mine = state.store.patient_link_photo_ids(link.id).await?;
    let photos = state.store.list_photos(r.id).await?.into_iter().filter(|p| mine.contains(&p.id.to_string())).collect();
    Ok((r, photos))
}

/// What became of a patient's photo.
pub enum LinkUpload {
    Stored(PhotoRecord),
    /// The link has taken all the photos it may.
    LimitReached { max_photos: i64 },
}

/// Stores a photo sent through a verified link (checked like any upload); a refused photo does not
/// count against the link's limit.
pub async fn upload(state: &App, link: &PatientLink, kind: PhotoKind, bytes: Vec<u8>) -> Result<LinkUpload> {
    check_usable(state, link, "photo.upload").await?;
    let r = state.store.get_referral(link.referral_id).await?;
    // A status link shows progress only: photos come through an upload link the practice sends.
    if link.purpose != LinkPurpose::Upload || !r.status.accepts_photos() {
        return Err(unavailable());
    }
    if !state.store.take_patient_link_photo(link.id).await? {
        return Ok(LinkUpload::LimitReached { max_photos: link.max_photos });
    }
    let stored = store_photo(state, link, &r, kind, bytes).await;
    if stored.is_err() {
        audit::outcome_of(state, &Actor::patient_link(), "photo.upload", Target::referral(r.id), &stored, "").await;
        state.store.return_patient_link_photo(link.id).await?;
    }
    Ok(LinkUpload::Stored(stored?))
}

/// Checks and stores the photo as any upload ([`crate::photos::prepare`]), kept with the link it
/// came through (so the patient can remove it before finishing), with its `photo.upload` entry.
async fn store_photo(state: &App, link: &PatientLink, r: &telederm_domain::referral::Referral, kind: PhotoKind, bytes: Vec<u8>) -> Result<PhotoRecord> {
    // Photos and the practice's documents count together against the referral's limit.
    let held = state.store.list_photos(r.id).await?.len() + state.store.count_documents(r.id).await?;
    if held >= state.config.max_photos_per_referral {
        return Err(Error::new(Code::TooManyPhotos, "Your GP practice already has all the photos it can take for this request. Press 'I have finished'."));
    }
    let record = crate::photos::prepare(state, r, kind, ImageSource::Patient, bytes, None).await?;
    let entry = audit::entry(&Actor::patient_link(), "photo.upload", Target::within("photo", record.id, r.id), AuditOutcome::Allowed, "");
    let started = std::time::Instant::now();
    state.store.insert_patient_link_photo(link.id, &record, &entry).await?;
    crate::metrics::intake_stage("record", started.elapsed());
    crate::metrics::photo_uploaded(record.verdict.as_str());
    Ok(record)
}

/// The patient removes a photo they sent through this link, before they finish (a blurred photo
/// need not use one of the link's places for good). Only a photo that came through this link;
/// recorded as `photo.delete` by the patient's link, in the removal's transaction.
pub async fn remove_photo(state: &App, link: &PatientLink, photo_id: &str) -> Result<()> {
    check_usable(state, link, "photo.delete").await?;
    if link.purpose != LinkPurpose::Upload {
        return Err(unavailable());
    }
    let r = state.store.get_referral(link.referral_id).await?;
    if !r.status.accepts_photos() {
        return Err(Error::new(Code::PhotosLocked, "Your photos have already been sent to the skin service, so they cannot be removed now."));
    }
    let photo = telederm_domain::PhotoId::parse(photo_id).ok_or_else(|| Error::not_found("photo"))?;
    let target = Target::within("photo", photo, r.id);
    let entry = audit::entry(&Actor::patient_link(), "photo.delete", target.clone(), AuditOutcome::Allowed, &format!("removed by the patient through link {}", link.id));
    let result = state.store.remove_patient_link_photo(link.id, &photo.to_string(), &entry).await.map_err(|e| match e {
        telederm_store::StoreError::NotFound => Error::not_found("photo"),
        telederm_store::StoreError::Conflict(_) => unavailable(),
        e => e.into(),
    });
    if result.is_err() {
        audit::outcome_of(state, &Actor::patient_link(), "photo.delete", target, &result, "").await;
    }
    result
}

/// Saves the patient's answers to the symptom questions (in their own words) on their referral,
/// where the GP and the consultant read them; recorded as `patient_answers.save`. Saving again
/// replaces them. Only through an upload link, before the patient finishes.
pub async fn save_answers(state: &App, link: &PatientLink, how_long: &str, itch_or_pain: &str, changing: &str, tried: &str) -> Result<telederm_domain::patient_voice::PatientAnswers> {
    check_usable(state, link, "patient_answers.save").await?;
    if link.purpose != LinkPurpose::Upload {
        return Err(unavailable());
    }
    let answers = telederm_domain::patient_voice::PatientAnswers::new(how_long, itch_or_pain, changing, tried, state.now())
        .map_err(|p| Error::new(Code::InvalidPatientAnswers, p.message).with_details(serde_json::json!({ "field": p.field })))?;
    let target = Target::within("patient_link", link.id, link.referral_id);
    let entry = audit::entry(&Actor::patient_link(), "patient_answers.save", target.clone(), AuditOutcome::Allowed, "");
    let result = state.store.set_patient_answers(link.referral_id, &answers, &entry).await.map_err(Error::from);
    if result.is_err() {
        audit::outcome_of(state, &Actor::patient_link(), "patient_answers.save", target, &result, "").await;
    }
    result.map(|()| answers)
}

/// The patient has finished: the link takes no more photos. Only once they have confirmed that
/// they consent to sending their photos (`consent`), which the audit entry records.
pub async fn finish(state: &App, link: &PatientLink, consent: bool) -> Result<()> {
    if link.purpose != LinkPurpose::Upload {
        return Err(unavailable());
    }
    if !consent {
        return Err(Error::new(
            Code::ConsentRequired,
            "Confirm that you agree to send your photos to your GP practice and the skin service: tick the box, then press 'I have finished'.",
        ));
    }
    let entry = link_entry(link, "patient_link.submit", AuditOutcome::Allowed, "the patient confirmed consent to sending the photos");
    let r = state.store.get_referral(link.referral_id).await?;
    let alert = crate::notices::patient_photos_arrived(state, &r, link.id).await?;
    let result = state.store.submit_patient_link(link.id, state.now(), &alert, &entry).await.map_err(Error::from);
    if result.is_err() {
        link_audit(state, link, "patient_link.submit", AuditOutcome::Failed, "").await?;
    }
    result
}
