//! `POST /v1/me/identities/google` and `DELETE /v1/me/identities/google`: the signed-in owner links
//! a Google identity to the account, or unlinks it. Linking is the only way a Google identity
//! joins an account whose email is verified (a Google sign-in that meets one answers 409
//! `account_link_required`); an account links one Google identity, and keeps a way to sign in.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use shared::Base;
use shared::domain::Violations;
use shared::domain::account::Profile;
use shared::http::concurrency::with_etag;
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::{ApiError, ApiJson, CheckedUser};
use shared::integrations::google::IdTokenVerifier;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LinkGoogleRequest {
    /// A Google ID token of the identity to link.
    id_token: Option<String>,
}

#[utoipa::path(post, path = "/v1/me/identities/google", tag = "account",
    request_body = LinkGoogleRequest,
    responses(
        (status = 200, description = "Linked: the profile, with `google_linked` true", body = Profile),
        (status = 401, description = "invalid_google_token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "google_already_linked (this account has another Google identity) or google_taken (the identity belongs to another account)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "google_sign_in_disabled or google_unavailable", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn link_google(
    State(app): State<Base>,
    State(google): State<Arc<dyn IdTokenVerifier>>,
    caller: CheckedUser,
    ApiJson(request): ApiJson<LinkGoogleRequest>,
) -> Result<Response, ApiError> {
    let id_token = request
        .id_token
        .filter(|token| !token.trim().is_empty())
        .ok_or_else(|| ApiError::from(Violations::one("id_token", "is required")))?;
    let identity = google.verify(&id_token).await?;
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    if user.google_sub.as_deref() == Some(identity.subject.as_str()) {
        return Ok(profile_response(&user));
    }
    app.store.accounts().link_google(&user, &identity.subject).await?;
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(profile_response(&user))
}

#[utoipa::path(delete, path = "/v1/me/identities/google", tag = "account",
    responses(
        (status = 200, description = "Unlinked: the profile, with `google_linked` false", body = Profile),
        (status = 409, description = "last_sign_in_method: set a password first", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn unlink_google(State(app): State<Base>, caller: CheckedUser) -> Result<Response, ApiError> {
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    app.store.accounts().unlink_google(&user).await?;
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(profile_response(&user))
}

fn profile_response(user: &shared::store::accounts::UserItem) -> Response {
    with_etag(StatusCode::OK, &Profile::from(user), user.version)
}
