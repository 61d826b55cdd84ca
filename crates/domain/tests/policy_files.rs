//! The shipped policy files say what the seeds say, and malformed files are refused with the
//! file, the line and the reason.

use std::path::{Path, PathBuf};

use telederm_domain::policy::{
    self, AppliesTo, Condition, ImageSource, PhotoKind, PolicyErrorKind, ReasonCode, ServicePolicy,
};
use telederm_domain::referral::Route;

fn services_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services")
}

fn get(id: &str) -> ServicePolicy {
    policy::find(&policy::builtin(), id).unwrap().clone()
}

fn listed_codes(p: &ServicePolicy, applies_to: AppliesTo) -> Vec<ReasonCode> {
    p.criteria
        .iter()
        .filter(|c| c.code.is_listed_exclusion() && c.applies_to == applies_to)
        .map(|c| c.code)
        .collect()
}

#[test]
fn the_services_directory_is_what_is_built_in() {
    assert_eq!(policy::load_dir(&services_dir()).unwrap(), policy::builtin());
}

#[test]
fn every_policy_has_the_common_settings() {
    for p in policy::builtin() {
        assert!(p.consent_required, "{}", p.id);
        assert_eq!(p.max_attachment_bytes, 5_242_880, "{}", p.id);
        assert!(p.min_photo_short_side_px >= 640, "{}", p.id);
        assert!((2..=3).contains(&p.response_target_working_days), "{}", p.id);
        assert!(!p.summary.trim().is_empty(), "{}", p.id);
        assert!(p.photos_for(Condition::Rash).any(|r| r.kind == PhotoKind::Locator), "{}", p.id);
        assert_eq!(
            p.photos_for(Condition::Rash).filter(|r| r.kind == PhotoKind::CloseUp).map(|r| r.count).sum::<u32>(),
            2,
            "{}",
            p.id
        );
        // Serialises and reads back unchanged (the API serves policies as JSON).
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ServicePolicy>(&json).unwrap(), p);
    }
}

#[test]
fn homerton_matches_seed_000() {
    let p = get("homerton");
    assert_eq!(p.routes, vec![Route::Ras]);
    assert_eq!(p.conditions, vec![Condition::Rash, Condition::Lesion]);
    assert!(p.lesions_need_dermoscopy);
    assert!(p.photos_for(Condition::Lesion).any(|r| r.kind == PhotoKind::Dermoscopic));
    assert!(!p.photos_for(Condition::Rash).any(|r| r.kind == PhotoKind::Dermoscopic));
    assert_eq!(p.child_under_age, 18);
    assert!(p.age_range.is_unbounded());
    assert!(p.catchment_postcode_districts.is_empty());
    assert_eq!(
        listed_codes(&p, AppliesTo::Everyone),
        vec![
            ReasonCode::PsychologicalDistress,
            ReasonCode::WidespreadOrSystemic,
            ReasonCode::ImagingImpractical,
            ReasonCode::MultipleLesions,
            ReasonCode::IntimateSite,
            ReasonCode::Safeguarding,
            ReasonCode::LacksCapacity,
        ]
    );
    assert_eq!(
        listed_codes(&p, AppliesTo::Children),
        vec![ReasonCode::ChildFaceIdentifiable, ReasonCode::ChildChronicInflammatory, ReasonCode::Safeguarding]
    );
    assert_eq!(p.wording_for(ReasonCode::IntimateSite), Some("Breast, perianal and genital rashes or lesions"));
    assert!(p.criteria_for(ReasonCode::IntimateSite).all(|c| c.conditions.is_empty()));
}

#[test]
fn nhs_advice_and_guidance_matches_seed_001() {
    let p = get("nhs-advice-and-guidance");
    assert_eq!(p.routes, vec![Route::AdviceAndGuidance]);
    assert!(p.consent_required);
    assert!(p.patient_kept_informed);
    assert_eq!(p.max_attachment_bytes, 5 * 1024 * 1024);
    assert!(p.notes.iter().any(|n| n.starts_with("Patients need to be kept informed directly")));
    assert!(p.notes.iter().any(|n| n.starts_with("Clinical responsibility remains with the referrer")));
}

