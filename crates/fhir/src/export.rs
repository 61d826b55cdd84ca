//! Referral → FHIR R4 (UK Core) resources and Bundles. Pure: everything comes in a
//! [`ReferralRecord`]; `store_io` loads one from the store.

use base64::Engine;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha1::Digest as _;
use telederm_domain::eligibility::BodySite;
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::outcome::Outcome;
use telederm_domain::patient::ContactPreference;
use telederm_domain::policy::PhotoKind;
use telederm_domain::referral::{ConsentGivenBy, ConsentMethod, Message, Route};
use telederm_domain::{ReferralId, UserId};

use crate::codes::{self, BASE, PROFILE, cs, ext, id_system};
use crate::letters::{self, LetterKind};
use crate::questionnaire;

pub use crate::record::{Document, Photo, ReferralRecord, is_dermoscopic, photo_kind_code};

#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Used for `Bundle.timestamp` and for the overdue (escalation) business status.
    pub now: DateTime<Utc>,
    /// Attach the outcome letters (PDF and HTML) as DocumentReference + Binary.
    pub letters: bool,
    /// Base of `Bundle.entry.fullUrl`, e.g. `https://telederm.example.nhs.uk/api/v1/fhir`.
    pub base_url: String,
}

impl ExportOptions {
    pub fn new(now: DateTime<Utc>) -> Self {
        ExportOptions { now, letters: true, base_url: format!("{BASE}/export") }
    }
}

pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn coding(system: &str, code: &str, display: Option<&str>) -> Value {
    let mut c = json!({ "system": system, "code": code });
    if let Some(d) = display {
        c["display"] = json!(d);
    }
    c
}

fn concept(system: &str, code: &str, display: Option<&str>) -> Value {
    json!({ "coding": [coding(system, code, display)] })
}

fn profile(name: &str) -> Value {
    json!({ "profile": [format!("{PROFILE}{name}")] })
}

// Resource ids. Every id is derived from a Telederm id, so exporting twice gives the same Bundle.
pub fn patient_id(r: ReferralId) -> String {
    format!("patient-{r}")
}
pub fn task_id(r: ReferralId) -> String {
    format!("task-{r}")
}
pub fn qr_id(r: ReferralId) -> String {
    format!("qr-{r}")
}
pub fn consent_id(r: ReferralId) -> String {
    format!("consent-{r}")
}
pub fn condition_id(r: ReferralId) -> String {
    format!("condition-{r}")
}
pub fn role_id(u: UserId) -> String {
    format!("role-{u}")
}
pub fn service_ref_id(service: &str) -> String {
    let id = format!("service-{service}");
    if codes::is_fhir_id(&id) { id } else { format!("service-{}", &crate::sha256_hex(service.as_bytes())[..32]) }
}

fn practitioner(u: &User) -> Value {
    json!({
        "resourceType": "Practitioner",
        "id": u.id.to_string(),
        "meta": profile("Practitioner"),
        "identifier": [{ "system": id_system("user"), "value": u.id.to_string() }],
        "active": true,
        "name": [{ "text": u.display_name }],
        "telecom": [{ "system": "email", "value": u.email, "use": "work" }]
    })
}

fn practitioner_role(u: &User) -> Value {
    let mut codings = vec![coding(&cs("role"), codes::role_code(u.role), None)];
    if u.role == Role::Consultant {
        codings.push(coding(codes::SNOMED, "18803008", Some("Dermatologist")));
    }
    let mut role = json!({
        "resourceType": "PractitionerRole",
        "id": role_id(u.id),
        "meta": profile("PractitionerRole"),
        "active": true,
        "practitioner": { "reference": format!("Practitioner/{}", u.id), "display": u.display_name },
        "organization": { "reference": format!("Organization/{}", u.organisation_id) },
        "code": [{ "coding": codings }]
    });
    if u.role == Role::Consultant {
        role["specialty"] = json!([concept(codes::PRACTICE_SETTING, "330", Some("Dermatology"))]);
    }
    role
}

