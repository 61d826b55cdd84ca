//! Letters render to HTML and PDF; the PDFs are read back with poppler, an independent tool:
//! rendered to PNG (`pdftoppm`), their text extracted (`pdftotext`, names in Polish, Vietnamese,
//! Turkish and Irish print as written), their type measured (`pdftotext -bbox`: large print is
//! nothing smaller than 16 pt), their tagging and fonts listed (`pdfinfo`, `pdffonts`).

mod common;

use std::process::Command;

use common::*;
use telederm_domain::outcome::{OutcomeCode, RejectionReason};
use telederm_fhir::letters::{Letter, LetterKind};

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    (u32::from_be_bytes(bytes[16..20].try_into().unwrap()), u32::from_be_bytes(bytes[20..24].try_into().unwrap()))
}

#[test]
fn letters_render_to_pdf_and_png_with_their_content() {
    ensure_poppler();
    let dir = tempfile::tempdir().unwrap();
    for kind in LetterKind::ALL {
        let pdf = Letter::for_record(&record(), kind).unwrap().to_pdf();
        let pdf_path = dir.path().join(format!("{}.pdf", kind.short()));
        std::fs::write(&pdf_path, &pdf).unwrap();

        // Text extraction proves the PDF is well formed and says what it should.
        let text = Command::new("pdftotext").args(["-layout"]).arg(&pdf_path).arg("-").output().unwrap();
        assert!(text.status.success(), "{}", String::from_utf8_lossy(&text.stderr));
        let text = String::from_utf8_lossy(&text.stdout);
        for needle in ["Jo Bloggs", "999 000 0018", "Dr Sam Patel", "Seborrhoeic keratosis"] {
            assert!(text.contains(needle), "{kind:?} PDF lacks {needle:?}:\n{text}");
        }
        if kind == LetterKind::Gp {
            for needle in ["Images reviewed", "Management plan", "Safety-netting", "RETURN_TO_REFERRER_WITH_ADVICE", "Image 2: dermoscopic,"] {
                assert!(text.contains(needle), "GP letter lacks {needle:?}:\n{text}");
            }
        }

        let prefix = dir.path().join(kind.short());
        let out = Command::new("pdftoppm").args(["-png", "-r", "50"]).arg(&pdf_path).arg(&prefix).output().unwrap();
        assert!(out.status.success(), "pdftoppm: {}", String::from_utf8_lossy(&out.stderr));
        let mut pages: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "png") && p.file_name().unwrap().to_string_lossy().starts_with(&format!("{}-", kind.short())))
            .collect();
        pages.sort();
        assert!(!pages.is_empty(), "no PNG pages for {kind:?}");
        let (w, h) = png_size(&std::fs::read(&pages[0]).unwrap());
        // A4 at 50 dpi: 413 x 585 pixels.
        assert!((410..=416).contains(&w) && (582..=588).contains(&h), "{kind:?}: {w}x{h}");
        if kind == LetterKind::PatientLargePrint {
            assert!(pages.len() >= 2, "large print should need more than one page");
        }
    }
}

/// Noto Sans's ascent and descent (1069 and -293 per 1000 em, its `hhea` table): poppler draws a
/// word's box from the baseline up by the ascent and down by the descent, so a box's height is
/// 1.362 times the font size.
const NOTO_SANS_BOX: f32 = (1069.0 + 293.0) / 1000.0;

/// Each word of a PDF and its font size in points, read by `pdftotext -bbox` (poppler) from the
/// height of the word's box.
fn word_sizes(pdf: &[u8]) -> Vec<(String, f32)> {
    ensure_poppler();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext").arg("-bbox").arg(&path).arg("-").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = String::from_utf8(out.stdout).unwrap();
    let attr = |tag: &str, name: &str| -> f32 {
        let start = tag.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("{name} in {tag}")) + name.len() + 2;
        tag[start..].split('"').next().unwrap().parse().unwrap()
    };
    html.split("<word ")
        .skip(1)
        .map(|w| {
            let (tag, rest) = w.split_once('>').unwrap();
            let word = rest.split("</word>").next().unwrap().to_string();
            (word, (attr(tag, "yMax") - attr(tag, "yMin")) / NOTO_SANS_BOX)
        })
        .collect()
}

#[test]
fn large_print_text_is_at_least_16_point_as_poppler_measures_it() {
    let words = word_sizes(&Letter::for_record(&record(), LetterKind::PatientLargePrint).unwrap().to_pdf());
    assert!(words.len() > 100, "{words:?}");
    let small: Vec<_> = words.iter().filter(|(_, size)| *size < 15.95).collect();
    assert!(small.is_empty(), "large-print words under 16 pt: {small:?}");
    let body = words.iter().find(|(w, _)| w == "Dear").expect("the salutation");
    assert!((body.1 - 16.0).abs() < 0.05, "large-print body text is {} pt", body.1);
    // The measure is calibrated: the standard letter's body text reads as its 10.5 pt.
    let standard = word_sizes(&Letter::for_record(&record(), LetterKind::Patient).unwrap().to_pdf());
    let body = standard.iter().find(|(w, _)| w == "Dear").expect("the salutation");
    assert!((body.1 - 10.5).abs() < 0.05, "standard body text is {} pt", body.1);
}

