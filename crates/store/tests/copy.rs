//! `db copy`: a whole installation moves SQLite → PostgreSQL → SQLite, verified by counts and
//! checksums, with the source unchanged.

use chrono::{NaiveDate, TimeZone, Utc};
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::patient::{Contact, Patient, Sex};
use telederm_domain::referral::{Action, ClinicalHistory, Message, MessageKind, Priority, Referral, ReferralStatus, Route};
use telederm_domain::{MessageId, NhsNumber, OrganisationId, ReferralId, UserId};
use telederm_store::copy::copy_database;
use telederm_store::testkit::TestDatabase;
use telederm_store::{Channel, EventRecord, NewJob, OutboxMessage, ReferralFilter, Store, StoreError};

async fn populate(store: &Store) -> Vec<ReferralId> {
    let practice = Organisation {
        id: OrganisationId::new(),
        kind: OrganisationKind::GpPractice,
        ods_code: "F84001".into(),
        name: "Mare Street Surgery".into(),
        services: vec![],
    };
    let provider = Organisation {
        id: OrganisationId::new(),
        kind: OrganisationKind::Provider,
        ods_code: "RQX".into(),
        name: "Homerton".into(),
        services: vec!["homerton".into()],
    };
    store.create_organisation(&practice).await.unwrap();
    store.create_organisation(&provider).await.unwrap();
    let gp = User {
        profession: None,
        id: UserId::new(),
        email: "gp@example.nhs.uk".into(),
        display_name: "Dr Gee — O'Neil ✓".into(),
        role: Role::Referrer,
        organisation_id: practice.id,
        services: vec![],
    };
    let derm = User { id: UserId::new(), email: "derm@example.nhs.uk".into(), role: Role::Consultant, profession: None, organisation_id: provider.id, services: vec!["homerton".into()], display_name: "Dr Derm".into() };
    store.create_user(&gp, "$argon2id$hash").await.unwrap();
    store.create_user(&derm, "$argon2id$hash2").await.unwrap();
    let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    store.create_session("tok", gp.id, t, t + chrono::Duration::days(1)).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..30u32 {
        let mut r = Referral {
            id: ReferralId::new(),
            service_id: "homerton".into(),
            route: if i % 3 == 0 { Route::AdviceAndGuidance } else { Route::Ras },
            priority: Priority::Routine,
            status: ReferralStatus::Draft,
            practice_id: practice.id,
            referrer_id: gp.id,
            assignee_id: None,
            patient: Patient {
                nhs_number: NhsNumber::parse("9434765919").unwrap(),
                given_name: format!("Pat{i}"),
                family_name: "Ünïcode-Smith".into(),
                date_of_birth: NaiveDate::from_ymd_opt(1980, 5, 1).unwrap(),
                sex: Sex::Other,
                postcode: "E8 1DY".into(),
                contact: Contact::default(), ethnic_category: None, fitzpatrick_type: None,
            },
            history: ClinicalHistory { presenting_complaint: "itchy\nrash \"quoted\"".into(), ..Default::default() },
            consent: None,
            eligibility_answers: Some(serde_json::json!({"n": i})),
            eligibility: None,
            conversion_authorised: i % 2 == 0,
            ubrn: None,
            outcome: None,
            created_at: t,
            updated_at: t,
            submitted_at: None,
            due_date: None,
            version: 1,
            patient_answers: None,
        };
        store.insert_referral(&r).await.unwrap();
        if i % 2 == 0 {
            r.apply(Action::Submit, t).unwrap();
            r.due_date = Some(NaiveDate::from_ymd_opt(2026, 3, 5).unwrap());
            let e = EventRecord { actor_id: Some(gp.id), action: Action::Submit, from_status: Some(ReferralStatus::Draft), to_status: r.status, at: t };
            let m = Message { id: MessageId::new(), referral_id: r.id, kind: MessageKind::Reply, author_id: None, author_name: "GP".into(), body: "note".into(), created_at: t, topic: None };
            let n = OutboxMessage { channel: Channel::Email, recipient: "gp@example.nhs.uk".into(), template: telederm_store::Template::GpResponseReady, link: "https://x.example/r".into(), referral_id: Some(r.id), dedupe_key: None };
            store.update_referral_notifying(&mut r, Some(&e), Some(&m), &[n]).await.unwrap();
        }
        ids.push(r.id);
    }
    store.enqueue_job(&NewJob::new("retention_purge", serde_json::json!({"x": [1, 2]})).unique("purge:2026-03-02")).await.unwrap();
    ids
}

