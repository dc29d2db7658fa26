//! Calendar events: a user's own (`flowday`) and those synced from Google or Outlook, their
//! validation, and their occurrences in a range, which is what the calendar lists and what the
//! planner plans around.
//!
//! An event is timed (`start_at`/`end_at`, instants) or all-day (`start_date`/`end_date`, end
//! exclusive). A repeating event has an RFC 5545 `rrule` that repeats in its `timezone`, with the
//! project's recurrence engine (so a weekly 09:00 Berlin meeting stays at 09:00 across DST), minus
//! its `exdates`. One occurrence can be moved, retitled or cancelled by a change (`OccurrenceChange`) keyed by its
//! `occurrence_id`: the occurrence's original start (an RFC 3339 instant, or a date for all-day
//! events), as RECURRENCE-ID is in iCalendar.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::Violations;
use super::recurrence::{Recurrence, RecurrenceMode};

pub const TITLE_MAX: usize = 500;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const LOCATION_MAX: usize = 500;
/// Excluded occurrences of one event.
pub const EXDATES_MAX: usize = 1_000;
/// The longest event: a year (a vacation, a conference season).
pub const LONGEST_EVENT_DAYS: i64 = 366;
/// The longest range one listing expands.
pub const RANGE_MAX_DAYS: i64 = 62;
/// The most occurrences walked to find where a series ends.
const SPAN_WALK_MAX: usize = 100_000;
/// The largest COUNT of an event's rule: a longer series is one without COUNT.
pub const COUNT_MAX: u32 = 10_000;
/// The most occurrences one event contributes to one listing (a rule firing every minute of a
/// 62-day range is cut here, not expanded to 89,280 items).
pub const OCCURRENCES_PER_EVENT_MAX: usize = 2_000;

/// Where an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Flowday,
    Google,
    Outlook,
}

/// When an event (or one occurrence of it) takes place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Timed {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// Whole days: `end` is the day after the last one.
    AllDay {
        start: NaiveDate,
        end: NaiveDate,
    },
}

impl When {
    /// Reads the two shapes from their four fields: exactly one pair must be given, in order.
    pub fn from_fields(
        start_at: Option<DateTime<Utc>>,
        end_at: Option<DateTime<Utc>>,
        start_date: Option<NaiveDate>,
        end_date: Option<NaiveDate>,
        violations: &mut Violations,
    ) -> Option<When> {
        let when = match (start_at, end_at, start_date, end_date) {
            (Some(start), Some(end), None, None) => When::Timed { start, end },
            (None, None, Some(start), Some(end)) => When::AllDay { start, end },
            _ => {
                violations.add(
                    "start_at",
                    "give start_at and end_at (a timed event) or start_date and end_date (an all-day one), not both",
                );
                return None;
            }
        };
        let (field, length) = match when {
            When::Timed { start, end } => ("end_at", end - start),
            When::AllDay { start, end } => ("end_date", TimeDelta::days((end - start).num_days())),
        };
        if length <= TimeDelta::zero() {
            violations.add(field, "must be after the start");
        } else if length > TimeDelta::days(LONGEST_EVENT_DAYS) {
            violations.add(field, format!("an event lasts at most {LONGEST_EVENT_DAYS} days"));
        }
        Some(when)
    }

    /// The instants it covers, all-day events from midnight to midnight in `zone`.
    pub fn instants(self, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            When::Timed { start, end } => (start, end),
            When::AllDay { start, end } => (midnight(start, zone), midnight(end, zone)),
        }
    }

    /// The id of the occurrence that starts here: its start instant, or its date.
    pub fn occurrence_id(self) -> String {
        match self {
            When::Timed { start, .. } => start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            When::AllDay { start, .. } => start.to_string(),
        }
    }

    fn overlaps(self, zone: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        let (start, end) = self.instants(zone);
        start < to && end > from
    }
}

