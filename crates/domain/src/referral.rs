//! Referrals: routes, priorities, the clinical record and the state machine.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;
use crate::patient::Patient;
use crate::{OrganisationId, ReferralId, ServiceId, UserId};

pub use crate::route::{Priority, Route};

/// Where a referral is in its life. The only way to change it is [`ReferralStatus::after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    Draft,
    Submitted,
    InReview,
    AwaitingInformation,
    OutcomeIssued,
    Closed,
    Rejected,
    Withdrawn,
}

/// Things that happen to a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Submit,
    Claim,
    RequestInformation,
    Reply,
    IssueOutcome,
    Reject,
    Close,
    Withdraw,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a referral that is {from} cannot be {action}: {hint}", from = .from.label(), action = .action.past_tense(), hint = IllegalTransition::hint_for(.from))]
pub struct IllegalTransition {
    pub from: ReferralStatus,
    pub action: Action,
}

impl IllegalTransition {
    fn hint_for(from: &ReferralStatus) -> &'static str {
        match from {
            ReferralStatus::Draft => "submit it first",
            ReferralStatus::Submitted => "a consultant must claim it first",
            ReferralStatus::InReview => "it is being reviewed",
            ReferralStatus::AwaitingInformation => "it is waiting for the referrer's reply",
            ReferralStatus::OutcomeIssued | ReferralStatus::Closed => "an outcome has already been issued",
            ReferralStatus::Rejected => "it was rejected; start a new referral",
            ReferralStatus::Withdrawn => "it was withdrawn; start a new referral",
        }
    }
}

impl Action {
    pub fn past_tense(self) -> &'static str {
        match self {
            Action::Submit => "submitted",
            Action::Claim => "claimed",
            Action::RequestInformation => "sent a request for information",
            Action::Reply => "replied to",
            Action::IssueOutcome => "given an outcome",
            Action::Reject => "rejected",
            Action::Close => "closed",
            Action::Withdraw => "withdrawn",
        }
    }
}

impl ReferralStatus {
    pub const ALL: [ReferralStatus; 8] = [
        Self::Draft,
        Self::Submitted,
        Self::InReview,
        Self::AwaitingInformation,
        Self::OutcomeIssued,
        Self::Closed,
        Self::Rejected,
        Self::Withdrawn,
    ];

    /// Photos can be added or removed: while a draft, or when the consultant has asked for more.
    pub fn accepts_photos(self) -> bool {
        matches!(self, Self::Draft | Self::AwaitingInformation)
    }

    /// The state machine:
    /// `draft -> submitted -> in_review -> (awaiting_information -> in_review)* -> outcome_issued -> closed`,
    /// with `rejected` from review and `withdrawn` by the referrer before an outcome.
    pub fn after(self, action: Action) -> Result<ReferralStatus, IllegalTransition> {
        use Action as A;
        use ReferralStatus as S;
        let next = match (self, action) {
            (S::Draft, A::Submit) => S::Submitted,
            (S::Submitted, A::Claim) => S::InReview,
            (S::InReview, A::RequestInformation) => S::AwaitingInformation,
            (S::AwaitingInformation, A::Reply) => S::InReview,
            (S::InReview, A::IssueOutcome) => S::OutcomeIssued,
            (S::Submitted | S::InReview, A::Reject) => S::Rejected,
            (S::OutcomeIssued, A::Close) => S::Closed,
            (S::Draft | S::Submitted | S::InReview | S::AwaitingInformation, A::Withdraw) => S::Withdrawn,
            (from, action) => return Err(IllegalTransition { from, action }),
        };
        Ok(next)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::InReview => "in_review",
            Self::AwaitingInformation => "awaiting_information",
            Self::OutcomeIssued => "outcome_issued",
            Self::Closed => "closed",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Draft => "a draft",
            Self::Submitted => "submitted",
            Self::InReview => "in review",
            Self::AwaitingInformation => "awaiting information",
            Self::OutcomeIssued => "answered",
            Self::Closed => "closed",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Whether the service still owes an answer (counts towards the worklist and SLA).
    pub fn is_open_for_service(self) -> bool {
        matches!(self, Self::Submitted | Self::InReview | Self::AwaitingInformation)
    }
}

/// The clinical history the GP writes. Free text, may be partly empty while a draft.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClinicalHistory {
    pub presenting_complaint: String,
    pub duration: String,
    pub body_sites: Vec<String>,
    pub treatments_tried: String,
    pub relevant_history: String,
    pub medication: String,
    pub allergies: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentGivenBy {
    Patient,
    ParentOrGuardian,
    /// Lacks capacity: the clinician records that referral is in the patient's best interests.
    BestInterestsDecision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    Verbal,
    Written,
    Electronic,
}

/// Consent as recorded by the referrer; each scope is an explicit yes or no.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    pub given_by: ConsentGivenBy,
    pub method: ConsentMethod,
    pub direct_care: bool,
    pub teaching: bool,
    pub research: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// The consultant asks the referrer for more information or photos.
    InformationRequest,
    /// The referrer answers an information request.
    Reply,
}

/// One message in the conversation between the referrer and the consultant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: crate::MessageId,
    pub referral_id: ReferralId,
    pub kind: MessageKind,
    pub author_id: Option<UserId>,
    pub author_name: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// On an information request: what the consultant asks for (counted by kind in the
    /// practice report, so practices learn why referrals come back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<InformationTopic>,
}

