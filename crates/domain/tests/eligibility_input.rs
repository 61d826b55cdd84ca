//! The answers object is parsed strictly: unknown fields, missing fields and wrong types are
//! errors that name the field, never guesses.

use serde_json::{Value, json};
use telederm_domain::eligibility::{BodySite, EligibilityAnswers, InputProblem, Postcode};

fn valid() -> Value {
    json!({
        "referral_date": "2026-03-02",
        "patient": {"date_of_birth": "1980-05-17", "postcode": "E8 1DY"},
        "condition": "lesion",
        "lesion_count": 1,
        "body_sites": ["face", "neck"],
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
        "dermoscopic_images": true,
        "images_taken_by": "clinician",
        "seen_face_to_face": true
    })
}

const FIELDS: [&str; 19] = [
    "referral_date",
    "patient",
    "condition",
    "lesion_count",
    "body_sites",
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
    "images_taken_by",
    "seen_face_to_face",
];

#[test]
fn valid_answers_parse_and_round_trip() {
    let answers = EligibilityAnswers::from_json(&valid()).unwrap();
    assert_eq!(answers.age_years(), 45);
    assert_eq!(answers.patient.postcode.district(), "E8");
    assert_eq!(answers.body_sites, vec![BodySite::Face, BodySite::Neck]);
    let json = serde_json::to_value(&answers).unwrap();
    assert_eq!(json, valid());
    let again: EligibilityAnswers = serde_json::from_value(json).unwrap();
    assert_eq!(again, answers);
    assert_eq!(valid().as_object().unwrap().len(), FIELDS.len());
}

#[test]
fn every_field_is_required() {
    for field in FIELDS {
        let mut v = valid();
        v.as_object_mut().unwrap().remove(field);
        let err = EligibilityAnswers::from_json(&v).unwrap_err();
        assert_eq!((err.field.as_str(), &err.problem), (field, &InputProblem::Missing));
        assert_eq!(err.code(), "invalid_eligibility_answers");
        assert_eq!(err.to_string(), format!("`{field}` is missing"));
    }
    for field in ["date_of_birth", "postcode"] {
        let mut v = valid();
        v["patient"].as_object_mut().unwrap().remove(field);
        let err = EligibilityAnswers::from_json(&v).unwrap_err();
        assert_eq!(err.field, format!("patient.{field}"));
        assert_eq!(err.problem, InputProblem::Missing);
    }
}

#[test]
fn unknown_fields_are_refused_at_any_level() {
    let mut v = valid();
    v["consent"] = json!(true);
    let err = EligibilityAnswers::from_json(&v).unwrap_err();
    assert_eq!((err.field.as_str(), &err.problem), ("consent", &InputProblem::Unknown));
    assert!(err.to_string().contains("not a known field"));

    let mut v = valid();
    v["patient"]["nhs_number"] = json!("9434765919");
    let err = EligibilityAnswers::from_json(&v).unwrap_err();
    assert_eq!((err.field.as_str(), &err.problem), ("patient.nhs_number", &InputProblem::Unknown));
}

#[test]
fn wrong_types_are_refused_naming_the_field() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("consent_given", json!("yes"), "consent_given"),
        ("consent_given", json!(1), "consent_given"),
        ("consent_given", Value::Null, "consent_given"),
        ("widespread", json!("false"), "widespread"),
        ("lesion_count", json!("1"), "lesion_count"),
        ("lesion_count", json!(1.5), "lesion_count"),
        ("lesion_count", json!(-1), "lesion_count"),
        ("lesion_count", json!(4_294_967_296_u64), "lesion_count"),
        ("body_sites", json!("face"), "body_sites"),
        ("body_sites", json!([1]), "body_sites[0]"),
        ("body_sites", json!(["face", "elbow"]), "body_sites[1]"),
        ("body_sites", json!(["face", "face"]), "body_sites[1]"),
        ("body_sites", json!([]), "body_sites"),
        ("condition", json!("mole"), "condition"),
        ("condition", json!("Rash"), "condition"),
        ("images_taken_by", json!("nurse"), "images_taken_by"),
        ("referral_date", json!("02/03/2026"), "referral_date"),
        ("referral_date", json!("2026-3-2"), "referral_date"),
        ("referral_date", json!("2026-02-30"), "referral_date"),
        ("referral_date", json!("2026-03-02T10:00:00Z"), "referral_date"),
        ("referral_date", json!(20260302), "referral_date"),
        ("patient", json!("E8 1DY"), "patient"),
    ];
    for (field, value, reported) in cases {
        let mut v = valid();
        v[field] = value.clone();
        let err = EligibilityAnswers::from_json(&v).unwrap_err();
        assert_eq!(err.field, reported, "{field} = {value}");
        assert!(err.to_string().contains(reported), "{err}");
    }
    let err = EligibilityAnswers::from_json(&json!([1, 2])).unwrap_err();
    assert!(matches!(err.problem, InputProblem::WrongType { expected: "an object", .. }));
}

#[test]
fn contradictory_or_impossible_answers_are_refused() {
    let mut v = valid();
    v["patient"]["date_of_birth"] = json!("2026-03-03");
    assert_eq!(EligibilityAnswers::from_json(&v).unwrap_err().field, "patient.date_of_birth");
    v["patient"]["date_of_birth"] = json!("1850-01-01");
    assert_eq!(EligibilityAnswers::from_json(&v).unwrap_err().field, "patient.date_of_birth");
    // Born on the referral date is age 0, not an error.
    v["patient"]["date_of_birth"] = json!("2026-03-02");
    assert_eq!(EligibilityAnswers::from_json(&v).unwrap().age_years(), 0);

    let mut v = valid();
    v["lesion_count"] = json!(0);
    assert_eq!(EligibilityAnswers::from_json(&v).unwrap_err().field, "lesion_count");
    v["condition"] = json!("rash");
    assert!(EligibilityAnswers::from_json(&v).is_ok());
}

#[test]
fn postcodes_are_checked_and_normalised() {
    for (input, shown, district) in [
        ("WD17 1AB", "WD17 1AB", "WD17"),
        ("wd171ab", "WD17 1AB", "WD17"),
        ("E8 1DY", "E8 1DY", "E8"),
        ("SW1A 1AA", "SW1A 1AA", "SW1A"),
        ("W1A 0AX", "W1A 0AX", "W1A"),
        ("HP23 5AA", "HP23 5AA", "HP23"),
    ] {
        let p = Postcode::parse(input).unwrap();
        assert_eq!((p.to_string().as_str(), p.district()), (shown, district), "{input}");
    }
    for bad in ["", "WD17", "WD17 1A", "1WD 1AB", "WD17-1AB", "WD17 AAB", "WD177 1AB", "ABC1 1AA", "WD17 1AB X"] {
        assert!(Postcode::parse(bad).is_err(), "{bad:?}");
        let mut v = valid();
        v["patient"]["postcode"] = json!(bad);
        assert_eq!(EligibilityAnswers::from_json(&v).unwrap_err().field, "patient.postcode", "{bad:?}");
    }
}

#[test]
fn body_site_vocabulary_is_the_documented_one() {
    let names: Vec<&str> = BodySite::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        ["breast", "perianal", "genital", "face", "scalp", "neck", "trunk", "arm", "hand", "leg", "foot", "other"]
    );
    let intimate: Vec<&str> = BodySite::ALL.iter().filter(|s| s.is_intimate()).map(|s| s.as_str()).collect();
    assert_eq!(intimate, ["breast", "perianal", "genital"]);
    for site in BodySite::ALL {
        assert_eq!(serde_json::to_value(site).unwrap(), json!(site.as_str()));
    }
}
