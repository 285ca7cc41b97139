//! The Enablement Plan, the WRAP and its crisis plan: storing versions, comments, agreements
//! and crisis activations, and who is told of each.
//!
//! Guarantees:
//! - **Told with the write.** Each write names who hears of it (never whoever made it) and the
//!   store keeps those events in the write's own transaction; live streams are told after the
//!   commit, which cannot turn a stored change into an error (see [`crate::events`]).
//! - **A version is written on the version it was made from.** A write based on a version that
//!   is no longer current stores nothing, its event included, and says which version is.
//! - **The do-not-involve list wins.** A WRAP version naming an account on that list ends the
//!   account's consents in the same transaction, and they are not told of the new version.

use std::collections::BTreeSet;

use livingwell_core::api::events::{CrisisActivationData, Event, PlanCommentData, PlanVersionData};
use livingwell_core::domain::plan::{EnablementPlan, PlanSection};
use livingwell_core::domain::wrap::Wrap;
use livingwell_core::domain::{ConsentScope, PersonId, UserId};
use std::sync::Arc;

use super::push::Pusher;
use crate::clock::Clock;
use crate::events::EventHub;
use crate::store::events::Audience;
use crate::store::plans::{
    ActivationRecord, AgreementRecord, AppendOutcome, Author, CommentRecord, NewPlanVersion,
    PlanKind,
};
use crate::store::{Store, StoreError, StoreResult};

/// The plans service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Plans {
    store: Arc<dyn Store>,
    events: EventHub,
    clock: Clock,
    pusher: Pusher,
}

/// What came of storing a WRAP version.
#[derive(Debug)]
pub enum WrapWrite {
    Stored(AppendOutcome),
    /// The do-not-involve list names an account that does not exist; nothing was stored.
    UnknownAccount(UserId),
}

/// What came of agreeing a version of the Enablement Plan.
#[derive(Debug)]
pub enum Agreement {
    Agreed(AgreementRecord),
    /// The version agreed is not the current one; nothing was stored.
    Stale {
        current: i32,
    },
    /// The person has no plan yet.
    NoPlan,
}

/// A comment on one section of the current Enablement Plan.
#[derive(Debug)]
pub struct NewComment {
    pub section: PlanSection,
    pub body: String,
    pub disagree: bool,
}

impl Plans {
    pub fn new(store: Arc<dyn Store>, events: EventHub, clock: Clock, pusher: Pusher) -> Self {
        Self {
            store,
            events,
            clock,
            pusher,
        }
    }

    /// Stores a new version of the Enablement Plan written on `base`; the care team hears of it.
    pub async fn store_enablement_plan(
        &self,
        author: Author,
        person: PersonId,
        base: i32,
        plan: &EnablementPlan,
    ) -> StoreResult<AppendOutcome> {
        let team = audience(
            self.store.care_team_accounts(person).await?,
            &author,
            person,
        );
        let version = NewPlanVersion {
            person_id: person,
            kind: PlanKind::EnablementPlan,
            base_version: base,
            body: as_json(plan)?,
            author,
            created_at: self.clock.now(),
            exclude: Vec::new(),
        };
        let updated = Event::EnablementPlanUpdated(PlanVersionData {
            version: stored_as(base),
        });
        self.append(version, &team, &updated).await
    }

    /// Comments on the current version; `None` when the person has no plan yet.
    pub async fn comment(
        &self,
        author: Author,
        person: PersonId,
        comment: NewComment,
    ) -> StoreResult<Option<CommentRecord>> {
        let Some(plan) = self
            .store
            .current_plan(person, PlanKind::EnablementPlan)
            .await?
        else {
            return Ok(None);
        };
        let team = audience(
            self.store.care_team_accounts(person).await?,
            &author,
            person,
        );
        let record = CommentRecord {
            id: uuid::Uuid::now_v7(),
            person_id: person,
            version: plan.version,
            section: comment.section.as_str().to_owned(),
            body: comment.body.trim().to_owned(),
            disagree: comment.disagree,
            author,
            created_at: self.clock.now(),
        };
        let commented = Event::EnablementPlanCommented(PlanCommentData {
            comment_id: record.id,
            disagree: record.disagree,
            version: record.version,
        });
        self.store
            .add_comment(&record, &team.tell(&commented, record.created_at))
            .await?;
        self.events.announce_committed();
        Ok(Some(record))
    }

    /// `by` (the person, or a carer they share the plan with) agrees `version`, which must be
    /// the current one.
    pub async fn agree(
        &self,
        by: Author,
        by_account: UserId,
        person: PersonId,
        version: i32,
    ) -> StoreResult<Agreement> {
        let Some(plan) = self
            .store
            .current_plan(person, PlanKind::EnablementPlan)
            .await?
        else {
            return Ok(Agreement::NoPlan);
        };
        if plan.version != version {
            return Ok(Agreement::Stale {
                current: plan.version,
            });
        }
        let team = audience(self.store.care_team_accounts(person).await?, &by, person);
        let agreement = AgreementRecord {
            person_id: person,
            version,
            agreed_by: by_account,
            agreed_role: by.role,
            agreed_at: self.clock.now(),
        };
        let agreed = Event::EnablementPlanAgreed(PlanVersionData { version });
        self.store
            .agree(&agreement, &team.tell(&agreed, agreement.agreed_at))
            .await?;
        self.events.announce_committed();
        Ok(Agreement::Agreed(agreement))
    }

