//! `POST /v1/tasks`, `GET/PATCH/DELETE /v1/tasks/{id}`.

use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use shared::AppState;
use shared::domain::task::{Status, Task, TaskFields};
use shared::http::concurrency::if_match_version;
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::store::notes::Note;
use shared::store::tasks::TaskWriteError;

use super::{caller_limits, change_task, limit_reached, load_task, task_response, version_conflict};

pub async fn create(
    State(app): State<AppState>,
    caller: CurrentUser,
    ApiJson(fields): ApiJson<TaskFields>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let (task, _) = Task::new(ulid::Ulid::new().to_string(), now).apply(&fields, now).map_err(ApiError::from)?;
    let task = Task { version: 1, updated_at: now, ..task };
    let limits = caller_limits(&app, &caller.user_id).await?;
    match app.store.create_task(&caller.user_id, &task, limits, vec![]).await {
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
    change_task(&app, &caller.user_id, &id, &headers, |_| fields.clone(), "updated").await
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
        Err(TaskWriteError::LimitReached) => Err(ApiError::internal("trashing never raises a count")),
        Err(TaskWriteError::Store(error)) => Err(error.into()),
    }
}

/// A duplicate is one transaction (at most 100 actions): the task, its activity entry, the count,
/// and the notes.
const MAX_COPIED_NOTES: usize = 97;

/// `POST /v1/tasks/{id}/duplicate`: a new open task with the same fields and copies of the notes.
pub async fn duplicate(
    State(app): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let original = load_task(&app, &caller.user_id, &id).await?;
    let notes = app.store.list_notes(&caller.user_id, &original.id).await?;
    if notes.len() > MAX_COPIED_NOTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_notes",
            format!("a task with more than {MAX_COPIED_NOTES} notes cannot be duplicated in one step"),
        ));
    }
    let now = chrono::Utc::now();
    let copy = Task {
        id: ulid::Ulid::new().to_string(),
        status: Status::Todo,
        completed_at: None,
        archived: false,
        version: 1,
        created_at: now,
        updated_at: now,
        ..original
    };
    let stamp = shared::store::now_rfc3339();
    let mut note_puts = Vec::new();
    for note in notes {
        let copied = Note {
            id: ulid::Ulid::new().to_string(),
            task_id: copy.id.clone(),
            version: 1,
            created_at: stamp.clone(),
            updated_at: stamp.clone(),
            ..note
        };
        note_puts.push(app.store.note_put(&caller.user_id, &copied)?);
    }
    let limits = caller_limits(&app, &caller.user_id).await?;
    match app.store.create_task(&caller.user_id, &copy, limits, note_puts).await {
        Ok(()) => Ok(task_response(StatusCode::CREATED, &copy)),
        Err(TaskWriteError::LimitReached) => Err(limit_reached(limits)),
        Err(TaskWriteError::Store(error)) => Err(error.into()),
        Err(other) => Err(ApiError::internal(other)),
    }
}
