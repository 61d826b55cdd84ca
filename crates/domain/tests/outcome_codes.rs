//! Outcome codes and labels as `docs/outcomes.md` ("Meaning") lists them, read from the document
//! rather than from the code (issue 19: `OutcomeCode::label` returning "" survived every other
//! test under cargo-mutants). NHS numbers print as their ten digits.

use telederm_domain::NhsNumber;
use telederm_domain::outcome::OutcomeCode;

#[test]
fn every_outcome_code_has_the_label_the_document_gives() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/outcomes.md")).unwrap();
    let meaning = &doc[doc.find("## Meaning").expect("a Meaning section")..];
    // Rows of the table: | `code` | Label | Meaning | Needs |
    let rows: Vec<(String, String)> = meaning
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect();
    assert_eq!(rows.len(), OutcomeCode::ALL.len(), "one row per code: {rows:?}");
    for (code, label) in rows {
        let c = OutcomeCode::parse(&code).unwrap_or_else(|| panic!("{code} in docs/outcomes.md is not a code"));
        assert_eq!(c.label(), label, "{code}");
    }
}

#[test]
fn an_nhs_number_prints_as_its_ten_digits() {
    let n = NhsNumber::parse("943 476 5919").unwrap();
    assert_eq!(n.to_string(), "9434765919");
    assert_eq!(format!("{n:?}"), "NhsNumber(9434765919)");
    assert_eq!(n.formatted(), "943 476 5919");
}

use telederm_domain::outcome::{Outcome, OutcomeError, RejectionReason};
use telederm_domain::referral::{Action, ReferralStatus};

#[test]
fn rejection_reasons_are_the_documented_ones_with_distinct_labels() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/outcomes.md")).unwrap();
    let row = doc.lines().find(|l| l.starts_with("| `rejected` |")).expect("the rejected row");
    let listed: Vec<&str> = row.split("`rejection_reason`:").nth(1).unwrap().split('`').skip(1).step_by(2).collect();
    let codes: Vec<&str> = RejectionReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(codes, listed);
    for code in listed {
        assert_eq!(RejectionReason::parse(code).map(RejectionReason::as_str), Some(code));
    }
    assert_eq!(RejectionReason::parse("blurry"), None);
    // What the GP reads: a sentence of its own for each reason.
    let labels: std::collections::BTreeSet<&str> = RejectionReason::ALL.iter().map(|r| r.label()).collect();
    assert_eq!(labels.len(), RejectionReason::ALL.len());
    assert!(labels.iter().all(|l| l.len() > 10 && l.starts_with(|c: char| c.is_ascii_uppercase())), "{labels:?}");
}

#[test]
fn only_urgent_appointments_and_two_week_wait_redirects_are_urgent() {
    let urgent: Vec<OutcomeCode> = OutcomeCode::ALL.into_iter().filter(|c| c.is_urgent()).collect();
    assert_eq!(urgent, [OutcomeCode::FaceToFaceUrgent, OutcomeCode::RedirectTwoWeekWait]);
}

#[test]
fn a_rejection_and_only_a_rejection_has_a_reason() {
    let outcome = |code, rejection_reason| Outcome {
        code,
        rejection_reason,
        diagnosis: "Eczema".into(),
        diagnosis_code: None,
        management_plan: "Emollients twice daily".into(),
        follow_up: String::new(),
        priority: None,
        onward_service: None,
        recorded_by: telederm_domain::UserId::new(),
        recorded_at: chrono::Utc::now(),
    };
    assert_eq!(outcome(OutcomeCode::Rejected, None).validate(), Err(OutcomeError::RejectionNeedsReason));
    assert_eq!(outcome(OutcomeCode::Rejected, Some(RejectionReason::Ineligible)).validate(), Ok(()));
    assert_eq!(outcome(OutcomeCode::AdviceManagementPlan, Some(RejectionReason::Ineligible)).validate(), Err(OutcomeError::ReasonWithoutRejection));
    assert_eq!(outcome(OutcomeCode::AdviceManagementPlan, None).validate(), Ok(()));
}

#[test]
fn a_refused_step_says_what_the_referral_is_and_what_to_do() {
    let said = |from: ReferralStatus, action| from.after(action).unwrap_err().to_string();
    assert_eq!(said(ReferralStatus::Draft, Action::Claim), "a referral that is a draft cannot be claimed: submit it first");
    assert!(said(ReferralStatus::Submitted, Action::IssueOutcome).ends_with("cannot be given an outcome: a consultant must claim it first"));
    assert!(said(ReferralStatus::Closed, Action::Submit).ends_with("cannot be submitted: an outcome has already been issued"));
    assert!(said(ReferralStatus::Withdrawn, Action::Reply).ends_with("cannot be replied to: it was withdrawn; start a new referral"));
}

#[test]
fn statuses_have_the_names_the_api_uses() {
    for s in ReferralStatus::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        assert_eq!(ReferralStatus::parse(s.as_str()), Some(s));
    }
    assert_eq!(ReferralStatus::AwaitingInformation.as_str(), "awaiting_information");
}
