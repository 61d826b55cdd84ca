//! Outcome codes a consultant records, and the e-RS triage outcome each becomes.
//!
//! The codes are a stable contract (API, CLI, FHIR, letters); see `docs/outcomes.md`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::UserId;
use crate::referral::Priority;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeCode {
    AdviceManagementPlan,
    NoFurtherAction,
    FaceToFaceRoutine,
    FaceToFaceUrgent,
    Biopsy,
    OnwardReferral,
    ConvertToReferral,
    RedirectTwoWeekWait,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionReason {
    PoorImageQuality,
    Ineligible,
    ShouldBeTwoWeekWait,
    InsufficientInformation,
    Other,
}

/// The e-RS review/guidance outcome (`eRS-ReviewOutcome-1` / `eRS-GuidanceResponseOutcome-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErsTriageOutcome {
    ReturnToReferrerWithAdvice,
    AcceptReferBookLater,
    RequireFurtherInformation,
}

impl OutcomeCode {
    pub const ALL: [OutcomeCode; 9] = [
        Self::AdviceManagementPlan,
        Self::NoFurtherAction,
        Self::FaceToFaceRoutine,
        Self::FaceToFaceUrgent,
        Self::Biopsy,
        Self::OnwardReferral,
        Self::ConvertToReferral,
        Self::RedirectTwoWeekWait,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdviceManagementPlan => "advice_management_plan",
            Self::NoFurtherAction => "no_further_action",
            Self::FaceToFaceRoutine => "face_to_face_routine",
            Self::FaceToFaceUrgent => "face_to_face_urgent",
            Self::Biopsy => "biopsy",
            Self::OnwardReferral => "onward_referral",
            Self::ConvertToReferral => "convert_to_referral",
            Self::RedirectTwoWeekWait => "redirect_two_week_wait",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// A short label for screens and letters.
    pub fn label(self) -> &'static str {
        match self {
            Self::AdviceManagementPlan => "Advice and management plan",
            Self::NoFurtherAction => "No further action",
            Self::FaceToFaceRoutine => "Face-to-face appointment (routine)",
            Self::FaceToFaceUrgent => "Face-to-face appointment (urgent)",
            Self::Biopsy => "Biopsy",
            Self::OnwardReferral => "Onward referral",
            Self::ConvertToReferral => "Converted to a referral",
            Self::RedirectTwoWeekWait => "Refer on the two-week-wait pathway",
            Self::Rejected => "Rejected",
        }
    }

    /// The e-RS triage outcome this code becomes.
    ///
    /// Face-to-face, biopsy and conversion put the patient on the provider's booking list
    /// (`ACCEPT_REFER_BOOK_LATER`); everything else goes back to the GP with advice, because the GP
    /// keeps responsibility (onward and two-week-wait referrals are made by the GP).
    pub fn ers_outcome(self) -> ErsTriageOutcome {
        match self {
            Self::FaceToFaceRoutine | Self::FaceToFaceUrgent | Self::Biopsy | Self::ConvertToReferral => {
                ErsTriageOutcome::AcceptReferBookLater
            }
            Self::AdviceManagementPlan
            | Self::NoFurtherAction
            | Self::OnwardReferral
            | Self::RedirectTwoWeekWait
            | Self::Rejected => ErsTriageOutcome::ReturnToReferrerWithAdvice,
        }
    }
}

impl RejectionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PoorImageQuality => "poor_image_quality",
            Self::Ineligible => "ineligible",
            Self::ShouldBeTwoWeekWait => "should_be_two_week_wait",
            Self::InsufficientInformation => "insufficient_information",
            Self::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::PoorImageQuality => "The photographs were not good enough to assess",
            Self::Ineligible => "The patient does not meet the service's criteria",
            Self::ShouldBeTwoWeekWait => "This should be referred on the two-week-wait pathway",
            Self::InsufficientInformation => "There was not enough clinical information",
            Self::Other => "Other reason",
        }
    }
}

/// What the consultant decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub code: OutcomeCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<RejectionReason>,
    /// Working or differential diagnosis.
    #[serde(default)]
    pub diagnosis: String,
    /// The advice and management plan for the GP.
    #[serde(default)]
    pub management_plan: String,
    /// Follow-up and safety-netting advice.
    #[serde(default)]
    pub follow_up: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// For onward referrals: where to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onward_service: Option<String>,
    pub recorded_by: UserId,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeError {
    #[error("a rejection needs a reason: one of poor_image_quality, ineligible, should_be_two_week_wait, insufficient_information, other")]
    RejectionNeedsReason,
    #[error("a rejection reason only goes with the outcome `rejected`")]
    ReasonWithoutRejection,
    #[error("an onward referral needs the service it goes to (onward_service)")]
    OnwardNeedsService,
    #[error("an advice and management plan needs the plan text (management_plan)")]
    AdviceNeedsPlan,
}

impl Outcome {
    /// Checks the fields that go with the code.
    pub fn validate(&self) -> Result<(), OutcomeError> {
        match (self.code, self.rejection_reason) {
            (OutcomeCode::Rejected, None) => return Err(OutcomeError::RejectionNeedsReason),
            (c, Some(_)) if c != OutcomeCode::Rejected => return Err(OutcomeError::ReasonWithoutRejection),
            _ => {}
        }
        if self.code == OutcomeCode::OnwardReferral
            && self.onward_service.as_deref().is_none_or(|s| s.trim().is_empty())
        {
            return Err(OutcomeError::OnwardNeedsService);
        }
        if self.code == OutcomeCode::AdviceManagementPlan && self.management_plan.trim().is_empty() {
            return Err(OutcomeError::AdviceNeedsPlan);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_maps_to_ers() {
        for code in OutcomeCode::ALL {
            assert_eq!(OutcomeCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
        assert_eq!(OutcomeCode::AdviceManagementPlan.ers_outcome(), ErsTriageOutcome::ReturnToReferrerWithAdvice);
        assert_eq!(OutcomeCode::Biopsy.ers_outcome(), ErsTriageOutcome::AcceptReferBookLater);
        assert_eq!(
            serde_json::to_string(&ErsTriageOutcome::AcceptReferBookLater).unwrap(),
            "\"ACCEPT_REFER_BOOK_LATER\""
        );
    }
}
