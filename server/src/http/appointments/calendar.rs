//! The iCalendar (RFC 5545) feed of a person's appointments.
//!
//! Written with the `icalendar` crate, which folds lines at 75 octets, ends them with CRLF and
//! escapes `\`, `,`, `;` and newlines in text. What this module adds:
//! - **Stable identity.** `UID:<appointment id>@livingwell` never changes, and `SEQUENCE` grows
//!   with every change, so a calendar updates the event instead of adding a second one; a
//!   cancellation stays in the feed as `STATUS:CANCELLED` so calendars remove it.
//! - **UTC on the wire.** Every time is written as UTC (`…Z`), which needs no time-zone
//!   definitions and cannot be misread across a clock change; `X-WR-TIMEZONE:Europe/London`
//!   tells calendars how to show them.
//! - **Discretion by default.** Titles say where, never why ("Appointment at West hub"); there is
//!   no description. Only the person may ask for their appointments' own titles and notes.

use std::fmt::Write as _;

use icalendar::{Calendar, Class, Component, Event, EventLike, EventStatus, Property};
use livingwell_core::api::appointments::{AppointmentView, CalendarDetail};
use livingwell_core::domain::appointment::{AppointmentStatus, LONDON, Location};

/// The domain part of every UID.
const UID_DOMAIN: &str = "livingwell";

/// Calendar text may not hold control characters other than the line breaks the writer escapes;
/// a stray one (a pasted tab or bell) becomes a space.
fn clean(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect()
}

/// Where, as a calendar shows it.
fn location_text(view: &AppointmentView) -> Option<String> {
    match &view.location {
        Location::Hub { .. } => Some(match &view.address {
            Some(address) => format!("{}, {address}", view.place),
            None => view.place.clone(),
        }),
        Location::CommunityVenue { name, address } => Some(match address {
            Some(address) => format!("{name}, {address}"),
            None => name.clone(),
        }),
        Location::Video { url } => Some(url.clone()),
        Location::Home {} | Location::Phone {} => None,
    }
}

/// The feed for `appointments`, newest information only.
pub fn feed(
    appointments: &[AppointmentView],
    detail: CalendarDetail,
) -> Result<String, std::fmt::Error> {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//Living Well//Appointments//EN"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", "PUBLISH"))
        .append_property(Property::new("X-WR-CALNAME", "Appointments"))
        .timezone(LONDON.name());
    for view in appointments {
        let (summary, description) = match detail {
            CalendarDetail::Discreet => (view.summary.clone(), None),
            CalendarDetail::Detailed => (
                view.title
                    .clone()
                    .unwrap_or_else(|| view.kind.label().to_owned()),
                view.notes_for_person.clone(),
            ),
        };
        let status = if view.status == AppointmentStatus::Cancelled {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        };
        let mut event = Event::new();
        event
            .uid(&format!("{}@{UID_DOMAIN}", view.id))
            .timestamp(view.updated_at)
            .created(view.created_at)
            .last_modified(view.updated_at)
            .sequence(u32::try_from(view.sequence).unwrap_or(u32::MAX))
            .starts(view.starts_at)
            .ends(view.ends_at)
            .summary(&clean(&summary))
            .class(Class::Private)
            .status(status);
        if let Some(location) = location_text(view) {
            event.location(&clean(&location));
        }
        if let Location::Video { url } = &view.location {
            event.url(url);
        }
        if let Some(description) = description {
            event.description(&clean(&description));
        }
        calendar.push(event.done());
    }
    let mut text = String::new();
    write!(text, "{calendar}")?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use livingwell_core::domain::PersonId;
    use livingwell_core::domain::appointment::{Accessibility, AppointmentId, AppointmentKind};

    use super::*;

    fn view(title: &str, notes: &str) -> AppointmentView {
        let starts_at = Utc.with_ymd_and_hms(2026, 10, 26, 10, 0, 0).unwrap();
        AppointmentView {
            id: AppointmentId::new(),
            person_id: PersonId::new(),
            kind: AppointmentKind::Review,
            title: Some(title.to_owned()),
            summary: "Appointment at West hub".into(),
            starts_at,
            ends_at: starts_at + chrono::Duration::hours(1),
            location: Location::CommunityVenue {
                name: "Riverside Library; Room 2, upstairs".into(),
                address: Some("1 Quay Street\\Westford".into()),
            },
            place: "Riverside Library".into(),
            address: None,
            status: AppointmentStatus::Booked,
            notes_for_person: Some(notes.to_owned()),
            accessibility: Accessibility::default(),
            worker_ids: Vec::new(),
            request: None,
            programme_id: None,
            booking_id: None,
            sequence: 3,
            created_at: starts_at,
            updated_at: starts_at,
        }
    }

    #[test]
    fn discreet_feed_holds_no_title_or_notes() {
        let text = feed(
            &[view("Medication review", "Bring your tablets")],
            CalendarDetail::Discreet,
        )
        .unwrap();
        assert!(text.contains("SUMMARY:Appointment at West hub\r\n"));
        assert!(!text.contains("Medication"));
        assert!(!text.contains("tablets"));
        assert!(text.contains("DTSTART:20261026T100000Z\r\n"));
        assert!(text.contains("X-WR-TIMEZONE:Europe/London\r\n"));
        assert!(text.contains("SEQUENCE:3\r\n"));
    }

    #[test]
    fn text_is_escaped_folded_and_free_of_bare_line_feeds() {
        let long = "Bring: a list, of questions; and \\ the letter.\r\nSecond line\u{7} ".repeat(4);
        let text = feed(&[view("Review", &long)], CalendarDetail::Detailed).unwrap();
        assert!(text.contains("Riverside Library\\; Room 2\\, upstairs"));
        assert!(text.contains("1 Quay Street\\\\Westford"));
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "unfolded line: {line:?}");
            assert!(!line.contains('\n') && !line.contains('\r'));
            assert!(!line.chars().any(|c| c.is_control()));
        }
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(
            "DESCRIPTION:Bring: a list\\, of questions\\; and \\\\ the letter.\\nSecond line "
        ));
    }
}
