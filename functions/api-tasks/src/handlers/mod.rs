pub mod attachments;
pub mod bulk;
pub mod create;
pub mod list;
pub mod notes;
pub mod occurrences;
pub mod reminders;
pub mod status;
pub mod subtasks;
pub mod tasks;
pub mod templates;
pub mod trash;

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use shared::Base;
use shared::domain::occurrence::Outcome;
use shared::domain::plan::{limits, may_raise_open_count};
use shared::domain::task::{FieldChange, Status, Task, TaskFields};
use shared::http::ApiError;
pub use shared::http::caller_limits;
use shared::http::concurrency::{self, if_match_version, with_etag};
use shared::store::Tenant;
use shared::store::tasks::TaskItem;

/// A task with its `ETag`.
pub fn task_response(status: StatusCode, task: &Task) -> Response {
    with_etag(status, task, task.version)
}

/// The caller's live task, or 404 (absent, trashed, or another user's: all alike).
pub async fn load_task(app: &Base, tenant: &Tenant, task_id: &str) -> Result<Task, ApiError> {
    Ok(load_task_item(app, tenant, task_id).await?.into_task())
}

/// The caller's live task as stored (with its series), or 404 like `load_task`.
pub async fn load_task_item(app: &Base, tenant: &Tenant, task_id: &str) -> Result<TaskItem, ApiError> {
    if ulid::Ulid::from_string(task_id).is_err() {
        return Err(ApiError::not_found());
    }
    app.store.tasks().get_task_item(tenant, task_id).await?.ok_or_else(ApiError::not_found)
}

/// The caller's live task as stored, for a change: checked against `If-Match` (412 with the
/// current task when it is stale).
pub async fn load_for_change(
    app: &Base,
    tenant: &Tenant,
    task_id: &str,
    headers: &HeaderMap,
) -> Result<TaskItem, ApiError> {
    let expected = if_match_version(headers)?;
    let item = load_task_item(app, tenant, task_id).await?;
    concurrency::check_if_match(expected, &item.task)?;
    Ok(item)
}

/// Applies the fields `fields_for` picks to the caller's task under optimistic concurrency and records `action`.
pub async fn change_task(
    app: &Base,
    tenant: &Tenant,
    task_id: &str,
    headers: &HeaderMap,
    fields_for: impl Fn(&Task) -> TaskFields,
    action: &str,
) -> Result<Response, ApiError> {
    let item = load_for_change(app, tenant, task_id, headers).await?;
    let series = item.series();
    let before = item.into_task();
    let (after, changes) = before.apply(&fields_for(&before), chrono::Utc::now()).map_err(ApiError::from)?;
    if changes.is_empty() {
        return Ok(task_response(StatusCode::OK, &before));
    }
    // Completing a repeating task closes its occurrence and moves it to the next one.
    if let Some(series) = series.filter(|_| after.status == Status::Done && before.status != Status::Done) {
        let current = Task { version: before.version, status: before.status, completed_at: None, ..after };
        return occurrences::close(app, tenant, &before, &current, &series, Outcome::Completed, action).await;
    }
    save(app, tenant, &before, &after, action, &changes).await?;
    // Completing a parent completed its open subtasks too: answer with the counts as they are now.
    let cascaded = after.status == Status::Done && before.subtasks.as_ref().is_some_and(|counts| counts.open > 0);
    let after = if cascaded { app.store.tasks().get_task(tenant, task_id).await?.unwrap_or(after) } else { after };
    Ok(task_response(StatusCode::OK, &after))
}

async fn save(
    app: &Base,
    tenant: &Tenant,
    before: &Task,
    after: &Task,
    action: &str,
    changes: &[FieldChange],
) -> Result<(), ApiError> {
    // The limit matters only when the change can reopen a task; read the tier only then.
    let limits = if may_raise_open_count(before, after) {
        caller_limits(app, tenant.actor()).await?
    } else {
        limits(Default::default())
    };
    app.store.tasks().update_task(tenant, before, after, action, changes, limits).await.map_err(ApiError::from)
}
