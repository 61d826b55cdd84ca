//! `telederm demo`: seeds a fresh installation with a practice, a provider running the five seed
//! services, one user per role and a handful of referrals in different states with generated
//! photos. Seeding happens once; later starts keep the data and print the same sign-ins.

use anyhow::Context;
use chrono::{Duration, Utc};
use rand::Rng;
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::outcome::{Outcome, OutcomeCode, RejectionReason};
use telederm_domain::patient::{Contact, Patient, Sex};
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::{
    Action, ClinicalHistory, Consent, ConsentGivenBy, ConsentMethod, Message, MessageKind, Priority, Referral,
    ReferralStatus, Route,
};
use telederm_domain::{MessageId, NhsNumber, OrganisationId, ReferralId};
use telederm_imaging::synth::{JpegOpts, Scene, jpeg, render};
use telederm_store::EventRecord;
use telederm_web::AppState;

use crate::config::Config;

pub const PRACTICE_ODS: &str = "Y00001";
pub const PROVIDER_ODS: &str = "RQX";
const CREDENTIALS_FILE: &str = "demo-credentials.txt";

pub fn random_password() -> String {
    const WORDS: [&str; 16] = [
        "maple", "harbour", "copper", "lantern", "meadow", "quartz", "willow", "ember", "falcon", "thistle", "orbit",
        "pebble", "saffron", "tundra", "violet", "cinder",
    ];
    let mut rng = rand::thread_rng();
    let words: Vec<&str> = (0..3).map(|_| WORDS[rng.gen_range(0..WORDS.len())]).collect();
    format!("{}-{}", words.join("-"), rng.gen_range(100..1000))
}

/// The demo's blob key: unless a key is configured (or encryption is off), `blob.key` in the data
/// directory, made on first start.
pub fn ensure_blob_key(mut config: Config) -> anyhow::Result<Config> {
    if !config.blob_encryption || config.blob_key.is_some() || config.blob_key_file.is_some() {
        return Ok(config);
    }
    let path = config.data_dir.join("blob.key");
    if !path.exists() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
        let kek = telederm_store::blobs::Kek::generate();
        crate::commands::keys::write_key_file(&path, &kek)?;
        println!("Made a photo encryption key (id {}) in {}: keep it with the data, and back it up separately.", kek.id(), path.display());
    }
    config.blob_key_file = Some(path);
    Ok(config)
}

/// Seeds the demo data if the database has no users yet, and prints the demo sign-ins.
pub async fn seed_if_empty(config: &Config, state: &AppState) -> anyhow::Result<()> {
    let path = config.data_dir.join(CREDENTIALS_FILE);
    if state.store.count_users().await? == 0 {
        let creds = seed(state).await?;
        std::fs::create_dir_all(&config.data_dir)?;
        std::fs::write(&path, &creds).with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    match std::fs::read_to_string(&path) {
        Ok(creds) => println!("Demo sign-ins (also in {}):\n{creds}", path.display()),
        Err(_) => println!("This data directory was not seeded by `telederm demo`; sign in with your own users."),
    }
    Ok(())
}

async fn seed(state: &AppState) -> anyhow::Result<String> {
    let store = &state.store;
    let practice = Organisation {
        id: OrganisationId::new(),
        kind: OrganisationKind::GpPractice,
        ods_code: PRACTICE_ODS.into(),
        name: "Nuttall Street Practice (demo)".into(),
        services: vec![],
    };
    let services: Vec<String> = state.policies.keys().cloned().collect();
    let provider = Organisation {
        id: OrganisationId::new(),
        kind: OrganisationKind::Provider,
        ods_code: PROVIDER_ODS.into(),
        name: "Demo Dermatology Provider".into(),
        services: services.clone(),
    };
    store.create_organisation(&practice).await?;
    store.create_organisation(&provider).await?;

    let people = [
        ("gp@demo.telederm.nhs.uk", "Dr Asha Patel", Role::Referrer, practice.id, vec![]),
        ("consultant@demo.telederm.nhs.uk", "Dr Ben Okafor", Role::Consultant, provider.id, services.clone()),
        ("service-admin@demo.telederm.nhs.uk", "Carys Evans", Role::ServiceAdmin, provider.id, services.clone()),
        ("system-admin@demo.telederm.nhs.uk", "Dev Singh", Role::SystemAdmin, provider.id, vec![]),
    ];
    let mut creds = String::new();
    let mut users = Vec::new();
    for (email, name, role, org, services) in people {
        let password = random_password();
        let user = User { id: Default::default(), email: email.into(), display_name: name.into(), role, organisation_id: org, services };
        store.create_user(&user, &telederm_web::auth::hash_password(&password)?).await?;
        creds.push_str(&format!("  {:<14} {email:<38} {password}\n", role.as_str()));
        users.push(user);
    }
    let (gp, consultant) = (&users[0], &users[1]);
    seed_referrals(state, gp, consultant).await?;
    Ok(creds)
}

fn patient(nine: &str, given: &str, family: &str, dob: (i32, u32, u32), postcode: &str) -> anyhow::Result<Patient> {
    let digits: Vec<u8> = nine.bytes().map(|b| b - b'0').collect();
    let check = NhsNumber::check_digit(&digits).context("demo NHS number has check digit 10")?;
    Ok(Patient {
        nhs_number: NhsNumber::parse(&format!("{nine}{check}"))?,
        given_name: given.into(),
        family_name: family.into(),
        date_of_birth: chrono::NaiveDate::from_ymd_opt(dob.0, dob.1, dob.2).context("demo date")?,
        sex: Sex::Female,
        postcode: postcode.into(),
        contact: Contact { email: Some(format!("{}@example.org", given.to_lowercase())), phone: None },
    })
}

fn answers(p: &Patient, condition: &str, sites: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "referral_date": Utc::now().date_naive().to_string(),
        "patient": {"date_of_birth": p.date_of_birth.to_string(), "postcode": p.postcode},
        "condition": condition, "lesion_count": if condition == "lesion" { 1 } else { 0 }, "body_sites": sites,
        "meets_2ww_criteria": false, "extreme_psychological_distress": false, "widespread": false,
        "severe_or_systemic_or_urgent": false, "imaging_practical": true, "safeguarding_concerns": false,
        "has_capacity_to_consent": true, "best_interests_referral": false, "consent_given": true,
        "known_chronic_inflammatory_condition": false, "face_identifiable_in_images": false,
        "dermoscopic_images": condition == "lesion", "images_taken_by": "clinician", "seen_face_to_face": true
    })
}

