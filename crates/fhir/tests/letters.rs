//! Letters render to HTML and PDF; the PDFs render to PNG with poppler (`pdftoppm`), and the large
//! print letter uses nothing smaller than 16 pt.

mod common;

use std::process::Command;

use common::*;
use telederm_domain::outcome::{OutcomeCode, RejectionReason};
use telederm_fhir::letters::pdf::font_sizes;
use telederm_fhir::letters::{Letter, LetterKind};

fn ensure_poppler() {
    let status = Command::new("bash").arg(repo_root().join("scripts/ensure-poppler.sh")).status().unwrap();
    assert!(status.success(), "poppler-utils could not be installed");
}

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

#[test]
fn large_print_uses_at_least_16_point_text() {
    let pdf = Letter::for_record(&record(), LetterKind::PatientLargePrint).unwrap().to_pdf();
    let sizes = font_sizes(&pdf);
    assert!(!sizes.is_empty());
    assert!(sizes.iter().all(|s| *s >= 16.0), "{sizes:?}");
    let html = Letter::for_record(&record(), LetterKind::PatientLargePrint).unwrap().to_html();
    assert!(html.contains("font-size: 16pt"), "{html}");
    // The standard letters are smaller, so the check above means something.
    let standard = font_sizes(&Letter::for_record(&record(), LetterKind::Patient).unwrap().to_pdf());
    assert!(standard.iter().any(|s| *s < 16.0));
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

/// The PDF's text as `pdftotext` reads it, one string per page.
fn pdf_pages(pdf: &[u8]) -> Vec<String> {
    ensure_poppler();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // pdftotext ends each page with a form feed; words are joined with single spaces (so a label
    // and the first line of its value read as one phrase).
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut pages: Vec<String> = text.split('\u{c}').map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    if pages.last().is_some_and(|p| p.is_empty()) {
        pages.pop();
    }
    pages
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
