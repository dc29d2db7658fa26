//! `POST /webhooks/microsoft-graph`: Microsoft Graph's change and lifecycle notifications, and
//! the validation handshake Graph makes when a subscription is created (`?validationToken=`,
//! answered with the token as plain text within 10 seconds).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::Deserialize;
use shared::Base;
use shared::domain::messages::CalendarJob;
use shared::http::openapi::{Problem, RequestProblems};
use shared::http::{ApiError, ApiQuery};
use shared::jobs::queue::SyncQueue;

use super::verified_connection;

/// Graph's validation request.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValidationQuery {
    /// Sent when a subscription is created: answered back as plain text.
    #[serde(rename = "validationToken")]
    #[param(rename = "validationToken")]
    validation_token: Option<String>,
}

/// A batch of notifications (`value`), change or lifecycle alike.
#[derive(Debug, Deserialize)]
struct Notifications {
    value: Vec<GraphNotification>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphNotification {
    subscription_id: String,
    client_state: Option<String>,
    /// `reauthorizationRequired`, `subscriptionRemoved` or `missed` on a lifecycle notification.
    lifecycle_event: Option<String>,
}

/// Graph's notifications: each whose `clientState` and subscription are a connection's current
/// ones queues that connection's sync (at most one per connection per batch); a lifecycle
/// notification that the subscription needs renewing or was removed also renews it. Others are
/// dropped. Answered 202 at once.
#[utoipa::path(post, path = "/webhooks/microsoft-graph", tag = "webhooks", params(ValidationQuery),
    responses(
        (status = 200, description = "The validation handshake: the token, as text/plain", content_type = "text/plain", body = String),
        (status = 202, description = "Accepted: syncs are queued"),
        (status = 400, description = "malformed_notification: the body is not Graph's notification batch", body = Problem, content_type = "application/problem+json"),
        RequestProblems
    ))]
pub async fn notify(
    State(app): State<Base>,
    State(queue): State<SyncQueue>,
    ApiQuery(query): ApiQuery<ValidationQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(token) = query.validation_token {
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], token).into_response());
    }
    let batch: Notifications = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("malformed_notification", "the body is not a Graph notification batch"))?;
    // One job per connection, renewing its subscription if any notification asked for that.
    let mut jobs: Vec<CalendarJob> = Vec::new();
    for notification in &batch.value {
        let Some(secret) = notification.client_state.as_deref() else { continue };
        let current = |watch: &shared::integrations::calendars::Watch| watch.id == notification.subscription_id;
        let Some(connection) = verified_connection(&app, secret, current).await? else {
            tracing::info!(subscription_id = %notification.subscription_id, "a Graph notification for no current subscription dropped");
            continue;
        };
        let renew = match notification.lifecycle_event.as_deref() {
            Some("reauthorizationRequired" | "subscriptionRemoved") => true,
            None | Some("missed") => false,
            Some(other) => {
                tracing::info!(event = other, "an unknown Graph lifecycle event ignored");
                continue;
            }
        };
        let same = jobs.iter_mut().find_map(|job| match job {
            CalendarJob::Sync { connection_id, renew_watch, .. } if *connection_id == connection.id => {
                Some(renew_watch)
            }
            _ => None,
        });
        match same {
            Some(renew_watch) => *renew_watch |= renew,
            None => jobs.push(CalendarJob::Sync {
                user_id: connection.user_id.clone(),
                connection_id: connection.id.clone(),
                renew_watch: renew,
            }),
        }
    }
    for job in &jobs {
        queue.send(job, 0).await.map_err(ApiError::internal)?;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
