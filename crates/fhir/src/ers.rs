//! The NHS e-Referral Service (e-RS) as Telederm uses it: which e-RS operation and codes each
//! outcome becomes, an adapter trait for the triage and A&G operations, and an offline adapter that
//! writes the exact requests it would send to a directory.
//!
//! Operations (e-RS API catalogue numbers, `reference/interop-standards.md` §2):
//! A020 upload a file, A026 respond to an A&G request, A027 convert A&G to a referral,
//! A028 record a RAS triage (review) outcome. See `docs/outcomes.md` for the mapping table.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;
use serde_json::{Value, json};
use telederm_domain::outcome::{ErsTriageOutcome, OutcomeCode};
use telederm_domain::referral::{Priority, Route};

use crate::codes;

/// e-RS's per-file attachment limit: 5 MiB.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;

pub const GUIDANCE_RECOMMENDATION: &str = "https://fhir.nhs.uk/STU3/CodeSystem/eRS-GuidanceIntendedRecommendation-1";
pub const ATTACHMENT_TYPE: &str = "https://fhir.nhs.uk/STU3/CodeSystem/eRS-AttachmentType-1";
/// e-RS allows at most 8000 characters of guidance / review comments.
pub const MAX_GUIDANCE_CHARS: usize = 8000;

/// What an outcome becomes in e-RS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "operation")]
pub enum ErsMapping {
    /// RAS: A028 `recordReviewOutcome`.
    RecordReviewOutcome { review_outcome: ErsTriageOutcome },
    /// A&G: A026 `sendCommunicationToRequester`.
    SendGuidance { guidance_outcome: &'static str, recommendation: &'static str },
    /// A&G: A027 `createFromCommunicationRequestActionLater` (the GP authorised conversion).
    ConvertToReferral,
}

impl ErsMapping {
    /// The e-RS outcome code: `eRS-ReviewOutcome-1` for RAS, `eRS-GuidanceResponseOutcome-1` for A&G.
    pub fn outcome_code(&self) -> &'static str {
        match self {
            ErsMapping::RecordReviewOutcome { review_outcome: ErsTriageOutcome::AcceptReferBookLater } => {
                "ACCEPT_REFER_BOOK_LATER"
            }
            ErsMapping::RecordReviewOutcome { review_outcome: ErsTriageOutcome::ReturnToReferrerWithAdvice } => {
                "RETURN_TO_REFERRER_WITH_ADVICE"
            }
            ErsMapping::RecordReviewOutcome { review_outcome: ErsTriageOutcome::RequireFurtherInformation } => {
                "REQUIRE_FURTHER_INFORMATION"
            }
            ErsMapping::SendGuidance { guidance_outcome, .. } => guidance_outcome,
            ErsMapping::ConvertToReferral => "PROVIDER_CONVERTED",
        }
    }
}

/// The e-RS mapping of `code` on `route` (documented in `docs/outcomes.md`). The RAS column is the
/// domain's own [`OutcomeCode::ers_outcome`]; the A&G column follows `interop-standards.md` §2.7.
pub fn mapping(code: OutcomeCode, route: Route, conversion_authorised: bool) -> ErsMapping {
    use OutcomeCode as C;
    match route {
        Route::Ras => ErsMapping::RecordReviewOutcome { review_outcome: code.ers_outcome() },
        Route::AdviceAndGuidance => {
            let advice = |recommendation| ErsMapping::SendGuidance {
                guidance_outcome: "RETURN_TO_REFERRER_WITH_ADVICE",
                recommendation,
            };
            match code {
                C::AdviceManagementPlan => advice("ADVICE_FOLLOWED_BY_REFERRAL_IF_REQUIRED"),
                C::NoFurtherAction => advice("ADVICE_ONLY_NO_REFERRAL_RECOMMENDED"),
                C::FaceToFaceRoutine | C::FaceToFaceUrgent | C::Biopsy | C::ConvertToReferral => {
                    if conversion_authorised {
                        ErsMapping::ConvertToReferral
                    } else {
                        advice("REFERRAL_RECOMMENDED")
                    }
                }
                C::OnwardReferral | C::RedirectTwoWeekWait => advice("REFERRAL_RECOMMENDED"),
                C::Rejected => advice("OTHER"),
            }
        }
    }
}

/// The e-RS priority to send with an outcome: the outcome's own, two-week-wait for a redirect,
/// urgent for an urgent appointment, otherwise the referral's.
pub fn outcome_priority(code: OutcomeCode, outcome_priority: Option<Priority>, referral_priority: Priority) -> Priority {
    match (code, outcome_priority) {
        (OutcomeCode::RedirectTwoWeekWait, _) => Priority::TwoWeekWait,
        (_, Some(p)) => p,
        (OutcomeCode::FaceToFaceUrgent, None) => Priority::Urgent,
        _ => referral_priority,
    }
}

