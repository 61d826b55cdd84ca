//! NHS numbers: ten digits, the tenth a Modulus 11 check digit (NHS Data Dictionary).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid NHS number, held as its ten digits. Sent as ten digits (spaces and hyphens between them
/// are allowed), the tenth a Modulus 11 check digit; answered as the ten digits alone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(value_type = String, pattern = "^[ -]*([0-9][ -]*){10}$", example = "943 476 5919")]
pub struct NhsNumber([u8; 10]);

/// Why a string is not a valid NHS number. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    #[error("an NHS number has exactly 10 digits; this has {0}")]
    WrongLength(usize),
    #[error("an NHS number contains only digits, spaces and hyphens; found {0:?}")]
    InvalidCharacter(char),
    #[error("the check digit does not match (Modulus 11): check the number was copied correctly")]
    CheckDigitMismatch,
    #[error("the check digit works out as 10, which no NHS number can have: check the number was copied correctly")]
    CheckDigitTen,
    #[error("a number made of one repeated digit is not a real NHS number")]
    RepeatedDigit,
}

impl NhsNumberError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongLength(_) => "nhs_number_wrong_length",
            Self::InvalidCharacter(_) => "nhs_number_invalid_character",
            Self::CheckDigitMismatch => "nhs_number_check_digit_mismatch",
            Self::CheckDigitTen => "nhs_number_check_digit_ten",
            Self::RepeatedDigit => "nhs_number_repeated_digit",
        }
    }
}

impl NhsNumber {
    /// Parses a number, allowing spaces and hyphens between digits (`943 476 5919`, `943-476-5919`).
    pub fn parse(input: &str) -> Result<Self, NhsNumberError> {
        let mut digits = Vec::with_capacity(10);
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c as u8 - b'0'),
                ' ' | '-' => {}
                other => return Err(NhsNumberError::InvalidCharacter(other)),
            }
        }
        let digits: [u8; 10] = digits
            .as_slice()
            .try_into()
            .map_err(|_| NhsNumberError::WrongLength(digits.len()))?;
        if digits.iter().all(|d| *d == digits[0]) {
            return Err(NhsNumberError::RepeatedDigit);
        }
        match Self::check_digit(&digits[..9]) {
            None => Err(NhsNumberError::CheckDigitTen),
            Some(check) if check == digits[9] => Ok(Self(digits)),
            Some(_) => Err(NhsNumberError::CheckDigitMismatch),
        }
    }

    /// The Modulus 11 check digit for the first nine digits, or `None` when it would be 10.
    pub fn check_digit(first_nine: &[u8]) -> Option<u8> {
        let sum: u32 = first_nine
            .iter()
            .zip((2..=10).rev())
            .map(|(d, w)| u32::from(*d) * w)
            .sum();
        match 11 - (sum % 11) {
            11 => Some(0),
            10 => None,
            d => Some(d as u8),
        }
    }

    /// The ten digits without separators, e.g. `9434765919`.
    pub fn as_digits(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The conventional 3-3-4 display form, e.g. `943 476 5919`.
    pub fn formatted(&self) -> String {
        let s = self.as_digits();
        format!("{} {} {}", &s[..3], &s[3..6], &s[6..])
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_digits())
    }
}

impl fmt::Debug for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NhsNumber({})", self.as_digits())
    }
}

impl std::str::FromStr for NhsNumber {
    type Err = NhsNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for NhsNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_digits())
    }
}

impl<'de> Deserialize<'de> for NhsNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_valid_numbers_with_separators() {
        for n in ["9434765919", "943 476 5919", "943-476-5919", "9912003888", "9990000018"] {
            assert!(NhsNumber::parse(n).is_ok(), "{n}");
        }
        assert_eq!(NhsNumber::parse("943 476 5919").unwrap().as_digits(), "9434765919");
    }

    /// The codes are a contract (`telederm nhs-number check` and the API's problems print
    /// them): each reason keeps its own.
    #[test]
    fn each_reason_has_its_stable_code() {
        let cases = [
            ("9434765918", "nhs_number_check_digit_mismatch"),
            ("943476591", "nhs_number_wrong_length"),
            ("94347659X9", "nhs_number_invalid_character"),
            ("4444444444", "nhs_number_repeated_digit"),
        ];
        for (input, code) in cases {
            assert_eq!(NhsNumber::parse(input).unwrap_err().code(), code, "{input}");
        }
        assert_eq!(NhsNumberError::CheckDigitTen.code(), "nhs_number_check_digit_ten");
    }

    #[test]
    fn refuses_bad_numbers_with_the_right_reason() {
        assert_eq!(NhsNumber::parse("9434765918"), Err(NhsNumberError::CheckDigitMismatch));
        assert_eq!(NhsNumber::parse("943476591"), Err(NhsNumberError::WrongLength(9)));
        assert_eq!(NhsNumber::parse("94347659190"), Err(NhsNumberError::WrongLength(11)));
        assert_eq!(NhsNumber::parse("4444444444"), Err(NhsNumberError::RepeatedDigit));
        assert_eq!(NhsNumber::parse("94347a5919"), Err(NhsNumberError::InvalidCharacter('a')));
        // 1000000010: weights give a check digit of 10 for 100000001 -> invalid whatever the tenth digit.
        let nine = [1, 0, 0, 0, 0, 0, 0, 0, 1];
        if NhsNumber::check_digit(&nine).is_none() {
            assert_eq!(NhsNumber::parse("1000000010"), Err(NhsNumberError::CheckDigitTen));
        }
    }
}
