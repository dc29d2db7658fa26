//! Tasks: the shape of api.md, its validation, and what a change does to it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::Violations;
use super::recurrence::Recurrence;
use super::reminders::Reminder;

pub const TITLE_MAX: usize = 500;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const LABELS_MAX: usize = 20;
pub const LABEL_MAX: usize = 50;
pub const CATEGORY_MAX: usize = 100;
pub const MINUTES_MAX: u32 = 1440;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Todo,
    InProgress,
    Done,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Todo, Status::InProgress, Status::Done, Status::Cancelled];

    /// The name clients send and see.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Todo => "todo",
            Status::InProgress => "in_progress",
            Status::Done => "done",
            Status::Cancelled => "cancelled",
        }
    }

    /// Open tasks count against the tier's limit.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Todo | Status::InProgress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Urgent];

    /// The name clients send and see.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// A task as clients see it (api.md's fixed shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    pub id: String,
    #[schema(min_length = 1, max_length = 500)]
    pub title: String,
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub due_date: Option<NaiveDate>,
    pub due_at: Option<DateTime<Utc>>,
    pub start_at: Option<DateTime<Utc>>,
    pub estimate_minutes: Option<u32>,
    pub actual_minutes: Option<u32>,
    pub labels: Vec<String>,
    pub category: Option<String>,
    pub parent_id: Option<String>,
    pub goal_id: Option<String>,
    pub team_id: Option<String>,
    pub assignee_id: Option<String>,
    /// `{"rrule", "timezone", "mode": "from_due" | "from_completion"}`
    #[schema(value_type = Option<Object>)]
    pub recurrence: Option<serde_json::Value>,
    /// Where accepted day plans put the task's work (written by `POST /v1/plans/{id}/accept`,
    /// never by clients).
    #[serde(default)]
    pub scheduled_blocks: Vec<ScheduledBlock>,
    pub completed_at: Option<DateTime<Utc>>,
    pub archived: bool,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// On top-level tasks: how many subtasks are open and done. Kept by the store, not written by clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtasks: Option<SubtaskCounts>,
    /// The task's reminders (`/v1/tasks/{id}/reminders`; kept with the task, not part of its shape).
    #[serde(skip)]
    pub reminders: Vec<Reminder>,
}

/// One block of time an accepted plan gave the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduledBlock {
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
    /// The accepted plan it came from.
    pub plan_id: String,
}

/// A parent's view of its subtasks. Cancelled subtasks count in neither `open` nor `done`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubtaskCounts {
    pub open: u64,
    pub done: u64,
    /// The live subtasks' ids (the store's set; never part of the API shape).
    #[serde(skip)]
    pub ids: Vec<String>,
}

/// What a subtask adds to its parent's counts: (open, done).
pub fn subtask_contribution(task: &Task) -> (i64, i64) {
    let open = task.status.is_open() && !task.archived;
    (i64::from(open), i64::from(task.status == Status::Done))
}

/// `Some(None)` when a field is sent as null, `None` when it is absent.
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The writable fields of a task. On create, absent means default; on PATCH, absent means
/// unchanged and null means cleared.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
pub struct TaskFields {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 500)]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Status>)]
    pub status: Option<Option<Status>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Priority>)]
    pub priority: Option<Option<Priority>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<chrono::NaiveDate>)]
    pub due_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub due_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub start_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, maximum = 1440)]
    pub estimate_minutes: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, maximum = 1440)]
    pub actual_minutes: Option<Option<u32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub labels: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub category: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub recurrence: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub archived: Option<Option<bool>>,
    /// Only on create: the parent of a new subtask. A task's parent never changes.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<Option<String>>,
}

/// One changed field: its name with the values before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

impl Task {
    /// The task's due as one string: its instant (RFC 3339, seconds, UTC) or its date; what a
    /// repeating series and a reminder's occurrence are keyed by.
    pub fn due_key(&self) -> Option<String> {
        match (self.due_at, self.due_date) {
            (Some(at), _) => Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            (None, Some(date)) => Some(date.to_string()),
            (None, None) => None,
        }
    }

