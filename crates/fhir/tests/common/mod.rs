//! A fixed referral with everything a Bundle can carry, and a store seeded with it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::outcome::{Outcome, OutcomeCode};
use telederm_domain::patient::{Contact, Patient, Sex};
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::{
    ClinicalHistory, Consent, ConsentGivenBy, ConsentMethod, Message, MessageKind, Priority, Referral, ReferralStatus,
    Route,
};
use telederm_domain::{MessageId, NhsNumber, OrganisationId, PhotoId, ReferralId, UserId};
use telederm_fhir::export::{ExportOptions, Photo, ReferralRecord};
use telederm_fhir::store_io::Sources;
use telederm_store::PhotoRecord;
use telederm_store::Store;
use telederm_store::blobs::BlobStore;
use uuid::Uuid;

pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

pub fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)).unwrap()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn now() -> DateTime<Utc> {
    at(2026, 3, 5, 12, 0)
}

pub fn opts() -> ExportOptions {
    ExportOptions::new(now())
}

pub fn practice() -> Organisation {
    Organisation {
        id: OrganisationId(id(1)),
        kind: OrganisationKind::GpPractice,
        ods_code: "F84001".into(),
        name: "Lower Clapton Group Practice".into(),
        services: vec![],
    }
}

pub fn provider() -> Organisation {
    Organisation {
        id: OrganisationId(id(2)),
        kind: OrganisationKind::Provider,
        ods_code: "RQX".into(),
        name: "Homerton Healthcare NHS Foundation Trust".into(),
        services: vec!["homerton".into()],
    }
}

pub fn gp() -> User {
    User {
        profession: None,
        id: UserId(id(10)),
        email: "dr.ada.okafor@example.nhs.uk".into(),
        display_name: "Dr Ada Okafor".into(),
        role: Role::Referrer,
        organisation_id: OrganisationId(id(1)),
        services: vec![],
    }
}

pub fn consultant() -> User {
    User {
        profession: None,
        id: UserId(id(11)),
        email: "dr.sam.patel@example.nhs.uk".into(),
        display_name: "Dr Sam Patel".into(),
        role: Role::Consultant,
        organisation_id: OrganisationId(id(2)),
        services: vec!["homerton".into()],
    }
}

pub fn referral_id() -> ReferralId {
    ReferralId(id(100))
}

