//! `GET /v1/me/sessions` and `DELETE /v1/me/sessions/{id}`.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::Serialize;
use shared::Base;
use shared::http::openapi::{CallerProblems, RequestProblems};
use shared::http::pagination::Page;
use shared::http::{ApiError, CheckedUser, live_sessions};
use shared::http::{ApiPath, Id};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    id: String,
    created_at: String,
    last_used_at: String,
    user_agent: Option<String>,
    method: String,
    /// The session the request's access token belongs to.
    current: bool,
}

/// Every live session, most recently used first, in one page (sessions idle 30 days expire).
#[utoipa::path(get, path = "/v1/me/sessions", tag = "account",
    responses(
        (status = 200, description = "The caller's live sessions", body = Page<SessionView>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn list(State(app): State<Base>, caller: CheckedUser) -> Result<Json<Page<SessionView>>, ApiError> {
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    let mut sessions = app.store.sessions().live_sessions(&user).await?;
    sessions.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at));
    let items = sessions
        .into_iter()
        .map(|session| SessionView {
            current: session.id == caller.session_id,
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            user_agent: session.user_agent,
            method: session.method,
        })
        .collect();
    Ok(Json(Page::whole(items)))
}

#[utoipa::path(delete, path = "/v1/me/sessions/{id}", tag = "account",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Ended: its refresh token no longer works"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(app): State<Base>,
    caller: CheckedUser,
    ApiPath(session_id): ApiPath<Id>,
) -> Result<StatusCode, ApiError> {
    if app.store.sessions().revoke_session(&caller.user_id, &session_id).await? {
        live_sessions::forget(&[&session_id]);
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
