//! `POST /v1/auth/login`: an unknown email and a wrong password answer the same 401 after the same
//! work (the same reads, and a password hash checked either way). Each attempt is reserved on the
//! email before the hash is checked: five in 15 minutes, then 423, for any address alike.

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
use shared::store::accounts::UserItem;
use shared::store::login_attempts::Attempt;

use super::required;
use crate::Signer;
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
    State(signer): State<Signer>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<AuthResult>, ApiError> {
    let mut violations = Violations::new();
    let email = required(&mut violations, "email", &request.email).to_string();
    let password = required(&mut violations, "password", &request.password).to_string();
    if !violations.is_empty() {
        return Err(ApiError::from(violations));
    }
    // An address that is not one stays as typed (cut to a key's size): it locks like any other,
    // and matches no account.
    let email = normalize_email(&email).unwrap_or_else(|_| email.trim().to_lowercase().chars().take(254).collect());
    let now = chrono::Utc::now().timestamp();
    if let Attempt::Locked { retry_after } = app.store.login_attempts().reserve(&email, now).await? {
        return Err(locked(retry_after));
    }
    let user = find_user(&app, &email).await?;
    // Without an account (or a password) a dummy hash is checked: the same work either way.
    let verified = password::verify(password, user.as_ref().and_then(|user| user.password_hash.clone())).await;
    let user = match user {
        Some(user) if verified => user,
        Some(user) => {
            tracing::warn!(user_id = %user.id, "failed login");
            return Err(invalid_credentials());
        }
        None => return Err(invalid_credentials()),
    };
    let session = app.store.sessions().open_after_password(&user, user_agent(&headers)).await?;
    Ok(Json(auth_result(&signer, &user, &session.session_id, session.refresh_token)))
}

/// The account with this email, after the same two reads whether or not it exists.
async fn find_user(app: &Base, email: &str) -> Result<Option<UserItem>, ApiError> {
    let user_id = app.store.accounts().user_id_by_email(email).await?;
    // No account: read a profile that cannot exist, so both paths cost the same round trips.
    let user = app.store.accounts().get_user(user_id.as_deref().unwrap_or("-")).await?;
    Ok(user.filter(|_| user_id.is_some()))
}
