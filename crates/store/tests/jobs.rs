//! The job queue and the outbox, on SQLite and PostgreSQL: retries with backoff, dead jobs,
//! leases, unique keys, notifications committed with the change they announce, and 200 jobs
//! claimed concurrently by several nodes, each run exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{Duration, DurationRound, NaiveDate, TimeZone, Utc};
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::referral::{Referral, ReferralStatus};
use telederm_domain::{OrganisationId, ReferralId, UserId};
use telederm_store::outbox::SEND_NOTIFICATION_JOB;
use telederm_store::testkit::{Practice, TestDatabase};
use telederm_store::{Channel, Dialect, JobState, NewJob, OutboxMessage, OutboxState, Store, StoreError};

telederm_store::on_both_databases!(
    retries_back_off_then_die,
    expired_lease_is_claimed_again,
    unique_keys_enqueue_once,
    notifications_commit_with_the_change,
    two_hundred_jobs_run_exactly_once,
    sla_reminders_reach_consultants_then_the_lead_once,
);

/// Now, to the microsecond (as stored).
fn now() -> chrono::DateTime<Utc> {
    Utc::now().duration_trunc(Duration::microseconds(1)).unwrap()
}

async fn retries_back_off_then_die(db: &TestDatabase) {
    let store = db.store().await;
    let t0 = now();
    let id = store
        .enqueue_job(&NewJob::new("thumbnail", serde_json::json!({"photo": "p1"})).at(t0).max_attempts(3))
        .await
        .unwrap()
        .unwrap();
    let lease = Duration::minutes(5);

    let got = store.claim_jobs_with_lease("w1", 10, t0, lease).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].id, got[0].attempts, got[0].state), (id, 1, JobState::Running));
    assert_eq!(got[0].payload["photo"], "p1");
    assert!(store.claim_jobs_with_lease("w2", 10, t0, lease).await.unwrap().is_empty(), "held jobs are not handed out twice");

    assert_eq!(store.fail_job(id, "w1", "decoder exploded", t0).await.unwrap(), JobState::Queued);
    let job = store.get_job(id).await.unwrap();
    assert_eq!(job.run_at, t0 + Duration::seconds(30), "first retry after 30 s");
    assert_eq!(job.last_error.as_deref(), Some("decoder exploded"));
    assert!(store.claim_jobs_with_lease("w1", 10, t0 + Duration::seconds(29), lease).await.unwrap().is_empty());

    let t1 = t0 + Duration::seconds(30);
    assert_eq!(store.claim_jobs_with_lease("w1", 10, t1, lease).await.unwrap()[0].attempts, 2);
    assert_eq!(store.fail_job(id, "w1", "again", t1).await.unwrap(), JobState::Queued);
    assert_eq!(store.get_job(id).await.unwrap().run_at, t1 + Duration::seconds(60), "then doubling");

    let t2 = t1 + Duration::seconds(60);
    assert_eq!(store.claim_jobs_with_lease("w1", 10, t2, lease).await.unwrap()[0].attempts, 3);
    assert!(matches!(store.fail_job(id, "someone-else", "x", t2).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.fail_job(id, "w1", "still broken", t2).await.unwrap(), JobState::Dead);
    assert!(store.claim_jobs_with_lease("w1", 10, t2 + Duration::days(1), lease).await.unwrap().is_empty());

    let dead = store.list_dead_jobs().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id, dead[0].attempts, dead[0].last_error.as_deref()), (id, 3, Some("still broken")));
    assert_eq!(store.job_counts().await.unwrap(), vec![(JobState::Dead, 1)]);

    store.retry_dead_job(id).await.unwrap();
    assert!(store.list_dead_jobs().await.unwrap().is_empty());
    let again = store.claim_jobs("w9", 10).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (id, 1), "an admin retry gives fresh attempts");
    store.complete_job(id, "w9").await.unwrap();
    assert_eq!(store.get_job(id).await.unwrap().state, JobState::Done);
    assert!(matches!(store.complete_job(id, "w9").await, Err(StoreError::Conflict(_))), "done is done");
    assert!(matches!(store.retry_dead_job(id).await, Err(StoreError::NotFound)));
    assert_eq!(store.purge_done_jobs(Utc::now() + Duration::seconds(1)).await.unwrap(), 1);
    assert!(matches!(store.get_job(id).await, Err(StoreError::NotFound)));
}