#[test]
fn the_large_print_html_letter_sets_16_point_text_and_its_style_has_a_csp_hash() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let letter = Letter::for_record(&record(), LetterKind::PatientLargePrint).unwrap();
    let html = letter.to_html();
    let style = html.split("<style>").nth(1).unwrap().split("</style>").next().unwrap();
    assert!(style.contains("body { font-family: Arial, Helvetica, sans-serif; font-size: 16pt;"), "{style}");
    // What a browser compares with the Content-Security-Policy: the SHA-256 of the style's text.
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style.as_bytes()));
    assert_eq!(letter.style_csp_source(), format!("'sha256-{hash}'"));
}

/// Names as the people the NHS serves write them: Polish, Vietnamese, Turkish and Irish.
const NAMES: [(&str, &str); 7] = [
    ("Łukasz", "Wróbel"),
    ("Zażółć", "Gęślą"),
    ("Nguyễn", "Thị Hương"),
    ("Çağrı", "Şahin"),
    ("İlkay", "Güçlü"),
    ("Seán", "Ó Briain"),
    ("Máire", "Ní Dhomhnaill"),
];

#[test]
fn letters_print_polish_vietnamese_turkish_and_irish_names_as_written() {
    for (given, family) in NAMES {
        let mut rec = record();
        rec.referral.patient.given_name = given.into();
        rec.referral.patient.family_name = family.into();
        let name = format!("{given} {family}");
        for kind in LetterKind::ALL {
            let letter = Letter::for_record(&rec, kind).unwrap();
            let text = pdf_pages(&letter.to_pdf()).join(" ");
            let expected = match kind {
                LetterKind::Gp => format!("Name {name} Date of birth"),
                LetterKind::Patient | LetterKind::PatientLargePrint => format!("Dear {name} Your GP"),
            };
            assert!(text.contains(&expected), "{kind:?} PDF for {name:?} lacks {expected:?}:\n{text}");
            assert!(html_text(&letter.to_html()).contains(&expected), "{kind:?} HTML for {name:?}");
        }
    }
}

#[test]
fn letter_pdfs_are_tagged_with_their_title_and_language() {
    ensure_poppler();
    let dir = tempfile::tempdir().unwrap();
    for kind in LetterKind::ALL {
        let pdf = Letter::for_record(&record(), kind).unwrap().to_pdf();
        let path = dir.path().join(format!("{}.pdf", kind.short()));
        std::fs::write(&path, &pdf).unwrap();
        let out = Command::new("pdfinfo").arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let info = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::trim)).map(str::to_string);
        assert_eq!(field("Title").as_deref(), Some(kind.title()), "{info}");
        assert_eq!(field("Tagged").as_deref(), Some("yes"), "{info}");
        let text = String::from_utf8_lossy(&pdf);
        // The catalog's language (uncompressed; either spelling of the same PDF syntax).
        assert!(text.contains("/Lang(en-GB)") || text.contains("/Lang (en-GB)"), "{kind:?}: no document language");
        assert!(text.contains("pdfuaid:part>1<"), "{kind:?}: not marked PDF/UA-1");
        // The fonts are embedded (poppler lists them with "emb" yes).
        let out = Command::new("pdffonts").arg(&path).output().unwrap();
        let fonts = String::from_utf8_lossy(&out.stdout);
        let rows: Vec<&str> = fonts.lines().skip(2).collect();
        assert!(!rows.is_empty() && rows.iter().all(|r| r.contains("NotoSans") && r.split_whitespace().rev().nth(4) == Some("yes")), "{fonts}");
    }
}

#[test]
fn every_outcome_has_letters_that_say_what_happens_next() {
    for code in OutcomeCode::ALL {
        let mut rec = record();
        let o = rec.referral.outcome.as_mut().unwrap();
        o.code = code;
        o.rejection_reason = (code == OutcomeCode::Rejected).then_some(RejectionReason::InsufficientInformation);
        o.onward_service = (code == OutcomeCode::OnwardReferral).then(|| "Plastic surgery".to_string());
        let gp = Letter::for_record(&rec, LetterKind::Gp).unwrap().to_html();
        assert!(gp.contains(code.label()), "{code:?}");
        let patient = Letter::for_record(&rec, LetterKind::Patient).unwrap().to_html();
        assert!(patient.contains("What happens next"), "{code:?}");
        assert!(patient.contains("When to get help"), "{code:?}");
        if code == OutcomeCode::Rejected {
            assert!(patient.contains("there was not enough clinical information"), "{patient}");
            assert!(!patient.contains("Seborrhoeic"), "a rejected referral's letter gives no diagnosis");
        }
    }
    let mut rec = record();
    rec.referral.outcome = None;
    assert!(Letter::for_record(&rec, LetterKind::Gp).is_none());
}

