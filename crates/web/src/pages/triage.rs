//! What the consultant's case page shows beyond the referral itself (issue 15): who referred and
//! how to reach them, the body sites as a diagram, the eligibility answers with their warnings, the
//! timeline, and each photo's details for the image viewer.

use std::collections::HashMap;

use telederm_domain::UserId;
use telederm_domain::eligibility::{BodySite, EligibilityAnswers};
use telederm_domain::patient::Sex;
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::{Action, Message, MessageKind, Referral};
use telederm_store::{EventRecord, PhotoRecord};

use super::views::{self, PhotoView};
use crate::AppState;

/// Who referred: the referrer, their practice and how to reach them.
pub struct Referrer {
    pub name: String,
    pub email: String,
    pub profession: String,
    pub practice: String,
    pub practice_ods: String,
}

/// Display names of the people named on a referral (referrer, consultants, uploaders), read once.
pub struct People(HashMap<UserId, telederm_domain::organisation::User>);

impl People {
    pub async fn load(state: &AppState, ids: impl IntoIterator<Item = UserId>) -> People {
        let mut map = HashMap::new();
        for id in ids {
            if let std::collections::hash_map::Entry::Vacant(e) = map.entry(id)
                && let Ok(u) = state.store.get_user(id).await
            {
                e.insert(u);
            }
        }
        People(map)
    }

    pub fn name(&self, id: Option<UserId>) -> String {
        id.and_then(|i| self.0.get(&i)).map_or_else(|| "Telederm".to_string(), |u| u.display_name.clone())
    }
}

pub async fn referrer(state: &AppState, r: &Referral, people: &People) -> Option<Referrer> {
    let u = people.0.get(&r.referrer_id)?;
    let practice = state.store.get_organisation(r.practice_id).await.ok();
    Some(Referrer {
        name: u.display_name.clone(),
        email: u.email.clone(),
        profession: u.profession.map(|p| match p {
            telederm_domain::organisation::Profession::Gp => "GP",
            telederm_domain::organisation::Profession::Nurse => "Nurse",
            telederm_domain::organisation::Profession::Pharmacist => "Pharmacist",
            telederm_domain::organisation::Profession::PhysicianAssociate => "Physician associate",
            telederm_domain::organisation::Profession::Other => "Clinician",
        }).unwrap_or_default().to_string(),
        practice: practice.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        practice_ods: practice.map(|p| p.ods_code).unwrap_or_default(),
    })
}

pub fn sex_label(s: Sex) -> &'static str {
    match s {
        Sex::Female => "Female",
        Sex::Male => "Male",
        Sex::Other => "Other",
        Sex::Unknown => "Not known",
    }
}

/// The checklist's answers, parsed (a submitted referral's answers always parse).
pub fn answers(r: &Referral) -> Option<EligibilityAnswers> {
    r.eligibility_answers.as_ref().and_then(|v| EligibilityAnswers::from_json(v).ok())
}

fn site_label(s: BodySite) -> &'static str {
    match s {
        BodySite::Breast => "Breast",
        BodySite::Perianal => "Perianal",
        BodySite::Genital => "Genital",
        BodySite::Face => "Face",
        BodySite::Scalp => "Scalp",
        BodySite::Neck => "Neck",
        BodySite::Trunk => "Trunk",
        BodySite::Arm => "Arm",
        BodySite::Hand => "Hand",
        BodySite::Leg => "Leg",
        BodySite::Foot => "Foot",
        BodySite::Other => "Other",
    }
}

/// The body sites: the checklist's (coded, shown on the diagram) and the GP's own words.
pub struct Sites {
    pub coded: Vec<&'static str>,
    pub labels: Vec<String>,
}

impl Sites {
    pub fn of(r: &Referral, a: Option<&EligibilityAnswers>) -> Sites {
        let coded: Vec<BodySite> = a.map(|a| a.body_sites.clone()).unwrap_or_default();
        let mut labels: Vec<String> = coded.iter().map(|s| site_label(*s).to_string()).collect();
        for s in &r.history.body_sites {
            let s = s.trim();
            if !s.is_empty() && !labels.iter().any(|l| l.eq_ignore_ascii_case(s)) {
                labels.push(s.to_string());
            }
        }
        Sites { coded: coded.iter().map(|s| s.as_str()).collect(), labels }
    }

    pub fn has(&self, key: &str) -> bool {
        self.coded.contains(&key)
    }
}

fn yes_no(b: bool) -> String {
    if b { "Yes".into() } else { "No".into() }
}

/// The checklist's answers as question and answer, in the order the GP answered them.
pub fn answer_rows(a: &EligibilityAnswers) -> Vec<(&'static str, String)> {
    vec![
        ("Condition", if a.condition.as_str() == "lesion" { "A lesion".into() } else { "A rash".into() }),
        ("Number of lesions", a.lesion_count.to_string()),
        ("Meets two-week-wait criteria", yes_no(a.meets_2ww_criteria)),
        ("Severe, systemic or urgent", yes_no(a.severe_or_systemic_or_urgent)),
        ("Widespread", yes_no(a.widespread)),
        ("Extreme psychological distress", yes_no(a.extreme_psychological_distress)),
        ("Known chronic inflammatory condition", yes_no(a.known_chronic_inflammatory_condition)),
        ("Photography practical", yes_no(a.imaging_practical)),
        ("Safeguarding concerns", yes_no(a.safeguarding_concerns)),
        ("Patient has capacity to consent", yes_no(a.has_capacity_to_consent)),
        ("Referred in the patient's best interests", yes_no(a.best_interests_referral)),
        ("Consent given", yes_no(a.consent_given)),
        ("Face identifiable in the photos", yes_no(a.face_identifiable_in_images)),
        ("Dermoscopic photos", yes_no(a.dermoscopic_images)),
        ("Photos taken by", if a.images_taken_by == ImageSource::Patient { "The patient".into() } else { "A clinician".into() }),
        ("Seen face to face", yes_no(a.seen_face_to_face)),
    ]
}

