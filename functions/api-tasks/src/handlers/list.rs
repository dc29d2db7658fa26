//! `GET /v1/tasks`: filters, newest first, cursor pages.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use shared::Base;
use shared::domain::Violations;
use shared::domain::task::{Priority, Status, Task};
use shared::http::openapi::{CallerProblems, RequestProblems};
use shared::http::pagination::{Page, PageRequest};
use shared::http::{ApiError, ApiQuery, CurrentUser};
use shared::store::tasks::{ParentFilter, TaskFilter, TaskSort};

/// DynamoDB refuses an `IN` of more than 100 values; no filter here comes near it.
const MAX_FILTER_VALUES: usize = 20;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// 1 to 200 (50 when absent).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page (of the same `sort`).
    cursor: Option<String>,
    /// Comma-separated statuses, any of `todo`, `in_progress`, `done`, `cancelled` (at most 20):
    /// `todo,in_progress`.
    #[param(value_type = Option<String>)]
    status: Option<String>,
    /// Comma-separated priorities, any of `low`, `medium`, `high`, `urgent` (at most 20):
    /// `high,urgent`.
    #[param(value_type = Option<String>)]
    priority: Option<String>,
    /// Tasks that have this label.
    label: Option<String>,
    /// Tasks of this category (exact).
    category: Option<String>,
    /// `true`: archived tasks only; `false` (the default): unarchived ones.
    #[param(value_type = Option<bool>)]
    archived: Option<String>,
    /// Due on or after: a date (`2026-12-01`) or an RFC 3339 instant.
    #[param(value_type = Option<String>)]
    due_from: Option<String>,
    /// Due before (exclusive): a date (`2026-12-01`) or an RFC 3339 instant.
    #[param(value_type = Option<String>)]
    due_to: Option<String>,
    /// Text searched for in the title and description (case-insensitive).
    q: Option<String>,
    /// A task id: that task's subtasks; `none`: top-level tasks only.
    parent_id: Option<String>,
    /// `created` (the default), `due`, `priority` or `updated`.
    #[param(value_type = Option<String>)]
    sort: Option<String>,
}

/// A comma-separated list of names, each one of `all` (named by `name`); what is not is named
/// in `violations`.
fn list_of<T: Copy>(
    violations: &mut Violations,
    field: &str,
    value: Option<&String>,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Vec<T> {
    let Some(text) = value else { return Vec::new() };
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() > MAX_FILTER_VALUES {
        violations.add(field, format!("takes at most {MAX_FILTER_VALUES} values"));
    }
    let mut found = Vec::new();
    for part in parts {
        match all.iter().find(|option| name(**option) == part) {
            Some(option) => found.push(*option),
            None => {
                let names: Vec<&str> = all.iter().map(|option| name(*option)).collect();
                violations.add(field, format!("{part:?} is not one of {}", names.join(", ")));
            }
        }
    }
    found
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

fn parse_sort(violations: &mut Violations, value: Option<&String>) -> TaskSort {
    let Some(name) = value else { return TaskSort::Created };
    TaskSort::ALL.into_iter().find(|sort| sort.name() == name).unwrap_or_else(|| {
        violations.add("sort", "must be one of created, due, priority, updated");
        TaskSort::Created
    })
}

/// A cursor names its order and where the page ended, so it cannot be used with another order.
fn valid_position(position: &str) -> bool {
    position.rsplit('#').next().is_some_and(|task_id| ulid::Ulid::from_string(task_id).is_ok())
}

/// The caller's tasks, filtered and sorted, one page at a time.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(TaskQuery),
    responses(
        (status = 200, description = "One page of tasks", body = Page<Task>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<TaskQuery>,
) -> Result<Json<Page<Task>>, ApiError> {
    let mut violations = Violations::new();
    let archived = match query.archived.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            violations.add("archived", "must be true or false");
            false
        }
    };
    let filter = TaskFilter {
        statuses: list_of(&mut violations, "status", query.status.as_ref(), &Status::ALL, Status::as_str),
        priorities: list_of(&mut violations, "priority", query.priority.as_ref(), &Priority::ALL, Priority::as_str),
        label: query.label.clone(),
        category: query.category.clone(),
        archived,
        due_from: due_bound(&mut violations, "due_from", query.due_from.as_ref()),
        due_to: due_bound(&mut violations, "due_to", query.due_to.as_ref()),
        text: query.q.as_deref().map(str::trim).filter(|text| !text.is_empty()).map(String::from),
        parent: parent_filter(&mut violations, query.parent_id.as_ref()),
    };
    let sort = parse_sort(&mut violations, query.sort.as_ref());
    let list = sort.name();
    let page =
        PageRequest::read(&mut violations, query.limit.as_deref(), query.cursor.as_deref(), list, valid_position)?;
    if !violations.is_empty() {
        return Err(ApiError::from(violations));
    }
    let found =
        app.store.tasks().list_tasks(&caller.tenant(), &filter, sort, page.after.as_deref(), page.limit).await?;
    Ok(Json(Page::new(found.items, list, found.next.as_deref())))
}