async fn expired_lease_is_claimed_again(db: &TestDatabase) {
    let store = db.store().await;
    let t0 = now();
    let id = store.enqueue_job(&NewJob::new("orphan_sweep", serde_json::json!({})).at(t0).max_attempts(2)).await.unwrap().unwrap();
    let lease = Duration::minutes(1);
    assert_eq!(store.claim_jobs_with_lease("dies", 1, t0, lease).await.unwrap().len(), 1);
    assert!(store.claim_jobs_with_lease("w2", 1, t0 + Duration::seconds(59), lease).await.unwrap().is_empty());
    let t1 = t0 + Duration::seconds(61);
    let got = store.claim_jobs_with_lease("w2", 1, t1, lease).await.unwrap();
    assert_eq!((got[0].id, got[0].attempts, got[0].locked_by.as_deref()), (id, 2, Some("w2")));
    assert!(matches!(store.complete_job(id, "dies").await, Err(StoreError::Conflict(_))), "the old worker lost it");

    // w2 dies too, on the last attempt: the job is dead, not claimed a third time.
    let t2 = t1 + Duration::seconds(61);
    assert!(store.claim_jobs_with_lease("w3", 1, t2, lease).await.unwrap().is_empty());
    let job = store.get_job(id).await.unwrap();
    assert_eq!(job.state, JobState::Dead);
    assert!(job.last_error.unwrap().contains("stopped"));
}

async fn unique_keys_enqueue_once(db: &TestDatabase) {
    let store = db.store().await;
    let job = NewJob::new("sla_reminders", serde_json::json!({"date": "2026-03-09"})).unique("sla:2026-03-09");
    let first = store.enqueue_job(&job).await.unwrap();
    assert!(first.is_some());
    assert_eq!(store.enqueue_job(&job).await.unwrap(), None);
    assert!(store.enqueue_job(&job.clone().unique("sla:2026-03-10")).await.unwrap().is_some());
    // Jobs without a key never collide.
    for _ in 0..3 {
        assert!(store.enqueue_job(&NewJob::new("x", serde_json::json!(null))).await.unwrap().is_some());
    }
    assert_eq!(store.job_counts().await.unwrap(), vec![(JobState::Queued, 5)]);
}

