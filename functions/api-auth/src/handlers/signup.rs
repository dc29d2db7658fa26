//! `POST /v1/auth/signup`

use axum::Json;
use axum::extract::State;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use shared::Base;
use shared::auth::password;
use shared::domain::Violations;
use shared::domain::account::{
    normalize_email, validate_language, validate_name, validate_password, validate_timezone,
};
use shared::http::openapi::{Problem, RequestProblems};
use shared::http::{ApiError, ApiJson, user_agent};
use shared::integrations::email::Mailer;
use shared::integrations::email::templates;
use shared::store::accounts::{SignedUp, UserItem};
use shared::store::now_rfc3339;

use super::{required, send_email};
use crate::Signer;
use crate::auth_result::{AuthResult, auth_result};

/// Every field optional at the parsing stage, so one answer can name all that are missing.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignupRequest {
    email: Option<String>,
    password: Option<String>,
    name: Option<String>,
    timezone: Option<String>,
    language: Option<String>,
}

struct ValidSignup {
    email: String,
    password: String,
    name: String,
    timezone: String,
    language: String,
}

fn validate(request: SignupRequest) -> Result<ValidSignup, ApiError> {
    let mut violations = Violations::new();
    let email = required(&mut violations, "email", &request.email);
    let email = match email {
        "" => String::new(),
        raw => normalize_email(raw).unwrap_or_else(|message| {
            violations.add("email", message);
            String::new()
        }),
    };
    let password = required(&mut violations, "password", &request.password);
    if !password.is_empty() {
        violations.check("password", validate_password(password, Some(&email)));
    }
    let name = required(&mut violations, "name", &request.name);
    if !name.is_empty() {
        violations.check("name", validate_name(name));
    }
    let timezone = required(&mut violations, "timezone", &request.timezone);
    if !timezone.is_empty() {
        violations.check("timezone", validate_timezone(timezone));
    }
    let language = request.language.clone().unwrap_or_else(|| "en".into());
    violations.check("language", validate_language(&language));
    let valid = ValidSignup {
        email,
        password: password.to_string(),
        name: name.trim().to_string(),
        timezone: timezone.to_string(),
        language,
    };
    violations.finish(valid).map_err(ApiError::from)
}

#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "The account, signed in", body = AuthResult),
        (status = 409, description = "email_taken", body = Problem, content_type = "application/problem+json"),
        RequestProblems
    )
)]
pub async fn signup(
    State(app): State<Base>,
    State(signer): State<Signer>,
    State(mailer): State<Mailer>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SignupRequest>,
) -> Result<(StatusCode, Json<AuthResult>), ApiError> {
    let input = validate(request)?;
    let password_hash = password::hash(input.password).await;
    let now = now_rfc3339();
    let user_id = ulid::Ulid::new().to_string();
    let mut user = UserItem::new(user_id.clone(), input.email, input.name, input.timezone, input.language, &now);
    user.password_hash = Some(password_hash);

    let SignedUp { session, verify_token } = app.store.accounts().signup(&user, user_agent(&headers)).await?;
    send_email(&mailer, templates::verify_email(&user.email, &mailer.app_base_url, &verify_token)).await;
    Ok((StatusCode::CREATED, Json(auth_result(&signer, &user, &session.session_id, session.refresh_token))))
}
