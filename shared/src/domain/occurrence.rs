//! Occurrences of a repeating task: completing or skipping the current one records it and moves
//! the task to its next occurrence (due time and start moved, reopened), or ends the series.
//!
//! The series is anchored at its start (the due of its first occurrence), so a `from_due` task
//! completed late does not drift. Occurrences already in the past when one is closed are passed
//! over (they count towards COUNT): a daily task left for three days comes back due tomorrow, not
//! three times overdue. A dated task (no time) may come back due today.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::recurrence::Recurrence;
use super::reminders::shifted;
use super::task::{Status, Task};

/// At most this many past occurrences are passed over in one step.
const MAX_PASSED_OVER: u32 = 10_000;

/// How an occurrence was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Skipped,
}

/// The record of one closed occurrence (`GET /v1/tasks/{id}/occurrences`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Occurrence {
    /// 1 for the series' first occurrence.
    pub index: u32,
    pub due_at: Option<DateTime<Utc>>,
    pub due_date: Option<NaiveDate>,
    pub status: Outcome,
    pub completed_at: Option<DateTime<Utc>>,
    pub recorded_at: DateTime<Utc>,
}

/// Where a series stands: the due of its first occurrence (an RFC 3339 instant or a date) and how
/// many occurrences have come due, the current one included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub start: String,
    pub count: u32,
}

impl Series {
    /// The series a task starts when it is given its repetition: its current due is occurrence 1.
    pub fn starting_at(task: &Task) -> Option<Series> {
        Some(Series { start: task.due_key()?, count: 1 })
    }
}

/// What closing the current occurrence does.
#[derive(Debug, Clone, PartialEq)]
pub struct Advance {
    pub occurrence: Occurrence,
    /// The task afterwards: at its next occurrence, or closed when the series is over.
    pub next: Task,
    pub series: Series,
    /// The series has no further occurrence.
    pub ended: bool,
}

/// Closes `current`'s occurrence with `outcome` at `now`. `current` is the task as it should be
/// recorded (any other fields of the same request already applied, status not yet changed).
/// `None` when the task does not repeat.
pub fn advance(current: &Task, series: &Series, outcome: Outcome, now: DateTime<Utc>) -> Option<Advance> {
    let recurrence = current.repetition()?;
    let occurrence = Occurrence {
        index: series.count,
        due_at: current.due_at,
        due_date: current.due_date,
        status: outcome,
        completed_at: (outcome == Outcome::Completed).then_some(now),
        recorded_at: now,
    };
    let mut next = current.clone();
    next.version = current.version + 1;
    next.updated_at = now;
    let moved = match (current.due_at, current.due_date) {
        (Some(due), _) => next_instant(&recurrence, series, due, now).map(|(at, count)| {
            next.due_at = Some(at);
            next.start_at = current.start_at.map(|start| start + (at - due));
            next.reminders = shifted(&current.reminders, at - due);
            count
        }),
        (None, Some(date)) => next_date(&recurrence, series, date, now).map(|(on, count)| {
            next.due_date = Some(on);
            next.start_at = current.start_at.map(|start| start + (on - date));
            next.reminders = shifted(&current.reminders, on - date);
            count
        }),
        (None, None) => None,
    };
    let (series, ended) = match moved {
        Some(count) => {
            next.status = Status::Todo;
            next.completed_at = None;
            (Series { start: series.start.clone(), count }, false)
        }
        None => {
            match outcome {
                Outcome::Completed => next.set_status(Status::Done, now),
                Outcome::Skipped => next.set_status(Status::Cancelled, now),
            }
            (series.clone(), true)
        }
    };
    Some(Advance { occurrence, next, series, ended })
}

/// The next due instant after `due` that is still ahead of `now`, with the series' new count.
fn next_instant(
    recurrence: &Recurrence,
    series: &Series,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, u32)> {
    let start = DateTime::parse_from_rfc3339(&series.start).map(|start| start.to_utc()).unwrap_or(due);
    let (mut current, mut count) = (due, series.count);
    for _ in 0..MAX_PASSED_OVER {
        let next = recurrence.next_due(start, current, now, count)?;
        count += 1;
        if next > now {
            return Some((next, count));
        }
        current = next;
    }
    None
}