struct Demo<'a> {
    state: &'a AppState,
    gp: &'a User,
}

impl Demo<'_> {
    #[allow(clippy::too_many_arguments)] // one call per demo case reads best as a table of arguments
    async fn referral(&self, service: &str, route: Route, p: Patient, complaint: &str, condition: &str, sites: &[&str], age_days: i64) -> anyhow::Result<Referral> {
        let created = Utc::now() - Duration::days(age_days);
        let r = Referral {
            id: ReferralId::new(),
            service_id: service.into(),
            route,
            priority: Priority::Routine,
            status: ReferralStatus::Draft,
            practice_id: self.gp.organisation_id,
            referrer_id: self.gp.id,
            assignee_id: None,
            eligibility_answers: Some(answers(&p, condition, sites)),
            patient: p,
            history: ClinicalHistory {
                presenting_complaint: complaint.into(),
                duration: "6 weeks".into(),
                body_sites: sites.iter().map(|s| s.to_string()).collect(),
                treatments_tried: "Emollients twice daily".into(),
                relevant_history: "None of note".into(),
                medication: "None".into(),
                allergies: "No known drug allergies".into(),
            },
            consent: Some(Consent { given_by: ConsentGivenBy::Patient, method: ConsentMethod::Verbal, direct_care: true, teaching: false, research: false }),
            eligibility: None,
            conversion_authorised: true,
            outcome: None,
            created_at: created,
            updated_at: created,
            submitted_at: None,
            due_date: None,
            version: 1,
        };
        self.state.store.insert_referral(&r).await?;
        Ok(r)
    }

    async fn photos(&self, r: &Referral, kinds: &[(PhotoKind, usize)]) -> anyhow::Result<()> {
        for (i, (kind, tone)) in kinds.iter().enumerate() {
            let scene = Scene { width: 1600, height: 1200, tone: *tone, seed: i as u64 + 7, dermoscopic: *kind == PhotoKind::Dermoscopic, ..Scene::default() };
            let bytes = jpeg(&render(&scene), JpegOpts::default());
            telederm_web::store_photo(self.state, r, *kind, ImageSource::Clinician, Some(self.gp), bytes)
                .await
                .map_err(|e| anyhow::anyhow!("demo photo: {}", e.body.message))?;
        }
        Ok(())
    }

    async fn step(&self, r: &mut Referral, action: Action, by: &User, message: Option<(MessageKind, &str)>) -> anyhow::Result<()> {
        let at = Utc::now();
        let from = r.status;
        if action == Action::Submit {
            let policy = &self.state.policies[&r.service_id];
            r.submitted_at = Some(r.created_at);
            r.due_date = Some(self.state.calendar.get().due_date(r.created_at, policy.response_target_working_days)?);
            let parsed = telederm_domain::eligibility::EligibilityAnswers::from_json(r.eligibility_answers.as_ref().context("answers")?)?;
            r.eligibility = Some(serde_json::to_value(telederm_domain::eligibility::evaluate(policy, &parsed))?);
        }
        if action == Action::Claim {
            r.assignee_id = Some(by.id);
        }
        r.apply(action, at)?;
        let event = EventRecord { actor_id: Some(by.id), action, from_status: Some(from), to_status: r.status, at };
        let message = message.map(|(kind, body)| Message {
            id: MessageId::new(),
            referral_id: r.id,
            kind,
            author_id: Some(by.id),
            author_name: by.display_name.clone(),
            body: body.into(),
            created_at: at,
        });
        self.state.store.update_referral(r, Some(&event), message.as_ref()).await?;
        Ok(())
    }
}

