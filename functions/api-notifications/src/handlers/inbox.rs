//! The in-app inbox: `GET /v1/notifications` (`?unread=true`, `?limit=`, `?cursor=`),
//! `POST /v1/notifications/{id}/read`, `POST /v1/notifications/read-all`,
//! `DELETE /v1/notifications/{id}`. Another user's id answers 404 like an unknown one: every
//! lookup is under the caller's partition.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use serde::Serialize;
use shared::AppState;
use shared::domain::notifications::NotificationType;
use shared::http::{ApiError, CurrentUser, FieldError};
use shared::store::notifications::InboxItem;

#[derive(Debug, Serialize)]
pub struct NotificationView {
    id: String,
    #[serde(rename = "type")]
    kind: NotificationType,
    title: String,
    body: String,
    task_id: Option<String>,
    read: bool,
    late: bool,
    created_at: String,
}

impl From<InboxItem> for NotificationView {
    fn from(item: InboxItem) -> Self {
        NotificationView {
            id: item.id,
            kind: item.kind,
            title: item.title,
            body: item.body,
            task_id: item.task_id,
            read: item.read,
            late: item.late,
            created_at: item.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NotificationList {
    items: Vec<NotificationView>,
    next_cursor: Option<String>,
}

/// Cursors are the last id of a page; they name the filter too, so one cannot cross lists.
fn encode_cursor(unread: bool, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", if unread { "u" } else { "a" }))
}

fn decode_cursor(unread: bool, cursor: &str) -> Option<String> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (kind, id) = text.split_once(':')?;
    (kind == if unread { "u" } else { "a" } && ulid::Ulid::from_string(id).is_ok()).then(|| id.to_string())
}

pub async fn list(
    State(app): State<AppState>,
    caller: CurrentUser,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<NotificationList>, ApiError> {
    let mut errors = Vec::new();
    let limit = match query.get("limit").map(|text| text.parse::<usize>()) {
        None => 50,
        Some(Ok(limit)) if (1..=200).contains(&limit) => limit,
        Some(_) => {
            errors.push(FieldError::new("limit", "must be a number from 1 to 200"));
            50
        }
    };
    let unread = match query.get("unread").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push(FieldError::new("unread", "must be true or false"));
            false
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let after = match query.get("cursor") {
        Some(cursor) => Some(
            decode_cursor(unread, cursor)
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the cursor is not one this API gave"))?,
        ),
        None => None,
    };
    let page = app.store.list_inbox(&caller.user_id, unread, after.as_deref(), limit).await?;
    Ok(Json(NotificationList {
        items: page.items.into_iter().map(NotificationView::from).collect(),
        next_cursor: page.next.map(|id| encode_cursor(unread, &id)),
    }))
}

pub async fn read(
    State(app): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<NotificationView>, ApiError> {
    if ulid::Ulid::from_string(&id).is_err() {
        return Err(ApiError::not_found());
    }
    let item = app.store.mark_inbox_read(&caller.user_id, &id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(item.into()))
}

#[derive(Debug, Serialize)]
pub struct ReadAll {
    /// How many items were unread and are read now.
    marked_read: usize,
}

pub async fn read_all(State(app): State<AppState>, caller: CurrentUser) -> Result<Json<ReadAll>, ApiError> {
    let marked_read = app.store.mark_all_inbox_read(&caller.user_id).await?;
    Ok(Json(ReadAll { marked_read }))
}

pub async fn delete(
    State(app): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if ulid::Ulid::from_string(&id).is_err() {
        return Err(ApiError::not_found());
    }
    if app.store.delete_inbox_item(&caller.user_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
