//! FHIR Bundle → referrals. Pure: reads a `transaction` (or `collection`/`searchset`) Bundle, checks
//! every resource a referral needs, and returns either the referrals or every problem found, each
//! with a FHIRPath-like location, ready to become an OperationOutcome.

use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use sha1::Digest as _;
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::outcome::{Outcome, OutcomeCode, RejectionReason};
use telederm_domain::patient::{Contact, Patient};
use telederm_domain::policy::{ImageSource, PhotoKind, Verdict};
use telederm_domain::referral::{
    Consent, ConsentGivenBy, ConsentMethod, Message, Priority, Referral, ReferralStatus,
};
use telederm_domain::{MessageId, NhsNumber, OrganisationId, PhotoId, ReferralId, UserId};
use telederm_store::{DocumentRecord, PhotoRecord};

use crate::codes::{self, cs, ext, id_system};
use crate::ers::MAX_ATTACHMENT_BYTES;
use crate::export::{Document, Photo};
use crate::questionnaire;

/// One problem with an imported Bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// FHIR issue-type code: `required`, `value`, `invalid`, `not-found`, `structure`, `duplicate`…
    pub code: &'static str,
    /// Where, e.g. `Bundle.entry[2].resource.birthDate`.
    pub expression: String,
    pub diagnostics: String,
}

/// An OperationOutcome with one `error` issue per problem.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": issues.iter().map(|i| json!({
            "severity": "error",
            "code": i.code,
            "diagnostics": i.diagnostics,
            "expression": [i.expression]
        })).collect::<Vec<_>>()
    })
}

/// An OperationOutcome with `error` issues (what was refused) and `information` issues (what was
/// read but deliberately not taken over).
pub fn operation_outcome_with(errors: &[Issue], information: &[Issue]) -> Value {
    let issue = |severity: &str, i: &Issue| json!({ "severity": severity, "code": i.code, "diagnostics": i.diagnostics, "expression": [i.expression] });
    json!({
        "resourceType": "OperationOutcome",
        "issue": errors.iter().map(|i| issue("error", i)).chain(information.iter().map(|i| issue("information", i))).collect::<Vec<_>>()
    })
}

/// An OperationOutcome reporting success (`information`).
pub fn operation_outcome_ok(text: &str) -> Value {
    json!({ "resourceType": "OperationOutcome", "issue": [{ "severity": "information", "code": "informational", "diagnostics": text }] })
}

/// A referral read from a Bundle, with the organisations and users it names. Ids are those in the
/// Bundle's Telederm identifiers where it has them, new ones otherwise; `store_io` maps them onto
/// organisations and users the installation already has (by ODS code and email).
#[derive(Debug, Clone)]
pub struct ImportedReferral {
    pub referral: Referral,
    pub practice: Organisation,
    pub provider: Option<Organisation>,
    pub users: Vec<User>,
    pub photos: Vec<Photo>,
    /// Documents (PDFs): DocumentReferences of type `referral-document`.
    pub documents: Vec<Document>,
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The services this installation runs; a referral for another is refused. `None`: any.
    pub known_services: Option<Vec<String>>,
}

struct Ctx<'a> {
    entries: Vec<(String, &'a Value)>,
    index: HashMap<String, usize>,
    issues: Vec<Issue>,
}

impl<'a> Ctx<'a> {
    fn issue(&mut self, code: &'static str, expression: impl Into<String>, diagnostics: impl Into<String>) {
        self.issues.push(Issue { code, expression: expression.into(), diagnostics: diagnostics.into() });
    }

    /// Resolves a reference (`Type/id`, a full URL or `urn:uuid:`) to (entry index, resource).
    fn resolve(&mut self, reference: Option<&Value>, expected: &str, at: &str, required: bool) -> Option<(usize, &'a Value)> {
        let Some(r) = reference.and_then(|r| r.get("reference")).and_then(Value::as_str) else {
            if required {
                self.issue("required", at, format!("a reference to a {expected} is required"));
            }
            return None;
        };
        match self.index.get(r).copied() {
            Some(i) if self.entries[i].1["resourceType"] == expected => Some((i, self.entries[i].1)),
            Some(i) => {
                let found = self.entries[i].1["resourceType"].as_str().unwrap_or("?").to_string();
                self.issue("invalid", format!("{at}.reference"), format!("{r:?} is a {found}, expected a {expected}"));
                None
            }
            None => {
                self.issue("not-found", format!("{at}.reference"), format!("{r:?} does not resolve to a {expected} in the Bundle"));
                None
            }
        }
    }

    fn path(&self, i: usize) -> String {
        format!("Bundle.entry[{i}].resource")
    }

    /// Entries whose resource is `rtype` and whose `field` references the entry `target`.
    fn referring(&self, rtype: &str, target: usize, field: &str) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&i| self.entries[i].1["resourceType"] == rtype)
            .filter(|&i| {
                let v = &self.entries[i].1[field];
                let refs: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                refs.iter().any(|r| r.get("reference").and_then(Value::as_str).and_then(|s| self.index.get(s)) == Some(&target))
            })
            .collect()
    }
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn identifier<'v>(res: &'v Value, system: &str) -> Option<&'v str> {
    res.get("identifier")?.as_array()?.iter().find(|i| i["system"] == system).and_then(|i| str_at(i, "value"))
}

fn extension<'v>(res: &'v Value, name: &str) -> Option<&'v Value> {
    let url = ext(name);
    res.get("extension")?.as_array()?.iter().find(|e| e["url"] == url.as_str())
}

fn coding_code<'v>(concept: &'v Value, system: &str) -> Option<&'v str> {
    concept.get("coding")?.as_array()?.iter().find(|c| c["system"] == system).and_then(|c| str_at(c, "code"))
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn parse_date_prefix(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

fn uuid_of<T: From<uuid::Uuid>>(s: Option<&str>) -> Option<T> {
    s.and_then(|s| uuid::Uuid::parse_str(s).ok()).map(T::from)
}

/// Width and height of a JPEG or PNG, read from its header.
pub fn image_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() >= 24 {
        let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
        let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
        return Some((w, h));
    }
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 9 < bytes.len() {
        if bytes[i] != 0xFF {
            i += 1;
            continue;
        }
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let h = u32::from(u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]));
            let w = u32::from(u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]));
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

