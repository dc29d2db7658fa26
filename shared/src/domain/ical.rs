//! Own calendar events as iCalendar (RFC 5545), for the feed a person subscribes to from any
//! calendar app: each event one VEVENT with its RRULE and EXDATEs, each occurrence changed one by
//! one a VEVENT with its RECURRENCE-ID, and a VTIMEZONE for every zone a repeating event uses, so
//! a client expands the series in the event's own wall-clock time, across DST, as we do.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

use super::calendar::{Event, OccurrenceChange, When};

/// How many years of a zone's transitions a VTIMEZONE lists, from the first event on.
const ZONE_YEARS_AHEAD: i32 = 20;

/// A block of focus time an accepted day plan gave a task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FocusBlock {
    pub task_id: String,
    pub title: String,
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
}

/// The whole feed: a VCALENDAR of `events` (own ones; synced events live in their own calendars).
/// `now` only widens the years the VTIMEZONEs cover.
pub fn calendar(events: &[Event], now: DateTime<Utc>) -> String {
    with_focus_blocks(events, &[], now)
}

/// The feed with the focus blocks of accepted plans too, each a VEVENT of its own.
pub fn with_focus_blocks(events: &[Event], blocks: &[FocusBlock], now: DateTime<Utc>) -> String {
    let mut out = Lines::default();
    out.push("BEGIN:VCALENDAR");
    out.push("VERSION:2.0");
    out.push("PRODID:-//Flowday//Calendar feed//EN");
    out.push("CALSCALE:GREGORIAN");
    out.push("METHOD:PUBLISH");
    out.push("X-WR-CALNAME:Flowday");
    let mut zones: Vec<Tz> = events.iter().filter(|event| uses_zone(event)).map(Event::zone).collect();
    zones.sort_by_key(|zone| zone.name());
    zones.dedup();
    let first_year = events.iter().filter_map(|event| event.when()).map(year_of).min();
    let from_year = first_year.unwrap_or(now.year()) - 1;
    let to_year = from_year.max(now.year()) + ZONE_YEARS_AHEAD;
    for zone in zones {
        vtimezone(&mut out, zone, from_year, to_year);
    }
    for event in events {
        vevent(&mut out, event);
    }
    for block in blocks {
        focus_vevent(&mut out, block);
    }
    out.push("END:VCALENDAR");
    out.finish()
}

fn year_of(when: When) -> i32 {
    match when {
        When::Timed { start, .. } => start.year(),
        When::AllDay { start, .. } => start.year(),
    }
}

/// A timed repeating event is written in its zone's local time (its rule repeats there); other
/// events are written in UTC or as dates, which need no VTIMEZONE.
fn uses_zone(event: &Event) -> bool {
    event.rrule.is_some() && matches!(event.when(), Some(When::Timed { .. })) && event.zone() != chrono_tz::UTC
}

