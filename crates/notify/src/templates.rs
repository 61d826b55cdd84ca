//! The messages Telederm sends. Each says only that something happened and where to sign in to
//! see it: no clinical detail, no NHS number, no patient name. The only variable is the link.

use serde::{Deserialize, Serialize};

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
    /// To the referrer: the request was returned without an assessment.
    GpRequestReturned,
    /// To a consultant: a request is on their worklist (a new one for their service, or one
    /// assigned to them).
    ConsultantCaseAssigned,
    /// To the service's consultants: a request is due tomorrow.
    SlaDueTomorrow,
    /// To the service's consultants: a request is due today.
    SlaDueToday,
    /// To the service's lead: a request is past its deadline.
    SlaBreached,
}

impl Template {
    pub const ALL: [Template; 10] = [
        Template::PatientPhotoRequest,
        Template::PatientReferralSent,
        Template::PatientResponseReady,
        Template::GpInformationRequested,
        Template::GpResponseReady,
        Template::GpRequestReturned,
        Template::ConsultantCaseAssigned,
        Template::SlaDueTomorrow,
        Template::SlaDueToday,
        Template::SlaBreached,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Template::PatientPhotoRequest => "patient_photo_request",
            Template::PatientReferralSent => "patient_referral_sent",
            Template::PatientResponseReady => "patient_response_ready",
            Template::GpInformationRequested => "gp_information_requested",
            Template::GpResponseReady => "gp_response_ready",
            Template::GpRequestReturned => "gp_request_returned",
            Template::ConsultantCaseAssigned => "consultant_case_assigned",
            Template::SlaDueTomorrow => "sla_due_tomorrow",
            Template::SlaDueToday => "sla_due_today",
            Template::SlaBreached => "sla_breached",
        }
    }

    pub fn parse(name: &str) -> Option<Template> {
        Template::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The email subject.
    pub fn subject(self) -> &'static str {
        match self {
            Template::PatientPhotoRequest => "Please send photos for your skin review",
            Template::PatientReferralSent => "Your GP practice has contacted the dermatology service",
            Template::PatientResponseReady => "There is an update about your skin review",
            Template::GpInformationRequested => "Teledermatology: more information requested",
            Template::GpResponseReady => "Teledermatology: a response is ready",
            Template::GpRequestReturned => "Teledermatology: a request was returned",
            Template::ConsultantCaseAssigned => "Teledermatology: a request is on your worklist",
            Template::SlaDueTomorrow => "Teledermatology: a request is due tomorrow",
            Template::SlaDueToday => "Teledermatology: a request is due today",
            Template::SlaBreached => "Teledermatology: a request is past its deadline",
        }
    }

    /// The first paragraph: what happened, in words the reader can use.
    fn lead(self) -> &'static str {
        match self {
            Template::PatientPhotoRequest => {
                "Your GP practice has asked you to send photos of your skin so that a skin specialist can look at them. \
                 Use this secure link to take or upload the photos. Only use it yourself, or with someone you trust."
            }
            Template::PatientReferralSent => {
                "Your GP practice has sent a request about your skin to the dermatology (skin) service. \
                 You do not need to do anything now. You can see its progress here:"
            }
            Template::PatientResponseReady => {
                "The dermatology (skin) service has responded about your skin. \
                 You can read what happens next here, or ask your GP practice:"
            }
            Template::GpInformationRequested => {
                "A dermatologist has asked for more information or photos about a request from your practice. \
                 Sign in to read the question and reply:"
            }
            Template::GpResponseReady => {
                "A dermatologist has responded to a request from your practice. Sign in to read the response:"
            }
            Template::GpRequestReturned => {
                "A request from your practice was returned by the dermatology service. Sign in to see why and what to do next:"
            }
            Template::ConsultantCaseAssigned => "A teledermatology request is on your worklist. Sign in to see it:",
            Template::SlaDueTomorrow => "A request on your worklist is due tomorrow. Sign in to see it:",
            Template::SlaDueToday => "A request on your worklist is due today. Sign in to see it:",
            Template::SlaBreached => {
                "A request for your service is past its response deadline and has not been answered. Sign in to see it:"
            }
        }
    }

    /// The email body: the lead paragraph, the link, and why there is nothing more.
    pub fn email_body(self, link: &str) -> String {
        format!(
            "{}\n\n{link}\n\nFor your privacy this email contains no personal or medical details. \
             If you did not expect it, you can ignore it.\n\nTelederm teledermatology service\n",
            self.lead()
        )
    }

    /// The text message: short, with the link.
    pub fn sms_body(self, link: &str) -> String {
        format!("{} {link}", self.subject())
    }
}
