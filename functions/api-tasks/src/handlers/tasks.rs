//! `POST /v1/tasks`, `GET/PATCH/DELETE /v1/tasks/{id}`.

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use shared::Base;
use shared::domain::note::Note;
use shared::domain::task::{Status, SubtaskCounts, Task, TaskFields};
use shared::http::concurrency::created;
use shared::http::openapi::{CallerProblems, IfMatchParam, RequestProblems, TaskIdParam, WriteProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::http::{ApiPath, Id};

use super::{caller_limits, change_task, load_for_change, load_task, task_response};

/// One task of the caller.
#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks",
    params(TaskIdParam),
    responses(
        (status = 200, description = "The task", body = Task,
            headers(("ETag" = String, description = "The task's version"))),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn get(State(app): State<Base>, caller: CurrentUser, ApiPath(id): ApiPath<Id>) -> Result<Response, ApiError> {
    let task = load_task(&app, &caller.tenant(), &id).await?;
    Ok(task_response(StatusCode::OK, &task))
}

/// Changes the fields sent: absent means unchanged, null means cleared.
#[utoipa::path(patch, path = "/v1/tasks/{id}", tag = "tasks",
    request_body = TaskFields,
    params(
        TaskIdParam,
        IfMatchParam
    ),
    responses(
        (status = 200, description = "The task as it is now", body = Task,
            headers(("ETag" = String, description = "The task's version"))),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn patch(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
    ApiJson(fields): ApiJson<TaskFields>,
) -> Result<Response, ApiError> {
    change_task(&app, &caller.tenant(), &id, &headers, |_| fields.clone(), "updated").await
}

/// Moves the task to the trash, restorable for 7 days.
#[utoipa::path(delete, path = "/v1/tasks/{id}", tag = "tasks",
    params(
        TaskIdParam,
        IfMatchParam
    ),
    responses(
        (status = 204, description = "Moved to the trash"),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let tenant = caller.tenant();
    let task = load_for_change(&app, &tenant, &id, &headers).await?.into_task();
    app.store.trash().trash_task(&tenant, &task).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Duplicates a task, with its subtasks and notes.
///
/// `POST /v1/tasks/{id}/duplicate`: a new open task with the same fields, copies of its subtasks
/// (reopened) and of its notes, in one transaction; one that would take more than 100 writes is
/// refused with 422 `too_large` and writes nothing.
#[utoipa::path(post, path = "/v1/tasks/{id}/duplicate", tag = "tasks",
    params(TaskIdParam),
    responses(
        (status = 201, description = "The copy", body = Task,
            headers(("ETag" = String, description = "The copy's version"))),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn duplicate(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant();
    let original = load_task(&app, &tenant, &id).await?;
    let notes = app.store.notes().list_notes(&tenant, &original.id).await?;
    let subtasks = app.store.tasks().list_subtasks(&tenant, &original).await?;
    let now = chrono::Utc::now();
    // A subtask's copy is a sibling under the same parent; a parent's copy brings copies of its subtasks.
    // Ids from one monotonic generator keep the subtasks' order (lists sort by id).
    let mut ids = ulid::Generator::new();
    let mut new_id = || ids.generate().map(|id| id.to_string()).unwrap_or_else(|_| ulid::Ulid::new().to_string());
    let mut copy = fresh_copy(&original, new_id(), original.parent_id.as_deref(), now);
    let subtask_copies: Vec<Task> =
        subtasks.iter().map(|subtask| fresh_copy(subtask, new_id(), Some(&copy.id), now)).collect();
    if copy.parent_id.is_none() {
        let ids = subtask_copies.iter().map(|subtask| subtask.id.clone()).collect();
        copy.subtasks = Some(SubtaskCounts { open: subtask_copies.len() as u64, done: 0, ids });
    }
    let stamp = shared::store::now_rfc3339();
    let note_copies: Vec<Note> = notes
        .into_iter()
        .map(|note| Note {
            id: ulid::Ulid::new().to_string(),
            task_id: copy.id.clone(),
            version: 1,
            created_at: stamp.clone(),
            updated_at: stamp.clone(),
            ..note
        })
        .collect();
    let limits = caller_limits(&app, &caller.user_id).await?;
    app.store.tasks().create_task(&tenant, &copy, &subtask_copies, limits, &note_copies).await?;
    Ok(created(&format!("/v1/tasks/{}", copy.id), &copy))
}

/// A new open copy of `task` with the new `id`, under `parent_id`.
fn fresh_copy(task: &Task, id: String, parent_id: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Task {
    Task {
        id,
        status: Status::Todo,
        completed_at: None,
        archived: false,
        version: 1,
        created_at: now,
        updated_at: now,
        parent_id: parent_id.map(String::from),
        subtasks: None,
        reminders: Vec::new(),
        // A copy is not planned: its blocks would double-book the original's time.
        scheduled_blocks: Vec::new(),
        ..task.clone()
    }
}
