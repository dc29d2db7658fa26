//! `GET /v1/me` and `PATCH /v1/me`.

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::domain::account::{Tier, validate_language, validate_name, validate_preferences, validate_timezone};
use shared::http::concurrency::{self, if_match_version, version_conflict};
use shared::http::openapi::{CallerProblems, RequestProblems, WriteProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::store::accounts::{ProfileChanges, UpdateProfileError, UserItem};
use shared::store::now_rfc3339;

/// The profile as the owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Profile {
    id: String,
    email: String,
    email_verified: bool,
    name: String,
    timezone: String,
    language: String,
    #[schema(value_type = Object)]
    preferences: serde_json::Value,
    tier: Tier,
    google_linked: bool,
    has_password: bool,
    version: u64,
    created_at: String,
    updated_at: String,
}

impl From<&UserItem> for Profile {
    fn from(user: &UserItem) -> Self {
        Profile {
            id: user.id.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            name: user.name.clone(),
            timezone: user.timezone.clone(),
            language: user.language.clone(),
            preferences: user.preferences_json(),
            tier: user.tier,
            google_linked: user.google_sub.is_some(),
            has_password: user.password_hash.is_some(),
            version: user.version,
            created_at: user.created_at.clone(),
            updated_at: user.updated_at.clone(),
        }
    }
}

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
    params(("If-Match" = Option<String>, Header, description = "The ETag read: refused with 412 if it is stale")),
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
    match app.store.accounts().update_profile(&caller.user_id, &changes, expected_version, &now_rfc3339()).await {
        Ok(user) => Ok(with_etag(&user)),
        Err(UpdateProfileError::NotFound) => Err(ApiError::not_found()),
        Err(UpdateProfileError::VersionConflict(current)) => {
            Err(version_conflict("profile", current.version, &Profile::from(current.as_ref())))
        }
        Err(UpdateProfileError::Store(error)) => Err(error.into()),
    }
}
