//! `GET /v1/calendar/connections`, `POST /v1/calendar/connections/{provider}` (start OAuth),
//! `GET /v1/calendar/connections/{provider}/callback`, `DELETE /v1/calendar/connections/{id}`,
//! `POST /v1/calendar/connections/{id}/sync`.
//!
//! The segment after `connections/` is a provider name (`google`, `outlook`) on the start and
//! the callback, and a connection id elsewhere; the router needs one name for it, `{id}`.
//!
//! Connecting is the OAuth 2.0 authorization code grant with PKCE: the start hands out the
//! provider's consent URL with a `state` bound to the caller (stored hashed, single use, 10
//! minutes); the provider sends the browser back to the callback, which trades the code for
//! tokens (stored sealed), sets up push and queues the first sync, then sends the browser on to
//! the app. Syncing itself is calendar-sync-worker's (`jobs::calendar_sync`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::Base;
use shared::auth::opaque::{new_secret, sha256_hex, user_of_token, user_token};
use shared::domain::calendar::Source;
use shared::domain::connection::{AUTHORIZATION_SECONDS, CONNECTIONS_PER_USER, Connection};
use shared::domain::messages::CalendarJob;
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::pagination::Page;
use shared::http::{ApiError, ApiPath, CurrentUser, Id};
use shared::integrations::calendar_clients::CalendarClients;
use shared::integrations::calendars::{CalendarProvider, Grant, ProviderError};
use shared::jobs::queue::SyncQueue;
use shared::store::connections::{ConnectionItem, provider_name, token_owner};

use super::feed::api_origin;
use crate::AppUrl;

/// The provider's consent URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizationStarted {
    /// Open this in the user's browser; the provider sends it back to the callback.
    url: String,
    /// The consent must come back before this instant.
    expires_at: DateTime<Utc>,
}

/// A sync queued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncQueued {
    queued: bool,
}

/// What the provider sends the browser back with. Providers add parameters of their own
/// (`scope`, `authuser`, `session_state`, `iss`), so unlike every other query this one ignores
/// names it does not know.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The `state` the start handed out.
    state: Option<String>,
    /// Set instead of `code` when the user declined (`access_denied`) or the provider failed.
    error: Option<String>,
    /// The provider's words for `error`.
    error_description: Option<String>,
}

fn parse_provider(name: &str) -> Result<Source, ApiError> {
    match name {
        "google" => Ok(Source::Google),
        "outlook" => Ok(Source::Outlook),
        _ => Err(ApiError::not_found()),
    }
}

async fn provider_client(
    calendars: &CalendarClients,
    provider: Source,
) -> Result<std::sync::Arc<dyn CalendarProvider>, ApiError> {
    let loaded = calendars.loaded().await.map_err(ApiError::internal)?;
    loaded.provider(provider).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_not_configured",
            format!("{} calendars are not set up in this deployment", provider_name(provider)),
        )
    })
}

