//! The caller, from `Authorization: Bearer <access token>`, whose session must still be live:
//! `CurrentUser` trusts a session found live in the last minute (`live_sessions`), `CheckedUser`
//! (account routes: password, sessions, identities, push tokens) asks the table on every call.

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, header};

use super::live_sessions;
use super::problem::ApiError;
use crate::domain::account::Tier;
use crate::state::Base;

/// The authenticated caller: the user and the session its token was issued for.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: String,
    pub session_id: String,
}

impl CurrentUser {
    /// The caller's own partition, where their tasks live.
    pub fn tenant(&self) -> crate::store::Tenant {
        crate::store::Tenant::user(&self.user_id)
    }
}

/// The limits of a user's plan, read from the profile on every call, so a tier change counts
/// from the next request on.
pub async fn caller_limits(base: &Base, user_id: &str) -> Result<crate::domain::plan::PlanLimits, ApiError> {
    let user = base.store.accounts().get_user(user_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(crate::domain::plan::limits(user.tier))
}

fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|token| !token.is_empty())
}

/// The caller whose session was found live in the table during this very request.
#[derive(Debug, Clone)]
pub struct CheckedUser(pub CurrentUser);

impl std::ops::Deref for CheckedUser {
    type Target = CurrentUser;

    fn deref(&self) -> &CurrentUser {
        &self.0
    }
}

/// The caller of a signed, unexpired access token (no table read).
pub(crate) fn token_caller(headers: &HeaderMap, base: &Base) -> Result<CurrentUser, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized("unauthenticated", "send Authorization: Bearer <access token>"));
    };
    let token = bearer_token(value)
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the Authorization header is not a bearer token"))?;
    let claims = base
        .keys
        .verify(token)
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "the access token is invalid or expired"))?;
    Ok(CurrentUser { user_id: claims.sub, session_id: claims.sid })
}

/// 401 unless the caller's session is live now (and then remembered as such, with the tier).
pub(crate) async fn check_live(base: &Base, caller: &CurrentUser) -> Result<Tier, ApiError> {
    let Some(tier) = base.store.sessions().live_tier(&caller.user_id, &caller.session_id).await? else {
        live_sessions::forget(&[&caller.session_id]);
        return Err(ApiError::unauthorized("session_ended", "this session was ended; sign in again"));
    };
    live_sessions::remember_live(&caller.user_id, &caller.session_id, tier);
    Ok(tier)
}

/// The caller of the request's token, whose session is live: asked of the table now when
/// `check_now`, else only when this process has not found it live in the last minute.
async fn live_caller(headers: &HeaderMap, base: &Base, check_now: bool) -> Result<CurrentUser, ApiError> {
    let caller = token_caller(headers, base)?;
    if check_now || !live_sessions::recently_live(&caller.session_id) {
        check_live(base, &caller).await?;
    }
    Ok(caller)
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser
where
    Base: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        live_caller(&parts.headers, &Base::from_ref(state), false).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CheckedUser
where
    Base: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        live_caller(&parts.headers, &Base::from_ref(state), true).await.map(CheckedUser)
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
