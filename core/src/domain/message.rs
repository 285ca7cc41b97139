//! Peer-support messages, and the working hours of the peer workers who answer them.
//!
//! What this module guarantees, for the server (which enforces it) and the app (which can check
//! before sending):
//! - **Exactly once.** A message is sent with a [`ClientMessageId`] the phone makes before its
//!   first attempt. The server keeps `(sender, client id)` unique for ever, so a retry — however
//!   long the phone was offline — gets the message already stored, never a second one.
//! - **One order.** Messages in a conversation are numbered 1, 2, 3… without gaps, in the order
//!   the server stored them; a reader pages with `after_seq` and can tell a message it has not
//!   fetched yet from one that does not exist.
//! - **Length** is counted in Unicode scalar values ([`MESSAGE_BODY_MAX`]), the same on both
//!   sides, so a message that fits on the phone fits on the server.
//! - **Peer workers are not a crisis service.** [`Availability`] says when a worker works: a
//!   weekly pattern read in Europe/London (so 09:00 is 09:00 in winter and in summer), and an
//!   away switch. A message to a worker who is not available gets an [`OutOfHoursNotice`] with
//!   the deployment's crisis lines and a pointer to the person's own crisis plan; it is not
//!   repeated within [`NOTICE_QUIET_HOURS`] in one conversation, so a person who writes ten
//!   messages at night reads the signposting once, not ten times.

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveTime, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ids::{PersonId, id_type};
use crate::domain::FieldError;
use crate::domain::FieldErrorCode;
use crate::domain::check::LIST_MAX;
use crate::domain::text;

id_type!(
    /// A conversation: a person with their peer worker, or a person or carer with a team.
    ConversationId
);
id_type!(
    /// One stored message.
    MessageId
);
id_type!(
    /// The id the sending device gives a message before it first tries to send it; a retry
    /// carries the same id, so the server can answer with the message it already stored.
    ClientMessageId
);
id_type!(
    /// One report of a message to the team.
    MessageReportId
);

/// The zone working hours are read in.
pub const LONDON: Tz = chrono_tz::Europe::London;

/// Longest message, in Unicode scalar values.
pub const MESSAGE_BODY_MAX: usize = 4_000;

/// An automatic notice is not repeated in a conversation within this many hours.
pub const NOTICE_QUIET_HOURS: i64 = 12;

/// Checks a message body: not blank, at most [`MESSAGE_BODY_MAX`] scalar values, no U+0000.
pub fn check_body(field: &str, body: &str) -> Result<(), FieldError> {
    text::check_required_text(field, body, MESSAGE_BODY_MAX)
}

/// Who a conversation is with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// A person and the peer worker allocated to them now; it passes to a new worker on
    /// reallocation, with its history.
    Peer,
    /// A person, or one of their carers, and the team whose caseload the person is on.
    Team,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Peer => "peer",
            ConversationKind::Team => "team",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "peer" => Some(ConversationKind::Peer),
            "team" => Some(ConversationKind::Team),
            _ => None,
        }
    }
}

/// Where a message is on its way to the reader. `Queued` exists only on the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting on the phone for a connection.
    Queued,
    /// Stored by the server.
    Sent,
    /// Fetched by a device of someone else in the conversation.
    Delivered,
    /// Marked read by someone else in the conversation.
    Read,
}

impl MessageState {
    /// The state of message `seq` given how far the other side has fetched and read.
    pub fn of(seq: i64, others_delivered: i64, others_read: i64) -> Self {
        if others_read >= seq {
            MessageState::Read
        } else if others_delivered >= seq {
            MessageState::Delivered
        } else {
            MessageState::Sent
        }
    }
}

/// A day of the week, as working hours name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<Weekday> for Day {
    fn from(day: Weekday) -> Self {
        match day {
            Weekday::Mon => Day::Mon,
            Weekday::Tue => Day::Tue,
            Weekday::Wed => Day::Wed,
            Weekday::Thu => Day::Thu,
            Weekday::Fri => Day::Fri,
            Weekday::Sat => Day::Sat,
            Weekday::Sun => Day::Sun,
        }
    }
}

/// A wall-clock time of day in London, to the minute, written `HH:MM`; `24:00` is the end of
/// the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", example = "09:00")
)]
pub struct ClockTime(u16);

impl ClockTime {
    pub const MIDNIGHT: ClockTime = ClockTime(0);
    pub const END_OF_DAY: ClockTime = ClockTime(24 * 60);