/// Reads every referral (one per ServiceRequest) from a Bundle, or returns every problem found.
pub fn read_bundle(bundle: &Value, opts: &ImportOptions) -> Result<Vec<ImportedReferral>, Vec<Issue>> {
    let mut ctx = Ctx { entries: Vec::new(), index: HashMap::new(), issues: Vec::new() };
    if bundle["resourceType"] != "Bundle" {
        ctx.issue("structure", "resourceType", format!("expected a Bundle, got {}", bundle["resourceType"]));
        return Err(ctx.issues);
    }
    match bundle["type"].as_str() {
        Some("transaction" | "collection" | "searchset" | "batch") => {}
        other => ctx.issue("value", "Bundle.type", format!("Bundle.type {other:?} cannot be imported; use \"transaction\"")),
    }
    let Some(entries) = bundle["entry"].as_array() else {
        ctx.issue("required", "Bundle.entry", "the Bundle has no entries");
        return Err(ctx.issues);
    };
    for (i, e) in entries.iter().enumerate() {
        let full_url = str_at(e, "fullUrl").unwrap_or("").to_string();
        let Some(res) = e.get("resource").filter(|r| r.is_object()) else {
            ctx.issue("required", format!("Bundle.entry[{i}]"), "entry has no resource");
            continue;
        };
        let Some(rtype) = str_at(res, "resourceType") else {
            ctx.issue("required", format!("Bundle.entry[{i}].resource.resourceType"), "resource has no resourceType");
            continue;
        };
        if bundle["type"] == "transaction" && e.pointer("/request/method").and_then(Value::as_str) != Some("POST") {
            ctx.issue("value", format!("Bundle.entry[{i}].request.method"), "every entry of an import transaction must be a POST");
        }
        let n = ctx.entries.len();
        if !full_url.is_empty() {
            if ctx.index.insert(full_url.clone(), n).is_some() {
                ctx.issue("duplicate", format!("Bundle.entry[{i}].fullUrl"), format!("fullUrl {full_url:?} appears twice"));
            }
            // `…/Type/id` full URLs also answer to `Type/id`.
            let parts: Vec<&str> = full_url.rsplitn(3, '/').collect();
            if parts.len() == 3 && parts[1] == rtype {
                ctx.index.insert(format!("{rtype}/{}", parts[0]), n);
            }
        }
        if let Some(id) = str_at(res, "id") {
            ctx.index.insert(format!("{rtype}/{id}"), n);
        }
        ctx.entries.push((full_url, res));
    }
    let requests: Vec<usize> = (0..ctx.entries.len()).filter(|&i| ctx.entries[i].1["resourceType"] == "ServiceRequest").collect();
    if requests.is_empty() {
        ctx.issue("required", "Bundle.entry", "the Bundle has no ServiceRequest (the referral)");
    }
    let mut out = Vec::new();
    for sr in requests {
        if let Some(r) = read_referral(&mut ctx, sr, opts) {
            out.push(r);
        }
    }
    if ctx.issues.is_empty() { Ok(out) } else { Err(ctx.issues) }
}

fn read_organisation(ctx: &mut Ctx, at: usize, kind: OrganisationKind, services: Vec<String>) -> Option<Organisation> {
    let res = ctx.entries[at].1;
    let p = ctx.path(at);
    let ods = identifier(res, codes::ODS_ORG).map(str::to_string);
    let name = str_at(res, "name").map(str::to_string);
    if ods.is_none() {
        ctx.issue("required", format!("{p}.identifier"), format!("an Organization needs an ODS code (system {})", codes::ODS_ORG));
    }
    if name.is_none() {
        ctx.issue("required", format!("{p}.name"), "an Organization needs a name");
    }
    Some(Organisation {
        id: uuid_of(identifier(res, &id_system("organisation"))).unwrap_or_default(),
        kind,
        ods_code: ods?,
        name: name?,
        services,
    })
}

/// Reads a PractitionerRole (or a bare Practitioner) into a user.
fn read_user(ctx: &mut Ctx, at: usize, role: Role, org: Option<OrganisationId>) -> Option<User> {
    let (practitioner_at, org_id, role) = if ctx.entries[at].1["resourceType"] == "PractitionerRole" {
        let pr = ctx.entries[at].1;
        let p = ctx.path(at);
        let practitioner = ctx.resolve(pr.get("practitioner"), "Practitioner", &format!("{p}.practitioner"), true)?;
        let role = pr["code"]
            .as_array()
            .and_then(|cs_| cs_.iter().find_map(|c| coding_code(c, &cs("role"))))
            .and_then(Role::parse)
            .unwrap_or(role);
        (practitioner.0, org, role)
    } else {
        (at, org, role)
    };
    let res = ctx.entries[practitioner_at].1;
    let p = ctx.path(practitioner_at);
    let email = res["telecom"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["system"] == "email"))
        .and_then(|t| str_at(t, "value"))
        .map(str::to_string)
        .or_else(|| identifier(res, "https://fhir.nhs.uk/Id/sds-user-id").map(|s| format!("sds-{s}@users.invalid")));
    let name = res["name"].as_array().and_then(|n| n.first()).and_then(|n| {
        str_at(n, "text").map(str::to_string).or_else(|| {
            let given: Vec<&str> = n["given"].as_array().map(|g| g.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let family = str_at(n, "family").unwrap_or("");
            let full = format!("{} {family}", given.join(" ")).trim().to_string();
            (!full.is_empty()).then_some(full)
        })
    });
    if email.is_none() {
        ctx.issue("required", format!("{p}.telecom"), "a Practitioner needs an email telecom or an SDS user ID identifier");
    }
    if name.is_none() {
        ctx.issue("required", format!("{p}.name"), "a Practitioner needs a name");
    }
    let Some(org_id) = org_id else {
        ctx.issue("required", p.clone(), "cannot tell which organisation this practitioner works for");
        return None;
    };
    Some(User {
        profession: None,
        id: uuid_of(identifier(res, &id_system("user"))).unwrap_or_default(),
        email: email?,
        display_name: name?,
        role,
        organisation_id: org_id,
        services: Vec::new(),
    })
}

