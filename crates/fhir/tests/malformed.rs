//! A malformed Bundle is refused with an OperationOutcome naming each problem.

mod common;

use common::*;
use serde_json::{Value, json};
use telederm_store::NewAuditEntry;
use telederm_fhir::import::{ImportOptions, operation_outcome, read_bundle};

fn entry_mut<'a>(bundle: &'a mut Value, rtype: &str) -> &'a mut Value {
    bundle["entry"].as_array_mut().unwrap().iter_mut().map(|e| &mut e["resource"]).find(|r| r["resourceType"] == rtype).unwrap()
}

#[test]
fn every_problem_is_reported_with_where_it_is() {
    let mut b = telederm_fhir::export::transaction(&record(), &opts());
    // Six independent problems in five resources.
    entry_mut(&mut b, "Patient")["identifier"][0]["value"] = json!("9990000019"); // check digit
    entry_mut(&mut b, "Patient")["birthDate"] = json!("17/05/1970");
    entry_mut(&mut b, "ServiceRequest")["category"][0]["coding"][0]["code"] = json!("proposal");
    entry_mut(&mut b, "Binary")["data"] = json!(telederm_fhir::export::b64(b"\x89PNG\r\n\x1a\ncorrupted"));
    entry_mut(&mut b, "QuestionnaireResponse")["item"][1]["item"][0]["linkId"] = json!("eligibility.shoe_size");
    entry_mut(&mut b, "Task")["output"][0]["valueCodeableConcept"]["coding"][0]["code"] = json!("magic_cure");

    let issues = read_bundle(&b, &ImportOptions::default()).unwrap_err();
    let oo = operation_outcome(&issues);
    assert_eq!(oo["resourceType"], "OperationOutcome");
    let text = |needle: &str| issues.iter().any(|i| i.diagnostics.contains(needle));
    assert!(text("NHS number \"9990000019\""), "{oo:#}");
    assert!(text("\"17/05/1970\" is not a full date"), "{oo:#}");
    assert!(text("category \"proposal\""), "{oo:#}");
    assert!(text("size says"), "{oo:#}");
    assert!(text("SHA-1 hash does not match"), "{oo:#}");
    assert!(text("shoe_size"), "{oo:#}");
    assert!(text("\"magic_cure\" is not a Telederm outcome code"), "{oo:#}");
    assert!(issues.iter().all(|i| i.expression.starts_with("Bundle.entry[")), "{oo:#}");
    let patient_idx = b["entry"].as_array().unwrap().iter().position(|e| e["resource"]["resourceType"] == "Patient").unwrap();
    assert!(issues.iter().any(|i| i.expression == format!("Bundle.entry[{patient_idx}].resource.birthDate")), "{oo:#}");
    for issue in oo["issue"].as_array().unwrap() {
        assert_eq!(issue["severity"], "error");
        assert!(issue["expression"][0].is_string());
    }
}

#[test]
fn structural_problems_are_reported() {
    let issues = read_bundle(&json!({ "resourceType": "Patient" }), &ImportOptions::default()).unwrap_err();
    assert!(issues[0].diagnostics.contains("expected a Bundle"));

    let issues = read_bundle(&json!({ "resourceType": "Bundle", "type": "history", "entry": [] }), &ImportOptions::default()).unwrap_err();
    assert!(issues.iter().any(|i| i.expression == "Bundle.type"));
    assert!(issues.iter().any(|i| i.diagnostics.contains("no ServiceRequest")));

    // A dangling reference and missing required parts.
    let b = json!({ "resourceType": "Bundle", "type": "transaction", "entry": [
        { "fullUrl": "urn:uuid:1", "request": { "method": "POST", "url": "ServiceRequest" },
          "resource": { "resourceType": "ServiceRequest", "intent": "order", "subject": { "reference": "urn:uuid:missing" } } }
    ]});
    let issues = read_bundle(&b, &ImportOptions::default()).unwrap_err();
    let all: Vec<&str> = issues.iter().map(|i| i.diagnostics.as_str()).collect();
    assert!(all.iter().any(|d| d.contains("\"urn:uuid:missing\" does not resolve")), "{all:?}");
    assert!(all.iter().any(|d| d.contains("status is required")), "{all:?}");
    assert!(all.iter().any(|d| d.contains("route is required")), "{all:?}");
    assert!(all.iter().any(|d| d.contains("PractitionerRole is required")), "{all:?}");
    assert!(all.iter().any(|d| d.contains("HealthcareService is required")), "{all:?}");
    assert!(all.iter().any(|d| d.contains("QuestionnaireResponse")), "{all:?}");
}

#[tokio::test]
async fn nothing_is_written_when_the_bundle_is_invalid() {
    let mut b = telederm_fhir::export::transaction(&record(), &opts());
    entry_mut(&mut b, "Patient")["identifier"][0]["value"] = json!("1234567890");
    let inst = Installation::empty().await;
    let err = telederm_fhir::store_io::import_bundle(&inst.sources(), &b, &ImportOptions::default(), NewAuditEntry::default()).await.unwrap_err();
    assert!(err.operation_outcome().to_string().contains("1234567890"));
    assert!(inst.store.list_organisations().await.unwrap().is_empty());
    assert!(inst.store.list_users().await.unwrap().is_empty());
}
