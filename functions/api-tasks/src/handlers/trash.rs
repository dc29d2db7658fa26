//! `GET /v1/trash` and `POST /v1/trash/{id}/restore`.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;
use shared::Base;
use shared::domain::calendar::Event;
use shared::domain::task::Task;
use shared::http::concurrency::with_etag;
use shared::http::openapi::{CallerProblems, Problem, RequestProblems, WriteProblems};
use shared::http::pagination::{Page, PageQuery};
use shared::http::{ApiError, ApiQuery, CurrentUser};
use shared::http::{ApiPath, Id};
use shared::store::trash::{RestoreError, TrashKind, is_trash_position};

use super::{caller_limits, task_response};

/// A task or a calendar event in the trash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrashEntry {
    /// The task's or event's id.
    id: String,
    /// `task` or `event`.
    #[schema(value_type = String)]
    kind: TrashKind,
    title: String,
    trashed_at: String,
    /// After this the task is gone for good.
    expires_at: String,
}

/// The caller's trashed tasks and calendar events, restorable for 7 days, most recently trashed first.
#[utoipa::path(get, path = "/v1/trash", tag = "trash", params(PageQuery),
    responses(
        (status = 200, description = "One page of the trash", body = Page<TrashEntry>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<TrashEntry>>, ApiError> {
    let request = query.page("trash", is_trash_position)?;
    let page = app.store.trash().list_trash(&caller.tenant(), request.after.as_deref(), request.limit).await?;
    let items = page
        .items
        .into_iter()
        .map(|entry| TrashEntry {
            id: entry.task_id,
            kind: entry.kind,
            title: entry.title,
            trashed_at: entry.trashed_at,
            expires_at: chrono::DateTime::from_timestamp(entry.expires_at, 0)
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
        })
        .collect();
    Ok(Json(Page::new(items, "trash", page.next.as_deref())))
}

/// What a restore gives back: the schema of the answer only (the handler answers the task or the
/// event with its ETag directly).
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Restored {
    Task(Task),
    Event(Event),
}

/// Restores a trashed task (with its subtasks) or calendar event.
#[utoipa::path(post, path = "/v1/trash/{id}/restore", tag = "trash",
    params(("id" = String, Path, description = "The trashed task's or event's id")),
    responses(
        (status = 200, description = "The task or event, restored", body = Restored,
            headers(("ETag" = String, description = "Its version"))),
        (status = 410, description = "trash_expired: deleted more than 7 days ago", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn restore(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Response, ApiError> {
    let limits = caller_limits(&app, &caller.user_id).await?;
    let tenant = caller.tenant();
    let restored = match app.store.trash().restore_task(&tenant, &id, limits).await {
        Ok(task) => return Ok(task_response(StatusCode::OK, &task)),
        // Not a task: an event, perhaps (one more read, for events only).
        Err(RestoreError::NotFound) => match app.store.events().restore_event(&tenant, &id, limits).await {
            Ok(event) => return Ok(with_etag(StatusCode::OK, &event, event.version)),
            Err(error) => error,
        },
        Err(error) => error,
    };
    match restored {
        RestoreError::NotFound => Err(ApiError::not_found()),
        RestoreError::NotInTrash => Err(ApiError::conflict("not_in_trash", "this is not in the trash")),
        RestoreError::Expired => Err(ApiError::new(
            StatusCode::GONE,
            "trash_expired",
            "this was deleted more than 7 days ago and cannot be restored",
        )),
        RestoreError::LimitReached(reached) => Err(ApiError::limit_reached(reached)),
        RestoreError::ParentInTrash => Err(ApiError::conflict(
            "parent_in_trash",
            "this subtask's parent is in the trash: restore the parent, and its subtasks come back with it",
        )),
        RestoreError::Store(error) => Err(error.into()),
    }
}
