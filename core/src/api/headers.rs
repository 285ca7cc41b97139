//! Headers the contract names, and the one rule for versions in them.
//!
//! A plan (the Enablement Plan, the WRAP) is answered with `ETag: "<version>"`; a write names
//! the version it was based on with `If-Match: "<version>"` (or `base_version` in the body), and
//! a write on a version that is no longer current is refused with 409 and the current version.
//! Both sides format and read the tag here, so a client never builds one by hand.

/// A staff system acting for a named member of its own staff puts their name here.
pub const ON_BEHALF_OF: &str = "x-on-behalf-of";
/// A write sent again with the same key (a client-made UUID) has one effect and gets the first
/// answer; see `service::idempotency` in the server.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// On an answer given before and kept for a retry: `true`.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Every answer carries the request's id; a client may send its own.
pub const REQUEST_ID: &str = "x-request-id";

/// The entity tag of a plan version: `"7"`.
pub fn version_tag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The version an `If-Match` value names: `"7"`, and also `7` or the weak `W/"7"`, which some
/// clients send. `None` for anything else, or a negative number.
pub fn version_in_tag(tag: &str) -> Option<i32> {
    let version = tag
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()?;
    (version >= 0).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_tag_reads_back_as_its_version() {
        assert_eq!(version_tag(7), "\"7\"");
        assert_eq!(version_in_tag(&version_tag(7)), Some(7));
        assert_eq!(version_in_tag("W/\"3\""), Some(3));
        assert_eq!(version_in_tag(" 4 "), Some(4));
        assert_eq!(version_in_tag("\"-1\""), None);
        assert_eq!(version_in_tag("\"seven\""), None);
    }
}