    /// `hour:minute`; `None` unless it is a time of day (or 24:00).
    pub fn new(hour: u16, minute: u16) -> Option<Self> {
        let total = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && total <= 24 * 60).then_some(ClockTime(total))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }

    fn naive(self) -> Option<NaiveTime> {
        NaiveTime::from_hms_opt(u32::from(self.0 / 60), u32::from(self.0 % 60), 0)
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl std::str::FromStr for ClockTime {
    type Err = &'static str;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        const INVALID: &str = "a time of day written HH:MM";
        let (hour, minute) = value.split_once(':').ok_or(INVALID)?;
        if hour.len() != 2 || minute.len() != 2 {
            return Err(INVALID);
        }
        let hour = hour.parse().map_err(|_| INVALID)?;
        let minute = minute.parse().map_err(|_| INVALID)?;
        ClockTime::new(hour, minute).ok_or(INVALID)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One stretch of working time on one day of the week, `start` up to (not including) `end`.
/// A night shift past midnight is two spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkingSpan {
    pub day: Day,
    pub start: ClockTime,
    pub end: ClockTime,
}

impl WorkingSpan {
    pub fn new(day: Day, start: ClockTime, end: ClockTime) -> Self {
        Self { day, start, end }
    }
}

/// The instants at which London's wall clock reaches `local`: once; in the hour the autumn
/// change repeats, both times and the change itself (when the wall clock goes back over it);
/// in the hour the spring change skips, the change (when the wall clock jumps over it).
fn london_instants(local: chrono::NaiveDateTime) -> Vec<DateTime<Utc>> {
    let on_the_hour = local - Duration::minutes(i64::from(local.minute()));
    match LONDON.from_local_datetime(&local) {
        LocalResult::Single(instant) => vec![instant.with_timezone(&Utc)],
        LocalResult::Ambiguous(first, second) => {
            // The repeated hour begins on the hour, as the clocks go back.
            let change = second - (local - on_the_hour);
            vec![first, second, change]
                .into_iter()
                .map(|instant| instant.with_timezone(&Utc))
                .collect()
        }
        LocalResult::None => LONDON
            .from_local_datetime(&(on_the_hour + Duration::hours(1)))
            .earliest()
            .map(|instant| instant.with_timezone(&Utc))
            .into_iter()
            .collect(),
    }
}

/// When a peer worker answers messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Availability {
    /// The weekly pattern, in Europe/London wall-clock time.
    pub weekly_hours: Vec<WorkingSpan>,
    /// Away (leave, sickness): not available whatever the hours say.
    pub away: bool,
}

impl Availability {
    /// What a worker who has set nothing works: Monday to Friday, 09:00 to 17:00.
    pub fn office_hours() -> Self {
        let (nine, five) = (ClockTime(9 * 60), ClockTime(17 * 60));
        Self {
            weekly_hours: [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri]
                .into_iter()
                .map(|day| WorkingSpan::new(day, nine, five))
                .collect(),
            away: false,
        }
    }