fn organization(o: &Organisation) -> Value {
    let kind = match o.kind {
        OrganisationKind::GpPractice => ("gp_practice", "GP practice"),
        OrganisationKind::Provider => ("provider", "Provider"),
    };
    json!({
        "resourceType": "Organization",
        "id": o.id.to_string(),
        "meta": profile("Organization"),
        "identifier": [
            { "system": codes::ODS_ORG, "value": o.ods_code },
            { "system": id_system("organisation"), "value": o.id.to_string() }
        ],
        "active": true,
        "type": [concept(&cs("organisation-kind"), kind.0, Some(kind.1))],
        "name": o.name
    })
}

fn healthcare_service(rec: &ReferralRecord) -> Value {
    let service = &rec.referral.service_id;
    let mut hs = json!({
        "resourceType": "HealthcareService",
        "id": service_ref_id(service),
        "meta": profile("HealthcareService"),
        "identifier": [{ "system": id_system("service"), "value": service }],
        "active": true,
        "type": [concept(codes::SNOMED, "700241009", Some("Dermatology service"))],
        "specialty": [concept(codes::PRACTICE_SETTING, "330", Some("Dermatology"))],
        "name": rec.service_name.clone().unwrap_or_else(|| service.clone())
    });
    if let Some(p) = &rec.provider {
        hs["providedBy"] = json!({ "reference": format!("Organization/{}", p.id), "display": p.name });
    }
    hs
}

fn patient(rec: &ReferralRecord) -> Value {
    let r = &rec.referral;
    let p = &r.patient;
    let mut telecom = Vec::new();
    if let Some(phone) = &p.contact.phone {
        telecom.push(json!({ "system": "phone", "value": phone }));
    }
    if let Some(email) = &p.contact.email {
        telecom.push(json!({ "system": "email", "value": email }));
    }
    let mut pat = json!({
        "resourceType": "Patient",
        "id": patient_id(r.id),
        "meta": profile("Patient"),
        "identifier": [{
            "extension": [{
                "url": codes::NHS_NUMBER_VERIFICATION_EXT,
                // Telederm checks the Modulus 11 digit but does not trace numbers on PDS.
                "valueCodeableConcept": concept(codes::NHS_NUMBER_VERIFICATION_CS, "02", Some("Number present but not traced"))
            }],
            "system": codes::NHS_NUMBER,
            "value": p.nhs_number.as_digits()
        }],
        "name": [{ "use": "official", "family": p.family_name, "given": [p.given_name] }],
        "gender": codes::gender(p.sex),
        "birthDate": date(p.date_of_birth),
        "address": [{ "postalCode": p.postcode }],
        "generalPractitioner": [{ "reference": format!("Organization/{}", rec.practice.id), "display": rec.practice.name }]
    });
    if !telecom.is_empty() {
        pat["telecom"] = Value::Array(telecom);
    }
    // How the patient wants to hear from the service, and whether letters go in large print.
    let mut extensions = Vec::new();
    if let Some(prefers) = p.contact.prefers {
        let code = match prefers {
            ContactPreference::Email => "email",
            ContactPreference::Text => "text",
            ContactPreference::Letter => "letter",
        };
        extensions.push(json!({ "url": ext("contact-preference"), "valueCode": code }));
    }
    if p.contact.large_print {
        extensions.push(json!({ "url": ext("large-print"), "valueBoolean": true }));
    }
    if !extensions.is_empty() {
        pat["extension"] = Value::Array(extensions);
    }
    pat
}

