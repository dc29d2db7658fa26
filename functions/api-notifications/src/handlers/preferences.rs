//! `GET /v1/notifications/preferences` and `PUT /v1/notifications/preferences`: the whole matrix
//! of notification types and channels, quiet hours and the digest hour, with `version` / ETag.

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::Value;
use shared::Base;
use shared::domain::Versioned;
use shared::domain::notifications::NotificationPreferences;
use shared::http::concurrency::{self, if_match_version};
use shared::http::openapi::{CallerProblems, IfMatchParam, RequestProblems, WriteProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::store::notifications::StoredPreferences;
use shared::store::now_rfc3339;

/// The preferences as clients see them: every type and channel, plus `version` and `updated_at`
/// (`null` while the defaults apply).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreferencesView {
    #[serde(flatten)]
    preferences: NotificationPreferences,
    version: u64,
    updated_at: Option<String>,
}

impl Versioned for PreferencesView {
    const KIND: &'static str = "preferences";

    fn version(&self) -> u64 {
        self.version
    }
}

fn view(stored: &StoredPreferences) -> PreferencesView {
    PreferencesView {
        preferences: stored.preferences.clone(),
        version: stored.version,
        updated_at: stored.updated_at.clone(),
    }
}

fn with_etag(stored: &StoredPreferences) -> Response {
    concurrency::with_etag(StatusCode::OK, &view(stored), stored.version)
}

/// The caller's notification preferences (the defaults until first written).
#[utoipa::path(get, path = "/v1/notifications/preferences", tag = "notifications",
    responses(
        (status = 200, description = "The preferences, with ETag", body = PreferencesView),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn get(State(app): State<Base>, caller: CurrentUser) -> Result<Response, ApiError> {
    let stored = app.store.notifications().notification_preferences(&caller.user_id).await?;
    Ok(with_etag(&stored))
}

/// A full replacement: what the body leaves out takes its default. `version` and `updated_at`,
/// which a client may send back as it read them, are ignored (`If-Match` carries the version).
#[utoipa::path(put, path = "/v1/notifications/preferences", tag = "notifications",
    request_body = NotificationPreferences,
    params(IfMatchParam),
    responses(
        (status = 200, description = "The preferences as written, with ETag", body = PreferencesView),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = []))
)]
pub async fn put(
    State(app): State<Base>,
    caller: CurrentUser,
    headers: HeaderMap,
    ApiJson(mut body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let expected_version = if_match_version(&headers)?;
    if let Some(fields) = body.as_object_mut() {
        fields.remove("version");
        fields.remove("updated_at");
    }
    let preferences = NotificationPreferences::from_request(&body)?;
    let stored = app
        .store
        .notifications()
        .put_notification_preferences(&caller.user_id, &preferences, expected_version, &now_rfc3339())
        .await
        .map_err(|refused| refused.map_current(|current| view(&current)))?;
    Ok(with_etag(&stored))
}
