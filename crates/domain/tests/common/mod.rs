//! Eligibility answers shared by the domain's test files.

use serde_json::{Value, json};

/// The referral date of every answer built here.
const REFERRAL_DATE: &str = "2026-03-02";

/// Answers that every seed service accepts: nothing excluding, consent given, clinician photos.
pub fn base(dob: &str, postcode: &str) -> Value {
    json!({
        "referral_date": REFERRAL_DATE,
        "patient": {"date_of_birth": dob, "postcode": postcode},
        "condition": "rash",
        "lesion_count": 0,
        "body_sites": ["arm"],
        "meets_2ww_criteria": false,
        "extreme_psychological_distress": false,
        "widespread": false,
        "severe_or_systemic_or_urgent": false,
        "imaging_practical": true,
        "safeguarding_concerns": false,
        "has_capacity_to_consent": true,
        "best_interests_referral": false,
        "consent_given": true,
        "known_chronic_inflammatory_condition": false,
        "face_identifiable_in_images": false,
        "dermoscopic_images": false,
        "images_taken_by": "clinician",
        "seen_face_to_face": true
    })
}

pub fn patched(mut v: Value, patch: &[(&str, Value)]) -> Value {
    for (pointer, value) in patch {
        *v.pointer_mut(pointer).unwrap_or_else(|| panic!("no field {pointer}")) = value.clone();
    }
    v
}
