//! One problem with one field: what the domain's rules report, and what an error body lists.
//!
//! It lives with the rules (a plan, a WRAP, a name, an appointment) that find the problems;
//! the wire types in `api` carry it as it is. Every code the server can answer is a variant of
//! [`FieldErrorCode`], so a client can match on them and the served document lists them; a
//! client reading a code it does not know (a newer server) gets
//! [`FieldErrorCode::Unrecognised`] rather than failing to read the whole error.

use serde::{Deserialize, Serialize};

/// One problem with one field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field's path in the request, e.g. `scopes[1]` or `display_name`.
    pub field: String,
    /// What is wrong with it.
    pub code: FieldErrorCode,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: FieldErrorCode) -> Self {
        Self {
            field: field.into(),
            code,
        }
    }
}

/// What is wrong with a field, as `snake_case` on the wire (and when displayed).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::VariantArray,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FieldErrorCode {
    // The request's shape.
    /// The body could not be read (not UTF-8, or cut short).
    Unreadable,
    MalformedJson,
    MalformedForm,
    NotAnObject,
    TrailingCharacters,
    UnknownField,
    DuplicateField,
    /// Missing, or blank where text is needed.
    Required,
    /// Not a value this field takes (wrong type, unknown name, undecodable cursor or header).
    Invalid,
    /// The cursor was made for another query than the one it comes back with.
    ConflictsWithCursor,
    ConflictsWithCarerId,
    /// `worker_id` filters a team's diary and needs `team_id` beside it.
    WithTeamId,

    // Text and numbers.
    TooLong,
    TooShort,
    TooMany,
    TooLarge,
    TooSmall,
    OutOfRange,
    ContainsNul,
    InvalidCharacters,
    InvalidUsername,
    InvalidUrl,
    /// A phone number that is not 7–15 digits with the usual separators.
    InvalidPhone,
    /// An email address not of the form `name@domain.tld`.
    InvalidEmail,
    /// Neither a phone number nor an email address: one is needed to contact the person.
    PhoneOrEmailRequired,
    /// Consent to be contacted must be given (`true`) for a referral to be taken.
    ConsentRequired,
    /// A password on the list of common ones, or made of the username.
    TooEasyToGuess,
    NotAnOutcome,
    UnknownDomain,
    MoreThanOneBaseline,

    // Times.
    BeforeStart,
    NotAfterStart,
    NotAfterFrom,
    InThePast,
    LongerThanSixWeeks,
    WindowTooLong,
    AlreadyHappened,
    AlreadyBegun,
    NotYetBegun,
    /// Later than the server's clock allows (beyond a small skew).
    InTheFuture,
    /// Earlier than the request may reach back.
    TooLongAgo,

    // What a field refers to.
    NotFound,
    NotStaff,
    NotTeamStaff,
    NotYourTeam,
    NotACarer,
    NotAPeerWorker,
    NotForPeerWorker,
    OnlyForServiceUsers,
    /// An account on the person's "do not involve" list.
    DoNotInvolve,
    /// A supporter left out of the crisis plan must name no account the plan also involves.
    NotInvolved,
    /// A crisis-plan section shared without the crisis-plan scope that carries it.
    NeedsCrisisPlanScope,
    /// Crisis-plan sections named for another part of the record.
    OnlyForCrisisPlan,
    /// An administrator acting on their own account.
    Yourself,
    /// A person who has an account is invited from their own record, not as a new user.
    InviteFromThePersonRecord,
    HasAnAccount,
    /// A webhook URL whose host is, or resolves to, a loopback, private, link-local or other
    /// non-public address.
    PrivateAddress,
    /// A webhook URL whose host name does not resolve.
    Unresolvable,
    /// An event kind staff systems are never sent (messages and their receipts).
    NotForStaffSystems,

    // Accounts and codes.
    /// An invitation or reset code that is unknown, used or expired (which, is not said).
    NotValid,
    /// A proof-of-work challenge past its time: fetch a new one.
    Expired,
    /// The current password given does not match.
    Incorrect,
    UnsupportedGrantType,
    InvalidScope,

    // The state of what is written to.
    /// Already in use: a username, a team name, an id.
    Taken,
    /// A uniqueness rule not named more precisely.
    Conflict,
    /// The version written on is no longer the current one.
    Stale,
    /// An idempotency key already used for another request.
    Reused,
    AlreadyAgreed,
    /// A referral triaged already, by its outcome: accepted, signposted or a crisis response.
    AlreadyAccepted,
    AlreadySignposted,
    AlreadyCrisisResponse,
    AlreadyActive,
    NotActive,
    AlreadyBooked,
    AlreadyReported,
    NotOpen,
    Cancelled,
    /// The appointment changed since the response was made on it.
    ChangedMeanwhile,
    NonePending,
    /// A workshop place offered and not taken up in time.
    OfferExpired,
    /// An answer to an offer for a booking that holds none.
    NotOffered,
    /// A consent for a carer the person has not linked.
    NotLinked,
    /// A consent for a peer worker not allocated to the person.
    NotAllocated,
    NothingToChange,
    ManagedByBooking,
    BookTheProgramme,
    /// Only workshop sessions and reviews are rated.
    NotRated,
    /// A rating is changed no more once its week is over.
    RatingLocked,

    /// A code this build does not know, from a newer server. Never sent.
    #[serde(other)]
    Unrecognised,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_displays_as_it_is_sent_and_reads_back() {
        use strum::VariantArray;
        for code in FieldErrorCode::VARIANTS {
            let json = serde_json::to_value(code).expect("serialises");
            assert_eq!(json, serde_json::Value::String(code.to_string()));
            if *code != FieldErrorCode::Unrecognised {
                let back: FieldErrorCode = serde_json::from_value(json).expect("reads back");
                assert_eq!(back, *code);
            }
        }
    }

    #[test]
    fn codes_are_snake_case_on_the_wire() {
        for (code, wire) in [
            (FieldErrorCode::Required, "required"),
            (
                FieldErrorCode::InviteFromThePersonRecord,
                "invite_from_the_person_record",
            ),
            (FieldErrorCode::NotAPeerWorker, "not_a_peer_worker"),
            (
                FieldErrorCode::ConflictsWithCarerId,
                "conflicts_with_carer_id",
            ),
        ] {
            let json = serde_json::to_value(code).expect("serialises");
            assert_eq!(json, serde_json::Value::String(wire.to_owned()));
            let back: FieldErrorCode = serde_json::from_value(json).expect("reads back");
            assert_eq!(back, code);
        }
    }

    #[test]
    fn an_unknown_code_reads_as_unrecognised_and_keeps_the_error() {
        let error: FieldError =
            serde_json::from_str(r#"{"field":"x","code":"from_a_newer_server"}"#)
                .expect("an unknown code does not fail the error");
        assert_eq!(error.code, FieldErrorCode::Unrecognised);
    }
}