fn read_patient(ctx: &mut Ctx, at: usize) -> Option<Patient> {
    let res = ctx.entries[at].1;
    let p = ctx.path(at);
    let nhs = match identifier(res, codes::NHS_NUMBER) {
        None => {
            ctx.issue("required", format!("{p}.identifier"), format!("the Patient needs an NHS number (system {})", codes::NHS_NUMBER));
            None
        }
        Some(n) => match NhsNumber::parse(n) {
            Ok(n) => Some(n),
            Err(e) => {
                ctx.issue("value", format!("{p}.identifier.value"), format!("NHS number {n:?}: {e}"));
                None
            }
        },
    };
    let name = res["name"].as_array().and_then(|n| n.iter().find(|n| n["use"] == "official").or(n.first()));
    let family = name.and_then(|n| str_at(n, "family")).map(str::to_string);
    let given = name.and_then(|n| n["given"].as_array()).map(|g| g.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "));
    if family.is_none() {
        ctx.issue("required", format!("{p}.name.family"), "the Patient needs a family name");
    }
    let given = given.filter(|g| !g.is_empty());
    if given.is_none() {
        ctx.issue("required", format!("{p}.name.given"), "the Patient needs a given name");
    }
    let dob = match str_at(res, "birthDate") {
        None => {
            ctx.issue("required", format!("{p}.birthDate"), "the Patient needs a date of birth");
            None
        }
        Some(d) => {
            let parsed = NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
            if parsed.is_none() {
                ctx.issue("value", format!("{p}.birthDate"), format!("{d:?} is not a full date (YYYY-MM-DD)"));
            }
            parsed
        }
    };
    let sex = match str_at(res, "gender") {
        None => Some(telederm_domain::patient::Sex::Unknown),
        Some(g) => {
            let s = codes::sex_from_gender(g);
            if s.is_none() {
                ctx.issue("code-invalid", format!("{p}.gender"), format!("{g:?} is not male, female, other or unknown"));
            }
            s
        }
    };
    let postcode = res["address"].as_array().and_then(|a| a.iter().find_map(|a| str_at(a, "postalCode"))).map(str::to_string);
    if postcode.is_none() {
        ctx.issue("required", format!("{p}.address.postalCode"), "the Patient needs a postcode");
    }
    let telecom = |system: &str| {
        res["telecom"].as_array().and_then(|t| t.iter().find(|t| t["system"] == system)).and_then(|t| str_at(t, "value")).map(str::to_string)
    };
    Some(Patient {
        nhs_number: nhs?,
        given_name: given?,
        family_name: family?,
        date_of_birth: dob?,
        sex: sex?,
        postcode: postcode?,
        contact: Contact {
            email: telecom("email"),
            phone: telecom("phone"),
            prefers: match extension(res, "contact-preference").and_then(|e| str_at(e, "valueCode")) {
                Some("email") => Some(telederm_domain::patient::ContactPreference::Email),
                Some("text") => Some(telederm_domain::patient::ContactPreference::Text),
                Some("letter") => Some(telederm_domain::patient::ContactPreference::Letter),
                Some(other) => {
                    ctx.issue("code-invalid", format!("{p}.extension"), format!("contact-preference {other:?} is not email, text or letter"));
                    None
                }
                None => None,
            },
            large_print: extension(res, "large-print").and_then(|e| e["valueBoolean"].as_bool()).unwrap_or(false),
        },
        ethnic_category: None,
        fitzpatrick_type: None,
    })
}

fn read_consent(ctx: &mut Ctx, at: usize) -> Option<Consent> {
    let res = ctx.entries[at].1;
    let p = ctx.path(at);
    let given_by = match extension(res, "consent-given-by").and_then(|e| str_at(e, "valueCode")) {
        Some("patient") | None => Some(ConsentGivenBy::Patient),
        Some("parent_or_guardian") => Some(ConsentGivenBy::ParentOrGuardian),
        Some("best_interests_decision") => Some(ConsentGivenBy::BestInterestsDecision),
        Some(other) => {
            ctx.issue("code-invalid", format!("{p}.extension"), format!("consent-given-by {other:?} is not patient, parent_or_guardian or best_interests_decision"));
            None
        }
    };
    let method = match extension(res, "consent-method").and_then(|e| str_at(e, "valueCode")) {
        Some("verbal") | None => Some(ConsentMethod::Verbal),
        Some("written") => Some(ConsentMethod::Written),
        Some("electronic") => Some(ConsentMethod::Electronic),
        Some(other) => {
            ctx.issue("code-invalid", format!("{p}.extension"), format!("consent-method {other:?} is not verbal, written or electronic"));
            None
        }
    };
    let provisions = res.pointer("/provision/provision").and_then(Value::as_array).cloned().unwrap_or_default();
    let scope = |purpose: &str| {
        provisions
            .iter()
            .find(|pr| pr["purpose"].as_array().is_some_and(|ps| ps.iter().any(|c| c["code"] == purpose)))
            .map(|pr| pr["type"] == "permit")
    };
    let direct_care = scope("direct-care").unwrap_or_else(|| res.pointer("/provision/type") == Some(&json!("permit")));
    Some(Consent {
        given_by: given_by?,
        method: method?,
        direct_care,
        teaching: scope("teaching").unwrap_or(false),
        research: scope("research").unwrap_or(false),
    })
}

fn read_photo(ctx: &mut Ctx, at: usize, referral: ReferralId) -> Option<Photo> {
    let res = ctx.entries[at].1;
    let p = ctx.path(at);
    let attachment = res.pointer("/content/0/attachment");
    let Some(attachment) = attachment else {
        ctx.issue("required", format!("{p}.content"), "a photo DocumentReference needs content[0].attachment");
        return None;
    };
    let url = attachment.get("url").map(|u| json!({ "reference": u }));
    let (_, binary) = ctx.resolve(url.as_ref(), "Binary", &format!("{p}.content[0].attachment.url"), true)?;
    let data = binary["data"].as_str().and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok());
    let Some(bytes) = data else {
        ctx.issue("required", format!("{p}.content[0].attachment.url"), "the Binary has no base64 data");
        return None;
    };
    let content_type = str_at(attachment, "contentType").or(str_at(binary, "contentType")).unwrap_or("");
    let actual = crate::export::image_content_type(&bytes, "");
    if actual.is_empty() {
        ctx.issue("value", format!("{p}.content[0].attachment"), "the photo is neither JPEG nor PNG");
    } else if !content_type.is_empty() && content_type != actual {
        ctx.issue("value", format!("{p}.content[0].attachment.contentType"), format!("contentType {content_type:?} but the bytes are {actual}"));
    }
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        ctx.issue("too-long", format!("{p}.content[0].attachment.size"), format!("the photo is {} bytes; the limit is {MAX_ATTACHMENT_BYTES} (5 MiB)", bytes.len()));
    }
    if let Some(size) = attachment.get("size").and_then(Value::as_u64)
        && size != bytes.len() as u64
    {
        ctx.issue("value", format!("{p}.content[0].attachment.size"), format!("size says {size} bytes but the data is {}", bytes.len()));
    }
    if let Some(hash) = str_at(attachment, "hash") {
        let actual = crate::export::b64(&sha1::Sha1::digest(&bytes));
        if hash != actual {
            ctx.issue("value", format!("{p}.content[0].attachment.hash"), "the SHA-1 hash does not match the data");
        }
    }
    if let Some(sha256) = extension(res, "sha256").and_then(|e| str_at(e, "valueString"))
        && sha256 != crate::sha256_hex(&bytes)
    {
        ctx.issue("value", format!("{p}.extension"), "the SHA-256 extension does not match the data");
    }
    let kind_code = extension(res, "photo-kind").and_then(|e| str_at(e, "valueCode")).unwrap_or("close_up");
    let kind = match kind_code {
        "locator" => PhotoKind::Locator,
        "close_up" => PhotoKind::CloseUp,
        "dermoscopic" => PhotoKind::Dermoscopic,
        other => {
            ctx.issue("code-invalid", format!("{p}.extension"), format!("photo-kind {other:?} is not locator, close_up or dermoscopic"));
            return None;
        }
    };
    let source = match extension(res, "image-source").and_then(|e| str_at(e, "valueCode")) {
        Some("patient") => ImageSource::Patient,
        _ => ImageSource::Clinician,
    };
    let dermoscopic = extension(res, "dermoscopic").and_then(|e| e["valueBoolean"].as_bool()).unwrap_or(kind == PhotoKind::Dermoscopic);
    let verdict = extension(res, "image-quality-verdict").and_then(|e| str_at(e, "valueCode")).and_then(Verdict::parse).unwrap_or(Verdict::Accept);
    let dims = image_dimensions(&bytes).unwrap_or((0, 0));
    let width = extension(res, "image-width").and_then(|e| e["valueInteger"].as_i64()).unwrap_or(i64::from(dims.0));
    let height = extension(res, "image-height").and_then(|e| e["valueInteger"].as_i64()).unwrap_or(i64::from(dims.1));
    let created_at = str_at(res, "date").and_then(parse_instant).unwrap_or_else(Utc::now);
    let uploaded_by = res.pointer("/author/0/reference").and_then(Value::as_str).and_then(|r| r.strip_prefix("Practitioner/")).and_then(|s| uuid_of(Some(s)));
    let key = crate::sha256_hex(&bytes);
    Some(Photo {
        record: PhotoRecord {
            face_confirmed: None,
            id: uuid_of(identifier(res, &id_system("photo"))).unwrap_or_else(PhotoId::new),
            referral_id: referral,
            kind,
            source,
            uploaded_by,
            original_key: key.clone(),
            original_type: actual.clone(),
            attachment_key: key.clone(),
            preview_key: key.clone(),
            thumbnail_key: key,
            width,
            height,
            size_bytes: bytes.len() as i64,
            verdict,
            report: json!({ "imported": true, "dermoscopic": dermoscopic, "verdict": verdict.as_str() }),
            created_at,
        },
        bytes,
    })
}