    /// Whether `at` falls inside the weekly hours, read in London time.
    pub fn in_hours_at(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&LONDON);
        let day = Day::from(local.weekday());
        // Minutes since local midnight; hour and minute are below 24 and 60.
        let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(u16::MAX);
        self.weekly_hours
            .iter()
            .any(|span| span.day == day && span.start.0 <= minute && minute < span.end.0)
    }

    /// Whether the worker is there to answer at `at`: not away, and within hours.
    pub fn available_at(&self, at: DateTime<Utc>) -> bool {
        !self.away && self.in_hours_at(at)
    }

    /// The next instant after `at` at which a span of working hours starts; `None` when away
    /// (nobody knows when they are back) or when no hours are set.
    pub fn next_start_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.away {
            return None;
        }
        let today = at.with_timezone(&LONDON).date_naive();
        (0..=7)
            .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
            .flat_map(|date| {
                let day = Day::from(date.weekday());
                self.weekly_hours
                    .iter()
                    .filter(move |span| span.day == day)
                    .filter_map(move |span| {
                        let naive = date.and_time(span.start.naive()?);
                        // A start inside the spring-forward gap begins when the clocks resume.
                        LONDON
                            .from_local_datetime(&naive)
                            .earliest()
                            .or_else(|| {
                                LONDON
                                    .from_local_datetime(&(naive + Duration::hours(1)))
                                    .earliest()
                            })
                            .map(|t| t.with_timezone(&Utc))
                    })
            })
            .filter(|start| *start > at)
            .min()
    }

    /// The next instant after `at` at which [`Availability::available_at`] may change by the
    /// clock alone: a span of hours starting or ending (with the autumn change, which repeats
    /// an hour of wall-clock time, and the spring change, which skips one). `None` when away,
    /// or with no hours set: the clock then changes nothing.
    pub fn next_change_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.away {
            return None;
        }
        let today = at.with_timezone(&LONDON).date_naive();
        (0..=7)
            .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
            .flat_map(|date| {
                let day = Day::from(date.weekday());
                self.weekly_hours
                    .iter()
                    .filter(move |span| span.day == day)
                    .flat_map(move |span| [span.start, span.end])
                    .filter_map(move |edge| match edge.naive() {
                        Some(time) => Some(date.and_time(time)),
                        // 24:00 is the next day's midnight.
                        None => date.succ_opt()?.and_hms_opt(0, 0, 0),
                    })
                    .flat_map(london_instants)
            })
            .filter(|instant| *instant > at)
            .min()
    }

    /// Every problem with the pattern, each naming its field.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.weekly_hours.len() > LIST_MAX {
            errors.push(FieldError::new("weekly_hours", FieldErrorCode::TooMany));
            return errors;
        }
        for (index, span) in self.weekly_hours.iter().enumerate() {
            if span.start >= span.end {
                errors.push(FieldError::new(
                    format!("weekly_hours[{index}].end"),
                    FieldErrorCode::NotAfterStart,
                ));
            }
        }
        errors
    }
}

/// An automatic notice is not repeated if the conversation had one after this instant.
pub fn notice_quiet_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::hours(NOTICE_QUIET_HOURS)
}

/// A crisis line the deployment points people to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrisisLine {
    /// Who answers, e.g. "Samaritans".
    pub name: String,
    /// How to reach them, e.g. "116 123".
    pub contact: String,
    /// When and what for, e.g. "Free, any time, day or night."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl CrisisLine {
    pub fn new(name: &str, contact: &str, description: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            contact: contact.to_owned(),
            description: description.map(str::to_owned),
        }
    }

    pub fn field_errors(&self, path: &str) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = [
            text::check_name(&format!("{path}.name"), &self.name),
            text::check_name(&format!("{path}.contact"), &self.contact),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect();
        if let Some(description) = &self.description
            && let Err(error) = text::check_name(&format!("{path}.description"), description)
        {
            errors.push(error);
        }
        errors
    }
}

/// The crisis lines of a UK deployment that has not named its own.
pub fn default_crisis_lines() -> Vec<CrisisLine> {
    vec![
        CrisisLine::new(
            "Samaritans",
            "116 123",
            Some("Free, any time, day or night."),
        ),
        CrisisLine::new(
            "NHS 111",
            "111, option 2",
            Some("Urgent mental health help, any time."),
        ),
        CrisisLine::new(
            "Emergency services",
            "999",
            Some("If your life or someone else's is in danger now."),
        ),
    ]
}

/// Why the worker cannot answer now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnavailableReason {
    /// Outside their working hours.
    OutOfHours,
    /// Away (leave, sickness).
    Away,
}

/// Where the person's own crisis plan is: the people and steps they chose for a crisis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrisisPlanPointer {
    pub person_id: PersonId,
    /// The API path of the crisis plan.
    pub path: String,
}

/// The automatic answer to a message a worker cannot see until later: crisis signposting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutOfHoursNotice {
    pub reason: UnavailableReason,
    /// When the worker's hours next start, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_at: Option<DateTime<Utc>>,
    pub crisis_lines: Vec<CrisisLine>,
    pub crisis_plan: CrisisPlanPointer,
    /// The notice as the person reads it.
    pub text: String,
}