/// DTSTAMP is when the event last changed, not the time of the request, so the same events give
/// the same bytes and the feed's ETag holds until something changes.
fn vevent(out: &mut Lines, event: &Event) {
    let Some(when) = event.when() else { return };
    let local = uses_zone(event);
    let zone = event.zone();
    out.push("BEGIN:VEVENT");
    out.push(&format!("UID:{}@flowday", event.id));
    out.push(&format!("DTSTAMP:{}", utc_stamp(event.updated_at)));
    out.push(&format!("SEQUENCE:{}", event.version.saturating_sub(1)));
    out.push(&format!("SUMMARY:{}", escape(&event.title)));
    if let Some(description) = &event.description {
        out.push(&format!("DESCRIPTION:{}", escape(description)));
    }
    if let Some(location) = &event.location {
        out.push(&format!("LOCATION:{}", escape(location)));
    }
    times(out, when, zone, local);
    if let Some(rrule) = &event.rrule {
        out.push(&format!("RRULE:{rrule}"));
        let cancelled =
            event.changes.iter().filter(|change| change.cancelled).filter_map(|change| original(change, when));
        for excluded in event.exdates.iter().map(|at| excluded_as(when, *at, zone)).chain(cancelled) {
            out.push(&format!("EXDATE{}", instant_value(excluded, zone, local)));
        }
    }
    out.push(transparency(event.busy));
    out.push("END:VEVENT");
    for change in event.changes.iter().filter(|change| !change.cancelled) {
        let Some(original_start) = original(change, when) else { continue };
        let length = length_of(when, zone);
        let moved = change.when().unwrap_or(match original_start {
            Original::At(start) => When::Timed { start, end: start + length },
            Original::Day(day) => When::AllDay { start: day, end: day + Duration::days(length.num_days().max(1)) },
        });
        out.push("BEGIN:VEVENT");
        out.push(&format!("UID:{}@flowday", event.id));
        out.push(&format!("DTSTAMP:{}", utc_stamp(event.updated_at)));
        out.push(&format!("RECURRENCE-ID{}", instant_value(original_start, zone, local)));
        out.push(&format!("SEQUENCE:{}", event.version.saturating_sub(1)));
        out.push(&format!("SUMMARY:{}", escape(change.title.as_deref().unwrap_or(&event.title))));
        times(out, moved, zone, local);
        out.push(transparency(change.busy.unwrap_or(event.busy)));
        out.push("END:VEVENT");
    }
}

/// The original start of an occurrence, as its id names it.
#[derive(Debug, Clone, Copy)]
enum Original {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

fn original(change: &OccurrenceChange, when: When) -> Option<Original> {
    match when {
        When::Timed { .. } => {
            DateTime::parse_from_rfc3339(&change.occurrence_id).ok().map(|at| Original::At(at.with_timezone(&Utc)))
        }
        When::AllDay { .. } => change.occurrence_id.parse().ok().map(Original::Day),
    }
}

fn excluded_as(when: When, at: DateTime<Utc>, zone: Tz) -> Original {
    match when {
        When::Timed { .. } => Original::At(at),
        When::AllDay { .. } => Original::Day(at.with_timezone(&zone).date_naive()),
    }
}

fn length_of(when: When, zone: Tz) -> Duration {
    let (start, end) = when.instants(zone);
    match when {
        When::Timed { .. } => end - start,
        When::AllDay { start, end } => Duration::days((end - start).num_days()),
    }
}

fn times(out: &mut Lines, when: When, zone: Tz, local: bool) {
    match when {
        When::Timed { start, end } => {
            out.push(&format!("DTSTART{}", instant_value(Original::At(start), zone, local)));
            out.push(&format!("DTEND{}", instant_value(Original::At(end), zone, local)));
        }
        When::AllDay { start, end } => {
            out.push(&format!("DTSTART;VALUE=DATE:{}", start.format("%Y%m%d")));
            out.push(&format!("DTEND;VALUE=DATE:{}", end.format("%Y%m%d")));
        }
    }
}

/// `;TZID=<zone>:<local time>`, `:<UTC time>Z` or `;VALUE=DATE:<date>`, after the property name.
fn instant_value(value: Original, zone: Tz, local: bool) -> String {
    match value {
        Original::At(at) if local => {
            format!(";TZID={}:{}", zone.name(), at.with_timezone(&zone).naive_local().format("%Y%m%dT%H%M%S"))
        }
        Original::At(at) => format!(":{}", utc_stamp(at)),
        Original::Day(day) => format!(";VALUE=DATE:{}", day.format("%Y%m%d")),
    }
}

/// A focus block: its UID names the task and the start, and DTSTAMP is its start, so the same
/// accepted plan gives the same bytes.
fn focus_vevent(out: &mut Lines, block: &FocusBlock) {
    out.push("BEGIN:VEVENT");
    out.push(&format!("UID:{}-{}@flowday-plan", block.task_id, block.start_at.timestamp()));
    out.push(&format!("DTSTAMP:{}", utc_stamp(block.start_at)));
    out.push(&format!("SUMMARY:{}", escape(&format!("Focus: {}", block.title))));
    out.push(&format!("DTSTART:{}", utc_stamp(block.start_at)));
    out.push(&format!("DTEND:{}", utc_stamp(block.end_at)));
    out.push("CATEGORIES:Flowday plan");
    out.push(transparency(true));
    out.push("END:VEVENT");
}

fn utc_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

fn transparency(busy: bool) -> &'static str {
    if busy { "TRANSP:OPAQUE" } else { "TRANSP:TRANSPARENT" }
}

