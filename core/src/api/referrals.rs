//! Referrals: the front door of the service (`/v1/referrals`).
//!
//! - **A self-referral** comes from the person, with no account: their name, how to contact
//!   them, what they would like help with, their consent to be contacted, optionally the hub
//!   they would like, and the answer to a proof-of-work challenge ([`ProofChallenge`], the
//!   ALTCHA proof-of-work v2 protocol) that pays for this one referral. [`solve`] is the
//!   solver the phone runs: about a second with the server's default difficulty.
//! - **A partner referral** comes from a partner agency or GP through a staff system with
//!   `referrals:write`: the same, plus who is referring, and no proof (the system's own
//!   request budget applies).
//! - **Triage** by the hub team's practitioners decides one [`ReferralOutcome`], once:
//!   accepted onto a team's caseload (the person's record is made, with an invitation code
//!   shown once), signposted elsewhere, or a crisis response (the team is told at once).
//!
//! Every field is bounded, and the server refuses a body larger than [`BODY_MAX_BYTES`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::accounts::InvitationView;
use super::{FieldError, Validate, collect_errors};
use crate::domain::FieldErrorCode;
use crate::domain::ids::id_type;
use crate::domain::message::CrisisLine;
use crate::domain::text::{self, SHORT_TEXT_MAX};
use crate::domain::{PersonId, TeamId, UserId};

pub use super::reports::ReferralSource;

id_type!(
    /// One referral: a self-referral or a partner's.
    ReferralId
);

/// Longest "what would you like help with", in characters.
pub const HELP_WANTED_MAX: usize = SHORT_TEXT_MAX;
/// Longest phone number as typed (spaces, `+`, brackets and dashes included).
pub const PHONE_MAX: usize = 32;
/// Longest email address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// Longest "signposted to" (where the person was pointed instead).
pub const SIGNPOSTED_TO_MAX: usize = 500;
/// Longest of each text of a proof of work (hex strings of a few dozen characters).
pub const PROOF_TEXT_MAX: usize = 256;
/// Largest referral body the server reads; larger is 413.
pub const BODY_MAX_BYTES: usize = 16 * 1024;

/// What a person is told once their referral is received.
pub const WHAT_HAPPENS_NEXT: &str = "Thank you: we have your referral. Someone from the team \
     will read it and contact you, in the way you told us, to talk about what would help. \
     This is not an emergency service. If you need help now, or you feel unsafe, contact one \
     of the crisis lines below.";

/// How the person would rather be contacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PreferredContact {
    Phone,
    Email,
}

/// How to contact the person: a phone number, an email address or both (at least one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactDetails {
    /// Digits, spaces, `+`, `-`, `.` and brackets; 7 to 15 digits.
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Which of the two to use first; it must be one given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred: Option<PreferredContact>,
    /// Whether it is safe to leave a message (a voicemail, a text, an email someone else may
    /// see). Absent: not said, so the team does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_to_leave_message: Option<bool>,
}

impl ContactDetails {
    /// Every problem, each named under `path` (`contact.phone`, …).
    pub fn field_errors(&self, path: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let phone = self
            .phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let email = self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        if let Some(phone) = phone
            && let Err(code) = check_phone(phone)
        {
            errors.push(FieldError::new(format!("{path}.phone"), code));
        }
        if let Some(email) = email
            && let Err(code) = check_email(email)
        {
            errors.push(FieldError::new(format!("{path}.email"), code));
        }
        if phone.is_none() && email.is_none() {
            errors.push(FieldError::new(path, FieldErrorCode::PhoneOrEmailRequired));
        }
        let preferred_given = match self.preferred {
            None => true,
            Some(PreferredContact::Phone) => phone.is_some(),
            Some(PreferredContact::Email) => email.is_some(),
        };
        if !preferred_given {
            errors.push(FieldError::new(
                format!("{path}.preferred"),
                FieldErrorCode::Invalid,
            ));
        }
        errors
    }

    /// The details as kept: trimmed, blanks left out.
    pub fn normalised(&self) -> ContactDetails {
        let keep = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        ContactDetails {
            phone: keep(&self.phone),
            email: keep(&self.email),
            preferred: self.preferred,
            safe_to_leave_message: self.safe_to_leave_message,
        }
    }
}

/// A phone number as people write one: 7–15 digits (E.164's most), with `+` only first, and
/// spaces, dashes, dots and brackets between.
fn check_phone(phone: &str) -> Result<(), FieldErrorCode> {
    if phone.chars().count() > PHONE_MAX {
        return Err(FieldErrorCode::TooLong);
    }
    let allowed = phone.char_indices().all(|(at, c)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')') || (c == '+' && at == 0)
    });
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if allowed && (7..=15).contains(&digits) {
        Ok(())
    } else {
        Err(FieldErrorCode::InvalidPhone)
    }
}