/// The largest document a Bundle may carry (a sanity bound: the HTTP import holds each document
/// to the service's own limit).
pub const MAX_DOCUMENT_BYTES: usize = 100 * 1024 * 1024;

fn read_document(ctx: &mut Ctx, at: usize, referral: ReferralId) -> Option<Document> {
    let res = ctx.entries[at].1;
    let p = ctx.path(at);
    let Some(attachment) = res.pointer("/content/0/attachment") else {
        ctx.issue("required", format!("{p}.content"), "a document DocumentReference needs content[0].attachment");
        return None;
    };
    let url = attachment.get("url").map(|u| json!({ "reference": u }));
    let (_, binary) = ctx.resolve(url.as_ref(), "Binary", &format!("{p}.content[0].attachment.url"), true)?;
    let Some(bytes) = binary["data"].as_str().and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok()) else {
        ctx.issue("required", format!("{p}.content[0].attachment.url"), "the Binary has no base64 data");
        return None;
    };
    if !telederm_domain::document::is_pdf(&bytes) {
        ctx.issue("value", format!("{p}.content[0].attachment"), "the document is not a PDF (no %PDF- header)");
    }
    if let Some(ct) = str_at(attachment, "contentType").filter(|ct| *ct != "application/pdf") {
        ctx.issue("value", format!("{p}.content[0].attachment.contentType"), format!("contentType {ct:?}: a document must be application/pdf"));
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        ctx.issue("too-long", format!("{p}.content[0].attachment.size"), format!("the document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}", bytes.len()));
    }
    if let Some(size) = attachment.get("size").and_then(Value::as_u64)
        && size != bytes.len() as u64
    {
        ctx.issue("value", format!("{p}.content[0].attachment.size"), format!("size says {size} bytes but the data is {}", bytes.len()));
    }
    if let Some(hash) = str_at(attachment, "hash")
        && hash != crate::export::b64(&sha1::Sha1::digest(&bytes))
    {
        ctx.issue("value", format!("{p}.content[0].attachment.hash"), "the SHA-1 hash does not match the data");
    }
    if let Some(sha256) = extension(res, "sha256").and_then(|e| str_at(e, "valueString"))
        && sha256 != crate::sha256_hex(&bytes)
    {
        ctx.issue("value", format!("{p}.extension"), "the SHA-256 extension does not match the data");
    }
    let code = extension(res, "document-kind")
        .and_then(|e| str_at(e, "valueCode"))
        .or_else(|| res["category"].as_array().and_then(|c| c.iter().find_map(|x| coding_code(x, &cs("document-kind")))))
        .unwrap_or("other");
    let Some(kind) = telederm_domain::document::DocumentKind::parse(code) else {
        ctx.issue("code-invalid", format!("{p}.extension"), format!("document-kind {code:?} is not referral_letter, consent_form or other"));
        return None;
    };
    // The title: its extension, else a description other than the kind's own name.
    let title = extension(res, "document-title")
        .and_then(|e| str_at(e, "valueString"))
        .or_else(|| str_at(res, "description").filter(|d| *d != kind.label()))
        .map(str::to_string);
    let title = match telederm_domain::document::normalise_title(title.as_deref()) {
        Ok(t) => t,
        Err(reason) => {
            ctx.issue("value", format!("{p}.description"), reason);
            return None;
        }
    };
    let uploaded_by = res.pointer("/author/0/reference").and_then(Value::as_str).and_then(|r| r.strip_prefix("Practitioner/")).and_then(|s| uuid_of(Some(s)));
    Some(Document {
        record: DocumentRecord {
            id: uuid_of(identifier(res, &id_system("document"))).unwrap_or_else(telederm_domain::DocumentId::new),
            referral_id: referral,
            kind,
            title,
            blob_key: crate::sha256_hex(&bytes),
            size_bytes: bytes.len() as i64,
            sha256: crate::sha256_hex(&bytes),
            uploaded_by,
            created_at: str_at(res, "date").and_then(parse_instant).unwrap_or_else(Utc::now),
        },
        bytes,
    })
}

