//! The retention purge on SQLite and PostgreSQL: expired referrals go with their photos, blobs,
//! messages and events, each purge in the audit trail without clinical content; a dry run changes
//! nothing; work in progress, recent records and children before their 25th birthday stay.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::{Action, ClinicalHistory, Message, MessageKind, ReferralStatus};
use telederm_domain::retention::RetentionPolicy;
use telederm_domain::{MessageId, PhotoId, ReferralId};
use telederm_store::audit::AuditFilter;
use telederm_store::blobs::BlobStore;
use telederm_store::testkit::{Practice, TestDatabase};
use telederm_store::{Dialect, EventRecord, PhotoRecord, Store, StoreError};

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

/// A referral in `status`, last touched at `last`, for a patient born on `dob`, with one photo
/// (blobs `blob_seed`), one message and one event.
async fn referral(store: &Store, blobs: &BlobStore, w: &Practice, status: ReferralStatus, dob: NaiveDate, last: DateTime<Utc>, blob_seed: u8) -> ReferralId {
    let mut r = w.draft(last);
    r.history = ClinicalHistory { presenting_complaint: "Secret clinical detail".into(), ..Default::default() };
    r.patient.date_of_birth = dob;
    store.insert_referral(&r).await.unwrap();
    let keys: Vec<String> = futures_keys(blobs, blob_seed).await;
    store
        .insert_photo(&PhotoRecord {
            face_confirmed: None,
            id: PhotoId::new(),
            referral_id: r.id,
            kind: PhotoKind::CloseUp,
            source: ImageSource::Clinician,
            uploaded_by: Some(w.gp.id),
            original_key: keys[0].clone(),
            original_type: "image/jpeg".into(),
            attachment_key: keys[1].clone(),
            preview_key: keys[2].clone(),
            thumbnail_key: keys[3].clone(),
            width: 10,
            height: 10,
            size_bytes: 10,
            verdict: telederm_domain::policy::Verdict::Accept,
            report: serde_json::json!({}),
            created_at: last,
        })
        .await
        .unwrap();
    r.status = status;
    if status != ReferralStatus::Draft {
        r.submitted_at = Some(last);
    }
    let event = EventRecord { actor_id: Some(w.gp.id), action: Action::Submit, from_status: Some(ReferralStatus::Draft), to_status: status, at: last };
    let message = Message { id: MessageId::new(), referral_id: r.id, kind: MessageKind::Reply, author_id: Some(w.gp.id), author_name: "Dr GP".into(), body: "Secret message".into(), created_at: last, topic: None };
    store.update_referral(&mut r, Some(&event), Some(&message)).await.unwrap();
    r.id
}

/// Four blobs per seed (the same seed gives the same bytes, so the same blobs).
async fn futures_keys(blobs: &BlobStore, seed: u8) -> Vec<String> {
    let mut keys = Vec::new();
    for i in 0..4u8 {
        let bytes = if i == 0 { vec![seed; 32] } else { vec![seed, i, 7, 7] };
        keys.push(blobs.put(bytes).await.unwrap());
    }
    keys
}