/// The first instant of `date` in `zone` (the earlier one where midnight happens twice, the
/// first after the gap where it does not happen).
pub fn midnight(date: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let mut at = date.and_time(chrono::NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(instant) = zone.from_local_datetime(&at).earliest() {
            return instant.with_timezone(&Utc);
        }
        at += TimeDelta::minutes(30);
    }
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// What an event's repetition is, as checked: the rule (without `RRULE:`, upper case) in the
/// event's zone.
pub fn parse_rrule(rrule: &str, timezone: &str, violations: &mut Violations) -> Option<String> {
    let value = serde_json::json!({ "rrule": rrule, "timezone": timezone });
    match Recurrence::parse(&value) {
        Ok(recurrence) => Some(recurrence.rrule),
        Err(problems) => {
            for (field, message) in problems.into_vec() {
                // The event names its own fields: `rrule`, `timezone`.
                violations.add(field.trim_start_matches("recurrence."), message);
            }
            None
        }
    }
}

/// An event as the expansion needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series<'a> {
    pub event_id: &'a str,
    pub title: &'a str,
    pub when: When,
    pub zone: Tz,
    /// The checked rule; `None` for a single event.
    pub rrule: Option<&'a str>,
    pub exdates: &'a [DateTime<Utc>],
    pub busy: bool,
    pub source: Source,
    /// Occurrences changed one by one.
    pub changes: &'a [OccurrenceChange],
}

/// One occurrence in a listing (api.md's occurrence shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub event_id: String,
    pub occurrence_id: String,
    pub title: String,
    pub when: When,
    pub busy: bool,
    pub source: Source,
    pub recurring: bool,
}

impl Series<'_> {
    /// The occurrences that overlap `[from, to)`, by start. Exdates and cancelled occurrences are
    /// left out; a moved one appears where it was moved to (also when its original start lies
    /// outside the range). At most `OCCURRENCES_PER_EVENT_MAX`.
    pub fn occurrences_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Occurrence> {
        let Some(rrule) = self.rrule else {
            return if self.when.overlaps(self.zone, from, to) {
                vec![self.occurrence(self.when, None)]
            } else {
                vec![]
            };
        };
        let recurrence =
            Recurrence { rrule: rrule.to_string(), timezone: self.zone.name().into(), mode: RecurrenceMode::FromDue };
        let originals = self.original_starts(&recurrence, from, to);
        let mut found = Vec::new();
        for when in originals.iter().copied().filter(|when| !self.is_excluded(*when)) {
            match self.changes.iter().find(|change| change.occurrence_id == when.occurrence_id()) {
                Some(change) if change.cancelled => {}
                Some(change) => {
                    let moved = change.when().unwrap_or(when);
                    if moved.overlaps(self.zone, from, to) {
                        found.push(self.occurrence(moved, Some(change)));
                    }
                }
                None => found.push(self.occurrence(when, None)),
            }
        }
        // Occurrences moved into the range from outside it.
        for change in self.changes.iter().filter(|change| !change.cancelled) {
            let Some(moved) = change.when() else { continue };
            let walked = originals.iter().any(|when| when.occurrence_id() == change.occurrence_id);
            if !walked && !self.is_excluded_id(&change.occurrence_id) && moved.overlaps(self.zone, from, to) {
                found.push(self.occurrence(moved, Some(change)));
            }
        }
        found.sort_by_key(|occurrence| occurrence.when.instants(self.zone).0);
        found.truncate(OCCURRENCES_PER_EVENT_MAX);
        found
    }

    /// The series' own occurrences whose time overlaps `[from, to)`, in order (one walk of the
    /// recurrence engine from just before the range).
    fn original_starts(&self, recurrence: &Recurrence, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<When> {
        let mut starts = Vec::new();
        match self.when {
            When::Timed { start, end } => {
                // The first occurrence still going on at `from` starts after `from - length`.
                let length = end - start;
                recurrence.each_after(start, from - length, |next| {
                    if next >= to || starts.len() >= OCCURRENCES_PER_EVENT_MAX {
                        return false;
                    }
                    starts.push(When::Timed { start: next, end: next + length });
                    true
                });
            }
            When::AllDay { start, end } => {
                let days = end - start;
                let first_day = from.with_timezone(&self.zone).date_naive();
                let last_day = to.with_timezone(&self.zone).date_naive();
                recurrence.each_date_after(start, first_day - days, |next| {
                    if next > last_day || starts.len() >= OCCURRENCES_PER_EVENT_MAX {
                        return false;
                    }
                    starts.push(When::AllDay { start: next, end: next + days });
                    true
                });
            }
        }
        starts.retain(|when| when.overlaps(self.zone, from, to));
        starts
    }

    fn is_excluded(&self, when: When) -> bool {
        match when {
            When::Timed { start, .. } => self.exdates.contains(&start),
            When::AllDay { start, .. } => {
                self.exdates.iter().any(|exdate| exdate.with_timezone(&self.zone).date_naive() == start)
            }
        }
    }

    /// `is_excluded` for an occurrence named by its id.
    fn is_excluded_id(&self, occurrence_id: &str) -> bool {
        match self.when {
            When::Timed { .. } => DateTime::parse_from_rfc3339(occurrence_id)
                .is_ok_and(|start| self.exdates.contains(&start.with_timezone(&Utc))),
            When::AllDay { .. } => occurrence_id
                .parse::<NaiveDate>()
                .is_ok_and(|start| self.is_excluded(When::AllDay { start, end: start })),
        }
    }

    fn occurrence(&self, when: When, change: Option<&OccurrenceChange>) -> Occurrence {
        let original = change.map(|change| change.occurrence_id.clone());
        Occurrence {
            event_id: self.event_id.to_string(),
            occurrence_id: original.unwrap_or_else(|| when.occurrence_id()),
            title: change.and_then(|change| change.title.clone()).unwrap_or_else(|| self.title.to_string()),
            when,
            busy: change.and_then(|change| change.busy).unwrap_or(self.busy),
            source: self.source,
            recurring: self.rrule.is_some(),
        }
    }
}