/// An answered RAS referral: two photos, an information request and its reply, an outcome.
pub fn referral() -> Referral {
    Referral {
        id: referral_id(),
        service_id: "homerton".into(),
        route: Route::Ras,
        priority: Priority::Routine,
        status: ReferralStatus::OutcomeIssued,
        practice_id: practice().id,
        referrer_id: gp().id,
        assignee_id: Some(consultant().id),
        patient: Patient {
            nhs_number: NhsNumber::parse("9990000018").unwrap(),
            given_name: "Jo".into(),
            family_name: "Bloggs".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1970, 5, 17).unwrap(),
            sex: Sex::Female,
            postcode: "E5 8BX".into(),
            contact: Contact { email: Some("jo.bloggs@example.com".into()), phone: Some("07700 900123".into()), ..Default::default() },
            ethnic_category: None,
            fitzpatrick_type: None,
        },
        history: ClinicalHistory {
            presenting_complaint: "Pigmented lesion on the left forearm, enlarging over 4 months".into(),
            duration: "4 months".into(),
            body_sites: vec!["arm".into()],
            treatments_tried: "None".into(),
            relevant_history: "Fair skin; sunburn as a child".into(),
            medication: "Levothyroxine 50 micrograms".into(),
            allergies: "Penicillin (rash)".into(),
        },
        consent: Some(Consent {
            given_by: ConsentGivenBy::Patient,
            method: ConsentMethod::Verbal,
            direct_care: true,
            teaching: true,
            research: false,
        }),
        eligibility_answers: Some(json!({
            "referral_date": "2026-03-02",
            "patient": { "date_of_birth": "1970-05-17", "postcode": "E5 8BX" },
            "condition": "lesion",
            "lesion_count": 1,
            "body_sites": ["arm"],
            "meets_2ww_criteria": false,
            "extreme_psychological_distress": false,
            "widespread": false,
            "severe_or_systemic_or_urgent": false,
            "imaging_practical": true,
            "safeguarding_concerns": false,
            "has_capacity_to_consent": true,
            "best_interests_referral": false,
            "consent_given": true,
            "known_chronic_inflammatory_condition": false,
            "face_identifiable_in_images": false,
            "dermoscopic_images": true,
            "images_taken_by": "clinician",
            "seen_face_to_face": true
        })),
        eligibility: Some(json!({ "eligible": true, "reasons": [], "warnings": [] })),
        conversion_authorised: false,
        ubrn: None,
        outcome: Some(Outcome {
            code: OutcomeCode::AdviceManagementPlan,
            rejection_reason: None,
            diagnosis: "Seborrhoeic keratosis (benign)".into(),
            diagnosis_code: Some("394726009".into()),
            management_plan: "Reassure. No treatment needed. Cryotherapy is not offered on the NHS for cosmetic reasons.".into(),
            follow_up: "No routine follow-up. Re-refer if it changes in shape or colour or bleeds.".into(),
            priority: None,
            onward_service: None,
            recorded_by: consultant().id,
            recorded_at: at(2026, 3, 4, 15, 30),
        }),
        created_at: at(2026, 3, 2, 9, 0),
        updated_at: at(2026, 3, 4, 15, 30),
        submitted_at: Some(at(2026, 3, 2, 9, 15)),
        due_date: Some(NaiveDate::from_ymd_opt(2026, 3, 5).unwrap()),
        version: 6,
        patient_answers: None,
    }
}

pub fn photo(n: u128, kind: PhotoKind, file: &str) -> Photo {
    let bytes = fixture(file);
    let key = telederm_store::blobs::sha256_hex(&bytes);
    let dermoscopic = kind == PhotoKind::Dermoscopic;
    Photo {
        record: PhotoRecord {
            face_confirmed: None,
            id: PhotoId(id(200 + n)),
            referral_id: referral_id(),
            kind,
            source: ImageSource::Clinician,
            uploaded_by: Some(gp().id),
            original_key: key.clone(),
            original_type: "image/png".into(),
            attachment_key: key.clone(),
            preview_key: key.clone(),
            thumbnail_key: key,
            width: if file == "locator.png" { 64 } else { 48 },
            height: 48,
            size_bytes: bytes.len() as i64,
            verdict: telederm_domain::policy::Verdict::Accept,
            report: json!({ "verdict": "accept", "dermoscopic": dermoscopic }),
            created_at: at(2026, 3, 2, 9, 5 + n as u32),
        },
        bytes,
    }
}

pub fn messages() -> Vec<Message> {
    vec![
        Message {
            id: MessageId(id(300)),
            referral_id: referral_id(),
            kind: MessageKind::InformationRequest,
            author_id: Some(consultant().id),
            author_name: "Dr Sam Patel".into(),
            body: "Could you add a dermoscopic image of the lesion?".into(),
            created_at: at(2026, 3, 3, 10, 0),
            topic: None,
        },
        Message {
            id: MessageId(id(301)),
            referral_id: referral_id(),
            kind: MessageKind::Reply,
            author_id: Some(gp().id),
            author_name: "Dr Ada Okafor".into(),
            body: "Added, taken with our practice dermatoscope.".into(),
            created_at: at(2026, 3, 3, 14, 0),
            topic: None,
        },
    ]
}

pub fn record() -> ReferralRecord {
    ReferralRecord {
        referral: referral(),
        practice: practice(),
        provider: Some(provider()),
        service_name: Some("Homerton teledermatology".into()),
        onward_service_name: None,
        users: vec![gp(), consultant()],
        photos: vec![photo(1, PhotoKind::Locator, "locator.png"), photo(2, PhotoKind::Dermoscopic, "close-up.png")],
        documents: Vec::new(),
        messages: messages(),
    }
}

