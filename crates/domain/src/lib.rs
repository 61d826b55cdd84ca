//! Telederm's domain: pure types and rules. No I/O, no async, no HTTP, no SQL.
//!
//! Raw input becomes a typed value at the boundary (`NhsNumber::parse`,
//! `EligibilityAnswers::from_json`, `ServicePolicy::from_toml`); inside, invalid states
//! cannot be represented.

pub mod calendar;
pub mod diagnoses;
pub mod directory;
pub mod document;
pub mod eligibility;
pub mod flags;
pub mod ids;
pub mod nhs_number;
pub mod notification;
pub mod organisation;
pub mod outcome;
pub mod password;
pub mod patient;
pub mod patient_status;
pub mod patient_voice;
pub mod policy;
pub mod referral;
pub mod reports;
pub mod retention;
pub mod route;
pub mod teaching;

pub use ids::*;
pub use nhs_number::NhsNumber;
