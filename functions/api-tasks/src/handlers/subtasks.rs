//! `GET/POST /v1/tasks/{id}/subtasks`: a task's subtasks, one level deep.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use shared::Base;
use shared::domain::task::{Task, TaskFields};
use shared::http::openapi::{CallerProblems, RequestProblems, WriteProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};

use super::load_task;
use shared::http::pagination::Page;
use shared::http::{ApiPath, Id};

use super::create::create_task;

/// The live subtasks, oldest first (at most 50: one page holds them all).
#[utoipa::path(get, path = "/v1/tasks/{id}/subtasks", tag = "tasks",
    params(("id" = String, Path, description = "The parent task's id")),
    responses(
        (status = 200, description = "Every live subtask (`next_cursor` is null)", body = Page<Task>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Json<Page<Task>>, ApiError> {
    let tenant = caller.tenant();
    let parent = load_task(&app, &tenant, &id).await?;
    let items = app.store.tasks().list_subtasks(&tenant, &parent).await?;
    Ok(Json(Page::whole(items)))
}

/// A new subtask under the task of the path (`parent_id` in the body, if any, must name it).
#[utoipa::path(post, path = "/v1/tasks/{id}/subtasks", tag = "tasks",
    request_body = TaskFields,
    params(("id" = String, Path, description = "The parent task's id")),
    responses(
        (status = 201, description = "The subtask created", body = Task,
            headers(
                ("ETag" = String, description = "The subtask's version"),
                ("Location" = String, description = "The subtask's URL: `/v1/tasks/{id}`")
            )),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    ApiJson(mut fields): ApiJson<TaskFields>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant();
    let parent = load_task(&app, &tenant, &id).await?;
    if fields.parent_id.take().flatten().is_some_and(|parent_id| parent_id != id) {
        return Err(ApiError::bad_request("parent_mismatch", "parent_id differs from the task of the path"));
    }
    create_task(&app, &tenant, fields, Some(&parent)).await
}
