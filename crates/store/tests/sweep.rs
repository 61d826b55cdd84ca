//! The orphan-blob sweep, on SQLite with the file store and on PostgreSQL with a real S3-protocol
//! server (moto on loopback): unreferenced blobs older than the cutoff go, referenced ones and
//! young ones stay, a re-upload of an old orphan counts as new, and a dry run deletes nothing.

use chrono::{Duration, Utc};
use futures::TryStreamExt;
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::{PhotoId, ReferralId};
use telederm_store::blobs::{BlobStore, sha256_hex};
use telederm_store::testkit::{Practice, S3Server, TestDatabase};
use telederm_store::{PhotoRecord, Store, sweep_orphan_blobs};

async fn referral(store: &Store) -> ReferralId {
    let r = Practice::seed(store).await.draft(Utc::now());
    store.insert_referral(&r).await.unwrap();
    r.id
}

async fn put(blobs: &BlobStore, s: &str) -> String {
    blobs.put(s.as_bytes().to_vec()).await.unwrap()
}

async fn sweep_contract(store: &Store, blobs: &BlobStore) {
    let referral = referral(store).await;
    let keys = [put(blobs, "original").await, put(blobs, "attachment").await, put(blobs, "preview").await, put(blobs, "thumb").await];
    store
        .insert_photo(&PhotoRecord {
            face_confirmed: None,
            id: PhotoId::new(),
            referral_id: referral,
            kind: PhotoKind::CloseUp,
            source: ImageSource::Clinician,
            uploaded_by: None,
            original_key: keys[0].clone(),
            original_type: "image/jpeg".into(),
            attachment_key: keys[1].clone(),
            preview_key: keys[2].clone(),
            thumbnail_key: keys[3].clone(),
            width: 10,
            height: 10,
            size_bytes: 8,
            verdict: telederm_domain::policy::Verdict::Accept,
            report: serde_json::json!({}),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    let orphan = put(blobs, "left by a crash between blob and record").await;

    // The listing sees every blob with its size and time.
    let infos: Vec<_> = blobs.list_info().try_collect().await.unwrap();
    assert_eq!(infos.len(), 5);
    let o = infos.iter().find(|i| i.key == orphan).unwrap();
    assert_eq!(o.size, "left by a crash between blob and record".len() as u64);
    assert!((Utc::now() - o.last_modified).abs() < Duration::minutes(5), "{o:?}");
    let head = blobs.info(&orphan).await.unwrap().unwrap();
    // (HTTP dates have whole seconds; listings may have milliseconds.)
    assert_eq!((&head.key, head.size), (&o.key, o.size));
    assert!((head.last_modified - o.last_modified).abs() < Duration::seconds(1), "{head:?} {o:?}");
    assert_eq!(blobs.info(&sha256_hex(b"never stored")).await.unwrap(), None);
    let referenced = store.referenced_blob_keys_among(&infos.iter().map(|i| i.key.clone()).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(referenced.len(), 4);
    assert!(!referenced.contains(&orphan));

    // Younger than the grace period: kept.
    let report = sweep_orphan_blobs(store, blobs, Utc::now() - Duration::hours(1), false).await.unwrap();
    assert_eq!((report.examined, report.recent_orphans, report.removed.len()), (5, 1, 0));
    assert!(blobs.exists(&orphan).await.unwrap());

    // A dry run says what would go and deletes nothing.
    let later = Utc::now() + Duration::seconds(5);
    let dry = sweep_orphan_blobs(store, blobs, later, true).await.unwrap();
    assert_eq!(dry.removed, vec![orphan.clone()]);
    assert!(blobs.exists(&orphan).await.unwrap());

    // Past the grace period: only the orphan goes; running again finds nothing.
    let report = sweep_orphan_blobs(store, blobs, later, false).await.unwrap();
    assert_eq!(report.removed, vec![orphan.clone()]);
    assert_eq!(report.removed_bytes, "left by a crash between blob and record".len() as u64);
    assert!(!blobs.exists(&orphan).await.unwrap());
    for k in &keys {
        assert!(blobs.exists(k).await.unwrap(), "referenced blob {k} kept");
    }
    assert!(sweep_orphan_blobs(store, blobs, later, false).await.unwrap().removed.is_empty());

    // An old orphan stored again (an upload of the same bytes) counts from the new upload.
    let again = put(blobs, "uploaded twice").await;
    let first = blobs.info(&again).await.unwrap().unwrap().last_modified;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(put(blobs, "uploaded twice").await, again);
    let refreshed = blobs.info(&again).await.unwrap().unwrap().last_modified;
    assert!(refreshed > cutoff && first < cutoff, "re-storing refreshes the time: {first} then {refreshed}");
    assert!(sweep_orphan_blobs(store, blobs, cutoff, false).await.unwrap().removed.is_empty());
    assert!(blobs.exists(&again).await.unwrap());

    // Deleting the photo makes its blobs orphans too.
    let photo = store.list_photos(referral).await.unwrap().remove(0);
    store.delete_photo(photo.id).await.unwrap();
    let mut removed = sweep_orphan_blobs(store, blobs, Utc::now() + Duration::seconds(5), false).await.unwrap().removed;
    removed.sort();
    let mut expected = [keys.to_vec(), vec![again]].concat();
    expected.sort();
    assert_eq!(removed, expected);
    assert!(blobs.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_and_file_blobs() {
    let db = TestDatabase::sqlite();
    let store = db.store().await;
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(&format!("file://{}", dir.path().display())).unwrap();
    sweep_contract(&store, &blobs).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_and_s3() {
    let db = TestDatabase::postgres().await;
    let store = db.store().await;
    let s3 = S3Server::start();
    sweep_contract(&store, &s3.blob_store("sweep")).await;
    store.close().await;
}