/// What the consultant must keep in mind when reading the photos, in the GP's answers' words.
pub fn attention(a: &EligibilityAnswers) -> Vec<String> {
    let mut v = Vec::new();
    if a.condition.as_str() == "lesion" && !a.dermoscopic_images {
        v.push("No dermoscopic photos: the GP answered \"Dermoscopic photos: No\" for this lesion.".to_string());
    }
    if a.images_taken_by == ImageSource::Patient {
        v.push("Photos taken by the patient, not a clinician: \"Photos taken by: The patient\".".to_string());
    }
    if !a.seen_face_to_face {
        v.push("Not seen face to face: the GP answered \"Seen face to face: No\"; the history and photos are all there is.".to_string());
    }
    if a.best_interests_referral {
        v.push("Referred in the patient's best interests: \"Patient has capacity to consent: ".to_string() + if a.has_capacity_to_consent { "Yes" } else { "No" } + "\".");
    }
    if a.safeguarding_concerns {
        v.push("Safeguarding concerns: the GP answered \"Safeguarding concerns: Yes\".".to_string());
    }
    v
}

/// One step of the case's history: an event or a message, oldest first.
pub struct TimelineItem {
    pub when: String,
    pub who: String,
    pub what: String,
    pub detail: String,
    at: chrono::DateTime<chrono::Utc>,
}

fn action_label(a: Action) -> &'static str {
    match a {
        Action::Submit => "Sent to the service",
        Action::Claim => "Claimed by a consultant",
        Action::RequestInformation => "Information requested",
        Action::Reply => "Referrer replied",
        Action::IssueOutcome => "Outcome recorded",
        Action::Reject => "Rejected",
        Action::Close => "Closed",
        Action::Withdraw => "Withdrawn",
    }
}

pub fn timeline(r: &Referral, events: &[EventRecord], messages: &[Message], photos: &[PhotoRecord], people: &People) -> Vec<TimelineItem> {
    let mut items = vec![TimelineItem { at: r.created_at, when: views::when(r.created_at), who: people.name(Some(r.referrer_id)), what: "Draft started".into(), detail: String::new() }];
    for e in events {
        items.push(TimelineItem { at: e.at, when: views::when(e.at), who: people.name(e.actor_id), what: action_label(e.action).into(), detail: String::new() });
    }
    for m in messages {
        let what = if m.kind == MessageKind::InformationRequest { "Message: information requested" } else { "Message: reply" };
        items.push(TimelineItem { at: m.created_at, when: views::when(m.created_at), who: m.author_name.clone(), what: what.into(), detail: m.body.clone() });
    }
    for (i, p) in photos.iter().enumerate() {
        let who = if p.source == ImageSource::Patient { "The patient (upload link)".to_string() } else { people.name(p.uploaded_by) };
        items.push(TimelineItem { at: p.created_at, when: views::when(p.created_at), who, what: format!("Photo {} added ({})", i + 1, kind_short(p.kind)), detail: String::new() });
    }
    items.sort_by_key(|i| i.at);
    items
}

fn kind_short(k: PhotoKind) -> &'static str {
    match k {
        PhotoKind::Locator => "locator",
        PhotoKind::CloseUp => "close-up",
        PhotoKind::Dermoscopic => "dermoscopic",
    }
}

/// A photo as the viewer shows it: the photo's view, who took it and when, and the sizes to fetch.
pub struct CasePhoto {
    pub v: PhotoView,
    pub number: usize,
    pub by: String,
    pub when: String,
    pub dermoscopic: bool,
    /// A screen-sized preview (long side 1600 px) for the large view.
    pub large: String,
    /// The largest preview (long side up to 4096 px, never enlarged): what zoom shows at 100%.
    pub zoom: String,
    pub width: i64,
    pub height: i64,
}

pub fn case_photos(photos: &[PhotoRecord], people: &People) -> Vec<CasePhoto> {
    photos
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let v = PhotoView::from(p);
            let by = match p.source {
                ImageSource::Patient => "The patient (upload link)".to_string(),
                ImageSource::Clinician => format!("{} (clinician)", people.name(p.uploaded_by)),
            };
            CasePhoto {
                large: format!("{}?size=1600", v.preview),
                zoom: format!("{}?size=4096", v.preview),
                v,
                number: i + 1,
                by,
                when: views::when(p.created_at),
                dermoscopic: p.kind == PhotoKind::Dermoscopic,
                width: p.width,
                height: p.height,
            }
        })
        .collect()
}

/// Where an onward referral can go besides Telederm's other services: the usual destinations
/// after teledermatology triage. The chosen label is what the outcome and letters record.
pub const ONWARD_DESTINATIONS: [&str; 8] = [
    "General dermatology clinic (face to face)",
    "Skin cancer multidisciplinary team",
    "Plastic surgery",
    "Paediatric dermatology",
    "Vulval clinic (gynaecology)",
    "Rheumatology",
    "Oral medicine",
    "Ophthalmology",
];