/// What a consultant asks the referrer for when returning a referral for information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InformationTopic {
    /// Better or more photos (focus, lighting, a locator or close-up view).
    Photos,
    /// Dermoscopic images.
    Dermoscopy,
    /// More clinical history (duration, change, symptoms, relevant history).
    History,
    /// What has been tried: treatments, doses and how long.
    Treatment,
    Other,
}

impl InformationTopic {
    pub const ALL: [InformationTopic; 5] = [Self::Photos, Self::Dermoscopy, Self::History, Self::Treatment, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Photos => "photos",
            Self::Dermoscopy => "dermoscopy",
            Self::History => "history",
            Self::Treatment => "treatment",
            Self::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Photos => "Better or more photos",
            Self::Dermoscopy => "Dermoscopic images",
            Self::History => "More clinical history",
            Self::Treatment => "Treatments tried",
            Self::Other => "Something else",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A referral or A&G request. Photos and messages are kept beside it, not inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Referral {
    pub id: ReferralId,
    #[schema(value_type = String)]
    pub service_id: ServiceId,
    pub route: Route,
    pub priority: Priority,
    pub status: ReferralStatus,
    /// The GP practice the referral comes from.
    pub practice_id: OrganisationId,
    pub referrer_id: UserId,
    /// The consultant who claimed it.
    pub assignee_id: Option<UserId>,
    pub patient: Patient,
    pub history: ClinicalHistory,
    pub consent: Option<Consent>,
    /// The eligibility checklist as the GP filled it in (may be partial while a draft): any JSON
    /// until the referral is sent, when it must be exactly an `EligibilityAnswers` object.
    pub eligibility_answers: Option<serde_json::Value>,
    /// The eligibility decision made at submission.
    #[schema(value_type = Option<crate::eligibility::EligibilityDecision>)]
    pub eligibility: Option<serde_json::Value>,
    /// For A&G: the GP allows the consultant to convert the request into a referral.
    pub conversion_authorised: bool,
    /// The e-RS Unique Booking Reference Number of a RAS referral (12 digits), when the GP has one.
    #[serde(default)]
    pub ubrn: Option<String>,
    pub outcome: Option<Outcome>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// The working-day deadline from the service's response target.
    pub due_date: Option<NaiveDate>,
    /// Bumped on every write; a write with a stale version is refused (no lost updates).
    pub version: i64,
    /// What the patient told us in their own words on their upload link (written only by the
    /// patient's link, never by the referrer's edits, so not part of `version`).
    #[serde(default)]
    pub patient_answers: Option<crate::patient_voice::PatientAnswers>,
}

/// An e-RS Unique Booking Reference Number as typed (spaces and hyphens allowed): its 12 digits,
/// or `None` when it is not one.
pub fn parse_ubrn(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// A UBRN as people read it, in three groups of four: "0000 4000 1234".
pub fn ubrn_display(digits: &str) -> String {
    let chars: Vec<char> = digits.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

impl Referral {
    /// Applies `action` through the state machine, or refuses it.
    pub fn apply(&mut self, action: Action, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
        self.status = self.status.after(action)?;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use ReferralStatus as S;

    const ACTIONS: [Action; 8] =
        [A::Submit, A::Claim, A::RequestInformation, A::Reply, A::IssueOutcome, A::Reject, A::Close, A::Withdraw];

    #[test]
    fn the_happy_path_with_an_information_loop() {
        let mut s = S::Draft;
        for a in [A::Submit, A::Claim, A::RequestInformation, A::Reply, A::RequestInformation, A::Reply, A::IssueOutcome, A::Close] {
            s = s.after(a).unwrap();
        }
        assert_eq!(s, S::Closed);
    }

    #[test]
    fn exactly_the_documented_transitions_are_legal() {
        let legal = [
            (S::Draft, A::Submit, S::Submitted),
            (S::Submitted, A::Claim, S::InReview),
            (S::InReview, A::RequestInformation, S::AwaitingInformation),
            (S::AwaitingInformation, A::Reply, S::InReview),
            (S::InReview, A::IssueOutcome, S::OutcomeIssued),
            (S::Submitted, A::Reject, S::Rejected),
            (S::InReview, A::Reject, S::Rejected),
            (S::OutcomeIssued, A::Close, S::Closed),
            (S::Draft, A::Withdraw, S::Withdrawn),
            (S::Submitted, A::Withdraw, S::Withdrawn),
            (S::InReview, A::Withdraw, S::Withdrawn),
            (S::AwaitingInformation, A::Withdraw, S::Withdrawn),
        ];
        for from in S::ALL {
            for action in ACTIONS {
                let expected = legal.iter().find(|(f, a, _)| *f == from && *a == action).map(|(_, _, to)| *to);
                match (from.after(action), expected) {
                    (Ok(to), Some(e)) => assert_eq!(to, e),
                    (Err(err), None) => {
                        assert_eq!(err, IllegalTransition { from, action });
                        assert!(!err.to_string().is_empty());
                    }
                    (got, want) => panic!("{from:?} + {action:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn terminal_states_accept_nothing() {
        for s in [S::Closed, S::Rejected, S::Withdrawn] {
            assert!(ACTIONS.iter().all(|a| s.after(*a).is_err()), "{s:?}");
        }
    }
}
