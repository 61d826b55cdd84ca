//! ITK3 FHIR STU3 messages for GP Connect Send Document (`docs/fhir-mapping.md`, "GP Connect Send
//! Document over MESH").
//!
//! A document message is an ITK message Bundle (`ITK-Message-Bundle-1`): its first entry the
//! `ITK-MessageHeader-2` with the ITK handling keys (`Extension-ITK-MessageHandling-2`: business
//! and infrastructure acknowledgements requested, recipient type "for information", the GP Connect
//! Send Document message definition, our sender reference), the event `ITK007C`, the sender and
//! receiver organisations by ODS code and our MESH mailbox as the source; then the document Bundle
//! it focuses on: a Composition about the Patient (NHS number) with a DocumentReference to the
//! letter, the letter itself as a PDF Binary, and the organisations.
//!
//! The answers are ITK3 responses (event `ITK008M`): `MessageHeader.response.identifier` names our
//! MessageHeader's id and `response.code` says `ok`, `transient-error` or `fatal-error`; an
//! infrastructure acknowledgement says the GP system took the message in, a business
//! acknowledgement that it filed the document in the patient's record.

use base64::Engine;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Value, json};

pub const PROFILE_MESSAGE_BUNDLE: &str = "https://fhir.nhs.uk/STU3/StructureDefinition/ITK-Message-Bundle-1";
pub const PROFILE_MESSAGE_HEADER: &str = "https://fhir.nhs.uk/STU3/StructureDefinition/ITK-MessageHeader-2";
pub const EXT_MESSAGE_HANDLING: &str = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-ITK-MessageHandling-2";
pub const MESSAGE_EVENT_SYSTEM: &str = "https://fhir.nhs.uk/STU3/CodeSystem/ITK-MessageEvent-2";
pub const RECIPIENT_TYPE_SYSTEM: &str = "https://fhir.nhs.uk/STU3/CodeSystem/ITK-RecipientType-1";
pub const SEND_DOCUMENT_DEFINITION: &str = "https://fhir.nhs.uk/STU3/MessageDefinition/ITK-GPConnectSendDocument-MessageDefinition-1";
pub const EVENT_SEND_DOCUMENT: &str = "ITK007C";
pub const EVENT_RESPONSE: &str = "ITK008M";
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
/// SNOMED CT 371531000 |Report of clinical encounter (record artifact)|: the Composition's type.
pub const DOCUMENT_TYPE_CODE: &str = "371531000";
pub const DOCUMENT_TYPE_DISPLAY: &str = "Report of clinical encounter";

/// An organisation named in the message.
#[derive(Debug, Clone)]
pub struct Org {
    pub ods_code: String,
    pub name: String,
}

/// The patient as the document names them.
#[derive(Debug, Clone)]
pub struct PatientDetails {
    pub nhs_number: String,
    pub family: String,
    pub given: Vec<String>,
    pub birth_date: Option<NaiveDate>,
}

/// A document to send to the patient's GP practice.
#[derive(Debug, Clone)]
pub struct DocumentMessage<'a> {
    /// The MessageHeader's id: acknowledgements name it.
    pub message_id: uuid::Uuid,
    /// Our reference for the document (the ITK `SenderReference`, and MESH's local id).
    pub sender_reference: &'a str,
    /// Our MESH mailbox (the MessageHeader's source endpoint).
    pub source_mailbox: &'a str,
    pub sender: Org,
    pub recipient: Org,
    pub patient: PatientDetails,
    pub title: &'a str,
    /// Who wrote it (the consultant), as plain text.
    pub author_display: &'a str,
    pub created: DateTime<Utc>,
    pub pdf: &'a [u8],
}

fn org(id: &str, o: &Org) -> Value {
    json!({
        "resourceType": "Organization",
        "id": id,
        "meta": { "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-ITK-Header-Organization-1"] },
        "identifier": [{ "system": ODS_SYSTEM, "value": o.ods_code }],
        "name": o.name,
    })
}

