//! How a service is asked ([`Route`]) and how urgently ([`Priority`]): shared by referrals and
//! their outcomes.

use serde::{Deserialize, Serialize};

/// How the service is asked: Advice & Guidance (clinical responsibility stays with the GP) or a
/// Referral Assessment Service (triage of a referral).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    AdviceAndGuidance,
    Ras,
}

/// Clinical priority as e-RS knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Routine,
    Urgent,
    TwoWeekWait,
}

impl Route {
    pub const ALL: [Route; 2] = [Route::AdviceAndGuidance, Route::Ras];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::AdviceAndGuidance => "advice_and_guidance",
            Route::Ras => "ras",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            Route::AdviceAndGuidance => "Advice & Guidance",
            Route::Ras => "Referral Assessment Service",
        }
    }
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Routine => "routine",
            Priority::Urgent => "urgent",
            Priority::TwoWeekWait => "two_week_wait",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Priority::Routine, Priority::Urgent, Priority::TwoWeekWait].into_iter().find(|p| p.as_str() == s)
    }
}
