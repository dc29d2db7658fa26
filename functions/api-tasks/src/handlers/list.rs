//! `GET /v1/tasks`: filters, newest first, cursor pages.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use shared::AppState;
use shared::domain::Violations;
use shared::domain::task::Task;
use shared::http::{ApiError, CurrentUser};
use shared::store::tasks::{ParentFilter, TaskFilter, TaskSort};

const STATUSES: [&str; 4] = ["todo", "in_progress", "done", "cancelled"];
const PRIORITIES: [&str; 4] = ["low", "medium", "high", "urgent"];

#[derive(Debug, Serialize)]
pub struct TaskList {
    items: Vec<Task>,
    next_cursor: Option<String>,
}

fn list_of(violations: &mut Violations, field: &str, value: Option<&String>, allowed: &[&str]) -> Vec<String> {
    let values: Vec<String> =
        value.map(|text| text.split(',').map(|part| part.trim().to_string()).collect()).unwrap_or_default();
    for value in &values {
        if !allowed.contains(&value.as_str()) {
            violations.add(field, format!("{value:?} is not one of {}", allowed.join(", ")));
        }
    }
    values
}

/// A due bound: a date (`2026-12-01`) or an instant.
fn due_bound(violations: &mut Violations, field: &str, value: Option<&String>) -> Option<String> {
    let value = value?;
    let valid = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
        || chrono::DateTime::parse_from_rfc3339(value).is_ok();
    if !valid {
        violations.add(field, "must be a date (YYYY-MM-DD) or an RFC 3339 instant");
    }
    Some(value.clone())
}

/// `parent_id=<task id>`: that task's subtasks; `parent_id=none`: top-level tasks only.
fn parent_filter(violations: &mut Violations, value: Option<&String>) -> ParentFilter {
    match value.map(String::as_str) {
        None => ParentFilter::Any,
        Some("none") => ParentFilter::TopLevel,
        Some(id) if ulid::Ulid::from_string(id).is_ok() => ParentFilter::Of(id.to_string()),
        Some(_) => {
            violations.add("parent_id", "must be a task id or none");
            ParentFilter::Any
        }
    }
}

fn sort_name(sort: TaskSort) -> &'static str {
    match sort {
        TaskSort::Created => "created",
        TaskSort::Due => "due",
        TaskSort::Priority => "priority",
        TaskSort::Updated => "updated",
    }
}

fn parse_sort(violations: &mut Violations, value: Option<&String>) -> TaskSort {
    match value.map(String::as_str) {
        None | Some("created") => TaskSort::Created,
        Some("due") => TaskSort::Due,
        Some("priority") => TaskSort::Priority,
        Some("updated") => TaskSort::Updated,
        Some(_) => {
            violations.add("sort", "must be one of created, due, priority, updated");
            TaskSort::Created
        }
    }
}

/// A cursor names its order and where the page ended, so it cannot be used with another order.
pub fn encode_cursor(sort: TaskSort, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{position}", sort_name(sort)))
}

fn decode_cursor(sort: TaskSort, cursor: &str) -> Option<String> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let position = text.strip_prefix(sort_name(sort))?.strip_prefix(':')?;
    let task_id = position.rsplit('#').next()?;
    ulid::Ulid::from_string(task_id).ok().map(|_| position.to_string())
}

pub async fn list_tasks(
    State(app): State<AppState>,
    caller: CurrentUser,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<TaskList>, ApiError> {
    let mut violations = Violations::new();
    let limit = match query.get("limit").map(|text| text.parse::<usize>()) {
        None => 50,
        Some(Ok(limit)) if (1..=200).contains(&limit) => limit,
        Some(_) => {
            violations.add("limit", "must be a number from 1 to 200");
            50
        }
    };
    let archived = match query.get("archived").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            violations.add("archived", "must be true or false");
            false
        }
    };
    let filter = TaskFilter {
        statuses: list_of(&mut violations, "status", query.get("status"), &STATUSES),
        priorities: list_of(&mut violations, "priority", query.get("priority"), &PRIORITIES),
        label: query.get("label").cloned(),
        category: query.get("category").cloned(),
        archived,
        due_from: due_bound(&mut violations, "due_from", query.get("due_from")),
        due_to: due_bound(&mut violations, "due_to", query.get("due_to")),
        text: query.get("q").map(|text| text.trim().to_string()).filter(|text| !text.is_empty()),
        parent: parent_filter(&mut violations, query.get("parent_id")),
    };
    let sort = parse_sort(&mut violations, query.get("sort"));
    let after = match query.get("cursor") {
        Some(cursor) => Some(
            decode_cursor(sort, cursor)
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the cursor is not one this API gave"))?,
        ),
        None => None,
    };
    if !violations.is_empty() {
        return Err(ApiError::from(violations));
    }
    let page = app.store.list_tasks(&caller.user_id, &filter, sort, after.as_deref(), limit).await?;
    Ok(Json(TaskList { items: page.items, next_cursor: page.next.map(|position| encode_cursor(sort, &position)) }))
}
