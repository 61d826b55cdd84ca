//! Patient links and patient contact on both databases (issue 13): a status link written in the
//! same transaction as the change whose message carries it, one visit per browser that passed the
//! date-of-birth check, and how the patient can be reached kept beside each referral for the lists.

use chrono::{Duration, Utc};
use telederm_domain::patient::{Contact, ContactKind};
use telederm_domain::referral::ReferralStatus;
use telederm_store::patient_links::{LinkPurpose, PatientLink};
use telederm_store::testkit::Practice;
use telederm_store::{NewAuditEntry, ReferralFilter, Store};

telederm_store::on_both_databases!(store: each_browser_has_its_own_visit_to_a_status_link, the_lists_know_how_the_patient_can_be_reached);

fn entry(action: &str) -> NewAuditEntry {
    NewAuditEntry { actor_label: "patient (link)".into(), action: action.into(), record_type: "patient_link".into(), ..NewAuditEntry::default() }
}

fn link(r: &telederm_domain::referral::Referral, purpose: LinkPurpose, hash: &str) -> PatientLink {
    let now = Utc::now();
    PatientLink {
        id: uuid::Uuid::new_v4(),
        token_hash: hash.into(),
        referral_id: r.id,
        purpose,
        created_by: None,
        created_at: now,
        expires_at: now + Duration::days(365),
        revoked_at: None,
        failed_attempts: 0,
        locked_at: None,
        verified_at: None,
        max_photos: 0,
        photos_uploaded: 0,
        submitted_at: None,
    }
}

async fn each_browser_has_its_own_visit_to_a_status_link(store: &Store) {
    let practice = Practice::seed(store).await;
    let mut r = practice.draft(Utc::now());
    store.insert_referral(&r).await.unwrap();
    let status = link(&r, LinkPurpose::Status, "status-hash");
    r.status = ReferralStatus::Submitted;
    store.apply_change(&mut r, None, None, &[], std::slice::from_ref(&status), &entry("referral.submit")).await.unwrap();
    let found = store.patient_link_by_token_hash("status-hash").await.unwrap().expect("written with the change");
    assert_eq!((found.id, found.referral_id, found.purpose, found.max_photos), (status.id, r.id, LinkPurpose::Status, 0));

    let now = Utc::now();
    for secret in ["phone-hash", "laptop-hash"] {
        store.verify_patient_link(status.id, secret, now, now + Duration::minutes(60), &entry("patient_link.verify")).await.unwrap();
    }
    for secret in ["phone-hash", "laptop-hash"] {
        assert!(store.patient_link_visit_open(status.id, secret, now).await.unwrap(), "{secret} stays open after the other");
        assert!(!store.patient_link_visit_open(status.id, secret, now + Duration::minutes(61)).await.unwrap(), "{secret} ends");
    }
    assert!(!store.patient_link_visit_open(status.id, "tablet-hash", now).await.unwrap());
    // A visit opens only its own link.
    let upload = link(&r, LinkPurpose::Upload, "upload-hash");
    store.create_patient_link_notifying(&upload, &[], &entry("patient_link.create")).await.unwrap();
    assert!(!store.patient_link_visit_open(upload.id, "phone-hash", now).await.unwrap());
    assert_eq!(store.list_patient_links(r.id).await.unwrap().iter().map(|l| l.purpose).collect::<Vec<_>>(), vec![LinkPurpose::Status, LinkPurpose::Upload]);
}

async fn the_lists_know_how_the_patient_can_be_reached(store: &Store) {
    let practice = Practice::seed(store).await;
    let contacts = [
        (Contact { email: Some("ada@example.org".into()), phone: None, ..Default::default() }, ContactKind::Email),
        (Contact { email: None, phone: Some("07700 900123".into()), ..Default::default() }, ContactKind::Mobile),
        (Contact { email: Some(" ".into()), phone: Some("020 7946 0018".into()), ..Default::default() }, ContactKind::None),
    ];
    let mut ids = Vec::new();
    for (contact, _) in &contacts {
        let mut r = practice.draft(Utc::now());
        r.patient.contact = contact.clone();
        store.insert_referral(&r).await.unwrap();
        ids.push(r.id);
    }
    let kinds = |list: Vec<telederm_store::ReferralSummary>| ids.iter().map(|id| list.iter().find(|s| s.id == *id).unwrap().patient_contact).collect::<Vec<_>>();
    let filter = ReferralFilter { practice_id: Some(practice.practice.id), ..ReferralFilter::default() };
    assert_eq!(kinds(store.list_referrals(&filter).await.unwrap()), contacts.iter().map(|(_, k)| *k).collect::<Vec<_>>());

    // A change to the patient's details changes it too.
    let mut r = store.get_referral(ids[2]).await.unwrap();
    r.patient.contact.phone = Some("+44 7700 900456".into());
    store.apply_change(&mut r, None, None, &[], &[], &entry("referral.update_draft")).await.unwrap();
    assert_eq!(kinds(store.list_referrals(&filter).await.unwrap())[2], ContactKind::Mobile);
}