fn service_request(rec: &ReferralRecord) -> Value {
    let r = &rec.referral;
    let mut supporting = vec![json!({ "reference": format!("QuestionnaireResponse/{}", qr_id(r.id)) })];
    if r.consent.is_some() {
        supporting.push(json!({ "reference": format!("Consent/{}", consent_id(r.id)) }));
    }
    for p in &rec.photos {
        supporting.push(json!({ "reference": format!("DocumentReference/{}", p.record.id) }));
    }
    for d in &rec.documents {
        supporting.push(json!({ "reference": format!("DocumentReference/{}", d.record.id) }));
    }
    let code = match r.route {
        Route::AdviceAndGuidance => concept(codes::SR_CODE, "advice-and-guidance", Some("Advice and Guidance")),
        Route::Ras => concept(codes::SNOMED, "3457005", Some("Patient referral")),
    };
    let mut extensions = vec![
        json!({ "url": ext("ers-priority"), "valueCoding": coding(codes::ERS_PRIORITY, codes::ers_priority(r.priority), None) }),
        json!({ "url": ext("conversion-authorised"), "valueBoolean": r.conversion_authorised }),
    ];
    if let Some(decision) = &r.eligibility {
        extensions.push(json!({ "url": ext("eligibility-decision"), "valueString": decision.to_string() }));
    }
    let mut sr = json!({
        "resourceType": "ServiceRequest",
        "id": r.id.to_string(),
        "meta": { "versionId": r.version.to_string(), "lastUpdated": instant(r.updated_at), "profile": [format!("{PROFILE}ServiceRequest")] },
        "extension": extensions,
        "identifier": [{ "system": id_system("referral"), "value": r.id.to_string() }],
        "status": codes::request_status(r.status),
        "intent": "order",
        "category": [concept(codes::SR_CATEGORY, codes::route_category(r.route), Some(r.route.label()))],
        "code": code,
        "priority": codes::fhir_priority(r.priority),
        "subject": {
            "reference": format!("Patient/{}", patient_id(r.id)),
            "identifier": { "system": codes::NHS_NUMBER, "value": r.patient.nhs_number.as_digits() }
        },
        "requester": { "reference": format!("PractitionerRole/{}", role_id(r.referrer_id)) },
        "performer": [{ "reference": format!("HealthcareService/{}", service_ref_id(&r.service_id)) }],
        "supportingInfo": supporting
    });
    if let Some(u) = &r.ubrn {
        sr["identifier"].as_array_mut().expect("identifier list").push(json!({ "system": codes::UBRN, "value": u }));
    }
    if let Some(t) = r.submitted_at {
        sr["authoredOn"] = json!(instant(t));
    }
    let condition = r.eligibility_answers.as_ref().and_then(|a| a.get("condition")).and_then(Value::as_str);
    if !r.history.presenting_complaint.is_empty() || condition.is_some() {
        let mut reason = json!({});
        if let Some(c) = condition {
            reason["coding"] = json!([coding(&cs("condition"), c, None)]);
        }
        if !r.history.presenting_complaint.is_empty() {
            reason["text"] = json!(r.history.presenting_complaint);
        }
        sr["reasonCode"] = json!([reason]);
    }
    if !r.history.body_sites.is_empty() {
        sr["bodySite"] = Value::Array(r.history.body_sites.iter().map(|s| body_site(s)).collect());
    }
    sr
}

/// A body site as a CodeableConcept: Telederm's `body-site` code when it is one of the
/// vocabulary's words, free text otherwise.
pub fn body_site(s: &str) -> Value {
    match BodySite::parse(s) {
        Some(site) => json!({
            "coding": [coding(&cs("body-site"), site.as_str(), Some(&questionnaire::body_site_display(site.as_str())))],
            "text": questionnaire::body_site_display(site.as_str())
        }),
        None => json!({ "text": s }),
    }
}

fn outcome_outputs(o: &Outcome, route: Route, conversion_authorised: bool, letters: &[(LetterKind, String)]) -> Vec<Value> {
    let out = |name: &str, value_key: &str, value: Value| {
        json!({ "type": concept(&cs("task-output"), name, None), value_key: value })
    };
    let ers = crate::ers::mapping(o.code, route, conversion_authorised);
    let mut outcome_coding = vec![coding(&cs("outcome"), o.code.as_str(), Some(o.code.label()))];
    match route {
        Route::Ras => outcome_coding.push(coding(codes::ERS_REVIEW_OUTCOME, ers.outcome_code(), None)),
        Route::AdviceAndGuidance => outcome_coding.push(coding(codes::ERS_GUIDANCE_OUTCOME, ers.outcome_code(), None)),
    }
    let mut v = vec![
        out("outcome", "valueCodeableConcept", json!({ "coding": outcome_coding, "text": o.code.label() })),
        out("recorded-by", "valueReference", json!({ "reference": format!("Practitioner/{}", o.recorded_by) })),
        out("recorded-at", "valueDateTime", json!(instant(o.recorded_at))),
    ];
    if let Some(reason) = o.rejection_reason {
        v.push(out("rejection-reason", "valueCodeableConcept", concept(&cs("rejection-reason"), reason.as_str(), Some(reason.label()))));
    }
    for (name, text) in [("diagnosis", &o.diagnosis), ("management-plan", &o.management_plan), ("follow-up", &o.follow_up)] {
        if !text.is_empty() {
            v.push(out(name, "valueString", json!(text)));
        }
    }
    if let Some(c) = o.diagnosis_code.as_deref() {
        let term = telederm_domain::diagnoses::by_code(c).map(|d| d.term);
        v.push(out("diagnosis-code", "valueCodeableConcept", concept(codes::SNOMED, c, term)));
    }
    if let Some(p) = o.priority {
        v.push(out("outcome-priority", "valueCoding", coding(codes::ERS_PRIORITY, codes::ers_priority(p), None)));
    }
    if let Some(s) = &o.onward_service {
        v.push(out("onward-service", "valueString", json!(s)));
    }
    for (kind, id) in letters {
        v.push(out(kind.code(), "valueReference", json!({ "reference": format!("DocumentReference/{id}") })));
    }
    v
}

