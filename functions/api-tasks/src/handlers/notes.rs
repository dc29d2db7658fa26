//! `GET/POST /v1/tasks/{id}/notes`, `PATCH/DELETE /v1/tasks/{id}/notes/{note_id}`.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use shared::Base;
use shared::domain::Violations;
use shared::domain::note::{Note, validate_body};
use shared::http::concurrency::{check_if_match, created, if_match_version, with_etag};
use shared::http::openapi::{CallerProblems, IfMatchParam, RequestProblems, TaskIdParam, WriteProblems};
use shared::http::pagination::Page;
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::http::{ApiPath, Id};
use shared::store::Tenant;

use super::{caller_limits, load_task};

/// A note's text, on create and edit alike.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NoteBody {
    /// Required: 1 to 10,000 characters once trimmed.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 10000)]
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
    with_etag(status, note, note.version)
}

async fn load_note(app: &Base, tenant: &Tenant, task_id: &str, note_id: &str) -> Result<Note, ApiError> {
    load_task(app, tenant, task_id).await?;
    app.store.notes().get_note(tenant, task_id, note_id).await?.ok_or_else(ApiError::not_found)
}

/// The task's notes.
#[utoipa::path(get, path = "/v1/tasks/{id}/notes", tag = "tasks",
    params(TaskIdParam),
    responses(
        (status = 200, description = "Every note of the task (`next_cursor` is null)", body = Page<Note>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Json<Page<Note>>, ApiError> {
    let tenant = caller.tenant();
    let task = load_task(&app, &tenant, &id).await?;
    let items = app.store.notes().list_notes(&tenant, &task.id).await?;
    Ok(Json(Page::whole(items)))
}

/// Adds a note to the task.
#[utoipa::path(post, path = "/v1/tasks/{id}/notes", tag = "tasks",
    request_body = NoteBody,
    params(TaskIdParam),
    responses(
        (status = 201, description = "The note created", body = Note,
            headers(("ETag" = String, description = "The note's version"))),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    ApiJson(request): ApiJson<NoteBody>,
) -> Result<Response, ApiError> {
    let body = valid_body(&request)?;
    let tenant = caller.tenant();
    let (task, limits) = tokio::try_join!(load_task(&app, &tenant, &id), caller_limits(&app, &caller.user_id))?;
    let now = shared::store::now_rfc3339();
    let note = Note {
        id: ulid::Ulid::new().to_string(),
        task_id: task.id,
        body,
        version: 1,
        created_at: now.clone(),
        updated_at: now,
    };
    app.store.notes().add_note(&tenant, &note, limits).await?;
    Ok(created(&format!("/v1/tasks/{}/notes/{}", note.task_id, note.id), &note))
}

/// Replaces a note's text.
#[utoipa::path(patch, path = "/v1/tasks/{id}/notes/{note_id}", tag = "tasks",
    request_body = NoteBody,
    params(
        TaskIdParam,
        ("note_id" = String, Path, description = "The note's id"),
        IfMatchParam
    ),
    responses(
        (status = 200, description = "The note as edited", body = Note,
            headers(("ETag" = String, description = "The note's version"))),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn edit(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath((id, note_id)): ApiPath<(Id, Id)>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<NoteBody>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant();
    let expected = if_match_version(&headers)?;
    let body = valid_body(&request)?;
    let note = load_note(&app, &tenant, &id, &note_id).await?;
    check_if_match(expected, &note)?;
    let edited = app.store.notes().edit_note(&tenant, &note, &body).await?;
    Ok(note_response(StatusCode::OK, &edited))
}

/// Deletes a note.
#[utoipa::path(delete, path = "/v1/tasks/{id}/notes/{note_id}", tag = "tasks",
    params(
        TaskIdParam,
        ("note_id" = String, Path, description = "The note's id"),
        IfMatchParam
    ),
    responses(
        (status = 204, description = "Deleted"),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath((id, note_id)): ApiPath<(Id, Id)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let tenant = caller.tenant();
    let expected = if_match_version(&headers)?;
    let note = load_note(&app, &tenant, &id, &note_id).await?;
    check_if_match(expected, &note)?;
    app.store.notes().delete_note(&tenant, &note).await?;
    Ok(StatusCode::NO_CONTENT)
}
