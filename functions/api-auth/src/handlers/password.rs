//! `POST /v1/auth/password` (change), `POST /v1/auth/password-reset` (request) and
//! `POST /v1/auth/password-reset/confirm`.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::auth::password;
use shared::domain::Violations;
use shared::domain::account::{normalize_email, validate_password};
use shared::domain::messages::{AccountEmailPurpose, NotificationMessage};
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::rate_limit::limit_account_emails;
use shared::http::{ApiError, ApiJson, CheckedUser, live_sessions};
use shared::jobs::queue::NotificationQueue;
use shared::store::login_attempts::Attempt;

use super::required;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangePasswordRequest {
    current_password: Option<String>,
    new_password: Option<String>,
}

/// Needs the current password; ends every other session of the account.
#[utoipa::path(post, path = "/v1/auth/password", tag = "auth",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; every other session is ended"),
        (status = 403, description = "wrong_password", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "account_locked: too many wrong passwords (logins and changes count alike), with Retry-After", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn change_password(
    State(app): State<Base>,
    caller: CheckedUser,
    ApiJson(request): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let mut violations = Violations::new();
    let current = required(&mut violations, "current_password", &request.current_password).to_string();
    let new = required(&mut violations, "new_password", &request.new_password).to_string();
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    if !new.is_empty() {
        violations.check("new_password", validate_password(&new, Some(&user.email)));
    }
    if !violations.is_empty() {
        return Err(ApiError::from(violations));
    }
    // Guesses here count toward the same lockout as logins: a stolen access token does not make
    // the password guessable.
    let now = chrono::Utc::now().timestamp();
    if let Attempt::Locked { retry_after } = app.store.login_attempts().reserve(&user.email, now).await? {
        return Err(ApiError::new(StatusCode::LOCKED, "account_locked", "too many wrong passwords; try again later")
            .with_retry_after(retry_after));
    }
    if !password::verify(current, user.password_hash.clone()).await {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_password", "the current password is wrong"));
    }
    app.store.login_attempts().clear(&user.email).await?;
    let hash = password::hash(new).await;
    app.store.accounts().change_password(&user.id, &hash, &caller.session_id).await?;
    // The other sessions ended; this process refuses their tokens at once, others within a minute.
    live_sessions::forget_user(&caller.user_id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResetRequest {
    email: Option<String>,
}

/// Always 202, whatever the email: the answer must not tell whether an account exists.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "Accepted, whether or not an account has this email", body = Accepted),
        RequestProblems
    )
)]
pub async fn request_reset(
    State(app): State<Base>,
    State(queue): State<NotificationQueue>,
    ApiJson(request): ApiJson<ResetRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let mut violations = Violations::new();
    let email = required(&mut violations, "email", &request.email).to_string();
    if !violations.is_empty() {
        return Err(ApiError::from(violations));
    }
    // Counted per address typed (cut to a key's size), known or not: the same answer for both.
    let email = normalize_email(&email).unwrap_or_else(|_| email.trim().to_lowercase().chars().take(254).collect());
    limit_account_emails(&app, &email).await?;
    // The worker looks the address up and mails a link if an account has it: this answer does the
    // same work, in the same time, either way.
    let message = NotificationMessage::account_email(email, AccountEmailPurpose::PasswordReset);
    queue.send(&message).await.map_err(ApiError::internal)?;
    let detail = "if an account has this email, a reset link is on its way";
    Ok((StatusCode::ACCEPTED, Json(Accepted { status: "accepted", detail })))
}

/// The answer to a reset request: the same whatever the email.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    status: &'static str,
    detail: &'static str,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConfirmResetRequest {
    token: Option<String>,
    new_password: Option<String>,
}

/// Sets the new password and ends every session, consuming the token in the same transaction.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth",
    request_body = ConfirmResetRequest,
    responses(
        (status = 204, description = "The password is set; every session is ended"),
        RequestProblems
    )
)]
pub async fn confirm_reset(
    State(app): State<Base>,
    ApiJson(request): ApiJson<ConfirmResetRequest>,
) -> Result<StatusCode, ApiError> {
    let mut violations = Violations::new();
    let token = required(&mut violations, "token", &request.token).to_string();
    let new = required(&mut violations, "new_password", &request.new_password).to_string();
    if !new.is_empty() {
        violations.check("new_password", validate_password(&new, None));
    }
    if !violations.is_empty() {
        return Err(ApiError::from(violations));
    }
    let bad_token = || ApiError::bad_request("invalid_token", "the reset link is invalid, used or expired");
    // A token that cannot be one of ours costs no password hash.
    if !app.store.tokens().well_formed(&token) {
        return Err(bad_token());
    }
    let hash = password::hash(new).await;
    match app.store.accounts().reset_password(&token, &hash).await? {
        Some(user_id) => {
            live_sessions::forget_user(&user_id);
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(bad_token()),
    }
}
