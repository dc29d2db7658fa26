//! `POST /v1/tasks/{id}/complete`, `.../uncomplete`, `.../archive`.

use axum::extract::{Path, State};
use axum::response::Response;
use http::HeaderMap;
use shared::Base;
use shared::domain::task::{Status, Task, TaskFields};
use shared::http::{ApiError, CurrentUser};

use super::change_task;

pub async fn complete(
    State(app): State<Base>,
    caller: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let done = |_: &Task| TaskFields { status: Some(Some(Status::Done)), ..TaskFields::default() };
    change_task(&app, &caller.user_id, &id, &headers, done, "completed").await
}

pub async fn uncomplete(
    State(app): State<Base>,
    caller: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Only a done task goes back to todo; an open one stays as it is.
    let reopen = |task: &Task| match task.status {
        Status::Done => TaskFields { status: Some(Some(Status::Todo)), ..TaskFields::default() },
        _ => TaskFields::default(),
    };
    change_task(&app, &caller.user_id, &id, &headers, reopen, "uncompleted").await
}

pub async fn archive(
    State(app): State<Base>,
    caller: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let archived = |_: &Task| TaskFields { archived: Some(Some(true)), ..TaskFields::default() };
    change_task(&app, &caller.user_id, &id, &headers, archived, "archived").await
}