/// The caller's calendar connections (never their tokens).
#[utoipa::path(get, path = "/v1/calendar/connections", tag = "calendar",
    responses(
        (status = 200, description = "Every connection (`next_cursor` is null)", body = Page<Connection>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(State(app): State<Base>, caller: CurrentUser) -> Result<Json<Page<Connection>>, ApiError> {
    let items = app.store.connections().list_connections(&caller.user_id).await?;
    Ok(Json(Page::whole(items.iter().map(ConnectionItem::view).collect())))
}

/// Starts connecting a Google (`google`) or Outlook (`outlook`) calendar: answers the provider's
/// consent URL, good for 10 minutes and one use.
#[utoipa::path(post, path = "/v1/calendar/connections/{id}", tag = "calendar",
    params(("id" = String, Path, description = "The provider: `google` or `outlook`")),
    responses(
        (status = 201, description = "The consent URL to open", body = AuthorizationStarted),
        (status = 403, description = "limit_reached: 10 connections at most", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "provider_not_configured: this deployment has no client for that provider", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn start(
    State(app): State<Base>,
    State(calendars): State<CalendarClients>,
    caller: CurrentUser,
    ApiPath(provider): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let provider = parse_provider(&provider)?;
    let client = provider_client(&calendars, provider).await?;
    let connected = app.store.connections().list_connections(&caller.user_id).await?;
    if connected.len() >= CONNECTIONS_PER_USER {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "limit_reached",
            format!("at most {CONNECTIONS_PER_USER} calendars can be connected; remove one first"),
        ));
    }
    let state = user_token(&caller.user_id);
    let verifier = new_secret();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect_uri = format!("{}/v1/calendar/connections/{}/callback", api_origin(&headers), provider_name(provider));
    let expires_at = Utc::now() + Duration::seconds(AUTHORIZATION_SECONDS);
    app.store
        .connections()
        .start_authorization(
            &caller.user_id,
            &sha256_hex(&state),
            provider,
            &verifier,
            &redirect_uri,
            expires_at.timestamp(),
        )
        .await?;
    let url = client.authorize_url(&state, &challenge, &redirect_uri);
    Ok((StatusCode::CREATED, Json(AuthorizationStarted { url, expires_at })).into_response())
}

/// Where the provider sends the browser back (no bearer token: `state` says whose it is). On
/// success, or when the user declined, the browser goes on to the app's calendar settings with
/// `connected=<provider>` or `calendar_error=<code>`.
#[utoipa::path(get, path = "/v1/calendar/connections/{id}/callback", tag = "calendar",
    params(("id" = String, Path, description = "The provider: `google` or `outlook`"), CallbackQuery),
    responses(
        (status = 303, description = "On to the app: `connected=<provider>` or `calendar_error=<code>`",
            headers(("Location" = String, description = "The app's calendar settings"))),
        (status = 400, description = "invalid_state: unknown, used, expired, or for another provider", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not_found: no such provider", body = Problem, content_type = "application/problem+json"),
        RequestProblems
    ))]
pub async fn callback(
    State(app): State<Base>,
    State(calendars): State<CalendarClients>,
    State(queue): State<SyncQueue>,
    State(app_url): State<AppUrl>,
    ApiPath(provider): ApiPath<String>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let provider = parse_provider(&provider)?;
    let Query(query) =
        query.map_err(|_| ApiError::bad_request("malformed_query", "the query string could not be read"))?;
    let invalid =
        || ApiError::bad_request("invalid_state", "this authorization is unknown, used, or expired: start again");
    let state = query.state.as_deref().ok_or_else(invalid)?;
    let user_id = user_of_token(state).ok_or_else(invalid)?.to_string();
    let authorization = app.store.connections().take_authorization(&user_id, &sha256_hex(state)).await?;
    let authorization = authorization.filter(|found| found.provider == provider).ok_or_else(invalid)?;
    let back = |outcome: &str| Redirect::to(&app_url.calendar_settings(outcome)).into_response();
    if let Some(error) = &query.error {
        tracing::info!(error, description = query.error_description.as_deref(), "the provider sent back no code");
        return Ok(back(&format!("calendar_error={}", short_code(error))));
    }
    let code = query.code.as_deref().ok_or_else(|| ApiError::bad_request("invalid_callback", "no code was given"))?;
    let client = provider_client(&calendars, provider).await?;
    let grant = match client.exchange_code(code, &authorization.code_verifier, &authorization.redirect_uri).await {
        Ok(grant) => grant,
        Err(error) => return Ok(back(&format!("calendar_error={}", failure_code(&error)))),
    };
    let Some(refresh_token) = grant.refresh_token.clone() else {
        return Ok(back("calendar_error=no_refresh_token"));
    };
    let account = match client.account(&grant.access_token).await {
        Ok(account) => account,
        Err(error) => return Ok(back(&format!("calendar_error={}", failure_code(&error)))),
    };
    let loaded = calendars.loaded().await.map_err(ApiError::internal)?;
    let owner = token_owner(&user_id, provider);
    let sealed_refresh = loaded.sealing.seal(&refresh_token, &owner);
    let connections = app.store.connections();
    let existing = connections.list_connections(&user_id).await?;
    let same = existing.iter().find(|item| item.provider == provider && item.account == account.email);
    let connection = match same {
        Some(item) => {
            connections.reconnect(item, &sealed_refresh).await?;
            item.clone()
        }
        None if existing.len() >= CONNECTIONS_PER_USER => return Ok(back("calendar_error=limit_reached")),
        None => {
            let item = ConnectionItem::new(
                &user_id,
                provider,
                account.email,
                account.calendar_id,
                sealed_refresh,
                api_origin(&headers),
            );
            connections.create_connection(&item).await?;
            item
        }
    };
    store_access(&app, &connection, loaded, &grant).await?;
    let first_sync =
        CalendarJob::Sync { user_id: user_id.clone(), connection_id: connection.id.clone(), renew_watch: true };
    queue.send(&first_sync, 0).await.map_err(ApiError::internal)?;
    Ok(back(&format!("connected={}", provider_name(provider))))
}

async fn store_access(
    app: &Base,
    connection: &ConnectionItem,
    loaded: &shared::integrations::calendar_clients::Loaded,
    grant: &Grant,
) -> Result<(), ApiError> {
    let sealed = loaded.sealing.seal(&grant.access_token, &connection.token_owner());
    app.store.connections().store_tokens(connection, &sealed, grant.expires_at, None).await?;
    Ok(())
}

/// A provider's error code, kept to what a URL and a log can safely carry.
fn short_code(error: &str) -> String {
    error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect()
}

fn failure_code(error: &ProviderError) -> &'static str {
    match error {
        ProviderError::GrantRefused(_) => "grant_refused",
        _ => "provider_unavailable",
    }
}

/// Removes a connection: its events go (within seconds, by the sync worker) and its push
/// channel is stopped.
#[utoipa::path(delete, path = "/v1/calendar/connections/{id}", tag = "calendar",
    params(("id" = String, Path, description = "The connection's id")),
    responses((status = 204, description = "The connection is gone"), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Base>,
    State(queue): State<SyncQueue>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<StatusCode, ApiError> {
    let removed = app.store.connections().delete_connection(&caller.user_id, &id).await?;
    let removed = removed.ok_or_else(ApiError::not_found)?;
    let job = CalendarJob::Disconnected { connection: removed.removed() };
    queue.send(&job, 0).await.map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Syncs a connection now (it also syncs by itself whenever the provider notifies a change).
#[utoipa::path(post, path = "/v1/calendar/connections/{id}/sync", tag = "calendar",
    params(("id" = String, Path, description = "The connection's id")),
    responses(
        (status = 202, description = "A sync is queued", body = SyncQueued),
        (status = 409, description = "connection_error: the provider refused our access; connect the account again", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn sync(
    State(app): State<Base>,
    State(queue): State<SyncQueue>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Response, ApiError> {
    let connection = app.store.connections().get_connection(&caller.user_id, &id).await?;
    let connection = connection.ok_or_else(ApiError::not_found)?;
    if connection.status != shared::domain::connection::ConnectionStatus::Connected {
        return Err(ApiError::conflict(
            "connection_error",
            "the provider refused our access: connect the account again",
        ));
    }
    queue.send(&CalendarJob::sync(&caller.user_id, &id), 0).await.map_err(ApiError::internal)?;
    Ok((StatusCode::ACCEPTED, Json(SyncQueued { queued: true })).into_response())
}