#[test]
fn html_is_escaped() {
    let mut rec = record();
    rec.referral.outcome.as_mut().unwrap().management_plan = "<script>alert(1)</script> & more".into();
    let html = Letter::for_record(&rec, LetterKind::Gp).unwrap().to_html();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
    assert!(!html.contains("<script>"));
}

// ------------------------------------------------------------------ hazard log H1 and H2
// (docs/clinical-safety/hazard-log.md): who acts next, the onward service by name, urgency.

use telederm_domain::referral::{Priority, Route};

/// The fixture with outcome `code` on `route` (conversion not authorised), diagnosis and plan set.
fn with_outcome(route: Route, code: OutcomeCode) -> telederm_fhir::export::ReferralRecord {
    let mut rec = record();
    rec.referral.route = route;
    rec.referral.conversion_authorised = false;
    let o = rec.referral.outcome.as_mut().unwrap();
    o.code = code;
    o.diagnosis = "Basal cell carcinoma, nodular".into();
    o.management_plan = "Punch biopsy of the left cheek lesion".into();
    o.rejection_reason = None;
    o.priority = None;
    rec
}

/// The HTML's text without tags, words joined with single spaces.
fn html_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&#39;", "'").replace("&amp;", "&").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Both renderings of a letter, as plain text.
fn texts(rec: &telederm_fhir::export::ReferralRecord, kind: LetterKind) -> [String; 2] {
    let letter = Letter::for_record(rec, kind).unwrap();
    [html_text(&letter.to_html()), pdf_pages(&letter.to_pdf()).join(" ")]
}

const APPOINTMENT_PROMISE: [&str; 2] = ["contacted with an appointment", "will contact you with an appointment"];

#[test]
fn advice_and_guidance_appointment_outcomes_tell_the_patient_their_gp_refers() {
    for code in [OutcomeCode::FaceToFaceRoutine, OutcomeCode::FaceToFaceUrgent, OutcomeCode::Biopsy] {
        let rec = with_outcome(Route::AdviceAndGuidance, code);
        for text in texts(&rec, LetterKind::Patient) {
            for promise in APPOINTMENT_PROMISE {
                assert!(!text.contains(promise), "{code:?}: the A&G patient letter promises an appointment nobody books:\n{text}");
            }
            assert!(text.contains("Your GP will refer you"), "{code:?}:\n{text}");
        }
        for text in texts(&rec, LetterKind::Gp) {
            assert!(text.contains("Action for you Refer the patient"), "{code:?}: the GP letter must say the GP refers:\n{text}");
            assert!(text.contains("no referral has been made"), "{code:?}:\n{text}");
        }
    }
}

#[test]
fn ras_appointment_outcomes_tell_the_patient_the_service_books() {
    for code in [OutcomeCode::FaceToFaceRoutine, OutcomeCode::FaceToFaceUrgent, OutcomeCode::Biopsy] {
        let rec = with_outcome(Route::Ras, code);
        for text in texts(&rec, LetterKind::Patient) {
            assert!(text.contains("The skin service will contact you with an appointment"), "{code:?}:\n{text}");
        }
        for text in texts(&rec, LetterKind::Gp) {
            assert!(text.contains("Action for you None to arrange"), "{code:?}:\n{text}");
        }
    }
    // Converted in e-RS (the GP authorised conversion): the provider books too.
    let mut rec = with_outcome(Route::AdviceAndGuidance, OutcomeCode::Biopsy);
    rec.referral.conversion_authorised = true;
    let [html, _] = texts(&rec, LetterKind::Patient);
    assert!(html.contains("The skin service will contact you with an appointment"), "{html}");
}

#[test]
fn the_gp_letter_leads_with_the_outcome_and_the_action() {
    let rec = with_outcome(Route::AdviceAndGuidance, OutcomeCode::Biopsy);
    for text in texts(&rec, LetterKind::Gp) {
        let action = text.find("Action for you").expect("Action for you");
        let patient = text.find("Date of birth").expect("patient details");
        assert!(action < patient, "the action comes before the patient details:\n{text}");
        assert!(text.contains("Punch biopsy of the left cheek lesion"), "{text}");
        assert!(!text.contains("None recorded"), "{text}");
    }
}

