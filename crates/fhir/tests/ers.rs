//! The e-RS mapping and the offline adapter.

use telederm_domain::outcome::{ErsTriageOutcome, OutcomeCode};
use telederm_domain::referral::{Priority, Route};
use telederm_fhir::ers::{self, ErsAdapter, ErsCaller, ErsError, ErsMapping, OfflineErs};

fn caller() -> ErsCaller {
    ErsCaller { business_function: "SERVICE_PROVIDER_CLINICIAN".into(), ods_code: "RQX".into(), on_behalf_of: None }
}

#[test]
fn ras_mapping_is_the_domain_mapping_and_ag_follows_the_notes() {
    for code in OutcomeCode::ALL {
        assert_eq!(ers::mapping(code, Route::Ras, false), ErsMapping::RecordReviewOutcome { review_outcome: code.ers_outcome() });
    }
    assert_eq!(
        ers::mapping(OutcomeCode::NoFurtherAction, Route::AdviceAndGuidance, false),
        ErsMapping::SendGuidance { guidance_outcome: "RETURN_TO_REFERRER_WITH_ADVICE", recommendation: "ADVICE_ONLY_NO_REFERRAL_RECOMMENDED" }
    );
    assert_eq!(ers::mapping(OutcomeCode::FaceToFaceRoutine, Route::AdviceAndGuidance, true), ErsMapping::ConvertToReferral);
    assert_eq!(
        ers::mapping(OutcomeCode::FaceToFaceRoutine, Route::AdviceAndGuidance, false),
        ErsMapping::SendGuidance { guidance_outcome: "RETURN_TO_REFERRER_WITH_ADVICE", recommendation: "REFERRAL_RECOMMENDED" }
    );
    assert_eq!(ers::mapping(OutcomeCode::Rejected, Route::AdviceAndGuidance, true).outcome_code(), "RETURN_TO_REFERRER_WITH_ADVICE");
    assert_eq!(ers::outcome_priority(OutcomeCode::RedirectTwoWeekWait, None, Priority::Routine), Priority::TwoWeekWait);
}

#[test]
fn offline_adapter_writes_the_exact_requests() {
    let dir = tempfile::tempdir().unwrap();
    let ers = OfflineErs::new(dir.path()).unwrap();
    let file = ers.upload_file(&caller(), "000000070000", "outcome-letter-gp.pdf", "application/pdf", b"%PDF-1.4 test".to_vec()).unwrap();
    assert!(file.location.starts_with("Binary/"));
    ers.record_triage_outcome(&caller(), "000000070000", "3", ErsTriageOutcome::AcceptReferBookLater, "Please book to the pigmented lesion clinic", Some(Priority::Urgent), std::slice::from_ref(&file)).unwrap();
    ers.respond_to_advice_request(&caller(), "000000070001", "2", "RETURN_TO_REFERRER_WITH_ADVICE", Some("ADVICE_ONLY_NO_REFERRAL_RECOMMENDED"), "Emollients.", Priority::Routine, &[file]).unwrap();
    ers.convert_to_referral(&caller(), "000000070002", "1", "Converting: needs a face-to-face review").unwrap();

    let mut names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["0001-A020.body", "0001-A020.json", "0002-A028.json", "0003-A026.json", "0004-A027.json"]);
    assert_eq!(std::fs::read(dir.path().join("0001-A020.body")).unwrap(), b"%PDF-1.4 test");

    let read = |n: &str| -> serde_json::Value { serde_json::from_slice(&std::fs::read(dir.path().join(n)).unwrap()).unwrap() };
    let upload = read("0001-A020.json");
    assert_eq!(upload["path"], "/STU3/Binary");
    assert!(upload["headers"].as_array().unwrap().iter().any(|h| h[0] == "NHSD-eRS-Referral-ID" && h[1] == "000000070000"));
    assert_eq!(upload["offline_response"]["status"], 201);

    let a028 = read("0002-A028.json");
    assert_eq!(a028["path"], "/STU3/ReferralRequest/000000070000/$ers.recordReviewOutcome");
    assert!(a028["headers"].as_array().unwrap().iter().any(|h| h[0] == "If-Match" && h[1] == "W/\"3\""));
    let params = a028["json"]["parameter"].as_array().unwrap();
    assert_eq!(params[0]["valueCoding"]["code"], "ACCEPT_REFER_BOOK_LATER");
    assert_eq!(params[2]["valueCoding"]["code"], "URGENT");
    assert_eq!(params[3]["resource"]["type"]["coding"][0]["code"], "PROVIDER");

    let a026 = read("0003-A026.json");
    assert_eq!(a026["json"]["parameter"][1]["valueCoding"]["code"], "ADVICE_ONLY_NO_REFERRAL_RECOMMENDED");
    assert_eq!(a026["json"]["parameter"][4]["resource"]["type"]["coding"][0]["code"], "GUIDANCE_RESPONSE");
}

#[test]
fn limits_are_enforced_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let ers = OfflineErs::new(dir.path()).unwrap();
    let big = vec![0u8; ers::MAX_ATTACHMENT_BYTES + 1];
    assert!(matches!(ers.upload_file(&caller(), "1", "big.jpg", "image/jpeg", big), Err(ErsError::FileTooLarge { .. })));
    let exact = vec![0u8; ers::MAX_ATTACHMENT_BYTES];
    assert!(ers.upload_file(&caller(), "1", "exact.jpg", "image/jpeg", exact).is_ok());
    assert!(matches!(ers.upload_file(&caller(), "1", "x.heic", "image/heic", vec![1]), Err(ErsError::UnsupportedType(_))));
    let long = "a".repeat(ers::MAX_GUIDANCE_CHARS + 1);
    assert!(matches!(ers.respond_to_advice_request(&caller(), "1", "1", "REQUIRE_FURTHER_INFORMATION", None, &long, Priority::Routine, &[]), Err(ErsError::TooLong { .. })));
    assert!(matches!(
        ers.record_triage_outcome(&caller(), "1", "1", ErsTriageOutcome::RequireFurtherInformation, "x", None, &[]),
        Err(ErsError::NotApplicable(_))
    ));
    // Only the one good upload was written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json")).count(), 1);
}

/// The letters' "who acts next" table (hazard log H1) agrees with what e-RS is told: the provider
/// books exactly where e-RS puts the patient on the provider's list.
#[test]
fn the_next_step_table_agrees_with_the_ers_mapping() {
    use telederm_domain::outcome::{NextOwner, next_step};
    for route in [Route::AdviceAndGuidance, Route::Ras] {
        for code in OutcomeCode::ALL {
            for conv in [false, true] {
                let on_providers_list = matches!(
                    ers::mapping(code, route, conv),
                    ErsMapping::ConvertToReferral | ErsMapping::RecordReviewOutcome { review_outcome: ErsTriageOutcome::AcceptReferBookLater }
                );
                let books = next_step(route, code, conv).owner == NextOwner::ProviderBooks;
                assert_eq!(books, on_providers_list, "{route:?} {code:?} conversion_authorised={conv}");
            }
        }
    }
}
