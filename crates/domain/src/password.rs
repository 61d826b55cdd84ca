//! Password rules, after the NCSC's password guidance: a minimum length, a deny-list of the most
//! common passwords, and no composition rules (no "one capital, one digit, one symbol") and no
//! expiry. Long passphrases such as three random words are encouraged; the maximum is generous.
//!
//! Applied wherever a password is set: `telederm user add`, the admin users page and the
//! change-password API.

use thiserror::Error;

/// Shortest password accepted (NCSC: at least 8; Telederm holds special category data and offers
/// single sign-on for everyday use, so local passwords must be at least 12 characters).
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted (only to bound the work of hashing; long passphrases are welcome).
pub const MAX_LENGTH: usize = 256;

const COMMON: &str = include_str!("../data/common-passwords.txt");

/// Why a password was refused. `code()` is stable; the message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PasswordRuleError {
    #[error("The password is too short: use at least {MIN_LENGTH} characters. Three random words make a strong, memorable password.")]
    TooShort,
    #[error("The password is too long: use at most {MAX_LENGTH} characters.")]
    TooLong,
    #[error("The password is one of the most commonly used passwords (or a small change to one). Choose something less predictable, for example three random words.")]
    Common,
    #[error("The password contains your email address or name. Choose something that has nothing to do with you.")]
    Personal,
    #[error("The password is one character repeated. Choose something less predictable, for example three random words.")]
    Repetitive,
}

impl PasswordRuleError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort => "password_too_short",
            Self::TooLong => "password_too_long",
            Self::Common => "password_too_common",
            Self::Personal => "password_personal",
            Self::Repetitive => "password_too_common",
        }
    }
}

fn deny_list() -> impl Iterator<Item = &'static str> {
    COMMON.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Lower case, trailing digits and symbols removed, look-alike characters mapped to letters:
/// `P@ssw0rd2024!` becomes `password`.
fn normalise(password: &str) -> String {
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    stem.chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '0' => 'o',
            '1' | '!' | '|' => 'i',
            '3' => 'e',
            '$' | '5' => 's',
            '7' => 't',
            c => c,
        })
        .collect()
}

/// Checks a new password for a person with this email and display name.
pub fn check_password(password: &str, email: &str, display_name: &str) -> Result<(), PasswordRuleError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PasswordRuleError::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PasswordRuleError::TooLong);
    }
    let mut chars = password.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return Err(PasswordRuleError::Repetitive);
    }
    let lower = password.to_lowercase();
    let normal = normalise(password);
    let squashed: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    if deny_list().any(|w| w == lower || w == normal || w == squashed) {
        return Err(PasswordRuleError::Common);
    }
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or("");
    let personal = std::iter::once(local)
        .chain(local.split(['.', '-', '_', '+']))
        .chain(display_name.split_whitespace())
        .map(str::to_lowercase)
        .filter(|p| p.chars().count() >= 4)
        .any(|p| lower.contains(&p));
    if personal || (!email.is_empty() && lower.contains(&email)) {
        return Err(PasswordRuleError::Personal);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_passphrases_pass_without_composition_rules() {
        assert_eq!(check_password("correct horse battery staple", "ada@nhs.net", "Ada Lovelace"), Ok(()));
        assert_eq!(check_password("maple-harbour-copper-123", "gp@demo.telederm.nhs.uk", "Dr Asha Patel"), Ok(()));
        // All lower case, no digits, no symbols: fine under NCSC guidance.
        assert_eq!(check_password("purplemonkeydishwasher", "x@y.z", ""), Ok(()));
    }

    #[test]
    fn short_long_common_personal_and_repetitive_passwords_are_refused() {
        assert_eq!(check_password("short", "a@b.c", ""), Err(PasswordRuleError::TooShort));
        assert_eq!(check_password(&"x".repeat(300), "a@b.c", ""), Err(PasswordRuleError::TooLong));
        assert_eq!(check_password("aaaaaaaaaaaaaa", "a@b.c", ""), Err(PasswordRuleError::Repetitive));
        for common in ["password1234", "P@ssw0rd2024!", "Qwertyuiop12", "qwerty123456!", "Liverpool2025", "Welcome1!!!!!"] {
            assert_eq!(check_password(common, "a@b.c", ""), Err(PasswordRuleError::Common), "{common}");
        }
        assert_eq!(check_password("ada.lovelace-rules", "ada.lovelace@nhs.net", "Ada Lovelace"), Err(PasswordRuleError::Personal));
        assert_eq!(check_password("my name is lovelace", "x@nhs.net", "Ada Lovelace"), Err(PasswordRuleError::Personal));
    }

    #[test]
    fn error_codes_are_stable() {
        assert_eq!(PasswordRuleError::TooShort.code(), "password_too_short");
        assert_eq!(PasswordRuleError::Common.code(), "password_too_common");
    }
}
