//! The GP's checklist leaves out questions that cannot matter (`eligibility::asks`) and records
//! them as `false`. These properties check that leaving one out never changes the decision or its
//! warnings, and that the child-only questions are still asked wherever they can exclude.

use proptest::prelude::*;
use serde_json::{Value, json};
use telederm_domain::eligibility::{EligibilityAnswers, asks, evaluate};
use telederm_domain::policy::{self, ReasonCode};

const QUESTIONS: [&str; 13] = [
    "meets_2ww_criteria",
    "extreme_psychological_distress",
    "widespread",
    "severe_or_systemic_or_urgent",
    "imaging_practical",
    "safeguarding_concerns",
    "has_capacity_to_consent",
    "best_interests_referral",
    "consent_given",
    "known_chronic_inflammatory_condition",
    "face_identifiable_in_images",
    "dermoscopic_images",
    "seen_face_to_face",
];

fn answers(dob: &str, condition: &str, postcode: &str, flags: &[bool; 13]) -> Value {
    let mut a = json!({
        "referral_date": "2026-12-07",
        "patient": {"date_of_birth": dob, "postcode": postcode},
        "condition": condition, "lesion_count": if condition == "lesion" { 1 } else { 0 }, "body_sites": ["arm"],
        "images_taken_by": "clinician",
    });
    for (q, v) in QUESTIONS.iter().zip(flags) {
        a[*q] = json!(v);
    }
    a
}

proptest! {
    #[test]
    fn a_question_left_out_never_changes_the_decision(
        year in 1930i32..2026, month in 1u32..=12, day in 1u32..=28,
        lesion in any::<bool>(), postcode in prop::sample::select(vec!["E8 1DY", "WD17 1AA", "N1 9GU", "E9 6SR"]),
        flags in any::<[bool; 13]>(),
    ) {
        let dob = format!("{year:04}-{month:02}-{day:02}");
        let condition = if lesion { "lesion" } else { "rash" };
        for p in policy::builtin() {
            let as_given = EligibilityAnswers::from_json(&answers(&dob, condition, postcode, &flags)).unwrap();
            let age = as_given.age_years();
            let mut left_out = flags;
            for (i, q) in QUESTIONS.iter().enumerate() {
                if !asks(&p, q, age) {
                    left_out[i] = false;
                }
            }
            let recorded = EligibilityAnswers::from_json(&answers(&dob, condition, postcode, &left_out)).unwrap();
            let (a, b) = (evaluate(&p, &as_given), evaluate(&p, &recorded));
            prop_assert_eq!(a.decision, b.decision, "{}: {:?}", p.id, a.reasons);
            prop_assert_eq!(a.reason_codes(), b.reason_codes(), "{}", p.id);
            prop_assert_eq!(a.warnings.len(), b.warnings.len(), "{}", p.id);
        }
    }
}

#[test]
fn child_only_questions_are_asked_of_children_where_the_service_excludes_on_them() {
    let builtin = policy::builtin();
    let homerton = policy::find(&builtin, "homerton").unwrap();
    assert!(homerton.criteria_for(ReasonCode::ChildFaceIdentifiable).next().is_some());
    assert!(asks(homerton, "face_identifiable_in_images", 9), "a child at Homerton is asked about faces");
    assert!(!asks(homerton, "face_identifiable_in_images", 40), "an adult is not");
    assert!(asks(homerton, "consent_given", 40), "questions for everyone are always asked");
    for p in &builtin {
        for (q, code) in [("face_identifiable_in_images", ReasonCode::ChildFaceIdentifiable), ("known_chronic_inflammatory_condition", ReasonCode::ChildChronicInflammatory)] {
            if p.criteria_for(code).next().is_none() {
                assert!(!asks(p, q, 5), "{}: {q} is never asked when the service does not exclude on it", p.id);
            }
        }
    }
}

/// A child-only question is asked up to the day before the service's adult age and not from it
/// (cargo-mutants: `<` to `<=` in `asks` survived the properties above, which only check that
/// leaving a question out changes nothing).
#[test]
fn child_only_questions_stop_at_the_services_adult_age() {
    let mut checked = 0;
    for p in policy::builtin() {
        for (question, code) in [
            ("face_identifiable_in_images", ReasonCode::ChildFaceIdentifiable),
            ("known_chronic_inflammatory_condition", ReasonCode::ChildChronicInflammatory),
        ] {
            let criteria: Vec<_> = p.criteria_for(code).collect();
            if criteria.is_empty() || criteria.iter().any(|c| c.applies_to != policy::AppliesTo::Children) {
                continue;
            }
            assert!(asks(&p, question, p.child_under_age - 1), "{} {question}", p.id);
            assert!(!asks(&p, question, p.child_under_age), "{} {question}", p.id);
            checked += 1;
        }
    }
    assert!(checked > 0, "a seed service has a child-only exclusion");
}