fn task(rec: &ReferralRecord, opts: &ExportOptions, letters: &[(LetterKind, String)]) -> Value {
    let r = &rec.referral;
    let overdue = r.due_date.is_some_and(|d| d < opts.now.date_naive());
    let (bs, bs_display) = codes::business_status(r.status, overdue);
    let mut t = json!({
        "resourceType": "Task",
        "id": task_id(r.id),
        "meta": profile("Task"),
        "identifier": [{ "system": id_system("referral-task"), "value": r.id.to_string() }],
        "status": codes::task_status(r.status),
        "businessStatus": { "coding": [coding(&cs("task-business-status"), bs, Some(bs_display))], "text": bs_display },
        "intent": "order",
        "priority": codes::fhir_priority(r.priority),
        "code": concept(codes::TASK_CODE, "fulfill", Some("Fulfill the focal request")),
        "focus": { "reference": format!("ServiceRequest/{}", r.id) },
        "for": { "reference": format!("Patient/{}", patient_id(r.id)) },
        "authoredOn": instant(r.created_at),
        "lastModified": instant(r.updated_at),
        "requester": { "reference": format!("PractitionerRole/{}", role_id(r.referrer_id)) }
    });
    if let Some(a) = r.assignee_id {
        t["owner"] = json!({ "reference": format!("PractitionerRole/{}", role_id(a)) });
    } else if let Some(p) = &rec.provider {
        t["owner"] = json!({ "reference": format!("Organization/{}", p.id) });
    }
    if let Some(d) = r.due_date {
        t["restriction"] = json!({ "period": { "end": date(d) } });
    }
    if let Some(o) = &r.outcome {
        t["executionPeriod"] = json!({ "end": instant(o.recorded_at) });
        t["output"] = Value::Array(outcome_outputs(o, r.route, r.conversion_authorised, letters));
    }
    t
}

/// The consultant's diagnosis as a Condition (UK Core: an encounter diagnosis, provisional: made
/// from photos), coded in SNOMED CT when they picked it from the list, else as text only.
fn condition(rec: &ReferralRecord) -> Option<Value> {
    let r = &rec.referral;
    let o = r.outcome.as_ref()?;
    let coded = o.diagnosis_code.as_deref().map(|c| (c, telederm_domain::diagnoses::by_code(c).map(|d| d.term)));
    if o.diagnosis.trim().is_empty() && coded.is_none() {
        return None;
    }
    let text = if o.diagnosis.trim().is_empty() { coded.and_then(|(_, t)| t).unwrap_or_default().to_string() } else { o.diagnosis.clone() };
    let mut code = json!({ "text": text });
    if let Some((c, term)) = coded {
        code["coding"] = json!([coding(codes::SNOMED, c, term)]);
    }
    Some(json!({
        "resourceType": "Condition",
        "id": condition_id(r.id),
        "meta": { "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Condition"] },
        "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", Some("Active")),
        "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "provisional", Some("Provisional")),
        "category": [concept("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", Some("Encounter Diagnosis"))],
        "code": code,
        "subject": { "reference": format!("Patient/{}", patient_id(r.id)) },
        "recordedDate": instant(o.recorded_at),
        "recorder": { "reference": format!("Practitioner/{}", o.recorded_by) },
        "evidence": [{ "detail": [{ "reference": format!("Task/{}", task_id(r.id)) }] }]
    }))
}

