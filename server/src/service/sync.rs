//! Sync: what changed for a phone's copy since its cursor, and what it must drop.
//!
//! Policy:
//! - **The server remembers what it told each phone.** A cursor names a [`SyncState`]: the
//!   version of every whole record the phone was given, and how far it has read each feed
//!   (a conversation's messages, its notifications, its access log). The next sync compares
//!   what the caller may see *now* — decided by the policy at that moment — with it, so a
//!   consent revoked or run out by time, a reallocation or a move off a team produces a
//!   tombstone with no write having to record it.
//! - **Cursors are replayable.** A cursor is a hash of the account and the state it names, so
//!   the same sync from the same cursor with nothing changed gives the same page and cursor,
//!   and a sync with no changes gives back the cursor it was given, storing nothing.
//! - **Kept while used.** A cursor unused for [`CURSOR_KEPT_DAYS`] is forgotten, and so are an
//!   account's oldest beyond [`CURSORS_PER_ACCOUNT`] (a phone only ever needs its newest); a
//!   forgotten or unknown cursor is answered `410 resync`. A job started with the service
//!   forgets them once an hour (and folds the sync generation's rows of ended connections, so
//!   its sum stays short), and ends with the application's shutdown token.
//! - **Nothing new, in one query.** A sync that told the phone everything there was keeps, with
//!   its cursor, the fingerprint of what it read (read before it read anything: the count of
//!   writes to every table a sync reads, and the newest notification and access-log entry;
//!   [`crate::store::sync`]) and the first moment a rule of the clock may change what the
//!   caller sees (a consent beginning, running out or revoked ahead; emergency access lapsing;
//!   an appointment leaving or entering the window a phone keeps; a workshop offer lapsing; a
//!   peer worker's hours starting or ending), and never more than an hour ahead. A sync from
//!   that cursor that finds the same fingerprint before that moment answers "nothing new"
//!   with the cursor it was given, reading nothing else. Any write a sync would see moves the
//!   fingerprint, so the answer is the one the sync worked out in full would give; the test
//!   server works every such answer out in full as well and fails on a difference.
//! - **Flat as history grows.** Whole records are those a phone shows (the current plans,
//!   appointments from 30 days back, bookings, consents, conversations); long histories
//!   (messages, notifications, the access log) are feeds read after a position, on an index.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use livingwell_core::api::sync::{CURSOR_KEPT_DAYS, SyncKind, SyncRecord};
use livingwell_core::domain::{PersonId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::store::sync::{SyncCursorRecord, SyncFingerprint, Unchanged};
use crate::store::{Store, StoreResult};

/// How many cursors an account keeps: its phones each need only their newest.
pub const CURSORS_PER_ACCOUNT: i64 = 500;
/// How often unused cursors are forgotten.
const PRUNE_EVERY: StdDuration = StdDuration::from_secs(60 * 60);

/// What a phone was told: the version of each whole record it holds, and where it is in each
/// feed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct SyncState {
    /// `kind:id` → what the phone holds of that record.
    #[serde(default, rename = "h")]
    held: BTreeMap<String, Held>,
    /// Feed name → the position (sequence number or id) the phone has read to.
    #[serde(default, rename = "f")]
    feeds: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
struct Held {
    #[serde(rename = "v")]
    version: String,
    #[serde(default, rename = "p", skip_serializing_if = "Option::is_none")]
    person: Option<PersonId>,
}

/// A record the caller may see now, whole.
#[derive(Clone, Debug)]
pub struct Current {
    pub kind: SyncKind,
    pub id: String,
    pub person: Option<PersonId>,
    pub data: serde_json::Value,
}

/// A record the phone held that the caller no longer sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gone {
    pub kind: SyncKind,
    pub id: String,
    pub person: Option<PersonId>,
}

/// The whole records of one page: those new or changed (at most the limit, in the order
/// given), and those gone.
#[derive(Debug)]
pub struct WholeChanges {
    pub changed: Vec<SyncRecord>,
    pub gone: Vec<Gone>,
    /// Changed records left for the next page.
    pub more: bool,
}

fn key(kind: SyncKind, id: &str) -> String {
    format!("{kind}:{id}")
}

/// The version of a record's data: changes whenever the data does.
fn version_of(data: &serde_json::Value) -> String {
    let digest = Sha256::digest(data.to_string().as_bytes());
    hex::encode(&digest[..8])
}