#[test]
fn onward_referral_letters_name_the_service_not_its_id() {
    let mut rec = with_outcome(Route::Ras, OutcomeCode::OnwardReferral);
    rec.referral.outcome.as_mut().unwrap().onward_service = Some("west-herts".into());
    rec.onward_service_name = Some("West Hertfordshire Teledermatology".into());
    for kind in LetterKind::ALL {
        for text in texts(&rec, kind) {
            assert!(text.contains("West Hertfordshire Teledermatology"), "{kind:?}:\n{text}");
            assert!(!text.contains("west-herts"), "{kind:?} prints the service id:\n{text}");
        }
    }
}

#[tokio::test]
async fn a_loaded_record_carries_the_onward_services_name() {
    let inst = Installation::seeded().await;
    let mut r = inst.store.get_referral(referral_id()).await.unwrap();
    let o = r.outcome.as_mut().unwrap();
    o.code = OutcomeCode::OnwardReferral;
    o.diagnosis = "Keloid".into();
    o.onward_service = Some("homerton".into());
    inst.store.update_referral(&mut r, None, None).await.unwrap();
    let rec = telederm_fhir::store_io::load_record(&inst.sources(), referral_id()).await.unwrap();
    assert_eq!(rec.onward_service_name.as_deref(), Some("Homerton teledermatology"));
    let html = Letter::for_record(&rec, LetterKind::Gp).unwrap().to_html();
    assert!(html.contains("<dt>Onward service</dt><dd>Homerton teledermatology</dd>"), "{html}");
}

#[test]
fn urgent_and_two_week_wait_outcomes_have_a_heading_in_every_letter() {
    let urgent = with_outcome(Route::Ras, OutcomeCode::FaceToFaceUrgent);
    let mut urgent_priority = with_outcome(Route::Ras, OutcomeCode::Biopsy);
    urgent_priority.referral.outcome.as_mut().unwrap().priority = Some(Priority::Urgent);
    let two_week_wait = with_outcome(Route::AdviceAndGuidance, OutcomeCode::RedirectTwoWeekWait);
    for (rec, heading) in [(&urgent, "Urgent"), (&urgent_priority, "Urgent"), (&two_week_wait, "Two-week wait")] {
        for kind in LetterKind::ALL {
            let letter = Letter::for_record(rec, kind).unwrap();
            let html = letter.to_html();
            assert!(html.contains(&format!("<h2>{heading}</h2>")), "{kind:?} lacks the {heading} heading:\n{html}");
            // The heading comes before what happens next / the outcome details.
            let first_h2 = html.find("<h2>").unwrap();
            assert_eq!(&html[first_h2..first_h2 + heading.len() + 4], format!("<h2>{heading}"), "{kind:?}");
            assert!(pdf_pages(&letter.to_pdf()).join(" ").contains(heading), "{kind:?} PDF lacks {heading}");
        }
    }
    let routine = with_outcome(Route::Ras, OutcomeCode::FaceToFaceRoutine);
    let html = Letter::for_record(&routine, LetterKind::Gp).unwrap().to_html();
    assert!(!html.contains("<h2>Urgent</h2>") && !html.contains("<h2>Two-week wait</h2>"), "{html}");
}

/// A record with `code` recorded on `route`, with the fields that code needs filled in.
fn complete_outcome(route: Route, code: OutcomeCode) -> telederm_fhir::export::ReferralRecord {
    let mut rec = with_outcome(route, code);
    let o = rec.referral.outcome.as_mut().unwrap();
    o.rejection_reason = (code == OutcomeCode::Rejected).then_some(RejectionReason::Other);
    o.onward_service = (code == OutcomeCode::OnwardReferral).then(|| "Plastic surgery".to_string());
    rec
}

#[test]
fn no_letter_pdf_has_a_blank_page() {
    for route in [Route::AdviceAndGuidance, Route::Ras] {
        for code in OutcomeCode::ALL {
            let rec = complete_outcome(route, code);
            for kind in LetterKind::ALL {
                let pages = pdf_pages(&Letter::for_record(&rec, kind).unwrap().to_pdf());
                let n = pages.len();
                for (i, page) in pages.iter().enumerate() {
                    // The footer alone ("<title> - page i of n") is a blank page.
                    let footer = format!("{} - page {} of {n}", kind.title(), i + 1);
                    let body = page.replace(&footer, "");
                    assert!(body.trim().len() > 20, "{route:?} {code:?} {kind:?}: page {} of {n} is blank: {page:?}", i + 1);
                }
            }
        }
    }
}

/// A short GP letter is one page: the sign-off alone never spills onto a second page.
#[test]
fn a_short_gp_letter_is_one_page() {
    for route in [Route::AdviceAndGuidance, Route::Ras] {
        for code in OutcomeCode::ALL {
            let rec = complete_outcome(route, code);
            let pages = pdf_pages(&Letter::for_record(&rec, LetterKind::Gp).unwrap().to_pdf());
            assert_eq!(pages.len(), 1, "{route:?} {code:?}: {pages:#?}");
        }
    }
}