pub fn service_names() -> BTreeMap<String, String> {
    BTreeMap::from([("homerton".to_string(), "Homerton teledermatology".to_string())])
}

/// An empty installation in a temporary directory.
pub struct Installation {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub blobs: BlobStore,
}

impl Installation {
    pub async fn empty() -> Installation {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = Store::connect(&url).await.unwrap();
        let blobs = BlobStore::open(&format!("file://{}", dir.path().join("blobs").display())).unwrap();
        Installation { dir, store, blobs }
    }

    pub fn sources(&self) -> Sources<'_> {
        Sources { store: &self.store, blobs: &self.blobs, service_names: service_names() }
    }

    /// An installation holding the fixture referral, written the way the application writes it.
    pub async fn seeded() -> Installation {
        let inst = Installation::empty().await;
        let rec = record();
        inst.store.create_organisation(&rec.practice).await.unwrap();
        inst.store.create_organisation(rec.provider.as_ref().unwrap()).await.unwrap();
        for u in &rec.users {
            inst.store.create_user(u, "x").await.unwrap();
        }
        let mut r = rec.referral.clone();
        r.version = 1;
        inst.store.insert_referral(&r).await.unwrap();
        for p in &rec.photos {
            inst.blobs.put(p.bytes.clone()).await.unwrap();
            inst.store.insert_photo(&p.record).await.unwrap();
        }
        for m in &rec.messages {
            inst.store.update_referral(&mut r, None, Some(m)).await.unwrap();
        }
        inst
    }
}

/// A Bundle without what legitimately differs between two exports: Bundle ids and timestamps,
/// resource versions, and (for transactions) the `urn:uuid:` full URLs.
pub fn normalise(bundle: &Value) -> Value {
    let mut b = bundle.clone();
    let obj = b.as_object_mut().unwrap();
    obj.remove("id");
    obj.remove("timestamp");
    if let Some(entries) = b["entry"].as_array_mut() {
        for e in entries {
            if let Some(meta) = e.pointer_mut("/resource/meta").and_then(Value::as_object_mut) {
                meta.remove("versionId");
            }
        }
    }
    b
}

/// The path of the first difference between two JSON values, with both sides.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                    (p, q) => return Some(format!("{path}.{k}: {p:?} vs {q:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(p, q, &format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{path}: {} vs {} items", x.len(), y.len()))
        }
        _ => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

pub fn assert_same(a: &Value, b: &Value) {
    if let Some(d) = first_difference(a, b, "") {
        panic!("Bundles differ at {d}");
    }
}

/// Makes sure poppler's tools (`pdftotext`, `pdftoppm`, `pdfinfo`, `pdffonts`) are installed: the
/// letter tests read the PDFs with them, independently of the code that writes them.
pub fn ensure_poppler() {
    let status = std::process::Command::new("bash").arg(repo_root().join("scripts/ensure-poppler.sh")).status().unwrap();
    assert!(status.success(), "poppler-utils could not be installed");
}

/// The PDF's text as `pdftotext -layout` reads it: per page, its non-blank lines with runs of
/// spaces made one (so a label and its value read as one phrase).
pub fn pdf_lines(pdf: &[u8]) -> Vec<Vec<String>> {
    ensure_poppler();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // pdftotext ends each page with a form feed.
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut pages: Vec<Vec<String>> = text
        .split('\u{c}')
        .map(|p| p.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|l| !l.is_empty()).collect())
        .collect();
    if pages.last().is_some_and(Vec::is_empty) {
        pages.pop();
    }
    pages
}

/// The PDF's text as `pdftotext` reads it, one string per page, words joined with single spaces.
pub fn pdf_pages(pdf: &[u8]) -> Vec<String> {
    pdf_lines(pdf).into_iter().map(|lines| lines.join(" ")).collect()
}