/// A record as a sync delivers it, with its version.
pub fn record(
    kind: SyncKind,
    id: String,
    person: Option<PersonId>,
    data: serde_json::Value,
) -> SyncRecord {
    SyncRecord {
        kind,
        id,
        person_id: person,
        version: version_of(&data),
        data,
    }
}

impl SyncState {
    /// Compares what the caller may see now with what the phone holds: takes up to `limit`
    /// new or changed records into the state, and drops those gone. A conversation gone
    /// takes its message feed with it.
    pub fn take_whole(&mut self, current: Vec<Current>, limit: usize) -> WholeChanges {
        let mut seen = std::collections::HashSet::with_capacity(current.len());
        let mut changed = Vec::new();
        let mut more = false;
        for record in current {
            let key = key(record.kind, &record.id);
            let version = version_of(&record.data);
            let unchanged = self
                .held
                .get(&key)
                .is_some_and(|held| held.version == version);
            seen.insert(key.clone());
            if unchanged {
                continue;
            }
            if changed.len() == limit {
                more = true;
                continue;
            }
            self.held.insert(
                key,
                Held {
                    version: version.clone(),
                    person: record.person,
                },
            );
            changed.push(SyncRecord {
                kind: record.kind,
                id: record.id,
                person_id: record.person,
                version,
                data: record.data,
            });
        }
        let gone_keys: Vec<String> = self
            .held
            .keys()
            .filter(|key| !seen.contains(*key))
            .cloned()
            .collect();
        let mut gone = Vec::with_capacity(gone_keys.len());
        for key in gone_keys {
            let Some(held) = self.held.remove(&key) else {
                continue;
            };
            let Some((kind, id)) = key
                .split_once(':')
                .and_then(|(kind, id)| Some((kind.parse::<SyncKind>().ok()?, id)))
            else {
                continue;
            };
            if kind == SyncKind::Conversation {
                self.feeds.remove(&message_feed(id));
            }
            gone.push(Gone {
                kind,
                id: id.to_owned(),
                person: held.person,
            });
        }
        WholeChanges {
            changed,
            gone,
            more,
        }
    }

    /// Where the phone is in `feed` (0 before its first item).
    pub fn position(&self, feed: &str) -> i64 {
        self.feeds.get(feed).copied().unwrap_or(0)
    }

    /// The phone has read `feed` to `position`.
    pub fn advance(&mut self, feed: String, position: i64) {
        self.feeds.insert(feed, position);
    }

    /// Forgets a record the phone was told to drop without a tombstone (one that left the
    /// window a phone shows, which it drops by itself).
    pub fn forget(&mut self, kind: SyncKind, id: &str) {
        self.held.remove(&key(kind, id));
    }
}

/// Where a sync begins: the cursor it was given, and what the records it reads were at the
/// start.
#[derive(Debug)]
pub struct Begun {
    fingerprint: SyncFingerprint,
    given: Option<Given>,
}

#[derive(Debug)]
struct Given {
    cursor: String,
    state: String,
    last_used_at: DateTime<Utc>,
    unchanged: Option<Unchanged>,
}

impl Begun {
    /// The cursor given, when a sync from it now would find nothing new and nothing gone: the
    /// phone was told everything there was, nothing it reads was written since, no clock-driven
    /// rule has moved, and the cursor was marked used within the day — and not after `now`
    /// (a clock set back could bring back what a rule of the clock had ended).
    pub fn unchanged_at(&self, now: DateTime<Utc>) -> Option<&str> {
        let given = self.given.as_ref()?;
        let unchanged = given.unchanged?;
        (unchanged.fingerprint == self.fingerprint
            && now < unchanged.until
            && given.last_used_at <= now
            && given.last_used_at >= now - Duration::days(1))
        .then_some(given.cursor.as_str())
    }

    /// What the phone holds: nothing from the start, else the state its cursor names; `None`
    /// when that cannot be read (kept by another version of the server).
    pub fn held(&self) -> Option<SyncState> {
        match &self.given {
            None => Some(SyncState::default()),
            Some(given) => serde_json::from_str(&given.state).ok(),
        }
    }
}

/// The feed of a conversation's messages.
pub fn message_feed(conversation: &str) -> String {
    format!("message:{conversation}")
}

/// The sync service: keeps the states cursors name. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sync {
    store: Arc<dyn Store>,
    clock: Clock,
    check_unchanged: bool,
}