async fn seed_referrals(state: &AppState, gp: &User, consultant: &User) -> anyhow::Result<()> {
    let d = Demo { state, gp };
    let rash = [(PhotoKind::Locator, 1), (PhotoKind::CloseUp, 1), (PhotoKind::CloseUp, 1)];
    let lesion = [(PhotoKind::Locator, 4), (PhotoKind::CloseUp, 4), (PhotoKind::Dermoscopic, 4)];

    // A draft still being written.
    let r = d.referral("hackney-rash", Route::Ras, patient("943476591", "Grace", "Adeyemi", (1988, 3, 14), "E8 1DY")?, "Itchy scaly rash on both forearms", "rash", &["arm"], 0).await?;
    d.photos(&r, &rash[..1]).await?;

    // Submitted A&G, waiting for a consultant.
    let mut r = d.referral("nhs-advice-and-guidance", Route::AdviceAndGuidance, patient("401023213", "Tom", "Fletcher", (1971, 9, 2), "N1 5HZ")?, "Pigmented lesion on the back, changed colour", "lesion", &["trunk"], 1).await?;
    d.photos(&r, &lesion).await?;
    d.step(&mut r, Action::Submit, gp, None).await?;

    // In review, claimed by the consultant.
    let mut r = d.referral("clinical-partnership", Route::AdviceAndGuidance, patient("487102591", "Priya", "Shah", (1995, 12, 1), "E9 6SR")?, "Recurrent plaques on elbows and knees", "rash", &["arm", "leg"], 2).await?;
    d.photos(&r, &rash).await?;
    d.step(&mut r, Action::Submit, gp, None).await?;
    d.step(&mut r, Action::Claim, consultant, None).await?;

    // Awaiting information from the GP.
    let mut r = d.referral("hackney-rash", Route::Ras, patient("730104962", "Sam", "Okoro", (1963, 6, 30), "E5 0LL")?, "Annular rash on the trunk", "rash", &["trunk"], 3).await?;
    d.photos(&r, &rash).await?;
    d.step(&mut r, Action::Submit, gp, None).await?;
    d.step(&mut r, Action::Claim, consultant, None).await?;
    d.step(&mut r, Action::RequestInformation, consultant, Some((MessageKind::InformationRequest, "Has the patient used any topical steroid? Please send a close-up of the edge of the rash."))).await?;

    // Answered with advice.
    let mut r = d.referral("nhs-advice-and-guidance", Route::AdviceAndGuidance, patient("612345678", "Ellen", "Morris", (1950, 1, 20), "N16 7UX")?, "Dry itchy skin on the lower legs", "rash", &["leg"], 4).await?;
    d.photos(&r, &rash).await?;
    d.step(&mut r, Action::Submit, gp, None).await?;
    d.step(&mut r, Action::Claim, consultant, None).await?;
    r.outcome = Some(Outcome {
        code: OutcomeCode::AdviceManagementPlan,
        rejection_reason: None,
        diagnosis: "Asteatotic eczema".into(),
        management_plan: "Greasy emollient at least twice daily and as a soap substitute; moderate-potency topical steroid ointment once daily for 2 weeks to active areas.".into(),
        follow_up: "Review in 6 weeks; re-refer if not improving or if it spreads.".into(),
        priority: None,
        onward_service: None,
        recorded_by: consultant.id,
        recorded_at: Utc::now(),
    });
    d.step(&mut r, Action::IssueOutcome, consultant, None).await?;

    // Rejected for poor photos.
    let mut r = d.referral("clinical-partnership", Route::AdviceAndGuidance, patient("550123457", "Luis", "Garcia", (1982, 4, 9), "E2 8AA")?, "Scaly patch on the scalp", "rash", &["scalp"], 5).await?;
    d.photos(&r, &rash).await?;
    d.step(&mut r, Action::Submit, gp, None).await?;
    d.step(&mut r, Action::Claim, consultant, None).await?;
    r.outcome = Some(Outcome {
        code: OutcomeCode::Rejected,
        rejection_reason: Some(RejectionReason::PoorImageQuality),
        diagnosis: String::new(),
        management_plan: "The close-ups are out of focus. Please retake them 30 cm from the skin in good light and resubmit.".into(),
        follow_up: String::new(),
        priority: None,
        onward_service: None,
        recorded_by: consultant.id,
        recorded_at: Utc::now(),
    });
    d.step(&mut r, Action::Reject, consultant, None).await?;
    Ok(())
}
