//! Snapshot tests: the exported Bundle and the letters are compared with files under
//! `tests/snapshots/`. After an intended change, regenerate them with
//! `UPDATE_SNAPSHOTS=1 cargo test -p telederm-fhir --test snapshots` and review the diff.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::Value;
use telederm_fhir::letters::{Letter, LetterKind};

fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() || !path.exists() {
        std::fs::write(&path, actual).unwrap();
        if std::env::var_os("UPDATE_SNAPSHOTS").is_none() {
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

/// Binary data is summarised (length and SHA-256) so the snapshot stays readable.
fn summarise_binaries(mut b: Value) -> Value {
    for e in b["entry"].as_array_mut().unwrap() {
        if e["resource"]["resourceType"] == "Binary" {
            let data = e["resource"]["data"].as_str().unwrap().to_string();
            e["resource"]["data"] = Value::String(format!("<{} base64 chars, sha256 {}>", data.len(), &telederm_fhir::sha256_hex(data.as_bytes())[..16]));
        }
    }
    b
}

#[test]
fn everything_bundle() {
    let b = normalise(&telederm_fhir::export::everything(&record(), &opts()));
    snapshot("everything.json", &(serde_json::to_string_pretty(&summarise_binaries(b)).unwrap() + "\n"));
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

#[test]
fn letters_pdf_are_deterministic_and_snapshotted_by_hash() {
    let mut lines = String::new();
    for kind in LetterKind::ALL {
        let a = Letter::for_record(&record(), kind).unwrap().to_pdf();
        let b = Letter::for_record(&record(), kind).unwrap().to_pdf();
        assert_eq!(a, b, "{kind:?} PDF is not deterministic");
        lines.push_str(&format!("{} {} bytes sha256 {}\n", kind.file_stem(), a.len(), telederm_fhir::sha256_hex(&a)));
    }
    snapshot("letters-pdf.txt", &lines);
}
