//! Patients as recorded on a referral.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::NhsNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

/// How to reach the patient (for notifications and upload links; never clinical content).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Patient {
    pub nhs_number: NhsNumber,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: Sex,
    pub postcode: String,
    #[serde(default)]
    pub contact: Contact,
}

impl Patient {
    /// Age in whole years on `date`.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        date.years_since(self.date_of_birth).unwrap_or(0)
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}