fn questionnaire_response(rec: &ReferralRecord) -> Value {
    let r = &rec.referral;
    json!({
        "resourceType": "QuestionnaireResponse",
        "id": qr_id(r.id),
        "meta": profile("QuestionnaireResponse"),
        "questionnaire": format!("{}|{}", codes::QUESTIONNAIRE_URL, codes::QUESTIONNAIRE_VERSION),
        "status": if r.submitted_at.is_some() { "completed" } else { "in-progress" },
        "basedOn": [{ "reference": format!("ServiceRequest/{}", r.id) }],
        "subject": { "reference": format!("Patient/{}", patient_id(r.id)) },
        "authored": instant(r.submitted_at.unwrap_or(r.created_at)),
        "author": { "reference": format!("PractitionerRole/{}", role_id(r.referrer_id)) },
        "item": questionnaire::response_items(&r.history, r.eligibility_answers.as_ref())
    })
}

pub fn consent_given_by_code(g: ConsentGivenBy) -> &'static str {
    match g {
        ConsentGivenBy::Patient => "patient",
        ConsentGivenBy::ParentOrGuardian => "parent_or_guardian",
        ConsentGivenBy::BestInterestsDecision => "best_interests_decision",
    }
}

pub fn consent_method_code(m: ConsentMethod) -> &'static str {
    match m {
        ConsentMethod::Verbal => "verbal",
        ConsentMethod::Written => "written",
        ConsentMethod::Electronic => "electronic",
    }
}

fn consent(rec: &ReferralRecord) -> Option<Value> {
    let r = &rec.referral;
    let c = r.consent.as_ref()?;
    let scope = |purpose: &str, display: &str, yes: bool| {
        json!({
            "type": if yes { "permit" } else { "deny" },
            "purpose": [coding(&cs("consent-purpose"), purpose, Some(display))]
        })
    };
    Some(json!({
        "resourceType": "Consent",
        "id": consent_id(r.id),
        "meta": profile("Consent"),
        "extension": [
            { "url": ext("consent-given-by"), "valueCode": consent_given_by_code(c.given_by) },
            { "url": ext("consent-method"), "valueCode": consent_method_code(c.method) }
        ],
        "status": "active",
        "scope": concept(codes::CONSENT_SCOPE, "treatment", Some("Treatment")),
        "category": [concept(codes::V3_ACT_CODE, "INFA", Some("information access"))],
        "patient": { "reference": format!("Patient/{}", patient_id(r.id)) },
        "dateTime": instant(r.submitted_at.unwrap_or(r.created_at)),
        "performer": [{ "reference": format!("PractitionerRole/{}", role_id(r.referrer_id)) }],
        "organization": [{ "reference": format!("Organization/{}", rec.practice.id) }],
        "policyRule": concept(V3_ACT_POLICY, "OPTIN", Some("opt-in")),
        "provision": {
            "type": "permit",
            "provision": [
                scope("direct-care", "Photography and assessment for direct care", c.direct_care),
                scope("teaching", "Use of the images for teaching", c.teaching),
                scope("research", "Use of the images for research", c.research)
            ]
        }
    }))
}

const V3_ACT_POLICY: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/// The type of an image's bytes by its magic number.
pub fn image_content_type(bytes: &[u8], fallback: &str) -> String {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg".into()
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png".into()
    } else {
        fallback.to_string()
    }
}