impl OutOfHoursNotice {
    /// The notice for a message to a worker with `availability`, sent at `at`; `None` when the
    /// worker is there to answer.
    pub fn for_message(
        availability: &Availability,
        at: DateTime<Utc>,
        crisis_lines: &[CrisisLine],
        person: PersonId,
    ) -> Option<Self> {
        let reason = if availability.away {
            UnavailableReason::Away
        } else if !availability.in_hours_at(at) {
            UnavailableReason::OutOfHours
        } else {
            return None;
        };
        let back_at = availability.next_start_after(at);
        let mut text = match (reason, back_at) {
            (UnavailableReason::Away, _) => {
                "Your peer worker is away at the moment, so they will not see your message \
                 straight away."
                    .to_owned()
            }
            (UnavailableReason::OutOfHours, Some(back)) => format!(
                "Your peer worker is not working right now. They will see your message when \
                 they are back ({}).",
                back.with_timezone(&LONDON).format("%A %H:%M")
            ),
            (UnavailableReason::OutOfHours, None) => {
                "Your peer worker is not working right now. They will see your message when \
                 they are back."
                    .to_owned()
            }
        };
        text.push_str(" Peer support is not a crisis service. If you need help now:");
        for line in crisis_lines {
            text.push_str(&format!("\n• {}: {}", line.name, line.contact));
            if let Some(description) = &line.description {
                text.push_str(&format!(" — {description}"));
            }
        }
        text.push_str(
            "\nYour crisis plan has the people and steps you chose for a time like this.",
        );
        Some(Self {
            reason,
            back_at,
            crisis_lines: crisis_lines.to_vec(),
            crisis_plan: CrisisPlanPointer {
                person_id: person,
                path: format!("/v1/people/{person}/crisis-plan"),
            },
            text,
        })
    }
}

/// What a message says.
///
/// Its OpenAPI schema is written by hand below (see `crate::openapi`): a new variant goes there
/// too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageContent {
    /// Text someone wrote.
    Text { body: String },
    /// Written by the service when the worker cannot answer.
    OutOfHoursNotice(OutOfHoursNotice),
}