/// An email address's form: one `@`, something before it, a dotted domain after, no blanks
/// or control characters. Whether it reaches anyone is for the team to find out.
fn check_email(email: &str) -> Result<(), FieldErrorCode> {
    if email.chars().count() > EMAIL_MAX {
        return Err(FieldErrorCode::TooLong);
    }
    let plain = !email.chars().any(|c| c.is_whitespace() || c.is_control());
    let formed = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    });
    if plain && formed {
        Ok(())
    } else {
        Err(FieldErrorCode::InvalidEmail)
    }
}

/// The checks every referral's own words pass, whoever sends it.
fn referral_errors(
    display_name: &str,
    contact: &ContactDetails,
    help_wanted: &str,
    consent_to_contact: bool,
) -> Vec<FieldError> {
    let mut errors = collect_errors([
        text::check_name("display_name", display_name),
        text::check_required_text("help_wanted", help_wanted, HELP_WANTED_MAX),
    ]);
    errors.extend(contact.field_errors("contact"));
    if !consent_to_contact {
        errors.push(FieldError::new(
            "consent_to_contact",
            FieldErrorCode::ConsentRequired,
        ));
    }
    errors
}

/// A person refers themselves (no account, no bearer token).
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SelfReferralRequest {
    /// What the person would like to be called.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub contact: ContactDetails,
    /// What they would like help with, in their own words.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    #[serde(default)]
    pub help_wanted: String,
    /// Must be `true`: the team contacts the person to take the referral on.
    #[serde(default)]
    pub consent_to_contact: bool,
    /// The hub they would like (`GET /v1/teams` lists none to them: a hub the app or the
    /// website names); absent: any hub, the single front door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// The solved challenge from `GET /v1/referrals/challenge` (see [`solve`]); one challenge
    /// pays for one referral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<Proof>,
}

debug_without_secrets!(SelfReferralRequest, team_id, consent_to_contact);

impl Validate for SelfReferralRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = referral_errors(
            &self.display_name,
            &self.contact,
            &self.help_wanted,
            self.consent_to_contact,
        );
        match &self.proof {
            None => errors.push(FieldError::new("proof", FieldErrorCode::Required)),
            Some(proof) => errors.extend(proof.field_errors("proof")),
        }
        errors
    }
}

/// A partner agency or GP refers someone, through a staff system with `referrals:write`.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PartnerReferralRequest {
    /// Who is referring: the agency, or the GP and practice.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    #[serde(default)]
    pub referrer: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub contact: ContactDetails,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    #[serde(default)]
    pub help_wanted: String,
    /// Must be `true`: the person agreed to be contacted by the service.
    #[serde(default)]
    pub consent_to_contact: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
}

debug_without_secrets!(PartnerReferralRequest, team_id, consent_to_contact);

impl Validate for PartnerReferralRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = collect_errors([text::check_name("referrer", &self.referrer)]);
        errors.extend(referral_errors(
            &self.display_name,
            &self.contact,
            &self.help_wanted,
            self.consent_to_contact,
        ));
        errors
    }
}

/// The answer to a referral: what happens next, in plain words, and where to turn meanwhile.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralReceipt {
    /// The referral's reference, should the person or referrer call about it.
    pub id: ReferralId,
    pub received_at: DateTime<Utc>,
    pub what_happens_next: String,
    /// The deployment's crisis lines (the same as out-of-hours notices name).
    pub crisis_lines: Vec<CrisisLine>,
}

/// What triage decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReferralOutcome {
    /// Taken on: the person's record is made on the team's caseload, with an invitation.
    Accepted,
    /// Pointed to another service that fits better (`signposted_to` says which).
    Signposted,
    /// Needs help now: the team is told at once.
    CrisisResponse,
}

impl ReferralOutcome {
    pub const ALL: [ReferralOutcome; 3] = [
        ReferralOutcome::Accepted,
        ReferralOutcome::Signposted,
        ReferralOutcome::CrisisResponse,
    ];

    /// As written on the wire and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralOutcome::Accepted => "accepted",
            ReferralOutcome::Signposted => "signposted",
            ReferralOutcome::CrisisResponse => "crisis_response",
        }
    }

    pub fn parse(value: &str) -> Option<ReferralOutcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == value)
    }

    /// The code a second triage is refused with (409), naming the outcome already decided:
    /// `already_` and the outcome.
    pub fn already(self) -> FieldErrorCode {
        match self {
            ReferralOutcome::Accepted => FieldErrorCode::AlreadyAccepted,
            ReferralOutcome::Signposted => FieldErrorCode::AlreadySignposted,
            ReferralOutcome::CrisisResponse => FieldErrorCode::AlreadyCrisisResponse,
        }
    }
}

