//! The notification journey: an outcome is recorded with its notifications in one transaction,
//! the job queue delivers them through a real SMTP server on loopback, and the patient and the GP
//! each receive an email with a link and nothing clinical.

use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::patient::{Contact, Patient, Sex};
use telederm_domain::referral::{Action, ClinicalHistory, Priority, Referral, ReferralStatus, Route};
use telederm_domain::{NhsNumber, OrganisationId, ReferralId, UserId};
use telederm_notify::dispatch::drain_notifications;
use telederm_notify::{SmtpNotifier, SmtpSettings, Template};
use telederm_store::testkit::{SmtpServer, TestDatabase};
use telederm_store::{Channel, EventRecord, JobState, OutboxMessage, OutboxState, Store};

async fn referral_in_review(store: &Store) -> Referral {
    let practice = Organisation {
        id: OrganisationId::new(),
        kind: OrganisationKind::GpPractice,
        ods_code: "F84001".into(),
        name: "Mare Street Surgery".into(),
        services: vec![],
    };
    store.create_organisation(&practice).await.unwrap();
    let gp = User {
        id: UserId::new(),
        email: "gp@example.nhs.uk".into(),
        display_name: "Dr GP".into(),
        role: Role::Referrer,
        organisation_id: practice.id,
        services: vec![],
    };
    store.create_user(&gp, "x").await.unwrap();
    let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let r = Referral {
        id: ReferralId::new(),
        service_id: "homerton".into(),
        route: Route::Ras,
        priority: Priority::Routine,
        status: ReferralStatus::InReview,
        practice_id: practice.id,
        referrer_id: gp.id,
        assignee_id: None,
        patient: Patient {
            nhs_number: NhsNumber::parse("9434765919").unwrap(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1970, 1, 1).unwrap(),
            sex: Sex::Female,
            postcode: "E8 1DY".into(),
            contact: Contact { email: Some("ada@example.com".into()), phone: None },
        },
        history: ClinicalHistory { presenting_complaint: "Pigmented lesion, left shin".into(), ..Default::default() },
        consent: None,
        eligibility_answers: None,
        eligibility: None,
        conversion_authorised: false,
        outcome: None,
        created_at: t,
        updated_at: t,
        submitted_at: Some(t),
        due_date: Some(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()),
        version: 1,
    };
    store.insert_referral(&r).await.unwrap();
    r
}

async fn journey(db: &TestDatabase) {
    let smtp = SmtpServer::start();
    let store = db.store().await;
    let mut r = referral_in_review(&store).await;
    let link = format!("https://telederm.example.nhs.uk/referrals/{}", r.id);
    let id = r.id;
    let note = |to: &str, template: Template| OutboxMessage {
        channel: Channel::Email,
        recipient: to.into(),
        template: template.name().into(),
        link: link.clone(),
        referral_id: Some(id),
        dedupe_key: None,
    };

    r.apply(Action::IssueOutcome, Utc::now()).unwrap();
    let event = EventRecord {
        actor_id: None,
        action: Action::IssueOutcome,
        from_status: Some(ReferralStatus::InReview),
        to_status: r.status,
        at: Utc::now(),
    };
    let notes = [note("ada@example.com", Template::PatientResponseReady), note("gp@example.nhs.uk", Template::GpResponseReady)];
    store.update_referral_notifying(&mut r, Some(&event), None, &notes).await.unwrap();

    // Two nodes' workers drain the queue together.
    let notifier = SmtpNotifier::new(&SmtpSettings::plain(&smtp.host, smtp.port, "Telederm <no-reply@telederm.example>")).unwrap();
    let other_node = db.store().await;
    let (a, b) = tokio::join!(drain_notifications(&store, &notifier, "node-a"), drain_notifications(&other_node, &notifier, "node-b"));
    assert_eq!(a + b, 2, "each message's job ran once");

    let mail = smtp.wait_for_messages(2, Duration::from_secs(10));
    assert_eq!(mail.len(), 2);
    for (to, template) in [("ada@example.com", Template::PatientResponseReady), ("gp@example.nhs.uk", Template::GpResponseReady)] {
        let m = mail.iter().find(|m| m.contains(&format!("To: {to}"))).unwrap_or_else(|| panic!("no email to {to}"));
        assert!(m.contains(&format!("Subject: {}", template.subject())));
        assert!(m.replace("=\r\n", "").replace("=\n", "").contains(&link), "{m}");
        for secret in ["9434765919", "943 476 5919", "Lovelace", "Pigmented", "shin"] {
            assert!(!m.contains(secret), "the email to {to} leaks {secret:?}");
        }
    }
    let outbox = store.list_outbox(r.id).await.unwrap();
    assert!(outbox.iter().all(|o| o.state == OutboxState::Sent && o.sent_at.is_some()));
    assert_eq!(store.job_counts().await.unwrap(), vec![(JobState::Done, 2)]);

    // Nothing is left to send: running the workers again sends nothing more.
    assert_eq!(drain_notifications(&store, &notifier, "node-a").await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_and_gp_are_emailed_on_postgres() {
    journey(&TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_and_gp_are_emailed_on_sqlite() {
    journey(&TestDatabase::sqlite()).await;
}
