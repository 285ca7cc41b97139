//! A team's view of its caseload: who holds each case (key worker, peer worker), what is next
//! for them, and how people rated the sessions and reviews they had.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::reports::RatedKind;
use super::{FieldError, Validate, collect_errors};
use crate::domain::FieldErrorCode;
use crate::domain::appointment::{AppointmentId, AppointmentKind};
use crate::domain::plan::SupportLevel;
use crate::domain::text;
use crate::domain::{PersonId, TeamId, UserId};

/// A worker named on a caseload row.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerRef {
    pub id: UserId,
    pub display_name: String,
}

/// The person's next appointment: the first not cancelled that starts now or later.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NextAppointment {
    pub id: AppointmentId,
    pub kind: AppointmentKind,
    pub starts_at: DateTime<Utc>,
}

/// When the person's current Enablement Plan is due for review.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewDue {
    /// The plan's `review_on`.
    pub on: NaiveDate,
    /// The date has passed (in UTC) and no newer plan version has moved it.
    pub overdue: bool,
}

/// The crisis plan at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CrisisPlanState {
    /// No WRAP, or its crisis plan is empty: nothing to act on in a crisis.
    None,
    /// The WRAP's crisis plan has something written in it, and it is not active.
    Written,
    /// Activated and not yet deactivated: supporters are following it now.
    Active,
}

/// One person on a team's caseload. `id`, `display_name`, `team_id`, `peer_worker_id` and
/// `created_at` are as `PersonView` has them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseloadPerson {
    pub id: PersonId,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_worker_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
    /// From the current Enablement Plan; absent when the person has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_level: Option<SupportLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_worker: Option<WorkerRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_worker: Option<WorkerRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_appointment: Option<NextAppointment>,
    /// Absent when there is no plan, or the plan names no review date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewDue>,
    pub crisis_plan: CrisisPlanState,
}

/// Names the person's key worker: a practitioner on the person's team.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyWorkerRequest {
    pub user_id: UserId,
}

impl Validate for KeyWorkerRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// The longest comment on a rating, in Unicode scalar values.
pub const RATING_COMMENT_MAX: usize = 1_000;

/// How many days after the first rating the person may still change it.
pub const RATING_EDITABLE_DAYS: i64 = 7;

/// The person's rating of a workshop session or review they had.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 (poor) to 5 (very good).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub score: i32,
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    #[serde(default)]
    pub comment: Option<String>,
    /// Whether the team may see who wrote it.
    #[serde(default)]
    pub name_shared: bool,
}

debug_without_secrets!(RatingRequest, score, name_shared);

impl Validate for RatingRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let score = if (1..=5).contains(&self.score) {
            Ok(())
        } else {
            Err(FieldError::new("score", FieldErrorCode::OutOfRange))
        };
        let comment = match &self.comment {
            Some(comment) => text::check_text("comment", comment, RATING_COMMENT_MAX),
            None => Ok(()),
        };
        collect_errors([score, comment])
    }
}

/// The person's own rating of one of their appointments.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RatingView {
    pub appointment_id: AppointmentId,
    pub kind: RatedKind,
    pub score: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub name_shared: bool,
    /// When first rated.
    pub rated_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Changes are refused (409 `rating_locked`) from this instant.
    pub editable_until: DateTime<Utc>,
}

debug_without_secrets!(RatingView, appointment_id, kind, score, name_shared);

/// Who gave a rating, shown only when they chose to share their name.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RatedBy {
    pub id: PersonId,
    pub display_name: String,
}

debug_without_secrets!(RatedBy, id);

/// A rating as the team sees it.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamRatingView {
    pub kind: RatedKind,
    pub score: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub rated_at: DateTime<Utc>,
    /// Absent unless the person chose to share their name with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<RatedBy>,
}

debug_without_secrets!(TeamRatingView, kind, score, rated_at);

/// A page of a team's ratings, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamRatingPage {
    pub ratings: Vec<TeamRatingView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of `TeamRatingPage`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct TeamRatingsQuery {
    /// From `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many ratings (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// The kind a rating is filed under, for an appointment of `kind`: workshop sessions and
/// reviews only.
pub fn rated_kind(kind: AppointmentKind) -> Option<RatedKind> {
    match kind {
        AppointmentKind::EnablementWorkshop => Some(RatedKind::WorkshopSession),
        AppointmentKind::Review => Some(RatedKind::Review),
        AppointmentKind::KeyWorkerSession
        | AppointmentKind::Assessment
        | AppointmentKind::PeerSupportMeeting
        | AppointmentKind::OutreachVisit
        | AppointmentKind::HubDropIn
        | AppointmentKind::Call => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(score: i32, comment: Option<&str>) -> RatingRequest {
        RatingRequest {
            score,
            comment: comment.map(str::to_owned),
            name_shared: false,
        }
    }

    #[test]
    fn a_rating_names_a_score_out_of_range_and_a_long_comment() {
        assert!(request(1, None).field_errors().is_empty());
        assert!(request(5, Some("helpful")).field_errors().is_empty());
        let fields = |r: RatingRequest| -> Vec<String> {
            r.field_errors().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(request(0, None)), ["score"]);
        assert_eq!(fields(request(6, None)), ["score"]);
        let long = "a".repeat(RATING_COMMENT_MAX + 1);
        assert_eq!(fields(request(3, Some(&long))), ["comment"]);
    }

    #[test]
    fn only_workshop_sessions_and_reviews_are_rated() {
        let rated: Vec<_> = AppointmentKind::ALL
            .into_iter()
            .filter_map(rated_kind)
            .collect();
        assert_eq!(rated, [RatedKind::Review, RatedKind::WorkshopSession]);
    }
}
