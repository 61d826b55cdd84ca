//! Hazard H3 (docs/clinical-safety/hazard-log.md): whom the child-face exclusion covers. The submit
//! rules (`usecases::readiness`) refuse photos with a detected face exactly when this says yes.

use serde_json::json;
use telederm_domain::eligibility::{EligibilityAnswers, child_face_exclusion_applies};
use telederm_domain::policy::{self, ServicePolicy};

fn policy(id: &str) -> ServicePolicy {
    policy::find(&policy::builtin(), id).unwrap_or_else(|| panic!("no built-in policy {id}")).clone()
}

fn answers(dob: &str, condition: &str) -> EligibilityAnswers {
    EligibilityAnswers::from_json(&json!({
        "referral_date": "2026-03-02",
        "patient": {"date_of_birth": dob, "postcode": "E8 1DY"},
        "condition": condition, "lesion_count": if condition == "lesion" { 1 } else { 0 }, "body_sites": ["arm"],
        "meets_2ww_criteria": false, "extreme_psychological_distress": false, "widespread": false,
        "severe_or_systemic_or_urgent": false, "imaging_practical": true, "safeguarding_concerns": false,
        "has_capacity_to_consent": true, "best_interests_referral": false, "consent_given": true,
        "known_chronic_inflammatory_condition": false, "face_identifiable_in_images": false,
        "dermoscopic_images": false, "images_taken_by": "clinician", "seen_face_to_face": true
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_child_face_exclusion_covers_children_as_the_service_defines_them() {
    for id in ["homerton", "hackney-rash"] {
        let p = policy(id);
        assert_eq!(p.child_under_age, 18, "{id}: the seeds make under-18s children");
        // 17 years and 364 days on the referral date: a child; 18 that day: not.
        assert!(child_face_exclusion_applies(&p, &answers("2008-03-03", "rash")), "{id}");
        assert!(!child_face_exclusion_applies(&p, &answers("2008-03-02", "rash")), "{id}");
        assert!(child_face_exclusion_applies(&p, &answers("2016-06-01", "rash")), "{id}");
    }
    // A service without the exclusion never applies it.
    for p in policy::builtin().iter().filter(|p| p.criteria_for(telederm_domain::policy::ReasonCode::ChildFaceIdentifiable).next().is_none()) {
        assert!(!child_face_exclusion_applies(p, &answers("2016-06-01", "rash")), "{}", p.id);
    }
}
