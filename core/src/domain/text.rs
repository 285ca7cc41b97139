//! Rules for text people type: lengths and characters.
//!
//! Lengths are counted in Unicode scalar values (`char`s), the same on the phone and the server,
//! so an emoji or an accented letter costs what a person expects and the two can never disagree
//! about whether a text fits. U+0000 is refused everywhere (Postgres cannot store it and no person
//! means it). Names also refuse bidirectional and zero-width controls, which can make one name
//! look like another in a list of people.

use crate::domain::FieldError;
use crate::domain::FieldErrorCode;

/// Longest display name, username or team name.
pub const NAME_MAX: usize = 120;
/// Longest short free text (a reason, a relationship label).
pub const SHORT_TEXT_MAX: usize = 2_000;
/// Longest password accepted (argon2 copes with more; nobody needs it).
pub const PASSWORD_MAX: usize = 1_024;
/// Shortest password a new account may have.
pub const PASSWORD_MIN: usize = 12;

/// Characters that reorder or hide text: bidi embeddings, overrides and isolates, marks, and
/// zero-width characters.
fn is_invisible_control(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' // zero-width space/non-joiner/joiner, LRM, RLM
            | '\u{202A}'..='\u{202E}' // embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // isolates
            | '\u{061C}' // Arabic letter mark
            | '\u{FEFF}' // zero-width no-break space
    )
}

/// Checks free text: at most `max` scalar values and no U+0000.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.contains('\0') {
        return Err(FieldError::new(field, FieldErrorCode::ContainsNul));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(field, FieldErrorCode::TooLong));
    }
    Ok(())
}

/// Checks a required piece of free text: as [`check_text`], and not blank.
pub fn check_required_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    check_text(field, value, max)?;
    if value.trim().is_empty() {
        return Err(FieldError::new(field, FieldErrorCode::Required));
    }
    Ok(())
}

/// Checks a name shown to other people: required, bounded, no control characters at all.
pub fn check_name(field: &str, value: &str) -> Result<(), FieldError> {
    check_required_text(field, value, NAME_MAX)?;
    if value
        .chars()
        .any(|c| c.is_control() || is_invisible_control(c))
    {
        return Err(FieldError::new(field, FieldErrorCode::InvalidCharacters));
    }
    Ok(())
}

/// Checks a username: 3–64 of ASCII lower-case letters, digits, `.`, `-` and `_`.
pub fn check_username(field: &str, value: &str) -> Result<(), FieldError> {
    let valid_chars = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if !(3..=64).contains(&value.len()) || !valid_chars {
        return Err(FieldError::new(field, FieldErrorCode::InvalidUsername));
    }
    Ok(())
}

/// Checks a new password: long enough to resist guessing, short enough to hash.
pub fn check_new_password(field: &str, value: &str) -> Result<(), FieldError> {
    check_text(field, value, PASSWORD_MAX)?;
    if value.chars().count() < PASSWORD_MIN {
        return Err(FieldError::new(field, FieldErrorCode::TooShort));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_scalar_values_not_bytes() {
        let family = "👩‍👩‍👧"; // 5 scalar values, 18 bytes
        assert!(check_text("body", family, 5).is_ok());
        assert_eq!(
            check_text("body", family, 4).unwrap_err().code,
            FieldErrorCode::TooLong
        );
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(
            check_text("body", "a\0b", 10).unwrap_err().code,
            FieldErrorCode::ContainsNul
        );
    }

    #[test]
    fn names_refuse_bidi_and_zero_width_controls() {
        for bad in [
            "Sam\u{202E}lia",
            "Sa\u{200B}m",
            "\u{2066}Jo",
            "Al\u{FEFF}ex",
            "A\nB",
        ] {
            assert_eq!(
                check_name("display_name", bad).unwrap_err().code,
                FieldErrorCode::InvalidCharacters
            );
        }
        assert!(check_name("display_name", "Zoë O'Brien-خالد").is_ok());
        assert_eq!(
            check_name("display_name", "   ").unwrap_err().code,
            FieldErrorCode::Required
        );
    }

    #[test]
    fn usernames_are_plain_ascii() {
        assert!(check_username("username", "alex").is_ok());
        assert!(check_username("username", "Alex").is_err());
        assert!(check_username("username", "al").is_err());
    }
}
