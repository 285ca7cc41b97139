//! Password hashing with argon2 (its recommended defaults), off the async threads, and the
//! rule for a new password.
//!
//! A new password must be long enough (`core`'s length rule, checked with the request) and not
//! easy to guess: zxcvbn's estimate, which knows the common-password lists, English words, names,
//! keyboard patterns and dates, and the account's own username and name, must reach
//! [`MIN_STRENGTH`] ("safely unguessable" against an online attack).

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use livingwell_core::domain::FieldErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed")]
    Hash,
    #[error("the hashing task did not finish")]
    Task,
}

/// The least zxcvbn score a new password needs.
pub const MIN_STRENGTH: zxcvbn::Score = zxcvbn::Score::Three;

/// Refuses a new password that is easy to guess, naming `field`. `about_the_account` are words
/// a guesser would try first (username, display name).
pub fn check_strength(
    field: &str,
    password: &str,
    about_the_account: &[&str],
) -> Result<(), livingwell_core::api::FieldError> {
    // Each word of a name too: "Alex Rivers" makes both "alex" and "rivers" guesses.
    let words: Vec<&str> = about_the_account
        .iter()
        .flat_map(|text| std::iter::once(*text).chain(text.split(|c: char| !c.is_alphanumeric())))
        .filter(|word| word.chars().count() >= 3)
        .collect();
    let estimate = zxcvbn::zxcvbn(password, &words);
    if estimate.score() >= MIN_STRENGTH {
        Ok(())
    } else {
        Err(livingwell_core::api::FieldError::new(
            field,
            FieldErrorCode::TooEasyToGuess,
        ))
    }
}

/// Hashes a password into a PHC string (salt and parameters included).
pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|_| PasswordError::Task)?
}

pub fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// Checks a password against a stored PHC string. A malformed stored hash never matches.
pub async fn verify(password: String, phc: String) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(|_| PasswordError::Task)
}

#[cfg(test)]
mod tests {
    use super::check_strength;

    #[test]
    fn common_and_personal_passwords_are_refused() {
        for weak in [
            "password1234",
            "qwertyuiop12",
            "iloveyou1234",
            "alex12345678",
            "rivers123456",
        ] {
            assert!(
                check_strength("password", weak, &["alex", "Alex Rivers"]).is_err(),
                "{weak}"
            );
        }
        for strong in ["correct horse battery staple", "sam-says-hello-2026"] {
            assert!(
                check_strength("password", strong, &["alex", "Alex Rivers"]).is_ok(),
                "{strong}"
            );
        }
    }
}
