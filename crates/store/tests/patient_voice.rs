//! What the patient tells and does through their link, on both databases: a photo removed only
//! from the link it came through and only before finishing (its place given back); answers that
//! the referrer's edits never overwrite; feedback once per referral, counted and listed per service.

use chrono::{DateTime, Duration, TimeZone, Utc};
use telederm_domain::patient_voice::{FeedbackRating, PatientAnswers};
use telederm_domain::policy::{ImageSource, PhotoKind, Verdict};
use telederm_domain::{PhotoId, ReferralId};
use telederm_store::patient_feedback::PatientFeedback;
use telederm_store::patient_links::{LinkPurpose, PatientLink};
use telederm_store::testkit::Practice;
use telederm_store::{NewAuditEntry, PhotoRecord, Store, StoreError};

telederm_store::on_both_databases!(store:
    a_photo_is_removed_only_from_its_link_before_finishing,
    answers_survive_the_referrers_edits,
    feedback_is_once_per_referral_and_counted_per_service,
);

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minute)
}

fn entry(action: &str) -> NewAuditEntry {
    NewAuditEntry { actor_label: "patient (link)".into(), action: action.into(), record_type: "patient_link".into(), ..NewAuditEntry::default() }
}

fn link(referral: ReferralId, purpose: LinkPurpose, n: u8) -> PatientLink {
    PatientLink {
        id: uuid::Uuid::new_v4(),
        token_hash: format!("{n}").repeat(64),
        referral_id: referral,
        purpose,
        created_by: None,
        created_at: at(0),
        expires_at: at(60 * 24 * 7),
        revoked_at: None,
        failed_attempts: 0,
        locked_at: None,
        verified_at: None,
        max_photos: 5,
        photos_uploaded: 0,
        submitted_at: None,
    }
}

fn photo(referral: ReferralId, n: u8) -> PhotoRecord {
    let k = |c: char| std::iter::repeat_n(c, 63).collect::<String>() + &n.to_string();
    PhotoRecord {
        face_confirmed: None,
        id: PhotoId::new(),
        referral_id: referral,
        kind: PhotoKind::CloseUp,
        source: ImageSource::Patient,
        uploaded_by: None,
        original_key: k('a'),
        original_type: "image/jpeg".into(),
        attachment_key: k('b'),
        preview_key: k('c'),
        thumbnail_key: k('d'),
        width: 4032,
        height: 3024,
        size_bytes: 2_000_000,
        verdict: Verdict::Warn,
        report: serde_json::json!({"issues": []}),
        created_at: at(i64::from(n)),
    }
}

async fn allowance_used(store: &Store, link: uuid::Uuid, referral: ReferralId) -> i64 {
    store.list_patient_links(referral).await.unwrap().into_iter().find(|l| l.id == link).unwrap().photos_uploaded
}

async fn a_photo_is_removed_only_from_its_link_before_finishing(store: &Store) {
    let practice = Practice::seed(store).await;
    let r = practice.draft(at(0));
    store.insert_referral(&r).await.unwrap();
    let (mine, other) = (link(r.id, LinkPurpose::Upload, 1), link(r.id, LinkPurpose::Upload, 2));
    for l in [&mine, &other] {
        store.create_patient_link_notifying(l, &[], &entry("patient_link.create")).await.unwrap();
    }
    let (a, b, c) = (photo(r.id, 1), photo(r.id, 2), photo(r.id, 3));
    for (l, p) in [(&mine, &a), (&mine, &b), (&other, &c)] {
        assert!(store.take_patient_link_photo(l.id).await.unwrap());
        store.insert_patient_link_photo(l.id, p, &entry("photo.upload")).await.unwrap();
    }
    let mut ids = store.patient_link_photo_ids(mine.id).await.unwrap();
    ids.sort();
    let mut want = vec![a.id.to_string(), b.id.to_string()];
    want.sort();
    assert_eq!(ids, want);

    // Another link's photo is not this link's to remove.
    let refused = store.remove_patient_link_photo(mine.id, &c.id.to_string(), &entry("photo.delete")).await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    store.remove_patient_link_photo(mine.id, &a.id.to_string(), &entry("photo.delete")).await.unwrap();
    assert_eq!(allowance_used(store, mine.id, r.id).await, 1, "the place comes back");
    let left: Vec<String> = store.list_photos(r.id).await.unwrap().iter().map(|p| p.id.to_string()).collect();
    assert!(!left.contains(&a.id.to_string()) && left.len() == 2);
    assert_eq!(store.patient_link_photo_ids(mine.id).await.unwrap(), vec![b.id.to_string()]);

    // Finished: nothing more is removed.
    store.submit_patient_link(mine.id, at(30), &[], &entry("patient_link.submit")).await.unwrap();
    let refused = store.remove_patient_link_photo(mine.id, &b.id.to_string(), &entry("photo.delete")).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(store.list_photos(r.id).await.unwrap().len(), 2);

    // The practice deleting a patient's photo takes its link row with it.
    store.delete_photo_audited(c.id, &entry("photo.delete")).await.unwrap();
    assert!(store.patient_link_photo_ids(other.id).await.unwrap().is_empty());
}

