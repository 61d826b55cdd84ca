//! `telederm demo`: seeds a fresh installation with a practice, a provider running the five seed
//! services, one user per role and a handful of referrals in different states with generated
//! photos. Seeding happens once; later starts keep the data and print the same sign-ins.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::outcome::{OutcomeCode, RejectionReason};
use telederm_domain::patient::{Contact, Patient, Sex};
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::{ClinicalHistory, Consent, ConsentGivenBy, ConsentMethod, Priority, Route};
use telederm_domain::{NhsNumber, OrganisationId, ReferralId};
use telederm_imaging::synth::{JpegOpts, Scene, jpeg, render};
use telederm_app::referrals::{self, CreateReferral, OutcomeBody};
use telederm_app::audit::Actor;
use telederm_app::users::{self, NewUser};
use telederm_app::{App, Clock};

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
        crate::wiring::write_key_file(&path, &kek)?;
        println!("Made a photo encryption key (id {}) in {}: keep it with the data, and back it up separately.", kek.id(), path.display());
    }
    config.blob_key_file = Some(path);
    Ok(config)
}

/// Seeds the demo data if the database has no users yet, and prints the demo sign-ins.
pub async fn seed_if_empty(config: &Config, state: &App) -> anyhow::Result<()> {
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

async fn seed(state: &App) -> anyhow::Result<String> {
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
    let operator = Actor::operator("telederm demo");
    let practice = seeded("practice", users::create_organisation(state, &operator, practice).await)?;
    let provider = seeded("provider", users::create_organisation(state, &operator, provider).await)?;

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
        let profession = (role == Role::Referrer).then_some(telederm_domain::organisation::Profession::Gp);
        let new = NewUser { email: email.into(), display_name: name.into(), role, organisation_id: org, services, password: password.clone(), profession };
        let user = seeded("user", users::create_user(state, &operator, new).await)?;
        creds.push_str(&format!("  {:<14} {email:<38} {password}\n", role.as_str()));
        users.push(user);
    }
    let (gp, consultant) = (&users[0], &users[1]);
    seed_phrases(state, &users[2], &services).await?;
    seed_referrals(state, gp, consultant).await?;
    Ok(creds)
}

/// A few saved phrases per service, as a service admin would write them (issue 15).
async fn seed_phrases(state: &App, admin: &User, services: &[String]) -> anyhow::Result<()> {
    use telederm_app::phrases::{self, PhraseBody};
    let phrases = [
        ("plan", "Eczema: emollients and topical steroid", "Regular emollient as a soap substitute and leave-on moisturiser, applied generously and often. For flares: a moderate-potency topical corticosteroid (e.g. clobetasone butyrate 0.05%) once daily to inflamed skin for up to 2 weeks, then stop. Review in primary care after 4 weeks."),
        ("plan", "Seborrhoeic keratosis: reassure", "This is a seborrhoeic keratosis, a harmless age-related growth. No treatment is needed and removal for cosmetic reasons is not offered on the NHS. Reassure the patient."),
        ("plan", "Psoriasis: topical treatment", "Potent topical corticosteroid once daily with a vitamin D analogue once daily (applied at different times) for up to 4 weeks, then review. Emollients throughout. Check for psoriatic arthritis symptoms at review."),
        ("safety_net", "Standard safety-netting", "If the lesion changes in size, shape or colour, bleeds, itches or does not heal, re-refer."),
        ("safety_net", "Review if not improving", "Review in primary care in 6 to 8 weeks; if not improving with the plan above, re-refer with new photos."),
    ];
    for service in services {
        for (i, (kind, title, body)) in phrases.iter().enumerate() {
            let body = PhraseBody { kind: (*kind).into(), title: (*title).into(), body: (*body).into(), position: i as i64 };
            seeded("saved phrase", phrases::save(state, admin, service, None, body).await)?;
        }
    }
    Ok(())
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
        contact: Contact { email: Some(format!("{}@example.org", given.to_lowercase())), phone: None, ..Default::default() },
        ethnic_category: None,
        fitzpatrick_type: None,
    })
}

fn answers(p: &Patient, condition: &str, sites: &[&str], on: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "referral_date": on.date_naive().to_string(),
        "patient": {"date_of_birth": p.date_of_birth.to_string(), "postcode": p.postcode},
        "condition": condition, "lesion_count": if condition == "lesion" { 1 } else { 0 }, "body_sites": sites,
        "meets_2ww_criteria": false, "extreme_psychological_distress": false, "widespread": false,
        "severe_or_systemic_or_urgent": false, "imaging_practical": true, "safeguarding_concerns": false,
        "has_capacity_to_consent": true, "best_interests_referral": false, "consent_given": true,
        "known_chronic_inflammatory_condition": false, "face_identifiable_in_images": false,
        "dermoscopic_images": condition == "lesion", "images_taken_by": "clinician", "seen_face_to_face": true
    })
}

