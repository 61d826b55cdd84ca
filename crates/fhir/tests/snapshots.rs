//! The exported Bundle and the letters, checked two ways:
//!
//! - **Against the documents**: the fields `docs/fhir-mapping.md` names, with values taken from the
//!   fixture and the mapping tables (not from the code's output); each letter's attachments
//!   against its Binary (size, SHA-1), the PDF's text read by `pdftotext`.
//! - **Pinned snapshots** under `tests/snapshots/` (reviewed by hand; the PDFs as their text, as
//!   `pdftotext` reads it, never as bytes or hashes), so that any other change shows up in review.
//!   After an intended change, regenerate them with
//!   `UPDATE_SNAPSHOTS=1 cargo nextest run -p telederm-fhir --test snapshots` and review the diff.
//!   Under CI (`CI` set) `UPDATE_SNAPSHOTS` is refused: a snapshot there is only compared.

mod common;

use std::path::PathBuf;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use sha1::Digest as _;
use telederm_fhir::letters::{Letter, LetterKind};

fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    if update && std::env::var_os("CI").is_some() {
        panic!("UPDATE_SNAPSHOTS is refused under CI (CI is set): snapshots are regenerated on a workstation and reviewed, never in CI");
    }
    if update || !path.exists() {
        std::fs::write(&path, actual).unwrap();
        if !update {
            panic!("snapshot {name} did not exist and was written; review and commit it");
        }
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "snapshot {name} differs at line {}:\n  expected: {}\n  actual:   {}\n(UPDATE_SNAPSHOTS=1 to accept)",
            line + 1,
            expected.lines().nth(line).unwrap_or(""),
            actual.lines().nth(line).unwrap_or("")
        );
    }
}

#[test]
fn update_snapshots_is_refused_under_ci() {
    // Run as a child process so the variables do not leak into the other tests of this binary.
    // The child asks to write a probe snapshot; refused, nothing is written.
    let probe = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/ci-refusal-probe.txt");
    if std::env::var_os("TELEDERM_SNAPSHOT_CHILD").is_some() {
        snapshot("ci-refusal-probe.txt", "written under CI");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["update_snapshots_is_refused_under_ci", "--exact", "--nocapture"])
        .env("TELEDERM_SNAPSHOT_CHILD", "1")
        .env("UPDATE_SNAPSHOTS", "1")
        .env("CI", "true")
        .output()
        .unwrap();
    let written = probe.exists();
    let _ = std::fs::remove_file(&probe);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "UPDATE_SNAPSHOTS under CI passed:\n{stderr}");
    assert!(stderr.contains("UPDATE_SNAPSHOTS is refused under CI"), "{stderr}");
    assert!(!written, "a snapshot was written under CI");
}

/// Binary data is summarised (its length) so the snapshot stays readable; the letters' contents
/// are checked by [`everything_bundle_follows_the_fhir_mapping`] (and their attachments' size and
/// hash against the Binary there), so here they read as "checked".
fn summarise_binaries(mut b: Value) -> Value {
    for e in b["entry"].as_array_mut().unwrap() {
        let r = &mut e["resource"];
        let letter = r["id"].as_str().is_some_and(|id| id.starts_with("ltr-") || id.starts_with("bin-ltr-"));
        if r["resourceType"] == "Binary" {
            let data = r["data"].as_str().unwrap().to_string();
            r["data"] = Value::String(if letter { "<letter: checked against the mapping>".into() } else { format!("<{} base64 chars>", data.len()) });
        }
        if letter && r["resourceType"] == "DocumentReference" {
            for c in r["content"].as_array_mut().unwrap() {
                c["attachment"]["size"] = json!("<checked against the Binary>");
                c["attachment"]["hash"] = json!("<checked against the Binary>");
            }
        }
    }
    b
}

#[test]
fn everything_bundle() {
    let b = normalise(&telederm_fhir::export::everything(&record(), &opts()));
    snapshot("everything.json", &(serde_json::to_string_pretty(&summarise_binaries(b)).unwrap() + "\n"));
}

const TELEDERM: &str = "https://fhir.telederm.org";
const UK_CORE: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-";

/// The one coding of a CodeableConcept as (system, code).
fn coding(concept: &Value) -> (&str, &str) {
    let c = &concept["coding"];
    assert_eq!(c.as_array().map(Vec::len), Some(1), "{concept}");
    (c[0]["system"].as_str().unwrap(), c[0]["code"].as_str().unwrap())
}

