//! `GET/POST /v1/tasks/{id}/notes`, `PATCH/DELETE /v1/tasks/{id}/notes/{note_id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use shared::Base;
use shared::domain::Violations;
use shared::http::concurrency::{etag, if_match_version};
use shared::http::pagination::Page;
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::store::notes::{Note, NoteError, validate_body};

use super::load_task;

#[derive(Debug, Deserialize)]
pub struct NoteBody {
    body: Option<String>,
}

fn valid_body(request: &NoteBody) -> Result<String, ApiError> {
    let mut violations = Violations::new();
    match request.body.as_deref() {
        Some(body) => violations.check("body", validate_body(body)),
        None => violations.add("body", "is required"),
    }
    violations.finish(request.body.clone().unwrap_or_default().trim().to_string()).map_err(ApiError::from)
}

fn note_response(status: StatusCode, note: &Note) -> Response {
    let mut response = (status, Json(note)).into_response();
    response.headers_mut().insert(header::ETAG, etag(note.version));
    response
}

fn note_error(error: NoteError) -> ApiError {
    match error {
        NoteError::NotFound => ApiError::not_found(),
        NoteError::VersionConflict(current) => ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "version_conflict",
            format!("the note changed: it is at version {}", current.version),
        )
        .with_extra("current", serde_json::to_value(current.as_ref()).unwrap_or_default()),
        NoteError::Store(error) => error.into(),
    }
}

async fn load_note(app: &Base, user_id: &str, task_id: &str, note_id: &str) -> Result<Note, ApiError> {
    load_task(app, user_id, task_id).await?;
    app.store.get_note(user_id, task_id, note_id).await?.ok_or_else(ApiError::not_found)
}

pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Page<Note>>, ApiError> {
    let task = load_task(&app, &caller.user_id, &id).await?;
    let items = app.store.list_notes(&caller.user_id, &task.id).await?;
    Ok(Json(Page::whole(items)))
}

pub async fn create(
    State(app): State<Base>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<NoteBody>,
) -> Result<Response, ApiError> {
    let body = valid_body(&request)?;
    let task = load_task(&app, &caller.user_id, &id).await?;
    let now = shared::store::now_rfc3339();
    let note = Note {
        id: ulid::Ulid::new().to_string(),
        task_id: task.id,
        body,
        version: 1,
        created_at: now.clone(),
        updated_at: now,
    };
    app.store.add_note(&caller.user_id, &note).await.map_err(note_error)?;
    Ok(note_response(StatusCode::CREATED, &note))
}

pub async fn edit(
    State(app): State<Base>,
    caller: CurrentUser,
    Path((id, note_id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<NoteBody>,
) -> Result<Response, ApiError> {
    let expected = if_match_version(&headers)?;
    let body = valid_body(&request)?;
    let note = load_note(&app, &caller.user_id, &id, &note_id).await?;
    if expected.is_some_and(|version| version != note.version) {
        return Err(note_error(NoteError::VersionConflict(Box::new(note))));
    }
    let edited = app.store.edit_note(&caller.user_id, &note, &body).await.map_err(note_error)?;
    Ok(note_response(StatusCode::OK, &edited))
}

pub async fn delete(
    State(app): State<Base>,
    caller: CurrentUser,
    Path((id, note_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match_version(&headers)?;
    let note = load_note(&app, &caller.user_id, &id, &note_id).await?;
    if expected.is_some_and(|version| version != note.version) {
        return Err(note_error(NoteError::VersionConflict(Box::new(note))));
    }
    app.store.delete_note(&caller.user_id, &note).await.map_err(note_error)?;
    Ok(StatusCode::NO_CONTENT)
}
