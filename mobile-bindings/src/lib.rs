//! The uniffi layer over `livingwell-core`: thin delegations only, no business rules.
//!
//! For now it exposes the core's text rules, so the apps can check a name or a message length
//! exactly as the server will. The client engine (store, outbox, sync) arrives in later issues.

uniffi::setup_scaffolding!();

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
