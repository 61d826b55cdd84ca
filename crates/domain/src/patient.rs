//! Patients as recorded on a referral.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::NhsNumber;
use crate::notification::Channel;

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

/// What a patient's contact details let Telederm use on its own: an email address, a UK mobile
/// number (text messages, through GOV.UK Notify only), or neither (a landline or nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Email,
    Mobile,
    None,
}

impl ContactKind {
    /// Whether a message reaches the patient: by email, or by text message when the notifier
    /// sends them (`sms_enabled`).
    pub fn reachable(self, sms_enabled: bool) -> bool {
        match self {
            ContactKind::Email => true,
            ContactKind::Mobile => sms_enabled,
            ContactKind::None => false,
        }
    }
}

/// Whether `phone` is a UK mobile number (07…, +44 7…, 0044 7…; spaces, hyphens, dots and
/// brackets ignored): the numbers a text message can go to.
pub fn is_uk_mobile(phone: &str) -> bool {
    let digits: String = phone.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let national = if let Some(rest) = digits.strip_prefix("+44").or_else(|| digits.strip_prefix("0044")) {
        format!("0{rest}")
    } else {
        digits
    };
    national.len() == 11 && national.starts_with("07") && national.bytes().all(|b| b.is_ascii_digit())
}

impl Contact {
    /// The email address, when one was given.
    pub fn email_address(&self) -> Option<&str> {
        self.email.as_deref().map(str::trim).filter(|e| !e.is_empty())
    }

    /// The phone number, when it is a UK mobile.
    pub fn mobile_number(&self) -> Option<&str> {
        self.phone.as_deref().map(str::trim).filter(|p| is_uk_mobile(p))
    }

    pub fn kind(&self) -> ContactKind {
        if self.email_address().is_some() {
            ContactKind::Email
        } else if self.mobile_number().is_some() {
            ContactKind::Mobile
        } else {
            ContactKind::None
        }
    }

    /// How a message reaches the patient: by email when they gave an address, else by text
    /// message to their mobile when the notifier sends them; `None` when it cannot.
    pub fn channel(&self, sms_enabled: bool) -> Option<(Channel, &str)> {
        match (self.email_address(), self.mobile_number()) {
            (Some(email), _) => Some((Channel::Email, email)),
            (None, Some(mobile)) if sms_enabled => Some((Channel::Sms, mobile)),
            _ => None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(email: Option<&str>, phone: Option<&str>) -> Contact {
        Contact { email: email.map(str::to_string), phone: phone.map(str::to_string) }
    }

    #[test]
    fn uk_mobiles_are_told_from_landlines() {
        for mobile in ["07700 900123", "07700900123", "+44 7700 900123", "0044 (7700) 900-123", "07700.900.123"] {
            assert!(is_uk_mobile(mobile), "{mobile}");
        }
        for other in ["020 7946 0018", "0770090012", "077009001234", "+33 6 12 34 56 78", "07700 9001x3", ""] {
            assert!(!is_uk_mobile(other), "{other}");
        }
    }

    #[test]
    fn email_first_then_a_mobile_by_text_when_the_notifier_sends_them() {
        let both = contact(Some(" ada@example.org "), Some("07700 900123"));
        assert_eq!(both.kind(), ContactKind::Email);
        assert_eq!(both.channel(false), Some((Channel::Email, "ada@example.org")));
        let mobile = contact(Some("  "), Some(" 07700 900123 "));
        assert_eq!(mobile.kind(), ContactKind::Mobile);
        assert_eq!(mobile.channel(true), Some((Channel::Sms, "07700 900123")));
        assert_eq!(mobile.channel(false), None);
        assert!(mobile.kind().reachable(true) && !mobile.kind().reachable(false));
        let landline = contact(None, Some("020 7946 0018"));
        assert_eq!((landline.kind(), landline.channel(true)), (ContactKind::None, None));
        assert!(!ContactKind::None.reachable(true));
        assert_eq!(contact(None, None).kind(), ContactKind::None);
    }
}
