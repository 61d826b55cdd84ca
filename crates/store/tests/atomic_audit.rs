//! Each state change is one transaction with its audit entry (issue 12): when the audit append
//! fails inside the change, nothing of the change is written — not the referral, its event, its
//! message, its notifications nor their delivery jobs. On SQLite and PostgreSQL, with the append
//! made to fail by a real trigger in the database.

use chrono::Utc;
use telederm_domain::MessageId;
use telederm_domain::referral::{Action, Message, MessageKind, ReferralStatus};
use telederm_store::testkit::{Practice, TestDatabase};
use telederm_store::{AuditFilter, Channel, Dialect, EventRecord, NewAuditEntry, OutboxMessage, Store};

telederm_store::on_both_databases!(a_change_whose_audit_entry_fails_writes_nothing, a_new_referral_whose_audit_entry_fails_is_not_stored);

/// Makes every audit append fail (or work again), as a full disk or a broken trail would.
async fn audit_fails(store: &Store, fail: bool) {
    let statements: &[&str] = match (store.dialect(), fail) {
        (Dialect::Sqlite, true) => &["CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END"],
        (Dialect::Sqlite, false) => &["DROP TRIGGER audit_fails"],
        (Dialect::Postgres, true) => &[
            "CREATE OR REPLACE FUNCTION audit_fails() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit unavailable'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_fails()",
        ],
        (Dialect::Postgres, false) => &["DROP TRIGGER audit_fails ON audit_log"],
    };
    for sql in statements {
        sqlx::raw_sql(sql).execute(store.pool()).await.expect(sql);
    }
}

fn entry(action: &str) -> NewAuditEntry {
    NewAuditEntry { actor_label: "gp@example.nhs.uk".into(), action: action.into(), record_type: "referral".into(), ..NewAuditEntry::default() }
}

async fn a_change_whose_audit_entry_fails_writes_nothing(db: &TestDatabase) {
    let store = db.store().await;
    let practice = Practice::seed(&store).await;
    let draft = practice.draft(Utc::now());
    store.insert_referral(&draft).await.unwrap();
    let now = Utc::now();
    let change = |r: &telederm_domain::referral::Referral| {
        let mut r = r.clone();
        r.status = ReferralStatus::Submitted;
        r.submitted_at = Some(now);
        let event = EventRecord { actor_id: Some(practice.gp.id), action: Action::Submit, from_status: Some(ReferralStatus::Draft), to_status: r.status, at: now };
        let message = Message {
            id: MessageId::new(),
            referral_id: r.id,
            kind: MessageKind::Reply,
            author_id: Some(practice.gp.id),
            author_name: "Dr GP".into(),
            body: "Photos attached.".into(),
            created_at: now,
            topic: None,
        };
        let notice = OutboxMessage {
            channel: Channel::Email,
            recipient: "ada@example.com".into(),
            template: telederm_store::Template::PatientReferralSent,
            link: String::new(),
            referral_id: Some(r.id),
            dedupe_key: None,
        };
        (r, event, message, notice)
    };

    audit_fails(&store, true).await;
    let (mut r, event, message, notice) = change(&draft);
    store.apply_change(&mut r, Some(&event), Some(&message), &[notice], &[], &entry("referral.submit")).await.expect_err("the audit append fails");
    let stored = store.get_referral(draft.id).await.unwrap();
    assert_eq!((stored.status, stored.version), (ReferralStatus::Draft, draft.version), "the referral is as it was");
    assert!(store.list_events(draft.id).await.unwrap().is_empty(), "no event");
    assert!(store.list_messages(draft.id).await.unwrap().is_empty(), "no message");
    assert!(store.list_outbox(draft.id).await.unwrap().is_empty(), "no notification");
    assert!(store.job_counts().await.unwrap().is_empty(), "no delivery job");

    // With the trail working again the same change commits whole, with its entry.
    audit_fails(&store, false).await;
    let (mut r, event, message, notice) = change(&draft);
    store.apply_change(&mut r, Some(&event), Some(&message), &[notice], &[], &entry("referral.submit")).await.unwrap();
    assert_eq!(store.get_referral(draft.id).await.unwrap().status, ReferralStatus::Submitted);
    assert_eq!(store.list_events(draft.id).await.unwrap().len(), 1);
    assert_eq!(store.list_messages(draft.id).await.unwrap().len(), 1);
    assert_eq!(store.list_outbox(draft.id).await.unwrap().len(), 1);
    let trail = store.search_audit(&AuditFilter { action: Some("referral.submit".into()), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(trail.len(), 1);
    assert!(store.verify_audit().await.unwrap().broken.is_none(), "the chain is intact");
}

async fn a_new_referral_whose_audit_entry_fails_is_not_stored(db: &TestDatabase) {
    let store = db.store().await;
    let practice = Practice::seed(&store).await;
    let draft = practice.draft(Utc::now());
    audit_fails(&store, true).await;
    store.insert_referral_audited(&draft, &entry("referral.create")).await.expect_err("the audit append fails");
    assert!(store.get_referral(draft.id).await.is_err(), "no referral without its audit entry");
    audit_fails(&store, false).await;
    store.insert_referral_audited(&draft, &entry("referral.create")).await.unwrap();
    assert_eq!(store.get_referral(draft.id).await.unwrap().id, draft.id);
}
