//! The caller, from `Authorization: Bearer <access token>`.

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use http::{HeaderValue, header};

use super::problem::ApiError;
use crate::state::Base;

/// The authenticated caller: the user and the session its token was issued for.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: String,
    pub session_id: String,
}

fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|token| !token.is_empty())
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser
where
    Base: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized("unauthenticated", "send Authorization: Bearer <access token>"));
        };
        let token = bearer_token(value)
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "the Authorization header is not a bearer token"))?;
        let claims = Base::from_ref(state)
            .keys
            .verify(token)
            .ok_or_else(|| ApiError::unauthorized("invalid_token", "the access token is invalid or expired"))?;
        Ok(CurrentUser { user_id: claims.sub, session_id: claims.sid })
    }
}

/// `Option<CurrentUser>`: `None` without an Authorization header; a bad token is still a 401.
impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser
where
    Base: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await.map(Some)
    }
}
