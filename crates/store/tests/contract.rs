//! The storage contract: one set of tests, run against SQLite (a temporary file) and PostgreSQL
//! (a fresh database on the local server, dropped afterwards; the server is started if needed).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::outcome::{Outcome, OutcomeCode};
use telederm_domain::patient::{Contact, Patient, Sex};
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::{
    Action, ClinicalHistory, Consent, ConsentGivenBy, ConsentMethod, Message, MessageKind, Priority, Referral,
    ReferralStatus, Route,
};
use telederm_domain::{MessageId, NhsNumber, OrganisationId, PhotoId, ReferralId, UserId};
use telederm_store::{EventRecord, PhotoRecord, ReferralFilter, Store, StoreError};

telederm_store::on_both_databases!(store:
    organisations,
    users,
    sessions_expire_and_end,
    password_change_ends_sessions,
    sessions_end_when_idle,
    sign_in_failures_are_counted_per_subject,
    oidc_logins_are_single_use_and_expire,
    referral_round_trip,
    gp_letters_move_forward_only,
    optimistic_version_conflict,
    list_filters,
    due_date_ordering_and_paging,
    photos,
    messages_and_events,
    counts_by_status,
    report_facts_follow_every_write,
    month_totals_agree_with_the_facts,
    saved_phrases,
    migrations_are_idempotent,
    name_words_are_filled_in_for_older_referrals,
);

// ---------------------------------------------------------------- fixtures

/// A fixed instant (whole microseconds, as stored).
fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
}

/// The `i`-th valid NHS number of a small deterministic set.
fn nhs(i: u32) -> NhsNumber {
    (0..)
        .map(|n: u32| format!("{:09}", 943_476_000 + i * 37 + n))
        .find_map(|nine| {
            let digits: Vec<u8> = nine.bytes().map(|b| b - b'0').collect();
            NhsNumber::check_digit(&digits).map(|c| NhsNumber::parse(&format!("{nine}{c}")).unwrap())
        })
        .unwrap()
}

fn org(kind: OrganisationKind, ods: &str, name: &str, services: &[&str]) -> Organisation {
    Organisation {
        id: OrganisationId::new(),
        kind,
        ods_code: ods.into(),
        name: name.into(),
        services: services.iter().map(|s| s.to_string()).collect(),
    }
}

fn user(org: &Organisation, email: &str, role: Role, services: &[&str]) -> User {
    User {
        profession: None,
        id: UserId::new(),
        email: email.into(),
        display_name: format!("Dr {email}"),
        role,
        organisation_id: org.id,
        services: services.iter().map(|s| s.to_string()).collect(),
    }
}

struct World {
    practice: Organisation,
    provider: Organisation,
    gp: User,
    consultant: User,
}

async fn world(store: &Store) -> World {
    let practice = org(OrganisationKind::GpPractice, "F84001", "Mare Street Surgery", &[]);
    let provider = org(OrganisationKind::Provider, "RQX", "Homerton Dermatology", &["homerton", "hackney-rash"]);
    store.create_organisation(&practice).await.unwrap();
    store.create_organisation(&provider).await.unwrap();
    let gp = user(&practice, "gp@example.nhs.uk", Role::Referrer, &[]);
    let consultant = user(&provider, "derm@example.nhs.uk", Role::Consultant, &["homerton"]);
    store.create_user(&gp, "hash-gp").await.unwrap();
    store.create_user(&consultant, "hash-derm").await.unwrap();
    World { practice, provider, gp, consultant }
}

fn referral(w: &World, i: u32, given: &str, family: &str) -> Referral {
    Referral {
        id: ReferralId::new(),
        service_id: "homerton".into(),
        route: Route::Ras,
        priority: Priority::Routine,
        status: ReferralStatus::Draft,
        practice_id: w.practice.id,
        referrer_id: w.gp.id,
        assignee_id: None,
        patient: Patient {
            nhs_number: nhs(i),
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: NaiveDate::from_ymd_opt(1970, 1, 1 + i % 28).unwrap(),
            sex: Sex::Female,
            postcode: "E8 1DY".into(),
            contact: Contact { email: Some(format!("p{i}@example.com")), phone: None, ..Default::default() },
            ethnic_category: None,
            fitzpatrick_type: None,
        },
        history: ClinicalHistory {
            presenting_complaint: "Changing mole, left forearm".into(),
            duration: "3 months".into(),
            body_sites: vec!["left forearm".into()],
            ..Default::default()
        },
        consent: Some(Consent {
            given_by: ConsentGivenBy::Patient,
            method: ConsentMethod::Verbal,
            direct_care: true,
            teaching: false,
            research: false,
        }),
        eligibility_answers: Some(serde_json::json!({"age_over_18": true})),
        eligibility: None,
        conversion_authorised: false,
        ubrn: None,
        outcome: None,
        created_at: at(2, 9) + Duration::minutes(i.into()),
        updated_at: at(2, 9) + Duration::minutes(i.into()),
        submitted_at: None,
        due_date: None,
        version: 1,
        patient_answers: None,
    }
}

fn event(action: Action, from: Option<ReferralStatus>, to: ReferralStatus, actor: UserId, t: DateTime<Utc>) -> EventRecord {
    EventRecord { actor_id: Some(actor), action, from_status: from, to_status: to, at: t }
}

/// Submits a draft with a due date, through the same write path the web layer uses.
async fn submit(store: &Store, r: &mut Referral, due: NaiveDate, t: DateTime<Utc>) {
    let from = r.status;
    r.apply(Action::Submit, t).unwrap();
    r.submitted_at = Some(t);
    r.due_date = Some(due);
    let e = event(Action::Submit, Some(from), r.status, r.referrer_id, t);
    store.update_referral(r, Some(&e), None).await.unwrap();
}