fn photo_resources(rec: &ReferralRecord, p: &Photo) -> [Value; 2] {
    let r = &rec.referral;
    let rid = p.record.id;
    let content_type = image_content_type(&p.bytes, &p.record.original_type);
    let sha1 = b64(&sha1::Sha1::digest(&p.bytes));
    let sha256 = crate::sha256_hex(&p.bytes);
    let kind = photo_kind_code(p.record.kind);
    let binary_id = format!("bin-{rid}");
    let mut doc = json!({
        "resourceType": "DocumentReference",
        "id": rid.to_string(),
        "meta": profile("DocumentReference"),
        "extension": [
            { "url": ext("photo-kind"), "valueCode": kind },
            { "url": ext("dermoscopic"), "valueBoolean": is_dermoscopic(&p.record) },
            { "url": ext("image-source"), "valueCode": p.record.source.as_str() },
            { "url": ext("image-quality-verdict"), "valueCode": p.record.verdict.as_str() },
            { "url": ext("image-width"), "valueInteger": p.record.width },
            { "url": ext("image-height"), "valueInteger": p.record.height },
            { "url": ext("sha256"), "valueString": sha256 }
        ],
        "identifier": [{ "system": id_system("photo"), "value": rid.to_string() }],
        "status": "current",
        "type": concept(&cs("document-type"), "clinical-photograph", Some("Clinical photograph")),
        "category": [concept(&cs("photo-kind"), kind, None)],
        "subject": { "reference": format!("Patient/{}", patient_id(r.id)) },
        "date": instant(p.record.created_at),
        "description": format!("{} photograph{}", kind.replace('_', "-"), if is_dermoscopic(&p.record) && p.record.kind != PhotoKind::Dermoscopic { " (dermoscopic)" } else { "" }),
        "content": [{ "attachment": {
            "contentType": content_type,
            "url": format!("Binary/{binary_id}"),
            "size": p.bytes.len(),
            "hash": sha1,
            "title": format!("photo-{rid}.{}", if content_type == "image/png" { "png" } else { "jpg" }),
            "creation": instant(p.record.created_at)
        }}],
        "context": { "related": [{ "reference": format!("ServiceRequest/{}", r.id) }] }
    });
    if let Some(u) = p.record.uploaded_by {
        doc["author"] = json!([{ "reference": format!("Practitioner/{u}") }]);
    }
    let binary = json!({ "resourceType": "Binary", "id": binary_id, "contentType": content_type, "data": b64(&p.bytes) });
    [doc, binary]
}

/// The `document-type` code of a referral's document (PDF attachment), and its display.
pub const REFERRAL_DOCUMENT: (&str, &str) = ("referral-document", "Referral document");

/// A document on the referral (referral letter, consent form, other) as a DocumentReference with
/// its PDF in a Binary, as photos are carried: type `referral-document`, the kind as category and
/// extension `document-kind`, the title as `description` and the attachment's `title`.
fn document_resources(rec: &ReferralRecord, d: &Document) -> [Value; 2] {
    let r = &rec.referral;
    let id = d.record.id;
    let kind = d.record.kind;
    let binary_id = format!("bin-{id}");
    let mut doc = json!({
        "resourceType": "DocumentReference",
        "id": id.to_string(),
        "meta": profile("DocumentReference"),
        "extension": [
            { "url": ext("document-kind"), "valueCode": kind.as_str() },
            { "url": ext("sha256"), "valueString": crate::sha256_hex(&d.bytes) }
        ],
        "identifier": [{ "system": id_system("document"), "value": id.to_string() }],
        "status": "current",
        "type": concept(&cs("document-type"), REFERRAL_DOCUMENT.0, Some(REFERRAL_DOCUMENT.1)),
        "category": [concept(&cs("document-kind"), kind.as_str(), Some(kind.label()))],
        "subject": { "reference": format!("Patient/{}", patient_id(r.id)) },
        "date": instant(d.record.created_at),
        "description": d.record.title.clone().unwrap_or_else(|| kind.label().to_string()),
        "content": [{ "attachment": {
            "contentType": "application/pdf",
            "url": format!("Binary/{binary_id}"),
            "size": d.bytes.len(),
            "hash": b64(&sha1::Sha1::digest(&d.bytes)),
            "title": telederm_domain::document::file_name(kind, d.record.title.as_deref()),
            "creation": instant(d.record.created_at)
        }}],
        "context": { "related": [{ "reference": format!("ServiceRequest/{}", r.id) }] }
    });
    if let Some(t) = &d.record.title {
        doc["extension"].as_array_mut().expect("extension list").push(json!({ "url": ext("document-title"), "valueString": t }));
    }
    if let Some(u) = d.record.uploaded_by {
        doc["author"] = json!([{ "reference": format!("Practitioner/{u}") }]);
    }
    let binary = json!({ "resourceType": "Binary", "id": binary_id, "contentType": "application/pdf", "data": b64(&d.bytes) });
    [doc, binary]
}