#[tokio::test]
async fn an_installation_moves_to_postgres_and_back() {
    let sqlite = TestDatabase::sqlite();
    let source = sqlite.store().await;
    let ids = populate(&source).await;
    for action in ["referral.read", "referral.submit"] {
        let e = telederm_store::NewAuditEntry { actor_label: "gp@example.nhs.uk".into(), action: action.into(), record_type: "referral".into(), ..Default::default() };
        source.append_audit(&e).await.unwrap();
    }
    let before = source.summarise_tables().await.unwrap();

    let pg = TestDatabase::postgres().await;
    let target = pg.store().await;
    let mut progress = Vec::new();
    let report = copy_database(&source, &target, |t, done, total| progress.push((t.to_string(), done, total))).await.unwrap();
    assert!(report.tables.len() >= 11, "{report:?}");
    // 2 organisations, 1 provider service, 2 users, 1 user service, 1 session, 30 referrals,
    // 15 messages, events and outbox rows, 16 jobs (15 deliveries and the purge), 2 audit
    // entries and the audit chain's head, and 90 name words ("Pat<i> Ünïcode-Smith": "pat<i>",
    // "ünïcode", "smith" for each referral).
    assert_eq!(report.total_rows(), 191, "{report:?}");
    assert!(progress.contains(&("referrals".to_string(), 30, 30)));
    assert_eq!(source.summarise_tables().await.unwrap(), before, "the source is unchanged");
    assert_eq!(target.summarise_tables().await.unwrap(), before, "the target matches it, table by table");

    // The data reads back the same through the store, and the target keeps working.
    for id in &ids {
        assert_eq!(target.get_referral(*id).await.unwrap(), source.get_referral(*id).await.unwrap());
        assert_eq!(target.list_events(*id).await.unwrap(), source.list_events(*id).await.unwrap());
    }
    assert_eq!(target.list_users().await.unwrap(), source.list_users().await.unwrap());
    let f = ReferralFilter { by_due_date: true, ..Default::default() };
    assert_eq!(target.list_referrals(&f).await.unwrap(), source.list_referrals(&f).await.unwrap());
    let mut r = target.get_referral(ids[1]).await.unwrap();
    r.apply(Action::Submit, Utc::now()).unwrap();
    let e = EventRecord { actor_id: None, action: Action::Submit, from_status: Some(ReferralStatus::Draft), to_status: r.status, at: Utc::now() };
    target.update_referral(&mut r, Some(&e), None).await.unwrap();
    assert_eq!(target.list_events(ids[1]).await.unwrap().len(), 1, "new events get fresh sequence numbers");
    // The audit chain moves intact and keeps growing from where it was.
    let e = telederm_store::NewAuditEntry { actor_label: "x".into(), action: "referral.read".into(), record_type: "referral".into(), ..Default::default() };
    assert_eq!(target.append_audit(&e).await.unwrap().seq, 3);
    let v = target.verify_audit().await.unwrap();
    assert_eq!((v.entries, v.broken), (3, None));

    // Copying into a database that has data is refused.
    let err = copy_database(&source, &target, |_, _, _| {}).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    // And back to a fresh SQLite file.
    let back_db = TestDatabase::sqlite();
    let back = back_db.store().await;
    copy_database(&target, &back, |_, _, _| {}).await.unwrap();
    assert_eq!(back.summarise_tables().await.unwrap(), target.summarise_tables().await.unwrap());
    assert_eq!(back.get_referral(ids[1]).await.unwrap(), target.get_referral(ids[1]).await.unwrap());
    assert_eq!(back.get_referral(ids[1]).await.unwrap().version, r.version);
}

