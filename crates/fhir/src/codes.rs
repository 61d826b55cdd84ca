//! Identifier systems, code systems and the mappings between Telederm's enums and FHIR codes.
//!
//! National systems are the ones in `reference/interop-standards.md` §1 and §4. Where no national
//! code exists, Telederm publishes its own code system under [`BASE`]; `docs/fhir-mapping.md` lists
//! them all.

use telederm_domain::organisation::Role;
use telederm_domain::patient::Sex;
use telederm_domain::referral::{MessageKind, Priority, ReferralStatus, Route};

/// Canonical base of everything Telederm publishes (code systems, extensions, the Questionnaire).
pub const BASE: &str = "https://fhir.telederm.org";

// National identifier systems.
pub const NHS_NUMBER: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_ORG: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const UBRN: &str = "https://fhir.nhs.uk/Id/UBRN";
pub const NHS_NUMBER_VERIFICATION_EXT: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
pub const NHS_NUMBER_VERIFICATION_CS: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const PRACTICE_SETTING: &str = "https://fhir.hl7.org.uk/CodeSystem/UKCore-PracticeSettingCodeEngland";
pub const SR_CATEGORY: &str = "https://fhir.nhs.uk/CodeSystem/message-category-servicerequest";
pub const SR_CODE: &str = "https://fhir.nhs.uk/CodeSystem/servicerequest-code";
pub const ERS_PRIORITY: &str = "https://fhir.nhs.uk/STU3/CodeSystem/eRS-Priority-1";
pub const ERS_REVIEW_OUTCOME: &str = "https://fhir.nhs.uk/STU3/CodeSystem/eRS-ReviewOutcome-1";
pub const ERS_GUIDANCE_OUTCOME: &str = "https://fhir.nhs.uk/STU3/CodeSystem/eRS-GuidanceResponseOutcome-1";
pub const ERS_COMM_SENT_BY: &str = "https://fhir.nhs.uk/CodeSystem/eRS-CommunicationSentBy";
pub const TASK_CODE: &str = "http://hl7.org/fhir/CodeSystem/task-code";
pub const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
pub const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

// UK Core profiles.
pub const PROFILE: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-";

/// A Telederm identifier system, e.g. `id_system("referral")`.
pub fn id_system(kind: &str) -> String {
    format!("{BASE}/Id/{kind}")
}

/// A Telederm code system, e.g. `cs("outcome")`.
pub fn cs(name: &str) -> String {
    format!("{BASE}/CodeSystem/{name}")
}

/// A Telederm extension URL.
pub fn ext(name: &str) -> String {
    format!("{BASE}/StructureDefinition/{name}")
}

pub const QUESTIONNAIRE_URL: &str = "https://fhir.telederm.org/Questionnaire/telederm-referral";
pub const QUESTIONNAIRE_VERSION: &str = "1";

pub fn route_category(route: Route) -> &'static str {
    match route {
        Route::AdviceAndGuidance => "request",
        Route::Ras => "referral",
    }
}

pub fn route_from_category(code: &str) -> Option<Route> {
    match code {
        "request" => Some(Route::AdviceAndGuidance),
        "referral" => Some(Route::Ras),
        _ => None,
    }
}

pub fn fhir_priority(p: Priority) -> &'static str {
    match p {
        Priority::Routine => "routine",
        Priority::Urgent | Priority::TwoWeekWait => "urgent",
    }
}

pub fn ers_priority(p: Priority) -> &'static str {
    match p {
        Priority::Routine => "ROUTINE",
        Priority::Urgent => "URGENT",
        Priority::TwoWeekWait => "TWO_WEEK_WAIT",
    }
}

pub fn priority_from_ers(code: &str) -> Option<Priority> {
    match code {
        "ROUTINE" => Some(Priority::Routine),
        "URGENT" => Some(Priority::Urgent),
        "TWO_WEEK_WAIT" => Some(Priority::TwoWeekWait),
        _ => None,
    }
}

pub fn priority_from_fhir(code: &str) -> Option<Priority> {
    match code {
        "routine" => Some(Priority::Routine),
        "urgent" | "asap" | "stat" => Some(Priority::Urgent),
        _ => None,
    }
}

