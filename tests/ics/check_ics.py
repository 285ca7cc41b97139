#!/usr/bin/env python3
"""Parses an iCalendar feed with the `icalendar` package (a real RFC 5545 parser) and prints
what it found as JSON, for the Rust end-to-end tests to compare with what they expect.

Reads the feed on stdin. Exits non-zero, with the reason on stderr, when the package is missing
or the feed is not valid: a content line longer than 75 octets or not ended by CRLF, a
component the parser could not read, an event without UID/DTSTAMP/DTSTART/DTEND, or a time that
is not UTC.
"""

import json
import sys

try:
    import icalendar
except ImportError:
    sys.stderr.write(
        "the Python package `icalendar` is not installed: "
        "python3 -m pip install icalendar\n"
    )
    sys.exit(3)

from datetime import timezone


def fail(reason):
    sys.stderr.write(f"invalid iCalendar feed: {reason}\n")
    sys.exit(1)


def utc(prop, name):
    value = prop.dt
    if getattr(value, "tzinfo", None) is None or value.utcoffset().total_seconds() != 0:
        fail(f"{name} is not a UTC time: {value!r}")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    raw = sys.stdin.buffer.read()
    if not raw.endswith(b"\r\n"):
        fail("the last line does not end with CRLF")
    for number, line in enumerate(raw.split(b"\r\n")[:-1], start=1):
        if b"\n" in line or b"\r" in line:
            fail(f"line {number} holds a bare line break")
        if len(line) > 75:
            fail(f"line {number} is {len(line)} octets long (at most 75)")
    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except ValueError as error:
        fail(f"the parser refused it: {error}")
    for component in calendar.walk():
        if getattr(component, "errors", None):
            fail(f"{component.name}: {component.errors}")
    for required in ("VERSION", "PRODID"):
        if required not in calendar:
            fail(f"the calendar has no {required}")
    events = []
    for event in calendar.walk("VEVENT"):
        for required in ("UID", "DTSTAMP", "DTSTART", "DTEND"):
            if required not in event:
                fail(f"an event has no {required}")
        events.append(
            {
                "uid": str(event["UID"]),
                "start": utc(event["DTSTART"], "DTSTART"),
                "end": utc(event["DTEND"], "DTEND"),
                "stamp": utc(event["DTSTAMP"], "DTSTAMP"),
                "status": str(event.get("STATUS", "")),
                "summary": str(event.get("SUMMARY", "")),
                "sequence": int(event.get("SEQUENCE", 0)),
                "location": str(event.get("LOCATION", "")) or None,
                "description": str(event.get("DESCRIPTION", "")) or None,
            }
        )
    print(
        json.dumps(
            {
                "timezone": str(calendar.get("X-WR-TIMEZONE", "")),
                "version": str(calendar.get("VERSION", "")),
                "events": events,
            }
        )
    )


if __name__ == "__main__":
    main()
