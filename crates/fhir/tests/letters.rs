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