/// One flat object per kind, as serde writes it; derived, the notice would be an `allOf` that
/// client generators refuse.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for MessageContent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};

        use crate::openapi::tagged;

        let text = ObjectBuilder::new()
            .description(Some("Text someone wrote."))
            .property("body", ObjectBuilder::new().schema_type(Type::String))
            .required("body");
        // The notice keeps its own description.
        let notice = <OutOfHoursNotice as utoipa::PartialSchema>::schema();
        OneOfBuilder::new()
            .description(Some("What a message says."))
            .item(tagged(text.into(), "kind", "text"))
            .item(tagged(notice, "kind", "out_of_hours_notice"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for MessageContent {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        // The notice's fields are described inline; the types they name are components.
        <OutOfHoursNotice as utoipa::ToSchema>::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    #[test]
    fn office_hours_are_read_in_london_time_in_winter_and_summer() {
        let hours = Availability::office_hours();
        // Wednesday 14 January 2026: London is on GMT.
        assert!(hours.in_hours_at(utc("2026-01-14T11:00:00Z")));
        assert!(!hours.in_hours_at(utc("2026-01-14T23:00:00Z")));
        // Wednesday 15 July 2026: London is on BST, an hour ahead of UTC.
        assert!(hours.in_hours_at(utc("2026-07-15T10:00:00Z"))); // 11:00 BST
        assert!(!hours.in_hours_at(utc("2026-07-15T22:00:00Z"))); // 23:00 BST
        // 16:30 UTC is 17:30 BST (after hours) but would be in hours if read as UTC.
        assert!(!hours.in_hours_at(utc("2026-07-15T16:30:00Z")));
        // 08:30 UTC is 09:30 BST (in hours) but would be before hours if read as UTC.
        assert!(hours.in_hours_at(utc("2026-07-15T08:30:00Z")));
    }

    #[test]
    fn hours_hold_on_the_days_the_clocks_change() {
        // Sunday hours 00:30–03:30 in London, checked on the Sundays the clocks change.
        let night = Availability {
            weekly_hours: vec![WorkingSpan::new(
                Day::Sun,
                ClockTime::new(0, 30).expect("a time"),
                ClockTime::new(3, 30).expect("a time"),
            )],
            away: false,
        };
        // 29 March 2026: 01:00 GMT becomes 02:00 BST.
        assert!(night.in_hours_at(utc("2026-03-29T00:45:00Z"))); // 00:45 GMT
        assert!(night.in_hours_at(utc("2026-03-29T01:15:00Z"))); // 02:15 BST
        assert!(!night.in_hours_at(utc("2026-03-29T02:45:00Z"))); // 03:45 BST
        // 25 October 2026: 02:00 BST becomes 01:00 GMT; 01:30 happens twice.
        assert!(night.in_hours_at(utc("2026-10-25T00:30:00Z"))); // 01:30 BST
        assert!(night.in_hours_at(utc("2026-10-25T01:30:00Z"))); // 01:30 GMT
        assert!(!night.in_hours_at(utc("2026-10-25T03:31:00Z"))); // 03:31 GMT
    }

    #[test]
    fn weekends_and_boundaries() {
        let hours = Availability::office_hours();
        assert!(!hours.in_hours_at(utc("2026-01-17T11:00:00Z"))); // Saturday
        assert!(hours.in_hours_at(utc("2026-01-14T09:00:00Z"))); // start is inside
        assert!(!hours.in_hours_at(utc("2026-01-14T17:00:00Z"))); // end is outside
        let all_day = Availability {
            weekly_hours: vec![WorkingSpan::new(
                Day::Sat,
                ClockTime::MIDNIGHT,
                ClockTime::END_OF_DAY,
            )],
            away: false,
        };
        assert!(all_day.in_hours_at(utc("2026-01-17T23:59:00Z")));
        assert!(!all_day.in_hours_at(utc("2026-01-18T00:00:00Z")));
    }

    #[test]
    fn away_means_unavailable_in_hours() {
        let mut hours = Availability::office_hours();
        let eleven = utc("2026-01-14T11:00:00Z");
        assert!(hours.available_at(eleven));
        hours.away = true;
        assert!(!hours.available_at(eleven));
        assert_eq!(hours.next_start_after(eleven), None);
    }

    #[test]
    fn availability_changes_by_the_clock_at_each_start_and_end_of_hours() {
        let mut hours = Availability::office_hours();
        let changes = |hours: &Availability, at: &str| hours.next_change_after(utc(at));
        // Wednesday 11:00 GMT → 17:00; 17:00 exactly → Thursday 09:00.
        assert_eq!(
            changes(&hours, "2026-01-14T11:00:00Z"),
            Some(utc("2026-01-14T17:00:00Z"))
        );
        assert_eq!(
            changes(&hours, "2026-01-14T17:00:00Z"),
            Some(utc("2026-01-15T09:00:00Z"))
        );
        // In summer, 17:00 BST is 16:00 UTC.
        assert_eq!(
            changes(&hours, "2026-07-15T10:00:00Z"),
            Some(utc("2026-07-15T16:00:00Z"))
        );
        // Friday evening → Monday morning.
        assert_eq!(
            changes(&hours, "2026-01-16T18:00:00Z"),
            Some(utc("2026-01-19T09:00:00Z"))
        );
        // Hours to midnight end at the next day's midnight.
        hours.weekly_hours = vec![WorkingSpan::new(
            Day::Wed,
            ClockTime(20 * 60),
            ClockTime(1440),
        )];
        assert_eq!(
            changes(&hours, "2026-01-14T21:00:00Z"),
            Some(utc("2026-01-15T00:00:00Z"))
        );
        // Hours ending at 01:30 on the night the clocks go back (Sunday 25 October 2026):
        // unavailable at 01:30 BST, available again as the clocks go back, then at 01:30 GMT
        // unavailable again.
        hours.weekly_hours = vec![WorkingSpan::new(Day::Sun, ClockTime(0), ClockTime(90))];
        assert_eq!(
            changes(&hours, "2026-10-24T23:10:00Z"),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            changes(&hours, "2026-10-25T00:30:00Z"),
            Some(utc("2026-10-25T01:00:00Z"))
        );
        assert_eq!(
            changes(&hours, "2026-10-25T01:00:00Z"),
            Some(utc("2026-10-25T01:30:00Z"))
        );
        hours.away = true;
        assert_eq!(changes(&hours, "2026-01-14T11:00:00Z"), None);
        let none_set = Availability {
            weekly_hours: Vec::new(),
            away: false,
        };
        assert_eq!(changes(&none_set, "2026-01-14T11:00:00Z"), None);
    }

    #[test]
    fn next_start_is_the_next_morning_in_london_time() {
        let hours = Availability::office_hours();
        // Wednesday 23:00 BST → Thursday 09:00 BST (08:00 UTC).
        assert_eq!(
            hours.next_start_after(utc("2026-07-15T22:00:00Z")),
            Some(utc("2026-07-16T08:00:00Z"))
        );
        // Friday evening GMT → Monday 09:00 GMT.
        assert_eq!(
            hours.next_start_after(utc("2026-01-16T18:00:00Z")),
            Some(utc("2026-01-19T09:00:00Z"))
        );
        // Saturday 28 March 2026 (GMT) → Monday 30 March 09:00 BST (08:00 UTC).
        assert_eq!(
            hours.next_start_after(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-30T08:00:00Z"))
        );
    }

    #[test]
    fn notice_at_23_00_names_the_crisis_lines_and_not_at_11_00() {
        let hours = Availability::office_hours();
        let person = PersonId::new();
        let lines = default_crisis_lines();
        let night =
            OutOfHoursNotice::for_message(&hours, utc("2026-01-14T23:00:00Z"), &lines, person)
                .expect("a notice at 23:00");
        assert_eq!(night.reason, UnavailableReason::OutOfHours);
        assert!(night.text.contains("116 123"));
        assert!(night.text.contains("111, option 2"));
        assert!(night.text.contains("Thursday 09:00"));
        assert_eq!(
            night.crisis_plan.path,
            format!("/v1/people/{person}/crisis-plan")
        );
        assert!(
            OutOfHoursNotice::for_message(&hours, utc("2026-01-14T11:00:00Z"), &lines, person)
                .is_none()
        );
    }

    #[test]
    fn clock_times_read_and_write_as_hh_mm() {
        let nine: ClockTime = "09:00".parse().expect("09:00");
        assert_eq!(nine.minutes(), 540);
        assert_eq!(nine.to_string(), "09:00");
        assert_eq!(
            "24:00".parse::<ClockTime>().expect("24:00"),
            ClockTime::END_OF_DAY
        );
        for bad in ["24:01", "9:00", "09:60", "0900", "", "ab:cd", "-1:00"] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
        let span: WorkingSpan =
            serde_json::from_str(r#"{"day":"mon","start":"09:00","end":"17:30"}"#).expect("a span");
        assert_eq!(span.end.minutes(), 17 * 60 + 30);
    }

    #[test]
    fn a_span_must_end_after_it_starts() {
        let hours = Availability {
            weekly_hours: vec![WorkingSpan::new(
                Day::Mon,
                ClockTime::new(17, 0).expect("a time"),
                ClockTime::new(9, 0).expect("a time"),
            )],
            away: false,
        };
        assert_eq!(
            hours.field_errors(),
            vec![FieldError::new(
                "weekly_hours[0].end",
                FieldErrorCode::NotAfterStart
            )]
        );
    }

    #[cfg(feature = "openapi")]
    #[test]
    fn each_kind_of_content_is_one_flat_object_in_the_schema() {
        use crate::openapi::check::variant_for;

        let schema =
            serde_json::to_value(<MessageContent as utoipa::PartialSchema>::schema()).unwrap();
        let hours = Availability::office_hours();
        let notice = OutOfHoursNotice::for_message(
            &hours,
            utc("2026-01-14T23:00:00Z"),
            &default_crisis_lines(),
            PersonId::new(),
        )
        .expect("out of hours");
        let kinds = [
            MessageContent::Text {
                body: "See you Tuesday".to_owned(),
            },
            MessageContent::OutOfHoursNotice(notice),
        ];
        for content in kinds {
            let wire = serde_json::to_value(&content).unwrap();
            variant_for(&schema, "kind", &wire);
        }
        assert_eq!(schema["oneOf"].as_array().unwrap().len(), 2, "{schema}");
    }

    #[test]
    fn message_state_follows_the_other_side() {
        assert_eq!(MessageState::of(5, 4, 0), MessageState::Sent);
        assert_eq!(MessageState::of(5, 5, 4), MessageState::Delivered);
        assert_eq!(MessageState::of(5, 9, 5), MessageState::Read);
    }

    #[test]
    fn bodies_are_counted_in_scalar_values() {
        let long = "é".repeat(MESSAGE_BODY_MAX);
        assert!(check_body("body", &long).is_ok());
        assert_eq!(
            check_body("body", &format!("{long}é")).unwrap_err().code,
            FieldErrorCode::TooLong
        );
        assert_eq!(
            check_body("body", "  ").unwrap_err().code,
            FieldErrorCode::Required
        );
        assert_eq!(
            check_body("body", "a\0").unwrap_err().code,
            FieldErrorCode::ContainsNul
        );
    }
}
