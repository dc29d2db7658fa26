//! `POST /v1/auth/login`: an unknown email and a wrong password answer the same 401 after the same
//! work (a password hash is checked either way); five failures in 15 minutes lock the account.

use axum::Json;
use axum::extract::State;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use shared::Base;
use shared::auth::password;
use shared::domain::Violations;
use shared::domain::account::normalize_email;
use shared::http::openapi::{Problem, RequestProblems};
use shared::http::{ApiError, ApiJson, user_agent};

use super::required;
use crate::auth_result::{AuthResult, auth_result};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    email: Option<String>,
    password: Option<String>,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "the email or password is wrong")
}

fn locked(retry_after: u64) -> ApiError {
    ApiError::new(StatusCode::LOCKED, "account_locked", "too many failed logins; try again later")
        .with_retry_after(retry_after)
}

#[utoipa::path(post, path = "/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResult),
        (status = 401, description = "invalid_credentials: the same answer for an unknown email and a wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "account_locked, with retry-after", body = Problem, content_type = "application/problem+json"),
        RequestProblems
    )
)]
pub async fn login(
    State(app): State<Base>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<AuthResult>, ApiError> {
    let mut violations = Violations::new();
    let email = required(&mut violations, "email", &request.email).to_string();
    let password = required(&mut violations, "password", &request.password).to_string();
    if !violations.is_empty() {
        return Err(ApiError::from(violations));
    }
    let user = match normalize_email(&email) {
        Ok(email) => match app.store.accounts().user_id_by_email(&email).await? {
            Some(user_id) => app.store.accounts().get_user(&user_id).await?,
            None => None,
        },
        Err(_) => None,
    };
    let now = chrono::Utc::now().timestamp();
    if let Some(retry_after) = user.as_ref().and_then(|user| user.login_failures().locked_for(now)) {
        return Err(locked(retry_after));
    }
    let hash = user.as_ref().and_then(|user| user.password_hash.clone());
    let password_ok = password::verify(password, hash).await;
    let user = match user {
        Some(user) if password_ok => user,
        Some(user) => {
            let failures = app.store.accounts().record_login_failure(&user, now).await?;
            tracing::warn!(user_id = %user.id, failures = failures.count, "failed login");
            return Err(invalid_credentials());
        }
        None => return Err(invalid_credentials()),
    };
    let session = app.store.sessions().open(&user.id, user_agent(&headers), "password", user.failed_logins > 0).await?;
    Ok(Json(auth_result(&app, &user, &session.session_id, session.refresh_token)))
}