/// Makes the target's `referrals` table store a different NHS number than it is given, for one
/// referral: a target that does not keep what was written (a faulty driver, a type coercion, a
/// trigger). Row counts still match; only the checksum comparison can notice.
async fn damage_on_insert(target: &Store, id: ReferralId) {
    match target.dialect() {
        telederm_store::Dialect::Sqlite => {
            sqlx::query(&format!(
                "CREATE TRIGGER damage AFTER INSERT ON referrals WHEN NEW.id = '{id}' \
                 BEGIN UPDATE referrals SET nhs_number = '9434765870' WHERE id = NEW.id; END"
            ))
            .execute(target.pool())
            .await
            .unwrap();
        }
        telederm_store::Dialect::Postgres => {
            sqlx::query("CREATE FUNCTION damage() RETURNS trigger AS $$ BEGIN NEW.nhs_number := '9434765870'; RETURN NEW; END $$ LANGUAGE plpgsql")
                .execute(target.pool())
                .await
                .unwrap();
            sqlx::query(&format!(
                "CREATE TRIGGER damage BEFORE INSERT ON referrals FOR EACH ROW WHEN (NEW.id = '{id}') EXECUTE FUNCTION damage()"
            ))
            .execute(target.pool())
            .await
            .unwrap();
        }
    }
}

#[tokio::test]
async fn a_target_that_changes_one_cell_fails_the_copy_naming_the_table() {
    let sqlite = TestDatabase::sqlite();
    let source = sqlite.store().await;
    let ids = populate(&source).await;
    for (name, db) in [("postgres", TestDatabase::postgres().await), ("sqlite", TestDatabase::sqlite())] {
        let target = db.store().await;
        damage_on_insert(&target, ids[7]).await;
        let err = copy_database(&source, &target, |_, _, _| {}).await.unwrap_err();
        let StoreError::Corrupt(message) = &err else { panic!("{name}: a damaged copy is refused as corrupt, not {err:?}") };
        assert!(message.starts_with("table `referrals` did not copy faithfully: source 30 rows"), "{name}: {message}");
        // Same number of rows on both sides: the counts alone would have passed it.
        assert!(message.contains("target 30 rows"), "{name}: {message}");
        // The copy stopped at the damaged table: nothing after it was written.
        let messages = target.summarise_tables().await.unwrap().into_iter().find(|t| t.table == "messages").unwrap();
        assert_eq!(messages.rows, 0, "{name}");
        target.close().await;
    }
}

#[tokio::test]
async fn one_changed_cell_after_a_copy_changes_that_tables_checksum_only() {
    let sqlite = TestDatabase::sqlite();
    let source = sqlite.store().await;
    let ids = populate(&source).await;
    let pg = TestDatabase::postgres().await;
    let target = pg.store().await;
    copy_database(&source, &target, |_, _, _| {}).await.unwrap();
    let before = source.summarise_tables().await.unwrap();
    assert_eq!(target.summarise_tables().await.unwrap(), before);
    sqlx::query(&format!("UPDATE referrals SET nhs_number = '9434765870' WHERE id = '{}'", ids[7])).execute(target.pool()).await.unwrap();
    let after = target.summarise_tables().await.unwrap();
    let differing: Vec<&str> = before.iter().zip(&after).filter(|(a, b)| a != b).map(|(a, _)| a.table.as_str()).collect();
    assert_eq!(differing, ["referrals"]);
    let (a, b) = before.iter().zip(&after).find(|(a, _)| a.table == "referrals").unwrap();
    assert_eq!(a.rows, b.rows, "the same number of rows");
    assert_ne!(a.sha256, b.sha256, "but not the same contents");
    // Swapping the changed cell back makes them equal again: the checksum is of contents only.
    sqlx::query(&format!("UPDATE referrals SET nhs_number = '9434765919' WHERE id = '{}'", ids[7])).execute(target.pool()).await.unwrap();
    assert_eq!(target.summarise_tables().await.unwrap(), before);
}