#[test]
fn hackney_rash_matches_seed_002() {
    let p = get("hackney-rash");
    assert_eq!(p.conditions, vec![Condition::Rash]);
    assert_eq!(p.photo_sources, vec![ImageSource::Clinician, ImageSource::Patient]);
    let photos: Vec<(PhotoKind, u32, &str)> =
        p.required_photos.iter().map(|r| (r.kind, r.count, r.guidance.as_str())).collect();
    assert_eq!(
        photos,
        vec![
            (PhotoKind::Locator, 1, "1 x locator shot to show as much of the affected area / rash / lesion (from 1-1.5 metres away)"),
            (PhotoKind::CloseUp, 2, "2 x close ups of the affected areas (from approx. 30cm away)"),
        ]
    );
    assert!(p.photo_guidance.iter().any(|g| g.contains("‘Large’")));
    // "same exclusions as 000 for rashes"
    let homerton = get("homerton");
    assert_eq!(listed_codes(&p, AppliesTo::Everyone), listed_codes(&homerton, AppliesTo::Everyone));
    assert_eq!(listed_codes(&p, AppliesTo::Children), listed_codes(&homerton, AppliesTo::Children));
    assert_eq!(p.wording_for(ReasonCode::IntimateSite), Some("Breast, perianal and genital rashes"));
    assert_eq!(p.wording_for(ReasonCode::TwoWeekWait), Some("Patients who meet the criteria for a two week wait referral"));
}

#[test]
fn clinical_partnership_matches_seed_003() {
    let p = get("clinical-partnership");
    assert_eq!(p.response_target_working_days, 3, "the upper end of \"2-3 working days\"");
    assert!(p.patient_upload_links);
    assert!(p.photo_sources.contains(&ImageSource::Patient));
    assert!(p.consent_required);
    assert!(p.summary.contains("2-3 working days"));
}

