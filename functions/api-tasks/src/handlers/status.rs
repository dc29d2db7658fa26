//! `POST /v1/tasks/{id}/complete`, `.../uncomplete`, `.../archive`.

use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;
use shared::Base;
use shared::domain::task::{Status, Task, TaskFields};
use shared::http::openapi::{CallerProblems, IfMatchParam, RequestProblems, TaskIdParam, WriteProblems};
use shared::http::{ApiError, CurrentUser};
use shared::http::{ApiPath, Id};

use super::change_task;

/// Marks the task done (its open subtasks too); a repeating task moves on to its next occurrence.
#[utoipa::path(post, path = "/v1/tasks/{id}/complete", tag = "tasks",
    params(
        TaskIdParam,
        IfMatchParam
    ),
    responses(
        (status = 200, description = "The task as it is now (a repeating one at its next occurrence)", body = Task,
            headers(("ETag" = String, description = "The task's version"))),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn complete(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let done = |_: &Task| TaskFields { status: Some(Some(Status::Done)), ..TaskFields::default() };
    change_task(&app, &caller.tenant(), &id, &headers, done, "completed").await
}

/// Reopens a done task (back to `todo`); an open task is left as it is.
#[utoipa::path(post, path = "/v1/tasks/{id}/uncomplete", tag = "tasks",
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
pub async fn uncomplete(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Only a done task goes back to todo; an open one stays as it is.
    let reopen = |task: &Task| match task.status {
        Status::Done => TaskFields { status: Some(Some(Status::Todo)), ..TaskFields::default() },
        _ => TaskFields::default(),
    };
    change_task(&app, &caller.tenant(), &id, &headers, reopen, "uncompleted").await
}

/// Archives the task.
#[utoipa::path(post, path = "/v1/tasks/{id}/archive", tag = "tasks",
    params(
        TaskIdParam,
        IfMatchParam
    ),
    responses(
        (status = 200, description = "The task, archived", body = Task,
            headers(("ETag" = String, description = "The task's version"))),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn archive(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let archived = |_: &Task| TaskFields { archived: Some(Some(true)), ..TaskFields::default() };
    change_task(&app, &caller.tenant(), &id, &headers, archived, "archived").await
}
