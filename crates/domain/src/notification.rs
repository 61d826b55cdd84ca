//! Notifications as the domain names them: the messages Telederm sends and the channels they go
//! by. The application layer writes them to the outbox, the store keeps their names, the notify
//! crate knows their texts: one type, not strings in three crates.

use serde::{Deserialize, Serialize};

/// How a notification reaches its reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [Channel::Email, Channel::Sms].into_iter().find(|c| c.as_str() == s)
    }
}

/// Every message Telederm can send, by name (the name is stored in the outbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    /// To the patient: the practice asks for photos, with a secure upload link.
    PatientPhotoRequest,
    /// To the patient: the practice has sent their request to the dermatology service.
    PatientReferralSent,
    /// To the patient: the service has responded; details are with their GP or behind the link.
    PatientResponseReady,
    /// To the referrer: the consultant asks for more information or photos.
    GpInformationRequested,
    /// To the referrer: the consultant has recorded an outcome.
    GpResponseReady,
    /// To the referrer: the consultant has recorded an urgent or two-week-wait outcome (subject
    /// marked "Urgent").
    GpUrgentResponseReady,
    /// To the referrer: the patient has sent photos through their upload link.
    GpPatientPhotosArrived,
    /// To the referrer: the request was returned without an assessment.
    GpRequestReturned,
    /// To a consultant: a request is on their worklist (a new one for their service, or one
    /// assigned to them).
    ConsultantCaseAssigned,
    /// As `ConsultantCaseAssigned`, for an urgent or two-week-wait request (subject marked "Urgent").
    ConsultantUrgentCaseAssigned,
    /// To the consultant who asked: the referrer has answered.
    ConsultantGpReplied,
    /// To the service's consultants: a request is due tomorrow.
    SlaDueTomorrow,
    /// To the service's consultants: a request is due today.
    SlaDueToday,
    /// To the service's lead: a request is past its deadline.
    SlaBreached,
    /// To the referrer: the outcome letter did not reach the practice's GP system (MESH), so it
    /// must be filed by hand.
    GpLetterNotFiled,
}

impl Template {
    pub const ALL: [Template; 15] = [
        Template::PatientPhotoRequest,
        Template::PatientReferralSent,
        Template::PatientResponseReady,
        Template::GpInformationRequested,
        Template::GpResponseReady,
        Template::GpUrgentResponseReady,
        Template::GpPatientPhotosArrived,
        Template::GpRequestReturned,
        Template::ConsultantCaseAssigned,
        Template::ConsultantUrgentCaseAssigned,
        Template::ConsultantGpReplied,
        Template::SlaDueTomorrow,
        Template::SlaDueToday,
        Template::SlaBreached,
        Template::GpLetterNotFiled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Template::PatientPhotoRequest => "patient_photo_request",
            Template::PatientReferralSent => "patient_referral_sent",
            Template::PatientResponseReady => "patient_response_ready",
            Template::GpInformationRequested => "gp_information_requested",
            Template::GpResponseReady => "gp_response_ready",
            Template::GpUrgentResponseReady => "gp_urgent_response_ready",
            Template::GpPatientPhotosArrived => "gp_patient_photos_arrived",
            Template::GpRequestReturned => "gp_request_returned",
            Template::ConsultantCaseAssigned => "consultant_case_assigned",
            Template::ConsultantUrgentCaseAssigned => "consultant_urgent_case_assigned",
            Template::ConsultantGpReplied => "consultant_gp_replied",
            Template::SlaDueTomorrow => "sla_due_tomorrow",
            Template::SlaDueToday => "sla_due_today",
            Template::SlaBreached => "sla_breached",
            Template::GpLetterNotFiled => "gp_letter_not_filed",
        }
    }

    pub fn parse(name: &str) -> Option<Template> {
        Template::ALL.into_iter().find(|t| t.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for t in Template::ALL {
            assert_eq!(Template::parse(t.name()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::Value::String(t.name().into()));
        }
        assert_eq!(Template::parse("gp_outcome_ready"), None);
        for c in [Channel::Email, Channel::Sms] {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::Value::String(c.as_str().into()));
        }
    }
}
