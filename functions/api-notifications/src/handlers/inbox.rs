//! The in-app inbox: `GET /v1/notifications` (`?unread=true`, `?limit=`, `?cursor=`),
//! `POST /v1/notifications/{id}/read`, `POST /v1/notifications/read-all`,
//! `DELETE /v1/notifications/{id}`. Another user's id answers 404 like an unknown one: every
//! lookup is under the caller's partition.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::domain::notifications::NotificationType;
use shared::http::pagination::{Page, PageRequest, is_id};
use shared::http::{ApiError, ApiQuery, CurrentUser};
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

#[derive(Debug, Deserialize)]
pub struct InboxQuery {
    limit: Option<String>,
    cursor: Option<String>,
    /// `true`: unread only.
    unread: Option<String>,
}

pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> Result<Json<Page<NotificationView>>, ApiError> {
    let mut violations = Violations::new();
    let unread = match query.unread.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            violations.add("unread", "must be true or false");
            false
        }
    };
    // A cursor names its filter too, so one cannot cross from the unread list to the whole inbox.
    let list = if unread { "inbox-unread" } else { "inbox" };
    let request = PageRequest::read(&mut violations, query.limit.as_deref(), query.cursor.as_deref(), list, is_id);
    let request = violations.finish(request).map_err(ApiError::from)??;
    let (after, limit) = (request.after, request.limit);
    let page = app.store.list_inbox(&caller.user_id, unread, after.as_deref(), limit).await?;
    let items = page.items.into_iter().map(NotificationView::from).collect();
    Ok(Json(Page::new(items, list, page.next.as_deref())))
}

pub async fn read(
    State(app): State<Base>,
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

pub async fn read_all(State(app): State<Base>, caller: CurrentUser) -> Result<Json<ReadAll>, ApiError> {
    let marked_read = app.store.mark_all_inbox_read(&caller.user_id).await?;
    Ok(Json(ReadAll { marked_read }))
}

pub async fn delete(
    State(app): State<Base>,
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
