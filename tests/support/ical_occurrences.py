"""Expands an iCalendar feed with independent libraries (icalendar, recurring-ical-events), so the
suite can check that our feed means what our own expansion says.

Reads the feed on stdin; prints the occurrences between argv[1] and argv[2] (RFC 3339 instants)
as JSON: [{"uid", "start", "summary"}], start an instant in UTC (2026-12-07T08:00:00Z) or a date.
"""

import datetime
import json
import sys

import icalendar
import recurring_ical_events


def start_of(component):
    start = component.decoded("DTSTART")
    if isinstance(start, datetime.datetime):
        return start.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return start.isoformat()


def main():
    calendar = icalendar.Calendar.from_ical(sys.stdin.read())
    begin = datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(sys.argv[2].replace("Z", "+00:00"))
    found = [
        {"uid": str(event["UID"]), "start": start_of(event), "summary": str(event["SUMMARY"])}
        for event in recurring_ical_events.of(calendar).between(begin, end)
    ]
    found.sort(key=lambda item: (item["start"], item["uid"]))
    json.dump(found, sys.stdout)


if __name__ == "__main__":
    main()
