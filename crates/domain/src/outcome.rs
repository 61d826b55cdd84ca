//! Outcome codes a consultant records, and the e-RS triage outcome each becomes.
//!
//! The codes are a stable contract (API, CLI, FHIR, letters); see `docs/outcomes.md`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::UserId;
use crate::route::{Priority, Route};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectionReason {
    PoorImageQuality,
    Ineligible,
    ShouldBeTwoWeekWait,
    InsufficientInformation,
    Other,
}

/// The e-RS review/guidance outcome (`eRS-ReviewOutcome-1` / `eRS-GuidanceResponseOutcome-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

impl OutcomeCode {
    /// Whether the outcome cannot be recorded without `management_plan` (documented in
    /// `docs/outcomes.md`, "Needs").
    pub fn needs_plan(self) -> bool {
        matches!(self, Self::AdviceManagementPlan | Self::Biopsy)
    }

    /// Whether the outcome cannot be recorded without `diagnosis`: every outcome after which
    /// someone must act on the consultant's opinion (refer, book, biopsy) or that closes the
    /// question (no further action).
    pub fn needs_diagnosis(self) -> bool {
        matches!(
            self,
            Self::NoFurtherAction
                | Self::FaceToFaceRoutine
                | Self::FaceToFaceUrgent
                | Self::Biopsy
                | Self::OnwardReferral
                | Self::RedirectTwoWeekWait
        )
    }

    /// Whether the letters carry an urgency heading for this outcome regardless of the priority.
    pub fn is_urgent(self) -> bool {
        matches!(self, Self::FaceToFaceUrgent | Self::RedirectTwoWeekWait)
    }
}

/// Who acts after an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextOwner {
    /// The GP must make a referral (A&G without conversion, onward, two-week wait): nobody else will.
    GpRefers,
    /// The provider has the referral and books the patient (RAS accept, A&G converted in e-RS).
    ProviderBooks,
    /// The GP keeps the patient and follows the advice (or re-refers after a rejection).
    GpManages,
    /// Nothing further is needed beyond safety-netting.
    Nothing,
}

impl NextOwner {
    pub fn as_str(self) -> &'static str {
        match self {
            NextOwner::GpRefers => "gp_refers",
            NextOwner::ProviderBooks => "provider_books",
            NextOwner::GpManages => "gp_manages",
            NextOwner::Nothing => "nothing",
        }
    }
}

/// Who acts next after an outcome, what the GP is told to do and what the patient is told.
///
/// One table for every route x outcome code x conversion authorised (`docs/outcomes.md`, "Who acts
/// next"); the letters print `gp_action` as "Action for you" and `patient_told` under "What
/// happens next". It agrees with the e-RS mapping: `ProviderBooks` exactly where e-RS puts the
/// patient on the provider's list (`ACCEPT_REFER_BOOK_LATER` or an A027 conversion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextStep {
    pub owner: NextOwner,
    pub gp_action: &'static str,
    pub patient_told: &'static str,
}

