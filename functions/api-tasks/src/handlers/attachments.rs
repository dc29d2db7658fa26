//! `GET/POST /v1/tasks/{id}/attachments`, `DELETE /v1/tasks/{id}/attachments/{att_id}`.
//! The file goes straight from the client to S3 through a presigned PUT that signs its content
//! type and length: S3 refuses an upload of another type or size.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::domain::attachment::{Attachment, MAX_ATTACHMENT_BYTES, validate_content_type, validate_filename};
use shared::http::openapi::{CallerProblems, RequestProblems, TaskIdParam, WriteProblems};
use shared::http::pagination::Page;
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::http::{ApiPath, Id};
use shared::integrations::files::Files;
use shared::store::attachments::object_key;

use super::{caller_limits, load_task};

const UPLOAD: Duration = Duration::from_secs(15 * 60);
const DOWNLOAD: Duration = Duration::from_secs(5 * 60);

/// The file to attach, as the upload will send it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAttachment {
    /// 1 to 255 characters, no slashes or control characters.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 255)]
    filename: Option<String>,
    /// A media type such as `image/png` (at most 127 characters).
    #[schema(required = true, value_type = String, max_length = 127)]
    content_type: Option<String>,
    /// 1 byte to 25 MB.
    #[schema(required = true, value_type = u64, minimum = 1, maximum = 26214400)]
    size_bytes: Option<u64>,
}

/// The presigned request that uploads the file to storage.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Upload {
    /// Always `PUT`.
    #[schema(value_type = String, example = "PUT")]
    method: &'static str,
    url: String,
    /// Send exactly these headers with the PUT.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    headers: serde_json::Map<String, serde_json::Value>,
    /// After this (15 minutes) the URL is refused.
    expires_at: String,
}

/// The attachment's record with the upload to make.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAttachment {
    #[serde(flatten)]
    attachment: Attachment,
    upload: Upload,
}

/// An attachment with a presigned download URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    #[serde(flatten)]
    attachment: Attachment,
    download_url: String,
    /// After this (5 minutes) the URL is refused.
    download_expires_at: String,
}

fn expires_in(duration: Duration) -> String {
    (chrono::Utc::now() + duration).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn validate(request: &NewAttachment) -> Result<(String, String, u64), ApiError> {
    let mut violations = Violations::new();
    let filename = request.filename.clone().unwrap_or_default();
    violations.check("filename", validate_filename(&filename));
    let content_type = request.content_type.clone().unwrap_or_default();
    violations.check("content_type", validate_content_type(&content_type));
    let size = request.size_bytes.unwrap_or(0);
    if !(1..=MAX_ATTACHMENT_BYTES).contains(&size) {
        violations.add("size_bytes", format!("must be from 1 to {MAX_ATTACHMENT_BYTES} bytes (25 MB)"));
    }
    violations.finish((filename, content_type, size)).map_err(ApiError::from)
}

/// Records an attachment and answers with a presigned upload (the file goes straight to storage).
#[utoipa::path(post, path = "/v1/tasks/{id}/attachments", tag = "tasks",
    request_body = NewAttachment,
    params(TaskIdParam),
    responses(
        (status = 201, description = "The attachment, with the upload to make", body = CreatedAttachment),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Base>,
    State(files): State<Files>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    ApiJson(request): ApiJson<NewAttachment>,
) -> Result<(StatusCode, Json<CreatedAttachment>), ApiError> {
    let (filename, content_type, size_bytes) = validate(&request)?;
    let tenant = caller.tenant();
    let (task, limits) = tokio::try_join!(load_task(&app, &tenant, &id), caller_limits(&app, &caller.user_id))?;
    let attachment_id = ulid::Ulid::new().to_string();
    let attachment = Attachment {
        object_key: object_key(&tenant, &task.id, &attachment_id),
        id: attachment_id,
        task_id: task.id,
        filename,
        content_type,
        size_bytes,
        created_at: shared::store::now_rfc3339(),
    };
    let presigned = files
        .upload(&attachment.object_key, &attachment.content_type, attachment.size_bytes, UPLOAD)
        .await
        .map_err(ApiError::internal)?;
    app.store.attachments().add_attachment(&tenant, &attachment, limits).await?;
    let headers = presigned.headers.into_iter().map(|(name, value)| (name, value.into())).collect();
    let upload = Upload { method: "PUT", url: presigned.url, headers, expires_at: expires_in(UPLOAD) };
    Ok((StatusCode::CREATED, Json(CreatedAttachment { attachment, upload })))
}

/// The task's attachments, each with a download URL.
#[utoipa::path(get, path = "/v1/tasks/{id}/attachments", tag = "tasks",
    params(TaskIdParam),
    responses(
        (status = 200, description = "Every attachment of the task (`next_cursor` is null)", body = Page<AttachmentView>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    State(files): State<Files>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Json<Page<AttachmentView>>, ApiError> {
    let tenant = caller.tenant();
    let task = load_task(&app, &tenant, &id).await?;
    let mut items = Vec::new();
    for attachment in app.store.attachments().list_attachments(&tenant, &task.id).await? {
        let download_url =
            files.download(&attachment.object_key, &attachment.filename, DOWNLOAD).await.map_err(ApiError::internal)?;
        items.push(AttachmentView { attachment, download_url, download_expires_at: expires_in(DOWNLOAD) });
    }
    Ok(Json(Page::whole(items)))
}

/// Deletes an attachment.
///
/// Removes the file, then the record (a failed S3 call leaves the record for a retry).
#[utoipa::path(delete, path = "/v1/tasks/{id}/attachments/{att_id}", tag = "tasks",
    params(
        TaskIdParam,
        ("att_id" = String, Path, description = "The attachment's id")
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
    State(files): State<Files>,
    caller: CurrentUser,
    ApiPath((id, attachment_id)): ApiPath<(Id, Id)>,
) -> Result<StatusCode, ApiError> {
    let tenant = caller.tenant();
    let task = load_task(&app, &tenant, &id).await?;
    let attachment = app
        .store
        .attachments()
        .get_attachment(&tenant, &task.id, &attachment_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    files.delete(&attachment.object_key).await.map_err(ApiError::internal)?;
    if !app.store.attachments().delete_attachment(&tenant, &attachment).await? {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