    /// A new top-level task with defaults; `fields` is applied on top.
    pub fn new(id: String, now: DateTime<Utc>) -> Self {
        Task {
            id,
            title: String::new(),
            description: None,
            status: Status::Todo,
            priority: Priority::Medium,
            due_date: None,
            due_at: None,
            start_at: None,
            estimate_minutes: None,
            actual_minutes: None,
            labels: Vec::new(),
            category: None,
            parent_id: None,
            goal_id: None,
            team_id: None,
            assignee_id: None,
            recurrence: None,
            scheduled_blocks: Vec::new(),
            completed_at: None,
            archived: false,
            version: 1,
            created_at: now,
            updated_at: now,
            subtasks: None,
            reminders: Vec::new(),
        }
    }

    /// Applies `fields` and checks the result; returns what changed. Nothing is applied when a
    /// field is invalid: every violation is returned instead.
    pub fn apply(&self, fields: &TaskFields, now: DateTime<Utc>) -> Result<(Task, Vec<FieldChange>), Violations> {
        let mut next = self.clone();
        let mut violations = Violations::new();
        if let Some(title) = &fields.title {
            next.title = title.clone().unwrap_or_default().trim().to_string();
        }
        if let Some(description) = &fields.description {
            next.description = description.clone().filter(|text| !text.is_empty());
        }
        if let Some(status) = fields.status {
            match status {
                Some(status) => next.set_status(status, now),
                None => violations.add("status", "must not be null"),
            }
        }
        if let Some(priority) = fields.priority {
            match priority {
                Some(priority) => next.priority = priority,
                None => violations.add("priority", "must not be null"),
            }
        }
        if let Some(due_date) = fields.due_date {
            next.due_date = due_date;
        }
        if let Some(due_at) = fields.due_at {
            next.due_at = due_at;
        }
        if let Some(start_at) = fields.start_at {
            next.start_at = start_at;
        }
        if let Some(estimate) = fields.estimate_minutes {
            next.estimate_minutes = estimate;
        }
        if let Some(actual) = fields.actual_minutes {
            next.actual_minutes = actual;
        }
        if let Some(labels) = &fields.labels {
            next.labels =
                labels.clone().unwrap_or_default().into_iter().map(|label| label.trim().to_string()).collect();
        }
        if let Some(category) = &fields.category {
            next.category = category.clone().map(|text| text.trim().to_string()).filter(|text| !text.is_empty());
        }
        if let Some(recurrence) = &fields.recurrence {
            next.recurrence = match recurrence {
                None => None,
                Some(value) => match Recurrence::parse(value) {
                    Ok(parsed) => serde_json::to_value(parsed).ok(),
                    Err(problems) => {
                        violations.extend(problems);
                        self.recurrence.clone()
                    }
                },
            };
        }
        if let Some(archived) = fields.archived {
            match archived {
                Some(archived) => next.archived = archived,
                None => violations.add("archived", "must not be null"),
            }
        }
        if fields.parent_id.as_ref().is_some_and(|parent| parent != &self.parent_id) {
            violations.add("parent_id", "cannot change; create a subtask under the new parent instead");
        }
        next.check(&mut violations);
        if !violations.is_empty() {
            return Err(violations);
        }
        let changes = changes_between(self, &next);
        if !changes.is_empty() {
            next.version = self.version + 1;
            next.updated_at = now;
        }
        Ok((next, changes))
    }

    /// Moves the task to `status`; `completed_at` follows: set when it becomes done, cleared when
    /// it leaves done.
    pub fn set_status(&mut self, status: Status, now: DateTime<Utc>) {
        if status == Status::Done && self.status != Status::Done {
            self.completed_at = Some(now);
        } else if status != Status::Done {
            self.completed_at = None;
        }
        self.status = status;
    }

    fn check(&self, violations: &mut Violations) {
        let title_chars = self.title.chars().count();
        if title_chars == 0 {
            violations.add("title", "is required");
        } else if title_chars > TITLE_MAX {
            violations.add("title", format!("must be at most {TITLE_MAX} characters"));
        }
        if self.description.as_ref().is_some_and(|text| text.chars().count() > DESCRIPTION_MAX) {
            violations.add("description", format!("must be at most {DESCRIPTION_MAX} characters"));
        }
        if self.due_date.is_some() && self.due_at.is_some() {
            violations.add("due_at", "send due_date or due_at, not both");
        }
        for (field, minutes) in [("estimate_minutes", self.estimate_minutes), ("actual_minutes", self.actual_minutes)] {
            if minutes.is_some_and(|minutes| !(1..=MINUTES_MAX).contains(&minutes)) {
                violations.add(field, format!("must be between 1 and {MINUTES_MAX}"));
            }
        }
        if self.labels.len() > LABELS_MAX {
            violations.add("labels", format!("must have at most {LABELS_MAX} labels"));
        }
        for (index, label) in self.labels.iter().enumerate() {
            let chars = label.chars().count();
            if chars == 0 || chars > LABEL_MAX {
                violations.add(format!("labels[{index}]"), format!("must be 1 to {LABEL_MAX} characters"));
            }
        }
        if self.category.as_ref().is_some_and(|text| text.chars().count() > CATEGORY_MAX) {
            violations.add("category", format!("must be at most {CATEGORY_MAX} characters"));
        }
        if self.recurrence.is_some() {
            if self.due_at.is_none() && self.due_date.is_none() {
                violations.add("recurrence", "a repeating task needs due_at or due_date: its first occurrence");
            }
            if self.parent_id.is_some() {
                violations.add("recurrence", "subtasks do not repeat; they repeat with their parent");
            }
        }
    }