/// A referral, as those who triage it see it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralView {
    pub id: ReferralId,
    pub source: ReferralSource,
    /// For a partner referral: who referred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// For a partner referral: the staff system it came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_client_id: Option<String>,
    pub display_name: String,
    pub contact: ContactDetails,
    pub help_wanted: String,
    pub consent_to_contact: bool,
    /// The hub that holds it: the one asked for, then the one that triaged it; absent while it
    /// waits at the single front door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    pub received_at: DateTime<Utc>,
    /// Absent while it waits for triage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ReferralOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triaged_at: Option<DateTime<Utc>>,
    /// The practitioner who triaged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triaged_by: Option<UserId>,
    /// Accepted: the person's record it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<PersonId>,
    /// Signposted: where to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signposted_to: Option<String>,
}

/// A page of the referrals waiting for triage that the caller may triage, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralPage {
    pub referrals: Vec<ReferralView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of the referrals waiting for triage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ReferralQuery {
    /// From `next_cursor` of the previous page (default: the oldest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// Triage: the one outcome of a referral.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriageRequest {
    pub outcome: ReferralOutcome,
    /// The hub team that takes it: one the caller is on. Absent: the hub the referral asked
    /// for (needed when it asked for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// For `signposted` (and only then): where the person was pointed.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signposted_to: Option<String>,
}

impl Validate for TriageRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let signposted_to = match (self.outcome, &self.signposted_to) {
            (ReferralOutcome::Signposted, None) => {
                Err(FieldError::new("signposted_to", FieldErrorCode::Required))
            }
            (ReferralOutcome::Signposted, Some(to)) => {
                text::check_required_text("signposted_to", to, SIGNPOSTED_TO_MAX)
            }
            (_, Some(_)) => Err(FieldError::new("signposted_to", FieldErrorCode::Invalid)),
            (_, None) => Ok(()),
        };
        collect_errors([signposted_to])
    }
}

/// A triaged referral; for an acceptance, the invitation to give the person (its code shown
/// this once).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TriageView {
    pub referral: ReferralView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<InvitationView>,
}

// The proof of work: ALTCHA's proof-of-work v2 challenge and solution, as its widgets and
// libraries write them (camelCase keys), so a web form can use the stock widget.

/// A challenge to solve before a self-referral (`GET /v1/referrals/challenge`), signed by the
/// server: send it back unchanged with its [`ProofSolution`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProofChallenge {
    pub parameters: ProofParameters,
    /// HMAC-SHA-256 of the parameters, by the server.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub signature: String,
}

/// ALTCHA's challenge parameters: find the counter whose derived key starts with `keyPrefix`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProofParameters {
    /// `SHA-256`: the key is SHA-256 of salt, nonce and counter, `cost` times over.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub algorithm: String,
    pub cost: u32,
    /// When the challenge lapses (a new one is needed after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ProofData>,
    #[serde(rename = "expiresAt", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(rename = "keyLength")]
    pub key_length: u32,
    #[serde(rename = "keyPrefix")]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub key_prefix: String,
    #[serde(
        rename = "keySignature",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub key_signature: Option<String>,
    #[serde(
        rename = "memoryCost",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_cost: Option<u32>,
    /// Random, hex: names the challenge, which pays for one referral.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub nonce: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub salt: String,
}

/// What the server signs into a challenge beside ALTCHA's own parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProofData {
    /// Seconds since the Unix epoch, on the server's clock.
    pub expires_at: i64,
}

/// The counter found and the key it derives.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProofSolution {
    pub counter: u32,
    /// Hex.
    #[serde(rename = "derivedKey")]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub derived_key: String,
    /// Milliseconds the solver took (ALTCHA's widgets send it; not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
}

/// A solved challenge: the ALTCHA payload, `{challenge, solution}`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Proof {
    pub challenge: ProofChallenge,
    pub solution: ProofSolution,
}

