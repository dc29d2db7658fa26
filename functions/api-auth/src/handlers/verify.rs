//! `POST /v1/auth/verify-email`: with `{"token"}` confirms the address; without a token, a signed-in
//! caller asks for a new verification email.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::messages::{AccountEmailPurpose, NotificationMessage};
use shared::http::openapi::{Problem, RequestProblems};
use shared::http::rate_limit::limit_account_emails;
use shared::http::{ApiError, CurrentUser, OptionalJson};
use shared::jobs::queue::NotificationQueue;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct VerifyRequest {
    token: Option<String>,
}

#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "auth",
    request_body(content = Option<VerifyRequest>, description = "`{\"token\"}` confirms; a signed-in caller without a token gets a new email"),
    responses(
        (status = 200, description = "Verified", body = Verification),
        (status = 202, description = "A new verification email is on its way", body = Verification),
        RequestProblems,
        (status = 401, description = "invalid_token", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn verify_email(
    State(app): State<Base>,
    State(queue): State<NotificationQueue>,
    caller: Option<CurrentUser>,
    OptionalJson(request): OptionalJson<VerifyRequest>,
) -> Result<(StatusCode, Json<Verification>), ApiError> {
    match (request.token, caller) {
        (Some(token), _) => confirm(&app, &token).await,
        (None, Some(caller)) => resend(&app, &queue, &caller).await,
        (None, None) => Err(ApiError::validation(vec![shared::http::FieldError::new(
            "token",
            "is required (or sign in to get a new verification email)",
        )])),
    }
}

/// Where the caller's email verification stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verification {
    email_verified: bool,
    /// `sent` when a new verification email went out.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

const VERIFIED: Verification = Verification { email_verified: true, status: None };

async fn confirm(app: &Base, token: &str) -> Result<(StatusCode, Json<Verification>), ApiError> {
    let bad_token = || ApiError::bad_request("invalid_token", "the verification link is invalid, used or expired");
    match app.store.accounts().verify_email(token).await? {
        true => Ok((StatusCode::OK, Json(VERIFIED))),
        false => Err(bad_token()),
    }
}

async fn resend(
    app: &Base,
    queue: &NotificationQueue,
    caller: &CurrentUser,
) -> Result<(StatusCode, Json<Verification>), ApiError> {
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    if user.email_verified {
        return Ok((StatusCode::OK, Json(VERIFIED)));
    }
    limit_account_emails(app, &user.email).await?;
    let message = NotificationMessage::account_email(user.email, AccountEmailPurpose::EmailVerification);
    queue.send(&message).await.map_err(ApiError::internal)?;
    Ok((StatusCode::ACCEPTED, Json(Verification { email_verified: false, status: Some("sent") })))
}