impl Sync {
    /// The service, with its job forgetting unused cursors running until `shutdown`;
    /// `check_unchanged` for tests ([`Sync::checks_unchanged`]).
    pub fn start(
        store: Arc<dyn Store>,
        clock: Clock,
        check_unchanged: bool,
        shutdown: CancellationToken,
    ) -> Self {
        let service = Self {
            store,
            clock,
            check_unchanged,
        };
        tokio::spawn(service.clone().forget_unused_cursors(shutdown));
        service
    }

    /// Whether a sync answered "nothing new" from its fingerprint is also worked out in full
    /// and compared (a test setting).
    pub fn checks_unchanged(&self) -> bool {
        self.check_unchanged
    }

    /// Where a sync from `cursor` (none: from the start) begins: the cursor as the store kept
    /// it for the account (read with the fingerprint before anything the sync reads; `None`
    /// when not kept). `None` when the cursor is unknown, unused for too long, or unreadable
    /// (kept by another version of the server), so the phone starts again.
    pub async fn begin(
        &self,
        user: UserId,
        person: Option<PersonId>,
        cursor: Option<(&str, Option<SyncCursorRecord>)>,
    ) -> StoreResult<Option<Begun>> {
        let Some((cursor, kept)) = cursor else {
            let fingerprint = self.store.sync_fingerprint(user, person).await?;
            return Ok(Some(Begun {
                fingerprint,
                given: None,
            }));
        };
        let Some(kept) = kept else {
            return Ok(None);
        };
        if kept.last_used_at < self.clock.now() - Duration::days(CURSOR_KEPT_DAYS) {
            return Ok(None);
        }
        Ok(Some(Begun {
            fingerprint: kept.now,
            given: Some(Given {
                cursor: cursor.to_owned(),
                state: kept.state,
                last_used_at: kept.last_used_at,
                unchanged: kept.unchanged,
            }),
        }))
    }

    /// Keeps `state` and answers the cursor that names it. When `complete` (the phone was told
    /// everything there was, not a page of it), the state is known unchanged while the
    /// fingerprint read at the start stays, until `fresh_until`. When the state is the one the
    /// given cursor names, used within a day and known unchanged by the same, nothing is
    /// written.
    pub async fn keep(
        &self,
        user: UserId,
        begun: &Begun,
        state: &SyncState,
        complete: bool,
        fresh_until: DateTime<Utc>,
    ) -> StoreResult<String> {
        let json = serde_json::to_string(state).map_err(|_| {
            crate::store::StoreError::Corrupt("a sync state that cannot be written".into())
        })?;
        let cursor = cursor_for(user, &json);
        let now = self.clock.now();
        let unchanged = complete.then_some(Unchanged {
            fingerprint: begun.fingerprint,
            until: fresh_until,
        });
        // An unchanged state keeps its row; it is marked used at most daily, so a phone that
        // syncs every minute with nothing new writes nothing.
        let kept_as_is = begun.given.as_ref().is_some_and(|given| {
            given.cursor == cursor
                && given.last_used_at >= now - Duration::days(1)
                && given.unchanged == unchanged
        });
        if !kept_as_is {
            self.store
                .save_sync_cursor(user, &cursor, &json, now, unchanged)
                .await?;
        }
        Ok(cursor)
    }

    async fn forget_unused_cursors(self, shutdown: CancellationToken) {
        let mut every_hour = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every_hour.tick() => {}
            }
            let before = self.clock.now() - Duration::days(CURSOR_KEPT_DAYS);
            if let Err(error) = self
                .store
                .prune_sync_cursors(before, CURSORS_PER_ACCOUNT)
                .await
            {
                tracing::warn!(
                    kind = error.kind(),
                    "forgetting unused sync cursors failed; retrying in an hour"
                );
            }
            // The generation is summed on every sync: its rows stay few.
            if let Err(error) = self.store.fold_sync_generation().await {
                tracing::warn!(
                    kind = error.kind(),
                    "folding the sync generation failed; retrying in an hour"
                );
            }
        }
    }
}