/// The next step after `code` on `route`. On Advice & Guidance clinical responsibility stays with
/// the GP, so a face-to-face, urgent face-to-face or biopsy outcome means the GP refers, unless the
/// GP authorised conversion (then e-RS converts the request and the provider books).
pub fn next_step(route: Route, code: OutcomeCode, conversion_authorised: bool) -> NextStep {
    use NextOwner::*;
    use OutcomeCode as C;
    let provider_books = match (route, code) {
        (Route::Ras, C::FaceToFaceRoutine | C::FaceToFaceUrgent | C::Biopsy | C::ConvertToReferral) => true,
        (Route::AdviceAndGuidance, C::FaceToFaceRoutine | C::FaceToFaceUrgent | C::Biopsy | C::ConvertToReferral) => {
            conversion_authorised
        }
        _ => false,
    };
    let step = |owner, gp_action, patient_told| NextStep { owner, gp_action, patient_told };
    match code {
        C::AdviceManagementPlan => step(
            GpManages,
            "Manage the patient in primary care following the management plan below. No hospital appointment has been made.",
            "The specialist has sent your GP advice about how to treat your skin. You do not need to see a skin specialist in hospital. Your GP practice will talk to you about the treatment.",
        ),
        C::NoFurtherAction => step(
            Nothing,
            "No further action is needed. Give the patient the safety-netting advice below.",
            "The specialist does not think you need any treatment or a hospital appointment for this.",
        ),
        C::FaceToFaceRoutine if provider_books => step(
            ProviderBooks,
            "None to arrange the appointment: the dermatology service will book the patient into clinic (routine). Keep managing the patient until then.",
            "The specialist would like to see you in a skin clinic. The skin service will contact you with an appointment.",
        ),
        C::FaceToFaceRoutine => step(
            GpRefers,
            "Refer the patient for a routine face-to-face dermatology appointment. This is advice only: no referral has been made and no appointment booked.",
            "The specialist would like you to be seen in a skin clinic. Your GP will refer you for this appointment. The skin clinic will not contact you until your GP has referred you. If you have not heard from your GP practice within 2 weeks, please contact them.",
        ),
        C::FaceToFaceUrgent if provider_books => step(
            ProviderBooks,
            "None to arrange the appointment: the dermatology service will book an urgent clinic appointment. Keep managing the patient until then.",
            "The specialist would like to see you soon in a skin clinic. The skin service will contact you with an appointment. Please answer calls and letters about it quickly.",
        ),
        C::FaceToFaceUrgent => step(
            GpRefers,
            "Refer the patient urgently for a face-to-face dermatology appointment. This is advice only: no referral has been made and no appointment booked.",
            "The specialist would like you to be seen soon in a skin clinic. Your GP will refer you urgently for this appointment. The skin clinic will not contact you until your GP has referred you. If you have not heard from your GP practice within a week, please contact them.",
        ),
        C::Biopsy if provider_books => step(
            ProviderBooks,
            "None to arrange the biopsy: the dermatology service will book it (see the plan below).",
            "The specialist would like to take a small sample of skin (a biopsy) to look at under a microscope. The skin service will contact you with an appointment. It is a small procedure done with a local anaesthetic.",
        ),
        C::Biopsy => step(
            GpRefers,
            "Refer the patient for the biopsy described in the plan below. This is advice only: no referral has been made and no biopsy booked.",
            "The specialist would like a small sample of skin (a biopsy) to be taken and looked at under a microscope. Your GP will refer you for this. It is a small procedure done with a local anaesthetic. If you have not heard from your GP practice within 2 weeks, please contact them.",
        ),
        C::OnwardReferral => step(
            GpRefers,
            "Refer the patient to the service named below. The teledermatology service has not made this referral.",
            "The specialist thinks another team should see you. Your GP will refer you.",
        ),
        C::ConvertToReferral if provider_books => step(
            ProviderBooks,
            "None to arrange the appointment: the request is now a referral and the dermatology service will book the patient.",
            "Your GP's request has been turned into a referral to the skin clinic. The skin service will contact you with an appointment.",
        ),
        C::ConvertToReferral => step(
            GpRefers,
            "Refer the patient to dermatology: you did not authorise conversion, so no referral has been made.",
            "The specialist would like you to be seen in a skin clinic. Your GP will refer you. If you have not heard from your GP practice within 2 weeks, please contact them.",
        ),
        C::RedirectTwoWeekWait => step(
            GpRefers,
            "Refer today on the urgent suspected cancer (two-week-wait) pathway. The teledermatology service has not made this referral.",
            "The specialist would like you to be seen quickly. Your GP will refer you on the urgent pathway, which means you should be seen within two weeks. This does not always mean cancer.",
        ),
        C::Rejected => step(
            GpManages,
            "The request could not be assessed and clinical responsibility remains with you. Re-refer with what was missing, or refer by another route if clinically indicated.",
            "The specialist could not give advice this time. Your GP practice will talk to you about what happens next.",
        ),
    }
}