    /// The task's repetition, if it repeats (a stored value that no longer reads counts as none).
    pub fn repetition(&self) -> Option<Recurrence> {
        self.recurrence.as_ref().and_then(|value| serde_json::from_value(value.clone()).ok())
    }
}

/// The fields that differ between two versions of a task, with old and new values.
pub fn changes_between(old: &Task, new: &Task) -> Vec<FieldChange> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    new.iter()
        .filter(|(field, _)| !matches!(field.as_str(), "version" | "updated_at" | "subtasks"))
        .filter(|(field, value)| old.get(*field) != Some(*value))
        .map(|(field, value)| FieldChange {
            field: field.clone(),
            old: old.get(field).cloned().unwrap_or_default(),
            new: value.clone(),
        })
        .collect()
}

impl super::Versioned for Task {
    const KIND: &'static str = "task";

    fn version(&self) -> u64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_of_statuses_and_priorities_are_their_json_names() {
        for status in Status::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for priority in Priority::ALL {
            assert_eq!(serde_json::to_value(priority).unwrap(), priority.as_str());
        }
    }

    fn fields(json: serde_json::Value) -> TaskFields {
        serde_json::from_value(json).unwrap()
    }

    fn task() -> Task {
        let mut task = Task::new("t1".into(), Utc::now());
        task.title = "Write report".into();
        task
    }

    #[test]
    fn every_invalid_field_is_named() {
        let result = task().apply(
            &fields(serde_json::json!({
                "title": "", "estimate_minutes": 0, "actual_minutes": 2000,
                "due_date": "2026-12-01", "due_at": "2026-12-01T09:00:00Z",
                "labels": ["ok", "x".repeat(51)], "priority": null,
            })),
            Utc::now(),
        );
        let mut names: Vec<String> = result.unwrap_err().into_vec().into_iter().map(|(field, _)| field).collect();
        names.sort();
        assert_eq!(names, ["actual_minutes", "due_at", "estimate_minutes", "labels[1]", "priority", "title"]);
    }

    #[test]
    fn a_patch_changes_only_what_is_sent_and_records_old_and_new() {
        let before = task();
        let (after, changes) =
            before.apply(&fields(serde_json::json!({"priority": "high", "description": "x"})), Utc::now()).unwrap();
        assert_eq!(after.title, "Write report");
        assert_eq!(after.version, 2);
        let fields: Vec<&str> = changes.iter().map(|change| change.field.as_str()).collect();
        assert_eq!(fields, ["description", "priority"]);
        assert_eq!(changes[1].old, "medium");
        assert_eq!(changes[1].new, "high");
        let (same, none) = after.apply(&fields_of_nothing(), Utc::now()).unwrap();
        assert!(none.is_empty());
        assert_eq!(same.version, 2, "no change, no new version");
    }

    fn fields_of_nothing() -> TaskFields {
        TaskFields::default()
    }

    #[test]
    fn completed_at_follows_the_status() {
        let now = Utc::now();
        let (done, _) = task().apply(&fields(serde_json::json!({"status": "done"})), now).unwrap();
        assert_eq!(done.completed_at, Some(now));
        let (reopened, _) = done.apply(&fields(serde_json::json!({"status": "todo"})), now).unwrap();
        assert_eq!(reopened.completed_at, None);
        let (cleared, _) = done.apply(&fields(serde_json::json!({"due_date": null})), now).unwrap();
        assert_eq!(cleared.completed_at, Some(now), "other changes keep it");
    }
}