#[test]
fn west_herts_matches_seed_004() {
    let p = get("west-herts-paediatric");
    assert_eq!(p.age_range.under_years, Some(16));
    assert_eq!(p.age_range.min_years, None);
    assert_eq!(p.age_range.describe(), "under 16");
    assert!(p.age_range.contains(15) && !p.age_range.contains(16));
    assert_eq!(p.photo_sources, vec![ImageSource::Clinician]);
    assert!(p.seen_face_to_face_wording.as_deref().unwrap().contains("who have been seen by their GP"));
    for district in ["HP1", "HP2", "HP3", "HP4", "HP23", "WD6", "WD7", "WD23", "EN6", "AL1", "AL5", "WD3", "WD5", "WD17", "WD18", "WD19", "WD24", "WD25"] {
        assert!(p.catchment_postcode_districts.iter().any(|d| d == district), "{district}");
    }
    for district in ["HP5", "HP27", "AL6", "AL10", "EN5", "HA6", "LU1", "SG1"] {
        assert!(!p.catchment_postcode_districts.iter().any(|d| d == district), "{district}");
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed files
// ---------------------------------------------------------------------------------------------

fn homerton_text() -> String {
    std::fs::read_to_string(services_dir().join("homerton.toml")).unwrap()
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn malformed_files_are_refused_with_file_line_and_reason() {
    let good = homerton_text();
    let cases: Vec<(&str, String, &str, &str)> = vec![
        // (what, text, line marker in the text, reason fragment)
        ("unknown key", good.replace("consent_required = true", "consent_required = true\nconsent_needed = true"), "consent_needed", "unknown field `consent_needed`"),
        ("wrong type", good.replace("response_target_working_days = 3", "response_target_working_days = \"3\""), "response_target_working_days", "invalid type"),
        ("unknown route", good.replace("routes = [\"ras\"]", "routes = [\"triage\"]"), "routes =", "unknown variant `triage`"),
        ("unknown criterion code", good.replace("code = \"multiple_lesions\"", "code = \"too_many_moles\""), "too_many_moles", "unknown variant `too_many_moles`"),
        ("bad id", good.replace("id = \"homerton\"", "id = \"Homerton Hospital\""), "id = ", "lowercase letters"),
        ("bad district", good.replace("child_under_age = 18", "child_under_age = 18\ncatchment_postcode_districts = [\"E8\", \"Hackney\"]"), "catchment_postcode_districts", "not a postcode district"),
        ("duplicate district", good.replace("child_under_age = 18", "child_under_age = 18\ncatchment_postcode_districts = [\"E8\", \"e8\"]"), "catchment_postcode_districts", "listed twice"),
        ("missing key", good.replace("max_attachment_bytes = 5242880\n", ""), "", "missing field `max_attachment_bytes`"),
        // The parser notices the missing `]` where the next line starts.
        ("not toml", good.replace("routes = [\"ras\"]", "routes = [\"ras\""), "conditions =", "expected `]`"),
        ("empty age range", good.replace("child_under_age = 18", "child_under_age = 18\nage_range = { min_years = 16, under_years = 16 }"), "age_range", "age_range"),
        ("zero target", good.replace("response_target_working_days = 3", "response_target_working_days = 0"), "response_target_working_days", "at least 1"),
        ("no routes", good.replace("routes = [\"ras\"]", "routes = []"), "routes =", "at least one"),
        ("dermoscopy without a dermoscopic photo", good.replace("kind = \"dermoscopic\"", "kind = \"close_up\""), "lesions_need_dermoscopy", "dermoscopic"),
        ("child-only code for everyone", good.replace("code = \"child_face_identifiable\"\napplies_to = \"children\"", "code = \"child_face_identifiable\""), "", "children only"),
        ("empty wording", good.replace("wording = \"Patients with 2 or more lesions for assessment\"", "wording = \"\""), "", "wording"),
        ("upload links without patient photos", good.replace("photo_sources = [\"clinician\", \"patient\"]\npatient_upload_links = false", "photo_sources = [\"clinician\"]\npatient_upload_links = true"), "patient_upload_links", "patient"),
    ];
    for (what, text, marker, reason) in cases {
        assert_ne!(text, good, "{what}: the replacement did not apply");
        let err = ServicePolicy::from_toml("services/homerton.toml", &text).expect_err(what);
        assert_eq!(err.file, "services/homerton.toml", "{what}");
        let line = err.line.unwrap_or_else(|| panic!("{what}: no line in {err}"));
        if !marker.is_empty() {
            assert_eq!(line, line_of(&text, marker), "{what}: {err}");
        }
        assert!(err.reason.contains(reason), "{what}: {err}");
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("services/homerton.toml: line {line}: ")), "{what}: {shown}");
        assert!(err.code().starts_with("policy_"), "{what}");
    }
}

#[test]
fn criterion_errors_point_at_their_table() {
    let text = homerton_text().replace(
        "code = \"child_face_identifiable\"\napplies_to = \"children\"",
        "code = \"child_face_identifiable\"",
    );
    let err = ServicePolicy::from_toml("h.toml", &text).unwrap_err();
    let header = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[criteria]]")
        .find(|(i, _)| text.lines().nth(i + 1).unwrap().contains("child_face_identifiable"))
        .unwrap()
        .0
        + 1;
    assert_eq!(err.line, Some(header));
    assert_eq!(err.kind, PolicyErrorKind::Invalid);
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("telederm-policy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_dir_sorts_and_refuses_unreadable_broken_and_empty_dirs() {
    let empty = Scratch::new("empty");
    std::fs::write(empty.0.join("README.md"), "not a policy").unwrap();
    let err = policy::load_dir(&empty.0).unwrap_err();
    assert_eq!(err.kind, PolicyErrorKind::Empty);
    assert_eq!(err.code(), "policy_dir_empty");

    let err = policy::load_dir(&empty.0.join("missing")).unwrap_err();
    assert_eq!(err.kind, PolicyErrorKind::Io);

    let two = Scratch::new("two");
    let west = std::fs::read_to_string(services_dir().join("west-herts-paediatric.toml")).unwrap();
    std::fs::write(two.0.join("west-herts-paediatric.toml"), &west).unwrap();
    std::fs::write(two.0.join("homerton.toml"), homerton_text()).unwrap();
    let ids: Vec<String> = policy::load_dir(&two.0).unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["homerton", "west-herts-paediatric"]);

    let broken = Scratch::new("broken");
    std::fs::write(broken.0.join("homerton.toml"), homerton_text().replace("name = ", "nam = ")).unwrap();
    let err = policy::load_dir(&broken.0).unwrap_err();
    assert!(err.file.ends_with("homerton.toml"));
    assert!(err.to_string().contains("line "), "{err}");
}