/// One occurrence changed, as stored on its event and shown to clients.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OccurrenceChange {
    /// The original start of the occurrence (an instant, or a date for all-day events).
    pub occurrence_id: String,
    #[serde(default)]
    pub cancelled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy: Option<bool>,
}

impl OccurrenceChange {
    /// The occurrence `occurrence_id` cancelled.
    pub fn cancellation(occurrence_id: &str) -> Self {
        OccurrenceChange { occurrence_id: occurrence_id.to_string(), cancelled: true, ..OccurrenceChange::default() }
    }

    /// Where the occurrence goes instead, when it was moved.
    pub fn when(&self) -> Option<When> {
        match (self.start_at, self.end_at, self.start_date, self.end_date) {
            (Some(start), Some(end), _, _) => Some(When::Timed { start, end }),
            (_, _, Some(start), Some(end)) => Some(When::AllDay { start, end }),
            _ => None,
        }
    }
}

/// The most occurrences of one event that can be changed one by one.
pub const CHANGES_MAX: usize = 100;

/// A calendar event (api.md's event shape, with the occurrences changed one by one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub id: String,
    #[schema(min_length = 1, max_length = 500)]
    pub title: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub start_date: Option<NaiveDate>,
    /// The day after the last one.
    pub end_date: Option<NaiveDate>,
    /// The IANA zone its rule repeats in (and its all-day dates are days of).
    pub timezone: String,
    /// An RFC 5545 RRULE value without `RRULE:`, or null.
    pub rrule: Option<String>,
    #[serde(default)]
    pub exdates: Vec<DateTime<Utc>>,
    #[serde(default)]
    pub changes: Vec<OccurrenceChange>,
    pub busy: bool,
    pub source: Source,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Event {
    /// When the event (its first occurrence) takes place.
    pub fn when(&self) -> Option<When> {
        match (self.start_at, self.end_at, self.start_date, self.end_date) {
            (Some(start), Some(end), None, None) => Some(When::Timed { start, end }),
            (None, None, Some(start), Some(end)) => Some(When::AllDay { start, end }),
            _ => None,
        }
    }

    pub fn zone(&self) -> Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The occurrences of the event that overlap `[from, to)` (see `Series`).
    pub fn occurrences_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Occurrence> {
        let Some(when) = self.when() else { return Vec::new() };
        let series = Series {
            event_id: &self.id,
            title: &self.title,
            when,
            zone: self.zone(),
            rrule: self.rrule.as_deref(),
            exdates: &self.exdates,
            busy: self.busy,
            source: self.source,
            changes: &self.changes,
        };
        series.occurrences_between(from, to)
    }

    /// The instants from the start of its first occurrence to the end of its last one, moved
    /// occurrences included; no end for a rule without COUNT or UNTIL. What the range index keys.
    pub fn span(&self) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
        let zone = self.zone();
        let Some(when) = self.when() else { return (DateTime::<Utc>::MIN_UTC, None) };
        let (mut first, mut last) = when.instants(zone);
        for change in &self.changes {
            if let Some(moved) = change.when() {
                let (start, end) = moved.instants(zone);
                first = first.min(start);
                last = last.max(end);
            }
        }
        let Some(rrule) = &self.rrule else { return (first, Some(last)) };
        if !(rrule.contains("COUNT=") || rrule.contains("UNTIL=")) {
            return (first, None);
        }
        let recurrence =
            Recurrence { rrule: rrule.clone(), timezone: self.timezone.clone(), mode: RecurrenceMode::FromDue };
        // One walk to the last occurrence; a series too long to walk counts as endless, which
        // only makes the range index read it more often.
        let (mut end_of_last, mut visited) = (last, 0usize);
        match when {
            When::Timed { start, end } => recurrence.each_after(start, start, |next| {
                end_of_last = end_of_last.max(next + (end - start));
                visited += 1;
                visited < SPAN_WALK_MAX
            }),
            When::AllDay { start, end } => recurrence.each_date_after(start, start, |next| {
                end_of_last = end_of_last.max(midnight(next + (end - start), zone));
                visited += 1;
                visited < SPAN_WALK_MAX
            }),
        }
        if visited >= SPAN_WALK_MAX { (first, None) } else { (first, Some(end_of_last)) }
    }
}

