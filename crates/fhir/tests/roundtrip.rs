//! Export a referral, import it into an empty installation, export again: the Bundles match.

mod common;

use common::*;
use serde_json::{Value, json};
use telederm_store::NewAuditEntry;
use telederm_fhir::import::ImportOptions;
use telederm_fhir::store_io::{self, ImportError};

fn resource<'a>(bundle: &'a Value, rtype: &str) -> Vec<&'a Value> {
    bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).filter(|r| r["resourceType"] == rtype).collect()
}

#[tokio::test]
async fn collection_export_imports_into_an_empty_installation_and_exports_the_same() {
    let source = Installation::seeded().await;
    let first = store_io::export_all(&source.sources(), &opts()).await.unwrap();
    assert_eq!(first["type"], "collection");
    assert_eq!(resource(&first, "ServiceRequest").len(), 1);

    let target = Installation::empty().await;
    let ids = store_io::import_bundle(&target.sources(), &first, &ImportOptions::default(), NewAuditEntry::default()).await.unwrap();
    assert_eq!(ids, vec![referral_id()]);
    let second = store_io::export_all(&target.sources(), &opts()).await.unwrap();
    assert_same(&normalise(&first), &normalise(&second));

    // The imported referral is the original, field by field (the version counts writes).
    let mut imported = target.store.get_referral(referral_id()).await.unwrap();
    let mut original = referral();
    imported.version = 0;
    original.version = 0;
    assert_eq!(imported, original);
    assert_eq!(target.store.list_messages(referral_id()).await.unwrap(), messages());
    let photos = target.store.list_photos(referral_id()).await.unwrap();
    assert_eq!(photos.len(), 2);
    assert_eq!(target.blobs.get(&photos[1].attachment_key).await.unwrap(), fixture("close-up.png"));
}

#[tokio::test]
async fn transaction_bundle_creates_the_referral_as_a_gp_system_would() {
    let source = Installation::seeded().await;
    let rec = store_io::load_record(&source.sources(), referral_id()).await.unwrap();
    let tx = telederm_fhir::export::transaction(&rec, &opts());
    assert_eq!(tx["type"], "transaction");
    assert!(tx["entry"].as_array().unwrap().iter().all(|e| e["fullUrl"].as_str().unwrap().starts_with("urn:uuid:")));
    assert!(resource(&tx, "Binary").iter().all(|b| b["contentType"] != "application/pdf"), "letters are not sent");

    let target = Installation::empty().await;
    store_io::import_bundle(&target.sources(), &tx, &ImportOptions::default(), NewAuditEntry::default()).await.unwrap();
    let a = telederm_fhir::export::everything(&rec, &opts());
    let b = store_io::everything(&target.sources(), referral_id(), &opts()).await.unwrap();
    assert_same(&normalise(&a), &normalise(&b));

    // Importing the same referral again is refused, not duplicated.
    let err = store_io::import_bundle(&target.sources(), &tx, &ImportOptions::default(), NewAuditEntry::default()).await.unwrap_err();
    let ImportError::Invalid(issues) = &err else { panic!("{err}") };
    assert_eq!(issues[0].code, "duplicate");
    assert_eq!(err.operation_outcome()["issue"][0]["code"], "duplicate");
}