async fn seed_referral(store: &Store) -> Referral {
    let r = Practice::seed(store).await.draft(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    store.insert_referral(&r).await.unwrap();
    r
}

async fn notifications_commit_with_the_change(db: &TestDatabase) {
    let store = db.store().await;
    let r = seed_referral(&store).await;
    let msg = |to: &str, template: &str| OutboxMessage {
        channel: Channel::Email,
        recipient: to.into(),
        template: telederm_store::Template::parse(template).expect("a known template"),
        link: format!("https://telederm.example/referrals/{}", r.id),
        referral_id: Some(r.id),
        dedupe_key: None,
    };

    // A stale write commits nothing: no change, no notification, no job.
    let mut stale = r.clone();
    let mut fresh = r.clone();
    fresh.updated_at = Utc::now();
    store.update_referral(&mut fresh, None, None).await.unwrap();
    let err = store
        .update_referral_notifying(&mut stale, None, None, &[msg("gp@example.nhs.uk", "gp_response_ready")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    assert!(store.list_outbox(r.id).await.unwrap().is_empty());
    assert!(store.job_counts().await.unwrap().is_empty());

    let ids = store
        .update_referral_notifying(
            &mut fresh,
            None,
            None,
            &[msg("gp@example.nhs.uk", "gp_response_ready"), msg("ada@example.com", "patient_response_ready")],
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(fresh.version, 3);
    let outbox = store.list_outbox(r.id).await.unwrap();
    assert_eq!(outbox.iter().map(|o| o.recipient.as_str()).collect::<Vec<_>>(), ["gp@example.nhs.uk", "ada@example.com"]);
    assert!(outbox.iter().all(|o| o.state == OutboxState::Pending));

    // Each message has its delivery job; delivering is idempotent.
    let jobs = store.claim_jobs("sender", 10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert_eq!(job.kind, SEND_NOTIFICATION_JOB);
        let id = uuid::Uuid::parse_str(job.payload["outbox_id"].as_str().unwrap()).unwrap();
        assert!(ids.contains(&id));
        assert!(store.mark_outbox_sent(id, Some("ref-1"), Utc::now()).await.unwrap());
        assert!(!store.mark_outbox_sent(id, Some("ref-2"), Utc::now()).await.unwrap(), "a repeat does nothing");
        store.complete_job(job.id, "sender").await.unwrap();
    }
    let sent = store.get_outbox(ids[0]).await.unwrap();
    assert_eq!((sent.state, sent.provider_reference.as_deref()), (OutboxState::Sent, Some("ref-1")));
    assert!(sent.sent_at.is_some());

    // Dedupe keys: a reminder is written once however often the scan runs.
    let mut reminder = msg("derm@example.nhs.uk", "sla_due_today");
    reminder.dedupe_key = Some(format!("sla:due_today:{}:2026-03-09", r.id));
    assert_eq!(store.enqueue_notifications(&[reminder.clone()]).await.unwrap().len(), 1);
    assert!(store.enqueue_notifications(&[reminder]).await.unwrap().is_empty());
    assert_eq!(store.list_outbox(r.id).await.unwrap().len(), 3);
}

/// Several nodes (each its own `Store` and connection pool on the same database) drain 200 jobs
/// concurrently. Every job runs exactly once and ends done.
async fn two_hundred_jobs_run_exactly_once(db: &TestDatabase) {
    const JOBS: usize = 200;
    let setup = db.store().await;
    for n in 0..JOBS {
        setup.enqueue_job(&NewJob::new("count", serde_json::json!({ "n": n }))).await.unwrap();
    }
    let runs: Arc<Mutex<HashMap<u64, Vec<String>>>> = Arc::default();
    let nodes = if db.dialect == Dialect::Postgres { 4 } else { 3 };
    let mut workers = Vec::new();
    for node in 0..nodes {
        let store = db.store().await;
        for w in 0..2 {
            let (store, runs) = (store.clone(), runs.clone());
            let name = format!("node{node}-w{w}");
            workers.push(tokio::spawn(async move {
                loop {
                    let jobs = store.claim_jobs(&name, 3).await.unwrap();
                    if jobs.is_empty() {
                        break;
                    }
                    for job in jobs {
                        let n = job.payload["n"].as_u64().unwrap();
                        runs.lock().unwrap().entry(n).or_default().push(name.clone());
                        tokio::task::yield_now().await;
                        store.complete_job(job.id, &name).await.unwrap();
                    }
                }
            }));
        }
    }
    for w in workers {
        w.await.unwrap();
    }
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), JOBS, "every job ran");
    let repeated: Vec<_> = runs.iter().filter(|(_, by)| by.len() != 1).collect();
    assert!(repeated.is_empty(), "jobs that ran more than once: {repeated:?}");
    let workers_used: std::collections::HashSet<&String> = runs.values().flatten().collect();
    assert!(workers_used.len() > 1, "the work was shared: {workers_used:?}");
    assert_eq!(setup.job_counts().await.unwrap(), vec![(JobState::Done, JOBS as i64)]);
}

async fn sla_reminders_reach_consultants_then_the_lead_once(db: &TestDatabase) {
    let store = db.store().await;
    let base = seed_referral(&store).await;
    let provider = Organisation {
        id: OrganisationId::new(),
        kind: OrganisationKind::Provider,
        ods_code: "RQX".into(),
        name: "Homerton".into(),
        services: vec!["homerton".into()],
    };
    store.create_organisation(&provider).await.unwrap();
    let staff = |email: &str, role: Role, service: &str| User {
        profession: None,
        id: UserId::new(),
        email: email.into(),
        display_name: email.into(),
        role,
        organisation_id: provider.id,
        services: vec![service.into()],
    };
    let derm = staff("derm@example.nhs.uk", Role::Consultant, "homerton");
    let lead = staff("lead@example.nhs.uk", Role::ServiceAdmin, "homerton");
    let elsewhere = staff("other@example.nhs.uk", Role::Consultant, "hackney-rash");
    for u in [&derm, &lead, &elsewhere] {
        store.create_user(u, "x").await.unwrap();
    }
    let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    // Friday 6th: due Monday 9th is "tomorrow" by working days; one due today, one overdue, one
    // later, and one already answered.
    let make = |due: u32, status: ReferralStatus| {
        let mut r = base.clone();
        r.id = ReferralId::new();
        r.status = status;
        r.due_date = Some(day(due));
        r
    };
    let rs = [
        make(9, ReferralStatus::Submitted),
        make(6, ReferralStatus::InReview),
        make(4, ReferralStatus::AwaitingInformation),
        make(11, ReferralStatus::Submitted),
        make(5, ReferralStatus::OutcomeIssued),
    ];
    for r in &rs {
        store.insert_referral(r).await.unwrap();
    }
    let link = |id: ReferralId| format!("https://telederm.example/r/{id}");
    assert_eq!(store.queue_sla_reminders(day(6), day(9), link, |_| false).await.unwrap(), 3);
    let got = |r: &Referral| {
        let store = store.clone();
        let id = r.id;
        async move {
            store.list_outbox(id).await.unwrap().into_iter().map(|o| (o.recipient, o.template)).collect::<Vec<_>>()
        }
    };
    assert_eq!(got(&rs[0]).await, [("derm@example.nhs.uk".to_string(), telederm_store::Template::SlaDueTomorrow)]);
    assert_eq!(got(&rs[1]).await, [("derm@example.nhs.uk".to_string(), telederm_store::Template::SlaDueToday)]);
    assert_eq!(got(&rs[2]).await, [("lead@example.nhs.uk".to_string(), telederm_store::Template::SlaBreached)]);
    assert!(got(&rs[3]).await.is_empty() && got(&rs[4]).await.is_empty());
    assert_eq!(store.list_outbox(rs[0].id).await.unwrap()[0].link, link(rs[0].id));

    // The scan runs again (another node, a retry): nothing new. The next day the overdue one is
    // not escalated again, and the due-tomorrow one is now due today.
    assert_eq!(store.queue_sla_reminders(day(6), day(9), link, |_| false).await.unwrap(), 0);
    assert_eq!(store.queue_sla_reminders(day(9), day(10), link, |_| false).await.unwrap(), 2, "due today + newly breached");
    assert_eq!(got(&rs[0]).await.len(), 2);
    assert_eq!(got(&rs[2]).await.len(), 1);

    // A service whose clock stops while it waits for the referrer: nothing is due while it waits,
    // so no reminder or escalation; a service without the pause reminds as before.
    let waiting = make(10, ReferralStatus::AwaitingInformation);
    let late = make(3, ReferralStatus::AwaitingInformation);
    for r in [&waiting, &late] {
        store.insert_referral(r).await.unwrap();
    }
    store.queue_sla_reminders(day(10), day(11), link, |service| service == "homerton").await.unwrap();
    assert!(got(&waiting).await.is_empty() && got(&late).await.is_empty());
    store.queue_sla_reminders(day(10), day(11), link, |_| false).await.unwrap();
    assert_eq!(got(&waiting).await, [("derm@example.nhs.uk".to_string(), telederm_store::Template::SlaDueToday)]);
    assert_eq!(got(&late).await, [("lead@example.nhs.uk".to_string(), telederm_store::Template::SlaBreached)]);
}