/// Seeds through the application's own use cases (the same checks, events, notifications and
/// audit entries as real use), each at the time it happened by an injected clock.
struct Demo<'a> {
    state: &'a App,
    gp: &'a User,
}

fn seeded<T>(what: &str, r: telederm_app::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("demo {what}: {} ({}) {}", e.message, e.code, e.details.unwrap_or_default()))
}

/// A demo referral: its id and when it was started.
struct Case {
    id: String,
    created: DateTime<Utc>,
}

impl Demo<'_> {
    /// The application as it was `minutes` after `created`.
    fn at(&self, created: DateTime<Utc>, minutes: i64) -> App {
        let mut state = self.state.clone();
        state.clock = Clock::fixed(created + Duration::minutes(minutes));
        state
    }

    #[allow(clippy::too_many_arguments)] // one call per demo case reads best as a table of arguments
    async fn referral(&self, service: &str, route: Route, p: Patient, complaint: &str, condition: &str, sites: &[&str], age_days: i64) -> anyhow::Result<Case> {
        let created = Utc::now() - Duration::days(age_days);
        let body = CreateReferral {
            service_id: service.into(),
            route,
            priority: Priority::Routine,
            eligibility_answers: Some(answers(&p, condition, sites, created)),
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
            conversion_authorised: true,
            ubrn: None,
        };
        let r = seeded("referral", referrals::create_draft(&self.at(created, 0), self.gp, body).await)?;
        Ok(Case { id: r.id.to_string(), created })
    }

    async fn photos(&self, case: &Case, kinds: &[(PhotoKind, usize)]) -> anyhow::Result<()> {
        let state = self.at(case.created, 5);
        let r = state.store.get_referral(ReferralId::parse(&case.id).context("demo id")?).await?;
        for (i, (kind, tone)) in kinds.iter().enumerate() {
            let scene = Scene { width: 1600, height: 1200, tone: *tone, seed: i as u64 + 7, dermoscopic: *kind == PhotoKind::Dermoscopic, ..Scene::default() };
            let bytes = jpeg(&render(&scene), JpegOpts::default());
            seeded("photo", telederm_app::photos::store(&state, &r, *kind, ImageSource::Clinician, Some(self.gp), bytes).await)?;
        }
        Ok(())
    }

    async fn document(&self, case: &Case, kind: telederm_domain::document::DocumentKind, title: &str, lines: &[&str]) -> anyhow::Result<()> {
        let state = self.at(case.created, 6);
        let r = state.store.get_referral(ReferralId::parse(&case.id).context("demo id")?).await?;
        // Written with the letters' own PDF layout (tagged, embedded font).
        let blocks = lines.iter().map(|l| telederm_fhir::letters::Block::Paragraph(l.to_string())).collect();
        let pdf = telederm_fhir::letters::document_pdf(&self.gp.display_name, title, state.now(), "", blocks);
        seeded("document", telederm_app::documents::upload(&state, self.gp, &r, kind, Some(title), pdf).await).map(drop)
    }

    async fn submit(&self, case: &Case) -> anyhow::Result<()> {
        seeded("submit", referrals::submit(&self.at(case.created, 10), self.gp, &case.id).await).map(drop)
    }

    async fn claim(&self, case: &Case, consultant: &User) -> anyhow::Result<()> {
        seeded("claim", referrals::claim(&self.at(case.created, 24 * 60), consultant, &case.id).await).map(drop)
    }

    async fn outcome(&self, case: &Case, consultant: &User, body: OutcomeBody) -> anyhow::Result<()> {
        seeded("outcome", referrals::record_outcome(&self.at(case.created, 24 * 60 + 30), consultant, &case.id, body).await).map(drop)
    }
}

