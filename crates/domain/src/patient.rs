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
    /// How the patient prefers to hear from the service; absent: no preference (email first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefers: Option<ContactPreference>,
    /// The patient asks for letters in large print.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub large_print: bool,
}

/// How a patient prefers to hear from the service (issue 14; NHS UK Core's preferred contact
/// method, narrowed to what Telederm or the practice can send).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactPreference {
    Email,
    /// Text messages to a UK mobile.
    Text,
    /// Letters only: Telederm sends no email or text; the practice writes.
    Letter,
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

    /// What Telederm can use on its own, by the patient's preference: text first for a patient
    /// who prefers texts, nothing for one who prefers letters, otherwise email first.
    pub fn kind(&self) -> ContactKind {
        match (self.prefers, self.email_address(), self.mobile_number()) {
            (Some(ContactPreference::Letter), ..) => ContactKind::None,
            (Some(ContactPreference::Text), _, Some(_)) => ContactKind::Mobile,
            (_, Some(_), _) => ContactKind::Email,
            (_, None, Some(_)) => ContactKind::Mobile,
            _ => ContactKind::None,
        }
    }

    /// How a message reaches the patient, by their preference: a text to their mobile for one who
    /// prefers texts (when the notifier sends them, else email), nothing for one who prefers
    /// letters, otherwise email when they gave an address, else a text; `None` when it cannot.
    pub fn channel(&self, sms_enabled: bool) -> Option<(Channel, &str)> {
        let text = self.mobile_number().filter(|_| sms_enabled).map(|m| (Channel::Sms, m));
        let email = self.email_address().map(|e| (Channel::Email, e));
        match self.prefers {
            Some(ContactPreference::Letter) => None,
            Some(ContactPreference::Text) => text.or(email),
            _ => email.or(text),
        }
    }

    /// Why the preference cannot be followed with the details given, if it cannot (a preference
    /// for email without an address, or for texts without a UK mobile number).
    pub fn preference_problem(&self) -> Option<&'static str> {
        match self.prefers {
            Some(ContactPreference::Email) if self.email_address().is_none() => {
                Some("The patient prefers email, but no email address is given. Add the address, or choose another preference.")
            }
            Some(ContactPreference::Text) if self.mobile_number().is_none() => {
                Some("The patient prefers text messages, but no UK mobile number (07...) is given. Add the number, or choose another preference.")
            }
            _ => None,
        }
    }
}

/// Ethnic category as the NHS Data Dictionary codes it (A to S; Z: not stated), recorded only
/// when the patient gives it, for equity monitoring (issue 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EthnicCategory {
    A, B, C, D, E, F, G, H, J, K, L, M, N, P, R, S, Z,
}

impl EthnicCategory {
    pub const ALL: [EthnicCategory; 17] = {
        use EthnicCategory::*;
        [A, B, C, D, E, F, G, H, J, K, L, M, N, P, R, S, Z]
    };

    /// The Data Dictionary's description of the code.
    pub fn description(self) -> &'static str {
        use EthnicCategory::*;
        match self {
            A => "White: British",
            B => "White: Irish",
            C => "White: any other White background",
            D => "Mixed: White and Black Caribbean",
            E => "Mixed: White and Black African",
            F => "Mixed: White and Asian",
            G => "Mixed: any other mixed background",
            H => "Asian or Asian British: Indian",
            J => "Asian or Asian British: Pakistani",
            K => "Asian or Asian British: Bangladeshi",
            L => "Asian or Asian British: any other Asian background",
            M => "Black or Black British: Caribbean",
            N => "Black or Black British: African",
            P => "Black or Black British: any other Black background",
            R => "Other ethnic groups: Chinese",
            S => "Other ethnic groups: any other ethnic group",
            Z => "Not stated",
        }
    }

    pub fn code(self) -> &'static str {
        use EthnicCategory::*;
        match self {
            A => "A", B => "B", C => "C", D => "D", E => "E", F => "F", G => "G", H => "H", J => "J",
            K => "K", L => "L", M => "M", N => "N", P => "P", R => "R", S => "S", Z => "Z",
        }
    }

    pub fn parse(code: &str) -> Option<EthnicCategory> {
        EthnicCategory::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// Fitzpatrick skin phototype, as the GP records it (optional; for equity monitoring beside the
/// tone band the photo check estimates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum FitzpatrickType {
    I, II, III, IV, V, VI,
}

