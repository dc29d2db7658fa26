//! Reminders of a task: at an instant, or a number of minutes before its due time; at most
//! `MAX_PER_TASK`. Every task with a due time also has the built-in due-soon reminder, 24 hours
//! ahead. What the scheduler must hold for a task (`schedule`) is computed from the task alone, so
//! a change of due time, a new occurrence or a closed task re-derives it.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Violations;
use super::notifications::NotificationType;
use super::task::Task;

pub const MAX_PER_TASK: usize = 10;
/// Four weeks: a reminder further ahead of the due time is a task of its own.
pub const MAX_MINUTES_BEFORE: u32 = 40_320;
/// The id of the built-in reminder a day before the due time.
pub const DUE_SOON_ID: &str = "due-soon";
pub const DUE_SOON_AHEAD: TimeDelta = TimeDelta::hours(24);

/// One reminder as the task keeps it and clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub id: String,
    /// An absolute reminder. On a repeating task it moves with each occurrence.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// A reminder relative to the due time.
    #[serde(default)]
    pub minutes_before: Option<u32>,
    pub created_at: DateTime<Utc>,
}

impl Reminder {
    /// Reads `{"at": instant}` or `{"minutes_before": n}` for `task`, naming every problem.
    pub fn from_request(id: String, value: &Value, task: &Task, now: DateTime<Utc>) -> Result<Reminder, Violations> {
        let mut violations = Violations::new();
        let Some(object) = value.as_object() else {
            violations.add("body", "must be an object with at or minutes_before");
            return Err(violations);
        };
        for key in object.keys().filter(|key| !matches!(key.as_str(), "at" | "minutes_before")) {
            violations.add(key.clone(), "is not a known field; expected at or minutes_before");
        }
        let at = match object.get("at") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => match DateTime::parse_from_rfc3339(text) {
                Ok(at) if at.to_utc() > now => Some(at.to_utc()),
                Ok(_) => {
                    violations.add("at", "must be in the future");
                    None
                }
                Err(_) => {
                    violations.add("at", "must be an RFC 3339 instant such as 2026-11-23T09:00:00Z");
                    None
                }
            },
            Some(_) => {
                violations.add("at", "must be an RFC 3339 instant");
                None
            }
        };
        let minutes_before = match object.get("minutes_before") {
            None | Some(Value::Null) => None,
            Some(value) => match value.as_u64().filter(|minutes| *minutes <= u64::from(MAX_MINUTES_BEFORE)) {
                Some(minutes) if task.due_at.is_some() => Some(minutes as u32),
                Some(_) => {
                    violations.add("minutes_before", "needs a task with due_at: it counts back from the due time");
                    None
                }
                None => {
                    violations.add("minutes_before", format!("must be a whole number from 0 to {MAX_MINUTES_BEFORE}"));
                    None
                }
            },
        };
        let given = usize::from(object.get("at").is_some_and(|v| !v.is_null()))
            + usize::from(object.get("minutes_before").is_some_and(|v| !v.is_null()));
        if given != 1 {
            violations.add("at", "send exactly one of at and minutes_before");
        }
        violations.finish(Reminder { id, at, minutes_before, created_at: now })
    }

    /// When it goes off for `task` as the task is now; `None` while it cannot (relative, no due time).
    pub fn fire_at(&self, task: &Task) -> Option<DateTime<Utc>> {
        match (self.at, self.minutes_before) {
            (Some(at), _) => Some(at),
            (None, Some(minutes)) => task.due_at.map(|due| due - TimeDelta::minutes(i64::from(minutes))),
            (None, None) => None,
        }
    }
}

/// One entry the scheduler holds for a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub reminder_id: String,
    pub kind: NotificationType,
    pub fire_at: DateTime<Utc>,
    /// Which occurrence of the task it is for (see `occurrence_key`).
    pub occurrence: String,
}

/// Which occurrence of a task a notification is about: its due, or `once` when it has none.
pub fn occurrence_key(task: &Task) -> String {
    task.due_key().unwrap_or_else(|| "once".into())
}