async fn seed_referrals(state: &App, gp: &User, consultant: &User) -> anyhow::Result<()> {
    let d = Demo { state, gp };
    let rash = [(PhotoKind::Locator, 1), (PhotoKind::CloseUp, 1), (PhotoKind::CloseUp, 1)];
    let lesion = [(PhotoKind::Locator, 4), (PhotoKind::CloseUp, 4), (PhotoKind::CloseUp, 4), (PhotoKind::Dermoscopic, 4)];
    let outcome = |code, reason, diagnosis: &str, plan: &str, follow_up: &str| OutcomeBody {
        code,
        rejection_reason: reason,
        diagnosis: diagnosis.into(),
        diagnosis_code: None,
        management_plan: plan.into(),
        follow_up: follow_up.into(),
        priority: None,
        onward_service: None,
    };

    // A draft still being written.
    let r = d.referral("hackney-rash", Route::Ras, patient("943476591", "Grace", "Adeyemi", (1988, 3, 14), "E8 1DY")?, "Itchy scaly rash on both forearms", "rash", &["arm"], 0).await?;
    d.photos(&r, &rash[..1]).await?;

    // Submitted A&G, waiting for a consultant.
    let r = d.referral("nhs-advice-and-guidance", Route::AdviceAndGuidance, patient("401023213", "Tom", "Fletcher", (1971, 9, 2), "N1 5HZ")?, "Pigmented lesion on the back, changed colour", "lesion", &["trunk"], 1).await?;
    d.photos(&r, &lesion).await?;
    let letter = [
        "Dear colleague,",
        "Please advise on this pigmented lesion on the back, which the patient says has changed colour.",
        "Photos, including a dermoscopic view, are attached to the referral.",
        "Demo Practice (demo document)",
    ];
    d.document(&r, telederm_domain::document::DocumentKind::ReferralLetter, "GP referral letter", &letter).await?;
    d.submit(&r).await?;

    // In review, claimed by the consultant.
    let r = d.referral("clinical-partnership", Route::AdviceAndGuidance, patient("487102591", "Priya", "Shah", (1995, 12, 1), "E9 6SR")?, "Recurrent plaques on elbows and knees", "rash", &["arm", "leg"], 2).await?;
    d.photos(&r, &rash).await?;
    d.submit(&r).await?;
    d.claim(&r, consultant).await?;

    // Awaiting information from the GP.
    let r = d.referral("hackney-rash", Route::Ras, patient("730104962", "Sam", "Okoro", (1963, 6, 30), "E5 0LL")?, "Annular rash on the trunk", "rash", &["trunk"], 3).await?;
    d.photos(&r, &rash).await?;
    d.submit(&r).await?;
    d.claim(&r, consultant).await?;
    let ask = "Has the patient used any topical steroid? Please send a close-up of the edge of the rash.";
    seeded("request", referrals::request_information(&d.at(r.created, 24 * 60 + 20), consultant, &r.id, ask, Some(telederm_domain::referral::InformationTopic::Photos)).await)?;

    // Answered with advice.
    let r = d.referral("nhs-advice-and-guidance", Route::AdviceAndGuidance, patient("612345678", "Ellen", "Morris", (1950, 1, 20), "N16 7UX")?, "Dry itchy skin on the lower legs", "rash", &["leg"], 4).await?;
    // This patient also agreed to teaching: the answer becomes the demo's teaching case.
    let teaching = Consent { given_by: ConsentGivenBy::Patient, method: ConsentMethod::Verbal, direct_care: true, teaching: true, research: false };
    let with_teaching = referrals::UpdateDraft {
        service_id: None, route: None, priority: None, patient: None, history: None, consent: Some(teaching), eligibility_answers: None,
        conversion_authorised: None, ubrn: None, version: None,
    };
    seeded("consent", referrals::update_draft(&d.at(r.created, 1), gp, &r.id, with_teaching).await)?;
    d.photos(&r, &rash).await?;
    d.submit(&r).await?;
    d.claim(&r, consultant).await?;
    let advice = outcome(
        OutcomeCode::AdviceManagementPlan,
        None,
        "Asteatotic eczema",
        "Greasy emollient at least twice daily and as a soap substitute; moderate-potency topical steroid ointment once daily for 2 weeks to active areas.",
        "Review in 6 weeks; re-refer if not improving or if it spreads.",
    );
    d.outcome(&r, consultant, advice).await?;
    let note = "Asteatotic eczema: cracked, 'crazy paving' dry skin on older shins, worse in winter. Treat the dryness first: greasy emollients and a soap substitute, a short steroid course for the inflamed areas.";
    seeded("teaching case", telederm_app::teaching::mark(&d.at(r.created, 24 * 60 + 40), consultant, &r.id, note).await)?;

    // Rejected for poor photos.
    let r = d.referral("clinical-partnership", Route::AdviceAndGuidance, patient("550123457", "Luis", "Garcia", (1982, 4, 9), "E2 8AA")?, "Scaly patch on the scalp", "rash", &["scalp"], 5).await?;
    d.photos(&r, &rash).await?;
    d.submit(&r).await?;
    d.claim(&r, consultant).await?;
    let rejected = outcome(
        OutcomeCode::Rejected,
        Some(RejectionReason::PoorImageQuality),
        "",
        "The close-ups are out of focus. Please retake them 30 cm from the skin in good light and resubmit.",
        "",
    );
    d.outcome(&r, consultant, rejected).await?;
    Ok(())
}