impl super::Versioned for Event {
    const KIND: &'static str = "event";

    fn version(&self) -> u64 {
        self.version
    }
}

/// The writable fields of an event. On create, absent means default; on PATCH, absent means
/// unchanged and null means cleared.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
pub struct EventFields {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 500)]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub start_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub end_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub start_date: Option<Option<NaiveDate>>,
    /// The day after the last one (all-day events).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub end_date: Option<Option<NaiveDate>>,
    /// An IANA zone (UTC when absent on create).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub timezone: Option<Option<String>>,
    /// An RFC 5545 RRULE value without `RRULE:`, e.g. `FREQ=WEEKLY;BYDAY=MO`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub rrule: Option<Option<String>>,
    /// Occurrences left out (their original start instants; at most 1,000).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<DateTime<Utc>>>)]
    pub exdates: Option<Option<Vec<DateTime<Utc>>>>,
    /// Whether it blocks time (true when absent on create).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub busy: Option<Option<bool>>,
}

use super::task::{FieldChange, nullable};

/// `patch` applied to `value`: absent keeps it, null clears it.
fn merged<T: Clone>(value: &Option<T>, patch: &Option<Option<T>>) -> Option<T> {
    match patch {
        None => value.clone(),
        Some(new) => new.clone(),
    }
}

