//! What a patient's status page says about their request, in plain English, for each state of the
//! referral. Nothing clinical: once the specialist has answered, the page shows what happens next
//! in the patient letter's words ([`crate::outcome::next_step`]) only when the service's policy
//! says so ([`OutcomeForPatient::ShownToPatient`]); otherwise it says the GP practice has the
//! answer and will contact them. Never the diagnosis, the plan or the messages. Documented in
//! `docs/outcomes.md`, "What the patient's status page says".

use crate::outcome::{NextStep, next_step};
use crate::policy::OutcomeForPatient;
use crate::referral::{Referral, ReferralStatus};

/// The page's status: a short tag, a heading and what it means for the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientStatus {
    pub tag: &'static str,
    pub heading: &'static str,
    pub paragraphs: Vec<&'static str>,
}

/// Said when the service answered and the GP practice talks to the patient first.
pub const GP_HAS_THE_ANSWER: &str =
    "Your GP practice has the specialist's answer and will contact you to talk about it. You can also contact them.";

/// The status of `r` as its patient is told it, by the service's `outcome_for_patient` setting.
pub fn for_referral(r: &Referral, outcome_for_patient: OutcomeForPatient) -> PatientStatus {
    let answer = r.outcome.as_ref().map(|o| next_step(r.route, o.code, r.conversion_authorised));
    patient_status(r.status, answer, outcome_for_patient)
}

/// The status for a referral in `status` whose recorded outcome (or rejection), if any, has the
/// next step `answer`.
pub fn patient_status(status: ReferralStatus, answer: Option<NextStep>, outcome_for_patient: OutcomeForPatient) -> PatientStatus {
    let page = |tag, heading, paragraphs: Vec<&'static str>| PatientStatus { tag, heading, paragraphs };
    // What the patient letter says happens next, when the policy lets the page say it.
    let told = answer.filter(|_| outcome_for_patient == OutcomeForPatient::ShownToPatient).map(|a| a.patient_told);
    match status {
        ReferralStatus::Draft => page(
            "Being prepared",
            "Your GP practice is preparing your request",
            vec!["Your GP practice will send your photos and details to a skin specialist when the request is ready."],
        ),
        ReferralStatus::Submitted => page(
            "Sent",
            "Your request has been sent to a skin specialist",
            vec!["Your GP practice has sent your photos and details to the skin (dermatology) service. A skin specialist will look at them soon."],
        ),
        ReferralStatus::InReview => page(
            "Being reviewed",
            "A skin specialist is looking at your request",
            vec!["A skin specialist is looking at your photos and details. They will send their answer to your GP practice."],
        ),
        ReferralStatus::AwaitingInformation => page(
            "More information needed",
            "The specialist has asked your GP practice for more information",
            vec!["Your GP practice will contact you if they need anything from you, such as more photos."],
        ),
        ReferralStatus::OutcomeIssued | ReferralStatus::Closed => match told {
            Some(told) => page(
                "Answered",
                "The specialist has answered",
                vec![told, "Your GP practice has the specialist's answer too. Contact them if you have any questions."],
            ),
            None => page("Answered", "The specialist has answered", vec![GP_HAS_THE_ANSWER]),
        },
        ReferralStatus::Rejected => page(
            "Returned to your GP practice",
            "Your request has been returned to your GP practice",
            vec![told.unwrap_or(
                "The skin specialist could not give advice on this request. Your GP practice will contact you about what happens next. You can also contact them.",
            )],
        ),
        ReferralStatus::Withdrawn => page(
            "Withdrawn",
            "Your GP practice has withdrawn this request",
            vec!["Your GP practice is no longer using this request. Contact them if you have any questions."],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::OutcomeCode;
    use crate::route::Route;

    #[test]
    fn every_state_has_its_own_words_and_the_outcome_only_when_the_policy_shows_it() {
        let mut headings: Vec<&str> = ReferralStatus::ALL.iter().map(|s| patient_status(*s, None, OutcomeForPatient::GpDiscussesFirst).heading).collect();
        headings.dedup();
        assert_eq!(headings.len(), ReferralStatus::ALL.len() - 1, "one heading per state (answered and closed share one)");

        let biopsy = next_step(Route::AdviceAndGuidance, OutcomeCode::Biopsy, false);
        let first = patient_status(ReferralStatus::OutcomeIssued, Some(biopsy), OutcomeForPatient::GpDiscussesFirst);
        assert_eq!(first.paragraphs, vec![GP_HAS_THE_ANSWER]);
        let shown = patient_status(ReferralStatus::OutcomeIssued, Some(biopsy), OutcomeForPatient::ShownToPatient);
        assert_eq!(shown.paragraphs[0], biopsy.patient_told);
        let rejected = next_step(Route::Ras, OutcomeCode::Rejected, false);
        assert_eq!(patient_status(ReferralStatus::Rejected, Some(rejected), OutcomeForPatient::ShownToPatient).paragraphs, vec![rejected.patient_told]);
        assert!(!patient_status(ReferralStatus::Rejected, Some(rejected), OutcomeForPatient::GpDiscussesFirst).paragraphs.contains(&rejected.patient_told));
    }
}
