//! What the eligibility check says, to the letter: the accepted conditions and photo sources it
//! names, the type it found in a wrong answer, the decision names the API returns, the oldest
//! age it takes. Each assertion catches a wrong answer the other eligibility tests allowed
//! (issue 19, cargo-mutants on `crates/domain/src/eligibility.rs`).

mod common;

use common::{base, patched};
use serde_json::{Value, json};
use telederm_domain::eligibility::{Decision, EligibilityAnswers, ReasonCode, evaluate};
use telederm_domain::policy;

/// Answers every seed service accepts for a 45-year-old in Hackney, with `patch` applied.
fn answers(patch: &[(&str, Value)]) -> Value {
    patched(base("1980-05-17", "E8 1DY"), patch)
}

fn decide(service: &str, patch: &[(&str, Value)]) -> telederm_domain::eligibility::EligibilityDecision {
    let all = policy::builtin();
    let p = policy::find(&all, service).unwrap();
    evaluate(p, &EligibilityAnswers::from_json(&answers(patch)).unwrap())
}

#[test]
fn a_refusal_names_what_the_service_accepts() {
    // City & Hackney's service takes rashes only (services/hackney-rash.toml).
    let d = decide("hackney-rash", &[("/condition", json!("lesion")), ("/lesion_count", json!(1))]);
    let r = d.reasons.iter().find(|r| r.code == ReasonCode::ConditionNotAccepted).expect("condition refused");
    assert!(r.message.contains("the service accepts rash only; this referral is a lesion"), "{}", r.message);
    // The NHS Advice & Guidance service takes clinicians' photos only.
    let d = decide("nhs-advice-and-guidance", &[("/images_taken_by", json!("patient"))]);
    let r = d.reasons.iter().find(|r| r.code == ReasonCode::PhotoSourceNotAccepted).expect("photo source refused");
    assert_eq!(r.message, "The service accepts photos taken by: clinician; these were taken by the patient");
    assert!(d.has_reason(ReasonCode::PhotoSourceNotAccepted));
    assert!(!d.has_reason(ReasonCode::ConditionNotAccepted));
    assert_eq!(d.reason_codes(), vec![ReasonCode::PhotoSourceNotAccepted]);
}

#[test]
fn decisions_have_the_names_the_api_returns() {
    for (d, name) in [(Decision::Eligible, "eligible"), (Decision::Excluded, "excluded"), (Decision::Redirect2ww, "redirect_2ww")] {
        assert_eq!(d.as_str(), name);
        assert_eq!(serde_json::to_value(d).unwrap(), json!(name));
    }
}

#[test]
fn a_wrong_type_is_named_in_the_error() {
    let err = EligibilityAnswers::from_json(&answers(&[("/consent_given", json!("yes"))])).unwrap_err();
    assert_eq!(err.to_string(), "`consent_given` must be a boolean (true or false), not a string");
    let err = EligibilityAnswers::from_json(&answers(&[("/lesion_count", json!([1]))])).unwrap_err();
    assert_eq!(err.to_string(), "`lesion_count` must be a whole number, not an array");
    let err = EligibilityAnswers::from_json(&answers(&[("/body_sites", json!({}))])).unwrap_err();
    assert!(err.to_string().ends_with(", not an object"), "{err}");
    let err = EligibilityAnswers::from_json(&answers(&[("/condition", json!(1))])).unwrap_err();
    assert!(err.to_string().ends_with(", not a number"), "{err}");
    let err = EligibilityAnswers::from_json(&answers(&[("/widespread", json!(null))])).unwrap_err();
    assert_eq!(err.to_string(), "`widespread` must be a boolean (true or false), not null");
    let err = EligibilityAnswers::from_json(&answers(&[("/condition", json!(true))])).unwrap_err();
    assert!(err.to_string().ends_with(", not a boolean"), "{err}");
}

#[test]
fn a_date_has_two_digit_months_and_days() {
    for bad in ["2026-01-1", "2026-1-01", "2026-01-011"] {
        let err = EligibilityAnswers::from_json(&answers(&[("/referral_date", json!(bad))])).unwrap_err();
        assert_eq!(err.field, "referral_date", "{bad}");
    }
}

#[test]
fn a_patient_of_130_is_taken_and_of_131_refused() {
    let age = |dob: &str| EligibilityAnswers::from_json(&answers(&[("/patient/date_of_birth", json!(dob))])).map(|a| a.age_years());
    assert_eq!(age("1896-03-02"), Ok(130));
    let err = age("1895-03-02").unwrap_err();
    assert_eq!(err.field, "patient.date_of_birth");
    assert!(err.to_string().contains("makes the patient 131 years old"), "{err}");
}