/// `ServiceRequest.status` (request-status).
pub fn request_status(s: ReferralStatus) -> &'static str {
    use ReferralStatus as S;
    match s {
        S::Draft => "draft",
        S::Submitted | S::InReview | S::AwaitingInformation => "active",
        S::OutcomeIssued | S::Closed => "completed",
        S::Rejected | S::Withdrawn => "revoked",
    }
}

/// `Task.status` (task-status).
pub fn task_status(s: ReferralStatus) -> &'static str {
    use ReferralStatus as S;
    match s {
        S::Draft => "draft",
        S::Submitted => "requested",
        S::InReview => "in-progress",
        S::AwaitingInformation => "on-hold",
        S::OutcomeIssued | S::Closed => "completed",
        S::Rejected => "rejected",
        S::Withdrawn => "cancelled",
    }
}

/// `Task.businessStatus` code in [`cs`]`("task-business-status")`. `overdue` marks an open referral
/// past its deadline as `escalated-breach`.
pub fn business_status(s: ReferralStatus, overdue: bool) -> (&'static str, &'static str) {
    use ReferralStatus as S;
    if overdue && s.is_open_for_service() {
        return ("escalated-breach", "Past its response deadline: escalated");
    }
    match s {
        S::Draft => ("draft", "Draft: not yet submitted"),
        S::Submitted => ("awaiting-triage", "Awaiting triage"),
        S::InReview => ("in-review", "Being reviewed by a consultant"),
        S::AwaitingInformation => ("more-info-requested", "More information requested from the referrer"),
        S::OutcomeIssued => ("outcome-returned", "Outcome returned to the referrer"),
        S::Closed => ("closed", "Closed after the outcome"),
        S::Rejected => ("rejected", "Rejected"),
        S::Withdrawn => ("withdrawn", "Withdrawn by the referrer"),
    }
}

/// The referral status a Task stands for: its `status` and `businessStatus` together.
pub fn status_from_task(task_status: &str, business: Option<&str>) -> Option<ReferralStatus> {
    use ReferralStatus as S;
    Some(match (task_status, business) {
        ("draft", _) => S::Draft,
        ("requested" | "received" | "accepted" | "ready", _) => S::Submitted,
        ("in-progress", _) => S::InReview,
        ("on-hold", _) => S::AwaitingInformation,
        ("completed", Some("closed")) => S::Closed,
        ("completed", _) => S::OutcomeIssued,
        ("rejected", _) => S::Rejected,
        ("cancelled", _) => S::Withdrawn,
        _ => return None,
    })
}

pub fn gender(s: Sex) -> &'static str {
    match s {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    }
}

pub fn sex_from_gender(g: &str) -> Option<Sex> {
    match g {
        "female" => Some(Sex::Female),
        "male" => Some(Sex::Male),
        "other" => Some(Sex::Other),
        "unknown" => Some(Sex::Unknown),
        _ => None,
    }
}

/// `Communication.category` in the e-RS sent-by code system: who wrote the message.
pub fn message_category(k: MessageKind) -> &'static str {
    match k {
        MessageKind::InformationRequest => "RESPONDER",
        MessageKind::Reply => "REQUESTER",
    }
}

pub fn message_kind(code: &str) -> Option<MessageKind> {
    match code {
        "RESPONDER" => Some(MessageKind::InformationRequest),
        "REQUESTER" => Some(MessageKind::Reply),
        _ => None,
    }
}

pub fn role_code(r: Role) -> &'static str {
    r.as_str()
}

/// Whether `s` is a valid FHIR `id` (`[A-Za-z0-9\-\.]{1,64}`).
pub fn is_fhir_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_survives_task_status_and_business_status() {
        for s in ReferralStatus::ALL {
            let (b, _) = business_status(s, false);
            assert_eq!(status_from_task(task_status(s), Some(b)), Some(s), "{s:?}");
            // An escalated open referral keeps its status too.
            let (b, _) = business_status(s, true);
            assert_eq!(status_from_task(task_status(s), Some(b)), Some(s), "{s:?} escalated");
        }
    }

    #[test]
    fn every_priority_survives_the_ers_code() {
        for p in [Priority::Routine, Priority::Urgent, Priority::TwoWeekWait] {
            assert_eq!(priority_from_ers(ers_priority(p)), Some(p));
        }
    }
}
