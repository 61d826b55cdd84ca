//! The referral's own rules, each pinned where cargo-mutants found a wrong answer no test caught
//! (issue 19): which statuses the service still owes an answer on, the topics a consultant can
//! ask about, and e-RS booking numbers as typed and as shown.

use telederm_domain::referral::{InformationTopic, ReferralStatus, parse_ubrn, ubrn_display};

#[test]
fn the_service_owes_an_answer_only_while_submitted_in_review_or_waiting() {
    let open: Vec<ReferralStatus> = ReferralStatus::ALL.into_iter().filter(|s| s.is_open_for_service()).collect();
    assert_eq!(open, [ReferralStatus::Submitted, ReferralStatus::InReview, ReferralStatus::AwaitingInformation]);
}

#[test]
fn information_topics_round_trip_with_their_own_labels() {
    let names: Vec<&str> = InformationTopic::ALL.iter().map(|t| t.as_str()).collect();
    // The API's `topic` values (the OpenAPI enum of `InformationTopic`).
    assert_eq!(names, ["photos", "dermoscopy", "history", "treatment", "other"]);
    for t in InformationTopic::ALL {
        assert_eq!(InformationTopic::parse(t.as_str()), Some(t));
        assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(t.as_str()));
    }
    assert_eq!(InformationTopic::parse("photo"), None);
    let labels: std::collections::BTreeSet<&str> = InformationTopic::ALL.iter().map(|t| t.label()).collect();
    assert_eq!(labels.len(), 5);
    assert!(labels.iter().all(|l| l.len() > 5 && l.starts_with(|c: char| c.is_ascii_uppercase())), "{labels:?}");
}

#[test]
fn a_ubrn_is_twelve_digits_however_it_is_typed() {
    assert_eq!(parse_ubrn("0000 4000 1234").as_deref(), Some("000040001234"));
    assert_eq!(parse_ubrn("0000-4000-1234").as_deref(), Some("000040001234"));
    assert_eq!(parse_ubrn("000040001234").as_deref(), Some("000040001234"));
    for bad in ["", "00004000123", "0000400012345", "0000 4000 123X", "0000_4000_1234"] {
        assert_eq!(parse_ubrn(bad), None, "{bad:?}");
    }
    assert_eq!(ubrn_display("000040001234"), "0000 4000 1234");
}

/// A whole draft referral, as the GP's form makes one.
fn draft(created: chrono::DateTime<chrono::Utc>) -> telederm_domain::referral::Referral {
    use telederm_domain::patient::{Contact, Patient, Sex};
    use telederm_domain::referral::{ClinicalHistory, Priority, Referral, Route};
    Referral {
        id: telederm_domain::ReferralId::new(),
        service_id: "homerton".into(),
        route: Route::Ras,
        priority: Priority::Routine,
        status: ReferralStatus::Draft,
        practice_id: telederm_domain::OrganisationId::new(),
        referrer_id: telederm_domain::UserId::new(),
        assignee_id: None,
        patient: Patient {
            nhs_number: telederm_domain::NhsNumber::parse("943 476 5919").unwrap(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1980, 5, 17).unwrap(),
            sex: Sex::Female,
            postcode: "E8 1DY".into(),
            contact: Contact::default(),
            ethnic_category: None,
            fitzpatrick_type: None,
        },
        history: ClinicalHistory {
            presenting_complaint: "Changing mole".into(),
            duration: "3 months".into(),
            body_sites: vec!["back".into()],
            treatments_tried: String::new(),
            relevant_history: String::new(),
            medication: String::new(),
            allergies: String::new(),
        },
        consent: None,
        eligibility_answers: None,
        eligibility: None,
        conversion_authorised: false,
        ubrn: None,
        outcome: None,
        created_at: created,
        updated_at: created,
        submitted_at: None,
        due_date: None,
        version: 1,
        patient_answers: None,
    }
}

/// Applying an action moves the referral along the state machine of docs/outcomes.md and stamps
/// the time; a refused action leaves it exactly as it was.
#[test]
fn applying_an_action_moves_the_referral_and_stamps_the_time() {
    use chrono::TimeZone;
    use telederm_domain::referral::Action;
    let t0 = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let t1 = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 10, 30, 0).unwrap();
    let mut r = draft(t0);
    r.apply(Action::Submit, t1).unwrap();
    assert_eq!(r.status, ReferralStatus::Submitted);
    assert_eq!(r.updated_at, t1);
    r.apply(Action::Claim, t1).unwrap();
    assert_eq!(r.status, ReferralStatus::InReview);

    let before = r.clone();
    let refused = r.apply(Action::Submit, chrono::Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap()).unwrap_err();
    assert_eq!((refused.from, refused.action), (ReferralStatus::InReview, Action::Submit));
    assert_eq!(r, before, "a refused action changes nothing, not even the time");
}
