//! Headers the contract names, and the one rule for versions and entity tags in them.
//!
//! A plan (the Enablement Plan and its summary, the WRAP, the crisis plan) is answered with
//! `ETag: "<version>-<digest>"`: the version a write may be based on, and a digest of the
//! representation, which changes whenever anything shown changes — an agreement, an activation,
//! the sections shared with the reader — even when the version does not. A reader sends it back
//! in `If-None-Match` and gets `304 Not Modified` while it still names what would be sent. A
//! write names the version it was based on with `If-Match` (the ETag as given, or `"<version>"`)
//! or `base_version` in the body, and a write on a version that is no longer current is refused
//! with 409 and the current version. Both sides format and read tags here, so a client never
//! builds one by hand.

/// A staff system acting for a named member of its own staff puts their name here.
pub const ON_BEHALF_OF: &str = "x-on-behalf-of";
/// A write sent again with the same key (a client-made UUID) has one effect and gets the first
/// answer; see `service::idempotency` in the server.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// On an answer given before and kept for a retry: `true`.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Every answer carries the request's id; a client may send its own.
pub const REQUEST_ID: &str = "x-request-id";

/// The entity tag of a representation of plan version `version` whose digest is `digest`.
pub fn representation_tag(version: i32, digest: &str) -> String {
    format!("\"{version}-{digest}\"")
}

/// The version an `If-Match` value names: the tag as given (`"7-…"`), `"7"`, and also `7` or
/// a weak `W/"7"`, which some clients send. `None` for anything else, or a negative number.
pub fn version_in_tag(tag: &str) -> Option<i32> {
    let opaque = tag.trim().trim_start_matches("W/").trim_matches('"');
    let version = opaque
        .split_once('-')
        .map_or(opaque, |(version, _)| version);
    let version = version.parse().ok()?;
    (version >= 0).then_some(version)
}

/// Whether an `If-None-Match` value names `etag`: `*`, or a comma-separated list of tags
/// compared weakly (RFC 9110 §13.1.2: `W/` is ignored).
pub fn none_match_names(if_none_match: &str, etag: &str) -> bool {
    let bare = |tag: &str| -> String { tag.trim().trim_start_matches("W/").to_owned() };
    let wanted = bare(etag);
    if_none_match.trim() == "*" || if_none_match.split(',').any(|tag| bare(tag) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_reads_back_as_its_version() {
        let tag = representation_tag(7, "0a1b2c3d4e5f6a7b");
        assert_eq!(tag, "\"7-0a1b2c3d4e5f6a7b\"");
        assert_eq!(version_in_tag(&tag), Some(7));
        assert_eq!(version_in_tag("\"7\""), Some(7));
        assert_eq!(version_in_tag("W/\"3\""), Some(3));
        assert_eq!(version_in_tag(" 4 "), Some(4));
        assert_eq!(version_in_tag("\"-1\""), None);
        assert_eq!(version_in_tag("\"seven\""), None);
        assert_eq!(version_in_tag("\"7-\""), Some(7));
    }

    #[test]
    fn if_none_match_names_a_tag_weakly_in_a_list_or_by_star() {
        let tag = representation_tag(2, "ffee");
        assert!(none_match_names(&tag, &tag));
        assert!(none_match_names("\"1-aa\", W/\"2-ffee\"", &tag));
        assert!(none_match_names(" * ", &tag));
        assert!(!none_match_names("\"2-ffef\"", &tag));
        assert!(
            !none_match_names("\"2\"", &tag),
            "the version alone is not the representation"
        );
        assert!(!none_match_names("", &tag));
    }
}