fn read_outcome(ctx: &mut Ctx, task_at: usize, outputs: &[Value], users: &mut Vec<(usize, Role)>) -> Option<Outcome> {
    let p = ctx.path(task_at);
    let mut by_type: HashMap<String, (usize, &Value)> = HashMap::new();
    for (i, o) in outputs.iter().enumerate() {
        if let Some(t) = coding_code(&o["type"], &cs("task-output")) {
            by_type.insert(t.to_string(), (i, o));
        }
    }
    let (oi, out) = by_type.get("outcome").copied()?;
    let code = match coding_code(&out["valueCodeableConcept"], &cs("outcome")).map(|c| (c, OutcomeCode::parse(c))) {
        Some((_, Some(c))) => c,
        Some((c, None)) => {
            ctx.issue("code-invalid", format!("{p}.output[{oi}].valueCodeableConcept"), format!("{c:?} is not a Telederm outcome code"));
            return None;
        }
        None => {
            ctx.issue("required", format!("{p}.output[{oi}].valueCodeableConcept"), format!("the outcome needs a code from {}", cs("outcome")));
            return None;
        }
    };
    let text = |name: &str| by_type.get(name).and_then(|(_, o)| str_at(o, "valueString")).unwrap_or("").to_string();
    let rejection_reason = by_type.get("rejection-reason").and_then(|(_, o)| coding_code(&o["valueCodeableConcept"], &cs("rejection-reason"))).map(|c| {
        [RejectionReason::PoorImageQuality, RejectionReason::Ineligible, RejectionReason::ShouldBeTwoWeekWait, RejectionReason::InsufficientInformation, RejectionReason::Other]
            .into_iter()
            .find(|r| r.as_str() == c)
            .unwrap_or(RejectionReason::Other)
    });
    let recorded_by = match by_type.get("recorded-by").copied() {
        Some((i, o)) => {
            let at = format!("{p}.output[{i}].valueReference");
            let target = ctx.resolve(o.get("valueReference"), "Practitioner", &at, true)?;
            users.push((target.0, Role::Consultant));
            UserId::from(uuid::Uuid::from_u128(target.0 as u128))
        }
        None => {
            ctx.issue("required", format!("{p}.output"), "the outcome needs a recorded-by output (the consultant)");
            return None;
        }
    };
    let recorded_at = by_type.get("recorded-at").and_then(|(_, o)| str_at(o, "valueDateTime")).and_then(parse_instant).unwrap_or_else(Utc::now);
    let priority = by_type.get("outcome-priority").and_then(|(_, o)| o.pointer("/valueCoding/code")).and_then(Value::as_str).and_then(codes::priority_from_ers);
    let outcome = Outcome {
        code,
        rejection_reason,
        diagnosis: text("diagnosis"),
        diagnosis_code: by_type.get("diagnosis-code").and_then(|(_, o)| coding_code(&o["valueCodeableConcept"], codes::SNOMED)).map(str::to_string),
        management_plan: text("management-plan"),
        follow_up: text("follow-up"),
        priority,
        onward_service: by_type.get("onward-service").and_then(|(_, o)| str_at(o, "valueString")).map(str::to_string),
        recorded_by,
        recorded_at,
    };
    if let Err(e) = outcome.validate() {
        ctx.issue("invariant", format!("{p}.output"), format!("outcome: {e}"));
        return None;
    }
    Some(outcome)
}

/// Placeholder user ids: entry index of the user's PractitionerRole/Practitioner, resolved to real
/// ids once the users are read.
fn placeholder(entry: usize) -> UserId {
    UserId::from(uuid::Uuid::from_u128(entry as u128))
}