impl FitzpatrickType {
    pub const ALL: [FitzpatrickType; 6] = {
        use FitzpatrickType::*;
        [I, II, III, IV, V, VI]
    };

    pub fn code(self) -> &'static str {
        use FitzpatrickType::*;
        match self {
            I => "I", II => "II", III => "III", IV => "IV", V => "V", VI => "VI",
        }
    }

    pub fn parse(code: &str) -> Option<FitzpatrickType> {
        FitzpatrickType::ALL.into_iter().find(|c| c.code() == code)
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
    /// NHS Data Dictionary ethnic category, when the patient gave it (equity monitoring only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethnic_category: Option<EthnicCategory>,
    /// Fitzpatrick skin type the GP recorded, if any (equity monitoring only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitzpatrick_type: Option<FitzpatrickType>,
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

/// The words a name is found by (the name search, `GET /api/v1/referrals?q=`): lower case, split
/// at anything that is not a letter or digit, apostrophes dropped (so "O'Brien" is "obrien" and
/// "Smith-Jones" is "smith" and "jones"), each once, in order. A search matches a name when every
/// word typed begins one of the name's words.
pub fn name_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let cleaned: String = name.chars().filter(|c| !matches!(c, '\'' | '\u{2019}')).flat_map(char::to_lowercase).collect();
    for w in cleaned.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !words.iter().any(|x| x == w) {
            words.push(w.to_string());
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(email: Option<&str>, phone: Option<&str>) -> Contact {
        Contact { email: email.map(str::to_string), phone: phone.map(str::to_string), ..Default::default() }
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

#[cfg(test)]
mod contact_tests {
    use super::*;

    fn contact(email: Option<&str>, phone: Option<&str>, prefers: Option<ContactPreference>) -> Contact {
        Contact { email: email.map(str::to_string), phone: phone.map(str::to_string), prefers, large_print: false }
    }

    #[test]
    fn messages_follow_the_patients_preference() {
        let both = |p| contact(Some("a@example.org"), Some("07700 900123"), p);
        assert_eq!(both(None).channel(true), Some((Channel::Email, "a@example.org")), "email first without a preference");
        assert_eq!(both(Some(ContactPreference::Text)).channel(true), Some((Channel::Sms, "07700 900123")));
        assert_eq!(both(Some(ContactPreference::Text)).channel(false), Some((Channel::Email, "a@example.org")), "no SMS notifier: email");
        assert_eq!(both(Some(ContactPreference::Email)).channel(true), Some((Channel::Email, "a@example.org")));
        assert_eq!(both(Some(ContactPreference::Letter)).channel(true), None, "letters only: no email or text");
        assert_eq!(both(Some(ContactPreference::Letter)).kind(), ContactKind::None);
        assert_eq!(both(Some(ContactPreference::Text)).kind(), ContactKind::Mobile);
        assert_eq!(contact(None, Some("07700 900123"), None).channel(true), Some((Channel::Sms, "07700 900123")));
        assert_eq!(contact(None, Some("020 7946 0000"), None).channel(true), None, "a landline takes no texts");
    }

    #[test]
    fn a_preference_the_details_cannot_serve_is_named() {
        assert!(contact(None, Some("020 7946 0000"), Some(ContactPreference::Text)).preference_problem().unwrap().contains("UK mobile"));
        assert!(contact(None, None, Some(ContactPreference::Email)).preference_problem().unwrap().contains("no email address"));
        assert_eq!(contact(None, None, Some(ContactPreference::Letter)).preference_problem(), None);
        assert_eq!(contact(Some("a@example.org"), None, Some(ContactPreference::Email)).preference_problem(), None);
    }
}