/// TEXT values escape backslashes, semicolons, commas and line breaks (RFC 5545, 3.3.11).
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            ';' => escaped.push_str("\\;"),
            ',' => escaped.push_str("\\,"),
            '\n' => escaped.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => escaped.push(' '),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A VTIMEZONE with one observance per offset change of `zone` from `from_year` to `to_year`,
/// each starting at its local time before the change (RFC 5545, 3.6.5).
fn vtimezone(out: &mut Lines, zone: Tz, from_year: i32, to_year: i32) {
    out.push("BEGIN:VTIMEZONE");
    out.push(&format!("TZID:{}", zone.name()));
    let start = Utc.with_ymd_and_hms(from_year, 1, 1, 0, 0, 0).single().unwrap_or_else(Utc::now);
    let end = Utc.with_ymd_and_hms(to_year, 12, 31, 0, 0, 0).single().unwrap_or_else(Utc::now);
    let first = zone.offset_from_utc_datetime(&start.naive_utc());
    observance(out, &first, &first, start.naive_utc() + first.fix());
    let mut before = first;
    let mut day = start;
    while day < end {
        let next = day + Duration::days(1);
        let after = zone.offset_from_utc_datetime(&next.naive_utc());
        if after.fix() != before.fix() {
            let change = first_instant_with(zone, day, next, after.fix());
            observance(out, &before, &after, change.naive_utc() + before.fix());
            before = after;
        }
        day = next;
    }
    out.push("END:VTIMEZONE");
}

/// The first whole minute in `(low, high]` at which `zone` has the offset `target` (zones change
/// on whole minutes).
fn first_instant_with(zone: Tz, low: DateTime<Utc>, high: DateTime<Utc>, target: chrono::FixedOffset) -> DateTime<Utc> {
    let (mut before, mut after) = (0, (high - low).num_minutes());
    while after - before > 1 {
        let middle = (before + after) / 2;
        let at = low + Duration::minutes(middle);
        if zone.offset_from_utc_datetime(&at.naive_utc()).fix() == target {
            after = middle;
        } else {
            before = middle;
        }
    }
    low + Duration::minutes(after)
}

fn observance(out: &mut Lines, from: &chrono_tz::TzOffset, to: &chrono_tz::TzOffset, local_start: NaiveDateTime) {
    let kind = if to.dst_offset().is_zero() { "STANDARD" } else { "DAYLIGHT" };
    out.push(&format!("BEGIN:{kind}"));
    out.push(&format!("DTSTART:{}", local_start.format("%Y%m%dT%H%M%S")));
    out.push(&format!("TZOFFSETFROM:{}", offset_text(from.fix())));
    out.push(&format!("TZOFFSETTO:{}", offset_text(to.fix())));
    if let Some(name) = to.abbreviation() {
        out.push(&format!("TZNAME:{}", escape(name)));
    }
    out.push(&format!("END:{kind}"));
}

fn offset_text(offset: chrono::FixedOffset) -> String {
    let seconds = offset.local_minus_utc();
    let sign = if seconds < 0 { '-' } else { '+' };
    let seconds = seconds.abs();
    format!("{sign}{:02}{:02}", seconds / 3600, seconds % 3600 / 60)
}

/// Content lines, each ended by CRLF and folded at 75 octets (never inside a character).
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn push(&mut self, line: &str) {
        let mut width = 0;
        for c in line.chars() {
            if width + c.len_utf8() > 75 {
                self.0.push_str("\r\n ");
                width = 1;
            }
            self.0.push(c);
            width += c.len_utf8();
        }
        self.0.push_str("\r\n");
    }

    fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests;
