//! Table-driven walk through every criterion of the five seed documents (`../shared/seeds/`),
//! for adults and children, with boundary ages, catchment edges and combined exclusions.

mod common;

use common::{base, patched};
use serde_json::{Value, json};
use telederm_domain::eligibility::{
    Decision, EligibilityAnswers, EligibilityDecision, ReasonCode, WarningCode, evaluate,
};
use telederm_domain::policy::{self, ServicePolicy};

use Decision::{Eligible, Excluded, Redirect2ww as Redirect};
use ReasonCode::*;

const ADULT_DOB: &str = "1980-05-17"; // 45 on the referral date
const CHILD_DOB: &str = "2016-06-01"; // 9 on the referral date

fn policy(id: &str) -> ServicePolicy {
    policy::find(&policy::builtin(), id).unwrap_or_else(|| panic!("no built-in policy {id}")).clone()
}

fn check(service: &str, answers: &Value) -> EligibilityDecision {
    let answers = EligibilityAnswers::from_json(answers).unwrap_or_else(|e| panic!("{e}"));
    evaluate(&policy(service), &answers)
}

/// A lesion referral with a dermoscopic image (what Homerton requires).
fn lesion(extra: &[(&'static str, Value)]) -> Vec<(&'static str, Value)> {
    let mut p = vec![
        ("/condition", json!("lesion")),
        ("/lesion_count", json!(1)),
        ("/dermoscopic_images", json!(true)),
    ];
    p.extend_from_slice(extra);
    p
}

struct Case {
    service: &'static str,
    /// The seed's criterion (or the situation) this row exercises.
    criterion: &'static str,
    dob: &'static str,
    postcode: &'static str,
    patch: Vec<(&'static str, Value)>,
    decision: Decision,
    codes: Vec<ReasonCode>,
}

fn case(
    service: &'static str,
    criterion: &'static str,
    dob: &'static str,
    patch: Vec<(&'static str, Value)>,
    decision: Decision,
    codes: Vec<ReasonCode>,
) -> Case {
    let postcode = if service == "west-herts-paediatric" { "WD17 1AB" } else { "E8 1DY" };
    Case { service, criterion, dob, postcode, patch, decision, codes }
}

fn run(cases: Vec<Case>) {
    for c in cases {
        let answers = patched(base(c.dob, c.postcode), &c.patch);
        let decision = check(c.service, &answers);
        let label = format!("{} / {} (dob {})", c.service, c.criterion, c.dob);
        assert_eq!(decision.service, c.service, "{label}");
        assert_eq!(decision.decision, c.decision, "{label}: {decision:#?}");
        assert_eq!(decision.reason_codes(), c.codes, "{label}: {decision:#?}");
        for reason in &decision.reasons {
            assert!(!reason.message.trim().is_empty(), "{label}: empty message");
        }
    }
}

fn yes(pointer: &'static str) -> Vec<(&'static str, Value)> {
    vec![(pointer, json!(true))]
}

fn no(pointer: &'static str) -> Vec<(&'static str, Value)> {
    vec![(pointer, json!(false))]
}

// ---------------------------------------------------------------------------------------------
// Seed 000: Homerton RAS Teledermatology
// ---------------------------------------------------------------------------------------------

#[test]
fn homerton_walks_every_seed_criterion_for_adults_and_children() {
    let h = "homerton";
    let mut cases = Vec::new();
    for dob in [ADULT_DOB, CHILD_DOB] {
        cases.extend([
            case(h, "Inclusions: Skin conditions that do not meet the exclusion criteria", dob, vec![], Eligible, vec![]),
            case(h, "lesion with a dermatascope picture", dob, lesion(&[]), Eligible, vec![]),
            case(h, "2WW criteria / suspicious of cancer: Refer patient using 2WW form", dob, yes("/meets_2ww_criteria"), Redirect, vec![TwoWeekWait]),
            case(h, "extreme psychological distress", dob, yes("/extreme_psychological_distress"), Excluded, vec![PsychologicalDistress]),
            case(h, "widespread rashes", dob, yes("/widespread"), Excluded, vec![WidespreadOrSystemic]),
            case(h, "severe inflammatory conditions with systemic symptoms/of an urgent nature", dob, yes("/severe_or_systemic_or_urgent"), Excluded, vec![WidespreadOrSystemic]),
            case(h, "widespread condition where it is not appropriate/practical to take images", dob,
                vec![("/widespread", json!(true)), ("/imaging_practical", json!(false))], Excluded, vec![WidespreadOrSystemic, ImagingImpractical]),
            case(h, "Patients with 2 or more lesions for assessment (2)", dob, lesion(&[("/lesion_count", json!(2))]), Excluded, vec![MultipleLesions]),
            case(h, "Patients with 2 or more lesions for assessment (5)", dob, lesion(&[("/lesion_count", json!(5))]), Excluded, vec![MultipleLesions]),
            case(h, "Breast ... rashes", dob, vec![("/body_sites", json!(["breast"]))], Excluded, vec![IntimateSite]),
            case(h, "perianal ... rashes", dob, vec![("/body_sites", json!(["trunk", "perianal"]))], Excluded, vec![IntimateSite]),
            case(h, "genital rashes", dob, vec![("/body_sites", json!(["genital"]))], Excluded, vec![IntimateSite]),
            case(h, "Breast ... lesions", dob, lesion(&[("/body_sites", json!(["breast"]))]), Excluded, vec![IntimateSite]),
            case(h, "perianal ... lesions", dob, lesion(&[("/body_sites", json!(["perianal"]))]), Excluded, vec![IntimateSite]),
            case(h, "genital lesions", dob, lesion(&[("/body_sites", json!(["genital"]))]), Excluded, vec![IntimateSite]),
            case(h, "non-intimate sites", dob, vec![("/body_sites", json!(["scalp", "neck", "trunk", "arm", "hand", "leg", "foot", "other"]))], Eligible, vec![]),
            case(h, "existing safeguarding concerns (adults and children/young people)", dob, yes("/safeguarding_concerns"), Excluded, vec![Safeguarding]),
            case(h, "lack mental capacity to consent", dob,
                vec![("/has_capacity_to_consent", json!(false)), ("/consent_given", json!(false))], Excluded, vec![LacksCapacity, NoConsent]),
            case(h, "unless the clinician is satisfied ... in the patient's best interest", dob,
                vec![("/has_capacity_to_consent", json!(false)), ("/consent_given", json!(false)), ("/best_interests_referral", json!(true))], Eligible, vec![]),
            case(h, "gain patient consent", dob, no("/consent_given"), Excluded, vec![NoConsent]),
            case(h, "Lesions should always have a dermatascope picture", dob, lesion(&[("/dermoscopic_images", json!(false))]), Excluded, vec![LesionNeedsDermoscopy]),
            case(h, "rashes need no dermatascope picture", dob, no("/dermoscopic_images"), Eligible, vec![]),
            case(h, "patient sends photos after a VIRTUAL CONSULTATION", dob,
                vec![("/images_taken_by", json!("patient")), ("/seen_face_to_face", json!(false))], Eligible, vec![]),
        ]);
    }
    // Children only: "Images where faces can be identified", "Known chronic inflammatory skin
    // conditions (e.g. eczema, psoriasis)", "Children with existing safeguarding concerns".
    cases.extend([
        case(h, "child: Images where faces can be identified", CHILD_DOB,
            vec![("/face_identifiable_in_images", json!(true)), ("/body_sites", json!(["face"]))], Excluded, vec![ChildFaceIdentifiable]),
        case(h, "adult: identifiable face is not an exclusion", ADULT_DOB,
            vec![("/face_identifiable_in_images", json!(true)), ("/body_sites", json!(["face"]))], Eligible, vec![]),
        case(h, "child: Known chronic inflammatory skin conditions", CHILD_DOB, yes("/known_chronic_inflammatory_condition"), Excluded, vec![ChildChronicInflammatory]),
        case(h, "adult: chronic inflammatory condition is not an exclusion", ADULT_DOB, yes("/known_chronic_inflammatory_condition"), Eligible, vec![]),
    ]);
    run(cases);
}

#[test]
fn homerton_messages_quote_the_seed() {
    let d = check("homerton", &patched(base(ADULT_DOB, "E8 1DY"), &lesion(&[("/body_sites", json!(["genital"]))])));
    assert_eq!(d.reasons[0].message, "Breast, perianal and genital rashes or lesions");
    let d = check("homerton", &patched(base(ADULT_DOB, "E8 1DY"), &yes("/extreme_psychological_distress")));
    assert_eq!(d.reasons[0].message, "Patients whose dermatological condition is causing extreme psychological distress");

    // Adults see the all-patients safeguarding wording; children also see the child-only one.
    let adult = check("homerton", &patched(base(ADULT_DOB, "E8 1DY"), &yes("/safeguarding_concerns")));
    assert_eq!(adult.reasons[0].message, "Patients with existing safeguarding concerns (adults and children/young people)");
    let child = check("homerton", &patched(base(CHILD_DOB, "E8 1DY"), &yes("/safeguarding_concerns")));
    assert_eq!(child.reasons.len(), 1);
    assert!(child.reasons[0].message.contains("(adults and children/young people)"));
    assert!(child.reasons[0].message.contains("Children with existing safeguarding concerns"));

    let no_capacity = check(
        "homerton",
        &patched(base(ADULT_DOB, "E8 1DY"), &[("/has_capacity_to_consent", json!(false)), ("/consent_given", json!(false))]),
    );
    assert!(no_capacity.reasons[0].message.starts_with("Patients who lack mental capacity to consent, unless the clinician is satisfied"));
    let derm = check("homerton", &patched(base(ADULT_DOB, "E8 1DY"), &lesion(&[("/dermoscopic_images", json!(false))])));
    assert!(derm.reasons[0].message.starts_with("Lesions should always have a dermatascope picture"));
}

#[test]
fn homerton_child_only_exclusions_stop_on_the_18th_birthday() {
    // Born 2008-03-02: 17 on 2026-03-01, 18 on 2026-03-02.
    for (referral_date, excluded) in [("2026-03-01", true), ("2026-03-02", false), ("2026-03-03", false)] {
        for field in ["/face_identifiable_in_images", "/known_chronic_inflammatory_condition"] {
            let answers = patched(
                base("2008-03-02", "E8 1DY"),
                &[("/referral_date", json!(referral_date)), (field, json!(true))],
            );
            let d = check("homerton", &answers);
            assert_eq!(d.decision == Excluded, excluded, "{field} on {referral_date}: {d:#?}");
        }
    }
}

#[test]
fn homerton_combined_exclusions_are_all_reported() {
    let answers = patched(
        base(CHILD_DOB, "E8 1DY"),
        &[
            ("/condition", json!("lesion")),
            ("/lesion_count", json!(3)),
            ("/body_sites", json!(["face", "breast"])),
            ("/dermoscopic_images", json!(false)),
            ("/extreme_psychological_distress", json!(true)),
            ("/widespread", json!(true)),
            ("/imaging_practical", json!(false)),
            ("/safeguarding_concerns", json!(true)),
            ("/has_capacity_to_consent", json!(false)),
            ("/consent_given", json!(false)),
            ("/known_chronic_inflammatory_condition", json!(true)),
            ("/face_identifiable_in_images", json!(true)),
        ],
    );
    let d = check("homerton", &answers);
    assert_eq!(d.decision, Excluded);
    assert_eq!(
        d.reason_codes(),
        vec![
            PsychologicalDistress,
            WidespreadOrSystemic,
            ImagingImpractical,
            MultipleLesions,
            IntimateSite,
            Safeguarding,
            LacksCapacity,
            NoConsent,
            ChildFaceIdentifiable,
            ChildChronicInflammatory,
            LesionNeedsDermoscopy,
        ]
    );
    // Two-week wait wins the decision but every other reason is still reported.
    let d = check("homerton", &patched(answers, &yes("/meets_2ww_criteria")));
    assert_eq!(d.decision, Redirect);
    assert_eq!(d.reasons.len(), 12);
    assert_eq!(d.reasons[0].code, TwoWeekWait);
}

// ---------------------------------------------------------------------------------------------
// Seed 001: generic Advice and Guidance via e-RS
// ---------------------------------------------------------------------------------------------

#[test]
fn nhs_advice_and_guidance_walks_its_seed() {
    let s = "nhs-advice-and-guidance";
    let mut cases = Vec::new();
    for dob in [ADULT_DOB, CHILD_DOB] {
        cases.extend([
            case(s, "A&G for a rash", dob, vec![], Eligible, vec![]),
            case(s, "A&G for a lesion, no dermoscopy required", dob, lesion(&[("/dermoscopic_images", json!(false))]), Eligible, vec![]),
            case(s, "with their permission", dob, no("/consent_given"), Excluded, vec![NoConsent]),
            case(s, "shared rule: 2WW goes on the cancer pathway", dob, yes("/meets_2ww_criteria"), Redirect, vec![TwoWeekWait]),
            case(s, "shared rule: lacks capacity, no best interests", dob,
                vec![("/has_capacity_to_consent", json!(false)), ("/consent_given", json!(false))], Excluded, vec![NoConsent]),
            case(s, "shared rule: lacks capacity, best interests recorded", dob,
                vec![("/has_capacity_to_consent", json!(false)), ("/consent_given", json!(false)), ("/best_interests_referral", json!(true))], Eligible, vec![]),
            case(s, "the practice takes the photos: patient photos are not accepted", dob,
                vec![("/images_taken_by", json!("patient"))], Excluded, vec![PhotoSourceNotAccepted]),
            // The generic service lists none of Homerton's exclusions.
            case(s, "no psychological-distress exclusion", dob, yes("/extreme_psychological_distress"), Eligible, vec![]),
            case(s, "no intimate-site exclusion", dob, vec![("/body_sites", json!(["genital"]))], Eligible, vec![]),
            case(s, "no multiple-lesion exclusion", dob, lesion(&[("/lesion_count", json!(4))]), Eligible, vec![]),
            case(s, "no child-only exclusions", dob, yes("/face_identifiable_in_images"), Eligible, vec![]),
        ]);
    }
    run(cases);
    let d = check(s, &patched(base(ADULT_DOB, "E8 1DY"), &no("/consent_given")));
    assert!(d.reasons[0].message.contains("with their permission"));
}

// ---------------------------------------------------------------------------------------------
// Seed 002: City & Hackney, rashes only
// ---------------------------------------------------------------------------------------------

#[test]
fn hackney_rash_walks_every_seed_criterion_for_adults_and_children() {
    let s = "hackney-rash";
    let mut cases = Vec::new();
    for dob in [ADULT_DOB, CHILD_DOB] {
        cases.extend([
            case(s, "rash photographed by the clinician", dob, vec![], Eligible, vec![]),
            case(s, "will accept patient images for rashes", dob, vec![("/images_taken_by", json!("patient"))], Eligible, vec![]),
            case(s, "Patient Images of skin lesions such as moles / spots ... will not be accepted", dob,
                vec![("/condition", json!("lesion")), ("/lesion_count", json!(1)), ("/images_taken_by", json!("patient"))], Excluded, vec![ConditionNotAccepted]),
            case(s, "rashes only: clinician lesion photos with dermoscopy are still not accepted", dob,
                lesion(&[]), Excluded, vec![ConditionNotAccepted]),
            case(s, "Patients who meet the criteria for a two week wait referral", dob, yes("/meets_2ww_criteria"), Redirect, vec![TwoWeekWait]),
            case(s, "extreme psychological distress", dob, yes("/extreme_psychological_distress"), Excluded, vec![PsychologicalDistress]),
            case(s, "widespread rashes", dob, yes("/widespread"), Excluded, vec![WidespreadOrSystemic]),
            case(s, "systemic symptoms/of an urgent nature", dob, yes("/severe_or_systemic_or_urgent"), Excluded, vec![WidespreadOrSystemic]),
            case(s, "not appropriate/practical to take images", dob, no("/imaging_practical"), Excluded, vec![ImagingImpractical]),
            case(s, "2 or more lesions for assessment", dob, vec![("/lesion_count", json!(2))], Excluded, vec![MultipleLesions]),
            case(s, "Breast ... rashes", dob, vec![("/body_sites", json!(["breast"]))], Excluded, vec![IntimateSite]),
            case(s, "perianal ... rashes", dob, vec![("/body_sites", json!(["perianal"]))], Excluded, vec![IntimateSite]),
            case(s, "genital rashes", dob, vec![("/body_sites", json!(["genital", "leg"]))], Excluded, vec![IntimateSite]),
            // Seed 002 says "rashes", not "rashes or lesions": a genital lesion is refused because
            // lesions are not accepted, not under the intimate-site criterion.
            case(s, "genital lesion: the criterion names rashes only", dob,
                lesion(&[("/body_sites", json!(["genital"]))]), Excluded, vec![ConditionNotAccepted]),
            case(s, "existing safeguarding concerns", dob, yes("/safeguarding_concerns"), Excluded, vec![Safeguarding]),
            case(s, "lack mental capacity to consent", dob,
                vec![("/has_capacity_to_consent", json!(false)), ("/consent_given", json!(false))], Excluded, vec![LacksCapacity, NoConsent]),
            case(s, "best interest", dob,
                vec![("/has_capacity_to_consent", json!(false)), ("/consent_given", json!(false)), ("/best_interests_referral", json!(true))], Eligible, vec![]),
            case(s, "no consent", dob, no("/consent_given"), Excluded, vec![NoConsent]),
        ]);
    }
    cases.extend([
        case(s, "children: Images where faces can be identified", CHILD_DOB, yes("/face_identifiable_in_images"), Excluded, vec![ChildFaceIdentifiable]),
        case(s, "adults: faces may be identifiable", ADULT_DOB, yes("/face_identifiable_in_images"), Eligible, vec![]),
        case(s, "children: Known chronic inflammatory skin conditions", CHILD_DOB, yes("/known_chronic_inflammatory_condition"), Excluded, vec![ChildChronicInflammatory]),
        case(s, "adults: chronic inflammatory conditions accepted", ADULT_DOB, yes("/known_chronic_inflammatory_condition"), Eligible, vec![]),
        // 17 the day before the 18th birthday, 18 on it (born 2008-03-03, referral 2026-03-02 / -03).
        case(s, "day before the 18th birthday is a child", "2008-03-03", yes("/known_chronic_inflammatory_condition"), Excluded, vec![ChildChronicInflammatory]),
        case(s, "the 18th birthday is an adult", "2008-03-02", yes("/known_chronic_inflammatory_condition"), Eligible, vec![]),
        case(s, "combined: child, patient photo of a mole at the breast, eczema, 2WW", CHILD_DOB,
            vec![("/condition", json!("lesion")), ("/lesion_count", json!(2)), ("/body_sites", json!(["breast"])),
                 ("/images_taken_by", json!("patient")), ("/known_chronic_inflammatory_condition", json!(true)),
                 ("/meets_2ww_criteria", json!(true))],
            Redirect, vec![TwoWeekWait, MultipleLesions, ChildChronicInflammatory, ConditionNotAccepted]),
    ]);
    run(cases);
    let d = check(s, &patched(base(ADULT_DOB, "E8 1DY"), &lesion(&[])));
    assert!(d.reasons[0].message.starts_with("The Teledermatology service will accept patient images for rashes only."));
    let d = check(s, &patched(base(ADULT_DOB, "E8 1DY"), &yes("/meets_2ww_criteria")));
    assert_eq!(d.reasons[0].message, "Patients who meet the criteria for a two week wait referral");
}

// ---------------------------------------------------------------------------------------------
// Seed 003: Clinical Partnership
// ---------------------------------------------------------------------------------------------

#[test]
fn clinical_partnership_walks_its_seed() {
    let s = "clinical-partnership";
    let mut cases = Vec::new();
    for dob in [ADULT_DOB, CHILD_DOB] {
        cases.extend([
            case(s, "photograph skin/lesions/rashes/abnormalities", dob, vec![], Eligible, vec![]),
            case(s, "lesions", dob, lesion(&[("/dermoscopic_images", json!(false))]), Eligible, vec![]),
            case(s, "Patient 'Remote links' at home ... upload your symptoms and images", dob,
                vec![("/images_taken_by", json!("patient")), ("/seen_face_to_face", json!(false))], Eligible, vec![]),
            case(s, "ask you to give your consent to this referral", dob, no("/consent_given"), Excluded, vec![NoConsent]),
            case(s, "shared rule: 2WW", dob, yes("/meets_2ww_criteria"), Redirect, vec![TwoWeekWait]),
            case(s, "shared rule: best interests", dob,
                vec![("/has_capacity_to_consent", json!(false)), ("/consent_given", json!(false)), ("/best_interests_referral", json!(true))], Eligible, vec![]),
        ]);
    }
    run(cases);
    let d = check(s, &patched(base(ADULT_DOB, "E8 1DY"), &no("/consent_given")));
    assert!(d.reasons[0].message.starts_with("The GP or healthcare person will ask you to give your consent"));
}

// ---------------------------------------------------------------------------------------------
// Seed 004: West Herts paediatric
// ---------------------------------------------------------------------------------------------

#[test]
fn west_herts_walks_its_seed_with_the_16th_birthday_boundary() {
    let s = "west-herts-paediatric";
    // Born 2010-03-02: 15 on 2026-03-01, 16 on 2026-03-02.
    let mut cases = vec![
        case(s, "under 16, Herts Valley, seen by GP, consent", CHILD_DOB, vec![], Eligible, vec![]),
        case(s, "newborn", "2026-03-01", vec![], Eligible, vec![]),
        case(s, "day before the 16th birthday is under 16", "2010-03-03", vec![], Eligible, vec![]),
        case(s, "the 16th birthday is not under 16", "2010-03-02", vec![], Excluded, vec![AgeOutOfRange]),
        case(s, "17 is not under 16", "2009-01-01", vec![], Excluded, vec![AgeOutOfRange]),
        case(s, "adult", ADULT_DOB, vec![], Excluded, vec![AgeOutOfRange]),
        case(s, "obtaining your consent", CHILD_DOB, no("/consent_given"), Excluded, vec![NoConsent]),
        case(s, "the GP takes the relevant photographs", CHILD_DOB, vec![("/images_taken_by", json!("patient"))], Excluded, vec![PhotoSourceNotAccepted]),
        case(s, "shared rule: 2WW", CHILD_DOB, yes("/meets_2ww_criteria"), Redirect, vec![TwoWeekWait]),
        case(s, "lesion, any site", CHILD_DOB, lesion(&[("/body_sites", json!(["genital"])), ("/dermoscopic_images", json!(false))]), Eligible, vec![]),
        case(s, "combined: 16, outside Herts Valley, patient photos, no consent", "2010-03-02",
            vec![("/patient/postcode", json!("HP5 1AA")), ("/images_taken_by", json!("patient")), ("/consent_given", json!(false))],
            Excluded, vec![NoConsent, AgeOutOfRange, OutsideCatchment, PhotoSourceNotAccepted]),
    ];
    for c in &mut cases {
        c.postcode = "WD17 1AB";
    }
    run(cases);

    // 16th birthday on a leap day: born 2012-02-29 is 15 on 2028-02-28 and 16 on 2028-02-29;
    // in a non-leap year the birthday falls on 1 March.
    for (dob, date, eligible) in [
        ("2012-02-29", "2028-02-28", true),
        ("2012-02-29", "2028-02-29", false),
        ("2011-02-28", "2027-02-27", true),
        ("2011-02-28", "2027-02-28", false),
        ("2008-02-29", "2024-02-28", true),
        ("2008-02-29", "2024-02-29", false),
        ("2010-02-28", "2026-02-28", false),
    ] {
        let d = check(s, &patched(base(dob, "WD17 1AB"), &[("/referral_date", json!(date))]));
        assert_eq!(d.decision == Eligible, eligible, "{dob} on {date}: {d:#?}");
    }
    let leap_2013 = telederm_domain::eligibility::age_in_years(
        chrono::NaiveDate::from_ymd_opt(2012, 2, 29).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2013, 2, 28).unwrap(),
    );
    assert_eq!(leap_2013, Some(0), "a 29 February birthday falls on 1 March in other years");

    let d = check(s, &base(ADULT_DOB, "WD17 1AB"));
    assert!(d.reasons[0].message.starts_with("Patients who are under 16, living within the area served by Herts Valley CCG"));
    assert!(d.reasons[0].message.contains("this patient is 45"));
}

#[test]
fn west_herts_catchment_edges() {
    let s = "west-herts-paediatric";
    let inside = [
        ("HP1 1AA", "Hemel Hempstead (Dacorum)"),
        ("HP2 4AA", "Hemel Hempstead (Dacorum)"),
        ("HP3 9AA", "Hemel Hempstead / Bovingdon (Dacorum)"),
        ("HP4 1AA", "Berkhamsted (Dacorum)"),
        ("HP23 5AA", "Tring (Dacorum)"),
        ("AL3 8AA", "Markyate (Dacorum) / St Albans"),
        ("WD4 8AA", "Kings Langley (Dacorum / Three Rivers)"),
        ("WD6 1AA", "Borehamwood (Hertsmere)"),
        ("WD7 7AA", "Radlett (Hertsmere)"),
        ("WD23 1AA", "Bushey (Hertsmere)"),
        ("EN6 1AA", "Potters Bar (Hertsmere)"),
        ("AL1 1AA", "St Albans"),
        ("AL2 1AA", "London Colney (St Albans)"),
        ("AL4 8AA", "Wheathampstead (St Albans)"),
        ("AL5 1AA", "Harpenden (St Albans)"),
        ("WD3 1AA", "Rickmansworth (Three Rivers)"),
        ("WD5 0AA", "Abbots Langley (Three Rivers)"),
        ("WD19 7AA", "South Oxhey (Three Rivers / Watford)"),
        ("WD17 1AB", "Watford"),
        ("WD18 0AA", "Watford"),
        ("WD24 4AA", "Watford"),
        ("WD25 9AA", "Garston (Watford)"),
        ("wd17 1ab", "lower case is normalised"),
        ("WD171AB", "no space is normalised"),
        (" hp23  5aa ", "extra spaces are normalised"),
    ];
    for (postcode, place) in inside {
        let d = check(s, &base(CHILD_DOB, postcode));
        assert_eq!(d.decision, Eligible, "{postcode} {place}: {d:#?}");
    }
    let outside = [
        ("HP5 1AA", "Chesham (Buckinghamshire)"),
        ("HP27 0AA", "Princes Risborough: HP2 must not match HP27"),
        ("HP22 5AA", "Aylesbury (Buckinghamshire)"),
        ("AL6 0AA", "Welwyn (Welwyn Hatfield)"),
        ("AL7 1AA", "Welwyn Garden City"),
        ("AL10 0AA", "Hatfield: AL1 must not match AL10"),
        ("EN5 1AA", "Barnet"),
        ("HA6 2AA", "Northwood / Moor Park edge"),
        ("LU1 1AA", "Luton"),
        ("WD1 1AA", "retired district: WD1 must not match WD17"),
        ("SG1 1AA", "Stevenage (East and North Herts)"),
        ("E8 1DY", "Hackney"),
    ];
    for (postcode, place) in outside {
        let d = check(s, &base(CHILD_DOB, postcode));
        assert_eq!(d.reason_codes(), vec![OutsideCatchment], "{postcode} {place}: {d:#?}");
        assert!(d.reasons[0].message.contains("living within the area served by Herts Valley CCG"));
    }
    // EN6 takes in Cuffley and Northaw (Welwyn Hatfield): accepted with a warning to confirm.
    let d = check(s, &base(CHILD_DOB, "EN6 4AA"));
    assert_eq!(d.decision, Eligible);
    assert_eq!(d.warnings.iter().map(|w| w.code).collect::<Vec<_>>(), vec![WarningCode::CatchmentEdge]);
}

#[test]
fn catchment_only_applies_where_a_service_has_one() {
    for s in ["homerton", "nhs-advice-and-guidance", "hackney-rash", "clinical-partnership"] {
        for postcode in ["HP5 1AA", "EH1 1AA", "BT1 1AA", "WD17 1AB"] {
            assert_eq!(check(s, &base(ADULT_DOB, postcode)).decision, Eligible, "{s} {postcode}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Warnings and shared rules
// ---------------------------------------------------------------------------------------------

#[test]
fn warnings_say_what_the_referrer_should_know() {
    let warning_codes = |service: &str, patch: &[(&str, Value)], postcode: &str, dob: &str| {
        check(service, &patched(base(dob, postcode), patch))
            .warnings
            .iter()
            .map(|w| w.code)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        warning_codes("west-herts-paediatric", &no("/seen_face_to_face"), "WD17 1AB", CHILD_DOB),
        vec![WarningCode::NotSeenFaceToFace]
    );
    assert_eq!(
        warning_codes("homerton", &no("/seen_face_to_face"), "E8 1DY", ADULT_DOB),
        vec![WarningCode::NotSeenFaceToFace]
    );
    assert!(warning_codes("clinical-partnership", &no("/seen_face_to_face"), "E8 1DY", ADULT_DOB).is_empty());
    assert_eq!(
        warning_codes(
            "homerton",
            &[("/has_capacity_to_consent", json!(false)), ("/best_interests_referral", json!(true)), ("/consent_given", json!(true))],
            "E8 1DY",
            ADULT_DOB
        ),
        vec![WarningCode::BestInterestsReferral, WarningCode::ConsentWithoutCapacity]
    );
    assert_eq!(
        warning_codes("homerton", &yes("/best_interests_referral"), "E8 1DY", ADULT_DOB),
        vec![WarningCode::BestInterestsWithCapacity]
    );
    assert_eq!(
        warning_codes("nhs-advice-and-guidance", &no("/imaging_practical"), "E8 1DY", ADULT_DOB),
        vec![WarningCode::ImagingImpractical]
    );
    // Consent recorded from a patient without capacity is not consent.
    let d = check(
        "clinical-partnership",
        &patched(base(ADULT_DOB, "E8 1DY"), &[("/has_capacity_to_consent", json!(false)), ("/consent_given", json!(true))]),
    );
    assert_eq!(d.reason_codes(), vec![NoConsent]);
}

#[test]
fn no_consent_and_two_week_wait_apply_to_every_seed_service() {
    for p in policy::builtin() {
        let postcode = if p.id == "west-herts-paediatric" { "WD17 1AB" } else { "E8 1DY" };
        let ok = base(CHILD_DOB, postcode);
        assert_eq!(check(&p.id, &ok).decision, Eligible, "{}", p.id);
        let d = check(&p.id, &patched(ok.clone(), &no("/consent_given")));
        assert_eq!(d.reason_codes(), vec![NoConsent], "{}", p.id);
        let d = check(&p.id, &patched(ok, &yes("/meets_2ww_criteria")));
        assert_eq!(d.decision, Redirect, "{}", p.id);
    }
}

#[test]
fn decision_serialises_to_the_documented_shape() {
    let d = check("homerton", &patched(base(ADULT_DOB, "E8 1DY"), &[("/meets_2ww_criteria", json!(true)), ("/consent_given", json!(false))]));
    let v = serde_json::to_value(&d).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4);
    assert_eq!(v["service"], "homerton");
    assert_eq!(v["decision"], "redirect_2ww");
    assert_eq!(v["reasons"][0]["code"], "two_week_wait");
    assert_eq!(v["reasons"][1]["code"], "no_consent");
    assert_eq!(v["reasons"][0].as_object().unwrap().len(), 2);
    assert!(v["reasons"][0]["message"].is_string());
    assert!(v["warnings"].is_array());
    let back: EligibilityDecision = serde_json::from_value(v).unwrap();
    assert_eq!(back, d);
    for (decision, text) in [(Eligible, "\"eligible\""), (Excluded, "\"excluded\""), (Redirect, "\"redirect_2ww\"")] {
        assert_eq!(serde_json::to_string(&decision).unwrap(), text);
    }
    for code in ReasonCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
    }
}