#[test]
fn duplicate_ids_are_refused_and_subdirectories_ignored() {
    let dir = Scratch::new("dup");
    std::fs::write(dir.0.join("homerton.toml"), homerton_text()).unwrap();
    std::fs::create_dir_all(dir.0.join("nested")).unwrap();
    std::fs::write(dir.0.join("nested/homerton.toml"), homerton_text()).unwrap();
    assert_eq!(policy::load_dir(&dir.0).unwrap().len(), 1, "load_dir is not recursive");

    std::fs::write(dir.0.join("homerton-copy.toml"), homerton_text()).unwrap();
    let err = policy::load_dir(&dir.0).unwrap_err();
    assert_eq!(err.kind, PolicyErrorKind::DuplicateId);
    assert_eq!(err.code(), "policy_duplicate_id");
    // Files are read in name order, so the second one named is the one refused.
    assert!(err.file.ends_with("homerton.toml"), "{err}");
    assert!(err.reason.contains("homerton-copy.toml"), "{err}");
    assert_eq!(err.line, Some(line_of(&homerton_text(), "id = \"homerton\"")));
}

#[test]
fn photo_advice_comes_from_each_services_policy() {
    const TAP: &str = "Tap the screen to focus before taking each photo; hold still.";
    const LIGHT: &str = "Use good light: natural daylight if possible, no flash glare, no shadows.";
    // City & Hackney takes rashes only: no advice about lesions or dermoscopy, whatever the
    // referral says; then the service's own words.
    let hackney = get("hackney-rash");
    for condition in [None, Some(Condition::Rash), Some(Condition::Lesion)] {
        let mut want = vec![TAP.to_owned(), LIGHT.to_owned()];
        want.extend(hackney.photo_guidance.iter().cloned());
        assert_eq!(hackney.photo_advice(condition), want, "{condition:?}");
    }
    // Homerton requires a dermoscopic view for lesions (not for a rash referral).
    let homerton = get("homerton");
    let lesion = "For a lesion (mole, spot, growth): RAS Teledermatology (Homerton) needs a dermoscopic view.";
    assert_eq!(homerton.photo_advice(Some(Condition::Lesion))[2], lesion);
    assert_eq!(homerton.photo_advice(None)[2], lesion);
    assert!(!homerton.photo_advice(Some(Condition::Rash)).iter().any(|a| a.contains("dermoscopic")));
    // Services that take lesions without requiring dermoscopy suggest it.
    for id in ["nhs-advice-and-guidance", "clinical-partnership", "west-herts-paediatric"] {
        let p = get(id);
        let advice = p.photo_advice(Some(Condition::Lesion));
        assert_eq!(advice[2], "For a lesion (mole, spot, growth): add a dermoscopic view if you have a dermatoscope.", "{id}");
        assert_eq!(&advice[3..], p.photo_guidance.as_slice(), "{id}");
    }
}

#[test]
fn resolution_thresholds_say_what_each_service_asks_for() {
    // City & Hackney asks for "Large" attachments: 1632x1224 (iPhone Mail today), 1600x1200 and
    // 1280x960 (older iPhones) all reach the short side from which no warning is given.
    let hackney = get("hackney-rash");
    assert_eq!((hackney.min_photo_short_side_px, hackney.recommended_short_side_px()), (640, 960));
    for short in [1224, 1200, 960] {
        assert!(short >= hackney.recommended_short_side_px());
    }
    // The others state no size: Telederm's floor, and a warning below twice it.
    for id in ["homerton", "nhs-advice-and-guidance", "clinical-partnership", "west-herts-paediatric"] {
        let p = get(id);
        assert_eq!((p.min_photo_short_side_px, p.recommended_photo_short_side_px, p.recommended_short_side_px()), (640, None, 1280), "{id}");
    }
    // A recommended size below the minimum is refused with its line.
    let text = std::fs::read_to_string(services_dir().join("hackney-rash.toml"))
        .unwrap()
        .replace("recommended_photo_short_side_px = 960", "recommended_photo_short_side_px = 320");
    let e = ServicePolicy::from_toml("hackney-rash.toml", &text).unwrap_err();
    assert_eq!(e.kind, PolicyErrorKind::Invalid);
    assert!(e.to_string().contains("`recommended_photo_short_side_px` (320) must be at least `min_photo_short_side_px` (640)"), "{e}");
}