/// The cursor naming `state` for `user`: 128 bits of a hash of both, so a replay names the
/// same row and no account can name another's.
fn cursor_for(user: UserId, state: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(user.as_uuid().as_bytes());
    hash.update(state.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(kind: SyncKind, id: &str, data: serde_json::Value) -> Current {
        Current {
            kind,
            id: id.to_owned(),
            person: None,
            data,
        }
    }

    #[test]
    fn only_new_and_changed_records_are_taken_and_the_rest_are_gone() {
        let mut state = SyncState::default();
        let first = state.take_whole(
            vec![
                record(SyncKind::Person, "a", json!({"name": "A"})),
                record(SyncKind::Conversation, "c", json!({"last_seq": 1})),
            ],
            10,
        );
        assert_eq!(first.changed.len(), 2);
        state.advance(message_feed("c"), 1);

        let same = state.clone().take_whole(
            vec![
                record(SyncKind::Person, "a", json!({"name": "A"})),
                record(SyncKind::Conversation, "c", json!({"last_seq": 1})),
            ],
            10,
        );
        assert!(same.changed.is_empty() && same.gone.is_empty() && !same.more);

        let next = state.take_whole(
            vec![record(SyncKind::Person, "a", json!({"name": "B"}))],
            10,
        );
        assert_eq!(next.changed.len(), 1);
        assert_eq!(
            next.gone,
            vec![Gone {
                kind: SyncKind::Conversation,
                id: "c".into(),
                person: None
            }]
        );
        assert_eq!(state.position(&message_feed("c")), 0, "the feed went too");
    }

    #[test]
    fn records_beyond_the_limit_wait_for_the_next_page() {
        let mut state = SyncState::default();
        let all = || {
            (0..5)
                .map(|i| record(SyncKind::Appointment, &i.to_string(), json!(i)))
                .collect::<Vec<_>>()
        };
        let page = state.take_whole(all(), 3);
        assert_eq!(page.changed.len(), 3);
        assert!(page.more);
        assert!(page.gone.is_empty());
        let page = state.take_whole(all(), 3);
        assert_eq!(
            page.changed
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["3", "4"]
        );
        assert!(!page.more);
    }

    #[test]
    fn nothing_new_is_answered_only_while_fingerprint_clock_and_use_allow() {
        let worked_out: DateTime<Utc> = "2026-11-03T09:00:00Z".parse().unwrap();
        let fingerprint = SyncFingerprint {
            generation: 10,
            newest_event: 2,
            newest_access: 3,
        };
        let begun = |now_fingerprint: SyncFingerprint, last_used_at| Begun {
            fingerprint: now_fingerprint,
            given: Some(Given {
                cursor: "c".into(),
                state: "{}".into(),
                last_used_at,
                unchanged: Some(Unchanged {
                    fingerprint,
                    until: worked_out + Duration::minutes(30),
                }),
            }),
        };
        let minutes = |m| worked_out + Duration::minutes(m);
        assert_eq!(
            begun(fingerprint, worked_out).unchanged_at(minutes(5)),
            Some("c")
        );
        // Something a sync reads was written.
        let written = SyncFingerprint {
            generation: 11,
            ..fingerprint
        };
        assert_eq!(begun(written, worked_out).unchanged_at(minutes(5)), None);
        // A rule of the clock moved.
        assert_eq!(
            begun(fingerprint, worked_out).unchanged_at(minutes(30)),
            None
        );
        // The clock was set back before the state was worked out.
        assert_eq!(
            begun(fingerprint, worked_out).unchanged_at(minutes(-1)),
            None
        );
        // Not marked used for a day: worked out (and marked) again.
        let day_old = worked_out - Duration::days(1) - Duration::minutes(1);
        assert_eq!(begun(fingerprint, day_old).unchanged_at(minutes(5)), None);
        // A page that was not the whole, or no cursor: never.
        let mut paged = begun(fingerprint, worked_out);
        if let Some(given) = paged.given.as_mut() {
            given.unchanged = None;
        }
        assert_eq!(paged.unchanged_at(minutes(5)), None);
        let from_start = Begun {
            fingerprint,
            given: None,
        };
        assert_eq!(from_start.unchanged_at(minutes(5)), None);
    }

    #[test]
    fn a_cursor_names_one_account_and_state() {
        let user = UserId::new();
        let state = serde_json::to_string(&SyncState::default()).unwrap();
        assert_eq!(cursor_for(user, &state), cursor_for(user, &state));
        assert_ne!(cursor_for(user, &state), cursor_for(UserId::new(), &state));
        assert_eq!(cursor_for(user, &state).len(), 22);
    }
}
