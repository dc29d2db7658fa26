//! `POST /v1/tasks`, `GET/PATCH/DELETE /v1/tasks/{id}`.

use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use shared::AppState;
use shared::domain::task::{Task, TaskFields};
use shared::http::concurrency::if_match_version;
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::store::tasks::TaskWriteError;

use super::{
    caller_limits, change_task, invalid, limit_reached, load_task, task_response, version_conflict,
};

pub async fn create(
    State(app): State<AppState>,
    caller: CurrentUser,
    ApiJson(fields): ApiJson<TaskFields>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let (task, _) = Task::new(ulid::Ulid::new().to_string(), now)
        .apply(&fields, now)
        .map_err(invalid)?;
    let task = Task {
        version: 1,
        updated_at: now,
        ..task
    };
    let limits = caller_limits(&app, &caller.user_id).await?;
    match app.store.create_task(&caller.user_id, &task, limits).await {
        Ok(()) => {}
        Err(TaskWriteError::LimitReached) => return Err(limit_reached(limits)),
        Err(TaskWriteError::Store(error)) => return Err(error.into()),
        Err(other) => return Err(ApiError::internal(other)),
    }
    let mut response = task_response(StatusCode::CREATED, &task);
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/tasks/{}", task.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub async fn get(
    State(app): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let task = load_task(&app, &caller.user_id, &id).await?;
    Ok(task_response(StatusCode::OK, &task))
}

pub async fn patch(
    State(app): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(fields): ApiJson<TaskFields>,
) -> Result<Response, ApiError> {
    change_task(
        &app,
        &caller.user_id,
        &id,
        &headers,
        |_| fields.clone(),
        "updated",
    )
    .await
}

/// Moves the task to the trash, restorable for 7 days.
pub async fn delete(
    State(app): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match_version(&headers)?;
    let task = load_task(&app, &caller.user_id, &id).await?;
    if expected.is_some_and(|version| version != task.version) {
        return Err(version_conflict(&task));
    }
    match app.store.trash_task(&caller.user_id, &task).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(TaskWriteError::VersionConflict(current)) => Err(version_conflict(&current)),
        Err(TaskWriteError::NotFound) => Err(ApiError::not_found()),
        Err(TaskWriteError::LimitReached) => {
            Err(ApiError::internal("trashing never raises a count"))
        }
        Err(TaskWriteError::Store(error)) => Err(error.into()),
    }
}
