//! `GET/POST /v1/tasks/{id}/attachments`, `DELETE /v1/tasks/{id}/attachments/{att_id}`.
//! The file goes straight from the client to S3 through a presigned PUT that signs its content
//! type and length: S3 refuses an upload of another type or size.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::http::pagination::Page;
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::integrations::files::Files;
use shared::store::attachments::{
    Attachment, MAX_ATTACHMENT_BYTES, object_key, validate_content_type, validate_filename,
};

use super::load_task;

const UPLOAD: Duration = Duration::from_secs(15 * 60);
const DOWNLOAD: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Deserialize)]
pub struct NewAttachment {
    filename: Option<String>,
    content_type: Option<String>,
    size_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Upload {
    method: &'static str,
    url: String,
    /// Send exactly these headers with the PUT.
    headers: serde_json::Map<String, serde_json::Value>,
    expires_at: String,
}

#[derive(Debug, Serialize)]
pub struct CreatedAttachment {
    #[serde(flatten)]
    attachment: Attachment,
    upload: Upload,
}

#[derive(Debug, Serialize)]
pub struct AttachmentView {
    #[serde(flatten)]
    attachment: Attachment,
    download_url: String,
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

pub async fn create(
    State(app): State<Base>,
    State(files): State<Files>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<NewAttachment>,
) -> Result<(StatusCode, Json<CreatedAttachment>), ApiError> {
    let (filename, content_type, size_bytes) = validate(&request)?;
    let task = load_task(&app, &caller.user_id, &id).await?;
    let attachment_id = ulid::Ulid::new().to_string();
    let attachment = Attachment {
        object_key: object_key(&caller.user_id, &task.id, &attachment_id),
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
    if !app.store.add_attachment(&caller.user_id, &attachment).await? {
        return Err(ApiError::not_found());
    }
    let headers = presigned.headers.into_iter().map(|(name, value)| (name, value.into())).collect();
    let upload = Upload { method: "PUT", url: presigned.url, headers, expires_at: expires_in(UPLOAD) };
    Ok((StatusCode::CREATED, Json(CreatedAttachment { attachment, upload })))
}

pub async fn list(
    State(app): State<Base>,
    State(files): State<Files>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Page<AttachmentView>>, ApiError> {
    let task = load_task(&app, &caller.user_id, &id).await?;
    let mut items = Vec::new();
    for attachment in app.store.list_attachments(&caller.user_id, &task.id).await? {
        let download_url =
            files.download(&attachment.object_key, &attachment.filename, DOWNLOAD).await.map_err(ApiError::internal)?;
        items.push(AttachmentView { attachment, download_url, download_expires_at: expires_in(DOWNLOAD) });
    }
    Ok(Json(Page::whole(items)))
}

/// Removes the file, then the record (a failed S3 call leaves the record for a retry).
pub async fn delete(
    State(app): State<Base>,
    State(files): State<Files>,
    caller: CurrentUser,
    Path((id, attachment_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let task = load_task(&app, &caller.user_id, &id).await?;
    let attachment =
        app.store.get_attachment(&caller.user_id, &task.id, &attachment_id).await?.ok_or_else(ApiError::not_found)?;
    files.delete(&attachment.object_key).await.map_err(ApiError::internal)?;
    if !app.store.delete_attachment(&caller.user_id, &attachment).await? {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