fn communication(rec: &ReferralRecord, m: &Message) -> Value {
    let r = &rec.referral;
    let category = codes::message_category(m.kind);
    let mut c = json!({
        "resourceType": "Communication",
        "id": m.id.to_string(),
        "meta": profile("Communication"),
        "identifier": [{ "system": id_system("message"), "value": m.id.to_string() }],
        "basedOn": [{ "reference": format!("ServiceRequest/{}", r.id) }],
        "status": "completed",
        "category": [concept(codes::ERS_COMM_SENT_BY, category, None)],
        "subject": { "reference": format!("Patient/{}", patient_id(r.id)) },
        "sent": instant(m.created_at),
        "payload": [{ "contentString": m.body }]
    });
    let sender = match m.author_id {
        Some(a) => json!({ "reference": format!("Practitioner/{a}"), "display": m.author_name }),
        None => json!({ "display": m.author_name }),
    };
    c["sender"] = sender;
    c
}

fn letter_resources(rec: &ReferralRecord, kind: LetterKind) -> Option<(String, [Value; 3])> {
    let r = &rec.referral;
    let letter = letters::Letter::for_record(rec, kind)?;
    let pdf = letter.to_pdf();
    let html = letter.to_html();
    let id = format!("{}-{}", kind.id_prefix(), r.id);
    let attach = |bytes: &[u8], content_type: &str, ext_: &str, bin: &str| {
        json!({ "attachment": {
            "contentType": content_type,
            "language": "en-GB",
            "url": format!("Binary/{bin}"),
            "size": bytes.len(),
            "hash": b64(&sha1::Sha1::digest(bytes)),
            "title": format!("{}.{ext_}", kind.file_stem()),
            "creation": instant(letter.date)
        }})
    };
    let pdf_bin = format!("bin-{id}-pdf");
    let html_bin = format!("bin-{id}-html");
    let doc = json!({
        "resourceType": "DocumentReference",
        "id": id,
        "meta": profile("DocumentReference"),
        "identifier": [{ "system": id_system("letter"), "value": id }],
        "status": "current",
        "docStatus": "final",
        "type": concept(&cs("document-type"), kind.code(), Some(kind.title())),
        "category": [concept(&cs("document-type"), "outcome-letter", Some("Outcome letter"))],
        "subject": { "reference": format!("Patient/{}", patient_id(r.id)) },
        "date": instant(letter.date),
        "description": kind.title(),
        "content": [attach(&pdf, "application/pdf", "pdf", &pdf_bin), attach(html.as_bytes(), "text/html", "html", &html_bin)],
        "context": { "related": [{ "reference": format!("ServiceRequest/{}", r.id) }] }
    });
    let pdf_res = json!({ "resourceType": "Binary", "id": pdf_bin, "contentType": "application/pdf", "data": b64(&pdf) });
    let html_res = json!({ "resourceType": "Binary", "id": html_bin, "contentType": "text/html", "data": b64(html.as_bytes()) });
    Some((id, [doc, pdf_res, html_res]))
}

/// Every resource of one referral, ServiceRequest first. Shared resources (organisations,
/// practitioners, the service) are included; `bundle` removes duplicates across referrals.
pub fn referral_resources(rec: &ReferralRecord, opts: &ExportOptions) -> Vec<Value> {
    let r = &rec.referral;
    let mut letter_docs = Vec::new();
    let mut letter_res = Vec::new();
    if opts.letters && r.outcome.is_some() {
        for kind in LetterKind::ALL {
            if let Some((id, res)) = letter_resources(rec, kind) {
                letter_docs.push((kind, id));
                letter_res.extend(res);
            }
        }
    }
    let mut out = vec![service_request(rec), patient(rec), task(rec, opts, &letter_docs), questionnaire_response(rec)];
    out.extend(consent(rec));
    out.extend(condition(rec));
    for p in &rec.photos {
        out.extend(photo_resources(rec, p));
    }
    for d in &rec.documents {
        out.extend(document_resources(rec, d));
    }
    for m in &rec.messages {
        out.push(communication(rec, m));
    }
    out.extend(letter_res);
    out.push(healthcare_service(rec));
    out.push(organization(&rec.practice));
    if let Some(p) = &rec.provider {
        out.push(organization(p));
    }
    // Users in a stable order: referrer, assignee, then anyone else named (outcome recorder).
    let mut users: Vec<&User> = Vec::new();
    for id in [Some(r.referrer_id), r.assignee_id, r.outcome.as_ref().map(|o| o.recorded_by)].into_iter().flatten()
    {
        if let Some(u) = rec.user(id).filter(|u| !users.iter().any(|x| x.id == u.id)) {
            users.push(u);
        }
    }
    for m in &rec.messages {
        if let Some(u) = m.author_id.and_then(|a| rec.user(a)).filter(|u| !users.iter().any(|x| x.id == u.id)) {
            users.push(u);
        }
    }
    for p in &rec.photos {
        if let Some(u) = p.record.uploaded_by.and_then(|a| rec.user(a)).filter(|u| !users.iter().any(|x| x.id == u.id)) {
            users.push(u);
        }
    }
    for d in &rec.documents {
        if let Some(u) = d.record.uploaded_by.and_then(|a| rec.user(a)).filter(|u| !users.iter().any(|x| x.id == u.id)) {
            users.push(u);
        }
    }
    for u in users {
        out.push(practitioner(u));
        out.push(practitioner_role(u));
    }
    out
}

