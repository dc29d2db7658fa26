//! `GET/POST /v1/tasks/{id}/attachments`, `DELETE /v1/tasks/{id}/attachments/{att_id}`.
//! The file goes straight from the client to S3 through a presigned PUT that signs its content
//! type and length: S3 refuses an upload of another type or size.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::domain::Violations;
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::store::attachments::{
    Attachment, MAX_ATTACHMENT_BYTES, object_key, validate_content_type, validate_filename,
};
use shared::{AppContext, AppState};

use super::load_task;

const UPLOAD_SECONDS: u64 = 15 * 60;
const DOWNLOAD_SECONDS: u64 = 5 * 60;

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

#[derive(Debug, Serialize)]
pub struct AttachmentList {
    items: Vec<AttachmentView>,
    next_cursor: Option<String>,
}

fn s3(app: &AppContext) -> Result<&aws_sdk_s3::Client, ApiError> {
    app.s3.as_ref().ok_or_else(|| ApiError::internal("S3 is not available in this function"))
}

fn bucket(app: &AppContext) -> Result<&str, ApiError> {
    app.config.files_bucket.as_deref().ok_or_else(|| ApiError::internal("FILES_BUCKET is not set"))
}

fn expires_in(seconds: u64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds as i64)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn presigning(seconds: u64) -> Result<PresigningConfig, ApiError> {
    PresigningConfig::expires_in(Duration::from_secs(seconds)).map_err(ApiError::internal)
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
    State(app): State<AppState>,
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
    let presigned = s3(&app)?
        .put_object()
        .bucket(bucket(&app)?)
        .key(&attachment.object_key)
        .content_type(&attachment.content_type)
        .content_length(attachment.size_bytes as i64)
        .presigned(presigning(UPLOAD_SECONDS)?)
        .await
        .map_err(ApiError::internal)?;
    if !app.store.add_attachment(&caller.user_id, &attachment).await? {
        return Err(ApiError::not_found());
    }
    let mut headers = serde_json::Map::new();
    headers.insert("content-type".into(), attachment.content_type.clone().into());
    headers.insert("content-length".into(), attachment.size_bytes.to_string().into());
    let upload =
        Upload { method: "PUT", url: presigned.uri().to_string(), headers, expires_at: expires_in(UPLOAD_SECONDS) };
    Ok((StatusCode::CREATED, Json(CreatedAttachment { attachment, upload })))
}

pub async fn list(
    State(app): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<AttachmentList>, ApiError> {
    let task = load_task(&app, &caller.user_id, &id).await?;
    let mut items = Vec::new();
    for attachment in app.store.list_attachments(&caller.user_id, &task.id).await? {
        let presigned = s3(&app)?
            .get_object()
            .bucket(bucket(&app)?)
            .key(&attachment.object_key)
            .response_content_disposition(format!("attachment; filename=\"{}\"", attachment.filename.replace('"', "")))
            .presigned(presigning(DOWNLOAD_SECONDS)?)
            .await
            .map_err(ApiError::internal)?;
        items.push(AttachmentView {
            attachment,
            download_url: presigned.uri().to_string(),
            download_expires_at: expires_in(DOWNLOAD_SECONDS),
        });
    }
    Ok(Json(AttachmentList { items, next_cursor: None }))
}

/// Removes the file, then the record (a failed S3 call leaves the record for a retry).
pub async fn delete(
    State(app): State<AppState>,
    caller: CurrentUser,
    Path((id, attachment_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let task = load_task(&app, &caller.user_id, &id).await?;
    let attachment =
        app.store.get_attachment(&caller.user_id, &task.id, &attachment_id).await?.ok_or_else(ApiError::not_found)?;
    s3(&app)?
        .delete_object()
        .bucket(bucket(&app)?)
        .key(&attachment.object_key)
        .send()
        .await
        .map_err(|error| ApiError::internal(aws_sdk_s3::error::DisplayErrorContext(&error)))?;
    if !app.store.delete_attachment(&caller.user_id, &attachment).await? {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