#[tokio::test]
async fn a_minimal_gp_system_bundle_without_telederm_ids_creates_a_submitted_referral() {
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            { "fullUrl": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000001", "request": { "method": "POST", "url": "ServiceRequest" }, "resource": {
                "resourceType": "ServiceRequest", "status": "active", "intent": "order",
                "category": [{ "coding": [{ "system": "https://fhir.nhs.uk/CodeSystem/message-category-servicerequest", "code": "request" }] }],
                "priority": "urgent",
                "subject": { "reference": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000002" },
                "requester": { "reference": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000003" },
                "performer": [{ "reference": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000006" }],
                "authoredOn": "2026-03-02T09:15:00+00:00",
                "supportingInfo": [{ "reference": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000007" }]
            }},
            { "fullUrl": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000002", "request": { "method": "POST", "url": "Patient" }, "resource": {
                "resourceType": "Patient",
                "identifier": [{ "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000026" }],
                "name": [{ "family": "Smith", "given": ["Alex", "J"] }], "gender": "male", "birthDate": "1988-11-02",
                "address": [{ "postalCode": "WD17 1AB" }]
            }},
            { "fullUrl": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000003", "request": { "method": "POST", "url": "PractitionerRole" }, "resource": {
                "resourceType": "PractitionerRole",
                "practitioner": { "reference": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000004" },
                "organization": { "reference": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000005" }
            }},
            { "fullUrl": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000004", "request": { "method": "POST", "url": "Practitioner" }, "resource": {
                "resourceType": "Practitioner",
                "identifier": [{ "system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "021600556514" }],
                "name": [{ "family": "Jones", "given": ["Rhiannon"], "prefix": ["Dr"] }]
            }},
            { "fullUrl": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000005", "request": { "method": "POST", "url": "Organization" }, "resource": {
                "resourceType": "Organization", "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "E82001" }],
                "name": "Watford Road Surgery"
            }},
            { "fullUrl": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000006", "request": { "method": "POST", "url": "HealthcareService" }, "resource": {
                "resourceType": "HealthcareService", "identifier": [{ "system": "https://fhir.telederm.org/Id/service", "value": "nhs-advice-and-guidance" }]
            }},
            { "fullUrl": "urn:uuid:6f1c0a4e-0000-4000-8000-000000000007", "request": { "method": "POST", "url": "QuestionnaireResponse" }, "resource": {
                "resourceType": "QuestionnaireResponse", "status": "completed",
                "questionnaire": "https://fhir.telederm.org/Questionnaire/telederm-referral",
                "item": [{ "linkId": "history", "item": [
                    { "linkId": "history.presenting_complaint", "answer": [{ "valueString": "Scaly plaques on both elbows" }] },
                    { "linkId": "history.body_sites", "answer": [{ "valueCoding": { "system": "https://fhir.telederm.org/CodeSystem/body-site", "code": "arm" } }] }
                ]}]
            }}
        ]
    });
    let target = Installation::empty().await;
    let opts_ = ImportOptions { known_services: Some(vec!["nhs-advice-and-guidance".into()]) };
    let ids = store_io::import_bundle(&target.sources(), &bundle, &opts_, NewAuditEntry::default()).await.unwrap();
    let r = target.store.get_referral(ids[0]).await.unwrap();
    assert_eq!(r.status, telederm_domain::referral::ReferralStatus::Submitted);
    assert_eq!(r.route, telederm_domain::referral::Route::AdviceAndGuidance);
    assert_eq!(r.priority, telederm_domain::referral::Priority::Urgent);
    assert_eq!(r.patient.given_name, "Alex J");
    assert_eq!(r.history.presenting_complaint, "Scaly plaques on both elbows");
    assert_eq!(r.history.body_sites, vec!["arm".to_string()]);
    let practice = target.store.organisation_by_ods("E82001").await.unwrap().unwrap();
    assert_eq!(r.practice_id, practice.id);
    let gp = target.store.get_user(r.referrer_id).await.unwrap();
    assert_eq!(gp.display_name, "Rhiannon Jones");
    assert_eq!(gp.email, "sds-021600556514@users.invalid");

    // The same request for a service this installation does not run is refused.
    let other = Installation::empty().await;
    let refuse = ImportOptions { known_services: Some(vec!["homerton".into()]) };
    let err = store_io::import_bundle(&other.sources(), &bundle, &refuse, NewAuditEntry::default()).await.unwrap_err();
    assert!(err.to_string().contains("1 problem"), "{err}");
    assert!(err.operation_outcome().to_string().contains("runs no service"));
}
