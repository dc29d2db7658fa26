//! The in-app inbox: `GET /v1/notifications` (`?unread=true`, `?limit=`, `?cursor=`),
//! `POST /v1/notifications/{id}/read`, `POST /v1/notifications/read-all`,
//! `DELETE /v1/notifications/{id}`. Another user's id answers 404 like an unknown one: every
//! lookup is under the caller's partition.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::domain::notifications::NotificationType;
use shared::http::openapi::{CallerProblems, RequestProblems};
use shared::http::pagination::{Page, PageRequest, is_id};
use shared::http::{ApiError, ApiQuery, CurrentUser};
use shared::http::{ApiPath, Id};
use shared::store::notifications::InboxItem;

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// 1 to 200 (50 when absent).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    cursor: Option<String>,
    /// `true`: unread only.
    #[param(value_type = Option<bool>)]
    unread: Option<String>,
}

/// The caller's inbox, newest first.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", params(InboxQuery),
    responses(
        (status = 200, description = "One page of the inbox", body = Page<NotificationView>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
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
    let page = app.store.notifications().list_inbox(&caller.user_id, unread, after.as_deref(), limit).await?;
    let items = page.items.into_iter().map(NotificationView::from).collect();
    Ok(Json(Page::new(items, list, page.next.as_deref())))
}

/// Marks one notification read.
#[utoipa::path(post, path = "/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = String, Path, description = "The notification's id")),
    responses(
        (status = 200, description = "The notification, read", body = NotificationView),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn read(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Json<NotificationView>, ApiError> {
    let item =
        app.store.notifications().mark_inbox_read(&caller.user_id, &id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(item.into()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadAll {
    /// How many items were unread and are read now.
    marked_read: usize,
}

/// Marks every unread notification read.
#[utoipa::path(post, path = "/v1/notifications/read-all", tag = "notifications",
    responses(
        (status = 200, description = "How many were marked read", body = ReadAll),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn read_all(State(app): State<Base>, caller: CurrentUser) -> Result<Json<ReadAll>, ApiError> {
    let marked_read = app.store.notifications().mark_all_inbox_read(&caller.user_id).await?;
    Ok(Json(ReadAll { marked_read }))
}

/// Deletes one notification.
#[utoipa::path(delete, path = "/v1/notifications/{id}", tag = "notifications",
    params(("id" = String, Path, description = "The notification's id")),
    responses(
        (status = 204, description = "Deleted"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<StatusCode, ApiError> {
    if app.store.notifications().delete_inbox_item(&caller.user_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
