//! `POST /v1/auth/verify-email`: with `{"token"}` confirms the address; without a token, a signed-in
//! caller asks for a new verification email.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use shared::Base;
use shared::http::{ApiError, CurrentUser, OptionalJson};
use shared::integrations::email::Mailer;
use shared::integrations::email::templates;
use shared::store::tokens::OneTimeKind;

use super::send_email;

#[derive(Debug, Default, Deserialize)]
pub struct VerifyRequest {
    token: Option<String>,
}

pub async fn verify_email(
    State(app): State<Base>,
    State(mailer): State<Mailer>,
    caller: Option<CurrentUser>,
    OptionalJson(request): OptionalJson<VerifyRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    match (request.token, caller) {
        (Some(token), _) => confirm(&app, &token).await,
        (None, Some(caller)) => resend(&app, &mailer, &caller).await,
        (None, None) => Err(ApiError::validation(vec![shared::http::FieldError::new(
            "token",
            "is required (or sign in to get a new verification email)",
        )])),
    }
}

async fn confirm(app: &Base, token: &str) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let bad_token = || ApiError::bad_request("invalid_token", "the verification link is invalid, used or expired");
    let (user_id, consume) =
        app.store.consume_one_time_token(token, OneTimeKind::EmailVerification)?.ok_or_else(bad_token)?;
    match app.store.transact(vec![consume, app.store.mark_email_verified(&user_id)?]).await {
        Ok(()) => Ok((StatusCode::OK, Json(serde_json::json!({"email_verified": true})))),
        Err(error) if error.is_condition_failure() => Err(bad_token()),
        Err(error) => Err(error.into()),
    }
}

async fn resend(
    app: &Base,
    mailer: &Mailer,
    caller: &CurrentUser,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let user = app.store.get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    if user.email_verified {
        return Ok((StatusCode::OK, Json(serde_json::json!({"email_verified": true}))));
    }
    let (token, store_token) = app.store.issue_one_time_token(&user.id, OneTimeKind::EmailVerification)?;
    app.store.transact(vec![store_token]).await?;
    send_email(mailer, templates::verify_email(&user.email, &mailer.app_base_url, &token)).await;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"email_verified": false, "status": "sent"}))))
}
