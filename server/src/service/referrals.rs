//! Referrals: the proof-of-work challenges that pay for self-referrals, the per-address limit,
//! receiving a referral and triaging it.
//!
//! Guarantees:
//! - **Challenges are stateless.** A challenge is ALTCHA's proof of work v2 (the `altcha`
//!   crate): SHA-256 of salt, nonce and a counter the server drew from `0..=difficulty`; the
//!   solver finds the counter whose key starts with the signed prefix (half the range on
//!   average, never more than all of it). The parameters, with an expiry on the server's own
//!   clock, are signed with HMAC-SHA-256 under a key derived from the KEK
//!   ([`crate::auth::sealing::KeyEncryptionKey::derive_secret`]), so every process that shares
//!   the KEK verifies every other's challenges and nothing is stored until one is spent.
//! - **A challenge pays for one referral**: its nonce is the referral's `proof_id`, unique in
//!   the database.
//! - **Per address**: self-referrals from one address are a token bucket (governor) — a small
//!   burst, then a few an hour — counted before the body is read. An IPv6 address counts by its
//!   /64 (what one home or phone is given). Counts are per process, like sign-in throttling.
//! - **Who hears of a referral**: its hub's practitioners, or when it asked for no hub every
//!   practitioner on a team (the front door is everyone's until a hub takes it); staff systems
//!   subscribed to `referral_received` with `referrals:read`. Events carry the referral's id
//!   only. A crisis response is told at once to every member of the team that took it, pushed
//!   to their phones.
//! - **Triaged once, one transaction**: see [`crate::store::referrals`].

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use livingwell_core::api::accounts::InvitationView;
use livingwell_core::api::events::{Event, ReferralCrisisData, ReferralData};
use livingwell_core::api::referrals::{
    self as wire, ContactDetails, Proof, ProofChallenge, ProofData, ProofError, ReferralId,
    ReferralOutcome, ReferralSource, TriageRequest,
};
use livingwell_core::domain::{FieldErrorCode, PersonId, Role, TeamId, UserId};
use rand::Rng as _;
use zeroize::Zeroizing;

use super::accounts::INVITATION_LIFETIME;
use super::push::Pusher;
use super::{ServiceError, ServiceResult};
use crate::auth::codes;
use crate::auth::sealing::KeyEncryptionKey;
use crate::clock::Clock;
use crate::events::EventHub;
use crate::store::accounts::NewInvitation;
use crate::store::events::Audience;
use crate::store::referrals::{Acceptance, ReferralRecord, Triage, TriageRefusal};
use crate::store::{PersonRecord, Store};

/// The counter range of a challenge by default: up to a million SHA-256s, half that on
/// average — about a second on a phone, the worst case a few.
pub const DEFAULT_PROOF_DIFFICULTY: u32 = 1_000_000;
/// How long a challenge may be spent after it is made.
pub const PROOF_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);
/// The only algorithm the server issues: one SHA-256 per counter tried.
const PROOF_ALGORITHM: &str = "SHA-256";
/// What the challenges' signing key is derived for.
const PROOF_KEY_PURPOSE: &str = "referral proof-of-work challenges";

/// The deployment's settings for the front door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferralSettings {
    /// The largest counter a challenge hides (`serve --referral-proof-difficulty`): the solver
    /// tries half as many SHA-256s on average.
    pub proof_difficulty: u32,
    /// Self-referrals one address may send at once…
    pub per_address_burst: NonZeroU32,
    /// …and then an hour (`serve --referral-rate-per-hour`).
    pub per_address_per_hour: NonZeroU32,
}

impl Default for ReferralSettings {
    fn default() -> Self {
        let five = NonZeroU32::MIN.saturating_add(4);
        Self {
            proof_difficulty: DEFAULT_PROOF_DIFFICULTY,
            per_address_burst: five,
            per_address_per_hour: five,
        }
    }
}

/// Above this many remembered addresses, those with full buckets are forgotten.
const FORGET_ABOVE_ADDRESSES: usize = 10_000;

/// What a new referral says, as its sender gave it (checked already).
#[derive(Clone, Debug)]
pub struct Incoming {
    pub source: ReferralSource,
    pub referrer_client_id: Option<String>,
    pub referrer: Option<String>,
    pub display_name: String,
    pub contact: ContactDetails,
    pub help_wanted: String,
    pub team_id: Option<TeamId>,
    /// A self-referral's spent challenge.
    pub proof_id: Option<String>,
}

