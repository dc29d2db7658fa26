pub mod attachments;
pub mod bulk;
pub mod list;
pub mod notes;
pub mod status;
pub mod tasks;
pub mod trash;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use shared::AppContext;
use shared::domain::task::{FieldChange, Task, TaskFields};
use shared::http::ApiError;
use shared::http::concurrency::{etag, if_match_version};
use shared::store::tasks::{TaskWriteError, TierLimits, limits};

/// A task with its `ETag`.
pub fn task_response(status: StatusCode, task: &Task) -> Response {
    let mut response = (status, Json(task)).into_response();
    response.headers_mut().insert(header::ETAG, etag(task.version));
    response
}

pub fn version_conflict(current: &Task) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "version_conflict",
        format!("the task changed: it is at version {}", current.version),
    )
    .with_extra("current", serde_json::to_value(current).unwrap_or_default())
}

pub fn limit_reached(limits: TierLimits) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "limit_reached",
        format!("open tasks: your plan allows {}; complete, archive or delete some, or upgrade", limits.open_tasks),
    )
}

/// The caller's tier limits (from the profile).
pub async fn caller_limits(app: &AppContext, user_id: &str) -> Result<TierLimits, ApiError> {
    let user = app.store.get_user(user_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(limits(user.tier))
}

/// The caller's live task, or 404 (absent, trashed, or another user's: all alike).
pub async fn load_task(app: &AppContext, user_id: &str, task_id: &str) -> Result<Task, ApiError> {
    if ulid::Ulid::from_string(task_id).is_err() {
        return Err(ApiError::not_found());
    }
    app.store.get_task(user_id, task_id).await?.ok_or_else(ApiError::not_found)
}

/// Applies the fields `fields_for` picks to the caller's task under optimistic concurrency and records `action`.
pub async fn change_task(
    app: &AppContext,
    user_id: &str,
    task_id: &str,
    headers: &HeaderMap,
    fields_for: impl Fn(&Task) -> TaskFields,
    action: &str,
) -> Result<Response, ApiError> {
    let expected = if_match_version(headers)?;
    let before = load_task(app, user_id, task_id).await?;
    if expected.is_some_and(|version| version != before.version) {
        return Err(version_conflict(&before));
    }
    let (after, changes) = before.apply(&fields_for(&before), chrono::Utc::now()).map_err(ApiError::from)?;
    if changes.is_empty() {
        return Ok(task_response(StatusCode::OK, &before));
    }
    save(app, user_id, &before, &after, action, &changes).await?;
    Ok(task_response(StatusCode::OK, &after))
}

async fn save(
    app: &AppContext,
    user_id: &str,
    before: &Task,
    after: &Task,
    action: &str,
    changes: &[FieldChange],
) -> Result<(), ApiError> {
    // The limit matters only when the change reopens a task; read the tier only then.
    let reopens = shared::store::tasks::open_count(after) > shared::store::tasks::open_count(before);
    let limits = if reopens { caller_limits(app, user_id).await? } else { limits(Default::default()) };
    match app.store.update_task(user_id, before, after, action, changes, limits).await {
        Ok(()) => Ok(()),
        Err(TaskWriteError::VersionConflict(current)) => Err(version_conflict(&current)),
        Err(TaskWriteError::NotFound) => Err(ApiError::not_found()),
        Err(TaskWriteError::LimitReached) => Err(limit_reached(limits)),
        Err(TaskWriteError::Store(error)) => Err(error.into()),
    }
}