async fn purge(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(&format!("file://{}", dir.path().display())).unwrap();
    let w = Practice::seed(store).await;
    let adult = NaiveDate::from_ymd_opt(1960, 1, 1).unwrap();
    let child = NaiveDate::from_ymd_opt(2008, 6, 1).unwrap();
    let old = referral(store, &blobs, &w, ReferralStatus::Closed, adult, t(2015, 1, 5), 1).await;
    let old_draft = referral(store, &blobs, &w, ReferralStatus::Draft, adult, t(2016, 2, 1), 2).await;
    let in_progress = referral(store, &blobs, &w, ReferralStatus::InReview, adult, t(2015, 1, 5), 3).await;
    // The same photo bytes as `old`: its blobs must stay.
    let recent = referral(store, &blobs, &w, ReferralStatus::Closed, adult, t(2024, 1, 5), 1).await;
    // Seen at 8: kept until the 25th birthday in 2033, long after 8 years (2024).
    let young = referral(store, &blobs, &w, ReferralStatus::Closed, child, t(2016, 1, 5), 5).await;
    let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let policy = RetentionPolicy::default();
    // Teaching cases go with their referral (issue 17).
    for r in [old, recent] {
        let case = telederm_domain::teaching::TeachingCase {
            id: uuid::Uuid::now_v7(),
            service_id: "hackney-rash".into(),
            note: "Teaching note".into(),
            age_band: "45-64".into(),
            sex: telederm_domain::patient::Sex::Female,
            body_sites: vec![],
            outcome: telederm_domain::outcome::OutcomeCode::AdviceManagementPlan,
            diagnosis: "Eczema".into(),
            diagnosis_code: None,
            photos: vec![],
            marked_at: t(2024, 2, 1),
        };
        let entry = telederm_store::NewAuditEntry { actor_label: "test".into(), action: "teaching.mark".into(), record_type: "referral".into(), ..Default::default() };
        store.save_teaching_case(r, w.gp.id.0, &case, &entry).await.unwrap();
    }

    let dry = store.run_retention(&blobs, &policy, today, true, "test").await.unwrap();
    let mut expired: Vec<String> = dry.expired.iter().map(|e| e.referral_id.clone()).collect();
    expired.sort();
    let mut want = vec![old.to_string(), old_draft.to_string()];
    want.sort();
    assert_eq!(expired, want);
    assert_eq!((dry.examined, dry.purged), (5, 0));
    store.get_referral(old).await.expect("a dry run changes nothing");
    let blobs_before = blobs.list().await.unwrap().len();
    assert_eq!(blobs_before, 16);

    let report = store.run_retention(&blobs, &policy, today, false, "job:retention_purge").await.unwrap();
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!((report.purged, report.photos, report.messages, report.events, report.blobs_deleted), (2, 2, 2, 2, 4));
    for gone in [old, old_draft] {
        assert!(matches!(store.get_referral(gone).await, Err(StoreError::NotFound)));
        assert!(store.list_photos(gone).await.unwrap().is_empty());
        assert!(store.list_messages(gone).await.unwrap().is_empty());
        assert!(store.list_events(gone).await.unwrap().is_empty());
    }
    assert_eq!(store.teaching_case_of(old).await.unwrap(), None, "the teaching case went with its referral");
    assert!(store.teaching_case_of(recent).await.unwrap().is_some());
    for kept in [in_progress, recent, young] {
        store.get_referral(kept).await.expect("kept");
        assert_eq!(store.list_photos(kept).await.unwrap().len(), 1);
    }
    assert_eq!(blobs.list().await.unwrap().len(), 12);

    let entries = store.search_audit(&AuditFilter { action: Some("retention.purge".into()), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(entries.len(), 2);
    for e in &entries {
        assert_eq!(e.actor_label, "job:retention_purge");
        assert!(e.detail.contains("photos=1") && e.detail.contains("messages=1"), "{}", e.detail);
        for secret in ["Lovelace", "Secret", "9434765919", "ada@"] {
            assert!(!e.detail.contains(secret) && !e.record_id.clone().unwrap_or_default().contains(secret));
        }
    }
    assert!(store.verify_audit().await.unwrap().broken.is_none());
    // The practice-quality report's month totals lose the purged referral with its facts.
    let received = |c: Vec<telederm_store::reports::QualityCounts>| c.iter().map(|c| c.referrals).sum::<i64>();
    let (first, last) = (NaiveDate::from_ymd_opt(2014, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 5, 31).unwrap());
    assert_eq!(received(store.practice_quality_counts(None, first, last).await.unwrap()), 3, "in progress, recent and young");
    store.rebuild_report_months().await.unwrap();
    assert_eq!(received(store.practice_quality_counts(None, first, last).await.unwrap()), 3);
    // Nothing left to do.
    let again = store.run_retention(&blobs, &policy, today, false, "test").await.unwrap();
    assert_eq!((again.examined, again.purged), (3, 0));
}

#[tokio::test]
async fn purge_on_sqlite() {
    let db = TestDatabase::new(Dialect::Sqlite).await;
    let store = db.store().await;
    purge(&store).await;
    store.close().await;
}

#[tokio::test]
async fn purge_on_postgres() {
    let db = TestDatabase::new(Dialect::Postgres).await;
    let store = db.store().await;
    purge(&store).await;
    store.close().await;
}
