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
