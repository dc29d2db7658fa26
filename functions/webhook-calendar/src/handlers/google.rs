//! `POST /webhooks/google-calendar`: Google's push notifications. The body is empty; the
//! headers say which channel (`X-Goog-Channel-ID`), our secret (`X-Goog-Channel-Token`) and what
//! happened (`X-Goog-Resource-State`: `sync` when the channel starts, `exists` on a change).

use axum::extract::State;
use http::{HeaderMap, StatusCode};
use shared::Base;
use shared::domain::messages::CalendarJob;
use shared::http::ApiError;
use shared::http::openapi::{Problem, RequestProblems};
use shared::jobs::queue::SyncQueue;

use super::verified_connection;

/// A change in a watched Google calendar: queues its sync. An unknown, stopped or expired
/// channel, or a wrong token, answers 404 and queues nothing.
#[utoipa::path(post, path = "/webhooks/google-calendar", tag = "webhooks",
    params(
        ("X-Goog-Channel-ID" = String, Header, description = "The channel"),
        ("X-Goog-Channel-Token" = String, Header, description = "The channel's secret token"),
        ("X-Goog-Resource-State" = String, Header, description = "`sync` (the channel started) or `exists`/`not_exists` (a change)"),
    ),
    responses(
        (status = 200, description = "Accepted: a sync is queued (none for `sync`)"),
        (status = 404, description = "not_found: no such live channel, or the token does not match", body = Problem, content_type = "application/problem+json"),
        RequestProblems
    ))]
pub async fn notify(
    State(app): State<Base>,
    State(queue): State<SyncQueue>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(channel_id), Some(token)) = (header("x-goog-channel-id"), header("x-goog-channel-token")) else {
        return Err(ApiError::not_found());
    };
    let connection = verified_connection(&app, token, |watch| watch.id == channel_id).await?;
    let connection = connection.ok_or_else(ApiError::not_found)?;
    if header("x-goog-resource-state") == Some("sync") {
        return Ok(StatusCode::OK);
    }
    let job = CalendarJob::sync(&connection.user_id, &connection.id);
    queue.send(&job, 0).await.map_err(ApiError::internal)?;
    Ok(StatusCode::OK)
}