fn full_url(base: &str, res: &Value) -> String {
    format!("{base}/{}/{}", res["resourceType"].as_str().unwrap_or(""), res["id"].as_str().unwrap_or(""))
}

/// A Bundle of the given type (`collection` or `searchset`) of every record's resources, shared
/// resources once.
pub fn bundle(kind: &str, records: &[ReferralRecord], opts: &ExportOptions) -> Value {
    let mut seen = std::collections::HashSet::new();
    let mut entries = Vec::new();
    for rec in records {
        for res in referral_resources(rec, opts) {
            let url = full_url(&opts.base_url, &res);
            if seen.insert(url.clone()) {
                let mut e = json!({ "fullUrl": url, "resource": res });
                if kind == "searchset" {
                    e["search"] = json!({ "mode": if e["resource"]["resourceType"] == "ServiceRequest" { "match" } else { "include" } });
                }
                entries.push(e);
            }
        }
    }
    let mut b = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": profile("Bundle"),
        "type": kind,
        "timestamp": instant(opts.now),
    });
    if kind == "searchset" {
        b["total"] = json!(records.len());
    }
    b["entry"] = Value::Array(entries);
    b
}

/// `ServiceRequest/{id}/$everything`: the referral and everything it refers to.
pub fn everything(rec: &ReferralRecord, opts: &ExportOptions) -> Value {
    bundle("searchset", std::slice::from_ref(rec), opts)
}

/// A `transaction` Bundle that creates the referral elsewhere (what a GP system would POST):
/// `urn:uuid:` full URLs, references rewritten to them, letters left out (the receiver writes its
/// own), shared resources as conditional creates on their identifiers.
pub fn transaction(rec: &ReferralRecord, opts: &ExportOptions) -> Value {
    let opts = ExportOptions { letters: false, ..opts.clone() };
    let resources = referral_resources(rec, &opts);
    let mut map = std::collections::HashMap::new();
    for res in &resources {
        let key = format!("{}/{}", res["resourceType"].as_str().unwrap_or(""), res["id"].as_str().unwrap_or(""));
        map.insert(key, format!("urn:uuid:{}", uuid::Uuid::new_v4()));
    }
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|mut res| {
            let key = format!("{}/{}", res["resourceType"].as_str().unwrap_or(""), res["id"].as_str().unwrap_or(""));
            rewrite_references(&mut res, &map);
            let rtype = res["resourceType"].as_str().unwrap_or("").to_string();
            let mut request = json!({ "method": "POST", "url": rtype });
            if let Some(ident) = res.pointer("/identifier/0").cloned()
                && matches!(rtype.as_str(), "Organization" | "Practitioner" | "HealthcareService")
            {
                request["ifNoneExist"] = json!(format!(
                    "identifier={}|{}",
                    ident["system"].as_str().unwrap_or(""),
                    ident["value"].as_str().unwrap_or("")
                ));
            }
            if let Some(obj) = res.as_object_mut() {
                obj.remove("id");
            }
            json!({ "fullUrl": map[&key], "resource": res, "request": request })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "meta": profile("Bundle"),
        "type": "transaction",
        "timestamp": instant(opts.now),
        "entry": entries
    })
}

fn rewrite_references(v: &mut Value, map: &std::collections::HashMap<String, String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if (k == "reference" || k == "url")
                    && let Value::String(s) = child
                    && let Some(new) = map.get(s.as_str())
                {
                    *s = new.clone();
                    continue;
                }
                rewrite_references(child, map);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite_references(c, map)),
        _ => {}
    }
}
