//! Offline reads: what a phone showed from its own store with no network, uploaded once it is
//! back online (`POST /v1/audit/offline-reads`), so the person's access log holds those reads
//! too (SPEC §4).
//!
//! Each read carries an id the phone made when it showed the record ([`OfflineReadId`]): an
//! upload sent again, however often, records each read once. The server accepts a read only if
//! the reader could see that record at the moment the phone showed it (`read_at`); one they
//! could not is recorded as a refused attempt, never as a read.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, Validate};
use crate::domain::ids::id_type;
use crate::domain::{CrisisPlanSection, FieldErrorCode, PersonId};

/// Most reads in one upload; a phone with more sends them in several.
pub const OFFLINE_READS_MAX: usize = 200;

/// How far after the server's clock a read may say it was shown: phone clocks drift.
pub const READ_AT_SKEW_SECONDS: i64 = 5 * 60;

/// How long ago a read may have been shown and still be uploaded: a phone offline longer has
/// had to sign in again (sessions lapse after 30 days idle) and its copy is long out of date.
pub const READ_AT_MAX_AGE_DAYS: i64 = 90;

id_type!(
    /// The id a phone gives one read it showed offline, when it shows it; uploading the read
    /// again with the same id records nothing new.
    OfflineReadId
);

/// The parts of a person's record a phone can show offline. The names are those of the
/// access log's `resource`.
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
pub enum OfflineRecord {
    /// Name, team and peer worker.
    Person,
    EnablementPlan,
    /// The summary of the Enablement Plan a peer worker is shown.
    EnablementPlanSummary,
    Wrap,
    /// The crisis plan; `sections` names those shown.
    CrisisPlan,
    Appointments,
    Messages,
    Consents,
    AccessLog,
}

impl OfflineRecord {
    /// Every kind, in declaration order.
    pub fn all() -> &'static [OfflineRecord] {
        <Self as strum::VariantArray>::VARIANTS
    }
}

/// One read the phone showed offline.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OfflineRead {
    pub event_id: OfflineReadId,
    /// Whose record was shown.
    pub person_id: PersonId,
    pub record: OfflineRecord,
    /// For the crisis plan only: the sections shown (at least one). Absent, the read counts
    /// for whatever part of the crisis plan the reader could see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sections: Option<BTreeSet<CrisisPlanSection>>,
    /// When the phone showed it.
    pub read_at: DateTime<Utc>,
}

/// Reads a phone showed offline, oldest first or in any order.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OfflineReadsRequest {
    /// 1 to 200 reads, each `event_id` once.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 200))]
    pub reads: Vec<OfflineRead>,
}

impl Validate for OfflineReadsRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.reads.is_empty() {
            errors.push(FieldError::new("reads", FieldErrorCode::Required));
        }
        if self.reads.len() > OFFLINE_READS_MAX {
            errors.push(FieldError::new("reads", FieldErrorCode::TooMany));
            return errors;
        }
        let mut seen = BTreeSet::new();
        for (index, read) in self.reads.iter().enumerate() {
            if !seen.insert(read.event_id) {
                errors.push(FieldError::new(
                    format!("reads[{index}].event_id"),
                    FieldErrorCode::Taken,
                ));
            }
            match (&read.sections, read.record) {
                (None, _) => {}
                (Some(sections), OfflineRecord::CrisisPlan) if sections.is_empty() => {
                    errors.push(FieldError::new(
                        format!("reads[{index}].sections"),
                        FieldErrorCode::Required,
                    ));
                }
                (Some(_), OfflineRecord::CrisisPlan) => {}
                (Some(_), _) => errors.push(FieldError::new(
                    format!("reads[{index}].sections"),
                    FieldErrorCode::OnlyForCrisisPlan,
                )),
            }
        }
        errors
    }
}

impl OfflineReadsRequest {
    /// Checks that need the server's time as well as the request: no read shown later than
    /// now (give or take [`READ_AT_SKEW_SECONDS`]) or longer ago than
    /// [`READ_AT_MAX_AGE_DAYS`].
    pub fn field_errors_at(&self, now: DateTime<Utc>) -> Vec<FieldError> {
        let latest = now + Duration::seconds(READ_AT_SKEW_SECONDS);
        let earliest = now - Duration::days(READ_AT_MAX_AGE_DAYS);
        self.reads
            .iter()
            .enumerate()
            .filter_map(|(index, read)| {
                let code = if read.read_at > latest {
                    FieldErrorCode::InTheFuture
                } else if read.read_at < earliest {
                    FieldErrorCode::TooLongAgo
                } else {
                    return None;
                };
                Some(FieldError::new(format!("reads[{index}].read_at"), code))
            })
            .collect()
    }
}