impl Proof {
    /// Every text bounded, each named under `path`.
    pub fn field_errors(&self, path: &str) -> Vec<FieldError> {
        let parameters = &self.challenge.parameters;
        let texts = [
            ("challenge.signature", Some(&self.challenge.signature)),
            (
                "challenge.parameters.algorithm",
                Some(&parameters.algorithm),
            ),
            (
                "challenge.parameters.keyPrefix",
                Some(&parameters.key_prefix),
            ),
            (
                "challenge.parameters.keySignature",
                parameters.key_signature.as_ref(),
            ),
            ("challenge.parameters.nonce", Some(&parameters.nonce)),
            ("challenge.parameters.salt", Some(&parameters.salt)),
            ("solution.derivedKey", Some(&self.solution.derived_key)),
        ];
        texts
            .into_iter()
            .filter_map(|(field, value)| {
                text::check_text(&format!("{path}.{field}"), value?, PROOF_TEXT_MAX).err()
            })
            .collect()
    }
}

/// Why a challenge could not be solved.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// Not a challenge of the ALTCHA protocol this build knows.
    #[error("the challenge is not one this solver knows: {0}")]
    Unsolvable(String),
    /// No solution within the time allowed (a challenge harder than any server sets).
    #[error("no solution within the time allowed")]
    TimedOut,
}

/// Solves a challenge from `GET /v1/referrals/challenge`, giving up after `within` (a few
/// seconds is ample: the server's default takes about a second on a phone). CPU-bound: run it
/// off the thread that draws the screen.
pub fn solve(challenge: &ProofChallenge, within: Duration) -> Result<Proof, ProofError> {
    let altcha_challenge = to_altcha(challenge)?;
    let mut options = altcha::SolveChallengeOptions::new(&altcha_challenge);
    // At least a millisecond: 0 would mean "no limit" to the solver.
    options.timeout_ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX).max(1);
    let solution = altcha::solve_challenge(options)
        .map_err(|error| ProofError::Unsolvable(error.to_string()))?
        .ok_or(ProofError::TimedOut)?;
    Ok(Proof {
        challenge: challenge.clone(),
        solution: ProofSolution {
            counter: solution.counter,
            derived_key: solution.derived_key,
            time: None,
        },
    })
}

/// The challenge as the `altcha` crate reads it: the same JSON.
pub fn to_altcha(challenge: &ProofChallenge) -> Result<altcha::Challenge, ProofError> {
    serde_json::to_value(challenge)
        .and_then(serde_json::from_value)
        .map_err(|error| ProofError::Unsolvable(error.to_string()))
}

/// A challenge the `altcha` crate made, as the wire carries it.
pub fn from_altcha(challenge: &altcha::Challenge) -> Result<ProofChallenge, ProofError> {
    serde_json::to_value(challenge)
        .and_then(serde_json::from_value)
        .map_err(|error| ProofError::Unsolvable(error.to_string()))
}