async fn answers_survive_the_referrers_edits(store: &Store) {
    let practice = Practice::seed(store).await;
    let r = practice.draft(at(0));
    store.insert_referral(&r).await.unwrap();
    let mut stale = store.get_referral(r.id).await.unwrap();
    assert_eq!(stale.patient_answers, None);
    let answers = PatientAnswers::new("Two weeks", "Itchy", "", "Emollient", at(5)).unwrap();
    store.set_patient_answers(r.id, &answers, &entry("patient_answers.save")).await.unwrap();
    let read = store.get_referral(r.id).await.unwrap();
    assert_eq!(read.patient_answers.as_ref(), Some(&answers));
    assert_eq!(read.version, stale.version, "the patient's answers do not move the referrer's version");
    // The referrer saves the copy they read before the patient answered: accepted, and the answers stay.
    stale.history.presenting_complaint = "Rash".into();
    store.update_referral(&mut stale, None, None).await.unwrap();
    let after = store.get_referral(r.id).await.unwrap();
    assert_eq!(after.history.presenting_complaint, "Rash");
    assert_eq!(after.patient_answers, Some(answers));
    assert!(matches!(store.set_patient_answers(ReferralId::new(), &after.patient_answers.unwrap(), &entry("x")).await, Err(StoreError::NotFound)));
}

async fn feedback_is_once_per_referral_and_counted_per_service(store: &Store) {
    let practice = Practice::seed(store).await;
    let mut made = Vec::new();
    for (i, (service, rating, comment)) in
        [("homerton", FeedbackRating::Good, "Clear advice"), ("homerton", FeedbackRating::Good, ""), ("hackney-rash", FeedbackRating::Poor, "Slow")]
            .into_iter()
            .enumerate()
    {
        let mut r = practice.draft(at(0));
        r.service_id = service.into();
        store.insert_referral(&r).await.unwrap();
        let l = link(r.id, LinkPurpose::Status, i as u8 + 1);
        store.create_patient_link_notifying(&l, &[], &entry("patient_link.create")).await.unwrap();
        let f = PatientFeedback {
            id: uuid::Uuid::new_v4(),
            referral_id: r.id,
            link_id: l.id,
            service_id: service.into(),
            rating,
            comment: comment.into(),
            created_at: at(i as i64 + 10),
        };
        store.insert_patient_feedback(&f, &entry("patient_feedback.create")).await.unwrap();
        made.push(f);
    }
    // Once per referral.
    let again = PatientFeedback { id: uuid::Uuid::new_v4(), rating: FeedbackRating::VeryPoor, ..made[0].clone() };
    assert!(matches!(store.insert_patient_feedback(&again, &entry("patient_feedback.create")).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.patient_feedback_for(made[0].referral_id).await.unwrap(), Some(made[0].clone()));

    let homerton = vec!["homerton".to_string()];
    assert_eq!(store.count_patient_feedback(&homerton).await.unwrap(), vec![(FeedbackRating::Good, 2)]);
    let both = vec!["homerton".to_string(), "hackney-rash".to_string()];
    let mut counts = store.count_patient_feedback(&both).await.unwrap();
    counts.sort();
    assert_eq!(counts, vec![(FeedbackRating::Good, 2), (FeedbackRating::Poor, 1)]);
    assert!(store.count_patient_feedback(&[]).await.unwrap().is_empty(), "no services, nothing");
    // Newest first; comments only when asked; limited.
    let all = store.list_patient_feedback(&both, false, None).await.unwrap();
    assert_eq!(all.iter().map(|f| f.id).collect::<Vec<_>>(), vec![made[2].id, made[1].id, made[0].id]);
    let commented = store.list_patient_feedback(&homerton, true, Some(5)).await.unwrap();
    assert_eq!(commented, vec![made[0].clone()]);
    assert_eq!(store.list_patient_feedback(&both, false, Some(1)).await.unwrap().len(), 1);
}