/// `docs/fhir-mapping.md`, field by field, for the fixture (`tests/common`): an answered RAS
/// referral for Jo Bloggs with advice and a management plan.
#[test]
fn everything_bundle_follows_the_fhir_mapping() {
    let b = telederm_fhir::export::everything(&record(), &opts());
    let rid = "01900000-0000-7000-8000-000000000064";
    let by_id = |id: &str| -> &Value {
        b["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).find(|r| r["id"] == id).unwrap_or_else(|| panic!("no resource {id}"))
    };
    // "meta.profile = UKCore-<Resource>" for every resource but the Binaries.
    for e in b["entry"].as_array().unwrap() {
        let r = &e["resource"];
        let ty = r["resourceType"].as_str().unwrap();
        if ty != "Binary" {
            assert_eq!(r["meta"]["profile"], json!([format!("{UK_CORE}{ty}")]), "{ty} {}", r["id"]);
        }
    }

    // Referral -> ServiceRequest.
    let sr = by_id(rid);
    assert_eq!(sr["resourceType"], "ServiceRequest");
    assert_eq!(sr["identifier"], json!([{ "system": format!("{TELEDERM}/Id/referral"), "value": rid }]));
    assert_eq!(coding(&sr["category"][0]), ("https://fhir.nhs.uk/CodeSystem/message-category-servicerequest", "referral"), "RAS");
    assert_eq!(coding(&sr["code"]), ("http://snomed.info/sct", "3457005"), "RAS: Patient referral");
    assert_eq!(sr["priority"], "routine");
    let ext = |r: &Value, name: &str| -> Value {
        let url = format!("{TELEDERM}/StructureDefinition/{name}");
        r["extension"].as_array().unwrap().iter().find(|e| e["url"] == url.as_str()).unwrap_or_else(|| panic!("no {name}")).clone()
    };
    assert_eq!(ext(sr, "ers-priority")["valueCoding"]["code"], "ROUTINE");
    assert_eq!(ext(sr, "conversion-authorised")["valueBoolean"], false);
    assert_eq!(sr["status"], "completed", "outcome_issued");
    assert_eq!(sr["subject"]["reference"], format!("Patient/patient-{rid}"));
    assert_eq!(sr["subject"]["identifier"], json!({ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018" }));
    assert_eq!(sr["authoredOn"], "2026-03-02T09:15:00.000000Z", "submitted_at");
    assert_eq!(sr["reasonCode"][0]["text"], "Pigmented lesion on the left forearm, enlarging over 4 months");
    assert_eq!(sr["performer"][0]["reference"], "HealthcareService/service-homerton");

    // Status and outcome -> Task.
    let task = by_id(&format!("task-{rid}"));
    assert_eq!(task["identifier"], json!([{ "system": format!("{TELEDERM}/Id/referral-task"), "value": rid }]));
    assert_eq!(task["status"], "completed");
    assert_eq!(coding(&task["businessStatus"]), (format!("{TELEDERM}/CodeSystem/task-business-status").as_str(), "outcome-returned"));
    assert_eq!(task["executionPeriod"]["end"], "2026-03-04T15:30:00.000000Z", "recorded_at");
    assert_eq!(task["restriction"]["period"]["end"], "2026-03-05", "due_date");
    assert_eq!(task["authoredOn"], "2026-03-02T09:00:00.000000Z", "created_at");
    let outputs = task["output"].as_array().unwrap();
    let output = |ty: &str| -> &Value {
        outputs.iter().find(|o| coding(&o["type"]) == (format!("{TELEDERM}/CodeSystem/task-output").as_str(), ty)).unwrap_or_else(|| panic!("no output {ty}"))
    };
    // The outcome code and the e-RS code (docs/outcomes.md: RAS advice_management_plan is
    // RETURN_TO_REFERRER_WITH_ADVICE).
    let codes: Vec<(&str, &str)> = output("outcome")["valueCodeableConcept"]["coding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["system"].as_str().unwrap(), c["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            (format!("{TELEDERM}/CodeSystem/outcome").as_str(), "advice_management_plan"),
            ("https://fhir.nhs.uk/STU3/CodeSystem/eRS-ReviewOutcome-1", "RETURN_TO_REFERRER_WITH_ADVICE")
        ]
    );
    assert_eq!(output("recorded-by")["valueReference"]["reference"], format!("Practitioner/{}", consultant().id.0));
    assert_eq!(output("recorded-at")["valueDateTime"], "2026-03-04T15:30:00.000000Z");
    assert_eq!(output("diagnosis")["valueString"], "Seborrhoeic keratosis (benign)");
    assert_eq!(output("management-plan")["valueString"], "Reassure. No treatment needed. Cryotherapy is not offered on the NHS for cosmetic reasons.");
    assert_eq!(output("follow-up")["valueString"], "No routine follow-up. Re-refer if it changes in shape or colour or bleeds.");

    // Patient.
    let p = by_id(&format!("patient-{rid}"));
    assert_eq!(p["identifier"][0]["system"], "https://fhir.nhs.uk/Id/nhs-number");
    assert_eq!(p["identifier"][0]["value"], "9990000018");
    assert_eq!(coding(&p["identifier"][0]["extension"][0]["valueCodeableConcept"]).1, "02", "number present but not traced");
    assert_eq!(p["name"], json!([{ "use": "official", "given": ["Jo"], "family": "Bloggs" }]));
    assert_eq!(p["birthDate"], "1970-05-17");
    assert_eq!(p["gender"], "female");
    assert_eq!(p["address"][0]["postalCode"], "E5 8BX");
    assert_eq!(p["telecom"], json!([{ "system": "phone", "value": "07700 900123" }, { "system": "email", "value": "jo.bloggs@example.com" }]));
    assert_eq!(p["generalPractitioner"][0]["reference"], format!("Organization/{}", practice().id.0));

    // Letters -> DocumentReference + Binary (PDF and HTML), referenced from the Task's outputs.
    for (kind, prefix) in [(LetterKind::Gp, "ltr-gp"), (LetterKind::Patient, "ltr-pt"), (LetterKind::PatientLargePrint, "ltr-ptlp")] {
        let id = format!("{prefix}-{rid}");
        assert_eq!(output(kind.code())["valueReference"]["reference"], format!("DocumentReference/{id}"));
        let doc = by_id(&id);
        assert_eq!(doc["identifier"], json!([{ "system": format!("{TELEDERM}/Id/letter"), "value": id }]));
        assert_eq!(coding(&doc["type"]), (format!("{TELEDERM}/CodeSystem/document-type").as_str(), kind.code()));
        assert_eq!(coding(&doc["category"][0]).1, "outcome-letter");
        assert_eq!((&doc["status"], &doc["docStatus"]), (&json!("current"), &json!("final")));
        assert_eq!(doc["subject"]["reference"], format!("Patient/patient-{rid}"));
        assert_eq!(doc["context"]["related"][0]["reference"], format!("ServiceRequest/{rid}"));
        let content = doc["content"].as_array().unwrap();
        assert_eq!(content.len(), 2, "PDF and HTML");
        for (c, (ty, ext)) in content.iter().zip([("application/pdf", "pdf"), ("text/html", "html")]) {
            let a = &c["attachment"];
            let bin_id = format!("bin-{id}-{ext}");
            assert_eq!(a["contentType"], ty);
            assert_eq!(a["language"], "en-GB");
            assert_eq!(a["url"], format!("Binary/{bin_id}"));
            assert_eq!(a["title"], format!("{}.{ext}", kind.file_stem()));
            let bin = by_id(&bin_id);
            assert_eq!(bin["contentType"], ty);
            let data = base64::engine::general_purpose::STANDARD.decode(bin["data"].as_str().unwrap()).unwrap();
            assert_eq!(a["size"], data.len(), "{bin_id}");
            assert_eq!(a["hash"], base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&data)), "{bin_id}");
            let text = if ext == "pdf" { pdf_pages(&data).join(" ") } else { String::from_utf8(data).unwrap() };
            for needle in ["Jo Bloggs", "999 000 0018", kind.title()] {
                assert!(text.contains(needle), "{bin_id} lacks {needle:?}:\n{text}");
            }
        }
    }
}

#[test]
fn questionnaire() {
    snapshot("questionnaire.json", &(serde_json::to_string_pretty(&telederm_fhir::questionnaire::questionnaire()).unwrap() + "\n"));
}

#[test]
fn letters_html() {
    for kind in LetterKind::ALL {
        let letter = Letter::for_record(&record(), kind).unwrap();
        snapshot(&format!("{}.html", kind.file_stem()), &letter.to_html());
    }
}

/// The PDFs are deterministic, and their text (as `pdftotext` reads it, page by page) is pinned.
#[test]
fn letters_pdf_are_deterministic_and_their_text_is_snapshotted() {
    for kind in LetterKind::ALL {
        let a = Letter::for_record(&record(), kind).unwrap().to_pdf();
        let b = Letter::for_record(&record(), kind).unwrap().to_pdf();
        assert!(a == b, "{kind:?} PDF is not deterministic");
        let pages = pdf_lines(&a);
        let text: String =
            pages.iter().enumerate().map(|(i, lines)| format!("--- page {} of {}\n{}\n", i + 1, pages.len(), lines.join("\n"))).collect();
        snapshot(&format!("{}.pdf.txt", kind.file_stem()), &text);
    }
}