    /// Stores a new version of the WRAP written on `base`. Those the person shares the crisis
    /// plan with hear of it, but none the new version puts on the do-not-involve list: storing
    /// it ends their consents.
    pub async fn store_wrap(
        &self,
        author: Author,
        person: PersonId,
        base: i32,
        wrap: &Wrap,
    ) -> StoreResult<WrapWrite> {
        let exclude: Vec<UserId> = wrap.crisis_plan.excluded_accounts().into_iter().collect();
        let known = self.store.users_by_ids(&exclude).await?;
        if let Some(unknown) = exclude
            .iter()
            .find(|id| known.iter().all(|user| user.id != **id))
        {
            return Ok(WrapWrite::UnknownAccount(*unknown));
        }
        let mut carers = self.shared_with(person, ConsentScope::CrisisPlan).await?;
        carers.retain(|carer| !exclude.contains(carer));
        let carers = audience(carers, &author, person);
        let version = NewPlanVersion {
            person_id: person,
            kind: PlanKind::Wrap,
            base_version: base,
            body: as_json(wrap)?,
            author,
            created_at: self.clock.now(),
            exclude,
        };
        let updated = Event::CrisisPlanUpdated(PlanVersionData {
            version: stored_as(base),
        });
        Ok(WrapWrite::Stored(
            self.append(version, &carers, &updated).await?,
        ))
    }

    /// Whether the person's team may co-author their WRAP (the owner's decision).
    pub async fn set_wrap_coauthoring(&self, person: PersonId, allowed: bool) -> StoreResult<()> {
        self.store.set_wrap_coauthoring(person, allowed).await
    }

    /// Puts the crisis plan into use; everyone who supports the person hears at once. `None`
    /// (and nothing stored) when it is already active.
    pub async fn activate_crisis_plan(
        &self,
        by: Author,
        person: PersonId,
        reason: &str,
    ) -> StoreResult<Option<ActivationRecord>> {
        let everyone = audience(self.crisis_recipients(person).await?, &by, person);
        let record = ActivationRecord {
            id: uuid::Uuid::now_v7(),
            person_id: person,
            activated_by: by,
            reason: reason.trim().to_owned(),
            activated_at: self.clock.now(),
            deactivated_by: None,
            deactivated_at: None,
        };
        let activated = Event::CrisisPlanActivated(CrisisActivationData {
            activation_id: record.id,
        });
        let told = everyone.tell(&activated, record.activated_at);
        if !self.store.activate_crisis_plan(&record, &told).await? {
            return Ok(None);
        }
        self.events.announce_committed();
        // Supporters' phones wake for a crisis, even with the app closed.
        self.pusher.push(&told);
        Ok(Some(record))
    }

    /// Stops using the crisis plan, recording who and when; everyone is told. `None` when it
    /// was not active.
    pub async fn deactivate_crisis_plan(
        &self,
        by: Author,
        person: PersonId,
    ) -> StoreResult<Option<ActivationRecord>> {
        let everyone = audience(self.crisis_recipients(person).await?, &by, person);
        let record = self
            .store
            .deactivate_crisis_plan(person, &by, self.clock.now(), &everyone)
            .await?;
        if record.is_some() {
            self.events.announce_committed();
        }
        Ok(record)
    }

    /// Carers and the peer worker the person shares `scope` with now.
    async fn shared_with(&self, person: PersonId, scope: ConsentScope) -> StoreResult<Vec<UserId>> {
        let now = self.clock.now();
        Ok(self
            .store
            .consents(person)
            .await?
            .into_iter()
            // A stored revocation counts whatever its time: another process's clock may be
            // a little ahead of this one's.
            .filter(|c| c.revoked_at.is_none() && c.allows(scope, now))
            .map(|c| c.grantee.user_id())
            .collect())
    }

    /// Everyone who hears of a crisis: the team, the peer worker, the person, consented carers.
    async fn crisis_recipients(&self, person: PersonId) -> StoreResult<Vec<UserId>> {
        let mut recipients = self.store.care_team_accounts(person).await?;
        recipients.extend(self.shared_with(person, ConsentScope::CrisisPlan).await?);
        Ok(recipients)
    }

    /// Stores a version with `event` told to `told`, if it is still written on the current
    /// one, and announces it after the commit.
    async fn append(
        &self,
        version: NewPlanVersion,
        told: &Audience,
        event: &Event,
    ) -> StoreResult<AppendOutcome> {
        let announce = told.tell(event, version.created_at);
        let outcome = self.store.append_plan_version(&version, &announce).await?;
        if let AppendOutcome::Stored(_) = outcome {
            self.events.announce_committed();
        }
        Ok(outcome)
    }
}

/// Who hears of a change to `person`'s plans: each of `recipients` once, but not whoever made
/// it.
fn audience(
    recipients: impl IntoIterator<Item = UserId>,
    author: &Author,
    person: PersonId,
) -> Audience {
    let unique: BTreeSet<UserId> = recipients.into_iter().collect();
    Audience {
        recipients: unique
            .into_iter()
            .filter(|id| id.to_string() != author.id)
            .collect(),
        person_id: Some(person),
    }
}

/// The version a write based on `base` is stored as, should it be stored: the next one. (No
/// plan reaches `i32::MAX` versions, so a write on that base is stale and stores nothing, its
/// event included.)
fn stored_as(base: i32) -> i32 {
    base.saturating_add(1)
}

/// A plan as the store keeps it. Plans are plain records (no maps with non-text keys), so this
/// does not fail; if it ever did, nothing would be stored.
fn as_json<T: serde::Serialize>(plan: &T) -> StoreResult<serde_json::Value> {
    serde_json::to_value(plan)
        .map_err(|_| StoreError::Corrupt("a plan that cannot be written as JSON".to_owned()))
}