fn entry(full_url: &str, resource: Value) -> Value {
    json!({ "fullUrl": full_url, "resource": resource })
}

/// The ITK message Bundle carrying the document, as FHIR STU3 JSON.
pub fn document_message(m: &DocumentMessage<'_>) -> Value {
    let ts = m.created.to_rfc3339_opts(SecondsFormat::Secs, true);
    let u = || uuid::Uuid::new_v4();
    let (sender_id, recipient_id, patient_id) = (u(), u(), u());
    let (doc_bundle_id, composition_id, docref_id, binary_id) = (u(), u(), u(), u());
    let url = |id: uuid::Uuid| format!("urn:uuid:{id}");
    let sender = org(&sender_id.to_string(), &m.sender);
    let recipient = org(&recipient_id.to_string(), &m.recipient);
    let mut patient = json!({
        "resourceType": "Patient",
        "id": patient_id.to_string(),
        "identifier": [{ "system": NHS_NUMBER_SYSTEM, "value": m.patient.nhs_number }],
        "name": [{ "use": "official", "family": m.patient.family, "given": m.patient.given }],
        "generalPractitioner": [{ "reference": url(recipient_id) }],
    });
    if let Some(d) = m.patient.birth_date {
        patient["birthDate"] = json!(d.to_string());
    }
    let pdf_b64 = base64::engine::general_purpose::STANDARD.encode(m.pdf);
    let document = json!({
        "resourceType": "Bundle",
        "id": doc_bundle_id.to_string(),
        "identifier": { "system": "https://tools.ietf.org/html/rfc4122", "value": doc_bundle_id.to_string() },
        "type": "document",
        "entry": [
            entry(&url(composition_id), json!({
                "resourceType": "Composition",
                "id": composition_id.to_string(),
                "status": "final",
                "type": { "coding": [{ "system": "http://snomed.info/sct", "code": DOCUMENT_TYPE_CODE, "display": DOCUMENT_TYPE_DISPLAY }] },
                "subject": { "reference": url(patient_id) },
                "date": ts,
                "author": [{ "reference": url(sender_id), "display": m.author_display }],
                "title": m.title,
                "custodian": { "reference": url(sender_id) },
                "section": [{
                    "title": m.title,
                    "text": { "status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}: see the attached PDF.</div>", xml_escape(m.title)) },
                    "entry": [{ "reference": url(docref_id) }],
                }],
            })),
            entry(&url(patient_id), patient),
            entry(&url(sender_id), sender.clone()),
            entry(&url(recipient_id), recipient.clone()),
            entry(&url(docref_id), json!({
                "resourceType": "DocumentReference",
                "id": docref_id.to_string(),
                "status": "current",
                "type": { "coding": [{ "system": "http://snomed.info/sct", "code": DOCUMENT_TYPE_CODE, "display": DOCUMENT_TYPE_DISPLAY }] },
                "subject": { "reference": url(patient_id) },
                "indexed": ts,
                "author": [{ "reference": url(sender_id) }],
                "custodian": { "reference": url(sender_id) },
                "description": m.title,
                "content": [{ "attachment": {
                    "contentType": "application/pdf",
                    "url": url(binary_id),
                    "title": m.title,
                    "size": m.pdf.len(),
                    "creation": ts,
                } }],
            })),
            entry(&url(binary_id), json!({
                "resourceType": "Binary",
                "id": binary_id.to_string(),
                "contentType": "application/pdf",
                "content": pdf_b64,
            })),
        ],
    });
    let header = json!({
        "resourceType": "MessageHeader",
        "id": m.message_id.to_string(),
        "meta": { "profile": [PROFILE_MESSAGE_HEADER] },
        "extension": [{
            "url": EXT_MESSAGE_HANDLING,
            "extension": [
                { "url": "BusAckRequested", "valueBoolean": true },
                { "url": "InfAckRequested", "valueBoolean": true },
                { "url": "RecipientType", "valueCoding": { "system": RECIPIENT_TYPE_SYSTEM, "code": "FI", "display": "For Information" } },
                { "url": "MessageDefinition", "valueReference": { "reference": SEND_DOCUMENT_DEFINITION } },
                { "url": "SenderReference", "valueString": m.sender_reference },
                { "url": "LocalExtension", "valueString": "None" },
            ],
        }],
        "event": { "system": MESSAGE_EVENT_SYSTEM, "code": EVENT_SEND_DOCUMENT, "display": "ITK GP Connect Send Document" },
        "receiver": { "reference": url(recipient_id) },
        "sender": { "reference": url(sender_id) },
        "timestamp": ts,
        "source": { "endpoint": m.source_mailbox },
        "focus": [{ "reference": url(doc_bundle_id) }],
    });
    let bundle_id = u();
    json!({
        "resourceType": "Bundle",
        "id": bundle_id.to_string(),
        "meta": { "profile": [PROFILE_MESSAGE_BUNDLE], "lastUpdated": ts },
        "identifier": { "system": "https://tools.ietf.org/html/rfc4122", "value": bundle_id.to_string() },
        "type": "message",
        "entry": [
            entry(&format!("urn:uuid:{}", m.message_id), header),
            entry(&url(sender_id), sender),
            entry(&url(recipient_id), recipient),
            entry(&url(doc_bundle_id), document),
        ],
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Which acknowledgement an ITK3 response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    /// The receiving system took the message in (or could not).
    Infrastructure,
    /// The receiving application acted on it: the document was filed (or not).
    Business,
}

/// An ITK3 response read from MESH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub kind: AckKind,
    /// The id of the MessageHeader it answers.
    pub response_to: String,
    /// `ok`, `transient-error` or `fatal-error`.
    pub code: String,
    /// The OperationOutcome's words, when it has any (an error's reason).
    pub detail: Option<String>,
}