/// A solution as the `altcha` crate reads it.
pub fn solution_to_altcha(solution: &ProofSolution) -> altcha::Solution {
    altcha::Solution {
        counter: solution.counter,
        derived_key: solution.derived_key.clone(),
        time: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn contact(phone: Option<&str>, email: Option<&str>) -> ContactDetails {
        ContactDetails {
            phone: phone.map(str::to_owned),
            email: email.map(str::to_owned),
            preferred: None,
            safe_to_leave_message: None,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<(String, FieldErrorCode)> {
        errors.iter().map(|e| (e.field.clone(), e.code)).collect()
    }

    /// A challenge made the way the server makes one, with a small counter range.
    fn challenge(max_counter: u32) -> ProofChallenge {
        let made = altcha::create_challenge(altcha::CreateChallengeOptions {
            algorithm: "SHA-256".into(),
            cost: 1,
            counter: Some(max_counter),
            key_length: 32,
            hmac_signature_secret: Some("test-secret".into()),
            data: Some(
                [(
                    "expires_at".to_owned(),
                    serde_json::json!(1_900_000_000_i64),
                )]
                .into_iter()
                .collect(),
            ),
            ..Default::default()
        })
        .unwrap();
        from_altcha(&made).unwrap()
    }

    #[test]
    fn a_challenge_is_solved_and_the_solution_verifies() {
        let challenge = challenge(5_000);
        let proof = solve(&challenge, Duration::from_secs(30)).unwrap();
        assert_eq!(proof.solution.counter, 5_000);
        assert!(proof.field_errors("proof").is_empty());
        let verified = altcha::verify_solution(altcha::VerifySolutionOptions::new(
            &to_altcha(&proof.challenge).unwrap(),
            &solution_to_altcha(&proof.solution),
            "test-secret",
        ))
        .unwrap();
        assert!(verified.verified);
        // The wire form is ALTCHA's: what the stock widget reads and sends.
        let wire = serde_json::to_value(&proof).unwrap();
        assert_eq!(
            wire["challenge"]["parameters"]["keyPrefix"]
                .as_str()
                .unwrap()
                .len(),
            32
        );
        assert!(wire["solution"]["derivedKey"].is_string());
    }

    #[test]
    fn a_changed_challenge_no_longer_verifies() {
        let challenge = challenge(10);
        let mut proof = solve(&challenge, Duration::from_secs(30)).unwrap();
        proof.challenge.parameters.data = Some(ProofData {
            expires_at: 2_000_000_000,
        });
        let verified = altcha::verify_solution(altcha::VerifySolutionOptions::new(
            &to_altcha(&proof.challenge).unwrap(),
            &solution_to_altcha(&proof.solution),
            "test-secret",
        ))
        .unwrap();
        assert!(!verified.verified);
    }

    #[test]
    fn the_solver_gives_up_in_time() {
        // A prefix no key of this length can have: never solved.
        let mut impossible = challenge(1);
        impossible.parameters.key_prefix = "ff".repeat(16);
        assert!(matches!(
            solve(&impossible, Duration::from_millis(50)),
            Err(ProofError::TimedOut)
        ));
    }

    #[test]
    fn contact_needs_a_phone_or_an_email_in_a_plausible_form() {
        assert_eq!(
            fields(&contact(None, None).field_errors("contact")),
            [("contact".to_owned(), FieldErrorCode::PhoneOrEmailRequired)]
        );
        assert_eq!(
            fields(&contact(Some("  "), Some("")).field_errors("contact")),
            [("contact".to_owned(), FieldErrorCode::PhoneOrEmailRequired)]
        );
        for good in ["07700 900123", "+44 (0)7700-900.123", "0117 496 0000"] {
            assert!(
                contact(Some(good), None).field_errors("c").is_empty(),
                "{good}"
            );
        }
        for bad in ["12345", "0770090012345678", "07700 9001x3", "44+7700900123"] {
            assert_eq!(
                fields(&contact(Some(bad), None).field_errors("c")),
                [("c.phone".to_owned(), FieldErrorCode::InvalidPhone)],
                "{bad}"
            );
        }
        assert!(
            contact(None, Some("sam@example.org"))
                .field_errors("c")
                .is_empty()
        );
        for bad in [
            "sam",
            "sam@",
            "@example.org",
            "sam@example",
            "s m@example.org",
            "a@b@c.d",
        ] {
            assert_eq!(
                fields(&contact(None, Some(bad)).field_errors("c")),
                [("c.email".to_owned(), FieldErrorCode::InvalidEmail)],
                "{bad}"
            );
        }
        let mut prefers_email = contact(Some("07700 900123"), None);
        prefers_email.preferred = Some(PreferredContact::Email);
        assert_eq!(
            fields(&prefers_email.field_errors("c")),
            [("c.preferred".to_owned(), FieldErrorCode::Invalid)]
        );
    }

    #[test]
    fn every_field_of_a_self_referral_is_named_at_once() {
        let request: SelfReferralRequest = serde_json::from_str("{}").unwrap();
        let mut named: Vec<String> = request
            .field_errors()
            .into_iter()
            .map(|e| e.field)
            .collect();
        named.sort();
        assert_eq!(
            named,
            [
                "consent_to_contact",
                "contact",
                "display_name",
                "help_wanted",
                "proof"
            ]
        );
        let consent = request
            .field_errors()
            .into_iter()
            .find(|e| e.field == "consent_to_contact")
            .unwrap();
        assert_eq!(consent.code, FieldErrorCode::ConsentRequired);
    }

    #[test]
    fn signposting_says_where_to_and_only_signposting_does() {
        let triage = |outcome, to: Option<&str>| TriageRequest {
            outcome,
            team_id: None,
            signposted_to: to.map(str::to_owned),
        };
        assert!(
            triage(ReferralOutcome::Accepted, None)
                .field_errors()
                .is_empty()
        );
        assert!(
            triage(ReferralOutcome::Signposted, Some("Citizens Advice"))
                .field_errors()
                .is_empty()
        );
        assert_eq!(
            fields(&triage(ReferralOutcome::Signposted, Some(" ")).field_errors()),
            [("signposted_to".to_owned(), FieldErrorCode::Required)]
        );
        assert_eq!(
            fields(&triage(ReferralOutcome::CrisisResponse, Some("x")).field_errors()),
            [("signposted_to".to_owned(), FieldErrorCode::Invalid)]
        );
    }

    #[test]
    fn outcomes_read_back_and_a_second_triage_names_the_first() {
        for outcome in ReferralOutcome::ALL {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
            assert_eq!(ReferralOutcome::parse(outcome.as_str()), Some(outcome));
            assert_eq!(
                outcome.already().to_string(),
                format!("already_{}", outcome.as_str())
            );
        }
    }
}
