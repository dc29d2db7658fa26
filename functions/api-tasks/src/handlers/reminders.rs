//! `GET/POST /v1/tasks/{id}/reminders`, `DELETE /v1/tasks/{id}/reminders/{rem_id}`. Reminders are
//! kept with their task: adding or removing one is a change of the task (a new version), and its
//! schedule entry is written in the same transaction.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::account::Tier;
use shared::domain::plan::limits;
use shared::domain::reminders::{MAX_PER_TASK, Reminder};
use shared::domain::task::{FieldChange, Task};
use shared::http::openapi::{CallerProblems, IfMatchParam, RequestProblems, TaskIdParam, WriteProblems};
use shared::http::pagination::Page;
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::http::{ApiPath, Id};
use shared::store::Tenant;

use super::{load_for_change, load_task};

/// A reminder as clients see it: what was asked for and when it goes off for the task as it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReminderView {
    id: String,
    task_id: String,
    at: Option<DateTime<Utc>>,
    minutes_before: Option<u32>,
    /// `null` while it cannot go off (relative to a due time the task no longer has).
    fire_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

/// A new reminder: exactly one of `at` and `minutes_before`.
// For the OpenAPI document only: `create` reads its body as JSON (`Reminder::from_request`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[allow(dead_code, reason = "a schema for the OpenAPI document, never built")]
pub struct NewReminder {
    /// An RFC 3339 instant in the future; on a repeating task it moves with each occurrence.
    at: Option<DateTime<Utc>>,
    /// Minutes before the task's due time (the task needs `due_at`), 0 to 40320 (four weeks).
    #[schema(maximum = 40320)]
    minutes_before: Option<u32>,
}

fn view(reminder: &Reminder, task: &Task) -> ReminderView {
    ReminderView {
        id: reminder.id.clone(),
        task_id: task.id.clone(),
        at: reminder.at,
        minutes_before: reminder.minutes_before,
        fire_at: reminder.fire_at(task),
        created_at: reminder.created_at,
    }
}

/// The task's reminders (at most 10: one page holds them all).
#[utoipa::path(get, path = "/v1/tasks/{id}/reminders", tag = "tasks",
    params(TaskIdParam),
    responses(
        (status = 200, description = "Every reminder of the task (`next_cursor` is null)", body = Page<ReminderView>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Json<Page<ReminderView>>, ApiError> {
    let task = load_task(&app, &caller.tenant(), &id).await?;
    let items = task.reminders.iter().map(|reminder| view(reminder, &task)).collect();
    Ok(Json(Page::whole(items)))
}

/// Adds a reminder to the task (a change of the task: a new version).
#[utoipa::path(post, path = "/v1/tasks/{id}/reminders", tag = "tasks",
    request_body = NewReminder,
    params(
        TaskIdParam,
        IfMatchParam
    ),
    responses(
        (status = 201, description = "The reminder created", body = ReminderView),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant();
    let before = current(&app, &tenant, &id, &headers).await?;
    if before.reminders.len() >= MAX_PER_TASK {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "limit_reached",
            format!("reminders: a task has at most {MAX_PER_TASK}; delete one first"),
        )
        .with_extra("limit", serde_json::json!("reminders_per_task")));
    }
    let now = Utc::now();
    let reminder =
        Reminder::from_request(ulid::Ulid::new().to_string(), &body, &before, now).map_err(ApiError::from)?;
    let mut after = next_version(&before, now);
    after.reminders.push(reminder.clone());
    let change = FieldChange { field: "reminders".into(), old: serde_json::Value::Null, new: body };
    save(&app, &tenant, &before, &after, "reminder_added", change).await?;
    Ok((StatusCode::CREATED, Json(view(&reminder, &after))).into_response())
}

/// Removes a reminder from the task (a change of the task: a new version).
#[utoipa::path(delete, path = "/v1/tasks/{id}/reminders/{rem_id}", tag = "tasks",
    params(
        TaskIdParam,
        ("rem_id" = String, Path, description = "The reminder's id"),
        IfMatchParam
    ),
    responses(
        (status = 204, description = "Removed"),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath((id, reminder_id)): ApiPath<(Id, Id)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let tenant = caller.tenant();
    let before = current(&app, &tenant, &id, &headers).await?;
    let removed =
        before.reminders.iter().find(|reminder| reminder.id == reminder_id).ok_or_else(ApiError::not_found)?;
    let change = FieldChange {
        field: "reminders".into(),
        old: serde_json::to_value(removed).unwrap_or_default(),
        new: serde_json::Value::Null,
    };
    let mut after = next_version(&before, Utc::now());
    after.reminders.retain(|reminder| reminder.id != reminder_id);
    save(&app, &tenant, &before, &after, "reminder_removed", change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's task, checked against `If-Match`.
async fn current(app: &Base, tenant: &Tenant, task_id: &str, headers: &HeaderMap) -> Result<Task, ApiError> {
    Ok(load_for_change(app, tenant, task_id, headers).await?.into_task())
}

fn next_version(task: &Task, now: DateTime<Utc>) -> Task {
    Task { version: task.version + 1, updated_at: now, ..task.clone() }
}

async fn save(
    app: &Base,
    tenant: &Tenant,
    before: &Task,
    after: &Task,
    action: &str,
    change: FieldChange,
) -> Result<(), ApiError> {
    // The open-task count does not move: no tier limit applies.
    let no_limit_applies = limits(Tier::default());
    Ok(app.store.tasks().update_task(tenant, before, after, action, &[change], no_limit_applies).await?)
}
