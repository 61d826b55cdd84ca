//! Teaching cases (issue 17): an answered referral whose patient consented to teaching, marked by
//! a consultant and shown to referrers **without anything that identifies the patient**.
//!
//! What a teaching case carries is decided here, once: it is built from the referral by
//! [`TeachingCase::from_referral`], which copies only the fields below. The patient's name, NHS
//! number, date of birth, postcode and contact details, the practice, the referrer, the GP's free
//! text and the consultant's letter text are never copied: free text may name people, so the
//! consultant writes the case's teaching note for referrers instead. Photos in which the photo
//! check detected a face are left out whatever the referrer confirmed about them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::outcome::OutcomeCode;
use crate::patient::Sex;
use crate::referral::{Referral, ReferralStatus};
use crate::reports::age_band;

/// The longest teaching note, in characters.
pub const NOTE_MAX_CHARS: usize = 2000;

/// A photo of a teaching case: its id and kind (`overview`, `close_up`, `dermoscopic`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeachingPhoto {
    pub id: uuid::Uuid,
    pub kind: String,
}

/// What referrers see of a teaching case. No identifier of the patient is a field of this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeachingCase {
    /// The teaching case's own id (not the referral's).
    pub id: uuid::Uuid,
    pub service_id: String,
    /// The consultant's note for referrers: what the case teaches.
    pub note: String,
    /// The patient's age band on the day the referral was received (e.g. `30-44`).
    pub age_band: String,
    pub sex: Sex,
    /// Where on the body, as the GP recorded it.
    pub body_sites: Vec<String>,
    pub outcome: OutcomeCode,
    /// The consultant's working or differential diagnosis.
    pub diagnosis: String,
    /// Its SNOMED CT code, when one was picked.
    pub diagnosis_code: Option<String>,
    /// Photos with no face detected by the photo check.
    pub photos: Vec<TeachingPhoto>,
    pub marked_at: DateTime<Utc>,
}

/// Why a referral cannot be a teaching case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeachingRefusal {
    #[error("the patient did not consent to their photos being used for teaching")]
    NoConsent,
    #[error("only an answered referral (outcome recorded) can be a teaching case")]
    NotAnswered,
    #[error("write a teaching note for referrers (what the case teaches), at most {NOTE_MAX_CHARS} characters")]
    BadNote,
}

/// A referral's photo as the teaching rule sees it.
pub struct PhotoFacts<'a> {
    pub id: uuid::Uuid,
    pub kind: &'a str,
    /// The photo check detected a face (see the photo's quality report).
    pub face_detected: bool,
}

impl TeachingCase {
    /// Builds the case from an answered referral whose patient consented to teaching, or says why
    /// not. `received_on` is the local date the referral was received (for the age band).
    pub fn from_referral(
        id: uuid::Uuid,
        referral: &Referral,
        photos: &[PhotoFacts<'_>],
        note: &str,
        received_on: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<TeachingCase, TeachingRefusal> {
        if !referral.consent.as_ref().is_some_and(|c| c.teaching) {
            return Err(TeachingRefusal::NoConsent);
        }
        let outcome = match (&referral.outcome, referral.status) {
            (Some(o), ReferralStatus::OutcomeIssued | ReferralStatus::Closed | ReferralStatus::Rejected) => o,
            _ => return Err(TeachingRefusal::NotAnswered),
        };
        let note = note.trim();
        if note.is_empty() || note.chars().count() > NOTE_MAX_CHARS {
            return Err(TeachingRefusal::BadNote);
        }
        let age = received_on.years_since(referral.patient.date_of_birth).unwrap_or(0);
        Ok(TeachingCase {
            id,
            service_id: referral.service_id.to_string(),
            note: note.to_string(),
            age_band: age_band(age).to_string(),
            sex: referral.patient.sex,
            body_sites: referral.history.body_sites.clone(),
            outcome: outcome.code,
            diagnosis: outcome.diagnosis.clone(),
            diagnosis_code: outcome.diagnosis_code.clone(),
            photos: photos.iter().filter(|p| !p.face_detected).map(|p| TeachingPhoto { id: p.id, kind: p.kind.to_string() }).collect(),
            marked_at: now,
        })
    }

    /// Whether a photo is shown with this case.
    pub fn shows_photo(&self, photo: uuid::Uuid) -> bool {
        self.photos.iter().any(|p| p.id == photo)
    }
}