/// An answer of eczema treated with emollients (`reason` for a rejection), recorded by `by` at `t`.
fn eczema_outcome(code: OutcomeCode, reason: Option<telederm_domain::outcome::RejectionReason>, by: UserId, t: DateTime<Utc>) -> Outcome {
    Outcome {
        code,
        rejection_reason: reason,
        diagnosis: "Eczema".into(),
        diagnosis_code: None,
        management_plan: "Emollients".into(),
        follow_up: String::new(),
        priority: None,
        onward_service: None,
        recorded_by: by,
        recorded_at: t,
    }
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

// ---------------------------------------------------------------- the contract

async fn organisations(store: &Store) {
    let w = world(store).await;
    let all = store.list_organisations().await.unwrap();
    assert_eq!(all.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["Homerton Dermatology", "Mare Street Surgery"]);
    let mut provider = w.provider.clone();
    provider.services.sort();
    assert_eq!(store.get_organisation(w.provider.id).await.unwrap(), provider, "services round-trip, sorted");
    assert_eq!(store.organisation_by_ods("f84001").await.unwrap(), Some(w.practice.clone()));
    assert_eq!(store.organisation_by_ods("NOPE").await.unwrap(), None);
    assert!(matches!(store.get_organisation(OrganisationId::new()).await, Err(StoreError::NotFound)));

    let dup = org(OrganisationKind::GpPractice, "F84001", "Another", &[]);
    assert!(matches!(store.create_organisation(&dup).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.list_organisations().await.unwrap().len(), 2, "a refused insert leaves nothing behind");
}

async fn users(store: &Store) {
    let w = world(store).await;
    assert_eq!(store.count_users().await.unwrap(), 2);
    let (found, hash) = store.user_by_email("  DERM@Example.nhs.uk ").await.unwrap().expect("found by email");
    assert_eq!(found, w.consultant);
    assert_eq!(hash, "hash-derm");
    assert_eq!(store.get_user(w.gp.id).await.unwrap(), w.gp);
    assert!(store.user_by_email("nobody@example.com").await.unwrap().is_none());
    assert!(matches!(store.get_user(UserId::new()).await, Err(StoreError::NotFound)));

    let mut dup = user(&w.practice, "GP@example.nhs.uk", Role::Referrer, &[]);
    dup.id = UserId::new();
    assert!(matches!(store.create_user(&dup, "x").await, Err(StoreError::Conflict(_))), "emails are case-insensitive");
    let emails: Vec<_> = store.list_users().await.unwrap().into_iter().map(|u| u.email).collect();
    assert_eq!(emails, ["derm@example.nhs.uk", "gp@example.nhs.uk"]);
}

async fn sessions_expire_and_end(store: &Store) {
    let w = world(store).await;
    let now = at(5, 12);
    store.create_session("tok-a", w.gp.id, now, now + Duration::hours(8)).await.unwrap();
    store.create_session("tok-b", w.gp.id, now, now + Duration::hours(1)).await.unwrap();

    let s = store.session_user("tok-a", now + Duration::hours(2)).await.unwrap().expect("live session");
    assert_eq!(s.user, w.gp);
    assert_eq!(s.created_at, now);
    assert_eq!(s.last_seen_at, now);
    assert!(store.session_user("tok-b", now + Duration::hours(2)).await.unwrap().is_none(), "expired");
    assert!(store.session_user("tok-b", now + Duration::hours(1)).await.unwrap().is_none(), "expiry is exclusive");
    assert!(store.session_user("tok-b", now + Duration::minutes(59)).await.unwrap().is_some());
    assert!(store.session_user("unknown", now).await.unwrap().is_none());

    store.delete_session("tok-a").await.unwrap();
    assert!(store.session_user("tok-a", now).await.unwrap().is_none());
    store.delete_session("tok-a").await.unwrap();
}

async fn password_change_ends_sessions(store: &Store) {
    let w = world(store).await;
    let now = at(5, 12);
    store.create_session("gp-1", w.gp.id, now, now + Duration::hours(8)).await.unwrap();
    store.create_session("derm-1", w.consultant.id, now, now + Duration::hours(8)).await.unwrap();
    store.set_password_hash(w.gp.id, "new-hash", &telederm_store::NewAuditEntry::default()).await.unwrap();
    assert_eq!(store.user_by_email("gp@example.nhs.uk").await.unwrap().unwrap().1, "new-hash");
    assert!(store.session_user("gp-1", now).await.unwrap().is_none());
    assert!(store.session_user("derm-1", now).await.unwrap().is_some(), "other users keep their sessions");
}

async fn sessions_end_when_idle(store: &Store) {
    let w = world(store).await;
    let now = at(5, 12);
    store.create_session("tok", w.gp.id, now, now + Duration::hours(12)).await.unwrap();
    // Used 20 minutes later (idle cutoff 30 minutes): alive, and the use is recorded.
    let t1 = now + Duration::minutes(20);
    let s = store.use_session("tok", t1, t1 - Duration::minutes(30)).await.unwrap().expect("alive");
    assert_eq!(s.last_seen_at, t1);
    assert_eq!(store.session_user("tok", t1).await.unwrap().unwrap().last_seen_at, t1, "last use stored");
    // Used again within the minute: not rewritten.
    let t2 = t1 + Duration::seconds(30);
    assert_eq!(store.use_session("tok", t2, t2 - Duration::minutes(30)).await.unwrap().unwrap().last_seen_at, t1);
    // 31 minutes without use: gone, and gone for good.
    let t3 = t1 + Duration::minutes(31);
    assert!(store.use_session("tok", t3, t3 - Duration::minutes(30)).await.unwrap().is_none());
    assert!(store.session_user("tok", t1).await.unwrap().is_none(), "an idle session is deleted");
    // Absolute expiry holds even for a session in constant use.
    store.create_session("busy", w.gp.id, now, now + Duration::hours(12)).await.unwrap();
    let late = now + Duration::hours(12);
    assert!(store.use_session("busy", late, late - Duration::hours(100)).await.unwrap().is_none());
    // Ending all of a user's sessions.
    store.create_session("a", w.gp.id, now, now + Duration::hours(1)).await.unwrap();
    store.create_session("b", w.gp.id, now, now + Duration::hours(1)).await.unwrap();
    store.create_session("c", w.consultant.id, now, now + Duration::hours(1)).await.unwrap();
    assert_eq!(store.delete_user_sessions(w.gp.id).await.unwrap(), 3);
    assert!(store.session_user("c", now).await.unwrap().is_some());
}

async fn sign_in_failures_are_counted_per_subject(store: &Store) {
    let now = at(5, 12);
    let long_ago = now - Duration::days(1);
    for i in 0..3 {
        store.record_sign_in_failure("account", "gp@example.nhs.uk", now - Duration::minutes(20 - i), long_ago).await.unwrap();
    }
    store.record_sign_in_failure("address", "192.0.2.1", now, long_ago).await.unwrap();
    let recent = store.sign_in_failures_since("account", "gp@example.nhs.uk", now - Duration::minutes(20)).await.unwrap();
    assert_eq!(recent, vec![now - Duration::minutes(19), now - Duration::minutes(18)], "only inside the window, oldest first");
    assert_eq!(store.sign_in_failures_since("account", "gp@example.nhs.uk", long_ago).await.unwrap().len(), 3);
    assert_eq!(store.sign_in_failures_since("address", "192.0.2.1", long_ago).await.unwrap().len(), 1);
    assert!(store.sign_in_failures_since("account", "other@example.nhs.uk", long_ago).await.unwrap().is_empty());
    // Recording prunes failures older than the given time.
    store.record_sign_in_failure("address", "192.0.2.2", now, now - Duration::minutes(5)).await.unwrap();
    assert!(store.sign_in_failures_since("account", "gp@example.nhs.uk", long_ago).await.unwrap().is_empty());
    store.clear_sign_in_failures("address", "192.0.2.1").await.unwrap();
    assert!(store.sign_in_failures_since("address", "192.0.2.1", long_ago).await.unwrap().is_empty());
    assert_eq!(store.sign_in_failures_since("address", "192.0.2.2", long_ago).await.unwrap().len(), 1);
}

async fn oidc_logins_are_single_use_and_expire(store: &Store) {
    let now = at(5, 12);
    let login = telederm_store::OidcLogin { nonce: "n".into(), pkce_verifier: "v".into(), next_path: "/worklist".into(), created_at: now };
    store.create_oidc_login(&login, "state-1").await.unwrap();
    store.create_oidc_login(&telederm_store::OidcLogin { created_at: now - Duration::minutes(20), ..login.clone() }, "state-old").await.unwrap();
    let cutoff = now - Duration::minutes(10);
    assert_eq!(store.take_oidc_login("state-1", cutoff).await.unwrap(), Some(login));
    assert_eq!(store.take_oidc_login("state-1", cutoff).await.unwrap(), None, "single use");
    assert_eq!(store.take_oidc_login("state-old", cutoff).await.unwrap(), None, "expired");
    assert_eq!(store.take_oidc_login("unknown", cutoff).await.unwrap(), None);
}

async fn referral_round_trip(store: &Store) {
    let w = world(store).await;
    let mut r = referral(&w, 1, "Ada", "Lovelace");
    r.outcome = Some(Outcome {
        code: OutcomeCode::AdviceManagementPlan,
        rejection_reason: None,
        diagnosis: "Seborrhoeic keratosis".into(),
        diagnosis_code: None,
        management_plan: "Reassure".into(),
        follow_up: String::new(),
        priority: None,
        onward_service: None,
        recorded_by: w.consultant.id,
        recorded_at: at(4, 10),
    });
    r.assignee_id = Some(w.consultant.id);
    r.conversion_authorised = true;
    r.eligibility = Some(serde_json::json!({"eligible": true, "reasons": []}));
    r.submitted_at = Some(at(3, 8));
    r.due_date = Some(day(6));
    store.insert_referral(&r).await.unwrap();
    assert_eq!(store.get_referral(r.id).await.unwrap(), r);
    assert!(matches!(store.get_referral(ReferralId::new()).await, Err(StoreError::NotFound)));

    let listed = store.list_referrals(&ReferralFilter::default()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].patient_name, "Ada Lovelace");
    assert_eq!(listed[0].nhs_number, r.patient.nhs_number.as_digits());
    assert_eq!(listed[0].outcome_code.as_deref(), Some("advice_management_plan"));
    assert_eq!(listed[0].due_date, Some(day(6)));
    assert_eq!(listed[0].assignee_id, Some(w.consultant.id));
}

/// Outcome letters for the GP record (MESH): written with the change and their job, found by the
/// ids MESH and the acknowledgements use, and their status only moves forward.
async fn gp_letters_move_forward_only(store: &Store) {
    use telederm_store::{GpLetterStatus, NewGpLetter};
    let w = world(store).await;
    let mut r = referral(&w, 1, "Ada", "Lovelace");
    store.insert_referral(&r).await.unwrap();
    let letter = NewGpLetter { referral_id: r.id, referral_version: r.version + 1, practice_ods: "F84001".into() };
    let entry = telederm_store::NewAuditEntry { action: "referral.record_outcome".into(), record_type: "referral".into(), ..Default::default() };
    store.apply_change_with_letters(&mut r, None, None, &[], &[], std::slice::from_ref(&letter), &entry).await.unwrap();
    let l = store.gp_letters_for(r.id).await.unwrap().pop().expect("the letter is written with the change");
    assert_eq!((l.status, l.local_id.as_str()), (GpLetterStatus::Pending, letter.local_id().as_str()));
    let jobs = store.list_jobs(None, 50).await.unwrap();
    assert!(jobs.iter().any(|j| j.kind == "send_gp_letter" && j.payload["gp_letter_id"] == l.id.to_string()), "with its job");
    assert!(!store.mark_gp_letter_delivered(l.id, at(5, 9)).await.unwrap(), "not delivered before it is sent");
    assert!(store.mark_gp_letter_sent(l.id, "Y00001GP", "MSG1", at(5, 9)).await.unwrap());
    assert_eq!(store.gp_letter_by_mesh_ids(None, Some("MSG1")).await.unwrap().map(|x| x.id), Some(l.id));
    assert_eq!(store.gp_letter_by_mesh_ids(Some(&l.local_id), None).await.unwrap().map(|x| x.id), Some(l.id));
    assert!(store.gp_letter_by_mesh_ids(None, None).await.unwrap().is_none());
    assert_eq!(store.gp_letter_by_itk_id(&l.itk_message_id).await.unwrap().map(|x| x.id), Some(l.id));
    assert_eq!(store.gp_letters_awaiting_filing_since(at(6, 0)).await.unwrap().len(), 1);
    assert!(store.mark_gp_letter_delivered(l.id, at(5, 10)).await.unwrap());
    assert!(store.mark_gp_letter_filed(l.id, at(5, 11)).await.unwrap());
    assert!(!store.mark_gp_letter_delivered(l.id, at(5, 12)).await.unwrap(), "a late infrastructure acknowledgement does not undo filed");
    assert!(!store.mark_gp_letter_failed(l.id, GpLetterStatus::Failed, "late", None, at(5, 12)).await.unwrap(), "nor a failure");
    assert_eq!(store.get_gp_letter(l.id).await.unwrap().status, GpLetterStatus::Filed);
    assert!(store.gp_letter_problems(10).await.unwrap().is_empty());
    assert_eq!(store.gp_letter_counts().await.unwrap(), [(GpLetterStatus::Filed, 1)]);
}

async fn optimistic_version_conflict(store: &Store) {
    let w = world(store).await;
    let r = referral(&w, 2, "Mary", "Seacole");
    store.insert_referral(&r).await.unwrap();

    let mut first = store.get_referral(r.id).await.unwrap();
    let mut second = store.get_referral(r.id).await.unwrap();
    submit(store, &mut first, day(9), at(3, 9)).await;
    assert_eq!(first.version, 2);
    assert_eq!(store.get_referral(r.id).await.unwrap(), first);

    second.history.presenting_complaint = "edited in another tab".into();
    second.updated_at = at(3, 10);
    let e = event(Action::Withdraw, Some(ReferralStatus::Draft), ReferralStatus::Withdrawn, w.gp.id, at(3, 10));
    let m = Message {
        id: MessageId::new(),
        referral_id: r.id,
        kind: MessageKind::Reply,
        author_id: Some(w.gp.id),
        author_name: "Dr GP".into(),
        body: "lost".into(),
        created_at: at(3, 10),
        topic: None,
    };
    let err = store.update_referral(&mut second, Some(&e), Some(&m)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(second.version, 1, "a refused write leaves the caller's version alone");

    let stored = store.get_referral(r.id).await.unwrap();
    assert_eq!(stored.history.presenting_complaint, "Changing mole, left forearm");
    assert_eq!(store.list_events(r.id).await.unwrap().len(), 1, "the refused write added no event");
    assert!(store.list_messages(r.id).await.unwrap().is_empty(), "nor a message");

    // Reloaded, the same edit goes through.
    let mut reloaded = stored;
    reloaded.history.presenting_complaint = "edited after reloading".into();
    store.update_referral(&mut reloaded, None, None).await.unwrap();
    assert_eq!(reloaded.version, 3);
    assert_eq!(store.get_referral(r.id).await.unwrap().history.presenting_complaint, "edited after reloading");
}

async fn list_filters(store: &Store) {
    let w = world(store).await;
    let other_practice = org(OrganisationKind::GpPractice, "F84002", "Other Surgery", &[]);
    store.create_organisation(&other_practice).await.unwrap();

    let mut a = referral(&w, 1, "Ada", "Lovelace");
    let mut b = referral(&w, 2, "Mary", "Seacole");
    b.route = Route::AdviceAndGuidance;
    b.priority = Priority::Urgent;
    let mut c = referral(&w, 3, "Florence", "Nightingale");
    c.service_id = "hackney-rash".into();
    c.practice_id = other_practice.id;
    let d = referral(&w, 4, "Ada", "Byron");
    for r in [&a, &b, &c, &d] {
        store.insert_referral(r).await.unwrap();
    }
    submit(store, &mut a, day(9), at(3, 9)).await;
    submit(store, &mut b, day(10), at(3, 10)).await;
    submit(store, &mut c, day(11), at(3, 11)).await;

    let ids = |f: ReferralFilter| async move {
        let mut v: Vec<ReferralId> = store.list_referrals(&f).await.unwrap().into_iter().map(|s| s.id).collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<ReferralId>| {
        v.sort();
        v
    };

    assert_eq!(ids(ReferralFilter::default()).await.len(), 4);
    assert_eq!(ids(ReferralFilter { practice_id: Some(w.practice.id), ..Default::default() }).await, sorted(vec![a.id, b.id, d.id]));
    assert_eq!(ids(ReferralFilter { service_ids: Some(vec!["hackney-rash".into()]), ..Default::default() }).await, vec![c.id]);
    assert_eq!(
        ids(ReferralFilter { service_ids: Some(vec!["hackney-rash".into(), "homerton".into()]), ..Default::default() })
            .await
            .len(),
        4
    );
    // Across services the list keeps one order (newest first) and pages through it: PostgreSQL
    // answers it one branch per service, merged, so each branch must reach past the offset.
    let across = |statuses: Option<Vec<ReferralStatus>>, route: Option<Route>, limit, offset| ReferralFilter {
        service_ids: Some(vec!["homerton".into(), "hackney-rash".into()]),
        statuses,
        route,
        limit: Some(limit),
        offset: Some(offset),
        ..Default::default()
    };
    let listed = |f: ReferralFilter| async move { store.list_referrals(&f).await.unwrap().into_iter().map(|s| s.id).collect::<Vec<_>>() };
    assert_eq!(listed(across(None, None, 10, 0)).await, vec![c.id, b.id, a.id, d.id]);
    assert_eq!(listed(across(None, None, 2, 1)).await, vec![b.id, a.id]);
    assert_eq!(listed(across(None, None, 1, 3)).await, vec![d.id], "the offset reaches into one service's referrals");
    assert_eq!(listed(across(Some(vec![ReferralStatus::Submitted]), None, 5, 2)).await, vec![a.id]);
    assert_eq!(listed(across(Some(vec![ReferralStatus::Submitted]), Some(Route::Ras), 5, 0)).await, vec![c.id, a.id]);
    let routine_ras = |statuses, limit, offset| ReferralFilter { priority: Some(Priority::Routine), ..across(statuses, Some(Route::Ras), limit, offset) };
    assert_eq!(listed(routine_ras(None, 10, 0)).await, vec![c.id, a.id, d.id]);
    assert_eq!(listed(routine_ras(None, 1, 2)).await, vec![d.id], "a route and priority across services pages through one order");
    let not_draft = ReferralStatus::ALL.into_iter().filter(|s| *s != ReferralStatus::Draft).collect();
    assert_eq!(listed(routine_ras(Some(not_draft), 1, 1)).await, vec![a.id], "a consultant's statuses, tested in each branch");
    assert!(ids(ReferralFilter { service_ids: Some(vec![]), ..Default::default() }).await.is_empty());
    assert!(ids(ReferralFilter { statuses: Some(vec![]), ..Default::default() }).await.is_empty());
    assert_eq!(ids(ReferralFilter { statuses: Some(vec![ReferralStatus::Draft]), ..Default::default() }).await, vec![d.id]);
    assert_eq!(
        ids(ReferralFilter { statuses: Some(vec![ReferralStatus::Submitted, ReferralStatus::Draft]), ..Default::default() })
            .await
            .len(),
        4
    );
    assert_eq!(ids(ReferralFilter { route: Some(Route::AdviceAndGuidance), ..Default::default() }).await, vec![b.id]);
    assert_eq!(ids(ReferralFilter { priority: Some(Priority::Urgent), ..Default::default() }).await, vec![b.id]);
    assert_eq!(
        ids(ReferralFilter { nhs_number: Some(c.patient.nhs_number.as_digits()), ..Default::default() }).await,
        vec![c.id]
    );
    assert_eq!(ids(ReferralFilter { patient_name: Some("aDA".into()), ..Default::default() }).await, sorted(vec![a.id, d.id]));
    assert_eq!(ids(ReferralFilter { patient_name: Some("seaC".into()), ..Default::default() }).await, vec![b.id]);
    // A name search keeps the list's order and pages (it is answered in two steps: ids, then rows).
    let by_name = |limit, offset| ReferralFilter { patient_name: Some("ada".into()), limit: Some(limit), offset: Some(offset), ..Default::default() };
    let in_order = |f: ReferralFilter| async move { store.list_referrals(&f).await.unwrap().into_iter().map(|s| s.id).collect::<Vec<_>>() };
    assert_eq!(in_order(by_name(10, 0)).await, vec![a.id, d.id], "most recently updated first");
    assert_eq!(in_order(by_name(1, 0)).await, vec![a.id]);
    assert_eq!(in_order(by_name(1, 1)).await, vec![d.id]);
    assert!(ids(ReferralFilter { patient_name: Some("zzz".into()), ..Default::default() }).await.is_empty());
    // The search is by words (migration 0025): every word typed begins a word of the name, in
    // any order; the middle of a word finds nothing; punctuation alone finds no one.
    let named = |q: &str, practice: Option<OrganisationId>| ReferralFilter { patient_name: Some(q.into()), practice_id: practice, ..Default::default() };
    assert_eq!(ids(named("lovelace, ADA", None)).await, vec![a.id]);
    assert_eq!(ids(named("ada by", None)).await, vec![d.id]);
    assert!(ids(named("ovelace", None)).await.is_empty());
    assert!(ids(named("%", None)).await.is_empty());
    assert_eq!(ids(named("night", None)).await, vec![c.id]);
    assert!(ids(named("night", Some(w.practice.id))).await.is_empty(), "another practice's patient");
    assert_eq!(ids(named("night", Some(other_practice.id))).await, vec![c.id]);
    // A name corrected on a draft is found by its new words only.
    let mut renamed = store.get_referral(d.id).await.unwrap();
    renamed.patient.given_name = "Augusta".into();
    renamed.patient.family_name = "King-Noel".into();
    store.update_referral(&mut renamed, None, None).await.unwrap();
    assert!(ids(named("byron", Some(w.practice.id))).await.is_empty());
    assert_eq!(ids(named("noel aug", Some(w.practice.id))).await, vec![d.id]);
    assert_eq!(ids(named("ada", Some(w.practice.id))).await, vec![a.id]);
    // Narrowing filters combine.
    assert_eq!(
        ids(ReferralFilter {
            practice_id: Some(w.practice.id),
            statuses: Some(vec![ReferralStatus::Submitted]),
            route: Some(Route::Ras),
            ..Default::default()
        })
        .await,
        vec![a.id]
    );
}

async fn due_date_ordering_and_paging(store: &Store) {
    let w = world(store).await;
    // Inserted in an order that is neither the due order nor the update order.
    let mut rs: Vec<Referral> = (0..5).map(|i| referral(&w, 10 + i, "Pat", &format!("Number{i}"))).collect();
    for r in &rs {
        store.insert_referral(r).await.unwrap();
    }
    // Due dates: r0 -> 12th, r1 -> 10th, r2 -> none (draft), r3 -> 10th (submitted later), r4 -> 11th.
    submit(store, &mut rs[0], day(12), at(3, 8)).await;
    submit(store, &mut rs[1], day(10), at(3, 9)).await;
    submit(store, &mut rs[3], day(10), at(3, 10)).await;
    submit(store, &mut rs[4], day(11), at(3, 7)).await;
    let mut touched = rs[2].clone();
    touched.updated_at = at(4, 9);
    store.update_referral(&mut touched, None, None).await.unwrap();

    let worklist: Vec<ReferralId> = store
        .list_referrals(&ReferralFilter { by_due_date: true, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(worklist, vec![rs[1].id, rs[3].id, rs[4].id, rs[0].id, rs[2].id], "earliest deadline first, undated last");

    let recent: Vec<ReferralId> =
        store.list_referrals(&ReferralFilter::default()).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(recent, vec![rs[2].id, rs[3].id, rs[1].id, rs[0].id, rs[4].id], "most recently updated first");

    let page = |limit, offset| ReferralFilter { by_due_date: true, limit: Some(limit), offset: Some(offset), ..Default::default() };
    let p1: Vec<_> = store.list_referrals(&page(2, 0)).await.unwrap().into_iter().map(|s| s.id).collect();
    let p2: Vec<_> = store.list_referrals(&page(2, 2)).await.unwrap().into_iter().map(|s| s.id).collect();
    let p3: Vec<_> = store.list_referrals(&page(2, 4)).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!([p1, p2, p3].concat(), worklist);
}

fn photo(referral: ReferralId, kind: PhotoKind, n: u8, t: DateTime<Utc>) -> PhotoRecord {
    let k = |c: char| std::iter::repeat_n(c, 63).collect::<String>() + &n.to_string();
    PhotoRecord {
        face_confirmed: None,
        id: PhotoId::new(),
        referral_id: referral,
        kind,
        source: ImageSource::Clinician,
        uploaded_by: None,
        original_key: k('a'),
        original_type: "image/jpeg".into(),
        attachment_key: k('b'),
        preview_key: k('c'),
        thumbnail_key: k('d'),
        width: 4032,
        height: 3024,
        size_bytes: 2_345_678,
        verdict: telederm_domain::policy::Verdict::Accept,
        report: serde_json::json!({"sharpness": 0.82, "flags": ["ok"]}),
        created_at: t,
    }
}

async fn photos(store: &Store) {
    let w = world(store).await;
    let r = referral(&w, 1, "Ada", "Lovelace");
    store.insert_referral(&r).await.unwrap();
    let close = photo(r.id, PhotoKind::CloseUp, 2, at(3, 10));
    let mut locator = photo(r.id, PhotoKind::Locator, 1, at(3, 9));
    locator.source = ImageSource::Patient;
    locator.uploaded_by = Some(w.gp.id);
    store.insert_photo(&close).await.unwrap();
    store.insert_photo(&locator).await.unwrap();

    assert_eq!(store.list_photos(r.id).await.unwrap(), vec![locator.clone(), close.clone()], "oldest first");
    assert_eq!(store.get_photo(close.id).await.unwrap(), close);
    assert!(store.list_photos(ReferralId::new()).await.unwrap().is_empty());
    let keys = store.referenced_blob_keys().await.unwrap();
    assert_eq!(keys.len(), 8);
    assert!(keys.contains(&locator.thumbnail_key) && keys.contains(&close.original_key));

    store.delete_photo(locator.id).await.unwrap();
    assert!(matches!(store.get_photo(locator.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_photo(locator.id).await, Err(StoreError::NotFound)));
    assert_eq!(store.referenced_blob_keys().await.unwrap().len(), 4);
}

async fn messages_and_events(store: &Store) {
    let w = world(store).await;
    let mut r = referral(&w, 1, "Ada", "Lovelace");
    store.insert_referral(&r).await.unwrap();
    submit(store, &mut r, day(9), at(3, 9)).await;

    r.apply(Action::Claim, at(3, 11)).unwrap();
    r.assignee_id = Some(w.consultant.id);
    let e = event(Action::Claim, Some(ReferralStatus::Submitted), r.status, w.consultant.id, at(3, 11));
    store.update_referral(&mut r, Some(&e), None).await.unwrap();

    r.apply(Action::RequestInformation, at(3, 12)).unwrap();
    let ask = Message {
        id: MessageId::new(),
        referral_id: r.id,
        kind: MessageKind::InformationRequest,
        author_id: Some(w.consultant.id),
        author_name: w.consultant.display_name.clone(),
        body: "Please send a dermoscopic image.".into(),
        created_at: at(3, 12),
        topic: None,
    };
    let e = event(Action::RequestInformation, Some(ReferralStatus::InReview), r.status, w.consultant.id, at(3, 12));
    store.update_referral(&mut r, Some(&e), Some(&ask)).await.unwrap();

    r.apply(Action::Reply, at(4, 9)).unwrap();
    let reply = Message {
        id: MessageId::new(),
        referral_id: r.id,
        kind: MessageKind::Reply,
        author_id: Some(w.gp.id),
        author_name: w.gp.display_name.clone(),
        body: "Attached.".into(),
        created_at: at(4, 9),
        topic: None,
    };
    let e = event(Action::Reply, Some(ReferralStatus::AwaitingInformation), r.status, w.gp.id, at(4, 9));
    store.update_referral(&mut r, Some(&e), Some(&reply)).await.unwrap();

    assert_eq!(store.list_messages(r.id).await.unwrap(), vec![ask, reply]);
    let events = store.list_events(r.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| (e.action, e.to_status)).collect::<Vec<_>>(),
        vec![
            (Action::Submit, ReferralStatus::Submitted),
            (Action::Claim, ReferralStatus::InReview),
            (Action::RequestInformation, ReferralStatus::AwaitingInformation),
            (Action::Reply, ReferralStatus::InReview),
        ]
    );
    assert_eq!(events[0].from_status, Some(ReferralStatus::Draft));
    assert_eq!(events[1].actor_id, Some(w.consultant.id));
    assert_eq!(events[3].at, at(4, 9));
    assert_eq!(store.get_referral(r.id).await.unwrap().version, 5);
}

async fn counts_by_status(store: &Store) {
    let w = world(store).await;
    let mut rs = Vec::new();
    for i in 0..5 {
        let mut r = referral(&w, i, "Pat", "Count");
        if i == 4 {
            r.service_id = "hackney-rash".into();
        }
        store.insert_referral(&r).await.unwrap();
        rs.push(r);
    }
    submit(store, &mut rs[0], day(9), at(3, 9)).await;
    submit(store, &mut rs[1], day(9), at(3, 9)).await;
    submit(store, &mut rs[4], day(9), at(3, 9)).await;

    let mut all = store.count_by_status(None).await.unwrap();
    all.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(all, vec![(ReferralStatus::Draft, 2), (ReferralStatus::Submitted, 3)]);
    let mut homerton = store.count_by_status(Some(&["homerton".to_string()])).await.unwrap();
    homerton.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(homerton, vec![(ReferralStatus::Draft, 2), (ReferralStatus::Submitted, 2)]);
    assert!(store.count_by_status(Some(&[])).await.unwrap().is_empty());
}

/// The reports' facts (issue 17) are rewritten by every write to a referral or its photos, and
/// counted the same way on both databases.
async fn report_facts_follow_every_write(store: &Store) {
    use telederm_domain::outcome::RejectionReason;
    use telederm_store::reports::{FactColumn, FactScope};
    let w = world(store).await;
    let scope = |services: Option<&[&str]>| FactScope {
        services: services.map(|s| s.iter().map(|x| x.to_string()).collect()),
        practice_id: None,
        from: day(1),
        to: day(31),
        today: day(31),
    };
    let homerton = scope(Some(&["homerton"]));
    let answer = |r: &mut Referral, code: OutcomeCode, reason: Option<RejectionReason>, t: DateTime<Utc>, by: UserId| {
        r.apply(if code == OutcomeCode::Rejected { Action::Reject } else { Action::IssueOutcome }, t).unwrap();
        r.outcome = Some(eczema_outcome(code, reason, by, t));
    };
    let mut rs = Vec::new();
    for i in 0..4 {
        let mut r = referral(&w, i, "Pat", "Report");
        if i == 2 {
            r.service_id = "hackney-rash".into();
        }
        store.insert_referral(&r).await.unwrap();
        rs.push(r);
    }
    assert!(store.report_facts(&homerton, &[]).await.unwrap().is_empty(), "drafts have no facts");
    for r in rs.iter_mut().take(3) {
        submit(store, r, day(9), at(3, 9)).await;
    }
    // rs[0]: a question, then advice on Thursday (2 working days after Tuesday); rs[1]: a photo,
    // rejected the same day for its quality.
    let mut r = rs[0].clone();
    for (action, t) in [(Action::Claim, at(3, 10)), (Action::RequestInformation, at(3, 11)), (Action::Reply, at(4, 9))] {
        let from = r.status;
        r.apply(action, t).unwrap();
        let e = event(action, Some(from), r.status, w.consultant.id, t);
        store.update_referral(&mut r, Some(&e), None).await.unwrap();
    }
    let from = r.status;
    answer(&mut r, OutcomeCode::AdviceManagementPlan, None, at(5, 10), w.consultant.id);
    let e = event(Action::IssueOutcome, Some(from), r.status, w.consultant.id, at(5, 10));
    store.update_referral(&mut r, Some(&e), None).await.unwrap();
    let photo = photo(rs[1].id, PhotoKind::CloseUp, 1, at(3, 9));
    store.insert_photo(&photo).await.unwrap();
    let mut r = rs[1].clone();
    let from = r.status;
    r.apply(Action::Claim, at(3, 12)).unwrap();
    let e = event(Action::Claim, Some(from), r.status, w.consultant.id, at(3, 12));
    store.update_referral(&mut r, Some(&e), None).await.unwrap();
    answer(&mut r, OutcomeCode::Rejected, Some(RejectionReason::PoorImageQuality), at(3, 15), w.consultant.id);
    let e = event(Action::Reject, Some(ReferralStatus::InReview), r.status, w.consultant.id, at(3, 15));
    store.update_referral(&mut r, Some(&e), None).await.unwrap();

    let all = store.report_facts(&homerton, &[]).await.unwrap();
    assert_eq!(all.len(), 1);
    let g = &all[0];
    assert_eq!(
        (g.referrals, g.answered, g.rejected, g.managed, g.managed_remotely, g.info_requested, g.photos_accept, g.within_target, g.breached),
        (2, 2, 1, 1, 1, 1, 1, 2, 0)
    );
    let mut days: Vec<_> = store.report_facts(&homerton, &[FactColumn::WorkingDays]).await.unwrap().into_iter().map(|g| (g.keys[0].clone(), g.referrals)).collect();
    days.sort();
    assert_eq!(days, vec![(Some("0".to_string()), 1), (Some("2".to_string()), 1)]);
    let reasons = store.report_facts(&homerton, &[FactColumn::RejectionReason, FactColumn::Sex, FactColumn::AgeBand]).await.unwrap();
    assert!(reasons.iter().any(|g| g.keys == [Some("poor_image_quality".to_string()), Some("female".to_string()), Some("45-64".to_string())] && g.rejected == 1), "{reasons:?}");
    // Every service, one practice, another period.
    assert_eq!(store.report_facts(&scope(None), &[]).await.unwrap()[0].referrals, 3);
    let practice = FactScope { practice_id: Some(w.practice.id), ..scope(None) };
    assert_eq!(store.report_facts(&practice, &[]).await.unwrap()[0].referrals, 3);
    let april = FactScope { from: NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(), to: NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(), ..scope(None) };
    assert!(store.report_facts(&april, &[]).await.unwrap().is_empty());
    // An open referral past its due date is a breach.
    let late = FactScope { today: day(10), ..scope(Some(&["hackney-rash"])) };
    assert_eq!(store.report_facts(&late, &[]).await.unwrap()[0].breached, 1);
    // A deleted photo leaves the counts; a rebuild gives the same facts.
    store.delete_photo(photo.id).await.unwrap();
    assert_eq!(store.report_facts(&homerton, &[]).await.unwrap()[0].photos_accept, 0);
    assert_eq!(store.rebuild_report_facts().await.unwrap(), 4);
    let rebuilt = store.report_facts(&homerton, &[]).await.unwrap();
    assert_eq!((rebuilt[0].referrals, rebuilt[0].answered, rebuilt[0].photos_accept, rebuilt[0].info_requested), (2, 2, 0, 1));
}

/// The practice-quality report reads whole months from their totals and the rest from the
/// facts: both ways give the same counts, the totals follow every write (photos, questions,
/// answers) and equal a recount, and an answer later than the totals' day
/// columns is counted exactly.
async fn month_totals_agree_with_the_facts(store: &Store) {
    use telederm_domain::outcome::RejectionReason;
    use telederm_domain::referral::InformationTopic;
    use telederm_store::reports::QualityCounts;
    let w = world(store).await;
    let mut rs = Vec::new();
    for i in 0..4 {
        let mut r = referral(&w, i, "Pat", "Month");
        if i == 2 {
            r.service_id = "hackney-rash".into();
        }
        store.insert_referral(&r).await.unwrap();
        submit(store, &mut r, day(9), at(3 + i, 9)).await;
        rs.push(r);
    }
    let answer = |r: &mut Referral, code: OutcomeCode, reason: Option<RejectionReason>, t: DateTime<Utc>| {
        let from = r.status;
        let action = if code == OutcomeCode::Rejected { Action::Reject } else { Action::IssueOutcome };
        if r.status == ReferralStatus::Submitted {
            r.apply(Action::Claim, t).unwrap();
        }
        r.apply(action, t).unwrap();
        r.outcome = Some(eczema_outcome(code, reason, w.consultant.id, t));
        event(action, Some(from), r.status, w.consultant.id, t)
    };
    // rs[0]: asked for dermoscopy, then advice two working days after it arrived (Tuesday 3 March).
    let mut r = rs[0].clone();
    r.apply(Action::Claim, at(3, 10)).unwrap();
    r.apply(Action::RequestInformation, at(3, 11)).unwrap();
    let ask = Message {
        id: MessageId::new(),
        referral_id: r.id,
        kind: MessageKind::InformationRequest,
        author_id: Some(w.consultant.id),
        author_name: "Dr C".into(),
        body: "Dermoscopy, please.".into(),
        created_at: at(3, 11),
        topic: Some(InformationTopic::Dermoscopy),
    };
    let e = event(Action::RequestInformation, Some(ReferralStatus::InReview), r.status, w.consultant.id, at(3, 11));
    store.update_referral(&mut r, Some(&e), Some(&ask)).await.unwrap();
    r.apply(Action::Reply, at(4, 9)).unwrap();
    let e = event(Action::Reply, Some(ReferralStatus::AwaitingInformation), r.status, w.gp.id, at(4, 9));
    store.update_referral(&mut r, Some(&e), None).await.unwrap();
    let e = answer(&mut r, OutcomeCode::AdviceManagementPlan, None, at(5, 10));
    store.update_referral(&mut r, Some(&e), None).await.unwrap();
    // rs[1]: a blurred photo, rejected as ineligible the day it arrived.
    let mut blurred = photo(rs[1].id, PhotoKind::CloseUp, 1, at(4, 9));
    blurred.verdict = telederm_domain::policy::Verdict::Warn;
    blurred.report = serde_json::json!({"issues": [{"code": "blurred"}, {"code": "low_resolution"}]});
    store.insert_photo(&blurred).await.unwrap();
    let mut r = rs[1].clone();
    let e = answer(&mut r, OutcomeCode::Rejected, Some(RejectionReason::Ineligible), at(4, 15));
    store.update_referral(&mut r, Some(&e), None).await.unwrap();
    // rs[2] (Hackney): answered on 30 April, 38 working days after 5 March, past the day columns.
    let mut r = rs[2].clone();
    let e = answer(&mut r, OutcomeCode::FaceToFaceRoutine, None, Utc.with_ymd_and_hms(2026, 4, 30, 10, 0, 0).unwrap());
    store.update_referral(&mut r, Some(&e), None).await.unwrap();

    let march = |from: u32, to: u32| (day(from), day(to));
    let counts = |(from, to): (NaiveDate, NaiveDate)| async move {
        let mut c = store.practice_quality_counts(None, from, to).await.unwrap();
        c.sort_by(|a, b| a.service_id.cmp(&b.service_id));
        c
    };
    // March whole (the totals) and 2 to 31 March (the facts only) hold the same referrals.
    let whole = counts(march(1, 31)).await;
    assert_eq!(whole, counts(march(2, 31)).await);
    let (hackney, homerton) = (&whole[0], &whole[1]);
    assert_eq!((hackney.service_id.as_str(), homerton.service_id.as_str()), ("hackney-rash", "homerton"));
    assert_eq!(hackney.practice_id, w.practice.id.to_string());
    let expected = QualityCounts {
        practice_id: w.practice.id.to_string(),
        service_id: "homerton".into(),
        referrals: 3,
        answered: 2,
        rejected: 1,
        managed: 1,
        managed_remotely: 1,
        info_requested: 1,
        photos_accept: 0,
        photos_warn: 1,
        photos_reject: 0,
        by_route: [("ras", 3)].into(),
        rejections: [("ineligible", 1)].into(),
        photo_issues: [("blurred", 1), ("low_resolution", 1)].into(),
        info_topics: [("dermoscopy", 1)].into(),
        working_days: [(0, 1), (2, 1)].into(),
    };
    assert_eq!(homerton, &expected);
    assert_eq!((hackney.referrals, hackney.managed, hackney.working_days.clone()), (1, 1, [(38, 1)].into()));
    // A period of one part-month, of whole months with part-months either side, and with no
    // referrals; only some services.
    assert_eq!(counts(march(3, 3)).await[0].referrals, 1);
    let around = counts((NaiveDate::from_ymd_opt(2026, 2, 20).unwrap(), NaiveDate::from_ymd_opt(2026, 4, 2).unwrap())).await;
    assert_eq!(around, whole);
    assert!(counts((NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 5, 31).unwrap())).await.is_empty());
    let only = store.practice_quality_counts(Some(&["hackney-rash".to_string()]), day(1), day(31)).await.unwrap();
    assert_eq!(only, vec![hackney.clone()]);
    assert!(store.practice_quality_counts(Some(&[]), day(1), day(31)).await.unwrap().is_empty());
    // The totals kept write by write are those a recount gives.
    assert_eq!(store.rebuild_report_months().await.unwrap(), 2);
    assert_eq!(counts(march(1, 31)).await, whole);
}

async fn migrations_are_idempotent(store: &Store) {
    world(store).await;
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 2);
}

/// Referrals written before migration 0025 (here: their words removed and the one-off marker
/// reset) are found by name once the store next starts, and only once.
async fn name_words_are_filled_in_for_older_referrals(store: &Store) {
    let w = world(store).await;
    let r = referral(&w, 30, "Rosalind", "Franklin");
    store.insert_referral(&r).await.unwrap();
    let by_name = ReferralFilter { patient_name: Some("frank".into()), practice_id: Some(w.practice.id), ..Default::default() };
    assert_eq!(store.list_referrals(&by_name).await.unwrap().len(), 1);
    sqlx::query("DELETE FROM referral_name_words").execute(store.pool()).await.unwrap();
    assert!(store.list_referrals(&by_name).await.unwrap().is_empty(), "the search reads the words, not the names");
    sqlx::query("UPDATE referral_name_words_backfill SET done = 0").execute(store.pool()).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.list_referrals(&by_name).await.unwrap().iter().map(|s| s.id).collect::<Vec<_>>(), vec![r.id]);
    let done: i64 = sqlx::Row::get(&sqlx::query("SELECT done FROM referral_name_words_backfill").fetch_one(store.pool()).await.unwrap(), "done");
    assert_eq!(done, 1);
}

async fn saved_phrases(store: &Store) {
    use telederm_store::{NewAuditEntry, SavedPhrase};
    let entry = |action: &str| NewAuditEntry { action: action.into(), record_type: "saved_phrase".into(), ..Default::default() };
    let phrase = |service: &str, kind: &str, title: &str, position: i64| SavedPhrase {
        id: uuid::Uuid::now_v7(),
        service_id: service.into(),
        kind: kind.into(),
        title: title.into(),
        body: format!("{title}: the text."),
        position,
        created_at: at(2, 9),
        updated_at: at(2, 9),
    };
    let a = phrase("hackney-rash", "plan", "Emollients", 2);
    let b = phrase("hackney-rash", "plan", "Antifungal", 1);
    let c = phrase("hackney-rash", "safety_net", "Re-refer", 0);
    let d = phrase("homerton", "plan", "Emollients", 0);
    for p in [&a, &b, &c, &d] {
        store.save_phrase(p, None, &entry("phrase.create")).await.unwrap();
    }
    // By service, kind, position.
    let listed: Vec<String> = store.list_phrases(&["hackney-rash".into()]).await.unwrap().into_iter().map(|p| p.title).collect();
    assert_eq!(listed, ["Antifungal", "Emollients", "Re-refer"]);
    assert_eq!(store.list_phrases(&["hackney-rash".into(), "homerton".into()]).await.unwrap().len(), 4);
    assert!(store.list_phrases(&[]).await.unwrap().is_empty());
    // One title per service and kind.
    let dup = phrase("hackney-rash", "plan", "Emollients", 5);
    assert!(matches!(store.save_phrase(&dup, None, &entry("phrase.create")).await, Err(StoreError::Conflict(_))));
    // Saving the same id changes it in place.
    let changed = SavedPhrase { body: "Changed.".into(), position: 0, updated_at: at(3, 9), ..a.clone() };
    store.save_phrase(&changed, None, &entry("phrase.update")).await.unwrap();
    let got = store.get_phrase(a.id).await.unwrap();
    assert_eq!((got.body.as_str(), got.position, got.created_at, got.updated_at), ("Changed.", 0, at(2, 9), at(3, 9)));
    store.delete_phrase(b.id, &entry("phrase.delete")).await.unwrap();
    assert!(matches!(store.get_phrase(b.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_phrase(b.id, &entry("phrase.delete")).await, Err(StoreError::NotFound)));
    let actions: Vec<String> = store.search_audit(&telederm_store::AuditFilter::default()).await.unwrap().into_iter().map(|e| e.action).filter(|a| a.starts_with("phrase.")).collect();
    assert_eq!(actions.iter().filter(|a| *a == "phrase.create").count(), 4, "a refused write leaves no entry: {actions:?}");
    assert_eq!(actions.iter().filter(|a| *a != "phrase.create").count(), 2, "{actions:?}");
}