/// One HTTP request to e-RS, exactly as it would be sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErsRequest {
    /// API catalogue number, e.g. `A028`.
    pub operation: &'static str,
    pub method: &'static str,
    /// Path under the e-RS base URL (`…/referrals/FHIR`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// JSON body (FHIR STU3 Parameters), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// Raw body (file upload), if any.
    #[serde(skip)]
    pub bytes: Option<Vec<u8>>,
}

/// What e-RS answered (or, offline, what it would answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErsResponse {
    pub status: u16,
    /// `Location` of an uploaded file: `Binary/{id}`.
    pub location: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ErsError {
    #[error("file {name:?} is {size} bytes; e-RS accepts at most {MAX_ATTACHMENT_BYTES} bytes (5 MiB) per file")]
    FileTooLarge { name: String, size: usize },
    #[error("e-RS does not accept files of type {0:?}")]
    UnsupportedType(String),
    #[error("{field} is {len} characters; e-RS accepts at most {MAX_GUIDANCE_CHARS}")]
    TooLong { field: &'static str, len: usize },
    #[error("{0}")]
    NotApplicable(String),
    #[error("e-RS adapter I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Who calls e-RS: the headers of a user-restricted call.
#[derive(Debug, Clone)]
pub struct ErsCaller {
    /// `NHSD-eRS-Business-Function`, e.g. `SERVICE_PROVIDER_CLINICIAN`.
    pub business_function: String,
    /// `NHSD-End-User-Organisation-ODS`.
    pub ods_code: String,
    /// `NHSD-eRS-On-Behalf-Of-User-ID`: an admin acting for a clinician.
    pub on_behalf_of: Option<String>,
}

/// An attachment already uploaded with A020.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedFile {
    pub location: String,
    pub file_name: String,
    pub content_type: String,
    pub size: usize,
}

/// The e-RS operations Telederm needs. A deployment implements [`ErsAdapter::send`] against the
/// real API (CIS2 token, TLS); the provided methods build the exact requests.
pub trait ErsAdapter {
    fn send(&self, request: &ErsRequest) -> Result<ErsResponse, ErsError>;

    /// A020: upload a file for a UBRN (≤ 5 MiB, e-RS file types only).
    fn upload_file(
        &self,
        caller: &ErsCaller,
        ubrn: &str,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<UploadedFile, ErsError> {
        let request = upload_request(caller, ubrn, file_name, content_type, bytes)?;
        let size = request.bytes.as_ref().map_or(0, Vec::len);
        let response = self.send(&request)?;
        Ok(UploadedFile {
            location: response.location.unwrap_or_default(),
            file_name: file_name.to_string(),
            content_type: content_type.to_string(),
            size,
        })
    }

    /// A028: record the triage outcome of a RAS referral.
    #[allow(clippy::too_many_arguments)]
    fn record_triage_outcome(
        &self,
        caller: &ErsCaller,
        ubrn: &str,
        version: &str,
        outcome: ErsTriageOutcome,
        comments: &str,
        priority: Option<Priority>,
        attachments: &[UploadedFile],
    ) -> Result<ErsResponse, ErsError> {
        self.send(&record_review_outcome_request(caller, ubrn, version, outcome, comments, priority, attachments)?)
    }

    /// A026: answer an A&G request.
    #[allow(clippy::too_many_arguments)]
    fn respond_to_advice_request(
        &self,
        caller: &ErsCaller,
        ubrn: &str,
        version: &str,
        guidance_outcome: &str,
        recommendation: Option<&str>,
        guidance: &str,
        priority: Priority,
        attachments: &[UploadedFile],
    ) -> Result<ErsResponse, ErsError> {
        self.send(&send_guidance_request(
            caller,
            ubrn,
            version,
            guidance_outcome,
            recommendation,
            guidance,
            priority,
            attachments,
        )?)
    }

    /// A027: convert an A&G request into a referral (only when the referrer authorised it).
    fn convert_to_referral(&self, caller: &ErsCaller, ubrn: &str, version: &str, guidance: &str) -> Result<ErsResponse, ErsError> {
        self.send(&convert_request(caller, ubrn, version, guidance)?)
    }
}

/// File types e-RS accepts (A020), by content type.
pub const ACCEPTED_TYPES: &[&str] = &[
    "text/plain",
    "application/pdf",
    "text/xml",
    "application/rtf",
    "audio/basic",
    "audio/mpeg",
    "image/png",
    "image/gif",
    "image/jpeg",
    "image/tiff",
    "video/mpeg",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/dicom",
];

fn headers(caller: &ErsCaller, version: Option<&str>, content_type: &str) -> Vec<(String, String)> {
    let mut h = vec![
        ("Authorization".to_string(), "Bearer <CIS2 access token>".to_string()),
        ("NHSD-eRS-Business-Function".to_string(), caller.business_function.clone()),
        ("NHSD-End-User-Organisation-ODS".to_string(), caller.ods_code.clone()),
        ("Content-Type".to_string(), content_type.to_string()),
    ];
    if let Some(u) = &caller.on_behalf_of {
        h.push(("NHSD-eRS-On-Behalf-Of-User-ID".to_string(), u.clone()));
    }
    if let Some(v) = version {
        h.push(("If-Match".to_string(), format!("W/\"{v}\"")));
    }
    h
}

fn check_len(field: &'static str, text: &str) -> Result<(), ErsError> {
    let len = text.chars().count();
    if len > MAX_GUIDANCE_CHARS {
        return Err(ErsError::TooLong { field, len });
    }
    Ok(())
}

pub fn upload_request(
    caller: &ErsCaller,
    ubrn: &str,
    file_name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<ErsRequest, ErsError> {
    if bytes.len() > MAX_ATTACHMENT_BYTES {
        return Err(ErsError::FileTooLarge { name: file_name.to_string(), size: bytes.len() });
    }
    if !ACCEPTED_TYPES.contains(&content_type) {
        return Err(ErsError::UnsupportedType(content_type.to_string()));
    }
    let mut h = headers(caller, None, content_type);
    h.push(("NHSD-eRS-File-Name".to_string(), file_name.to_string()));
    h.push(("NHSD-eRS-Referral-ID".to_string(), ubrn.to_string()));
    Ok(ErsRequest { operation: "A020", method: "POST", path: "/STU3/Binary".into(), headers: h, json: None, bytes: Some(bytes) })
}

fn attachment_param(name: &str, kind: &str, f: &UploadedFile) -> Value {
    json!({
        "name": name,
        "resource": {
            "resourceType": "DocumentReference",
            "status": "current",
            "type": { "coding": [{ "system": ATTACHMENT_TYPE, "code": kind }] },
            "content": [{ "attachment": {
                "contentType": f.content_type, "url": f.location, "title": f.file_name, "size": f.size
            }}]
        }
    })
}

fn priority_coding(p: Priority) -> Value {
    json!({ "system": codes::ERS_PRIORITY, "code": codes::ers_priority(p) })
}

pub fn record_review_outcome_request(
    caller: &ErsCaller,
    ubrn: &str,
    version: &str,
    outcome: ErsTriageOutcome,
    comments: &str,
    priority: Option<Priority>,
    attachments: &[UploadedFile],
) -> Result<ErsRequest, ErsError> {
    check_len("reviewComments", comments)?;
    if comments.trim().is_empty() {
        return Err(ErsError::NotApplicable("reviewComments is mandatory for A028".into()));
    }
    let code = match outcome {
        ErsTriageOutcome::ReturnToReferrerWithAdvice => "RETURN_TO_REFERRER_WITH_ADVICE",
        ErsTriageOutcome::AcceptReferBookLater => "ACCEPT_REFER_BOOK_LATER",
        ErsTriageOutcome::RequireFurtherInformation => {
            return Err(ErsError::NotApplicable(
                "e-RS has no triage outcome for 'more information needed' on a RAS referral; return it with advice instead"
                    .into(),
            ));
        }
    };
    let mut params = vec![
        json!({ "name": "reviewOutcome", "valueCoding": { "system": codes::ERS_REVIEW_OUTCOME, "code": code } }),
        json!({ "name": "reviewComments", "valueString": comments }),
    ];
    if let Some(p) = priority {
        params.push(json!({ "name": "reviewPriority", "valueCoding": priority_coding(p) }));
    }
    params.extend(attachments.iter().map(|f| attachment_param("reviewAttachmentFile", "PROVIDER", f)));
    Ok(ErsRequest {
        operation: "A028",
        method: "POST",
        path: format!("/STU3/ReferralRequest/{ubrn}/$ers.recordReviewOutcome"),
        headers: headers(caller, Some(version), "application/fhir+json"),
        json: Some(json!({
            "resourceType": "Parameters",
            "meta": { "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/eRS-RecordReviewOutcome-Parameters-1"] },
            "parameter": params
        })),
        bytes: None,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn send_guidance_request(
    caller: &ErsCaller,
    ubrn: &str,
    version: &str,
    guidance_outcome: &str,
    recommendation: Option<&str>,
    guidance: &str,
    priority: Priority,
    attachments: &[UploadedFile],
) -> Result<ErsRequest, ErsError> {
    check_len("guidance", guidance)?;
    if guidance_outcome == "RETURN_TO_REFERRER_WITH_ADVICE" && recommendation.is_none() {
        return Err(ErsError::NotApplicable(
            "guidanceIntendedRecommendation is mandatory with RETURN_TO_REFERRER_WITH_ADVICE".into(),
        ));
    }
    let mut params = vec![json!({
        "name": "guidanceOutcome",
        "valueCoding": { "system": codes::ERS_GUIDANCE_OUTCOME, "code": guidance_outcome }
    })];
    if let Some(r) = recommendation {
        params.push(json!({ "name": "guidanceIntendedRecommendation", "valueCoding": { "system": GUIDANCE_RECOMMENDATION, "code": r } }));
    }
    params.push(json!({ "name": "guidance", "valueString": guidance }));
    params.push(json!({ "name": "updatedPriority", "valueCoding": priority_coding(priority) }));
    params.extend(attachments.iter().map(|f| attachment_param("guidanceAttachmentFile", "GUIDANCE_RESPONSE", f)));
    Ok(ErsRequest {
        operation: "A026",
        method: "POST",
        path: format!("/STU3/CommunicationRequest/{ubrn}/$ers.sendCommunicationToRequester"),
        headers: headers(caller, Some(version), "application/fhir+json"),
        json: Some(json!({
            "resourceType": "Parameters",
            "meta": { "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/eRS-SendCommunicationToRequester-Request-Parameters-1"] },
            "parameter": params
        })),
        bytes: None,
    })
}

pub fn convert_request(caller: &ErsCaller, ubrn: &str, version: &str, guidance: &str) -> Result<ErsRequest, ErsError> {
    check_len("guidance", guidance)?;
    Ok(ErsRequest {
        operation: "A027",
        method: "POST",
        path: "/STU3/ReferralRequest/$ers.createFromCommunicationRequestActionLater".into(),
        headers: headers(caller, Some(version), "application/fhir+json"),
        // The published spec names the operation but not every parameter; these follow the A026
        // pattern and must be checked against the OpenAPI before go-live.
        json: Some(json!({
            "resourceType": "Parameters",
            "parameter": [
                { "name": "communicationRequest", "valueIdentifier": { "system": codes::UBRN, "value": ubrn } },
                { "name": "guidance", "valueString": guidance }
            ]
        })),
        bytes: None,
    })
}

/// Writes every request it would send to a directory, numbered in order: `0001-A020.json` (+
/// `0001-A020.body` for an upload's bytes), `0002-A028.json`, … Answers as e-RS would (201 with a
/// `Location` for uploads, 200 otherwise), so the rest of Telederm runs unchanged.
#[derive(Debug)]
pub struct OfflineErs {
    dir: PathBuf,
    seq: AtomicU32,
}

impl OfflineErs {
    pub fn new(dir: &Path) -> Result<Self, ErsError> {
        std::fs::create_dir_all(dir)?;
        let existing = std::fs::read_dir(dir)?.filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))).count();
        Ok(OfflineErs { dir: dir.to_path_buf(), seq: AtomicU32::new(existing as u32) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl ErsAdapter for OfflineErs {
    fn send(&self, request: &ErsRequest) -> Result<ErsResponse, ErsError> {
        let n = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let stem = format!("{n:04}-{}", request.operation);
        let mut doc = serde_json::to_value(request).map_err(|e| std::io::Error::other(e.to_string()))?;
        let location = request.bytes.as_ref().map(|b| {
            let digest = crate::sha256_hex(b);
            format!("Binary/{}-{}-{}-{}-{}", &digest[..8], &digest[8..12], &digest[12..16], &digest[16..20], &digest[20..32])
        });
        if let Some(bytes) = &request.bytes {
            let body_name = format!("{stem}.body");
            std::fs::write(self.dir.join(&body_name), bytes)?;
            doc["body_file"] = json!(body_name);
            doc["body_bytes"] = json!(bytes.len());
        }
        let response = ErsResponse { status: if location.is_some() { 201 } else { 200 }, location };
        doc["offline_response"] = serde_json::to_value(&response).map_err(|e| std::io::Error::other(e.to_string()))?;
        let text = serde_json::to_string_pretty(&doc).map_err(|e| std::io::Error::other(e.to_string()))?;
        std::fs::write(self.dir.join(format!("{stem}.json")), text + "\n")?;
        Ok(response)
    }
}
