//! `GET /v1/planning/settings` and `PUT /v1/planning/settings`: the working hours per weekday,
//! peak hours, buffers, the focus cap, chunk sizes and breaks the planner works with, with
//! `version` / ETag. Until the first PUT the defaults apply, at version 0.

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::Value;
use shared::Base;
use shared::domain::planner::PlanningSettings;
use shared::domain::{Versioned, Violations};
use shared::http::concurrency::{self, if_match_version, version_conflict};
use shared::http::openapi::{CallerProblems, IfMatchParam, RequestProblems, WriteProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    #[serde(flatten)]
    settings: PlanningSettings,
    version: u64,
}

impl SettingsView {
    pub fn into_settings(self) -> PlanningSettings {
        self.settings
    }
}

impl Versioned for SettingsView {
    const KIND: &'static str = "planning_settings";

    fn version(&self) -> u64 {
        self.version
    }
}

/// The caller's settings and their version (the defaults at 0 until first written).
pub async fn current(app: &Base, user_id: &str) -> Result<SettingsView, ApiError> {
    let Some(stored) = app.store.planning().get_settings(user_id).await? else {
        return Ok(SettingsView { settings: PlanningSettings::default(), version: 0 });
    };
    let settings = serde_json::from_str(&stored.settings).map_err(ApiError::internal)?;
    Ok(SettingsView { settings, version: stored.version })
}

/// The caller's planning settings.
#[utoipa::path(get, path = "/v1/planning/settings", tag = "planning",
    responses((status = 200, description = "The settings, with ETag", body = SettingsView), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn get(State(app): State<Base>, caller: CurrentUser) -> Result<Response, ApiError> {
    let view = current(&app, &caller.user_id).await?;
    Ok(concurrency::with_etag(StatusCode::OK, &view, view.version))
}

/// Replaces the settings. A field left out takes its default; `version`, which a client may send
/// back as it read it, is ignored (`If-Match` carries the version). Every problem is named.
#[utoipa::path(put, path = "/v1/planning/settings", tag = "planning", request_body = PlanningSettings, params(IfMatchParam),
    responses(
        (status = 200, description = "The settings as written, with ETag", body = SettingsView),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn put(
    State(app): State<Base>,
    caller: CurrentUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let expected = if_match_version(&headers)?;
    let settings = from_request(body)?;
    let read = current(&app, &caller.user_id).await?;
    if expected.is_some_and(|expected| expected != read.version) {
        return Err(version_conflict(SettingsView::KIND, read.version, &read));
    }
    let text = serde_json::to_string(&settings).map_err(ApiError::internal)?;
    match app.store.planning().put_settings(&caller.user_id, &text, read.version).await? {
        Ok(version) => {
            let view = SettingsView { settings, version };
            Ok(concurrency::with_etag(StatusCode::OK, &view, version))
        }
        Err(_) => {
            let now = current(&app, &caller.user_id).await?;
            Err(version_conflict(SettingsView::KIND, now.version, &now))
        }
    }
}

/// The body over the defaults: unknown names and wrong types are named, then every rule.
fn from_request(body: Value) -> Result<PlanningSettings, ApiError> {
    let Value::Object(fields) = body else {
        return Err(ApiError::bad_request("malformed_json", "the body must be a JSON object"));
    };
    let mut merged = serde_json::to_value(PlanningSettings::default()).map_err(ApiError::internal)?;
    let mut violations = Violations::new();
    for (name, value) in fields {
        match merged.get_mut(&name) {
            Some(slot) => *slot = value,
            None if name == "version" => {}
            None => violations.add(&name, "is not a planning setting"),
        }
    }
    let settings = match serde_json::from_value::<PlanningSettings>(merged) {
        Ok(settings) => Some(settings),
        Err(error) => {
            violations.add("body", format!("does not have the settings' shape: {error}"));
            None
        }
    };
    if let Some(settings) = &settings {
        for (field, message) in settings.validate() {
            violations.add(&field, message);
        }
    }
    violations.finish(()).map_err(ApiError::from)?;
    settings.ok_or_else(|| ApiError::bad_request("validation_failed", "the settings could not be read"))
}
