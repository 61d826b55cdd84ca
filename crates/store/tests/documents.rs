//! Documents on a referral (migration 0020) on SQLite and PostgreSQL: written with their audit
//! entry, listed oldest first, removed; their blobs count as referenced for the orphan sweep until
//! the row goes; the retention purge removes them with their referral and their blob; `db copy`
//! moves them.

use chrono::{DateTime, Duration, TimeZone, Utc};
use telederm_domain::document::DocumentKind;
use telederm_domain::referral::ReferralStatus;
use telederm_domain::retention::RetentionPolicy;
use telederm_domain::{DocumentId, ReferralId};
use telederm_store::blobs::BlobStore;
use telederm_store::copy::copy_database;
use telederm_store::testkit::{Practice, TestDatabase};
use telederm_store::{DocumentRecord, NewAuditEntry, Store, StoreError, sweep_orphan_blobs};

telederm_store::on_both_databases!(store:
    documents_round_trip_with_their_audit_entries,
    document_blobs_are_referenced_until_removed,
    retention_removes_documents_and_their_blobs,
);

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap()
}

fn document(referral: ReferralId, kind: DocumentKind, title: Option<&str>, key: &str, at: DateTime<Utc>, by: Option<telederm_domain::UserId>) -> DocumentRecord {
    DocumentRecord {
        id: DocumentId::new(),
        referral_id: referral,
        kind,
        title: title.map(str::to_string),
        blob_key: key.to_string(),
        size_bytes: 1234,
        sha256: key.to_string(),
        uploaded_by: by,
        created_at: at,
    }
}

fn audit(action: &str) -> NewAuditEntry {
    NewAuditEntry { actor_label: "gp@example.nhs.uk".into(), action: action.into(), record_type: "document".into(), ..Default::default() }
}

async fn documents_round_trip_with_their_audit_entries(store: &Store) {
    let w = Practice::seed(store).await;
    let r = w.draft(t(2026, 3, 2));
    store.insert_referral(&r).await.unwrap();
    let letter = document(r.id, DocumentKind::ReferralLetter, Some("Letter — Dr O'Neil ✓"), &"a".repeat(64), t(2026, 3, 2), Some(w.gp.id));
    let consent = document(r.id, DocumentKind::ConsentForm, None, &"b".repeat(64), t(2026, 3, 1), None);
    store.insert_document_audited(&letter, &audit("document.upload")).await.unwrap();
    store.insert_document_audited(&consent, &audit("document.upload")).await.unwrap();
    assert_eq!(store.list_documents(r.id).await.unwrap(), vec![consent.clone(), letter.clone()], "oldest first, as written");
    assert_eq!(store.get_document(letter.id).await.unwrap(), letter);
    assert_eq!(store.count_documents(r.id).await.unwrap(), 2);
    assert!(store.list_documents(ReferralId::new()).await.unwrap().is_empty());
    // The same id twice is a conflict, not a database error.
    let e = store.insert_document_audited(&letter, &audit("document.upload")).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");

    store.delete_document_audited(consent.id, &audit("document.delete")).await.unwrap();
    assert!(matches!(store.get_document(consent.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_document_audited(consent.id, &audit("document.delete")).await, Err(StoreError::NotFound)));
    assert_eq!(store.count_documents(r.id).await.unwrap(), 1);
    // Each write has its entry; the refused delete has none (the app layer records refusals).
    let entries = store.search_audit(&telederm_store::AuditFilter::default()).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "document.upload").count(), 2, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "document.delete").count(), 1, "{actions:?}");
}

