//! Properties of NHS number validation (Modulus 11, interop-standards §3).

use proptest::prelude::*;
use telederm_domain::nhs_number::{NhsNumber, NhsNumberError};

fn digits_string(d: &[u8]) -> String {
    d.iter().map(|d| char::from(b'0' + d)).collect()
}

fn all_same(d: &[u8]) -> bool {
    d.iter().all(|x| *x == d[0])
}

/// Inserts a separator (space or hyphen) after the digits chosen by `mask`.
fn with_separators(digits: &str, mask: &[bool], hyphen: bool) -> String {
    let sep = if hyphen { '-' } else { ' ' };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        out.push(c);
        if mask[i] && i < digits.len() - 1 {
            out.push(sep);
        }
    }
    out
}

#[test]
fn known_numbers() {
    for valid in ["9434765919", "9990000018", "9990000026", "9990000034", "9990000042", "9990000050",
                  "9990000069", "9990000077", "9990000085", "9912003888", "9449305552", "9000000009", "6541003238"] {
        assert_eq!(NhsNumber::parse(valid).unwrap().as_digits(), valid);
    }
    // 1234567890: weighted sum 210, 210 mod 11 = 1, 11 - 1 = 10: no valid check digit.
    assert_eq!(NhsNumber::parse("1234567890"), Err(NhsNumberError::CheckDigitTen));
    assert_eq!(NhsNumber::parse("9434765918"), Err(NhsNumberError::CheckDigitMismatch));
    assert_eq!(NhsNumber::parse("943 476 5919").unwrap().formatted(), "943 476 5919");
    for d in 0..=9u8 {
        let n = digits_string(&[d; 10]);
        assert_eq!(NhsNumber::parse(&n), Err(NhsNumberError::RepeatedDigit), "{n}");
    }
    // 999000000x: the first nine digits give a check digit of 10, so no tenth digit is valid.
    for last in 0..=9 {
        assert_eq!(NhsNumber::parse(&format!("999000000{last}")), Err(NhsNumberError::CheckDigitTen));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_modulus_11_check_digit_makes_a_valid_number(first in proptest::collection::vec(0u8..=9, 9)) {
        let check = NhsNumber::check_digit(&first);
        let weighted: u32 = first.iter().zip([10u32, 9, 8, 7, 6, 5, 4, 3, 2]).map(|(d, w)| u32::from(*d) * w).sum();
        match check {
            None => prop_assert_eq!(weighted % 11, 1),
            Some(c) => {
                prop_assert_eq!((weighted + u32::from(c)) % 11, 0);
                let mut all = first.clone();
                all.push(c);
                let s = digits_string(&all);
                if all_same(&all) {
                    prop_assert_eq!(NhsNumber::parse(&s), Err(NhsNumberError::RepeatedDigit));
                } else {
                    let n = NhsNumber::parse(&s).unwrap();
                    prop_assert_eq!(n.as_digits(), s.clone());
                    prop_assert_eq!(NhsNumber::parse(&n.formatted()).unwrap(), n);
                    let json = serde_json::to_string(&n).unwrap();
                    prop_assert_eq!(serde_json::from_str::<NhsNumber>(&json).unwrap(), n);
                }
            }
        }
    }

    #[test]
    fn any_other_tenth_digit_is_refused(first in proptest::collection::vec(0u8..=9, 9), last in 0u8..=9) {
        let mut all = first.clone();
        all.push(last);
        let s = digits_string(&all);
        let result = NhsNumber::parse(&s);
        if all_same(&all) {
            prop_assert_eq!(result, Err(NhsNumberError::RepeatedDigit));
        } else {
            match NhsNumber::check_digit(&first) {
                None => prop_assert_eq!(result, Err(NhsNumberError::CheckDigitTen)),
                Some(c) if c == last => prop_assert!(result.is_ok()),
                Some(_) => prop_assert_eq!(result, Err(NhsNumberError::CheckDigitMismatch)),
            }
        }
    }

    #[test]
    fn spaces_and_hyphens_are_normalised(digits in proptest::collection::vec(0u8..=9, 10), mask in proptest::collection::vec(any::<bool>(), 10), hyphen in any::<bool>()) {
        let plain = digits_string(&digits);
        let separated = with_separators(&plain, &mask, hyphen);
        prop_assert_eq!(NhsNumber::parse(&separated), NhsNumber::parse(&plain));
    }

    #[test]
    fn anything_but_ten_digits_is_the_wrong_length(digits in proptest::collection::vec(0u8..=9, 0..20)) {
        prop_assume!(digits.len() != 10);
        prop_assert_eq!(NhsNumber::parse(&digits_string(&digits)), Err(NhsNumberError::WrongLength(digits.len())));
    }

    #[test]
    fn other_characters_are_refused(digits in proptest::collection::vec(0u8..=9, 10), at in 0usize..10, c in "[a-zA-Z./_+]") {
        let mut s = digits_string(&digits);
        s.insert_str(at, &c);
        prop_assert_eq!(NhsNumber::parse(&s), Err(NhsNumberError::InvalidCharacter(c.chars().next().unwrap())));
    }

    #[test]
    fn parsing_never_panics(s in "\\PC{0,24}") {
        let _ = NhsNumber::parse(&s);
    }
}