/// The next due date after `date` that is not before today (in the rule's zone), with the new count.
fn next_date(
    recurrence: &Recurrence,
    series: &Series,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Option<(NaiveDate, u32)> {
    let start = series.start.parse::<NaiveDate>().unwrap_or(date);
    let zone: Tz = recurrence.timezone.parse().unwrap_or(Tz::UTC);
    let today = now.with_timezone(&zone).date_naive();
    let (mut current, mut count) = (date, series.count);
    for _ in 0..MAX_PASSED_OVER {
        let next = recurrence.next_due_date(start, current, now, count)?;
        count += 1;
        if next >= today {
            return Some((next, count));
        }
        current = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn repeating(rrule: &str, zone: &str, due: &str) -> (Task, Series) {
        let mut task = Task::new("t1".into(), at("2026-01-01T00:00:00Z"));
        task.title = "Stand-up".into();
        task.due_at = Some(at(due));
        task.recurrence = Some(serde_json::json!({"rrule": rrule, "timezone": zone, "mode": "from_due"}));
        let series = Series::starting_at(&task).unwrap();
        (task, series)
    }

    #[test]
    fn a_daily_berlin_task_stays_at_nine_across_the_spring_change() {
        // 28 March 09:00 CET is 08:00Z; after the change on 29 March, 09:00 CEST is 07:00Z.
        let (task, series) = repeating("FREQ=DAILY", "Europe/Berlin", "2026-03-28T08:00:00Z");
        let step = advance(&task, &series, Outcome::Completed, at("2026-03-28T08:30:00Z")).unwrap();
        assert_eq!(step.next.due_at, Some(at("2026-03-29T07:00:00Z")));
        assert_eq!(step.next.status, Status::Todo);
        assert_eq!(step.next.completed_at, None);
        assert_eq!(step.occurrence.index, 1);
        assert_eq!(step.occurrence.due_at, Some(at("2026-03-28T08:00:00Z")));
        assert_eq!(step.series.count, 2);
    }

    #[test]
    fn a_daily_berlin_task_stays_at_nine_across_the_autumn_change() {
        let (task, series) = repeating("FREQ=DAILY", "Europe/Berlin", "2026-10-24T07:00:00Z");
        let step = advance(&task, &series, Outcome::Completed, at("2026-10-24T07:10:00Z")).unwrap();
        assert_eq!(step.next.due_at, Some(at("2026-10-25T08:00:00Z")));
    }

    #[test]
    fn count_ends_the_series_and_the_last_completion_closes_the_task() {
        let (task, series) = repeating("FREQ=DAILY;COUNT=2", "UTC", "2026-05-01T09:00:00Z");
        let first = advance(&task, &series, Outcome::Completed, at("2026-05-01T09:05:00Z")).unwrap();
        assert!(!first.ended);
        let last = advance(&first.next, &first.series, Outcome::Completed, at("2026-05-02T09:05:00Z")).unwrap();
        assert!(last.ended);
        assert_eq!(last.next.status, Status::Done);
        assert_eq!(last.occurrence.index, 2);
    }

    #[test]
    fn skipping_moves_on_without_completing_and_skipping_the_last_cancels() {
        let (task, series) = repeating("FREQ=WEEKLY;UNTIL=20260515", "UTC", "2026-05-01T09:00:00Z");
        let skipped = advance(&task, &series, Outcome::Skipped, at("2026-04-30T12:00:00Z")).unwrap();
        assert_eq!(skipped.occurrence.status, Outcome::Skipped);
        assert_eq!(skipped.occurrence.completed_at, None);
        assert_eq!(skipped.next.due_at, Some(at("2026-05-08T09:00:00Z")));
        let again = advance(&skipped.next, &skipped.series, Outcome::Skipped, at("2026-05-01T12:00:00Z")).unwrap();
        let over = advance(&again.next, &again.series, Outcome::Skipped, at("2026-05-02T12:00:00Z")).unwrap();
        assert!(over.ended);
        assert_eq!(over.next.status, Status::Cancelled);
    }

    #[test]
    fn a_late_completion_passes_over_missed_occurrences_but_keeps_the_series_time() {
        let (mut task, series) = repeating("FREQ=DAILY", "UTC", "2026-05-01T09:00:00Z");
        task.start_at = Some(at("2026-05-01T08:30:00Z"));
        let step = advance(&task, &series, Outcome::Completed, at("2026-05-04T14:00:00Z")).unwrap();
        assert_eq!(step.next.due_at, Some(at("2026-05-05T09:00:00Z")));
        assert_eq!(step.next.start_at, Some(at("2026-05-05T08:30:00Z")), "the start moves with the due");
        assert_eq!(step.series.count, 5, "the missed occurrences count towards COUNT");
    }

    #[test]
    fn from_completion_counts_from_the_day_of_completion() {
        let (mut task, series) = repeating("FREQ=DAILY;INTERVAL=3", "UTC", "2026-05-01T09:00:00Z");
        task.recurrence =
            Some(serde_json::json!({"rrule": "FREQ=DAILY;INTERVAL=3", "timezone": "UTC", "mode": "from_completion"}));
        let step = advance(&task, &series, Outcome::Completed, at("2026-05-10T18:00:00Z")).unwrap();
        assert_eq!(step.next.due_at, Some(at("2026-05-13T09:00:00Z")));
    }

    #[test]
    fn a_dated_task_moves_by_dates_and_may_be_due_today() {
        let mut task = Task::new("t1".into(), Utc::now());
        task.title = "Water plants".into();
        task.due_date = Some(NaiveDate::from_ymd_opt(2026, 5, 1).unwrap());
        task.recurrence = Some(serde_json::json!({"rrule": "FREQ=DAILY", "timezone": "Pacific/Auckland"}));
        let series = Series::starting_at(&task).unwrap();
        // 4 May 01:00 in Auckland is still 3 May in UTC: "today" is the rule's zone's.
        let now = Utc.with_ymd_and_hms(2026, 5, 3, 13, 0, 0).unwrap();
        let step = advance(&task, &series, Outcome::Completed, now).unwrap();
        assert_eq!(step.next.due_date, NaiveDate::from_ymd_opt(2026, 5, 4));
    }

    #[test]
    fn a_task_that_does_not_repeat_has_no_occurrences() {
        let task = Task::new("t1".into(), Utc::now());
        let series = Series { start: "2026-05-01".into(), count: 1 };
        assert!(advance(&task, &series, Outcome::Completed, Utc::now()).is_none());
    }
}
