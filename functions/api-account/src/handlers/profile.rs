//! `GET /v1/me` and `PATCH /v1/me`.

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use shared::Base;
use shared::domain::Violations;
use shared::domain::account::{Profile, validate_language, validate_name, validate_preferences, validate_timezone};
use shared::http::concurrency::{self, if_match_version};
use shared::http::openapi::{CallerProblems, IfMatchParam, RequestProblems, WriteProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::store::accounts::{ProfileChanges, UserItem};
use shared::store::now_rfc3339;

fn with_etag(user: &UserItem) -> Response {
    concurrency::with_etag(StatusCode::OK, &Profile::from(user), user.version)
}

#[utoipa::path(get, path = "/v1/me", tag = "account",
    responses(
        (status = 200, description = "The caller's profile, with ETag", body = Profile),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn get_me(State(app): State<Base>, caller: CurrentUser) -> Result<Response, ApiError> {
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(with_etag(&user))
}

/// Only the fields sent change. `preferences` replaces the whole object.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PatchMe {
    name: Option<String>,
    timezone: Option<String>,
    language: Option<String>,
    /// Replaces the whole object.
    #[schema(value_type = Option<Object>)]
    preferences: Option<serde_json::Value>,
}

fn validate(patch: PatchMe) -> Result<ProfileChanges, ApiError> {
    let mut violations = Violations::new();
    if let Some(name) = &patch.name {
        violations.check("name", validate_name(name));
    }
    if let Some(timezone) = &patch.timezone {
        violations.check("timezone", validate_timezone(timezone));
    }
    if let Some(language) = &patch.language {
        violations.check("language", validate_language(language));
    }
    if let Some(preferences) = &patch.preferences {
        violations.check("preferences", validate_preferences(preferences));
    }
    if patch.name.is_none() && patch.timezone.is_none() && patch.language.is_none() && patch.preferences.is_none() {
        violations.add("", "send at least one of name, timezone, language, preferences");
    }
    let changes = ProfileChanges {
        name: patch.name.map(|name| name.trim().to_string()),
        timezone: patch.timezone,
        language: patch.language,
        preferences: patch.preferences,
    };
    violations.finish(changes).map_err(ApiError::from)
}

#[utoipa::path(patch, path = "/v1/me", tag = "account",
    request_body = PatchMe,
    params(IfMatchParam),
    responses(
        (status = 200, description = "The profile as changed, with ETag", body = Profile),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = []))
)]
pub async fn patch_me(
    State(app): State<Base>,
    caller: CurrentUser,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<PatchMe>,
) -> Result<Response, ApiError> {
    let expected_version = if_match_version(&headers)?;
    let changes = validate(patch)?;
    let user = app.store.accounts().update_profile(&caller.user_id, &changes, expected_version, &now_rfc3339()).await?;
    Ok(with_etag(&user))
}