/// What became of one uploaded read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OfflineReadOutcome {
    /// Recorded in the person's access log as an offline read.
    Recorded,
    /// The reader could not see that record (or those sections) when it was shown: recorded as
    /// a refused attempt, not as a read.
    Refused,
    /// This `event_id` was uploaded before; nothing new is recorded (the first upload stands).
    AlreadyRecorded,
}

/// One uploaded read's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfflineReadResult {
    pub event_id: OfflineReadId,
    pub outcome: OfflineReadOutcome,
}

/// Every uploaded read's outcome, in the order uploaded. The phone may forget every read
/// named here, whatever its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfflineReadsResponse {
    pub reads: Vec<OfflineReadResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(record: OfflineRecord, sections: Option<&[CrisisPlanSection]>) -> OfflineRead {
        OfflineRead {
            event_id: OfflineReadId::new(),
            person_id: PersonId::new(),
            record,
            sections: sections.map(|s| s.iter().copied().collect()),
            read_at: Utc::now(),
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<(String, FieldErrorCode)> {
        errors.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn an_upload_holds_one_to_two_hundred_reads_each_once() {
        let none = OfflineReadsRequest { reads: Vec::new() };
        assert_eq!(
            fields(none.field_errors()),
            [("reads".to_owned(), FieldErrorCode::Required)]
        );
        let too_many = OfflineReadsRequest {
            reads: (0..=OFFLINE_READS_MAX)
                .map(|_| read(OfflineRecord::Person, None))
                .collect(),
        };
        assert_eq!(
            fields(too_many.field_errors()),
            [("reads".to_owned(), FieldErrorCode::TooMany)]
        );
        let first = read(OfflineRecord::Wrap, None);
        let twice = OfflineReadsRequest {
            reads: vec![first.clone(), read(OfflineRecord::Person, None), first],
        };
        assert_eq!(
            fields(twice.field_errors()),
            [("reads[2].event_id".to_owned(), FieldErrorCode::Taken)]
        );
    }

    #[test]
    fn sections_are_named_for_the_crisis_plan_only() {
        let request = OfflineReadsRequest {
            reads: vec![
                read(
                    OfflineRecord::CrisisPlan,
                    Some(&[CrisisPlanSection::WhenWell]),
                ),
                read(OfflineRecord::CrisisPlan, None),
                read(OfflineRecord::CrisisPlan, Some(&[])),
                read(
                    OfflineRecord::Appointments,
                    Some(&[CrisisPlanSection::WhenWell]),
                ),
            ],
        };
        assert_eq!(
            fields(request.field_errors()),
            [
                ("reads[2].sections".to_owned(), FieldErrorCode::Required),
                (
                    "reads[3].sections".to_owned(),
                    FieldErrorCode::OnlyForCrisisPlan
                ),
            ]
        );
    }

    #[test]
    fn a_read_is_neither_from_the_future_nor_from_too_long_ago() {
        let now = Utc::now();
        let at = |read_at| OfflineRead {
            read_at,
            ..read(OfflineRecord::Person, None)
        };
        let request = OfflineReadsRequest {
            reads: vec![
                at(now + Duration::seconds(READ_AT_SKEW_SECONDS)),
                at(now + Duration::seconds(READ_AT_SKEW_SECONDS + 1)),
                at(now - Duration::days(READ_AT_MAX_AGE_DAYS)),
                at(now - Duration::days(READ_AT_MAX_AGE_DAYS) - Duration::seconds(1)),
            ],
        };
        assert_eq!(
            fields(request.field_errors_at(now)),
            [
                ("reads[1].read_at".to_owned(), FieldErrorCode::InTheFuture),
                ("reads[3].read_at".to_owned(), FieldErrorCode::TooLongAgo),
            ]
        );
    }

    #[test]
    fn record_kinds_are_snake_case_on_the_wire() {
        use strum::VariantArray;
        for record in OfflineRecord::VARIANTS {
            let json = serde_json::to_value(record).expect("serialises");
            assert_eq!(json, serde_json::Value::String(record.to_string()));
        }
        let unknown: Result<OfflineRecord, _> = serde_json::from_str("\"diary\"");
        assert!(unknown.is_err());
    }
}