impl Event {
    /// A new own event from a client's fields, every problem named.
    pub fn create(id: String, fields: &EventFields, now: DateTime<Utc>) -> Result<Event, Violations> {
        let blank = Event {
            id,
            title: String::new(),
            description: None,
            location: None,
            start_at: None,
            end_at: None,
            start_date: None,
            end_date: None,
            timezone: "UTC".into(),
            rrule: None,
            exdates: Vec::new(),
            changes: Vec::new(),
            busy: true,
            source: Source::Flowday,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        blank.merge(fields, now)
    }

    /// The event with `fields` applied, checked whole, and what changed (names only for the
    /// activity log). The version moves on when anything changed.
    pub fn apply(&self, fields: &EventFields, now: DateTime<Utc>) -> Result<(Event, Vec<FieldChange>), Violations> {
        let mut after = self.merge(fields, now)?;
        let before = serde_json::to_value(self).unwrap_or_default();
        let merged = serde_json::to_value(&after).unwrap_or_default();
        let changes: Vec<FieldChange> = [
            "title",
            "description",
            "location",
            "start_at",
            "end_at",
            "start_date",
            "end_date",
            "timezone",
            "rrule",
            "exdates",
            "busy",
        ]
        .iter()
        .filter(|field| before.get(**field) != merged.get(**field))
        .map(|field| FieldChange { field: (*field).into(), old: serde_json::Value::Null, new: serde_json::Value::Null })
        .collect();
        if changes.is_empty() {
            return Ok((self.clone(), changes));
        }
        after.version = self.version + 1;
        Ok((after, changes))
    }

    fn merge(&self, fields: &EventFields, now: DateTime<Utc>) -> Result<Event, Violations> {
        let mut violations = Violations::new();
        let title = merged(&Some(self.title.clone()), &fields.title).unwrap_or_default().trim().to_string();
        let title_chars = title.chars().count();
        if title_chars == 0 {
            violations.add("title", "is required");
        } else if title_chars > TITLE_MAX {
            violations.add("title", format!("must be at most {TITLE_MAX} characters"));
        }
        let description = merged(&self.description, &fields.description).filter(|text| !text.trim().is_empty());
        if description.as_ref().is_some_and(|text| text.chars().count() > DESCRIPTION_MAX) {
            violations.add("description", format!("must be at most {DESCRIPTION_MAX} characters"));
        }
        let location = merged(&self.location, &fields.location).filter(|text| !text.trim().is_empty());
        if location.as_ref().is_some_and(|text| text.chars().count() > LOCATION_MAX) {
            violations.add("location", format!("must be at most {LOCATION_MAX} characters"));
        }
        let start_at = merged(&self.start_at, &fields.start_at);
        let end_at = merged(&self.end_at, &fields.end_at);
        let start_date = merged(&self.start_date, &fields.start_date);
        let end_date = merged(&self.end_date, &fields.end_date);
        let when = When::from_fields(start_at, end_at, start_date, end_date, &mut violations);
        if let Some(when) = when {
            check_years(when, &mut violations);
        }
        let timezone = merged(&Some(self.timezone.clone()), &fields.timezone).unwrap_or_else(|| "UTC".into());
        let zone = match timezone.parse::<Tz>() {
            Ok(zone) => Some(zone),
            Err(_) => {
                violations.add("timezone", format!("`{timezone}` is not an IANA time zone such as Europe/Berlin"));
                None
            }
        };
        let rrule = match (merged(&self.rrule, &fields.rrule), zone) {
            (Some(rule), Some(zone)) => parse_rrule(&rule, zone.name(), &mut violations),
            _ => None,
        };
        let count = rrule.as_ref().and_then(|rule| {
            Recurrence { rrule: rule.clone(), timezone: "UTC".into(), mode: RecurrenceMode::FromDue }.count()
        });
        if count.is_some_and(|count| count > COUNT_MAX) {
            violations.add("rrule", format!("COUNT is at most {COUNT_MAX}; leave it out for a series without end"));
        }
        let exdates = merged(&Some(self.exdates.clone()), &fields.exdates).unwrap_or_default();
        if exdates.len() > EXDATES_MAX {
            violations.add("exdates", format!("takes at most {EXDATES_MAX} instants"));
        }
        if !exdates.is_empty() && rrule.is_none() && merged(&self.rrule, &fields.rrule).is_none() {
            violations.add("exdates", "only a repeating event (with an rrule) has occurrences to leave out");
        }
        let busy = merged(&Some(self.busy), &fields.busy).unwrap_or(true);
        violations.finish(Event {
            id: self.id.clone(),
            title,
            description,
            location,
            start_at,
            end_at,
            start_date,
            end_date,
            timezone: zone.map(|zone| zone.name().to_string()).unwrap_or(timezone),
            rrule,
            exdates,
            // A new rule or a new first occurrence makes the old changes meaningless.
            changes: if fields.rrule.is_some() || fields.start_at.is_some() || fields.start_date.is_some() {
                Vec::new()
            } else {
                self.changes.clone()
            },
            busy,
            source: self.source,
            version: self.version,
            created_at: self.created_at,
            updated_at: now,
        })
    }

    /// Whether `occurrence_id` names an occurrence of the series (not left out by an exdate).
    pub fn has_occurrence(&self, occurrence_id: &str) -> bool {
        let (Some(when), Some(rrule)) = (self.when(), &self.rrule) else { return false };
        let recurrence =
            Recurrence { rrule: rrule.clone(), timezone: self.timezone.clone(), mode: RecurrenceMode::FromDue };
        match when {
            When::Timed { start, .. } => DateTime::parse_from_rfc3339(occurrence_id).is_ok_and(|at| {
                let at = at.with_timezone(&Utc);
                !self.exdates.contains(&at) && recurrence.next_after(start, at - TimeDelta::seconds(1)) == Some(at)
            }),
            When::AllDay { start, .. } => occurrence_id.parse::<NaiveDate>().is_ok_and(|day| {
                let zone = self.zone();
                let excluded = self.exdates.iter().any(|exdate| exdate.with_timezone(&zone).date_naive() == day);
                !excluded && day.pred_opt().is_some_and(|before| recurrence.next_date_after(start, before) == Some(day))
            }),
        }
    }

    /// The event with one occurrence changed (or cancelled), checked; the version moves on.
    pub fn change_occurrence(&self, change: OccurrenceChange, now: DateTime<Utc>) -> Result<Event, Violations> {
        let mut violations = Violations::new();
        if let Some(title) = &change.title {
            let chars = title.trim().chars().count();
            if chars == 0 || chars > TITLE_MAX {
                violations.add("title", format!("must be 1 to {TITLE_MAX} characters"));
            }
        }
        let given = [
            change.start_at.is_some(),
            change.end_at.is_some(),
            change.start_date.is_some(),
            change.end_date.is_some(),
        ];
        let moved = given.iter().any(|given| *given).then(|| {
            When::from_fields(change.start_at, change.end_at, change.start_date, change.end_date, &mut violations)
        });
        if let Some(Some(when)) = moved {
            let all_day = matches!(self.when(), Some(When::AllDay { .. }));
            if all_day != matches!(when, When::AllDay { .. }) {
                violations.add("start_at", "an occurrence keeps its event's kind: timed or all-day");
            }
            check_years(when, &mut violations);
        }
        let mut changes: Vec<OccurrenceChange> =
            self.changes.iter().filter(|other| other.occurrence_id != change.occurrence_id).cloned().collect();
        if changes.len() >= CHANGES_MAX {
            violations.add(
                "occurrence_id",
                format!("at most {CHANGES_MAX} occurrences of one event can be changed one by one"),
            );
        }
        changes.push(change);
        violations.finish(Event { changes, version: self.version + 1, updated_at: now, ..self.clone() })
    }
}

/// Instants keyed as text sort right only with four-digit years: events live in 1900 to 9999.
fn check_years(when: When, violations: &mut Violations) {
    use chrono::Datelike;
    let (start, end) = match when {
        When::Timed { start, end } => (start.year(), end.year()),
        When::AllDay { start, end } => (start.year(), end.year()),
    };
    if !(1900..=9999).contains(&start) || !(1900..=9999).contains(&end) {
        violations.add("start_at", "must be between the years 1900 and 9999");
    }
}

/// Checks a listing's range: `from` before `to`, at most `RANGE_MAX_DAYS` apart.
pub fn check_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), String> {
    if to <= from {
        Err("must be after from".into())
    } else if to - from > TimeDelta::days(RANGE_MAX_DAYS) {
        Err(format!("a range spans at most {RANGE_MAX_DAYS} days"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