fn read_referral(ctx: &mut Ctx, sr_at: usize, opts: &ImportOptions) -> Option<ImportedReferral> {
    let sr = ctx.entries[sr_at].1;
    let p = ctx.path(sr_at);
    let before = ctx.issues.len();
    let id: ReferralId = match identifier(sr, &id_system("referral")) {
        Some(v) => uuid_of(Some(v)).unwrap_or_else(|| {
            ctx.issue("value", format!("{p}.identifier"), format!("Telederm referral identifier {v:?} is not a UUID"));
            ReferralId::new()
        }),
        None => ReferralId::new(),
    };
    let sr_status = str_at(sr, "status");
    if sr_status.is_none() {
        ctx.issue("required", format!("{p}.status"), "ServiceRequest.status is required");
    }
    match str_at(sr, "intent") {
        Some("order" | "original-order" | "proposal" | "plan") => {}
        Some(other) => ctx.issue("value", format!("{p}.intent"), format!("intent {other:?}: a referral is an \"order\"")),
        None => ctx.issue("required", format!("{p}.intent"), "ServiceRequest.intent is required (\"order\")"),
    }
    let route = sr["category"].as_array().and_then(|c| c.iter().find_map(|c| coding_code(c, codes::SR_CATEGORY))).map(|c| (c, codes::route_from_category(c)));
    let route = match route {
        Some((_, Some(r))) => Some(r),
        Some((c, None)) => {
            ctx.issue("code-invalid", format!("{p}.category"), format!("category {c:?} is not \"referral\" (RAS) or \"request\" (A&G)"));
            None
        }
        None => {
            ctx.issue("required", format!("{p}.category"), format!("the route is required: category {} \"referral\" or \"request\"", codes::SR_CATEGORY));
            None
        }
    };
    let priority = extension(sr, "ers-priority")
        .and_then(|e| e.pointer("/valueCoding/code"))
        .and_then(Value::as_str)
        .and_then(codes::priority_from_ers)
        .or_else(|| str_at(sr, "priority").and_then(codes::priority_from_fhir));
    if priority.is_none() && str_at(sr, "priority").is_some() {
        ctx.issue("code-invalid", format!("{p}.priority"), "priority must be routine, urgent, asap or stat");
    }
    let priority = priority.unwrap_or(Priority::Routine);

    let patient = ctx.resolve(sr.get("subject"), "Patient", &format!("{p}.subject"), true).and_then(|(i, _)| read_patient(ctx, i));

    // Requester: PractitionerRole → Practitioner + practice Organization.
    let requester = ctx.resolve(sr.get("requester"), "PractitionerRole", &format!("{p}.requester"), true);
    let practice = requester.and_then(|(i, pr)| {
        let at = format!("{}.organization", ctx.path(i));
        ctx.resolve(pr.get("organization"), "Organization", &at, true)
    });
    let practice = practice.and_then(|(i, _)| read_organisation(ctx, i, OrganisationKind::GpPractice, Vec::new()));

    // Performer: the Telederm service (HealthcareService) and its provider.
    let service = ctx.resolve(sr.pointer("/performer/0"), "HealthcareService", &format!("{p}.performer[0]"), true);
    let mut service_id = None;
    let mut provider = None;
    if let Some((si, hs)) = service {
        let sp = ctx.path(si);
        match identifier(hs, &id_system("service")) {
            Some(s) => {
                if opts.known_services.as_ref().is_some_and(|known| !known.iter().any(|k| k == s)) {
                    ctx.issue("not-found", format!("{sp}.identifier"), format!("this installation runs no service {s:?}"));
                }
                service_id = Some(s.to_string());
            }
            None => ctx.issue("required", format!("{sp}.identifier"), format!("the HealthcareService needs a Telederm service id (system {})", id_system("service"))),
        }
        if hs.get("providedBy").is_some()
            && let Some((oi, _)) = ctx.resolve(hs.get("providedBy"), "Organization", &format!("{sp}.providedBy"), true)
        {
            provider = read_organisation(ctx, oi, OrganisationKind::Provider, service_id.iter().cloned().collect());
        }
    }

    // Users: collected as (entry, default role) and read once the organisations are known.
    let mut user_refs: Vec<(usize, Role)> = Vec::new();
    if let Some((i, _)) = requester {
        user_refs.push((i, Role::Referrer));
    }

    // Clinical history and eligibility answers.
    let mut qr_at = None;
    for (j, s) in sr["supportingInfo"].as_array().cloned().unwrap_or_default().iter().enumerate() {
        let r = s.get("reference").and_then(Value::as_str).unwrap_or("");
        if let Some(&i) = ctx.index.get(r)
            && ctx.entries[i].1["resourceType"] == "QuestionnaireResponse"
        {
            qr_at = Some(i);
        } else if !ctx.index.contains_key(r) {
            ctx.issue("not-found", format!("{p}.supportingInfo[{j}].reference"), format!("{r:?} does not resolve in the Bundle"));
        }
    }
    let qr_at = qr_at.or_else(|| ctx.referring("QuestionnaireResponse", sr_at, "basedOn").first().copied());
    let (history, eligibility_answers) = match qr_at {
        None => {
            ctx.issue("required", format!("{p}.supportingInfo"), format!("the referral needs a QuestionnaireResponse to {} (clinical history)", codes::QUESTIONNAIRE_URL));
            (Default::default(), None)
        }
        Some(i) => {
            let qr = ctx.entries[i].1;
            let qp = ctx.path(i);
            let q = str_at(qr, "questionnaire").unwrap_or("");
            if q.split('|').next() != Some(codes::QUESTIONNAIRE_URL) {
                ctx.issue("value", format!("{qp}.questionnaire"), format!("questionnaire {q:?} is not {}", codes::QUESTIONNAIRE_URL));
            }
            let items = qr["item"].as_array().cloned().unwrap_or_default();
            let mut problems = Vec::new();
            let read = questionnaire::read_response(&items, &qp, &mut problems);
            for (at, what) in problems {
                ctx.issue("invalid", at, what);
            }
            read
        }
    };
    let mut history = history;
    if history.body_sites.is_empty()
        && let Some(sites) = sr["bodySite"].as_array()
    {
        history.body_sites = sites
            .iter()
            .filter_map(|s| coding_code(s, &cs("body-site")).or(str_at(s, "text")).map(str::to_string))
            .collect();
    }

    let consent = sr["supportingInfo"]
        .as_array()
        .and_then(|s| s.iter().filter_map(|r| r["reference"].as_str()).find_map(|r| ctx.index.get(r).copied()))
        .into_iter()
        .chain((0..ctx.entries.len()).filter(|&i| ctx.entries[i].1["resourceType"] == "Consent"))
        .filter(|&i| ctx.entries[i].1["resourceType"] == "Consent")
        .find(|&i| {
            let pref = ctx.entries[i].1.pointer("/patient/reference").and_then(Value::as_str);
            let subj = sr.pointer("/subject/reference").and_then(Value::as_str);
            pref.is_some() && pref.and_then(|r| ctx.index.get(r)) == subj.and_then(|r| ctx.index.get(r))
        });
    let consent = consent.and_then(|i| read_consent(ctx, i));

    // Photos: DocumentReferences of type clinical-photograph in supportingInfo.
    let mut photos = Vec::new();
    for s in sr["supportingInfo"].as_array().cloned().unwrap_or_default() {
        let r = s.get("reference").and_then(Value::as_str).unwrap_or("");
        if let Some(&i) = ctx.index.get(r)
            && ctx.entries[i].1["resourceType"] == "DocumentReference"
            && coding_code(&ctx.entries[i].1["type"], &cs("document-type")).is_none_or(|c| c == "clinical-photograph")
            && let Some(photo) = read_photo(ctx, i, id)
        {
            photos.push((i, photo));
        }
    }
    // Documents: DocumentReferences of type referral-document in supportingInfo.
    let mut documents = Vec::new();
    for s in sr["supportingInfo"].as_array().cloned().unwrap_or_default() {
        let r = s.get("reference").and_then(Value::as_str).unwrap_or("");
        if let Some(&i) = ctx.index.get(r)
            && ctx.entries[i].1["resourceType"] == "DocumentReference"
            && coding_code(&ctx.entries[i].1["type"], &cs("document-type")) == Some(crate::export::REFERRAL_DOCUMENT.0)
            && let Some(doc) = read_document(ctx, i, id)
        {
            documents.push((i, doc));
        }
    }

    // Task: status, deadline, owner, outcome.
    let tasks = ctx.referring("Task", sr_at, "focus");
    let mut status = match sr_status {
        Some("draft") => Some(ReferralStatus::Draft),
        Some("active") => Some(ReferralStatus::Submitted),
        Some(s) if tasks.is_empty() => {
            ctx.issue("required", format!("{p}.status"), format!("a {s:?} referral needs its Task (status and outcome)"));
            None
        }
        _ => None,
    };
    let mut due_date = None;
    let mut created_at = None;
    let mut updated_at = str_at(&sr["meta"], "lastUpdated").and_then(parse_instant);
    let mut assignee_at = None;
    let mut outcome = None;
    if let Some(&ti) = tasks.first() {
        let t = ctx.entries[ti].1;
        let tp = ctx.path(ti);
        let bs = coding_code(&t["businessStatus"], &cs("task-business-status"));
        match str_at(t, "status").map(|s| (s, codes::status_from_task(s, bs))) {
            Some((_, Some(s))) => status = Some(s),
            Some((s, None)) => ctx.issue("code-invalid", format!("{tp}.status"), format!("Task.status {s:?} is not a workflow status Telederm knows")),
            None => ctx.issue("required", format!("{tp}.status"), "Task.status is required"),
        }
        if let Some(end) = t.pointer("/restriction/period/end").and_then(Value::as_str) {
            due_date = parse_date_prefix(end);
            if due_date.is_none() {
                ctx.issue("value", format!("{tp}.restriction.period.end"), format!("{end:?} is not a date"));
            }
        }
        created_at = str_at(t, "authoredOn").and_then(parse_instant);
        updated_at = str_at(t, "lastModified").and_then(parse_instant).or(updated_at);
        // The owner is the consultant's PractitionerRole once claimed, the provider before.
        let owner_is_role = t
            .pointer("/owner/reference")
            .and_then(Value::as_str)
            .and_then(|r| ctx.index.get(r))
            .is_some_and(|&i| ctx.entries[i].1["resourceType"] == "PractitionerRole");
        if owner_is_role
            && let Some((oi, _)) = ctx.resolve(t.get("owner"), "PractitionerRole", &format!("{tp}.owner"), false)
        {
            assignee_at = Some(oi);
            user_refs.push((oi, Role::Consultant));
        }
        let outputs = t["output"].as_array().cloned().unwrap_or_default();
        outcome = read_outcome(ctx, ti, &outputs, &mut user_refs);
    }
    if matches!(status, Some(ReferralStatus::OutcomeIssued | ReferralStatus::Closed)) && outcome.is_none() {
        ctx.issue("required", p.clone(), "a completed referral needs its outcome (Task.output of type outcome)");
    }

    // Messages.
    let mut messages = Vec::new();
    for ci in ctx.referring("Communication", sr_at, "basedOn") {
        let c = ctx.entries[ci].1;
        let cp = ctx.path(ci);
        let kind = c["category"].as_array().and_then(|cs_| cs_.iter().find_map(|x| coding_code(x, codes::ERS_COMM_SENT_BY))).and_then(codes::message_kind);
        let Some(kind) = kind else {
            ctx.issue("required", format!("{cp}.category"), format!("a Communication needs category {} REQUESTER or RESPONDER", codes::ERS_COMM_SENT_BY));
            continue;
        };
        let body: Vec<&str> = c["payload"].as_array().map(|ps| ps.iter().filter_map(|x| x["contentString"].as_str()).collect()).unwrap_or_default();
        if body.is_empty() {
            ctx.issue("required", format!("{cp}.payload"), "a Communication needs payload.contentString");
            continue;
        }
        let sender_at = match c.pointer("/sender/reference") {
            Some(_) => ctx.resolve(c.get("sender"), "Practitioner", &format!("{cp}.sender"), false).map(|x| x.0),
            None => None,
        };
        if let Some(s) = sender_at {
            user_refs.push((s, if kind == MessageKindExt::REQUEST { Role::Consultant } else { Role::Referrer }));
        }
        messages.push((
            sender_at,
            Message {
                id: uuid_of(identifier(c, &id_system("message"))).unwrap_or_else(MessageId::new),
                referral_id: id,
                kind,
                author_id: sender_at.map(placeholder),
                author_name: c.pointer("/sender/display").and_then(Value::as_str).unwrap_or("").to_string(),
                body: body.join("\n\n"),
                created_at: str_at(c, "sent").and_then(parse_instant).unwrap_or_else(Utc::now),
                topic: None,
            },
        ));
    }
    // Document authors.
    for (i, doc) in &mut documents {
        doc.record.uploaded_by = None;
        let r = ctx.entries[*i].1.pointer("/author/0").cloned();
        if let Some(r) = r
            && let Some((ui, _)) = ctx.resolve(Some(&r), "Practitioner", &format!("{}.author[0]", ctx.path(*i)), false)
        {
            user_refs.push((ui, Role::Referrer));
            doc.record.uploaded_by = Some(placeholder(ui));
        }
    }
    // Photo authors.
    for (i, photo) in &mut photos {
        photo.record.uploaded_by = None;
        let r = ctx.entries[*i].1.pointer("/author/0").cloned();
        if let Some(r) = r
            && let Some((ui, _)) = ctx.resolve(Some(&r), "Practitioner", &format!("{}.author[0]", ctx.path(*i)), false)
        {
            user_refs.push((ui, Role::Referrer));
            photo.record.uploaded_by = Some(placeholder(ui));
        }
    }

    // Read the users now, each once, keyed by their Practitioner entry.
    let practice_id = practice.as_ref().map(|o| o.id);
    let provider_id = provider.as_ref().map(|o| o.id);
    let mut users: Vec<(usize, User)> = Vec::new();
    let mut entry_to_user: HashMap<usize, UserId> = HashMap::new();
    for (entry, role) in user_refs {
        let practitioner_entry = if ctx.entries[entry].1["resourceType"] == "PractitionerRole" {
            ctx.entries[entry].1.pointer("/practitioner/reference").and_then(Value::as_str).and_then(|r| ctx.index.get(r).copied())
        } else {
            Some(entry)
        };
        let Some(pe) = practitioner_entry else { continue };
        if let Some((_, u)) = users.iter().find(|(e, _)| *e == pe) {
            entry_to_user.insert(entry, u.id);
            continue;
        }
        // A PractitionerRole says where the user works; a bare Practitioner takes the org its role
        // elsewhere in the Bundle gives, else the provider (consultants) or practice (referrers).
        let org = if ctx.entries[entry].1["resourceType"] == "PractitionerRole" {
            let r = ctx.entries[entry].1.pointer("/organization/reference").and_then(Value::as_str).and_then(|r| ctx.index.get(r).copied());
            r.and_then(|oi| identifier(ctx.entries[oi].1, codes::ODS_ORG).map(str::to_string))
                .and_then(|ods| {
                    [practice.as_ref(), provider.as_ref()].into_iter().flatten().find(|o| o.ods_code == ods).map(|o| o.id)
                })
                .or(if role == Role::Referrer { practice_id } else { provider_id.or(practice_id) })
        } else {
            let role_entry = (0..ctx.entries.len()).find(|&i| {
                ctx.entries[i].1["resourceType"] == "PractitionerRole"
                    && ctx.entries[i].1.pointer("/practitioner/reference").and_then(Value::as_str).and_then(|r| ctx.index.get(r)) == Some(&pe)
            });
            if let Some(re) = role_entry {
                let ods = ctx.entries[re].1.pointer("/organization/reference").and_then(Value::as_str).and_then(|r| ctx.index.get(r).copied()).and_then(|oi| identifier(ctx.entries[oi].1, codes::ODS_ORG).map(str::to_string));
                ods.and_then(|ods| [practice.as_ref(), provider.as_ref()].into_iter().flatten().find(|o| o.ods_code == ods).map(|o| o.id))
                    .or(if role == Role::Referrer { practice_id } else { provider_id.or(practice_id) })
            } else if role == Role::Referrer {
                practice_id
            } else {
                provider_id.or(practice_id)
            }
        };
        let source = if ctx.entries[entry].1["resourceType"] == "PractitionerRole" { entry } else { pe };
        if let Some(u) = read_user(ctx, source, role, org) {
            entry_to_user.insert(entry, u.id);
            entry_to_user.insert(pe, u.id);
            users.push((pe, u));
        }
    }
    let user_of = |entry: usize| entry_to_user.get(&entry).copied();
    let referrer_id = requester.and_then(|(i, _)| user_of(i));
    let assignee_id = assignee_at.and_then(user_of);
    if let Some(o) = &mut outcome {
        let placeholder_entry = o.recorded_by.0.as_u128() as usize;
        match user_of(placeholder_entry) {
            Some(u) => o.recorded_by = u,
            None => ctx.issue("not-found", p.clone(), "the outcome's recorded-by practitioner could not be read"),
        }
    }
    let messages: Vec<Message> = messages
        .into_iter()
        .map(|(sender, mut m)| {
            m.author_id = sender.and_then(user_of);
            if m.author_name.is_empty() {
                m.author_name = m.author_id.and_then(|a| users.iter().find(|(_, u)| u.id == a)).map(|(_, u)| u.display_name.clone()).unwrap_or_default();
            }
            m
        })
        .collect();
    let photos: Vec<Photo> = photos
        .into_iter()
        .map(|(_, mut ph)| {
            ph.record.uploaded_by = ph.record.uploaded_by.and_then(|u| user_of(u.0.as_u128() as usize));
            ph
        })
        .collect();

    let documents: Vec<Document> = documents
        .into_iter()
        .map(|(_, mut d)| {
            d.record.uploaded_by = d.record.uploaded_by.and_then(|u| user_of(u.0.as_u128() as usize));
            d
        })
        .collect();

    let eligibility = extension(sr, "eligibility-decision").and_then(|e| str_at(e, "valueString")).and_then(|s| {
        let v = serde_json::from_str::<Value>(s).ok();
        if v.is_none() {
            ctx.issue("value", format!("{p}.extension"), "eligibility-decision is not JSON");
        }
        v
    });
    let conversion_authorised = extension(sr, "conversion-authorised").and_then(|e| e["valueBoolean"].as_bool()).unwrap_or(false);
    let submitted_at = str_at(sr, "authoredOn").and_then(parse_instant);

    if ctx.issues.len() > before {
        return None;
    }
    let now = Utc::now();
    let created_at = created_at.or(submitted_at).unwrap_or(now);
    let mut users: Vec<User> = users.into_iter().map(|(_, u)| u).collect();
    if let (Some(s), Some(provider)) = (&service_id, &provider) {
        for u in users.iter_mut().filter(|u| u.role == Role::Consultant && u.organisation_id == provider.id) {
            u.services = vec![s.clone()];
        }
    }
    Some(ImportedReferral {
        referral: Referral {
            id,
            service_id: service_id?,
            route: route?,
            priority,
            status: status?,
            practice_id: practice.as_ref()?.id,
            referrer_id: referrer_id?,
            assignee_id,
            patient: patient?,
            history,
            consent,
            eligibility_answers,
            eligibility,
            conversion_authorised,
            ubrn: sr["identifier"]
                .as_array()
                .and_then(|ids| ids.iter().find(|i| i["system"] == crate::codes::UBRN))
                .and_then(|i| i["value"].as_str())
                .and_then(telederm_domain::referral::parse_ubrn),
            outcome,
            created_at,
            updated_at: updated_at.unwrap_or(created_at),
            submitted_at,
            due_date,
            version: 1,
            patient_answers: None,
        },
        practice: practice?,
        provider,
        users,
        photos,
        documents,
        messages,
    })
}

/// `MessageKind` values by name, for readability above.
struct MessageKindExt;
impl MessageKindExt {
    const REQUEST: telederm_domain::referral::MessageKind = telederm_domain::referral::MessageKind::InformationRequest;
}