async fn document_blobs_are_referenced_until_removed(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(&format!("file://{}", dir.path().display())).unwrap();
    let w = Practice::seed(store).await;
    let r = w.draft(t(2026, 3, 2));
    store.insert_referral(&r).await.unwrap();
    let key = blobs.put(b"%PDF-1.4 a document".to_vec()).await.unwrap();
    let orphan = blobs.put(b"%PDF-1.4 nobody's".to_vec()).await.unwrap();
    let doc = document(r.id, DocumentKind::Other, None, &key, t(2026, 3, 2), None);
    store.insert_document_audited(&doc, &audit("document.upload")).await.unwrap();
    assert!(store.referenced_blob_keys().await.unwrap().contains(&key));
    let among = store.referenced_blob_keys_among(&[key.clone(), orphan.clone()]).await.unwrap();
    assert_eq!(among, [key.clone()].into_iter().collect());

    let later = Utc::now() + Duration::hours(2);
    let report = sweep_orphan_blobs(store, &blobs, later, false).await.unwrap();
    assert_eq!(report.removed, vec![orphan.clone()], "only the unreferenced blob goes");
    assert!(blobs.exists(&key).await.unwrap());

    store.delete_document_audited(doc.id, &audit("document.delete")).await.unwrap();
    let report = sweep_orphan_blobs(store, &blobs, later, false).await.unwrap();
    assert_eq!(report.removed, vec![key.clone()], "the removed document's blob is an orphan now");
}

async fn retention_removes_documents_and_their_blobs(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(&format!("file://{}", dir.path().display())).unwrap();
    let w = Practice::seed(store).await;
    let mut old = w.draft(t(2015, 1, 5));
    old.status = ReferralStatus::Closed;
    store.insert_referral(&old).await.unwrap();
    let mut kept = w.draft(t(2015, 1, 5));
    kept.status = ReferralStatus::Closed;
    store.insert_referral(&kept).await.unwrap();
    let shared = blobs.put(b"%PDF-1.4 the same consent form".to_vec()).await.unwrap();
    let own = blobs.put(b"%PDF-1.4 only the old referral's letter".to_vec()).await.unwrap();
    store.insert_document_audited(&document(old.id, DocumentKind::ReferralLetter, None, &own, t(2015, 1, 5), None), &audit("document.upload")).await.unwrap();
    store.insert_document_audited(&document(old.id, DocumentKind::ConsentForm, None, &shared, t(2015, 1, 5), None), &audit("document.upload")).await.unwrap();
    // A recent document keeps the other referral (its last activity) and the shared blob.
    store.insert_document_audited(&document(kept.id, DocumentKind::ConsentForm, None, &shared, t(2025, 6, 1), None), &audit("document.upload")).await.unwrap();

    let today = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let report = store.run_retention(&blobs, &RetentionPolicy::default(), today, false, "test").await.unwrap();
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!((report.purged, report.documents, report.blobs_deleted), (1, 2, 1), "{report:?}");
    assert!(matches!(store.get_referral(old.id).await, Err(StoreError::NotFound)));
    assert!(store.list_documents(old.id).await.unwrap().is_empty());
    assert!(!blobs.exists(&own).await.unwrap());
    assert!(blobs.exists(&shared).await.unwrap(), "still used by the kept referral's document");
    assert_eq!(store.count_documents(kept.id).await.unwrap(), 1);
    let purge = store.search_audit(&telederm_store::AuditFilter::default()).await.unwrap().into_iter().find(|e| e.action == "retention.purge").unwrap();
    assert!(purge.detail.contains("documents=2"), "{}", purge.detail);
}

#[tokio::test]
async fn db_copy_moves_documents_to_postgres_and_back() {
    let sqlite = TestDatabase::sqlite();
    let source = sqlite.store().await;
    let w = Practice::seed(&source).await;
    let r = w.draft(t(2026, 3, 2));
    source.insert_referral(&r).await.unwrap();
    let doc = document(r.id, DocumentKind::ConsentForm, Some("Signed consent — Ünïcode"), &"c".repeat(64), t(2026, 3, 2), Some(w.gp.id));
    source.insert_document_audited(&doc, &audit("document.upload")).await.unwrap();

    let pg = TestDatabase::postgres().await;
    let target = pg.store().await;
    let report = copy_database(&source, &target, |_, _, _| {}).await.unwrap();
    let table = report.tables.iter().find(|t| t.table == "referral_documents").expect("db copy knows the table");
    assert_eq!(table.rows, 1);
    assert_eq!(target.list_documents(r.id).await.unwrap(), vec![doc.clone()]);
    let back_db = TestDatabase::sqlite();
    let back = back_db.store().await;
    copy_database(&target, &back, |_, _, _| {}).await.unwrap();
    assert_eq!(back.get_document(doc.id).await.unwrap(), doc);
}
