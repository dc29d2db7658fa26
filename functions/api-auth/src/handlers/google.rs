//! `POST /v1/auth/google`: sign in with a Google ID token (whose email Google verified). Signs in
//! to the account linked to the Google subject; or claims the account with that email when nobody
//! ever verified it (its password and sessions end: whoever set them could not prove the address);
//! or creates one. An account whose email is verified is linked only by its signed-in owner
//! (`POST /v1/me/identities/google`): meeting one here answers 409 `account_link_required`.

use axum::Json;
use axum::extract::State;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use shared::http::openapi::{Problem, RequestProblems};
use std::sync::Arc;

use shared::Base;
use shared::domain::Violations;
use shared::domain::account::{normalize_email, validate_timezone};
use shared::http::{ApiError, ApiJson, user_agent};
use shared::integrations::google::GoogleIdentity;
use shared::integrations::google::IdTokenVerifier;
use shared::store::WriteError;
use shared::store::accounts::UserItem;
use shared::store::now_rfc3339;

use super::required;
use crate::Signer;
use crate::auth_result::{AuthResult, auth_result};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GoogleRequest {
    id_token: Option<String>,
    /// Used only when the sign-in creates the account.
    timezone: Option<String>,
}

#[utoipa::path(post, path = "/v1/auth/google", tag = "auth",
    request_body = GoogleRequest,
    responses(
        (status = 200, description = "Signed in to the linked account", body = AuthResult),
        (status = 201, description = "A new account, signed in", body = AuthResult),
        (status = 401, description = "invalid_google_token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "account_link_required: an account with this verified email exists; its owner links Google while signed in", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "google_not_configured or google_unavailable", body = Problem, content_type = "application/problem+json"),
        RequestProblems
    )
)]
pub async fn sign_in(
    State(app): State<Base>,
    State(signer): State<Signer>,
    State(google): State<Arc<dyn IdTokenVerifier>>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<GoogleRequest>,
) -> Result<(StatusCode, Json<AuthResult>), ApiError> {
    let mut violations = Violations::new();
    let id_token = required(&mut violations, "id_token", &request.id_token).to_string();
    let timezone = request.timezone.unwrap_or_else(|| "UTC".into());
    violations.check("timezone", validate_timezone(&timezone));
    if !violations.is_empty() {
        return Err(ApiError::from(violations));
    }
    let identity = google.verify(&id_token).await?;
    let email = normalize_email(&identity.email)
        .map_err(|_| ApiError::unauthorized("invalid_google_token", "the Google account has no usable email"))?;

    let (user, status) = match find_or_claim(&app, &identity, &email).await? {
        Some(user) => (user, StatusCode::OK),
        None => (create(&app, &identity, email, timezone).await?, StatusCode::CREATED),
    };
    let session = app.store.sessions().open(&user, user_agent(&headers), "google").await?;
    Ok((status, Json(auth_result(&signer, &user, &session.session_id, session.refresh_token))))
}

fn link_required() -> ApiError {
    ApiError::conflict(
        "account_link_required",
        "an account with this email exists: sign in to it and link Google from the account's settings",
    )
}

/// The account linked to this Google identity; or the unverified account with its email, claimed;
/// or none.
async fn find_or_claim(app: &Base, identity: &GoogleIdentity, email: &str) -> Result<Option<UserItem>, ApiError> {
    if let Some(user_id) = app.store.accounts().user_id_by_google(&identity.subject).await? {
        return Ok(app.store.accounts().get_user(&user_id).await?);
    }
    let Some(user_id) = app.store.accounts().user_id_by_email(email).await? else {
        return Ok(None);
    };
    let user = app
        .store
        .accounts()
        .get_user(&user_id)
        .await?
        .ok_or_else(|| ApiError::internal("email item without profile"))?;
    // A verified address is its owner's; an account linked to one Google identity takes no other.
    if user.email_verified || user.google_sub.is_some() {
        return Err(link_required());
    }
    match app.store.accounts().claim_with_google(&user, &identity.subject).await {
        Ok(()) => Ok(app.store.accounts().get_user(&user_id).await?),
        // A concurrent sign-in with this identity claimed it first: sign in where it went.
        Err(refused) if refused.is_conflict("google_taken") => {
            let owner = app.store.accounts().user_id_by_google(&identity.subject).await?;
            let owner = owner.ok_or_else(|| ApiError::internal("Google item vanished"))?;
            Ok(app.store.accounts().get_user(&owner).await?)
        }
        Err(refused) => Err(refused.into()),
    }
}

async fn create(app: &Base, identity: &GoogleIdentity, email: String, timezone: String) -> Result<UserItem, ApiError> {
    let now = now_rfc3339();
    let name = identity
        .name
        .clone()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string());
    let mut user = UserItem::new(ulid::Ulid::new().to_string(), email, name, timezone, "en".into(), &now);
    user.email_verified = true;
    user.google_sub = Some(identity.subject.clone());
    match app.store.accounts().create_with_google(&user, &identity.subject).await {
        Ok(()) => Ok(user),
        // Raced with a signup or another Google sign-in for the same person: go by what won.
        Err(WriteError::Conflict { .. }) => {
            find_or_claim(app, identity, &user.email).await?.ok_or_else(|| ApiError::internal("account vanished"))
        }
        Err(refused) => Err(refused.into()),
    }
}
