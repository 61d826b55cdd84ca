//! The messages Telederm sends. Each says only that something happened and where to sign in to
//! see it: no clinical detail, no NHS number, no patient name. The only variable is the link.


pub use telederm_domain::notification::Template;

/// The texts of each message.
pub trait TemplateText {
    /// The email subject.
    fn subject(self) -> &'static str;
    /// The first paragraph: what happened, in words the reader can use.
    fn lead(self) -> &'static str;
    /// The email body: the lead paragraph, the link, and why there is nothing more.
    fn email_body(self, link: &str) -> String;
    /// The text message: short, with the link.
    fn sms_body(self, link: &str) -> String;
}

impl TemplateText for Template {
    fn subject(self) -> &'static str {
        match self {
            Template::PatientPhotoRequest => "Please send photos for your skin review",
            Template::PatientReferralSent => "Your GP practice has contacted the dermatology service",
            Template::PatientResponseReady => "There is an update about your skin review",
            Template::GpInformationRequested => "Teledermatology: more information requested",
            Template::GpResponseReady => "Teledermatology: a response is ready",
            Template::GpUrgentResponseReady => "URGENT - Teledermatology: a response needs your action",
            Template::GpPatientPhotosArrived => "Teledermatology: your patient has sent photos",
            Template::GpRequestReturned => "Teledermatology: a request was returned",
            Template::ConsultantCaseAssigned => "Teledermatology: a request is on your worklist",
            Template::ConsultantUrgentCaseAssigned => "URGENT - Teledermatology: an urgent request is on your worklist",
            Template::ConsultantGpReplied => "Teledermatology: the referrer has replied",
            Template::SlaDueTomorrow => "Teledermatology: a request is due tomorrow",
            Template::SlaDueToday => "Teledermatology: a request is due today",
            Template::SlaBreached => "Teledermatology: a request is past its deadline",
            Template::GpLetterNotFiled => "Teledermatology: an outcome letter did not reach your GP system",
        }
    }

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
            Template::GpUrgentResponseReady => {
                "A dermatologist has responded to a request from your practice and marked it URGENT. \
                 Sign in to read the response and the action for you:"
            }
            Template::GpPatientPhotosArrived => {
                "A patient has sent photos through the upload link your practice gave them. \
                 Sign in to check them and send the request on:"
            }
            Template::GpRequestReturned => {
                "A request from your practice was returned by the dermatology service. Sign in to see why and what to do next:"
            }
            Template::ConsultantCaseAssigned => "A teledermatology request is on your worklist. Sign in to see it:",
            Template::ConsultantUrgentCaseAssigned => {
                "An URGENT teledermatology request is on your worklist. Sign in to see it:"
            }
            Template::ConsultantGpReplied => {
                "The referrer has answered your question about a teledermatology request. Sign in to read the reply:"
            }
            Template::SlaDueTomorrow => "A request on your worklist is due tomorrow. Sign in to see it:",
            Template::SlaDueToday => "A request on your worklist is due today. Sign in to see it:",
            Template::SlaBreached => {
                "A request for your service is past its response deadline and has not been answered. Sign in to see it:"
            }
            Template::GpLetterNotFiled => {
                "The outcome letter for a request from your practice could not be filed in your GP system automatically. \
                 Sign in to download the letter and file it in the patient's record:"
            }
        }
    }

    fn email_body(self, link: &str) -> String {
        format!(
            "{}\n\n{link}\n\n{}For your privacy this email contains no personal or medical details. \
             If you did not expect it, you can ignore it.\n\nTelederm teledermatology service\n",
            self.lead(),
            self.invite().map(|i| format!("{i}\n\n")).unwrap_or_default()
        )
    }

    fn sms_body(self, link: &str) -> String {
        match self.invite() {
            // One text message (160 characters) with a status link of about 100.
            Some(_) => format!("Your skin review has an update. Tell us how it went: {link}"),
            None => format!("{} {link}", self.subject()),
        }
    }
}

/// The final message to the patient invites their feedback on the service, on the same page as
/// the status (no clinical question is asked there).
trait Invite {
    fn invite(self) -> Option<&'static str>;
}

impl Invite for Template {
    fn invite(self) -> Option<&'static str> {
        match self {
            Template::PatientResponseReady => Some(
                "We would love to hear from you. On the same page you can tell us how your experience of the service was: \
                 choose a rating and add a comment if you wish. Please do not include medical details.",
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_message_to_the_patient_invites_feedback_on_the_status_page() {
        // A status link as sent: the address and 64 hex digits.
        let link = format!("https://telederm.example.nhs.uk/p/{}", "a".repeat(64));
        let email = Template::PatientResponseReady.email_body(&link);
        let sms = Template::PatientResponseReady.sms_body(&link);
        assert!(email.contains("We would love to hear from you") && email.contains(&link), "{email}");
        assert!(email.contains("do not include medical details"), "{email}");
        assert!(sms.contains("Tell us how it went") && sms.contains(&link), "{sms}");
        assert!(sms.chars().count() <= 160, "one text message: {} characters", sms.chars().count());
        let link = link.as_str();
        for other in [Template::PatientPhotoRequest, Template::PatientReferralSent, Template::GpResponseReady] {
            assert!(!other.email_body(link).contains("hear from you") && !other.sms_body(link).contains("Tell us how it went"), "{other:?}");
        }
    }
}
