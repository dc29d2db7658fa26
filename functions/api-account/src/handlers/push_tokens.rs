//! `POST /v1/me/push-tokens` and `DELETE /v1/me/push-tokens`: the devices that receive push
//! notifications. A token is registered as an SNS platform endpoint and stored by its SHA-256;
//! neither it nor the endpoint is ever logged.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use shared::Base;
use shared::auth::opaque::sha256_hex;
use shared::domain::Violations;
use shared::http::openapi::{CallerProblems, RequestProblems, WriteProblems};
use shared::http::{ApiError, ApiJson, CheckedUser, FieldError};
use shared::integrations::push::PushSender;
use shared::integrations::push::{Platform, PushError};
use shared::store::now_rfc3339;
use shared::store::push_tokens::{MAX_PUSH_TOKENS, PushTokenItem};

/// APNs tokens are 64 hex characters and FCM tokens about 160; anything far longer is not a token.
const MAX_TOKEN_CHARS: usize = 4096;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RegisterToken {
    token: Option<String>,
    platform: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RemoveToken {
    token: Option<String>,
}

/// A registered device as its owner sees it (the token is not echoed).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Device {
    platform: Platform,
    registered_at: String,
}

fn validate_token(token: Option<&str>, violations: &mut Violations) -> String {
    match token.map(str::trim) {
        None => violations.add("token", "is required"),
        Some("") => violations.add("token", "must not be empty"),
        Some(token) if token.chars().count() > MAX_TOKEN_CHARS => {
            violations.add("token", format!("must be at most {MAX_TOKEN_CHARS} characters"))
        }
        Some(token) if token.chars().any(char::is_control) => {
            violations.add("token", "must not contain control characters")
        }
        Some(token) => return token.to_string(),
    }
    String::new()
}

/// Registers a device (201), or answers 200 when the caller has it already. At the limit of
/// devices per user, the oldest is forgotten.
#[utoipa::path(post, path = "/v1/me/push-tokens", tag = "account",
    request_body = RegisterToken,
    responses(
        (status = 201, description = "Registered", body = Device),
        (status = 200, description = "Already registered to the caller", body = Device),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = []))
)]
pub async fn register(
    State(app): State<Base>,
    State(push): State<Arc<dyn PushSender>>,
    caller: CheckedUser,
    ApiJson(request): ApiJson<RegisterToken>,
) -> Result<(StatusCode, Json<Device>), ApiError> {
    let mut violations = Violations::new();
    let token = validate_token(request.token.as_deref(), &mut violations);
    let platform = match request.platform.as_deref() {
        None => {
            violations.add("platform", "is required");
            None
        }
        Some(name) => {
            let platform = Platform::from_name(name);
            if platform.is_none() {
                violations.add("platform", "must be ios or android");
            }
            platform
        }
    };
    violations.finish(()).map_err(ApiError::from)?;
    let platform = platform.expect("validated");
    if !push.supports(platform) {
        return Err(platform_unavailable(platform));
    }
    let token_hash = sha256_hex(&token);
    let devices = app.store.devices().push_tokens(&caller.user_id).await?;
    if let Some(known) = devices.iter().find(|device| device.token_hash == token_hash && device.platform == platform) {
        return Ok((StatusCode::OK, Json(Device { platform, registered_at: known.registered_at.clone() })));
    }
    let endpoint = match push.register(platform, &token).await {
        Ok(endpoint) => endpoint,
        Err(PushError::NotConfigured(platform)) => return Err(platform_unavailable(platform)),
        Err(PushError::Rejected(_)) => {
            return Err(ApiError::validation(vec![FieldError::new("token", "the push provider refused this token")]));
        }
        Err(error) => return Err(ApiError::internal(error)),
    };
    let previous_owner = app.store.devices().push_token_owner(&token_hash).await?;
    let known = devices.iter().any(|device| device.token_hash == token_hash);
    let evict = if known || devices.len() < MAX_PUSH_TOKENS {
        None
    } else {
        devices.iter().min_by(|a, b| a.registered_at.cmp(&b.registered_at))
    };
    let now = now_rfc3339();
    let item = PushTokenItem::new(&caller.user_id, &token_hash, platform, &endpoint, &now);
    match app.store.devices().save_push_token(&item, previous_owner.as_deref(), evict).await {
        Ok(()) => {}
        // Registered concurrently (the same device twice, or another user): the client retries.
        Err(error) if error.is_condition_failure() => {
            return Err(ApiError::conflict("push_token_busy", "this token is being registered concurrently; retry"));
        }
        Err(error) => return Err(error.into()),
    }
    if let Some(evicted) = evict {
        tracing::info!(token = %evicted.token_hash, "oldest device forgotten: too many devices");
        if let Err(error) = push.delete_endpoint(&evicted.endpoint).await {
            tracing::warn!(token = %evicted.token_hash, %error, "could not delete the endpoint of a forgotten device");
        }
    }
    Ok((StatusCode::CREATED, Json(Device { platform, registered_at: now })))
}

fn platform_unavailable(platform: Platform) -> ApiError {
    ApiError {
        errors: vec![FieldError::new(
            "platform",
            format!("push to {} devices is not set up on this server", platform.name()),
        )],
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "push_platform_unavailable",
            format!("push notifications to {} devices are not available", platform.name()),
        )
    }
}

/// Forgets a device: its item and claim, then its endpoint. 404 when the caller has no such token.
#[utoipa::path(delete, path = "/v1/me/push-tokens", tag = "account",
    request_body = RemoveToken,
    responses(
        (status = 204, description = "Forgotten"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(app): State<Base>,
    State(push): State<Arc<dyn PushSender>>,
    caller: CheckedUser,
    ApiJson(request): ApiJson<RemoveToken>,
) -> Result<StatusCode, ApiError> {
    let mut violations = Violations::new();
    let token = validate_token(request.token.as_deref(), &mut violations);
    violations.finish(()).map_err(ApiError::from)?;
    let token_hash = sha256_hex(&token);
    let device = app.store.devices().push_token(&caller.user_id, &token_hash).await?.ok_or_else(ApiError::not_found)?;
    if app.store.devices().remove_push_token(&device).await?
        && let Err(error) = push.delete_endpoint(&device.endpoint).await
    {
        // The token is forgotten: no push goes to it. The endpoint stays in SNS until removed by hand.
        tracing::warn!(token = %token_hash, %error, "could not delete a device's endpoint");
    }
    Ok(StatusCode::NO_CONTENT)
}
