//! The uniffi layer over the phone's engine (`livingwell-engine`) and the core's rules, for
//! Kotlin (Android), Swift (iOS) and Python.
//!
//! Policy: thin. Each export delegates to the engine and converts what it answers; no rule
//! about plans, consent or queues lives here. The app provides its secure storage and
//! observers ([`platform`]); every failure reaches it as one small [`error::ClientError`].

uniffi::setup_scaffolding!();

pub mod client;
pub mod diary;
pub mod error;
pub mod messaging;
pub mod plan;
pub mod platform;
pub mod types;
pub mod wrap;

/// The longest name the server accepts, in Unicode scalar values.
#[uniffi::export]
pub fn name_max_length() -> u32 {
    // NAME_MAX is a small constant; the conversion cannot truncate.
    u32::try_from(livingwell_core::domain::text::NAME_MAX).unwrap_or(u32::MAX)
}

/// Whether `name` would be accepted as a display name (length and characters).
#[uniffi::export]
pub fn is_acceptable_name(name: String) -> bool {
    livingwell_core::domain::text::check_name("name", &name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_by_the_core_rules() {
        assert!(is_acceptable_name("Alex".into()));
        assert!(!is_acceptable_name("Al\u{202E}ex".into()));
        assert_eq!(name_max_length(), 120);
    }
}
