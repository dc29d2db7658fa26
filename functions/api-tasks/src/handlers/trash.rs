//! `GET /v1/trash` and `POST /v1/trash/{id}/restore`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;
use shared::Base;
use shared::http::pagination::Page;
use shared::http::{ApiError, CurrentUser};
use shared::store::trash::RestoreError;

use super::{caller_limits, limit_reached, task_response};

#[derive(Debug, Serialize)]
pub struct TrashEntry {
    id: String,
    title: String,
    trashed_at: String,
    /// After this the task is gone for good.
    expires_at: String,
}

pub async fn list(State(app): State<Base>, caller: CurrentUser) -> Result<Json<Page<TrashEntry>>, ApiError> {
    let entries = app.store.list_trash(&caller.user_id).await?;
    let items = entries
        .into_iter()
        .map(|entry| TrashEntry {
            id: entry.task_id,
            title: entry.title,
            trashed_at: entry.trashed_at,
            expires_at: chrono::DateTime::from_timestamp(entry.expires_at, 0)
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
        })
        .collect();
    Ok(Json(Page::whole(items)))
}

pub async fn restore(
    State(app): State<Base>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if ulid::Ulid::from_string(&id).is_err() {
        return Err(ApiError::not_found());
    }
    let limits = caller_limits(&app, &caller.user_id).await?;
    match app.store.restore_task(&caller.user_id, &id, limits).await {
        Ok(task) => Ok(task_response(StatusCode::OK, &task)),
        Err(RestoreError::NotFound) => Err(ApiError::not_found()),
        Err(RestoreError::NotInTrash) => Err(ApiError::conflict("not_in_trash", "this task is not in the trash")),
        Err(RestoreError::Expired) => Err(ApiError::new(
            StatusCode::GONE,
            "trash_expired",
            "this task was deleted more than 7 days ago and cannot be restored",
        )),
        Err(RestoreError::LimitReached(limit)) => Err(limit_reached(limits, limit)),
        Err(RestoreError::ParentInTrash) => Err(ApiError::conflict(
            "parent_in_trash",
            "this subtask's parent is in the trash: restore the parent, and its subtasks come back with it",
        )),
        Err(RestoreError::Store(error)) => Err(error.into()),
    }
}
