//! The one count of a referral's required photos, used by the GP's photos page and by the submit
//! rules: they can no longer disagree about what is missing.

use chrono::Utc;
use telederm_app::referrals::{condition_of, required_photos};
use telederm_domain::policy::{Condition, ImageSource, PhotoKind, Verdict, builtin};
use telederm_domain::{PhotoId, ReferralId};
use telederm_store::PhotoRecord;

fn photo(kind: PhotoKind, verdict: Verdict) -> PhotoRecord {
    PhotoRecord {
        face_confirmed: None,
        id: PhotoId::new(),
        referral_id: ReferralId::new(),
        kind,
        source: ImageSource::Clinician,
        uploaded_by: None,
        original_key: String::new(),
        original_type: "image/jpeg".into(),
        attachment_key: String::new(),
        preview_key: String::new(),
        thumbnail_key: String::new(),
        width: 1600,
        height: 1200,
        size_bytes: 1,
        verdict,
        report: serde_json::json!({}),
        created_at: Utc::now(),
    }
}

#[test]
fn refused_photos_never_count_and_the_condition_decides_the_dermoscopic_view() {
    let homerton = builtin().into_iter().find(|p| p.id == "homerton").expect("the Homerton seed service");
    let photos = [
        photo(PhotoKind::Locator, Verdict::Accept),
        photo(PhotoKind::CloseUp, Verdict::Warn),
        photo(PhotoKind::CloseUp, Verdict::Reject),
    ];
    let summary = |condition| -> Vec<(PhotoKind, u32, usize)> {
        required_photos(&homerton, condition, &photos).into_iter().map(|(r, have)| (r.kind, r.count, have)).collect()
    };
    // Homerton: one locator and two close-ups for everything; a lesion also needs a dermoscopic view.
    assert_eq!(summary(None), vec![(PhotoKind::Locator, 1, 1), (PhotoKind::CloseUp, 2, 1)]);
    assert_eq!(summary(Some(Condition::Rash)), vec![(PhotoKind::Locator, 1, 1), (PhotoKind::CloseUp, 2, 1)]);
    assert_eq!(
        summary(Some(Condition::Lesion)),
        vec![(PhotoKind::Locator, 1, 1), (PhotoKind::CloseUp, 2, 1), (PhotoKind::Dermoscopic, 1, 0)]
    );
}

#[test]
fn the_condition_is_read_from_an_unfinished_checklist() {
    let mut r = blank_referral();
    r.eligibility_answers = Some(serde_json::json!({ "condition": "lesion" }));
    assert_eq!(condition_of(&r), Some(Condition::Lesion));
    r.eligibility_answers = Some(serde_json::json!({ "condition": "rash", "age": "not a number" }));
    assert_eq!(condition_of(&r), Some(Condition::Rash));
    r.eligibility_answers = Some(serde_json::json!({ "condition": "wart" }));
    assert_eq!(condition_of(&r), None);
    r.eligibility_answers = None;
    assert_eq!(condition_of(&r), None);
}

fn blank_referral() -> telederm_domain::referral::Referral {
    use telederm_domain::referral::{ClinicalHistory, Priority, Referral, ReferralStatus, Route};
    let now = Utc::now();
    Referral {
        id: ReferralId::new(),
        service_id: "homerton".into(),
        route: Route::Ras,
        priority: Priority::Routine,
        status: ReferralStatus::Draft,
        practice_id: Default::default(),
        referrer_id: Default::default(),
        assignee_id: None,
        patient: serde_json::from_value(serde_json::json!({
            "nhs_number": "9434765919", "given_name": "A", "family_name": "B", "date_of_birth": "1980-01-01", "sex": "female", "postcode": "E8 1AA", "contact": {}
        }))
        .expect("a patient"),
        history: ClinicalHistory::default(),
        consent: None,
        eligibility_answers: None,
        eligibility: None,
        conversion_authorised: false,
        ubrn: None,
        outcome: None,
        created_at: now,
        updated_at: now,
        submitted_at: None,
        due_date: None,
        version: 1,
        patient_answers: None,
    }
}