/// Everything that should go off for `task` as it is now: its reminders and the due-soon alert.
/// Nothing for a closed, archived task; a trashed one is left to the worker, which checks.
pub fn schedule(task: &Task, reminders: &[Reminder]) -> Vec<Scheduled> {
    if !task.status.is_open() || task.archived {
        return Vec::new();
    }
    let occurrence = occurrence_key(task);
    let entry = |reminder_id: &str, kind, fire_at| Scheduled {
        reminder_id: reminder_id.to_string(),
        kind,
        fire_at,
        occurrence: occurrence.clone(),
    };
    let mut entries: Vec<Scheduled> = reminders
        .iter()
        .filter_map(|reminder| Some(entry(&reminder.id, NotificationType::TaskReminder, reminder.fire_at(task)?)))
        .collect();
    if let Some(due) = task.due_at {
        entries.push(entry(DUE_SOON_ID, NotificationType::TaskDueSoon, due - DUE_SOON_AHEAD));
    }
    entries
}

/// The reminders of a repeating task moved to its next occurrence: absolute ones by as much as
/// the due time moved; relative ones follow the due time by themselves.
pub fn shifted(reminders: &[Reminder], by: TimeDelta) -> Vec<Reminder> {
    reminders.iter().map(|reminder| Reminder { at: reminder.at.map(|at| at + by), ..reminder.clone() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::Status;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn task_due(due: Option<&str>) -> Task {
        let mut task = Task::new("t1".into(), at("2026-11-01T00:00:00Z"));
        task.title = "Dentist".into();
        task.due_at = due.map(at);
        task
    }

    #[test]
    fn a_relative_reminder_counts_back_from_the_due_time_and_needs_one() {
        let now = at("2026-11-23T08:00:00Z");
        let task = task_due(Some("2026-11-23T10:00:00Z"));
        let reminder =
            Reminder::from_request("r1".into(), &serde_json::json!({"minutes_before": 30}), &task, now).unwrap();
        assert_eq!(reminder.fire_at(&task), Some(at("2026-11-23T09:30:00Z")));
        let undated = task_due(None);
        let error = Reminder::from_request("r2".into(), &serde_json::json!({"minutes_before": 30}), &undated, now);
        assert_eq!(error.unwrap_err().into_vec()[0].0, "minutes_before");
    }

    #[test]
    fn every_problem_of_a_request_is_named() {
        let now = at("2026-11-23T08:00:00Z");
        let task = task_due(Some("2026-11-23T10:00:00Z"));
        let cases = [
            (serde_json::json!({"at": "2026-11-22T08:00:00Z"}), "at"),
            (serde_json::json!({"at": "tomorrow"}), "at"),
            (serde_json::json!({"minutes_before": -5}), "minutes_before"),
            (serde_json::json!({"minutes_before": 50_000}), "minutes_before"),
            (serde_json::json!({}), "at"),
            (serde_json::json!({"at": "2026-11-24T08:00:00Z", "minutes_before": 5}), "at"),
            (serde_json::json!({"at": "2026-11-24T08:00:00Z", "when": 1}), "when"),
        ];
        for (body, field) in cases {
            let problems = Reminder::from_request("r".into(), &body, &task, now).unwrap_err().into_vec();
            assert!(problems.iter().any(|(name, _)| name == field), "{body}: {problems:?}");
        }
    }

    #[test]
    fn the_schedule_holds_the_reminders_and_the_due_soon_alert_of_open_tasks_only() {
        let mut task = task_due(Some("2026-11-25T10:00:00Z"));
        let reminders = vec![
            Reminder {
                id: "a".into(),
                at: Some(at("2026-11-24T18:00:00Z")),
                minutes_before: None,
                created_at: task.created_at,
            },
            Reminder { id: "b".into(), at: None, minutes_before: Some(15), created_at: task.created_at },
        ];
        let entries = schedule(&task, &reminders);
        let times: Vec<(&str, DateTime<Utc>)> = entries.iter().map(|e| (e.reminder_id.as_str(), e.fire_at)).collect();
        assert_eq!(
            times,
            [
                ("a", at("2026-11-24T18:00:00Z")),
                ("b", at("2026-11-25T09:45:00Z")),
                (DUE_SOON_ID, at("2026-11-24T10:00:00Z"))
            ]
        );
        assert!(entries.iter().all(|entry| entry.occurrence == "2026-11-25T10:00:00Z"));
        task.status = Status::Done;
        assert!(schedule(&task, &reminders).is_empty());
    }

    #[test]
    fn a_new_occurrence_moves_absolute_reminders_by_the_same_step() {
        let reminders = vec![Reminder {
            id: "a".into(),
            at: Some(at("2026-11-24T18:00:00Z")),
            minutes_before: None,
            created_at: at("2026-11-01T00:00:00Z"),
        }];
        let moved = shifted(&reminders, TimeDelta::days(7));
        assert_eq!(moved[0].at, Some(at("2026-12-01T18:00:00Z")));
    }
}
