//! Every exported resource parses with an independent FHIR library: Python `fhir.resources`
//! (R4B models), installed by `scripts/fhir-validate.sh` on first use.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;
use telederm_domain::outcome::{OutcomeCode, RejectionReason};
use telederm_domain::referral::{ReferralStatus, Route};

fn write(dir: &std::path::Path, name: &str, v: &Value) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

#[test]
fn every_exported_resource_parses_with_fhir_resources() {
    let dir = tempfile::tempdir().unwrap();
    // Variants that exercise other branches: an A&G request awaiting information (no outcome), a
    // rejected one, and a draft without consent or answers.
    let mut waiting = record();
    waiting.referral.id = telederm_domain::ReferralId(id(101));
    waiting.referral.route = Route::AdviceAndGuidance;
    waiting.referral.status = ReferralStatus::AwaitingInformation;
    waiting.referral.outcome = None;
    let mut rejected = record();
    rejected.referral.id = telederm_domain::ReferralId(id(102));
    rejected.referral.status = ReferralStatus::Rejected;
    let o = rejected.referral.outcome.as_mut().unwrap();
    o.code = OutcomeCode::Rejected;
    o.rejection_reason = Some(RejectionReason::PoorImageQuality);
    let mut draft = record();
    draft.referral.id = telederm_domain::ReferralId(id(103));
    draft.referral.status = ReferralStatus::Draft;
    draft.referral.outcome = None;
    draft.referral.consent = None;
    draft.referral.eligibility_answers = None;
    draft.referral.submitted_at = None;
    draft.photos.clear();
    draft.messages.clear();
    let all = [record(), waiting, rejected, draft];

    let files = vec![
        write(dir.path(), "collection.json", &telederm_fhir::export::bundle("collection", &all, &opts())),
        write(dir.path(), "everything.json", &telederm_fhir::export::everything(&record(), &opts())),
        write(dir.path(), "transaction.json", &telederm_fhir::export::transaction(&record(), &opts())),
        write(dir.path(), "questionnaire.json", &telederm_fhir::questionnaire::questionnaire()),
        write(
            dir.path(),
            "operation-outcome.json",
            &telederm_fhir::import::operation_outcome(&[telederm_fhir::Issue {
                code: "value",
                expression: "Bundle.entry[1].resource.birthDate".into(),
                diagnostics: "not a date".into(),
            }]),
        ),
    ];
    let script = repo_root().join("scripts/fhir-validate.sh");
    let out = Command::new("bash").arg(&script).args(&files).output().expect("run scripts/fhir-validate.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fhir.resources rejected resources:\n{stdout}\n{stderr}");
    // Every resource is parsed on its own as well as inside its Bundle.
    let expected: usize = files
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            1 + v["entry"].as_array().map_or(0, Vec::len)
        })
        .sum();
    assert!(stdout.contains(&format!("fhir.resources: {expected} parsed, 0 failed")), "{stdout}");
}