impl RejectionReason {
    pub const ALL: [RejectionReason; 5] =
        [Self::PoorImageQuality, Self::Ineligible, Self::ShouldBeTwoWeekWait, Self::InsufficientInformation, Self::Other];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub code: OutcomeCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<RejectionReason>,
    /// Working or differential diagnosis.
    #[serde(default)]
    pub diagnosis: String,
    /// The diagnosis as a SNOMED CT concept id from [`crate::diagnoses::COMMON_SKIN_CONDITIONS`],
    /// when the consultant picked one (the text above is then its term, or their own wording).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis_code: Option<String>,
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
    #[error("this outcome needs the plan the GP or the service will follow (management_plan): for a biopsy, which lesion and what kind of biopsy")]
    NeedsPlan,
    #[error("this outcome needs a working or differential diagnosis (diagnosis) so the GP can act on it or refer")]
    NeedsDiagnosis,
    #[error("diagnosis_code is not a SNOMED CT code on Telederm's list of common skin conditions (GET /api/v1/diagnoses); leave it out and write the diagnosis as text")]
    UnknownDiagnosisCode,
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
        if self.code.needs_plan() && self.management_plan.trim().is_empty() {
            return Err(OutcomeError::NeedsPlan);
        }
        if self.diagnosis_code.as_deref().is_some_and(|c| crate::diagnoses::by_code(c).is_none()) {
            return Err(OutcomeError::UnknownDiagnosisCode);
        }
        if self.code.needs_diagnosis() && self.diagnosis.trim().is_empty() {
            return Err(OutcomeError::NeedsDiagnosis);
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

    #[test]
    fn every_route_and_code_has_a_next_step() {
        for route in [Route::AdviceAndGuidance, Route::Ras] {
            for code in OutcomeCode::ALL {
                for conv in [false, true] {
                    let s = next_step(route, code, conv);
                    assert!(!s.gp_action.trim().is_empty() && !s.patient_told.trim().is_empty(), "{route:?} {code:?}");
                }
            }
        }
    }

    #[test]
    fn on_advice_and_guidance_the_gp_refers_and_on_ras_the_provider_books() {
        use OutcomeCode as C;
        for code in [C::FaceToFaceRoutine, C::FaceToFaceUrgent, C::Biopsy] {
            let ag = next_step(Route::AdviceAndGuidance, code, false);
            assert_eq!(ag.owner, NextOwner::GpRefers, "{code:?}");
            assert!(ag.patient_told.contains("Your GP will refer you"), "{code:?}: {}", ag.patient_told);
            assert!(!ag.patient_told.contains("will contact you with an appointment"), "{code:?}: {}", ag.patient_told);
            assert_eq!(next_step(Route::AdviceAndGuidance, code, true).owner, NextOwner::ProviderBooks, "{code:?} converted");
            let ras = next_step(Route::Ras, code, false);
            assert_eq!(ras.owner, NextOwner::ProviderBooks, "{code:?}");
            assert!(ras.patient_told.contains("will contact you with an appointment"), "{code:?}");
        }
        for route in [Route::AdviceAndGuidance, Route::Ras] {
            assert_eq!(next_step(route, C::RedirectTwoWeekWait, true).owner, NextOwner::GpRefers);
            assert_eq!(next_step(route, C::OnwardReferral, true).owner, NextOwner::GpRefers);
            assert_eq!(next_step(route, C::AdviceManagementPlan, false).owner, NextOwner::GpManages);
            assert_eq!(next_step(route, C::NoFurtherAction, false).owner, NextOwner::Nothing);
        }
    }

    #[test]
    fn docs_outcomes_md_has_the_same_next_step_table() {
        let doc = include_str!("../../../docs/outcomes.md");
        let section = doc.split("## Who acts next").nth(1).expect("section").split("\n## ").next().unwrap();
        for code in OutcomeCode::ALL {
            let row = section
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", code.as_str())))
                .unwrap_or_else(|| panic!("no row for {code:?}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let owner = |route, conv| format!("`{}`", next_step(route, code, conv).owner.as_str());
            assert_eq!(cells[2], owner(Route::AdviceAndGuidance, false), "{code:?} A&G");
            assert_eq!(cells[3], owner(Route::AdviceAndGuidance, true), "{code:?} A&G converted");
            assert_eq!(cells[4], owner(Route::Ras, false), "{code:?} RAS");
        }
    }

    fn outcome(code: OutcomeCode) -> Outcome {
        Outcome {
            code,
            rejection_reason: None,
            diagnosis: String::new(),
            diagnosis_code: None,
            management_plan: String::new(),
            follow_up: String::new(),
            priority: None,
            onward_service: None,
            recorded_by: UserId(uuid::Uuid::nil()),
            recorded_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_biopsy_needs_a_plan_and_a_diagnosis() {
        let mut o = outcome(OutcomeCode::Biopsy);
        o.diagnosis = "Basal cell carcinoma?".into();
        assert_eq!(o.validate(), Err(OutcomeError::NeedsPlan));
        o.management_plan = "Punch biopsy of the left cheek lesion".into();
        assert_eq!(o.validate(), Ok(()));
        o.diagnosis = "  ".into();
        assert_eq!(o.validate(), Err(OutcomeError::NeedsDiagnosis));
        for code in [OutcomeCode::FaceToFaceRoutine, OutcomeCode::FaceToFaceUrgent, OutcomeCode::RedirectTwoWeekWait, OutcomeCode::NoFurtherAction] {
            assert_eq!(outcome(code).validate(), Err(OutcomeError::NeedsDiagnosis), "{code:?}");
        }
        assert_eq!(outcome(OutcomeCode::ConvertToReferral).validate(), Ok(()));
    }
}