impl Ack {
    pub fn ok(&self) -> bool {
        self.code == "ok"
    }
}

/// Reads an ITK3 response bundle. Business or infrastructure: by the MessageDefinition handling
/// key (`…BusAck…`/`…Business…` versus `…InfAck…`/`…Infrastructure…`), else by the
/// OperationOutcome's profile (`ITK-Busack-…`/`ITK-Infack-…`), else infrastructure.
pub fn parse_ack(body: &[u8]) -> Result<Ack, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not FHIR JSON: {e}"))?;
    if v.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err("not a FHIR Bundle".into());
    }
    let resources: Vec<&Value> = v.get("entry").and_then(Value::as_array).into_iter().flatten().filter_map(|e| e.get("resource")).collect();
    let header = resources
        .iter()
        .find(|r| r.get("resourceType").and_then(Value::as_str) == Some("MessageHeader"))
        .ok_or("no MessageHeader")?;
    let response = header.get("response").ok_or("the MessageHeader has no response: not an acknowledgement")?;
    let response_to = response.get("identifier").and_then(Value::as_str).ok_or("response.identifier is missing")?.to_string();
    let code = response.get("code").and_then(Value::as_str).unwrap_or("ok").to_string();
    let classify = |s: &str| {
        let s = s.to_ascii_lowercase();
        if s.contains("busack") || s.contains("business") {
            Some(AckKind::Business)
        } else if s.contains("infack") || s.contains("infrastructure") {
            Some(AckKind::Infrastructure)
        } else {
            None
        }
    };
    let definition = header
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("url").and_then(Value::as_str) == Some(EXT_MESSAGE_HANDLING))
        .flat_map(|e| e.get("extension").and_then(Value::as_array).into_iter().flatten())
        .find(|e| e.get("url").and_then(Value::as_str) == Some("MessageDefinition"))
        .and_then(|e| e.pointer("/valueReference/reference"))
        .and_then(Value::as_str)
        .and_then(classify);
    let outcome = resources.iter().find(|r| r.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome"));
    let by_profile = outcome
        .and_then(|o| o.pointer("/meta/profile"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(classify);
    let detail = outcome.and_then(|o| o.get("issue")).and_then(Value::as_array).and_then(|issues| {
        let words: Vec<String> = issues
            .iter()
            .filter_map(|i| {
                let coding = i.pointer("/details/coding/0");
                let code = coding.and_then(|c| c.get("code")).and_then(Value::as_str);
                let display = coding.and_then(|c| c.get("display")).and_then(Value::as_str);
                let text = i.pointer("/details/text").or_else(|| i.get("diagnostics")).and_then(Value::as_str);
                match (code, display.or(text)) {
                    (Some(c), Some(d)) => Some(format!("{c} {d}")),
                    (None, Some(d)) => Some(d.to_string()),
                    (Some(c), None) => Some(c.to_string()),
                    (None, None) => None,
                }
            })
            .collect();
        (!words.is_empty()).then(|| words.join("; "))
    });
    Ok(Ack { kind: definition.or(by_profile).unwrap_or(AckKind::Infrastructure), response_to, code, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Value {
        document_message(&DocumentMessage {
            message_id: uuid::Uuid::nil(),
            sender_reference: "tdm-abc-v3",
            source_mailbox: "X26ABC1",
            sender: Org { ods_code: "RQX".into(), name: "Homerton".into() },
            recipient: Org { ods_code: "F84001".into(), name: "Demo Practice".into() },
            patient: PatientDetails { nhs_number: "9434765919".into(), family: "Smith".into(), given: vec!["Ann".into()], birth_date: None },
            title: "Teledermatology outcome letter",
            author_display: "Dr A",
            created: Utc::now(),
            pdf: b"%PDF-1.4 test",
        })
    }

    #[test]
    fn the_message_header_comes_first_with_its_handling_keys_and_focus() {
        let m = message();
        assert_eq!(m["type"], "message");
        let h = &m["entry"][0]["resource"];
        assert_eq!(h["resourceType"], "MessageHeader");
        assert_eq!(h["event"]["code"], EVENT_SEND_DOCUMENT);
        assert_eq!(h["source"]["endpoint"], "X26ABC1");
        let keys: Vec<&str> = h["extension"][0]["extension"].as_array().unwrap().iter().map(|e| e["url"].as_str().unwrap()).collect();
        assert_eq!(keys, ["BusAckRequested", "InfAckRequested", "RecipientType", "MessageDefinition", "SenderReference", "LocalExtension"]);
        let focus = h["focus"][0]["reference"].as_str().unwrap();
        let doc = m["entry"].as_array().unwrap().iter().find(|e| e["fullUrl"] == focus).unwrap();
        assert_eq!(doc["resource"]["type"], "document");
        let binary = doc["resource"]["entry"].as_array().unwrap().iter().find(|e| e["resource"]["resourceType"] == "Binary").unwrap();
        assert_eq!(binary["resource"]["contentType"], "application/pdf");
    }

    #[test]
    fn acknowledgements_are_read() {
        let ack = json!({"resourceType": "Bundle", "type": "message", "entry": [
            {"resource": {"resourceType": "MessageHeader", "extension": [{"url": EXT_MESSAGE_HANDLING, "extension": [
                {"url": "MessageDefinition", "valueReference": {"reference": "https://fhir.nhs.uk/STU3/MessageDefinition/ITK-BusAck-MessageDefinition-1"}}]}],
             "response": {"identifier": "abc", "code": "fatal-error"}}},
            {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "fatal", "code": "not-found",
              "details": {"coding": [{"code": "51002", "display": "Unrecognised Recipient Person"}]}}]}}]});
        let a = parse_ack(ack.to_string().as_bytes()).unwrap();
        assert_eq!(a, Ack { kind: AckKind::Business, response_to: "abc".into(), code: "fatal-error".into(), detail: Some("51002 Unrecognised Recipient Person".into()) });
        assert!(parse_ack(message().to_string().as_bytes()).is_err(), "a document is not an acknowledgement");
    }
}
