//! The tags lists and case pages show beside a referral, so that the person who must act sees it
//! without opening the case: how urgent it is, and what is waiting for whom. Each tag is text (a
//! colour only repeats it). One rule for the GP's list, the consultant's worklist, the case page
//! and the API's `flags`.

use serde::{Deserialize, Serialize};

use crate::outcome::OutcomeCode;
use crate::referral::{Action, ReferralStatus};
use crate::route::Priority;

/// How urgent a referral is now: the outcome's urgency when there is one, else the priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Routine,
    Urgent,
    TwoWeekWait,
}

/// Urgent face-to-face is urgent; a redirect to the two-week-wait pathway is two-week wait, whatever
/// the priority was; otherwise the priority (which the consultant may have raised) decides.
pub fn urgency(priority: Priority, outcome: Option<OutcomeCode>) -> Urgency {
    match (outcome, priority) {
        (Some(OutcomeCode::RedirectTwoWeekWait), _) | (_, Priority::TwoWeekWait) => Urgency::TwoWeekWait,
        (Some(OutcomeCode::FaceToFaceUrgent), _) | (_, Priority::Urgent) => Urgency::Urgent,
        _ => Urgency::Routine,
    }
}

impl Urgency {
    /// The heading or tag text; `None` for routine (nothing to call out).
    pub fn label(self) -> Option<&'static str> {
        match self {
            Urgency::Routine => None,
            Urgency::Urgent => Some("Urgent"),
            Urgency::TwoWeekWait => Some("Two-week wait"),
        }
    }
}

/// Something a list calls out about a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Urgent priority or an urgent outcome.
    Urgent,
    /// Two-week-wait priority or a redirect to the two-week-wait pathway.
    TwoWeekWait,
    /// For the GP: the consultant asked a question; the clock waits for the answer.
    QuestionAsked,
    /// For the GP: the patient sent photos through their upload link since the GP last changed
    /// the referral.
    PatientPhotosArrived,
    /// For the GP: the outcome is ready to read.
    OutcomeReady,
    /// For the consultant: the GP answered the question.
    GpReplied,
    /// For the consultant: due on the next working day.
    DueTomorrow,
}

impl Flag {
    pub fn label(self) -> &'static str {
        match self {
            Flag::Urgent => "Urgent",
            Flag::TwoWeekWait => "Two-week wait",
            Flag::QuestionAsked => "Question asked",
            Flag::PatientPhotosArrived => "Patient photos arrived",
            Flag::OutcomeReady => "Outcome ready",
            Flag::GpReplied => "GP replied",
            Flag::DueTomorrow => "Due tomorrow",
        }
    }

    /// The NHS.UK tag colour that repeats the text.
    pub fn tag_class(self) -> &'static str {
        match self {
            Flag::Urgent | Flag::TwoWeekWait => "nhsuk-tag--red",
            Flag::QuestionAsked | Flag::PatientPhotosArrived | Flag::GpReplied => "nhsuk-tag--yellow",
            Flag::OutcomeReady => "nhsuk-tag--green",
            Flag::DueTomorrow => "nhsuk-tag--orange",
        }
    }
}

/// What the flags are computed from (a list row or a whole referral).
#[derive(Debug, Clone, Copy)]
pub struct FlagFacts {
    pub priority: Priority,
    pub outcome: Option<OutcomeCode>,
    pub status: ReferralStatus,
    /// The last state-machine action applied.
    pub last_action: Option<Action>,
    /// The patient sent photos after the referral last changed.
    pub patient_photos_new: bool,
    /// Due on the next working day and still owed by the service.
    pub due_tomorrow: bool,
}

/// The flags, most urgent first.
pub fn flags(f: FlagFacts) -> Vec<Flag> {
    let mut out = Vec::new();
    match urgency(f.priority, f.outcome) {
        Urgency::TwoWeekWait => out.push(Flag::TwoWeekWait),
        Urgency::Urgent => out.push(Flag::Urgent),
        Urgency::Routine => {}
    }
    match f.status {
        ReferralStatus::AwaitingInformation => out.push(Flag::QuestionAsked),
        ReferralStatus::OutcomeIssued => out.push(Flag::OutcomeReady),
        ReferralStatus::InReview if f.last_action == Some(Action::Reply) => out.push(Flag::GpReplied),
        _ => {}
    }
    if f.patient_photos_new && f.status.accepts_photos() {
        out.push(Flag::PatientPhotosArrived);
    }
    if f.due_tomorrow && f.status.is_open_for_service() && f.status != ReferralStatus::AwaitingInformation {
        out.push(Flag::DueTomorrow);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: ReferralStatus) -> FlagFacts {
        FlagFacts { priority: Priority::Routine, outcome: None, status, last_action: None, patient_photos_new: false, due_tomorrow: false }
    }

    #[test]
    fn urgency_follows_the_outcome_then_the_priority() {
        assert_eq!(urgency(Priority::Routine, None), Urgency::Routine);
        assert_eq!(urgency(Priority::Urgent, None), Urgency::Urgent);
        assert_eq!(urgency(Priority::TwoWeekWait, None), Urgency::TwoWeekWait);
        assert_eq!(urgency(Priority::Routine, Some(OutcomeCode::FaceToFaceUrgent)), Urgency::Urgent);
        assert_eq!(urgency(Priority::Routine, Some(OutcomeCode::RedirectTwoWeekWait)), Urgency::TwoWeekWait);
        assert_eq!(urgency(Priority::Urgent, Some(OutcomeCode::RedirectTwoWeekWait)), Urgency::TwoWeekWait);
        assert_eq!(urgency(Priority::Routine, Some(OutcomeCode::AdviceManagementPlan)), Urgency::Routine);
    }

    #[test]
    fn each_flag_for_the_person_who_acts() {
        use ReferralStatus as S;
        assert_eq!(flags(facts(S::Submitted)), vec![]);
        assert_eq!(flags(facts(S::AwaitingInformation)), vec![Flag::QuestionAsked]);
        assert_eq!(flags(facts(S::OutcomeIssued)), vec![Flag::OutcomeReady]);
        assert_eq!(flags(facts(S::Rejected)), vec![], "the status says it; the list's next step links what to do");
        assert_eq!(flags(FlagFacts { last_action: Some(Action::Reply), ..facts(S::InReview) }), vec![Flag::GpReplied]);
        assert_eq!(flags(FlagFacts { last_action: Some(Action::Claim), ..facts(S::InReview) }), vec![]);
        assert_eq!(flags(FlagFacts { patient_photos_new: true, ..facts(S::Draft) }), vec![Flag::PatientPhotosArrived]);
        assert_eq!(flags(FlagFacts { patient_photos_new: true, ..facts(S::Submitted) }), vec![]);
        assert_eq!(flags(FlagFacts { due_tomorrow: true, ..facts(S::InReview) }), vec![Flag::DueTomorrow]);
        // While the service waits for the GP the clock is paused: nothing is due.
        assert_eq!(flags(FlagFacts { due_tomorrow: true, ..facts(S::AwaitingInformation) }), vec![Flag::QuestionAsked]);
        assert_eq!(
            flags(FlagFacts { priority: Priority::Urgent, outcome: Some(OutcomeCode::FaceToFaceUrgent), ..facts(S::OutcomeIssued) }),
            vec![Flag::Urgent, Flag::OutcomeReady]
        );
    }
}