/// The referrals service: one per application state.
pub struct Referrals {
    store: Arc<dyn Store>,
    events: EventHub,
    clock: Clock,
    pusher: Pusher,
    settings: ReferralSettings,
    /// Hex of the key derived from the KEK: what the `altcha` crate takes as its secret.
    proof_secret: Zeroizing<String>,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    rate_clock: DefaultClock,
}

impl std::fmt::Debug for Referrals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Referrals")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Referrals {
    pub fn new(
        settings: ReferralSettings,
        store: Arc<dyn Store>,
        events: EventHub,
        clock: Clock,
        pusher: Pusher,
        kek: &KeyEncryptionKey,
    ) -> Self {
        let per_hour = settings.per_address_per_hour.get();
        let quota = Quota::with_period(Duration::from_secs(3600) / per_hour)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(settings.per_address_burst);
        Self {
            store,
            events,
            clock,
            pusher,
            settings,
            proof_secret: Zeroizing::new(hex::encode(*kek.derive_secret(PROOF_KEY_PURPOSE))),
            addresses: RateLimiter::keyed(quota),
            rate_clock: DefaultClock::default(),
        }
    }

    /// Counts one self-referral from `address`; `Err(wait)` when it must wait for the next.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Duration> {
        if self.addresses.len() > FORGET_ABOVE_ADDRESSES {
            self.addresses.retain_recent();
        }
        let now = self.rate_clock.now();
        self.addresses
            .check_key(&counted_as(address))
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    /// A new challenge, valid for [`PROOF_LIFETIME`] on the server's clock.
    pub fn challenge(&self) -> Result<ProofChallenge, ProofError> {
        let counter = rand::thread_rng().gen_range(0..=self.settings.proof_difficulty);
        let expires_at = (self.clock.now() + PROOF_LIFETIME).timestamp();
        let data = serde_json::to_value(ProofData { expires_at })
            .ok()
            .and_then(|value| serde_json::from_value(value).ok());
        let made = altcha::create_challenge(altcha::CreateChallengeOptions {
            algorithm: PROOF_ALGORITHM.to_owned(),
            cost: 1,
            counter: Some(counter),
            data,
            key_length: 32,
            hmac_signature_secret: Some(self.proof_secret.to_string()),
            ..Default::default()
        })
        .map_err(|error| ProofError::Unsolvable(error.to_string()))?;
        wire::from_altcha(&made)
    }

    /// Checks a solved challenge: made here (signed), solved, not expired. Answers the
    /// challenge's id, which the referral spends. Refusals name `proof`.
    pub fn verify(&self, proof: &Proof) -> ServiceResult<String> {
        let not_valid = || ServiceError::invalid("proof", FieldErrorCode::NotValid);
        let parameters = &proof.challenge.parameters;
        // Nothing but what this server issues is worked on: a forged cost never costs us.
        if parameters.algorithm != PROOF_ALGORITHM || parameters.cost != 1 {
            return Err(not_valid());
        }
        let challenge = wire::to_altcha(&proof.challenge).map_err(|_| not_valid())?;
        let solution = wire::solution_to_altcha(&proof.solution);
        let result = altcha::verify_solution(altcha::VerifySolutionOptions::new(
            &challenge,
            &solution,
            self.proof_secret.to_string(),
        ))
        .map_err(|_| not_valid())?;
        if !result.verified {
            return Err(not_valid());
        }
        let expires_at = parameters.data.map(|data| data.expires_at);
        match expires_at {
            Some(at) if self.clock.now().timestamp() <= at => Ok(parameters.nonce.clone()),
            Some(_) => Err(ServiceError::invalid("proof", FieldErrorCode::Expired)),
            // Signed by us, but not as we sign challenges now.
            None => Err(not_valid()),
        }
    }

    /// Stores a referral and tells who should hear of it.
    pub async fn receive(&self, incoming: Incoming) -> ServiceResult<ReferralRecord> {
        if let Some(team) = incoming.team_id
            && self.store.team(team).await?.is_none()
        {
            return Err(ServiceError::invalid("team_id", FieldErrorCode::NotFound));
        }
        let now = self.clock.now();
        let referral = ReferralRecord {
            id: ReferralId::new(),
            source: incoming.source,
            referrer_client_id: incoming.referrer_client_id,
            referrer: incoming.referrer.map(|r| r.trim().to_owned()),
            display_name: incoming.display_name.trim().to_owned(),
            contact: incoming.contact.normalised(),
            help_wanted: incoming.help_wanted.trim().to_owned(),
            consent_to_contact: true,
            team_id: incoming.team_id,
            proof_id: incoming.proof_id,
            received_at: now,
            outcome: None,
            triaged_at: None,
            triaged_by: None,
            person_id: None,
            signposted_to: None,
        };
        let audience = Audience {
            recipients: self.store.referral_recipients(referral.team_id).await?,
            person_id: None,
        };
        let announce = audience.tell(
            &Event::ReferralReceived(ReferralData {
                referral_id: referral.id,
            }),
            now,
        );
        self.store.insert_referral(&referral, &announce).await?;
        self.events.announce_committed();
        Ok(referral)
    }

    /// Triage by `practitioner` (who may read the referral): the outcome, once. An acceptance
    /// makes the person's record on the team's caseload and an invitation (its code in the
    /// answer, shown once), made by `by` (an audit id).
    pub async fn triage(
        &self,
        referral: &ReferralRecord,
        request: &TriageRequest,
        practitioner: UserId,
        by: String,
    ) -> ServiceResult<(ReferralRecord, Option<InvitationView>)> {
        if let Some(outcome) = referral.outcome {
            return Err(ServiceError::conflict("outcome", outcome.already()));
        }
        let team = request
            .team_id
            .or(referral.team_id)
            .ok_or_else(|| ServiceError::invalid("team_id", FieldErrorCode::Required))?;
        if self.store.team(team).await?.is_none() {
            return Err(ServiceError::invalid("team_id", FieldErrorCode::NotFound));
        }
        if !self.store.is_team_member(team, practitioner).await? {
            return Err(ServiceError::invalid(
                "team_id",
                FieldErrorCode::NotYourTeam,
            ));
        }
        let now = self.clock.now();
        let mut invitation_view = None;
        let accepted = match request.outcome {
            ReferralOutcome::Accepted => {
                let person = PersonRecord {
                    id: PersonId::new(),
                    display_name: referral.display_name.clone(),
                    team_id: Some(team),
                    peer_worker_id: None,
                    created_at: now,
                };
                let (code, code_hash) = codes::generate();
                let expires_at = now + INVITATION_LIFETIME;
                invitation_view = Some(InvitationView {
                    role: Role::ServiceUser,
                    person_id: Some(person.id),
                    code,
                    expires_at,
                });
                Some(Acceptance {
                    invitation: NewInvitation {
                        id: uuid::Uuid::now_v7(),
                        code_hash,
                        role: Role::ServiceUser,
                        person_id: Some(person.id),
                        display_name: person.display_name.clone(),
                        created_by: by,
                        created_at: now,
                        expires_at,
                    },
                    person,
                })
            }
            ReferralOutcome::Signposted | ReferralOutcome::CrisisResponse => None,
        };
        let announce = match request.outcome {
            ReferralOutcome::CrisisResponse => Audience {
                recipients: self.store.team_member_ids(team).await?,
                person_id: None,
            }
            .tell(
                &Event::ReferralCrisisResponse(ReferralCrisisData {
                    referral_id: referral.id,
                    team_id: team,
                }),
                now,
            ),
            ReferralOutcome::Accepted | ReferralOutcome::Signposted => Vec::new(),
        };
        let triage = Triage {
            referral: referral.id,
            outcome: request.outcome,
            team_id: team,
            triaged_by: practitioner,
            at: now,
            signposted_to: request
                .signposted_to
                .as_deref()
                .map(str::trim)
                .map(str::to_owned),
            accepted,
        };
        match self.store.triage_referral(&triage, &announce).await? {
            Ok(triaged) => {
                if !announce.is_empty() {
                    self.events.announce_committed();
                    self.pusher.push(&announce);
                }
                Ok((triaged, invitation_view))
            }
            Err(TriageRefusal::NotFound) => Err(ServiceError::NotFound),
            Err(TriageRefusal::AlreadyTriaged(outcome)) => {
                Err(ServiceError::conflict("outcome", outcome.already()))
            }
        }
    }
}

/// The key an address is counted under: an IPv4 address (an IPv4-mapped IPv6 one as the IPv4
/// address it is) as itself, an IPv6 address by its /64.
fn counted_as(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_ipv6_address_counts_by_its_64_and_a_mapped_one_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(counted_as(one), counted_as(other));
        assert_ne!(counted_as(one), counted_as(elsewhere));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(counted_as(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
