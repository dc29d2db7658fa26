//! `POST /v1/auth/refresh` and `POST /v1/auth/logout`.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use shared::Base;
use shared::domain::Violations;
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::{ApiError, ApiJson, CheckedUser, OptionalJson, live_sessions};
use shared::store::sessions::RefreshOutcome;

use super::required;
use crate::Signer;
use crate::auth_result::{AuthResult, auth_result};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    refresh_token: Option<String>,
}

/// A refresh token works once. Presenting a used one again means it leaked (or a client retried
/// blindly): its whole family (the session) is revoked.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair; the refresh token sent is used up", body = AuthResult),
        (status = 401, description = "invalid_refresh_token, or refresh_token_reused (the session is ended)", body = Problem, content_type = "application/problem+json"),
        RequestProblems
    )
)]
pub async fn refresh(
    State(app): State<Base>,
    State(signer): State<Signer>,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<AuthResult>, ApiError> {
    let mut violations = Violations::new();
    let token = required(&mut violations, "refresh_token", &request.refresh_token).to_string();
    if !violations.is_empty() {
        return Err(ApiError::from(violations));
    }
    let next =
        |presented: &str, user_id: &str, session_id: &str| signer.0.next_refresh_token(presented, user_id, session_id);
    match app.store.sessions().rotate_refresh_token(&token, next).await? {
        RefreshOutcome::Rotated { user, session_id, refresh_token } => {
            Ok(Json(auth_result(&signer, &user, &session_id, refresh_token)))
        }
        RefreshOutcome::Invalid => {
            Err(ApiError::unauthorized("invalid_refresh_token", "the refresh token is invalid or expired"))
        }
        RefreshOutcome::Reused => {
            tracing::warn!("refresh token reused; its session was revoked");
            Err(ApiError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; the session has been ended, log in again",
            ))
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LogoutRequest {
    #[serde(default)]
    all: bool,
}

/// Ends the caller's session, or with `{"all": true}` every session of the account.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    request_body(content = Option<LogoutRequest>, description = "Optional: `{\"all\": true}` ends every session"),
    responses(
        (status = 204, description = "Signed out"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn logout(
    State(app): State<Base>,
    caller: CheckedUser,
    OptionalJson(request): OptionalJson<LogoutRequest>,
) -> Result<StatusCode, ApiError> {
    if request.all {
        app.store.accounts().end_sessions(&caller.user_id, None).await?;
        live_sessions::forget_user(&caller.user_id);
    } else {
        app.store.sessions().revoke_session(&caller.user_id, &caller.session_id).await?;
        live_sessions::forget(&[&caller.session_id]);
    }
    Ok(StatusCode::NO_CONTENT)
}
