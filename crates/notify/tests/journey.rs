//! The notification journey: an outcome is recorded with its notifications in one transaction,
//! the job queue delivers them through a real SMTP server on loopback, and the patient and the GP
//! each receive an email with a link and nothing clinical.

use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use telederm_domain::referral::{Action, ClinicalHistory, Referral, ReferralStatus};
use telederm_notify::TemplateText;
use telederm_notify::dispatch::drain_notifications;
use telederm_notify::{SmtpNotifier, SmtpSettings, Template};
use telederm_store::testkit::{Practice, SmtpServer, TestDatabase};
use telederm_store::{Channel, EventRecord, JobState, OutboxMessage, OutboxState, Store};

async fn referral_in_review(store: &Store) -> Referral {
    let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let r = Referral {
        status: ReferralStatus::InReview,
        history: ClinicalHistory { presenting_complaint: "Pigmented lesion, left shin".into(), ..Default::default() },
        submitted_at: Some(t),
        due_date: Some(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()),
        ..Practice::seed(store).await.draft(t)
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
        template,
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
