//! `POST/DELETE /v1/calendar/feed`, `GET /v1/calendar/feed/{token}.ics`.
//!
//! The feed is the caller's own events as iCalendar, at a secret URL any calendar app can
//! subscribe to. The token is shown once, stored only as its SHA-256, and rotating or deleting
//! the feed ends the old URL at once.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use shared::Base;
use shared::auth::opaque::{sha256_hex, user_of_token, user_token};
use shared::domain::ical;
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::{ApiError, ApiPath, CurrentUser};
use shared::store::Tenant;
use subtle::ConstantTimeEq;

/// Calendar apps poll a subscribed feed; five minutes between fetches is plenty for a calendar.
const CACHE_CONTROL: &str = "private, max-age=300";

/// Events that ended more than this long ago are left out of the feed, which keeps it small
/// however long a person has used the app.
const FEED_HISTORY_DAYS: i64 = 365;

/// The feed's secret URL, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedCreated {
    /// The URL to subscribe to: `<API>/v1/calendar/feed/<token>.ics`. It is not shown again.
    url: String,
    /// Whether this replaced an earlier URL, which stopped working.
    rotated: bool,
}

/// Creates the caller's feed, or rotates it: a new secret URL, and the old one answers 404.
#[utoipa::path(post, path = "/v1/calendar/feed", tag = "calendar",
    responses(
        (status = 201, description = "The feed's secret URL (not shown again)", body = FeedCreated),
        (status = 409, description = "feed_rotated: another request rotated the feed at the same moment", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn create(State(app): State<Base>, caller: CurrentUser, headers: HeaderMap) -> Result<Response, ApiError> {
    let feeds = app.store.feeds();
    let current = feeds.get_feed(&caller.user_id).await?;
    let token = user_token(&caller.user_id);
    let previous = current.as_ref().map(|feed| feed.token_hash.as_str());
    if !feeds.rotate_feed(&caller.user_id, previous, &sha256_hex(&token)).await? {
        return Err(ApiError::conflict("feed_rotated", "another request rotated the feed at the same moment"));
    }
    let url = format!("{}/v1/calendar/feed/{token}.ics", api_origin(&headers));
    Ok((StatusCode::CREATED, Json(FeedCreated { url, rotated: current.is_some() })).into_response())
}

/// Ends the caller's feed: its URL answers 404 from now on.
#[utoipa::path(delete, path = "/v1/calendar/feed", tag = "calendar",
    responses((status = 204, description = "The feed is gone"), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn delete(State(app): State<Base>, caller: CurrentUser) -> Result<StatusCode, ApiError> {
    match app.store.feeds().delete_feed(&caller.user_id).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found()),
    }
}

/// The feed itself, for calendar apps (no bearer token: the URL's secret is the credential).
#[utoipa::path(get, path = "/v1/calendar/feed/{token}", tag = "calendar",
    params(("token" = String, Path, description = "The feed's secret token followed by `.ics`, as `POST /v1/calendar/feed` gave it")),
    responses(
        (status = 200, description = "The caller's own events as iCalendar (RFC 5545)", content_type = "text/calendar", body = String,
            headers(("ETag" = String, description = "Changes when the feed does"), ("Cache-Control" = String, description = "private, max-age=300"))),
        (status = 304, description = "Not modified: `If-None-Match` holds the current ETag"),
        (status = 404, description = "not_found: no such feed, or it was rotated or deleted", body = Problem, content_type = "application/problem+json"),
        RequestProblems
    ))]
pub async fn serve(
    State(app): State<Base>,
    ApiPath(token): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user_id = feed_owner(&app, &token).await?;
    let since = Utc::now() - Duration::days(FEED_HISTORY_DAYS);
    let mut events = app.store.events().own_events_since(&Tenant::user(&user_id), since).await?;
    events.sort_by(|a, b| a.id.cmp(&b.id));
    let blocks = focus_blocks(&app, &user_id, since).await?;
    let body = ical::with_focus_blocks(&events, &blocks, Utc::now());
    let etag = format!("\"{}\"", &sha256_hex(&body)[..32]);
    let cached = [(header::ETAG, etag.clone()), (header::CACHE_CONTROL, CACHE_CONTROL.to_string())];
    if matches_etag(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, cached).into_response());
    }
    let content_type = (header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_string());
    Ok((StatusCode::OK, cached, [content_type], body).into_response())
}

/// The focus blocks of the user's accepted day plans since `since`, as the tasks hold them now:
/// a block whose task was deleted, or no longer holds it, is left out, and each shows its task's
/// current title (a day's plan keeps the titles of when it was accepted).
async fn focus_blocks(
    app: &Base,
    user_id: &str,
    since: chrono::DateTime<Utc>,
) -> Result<Vec<ical::FocusBlock>, ApiError> {
    let days = app.store.planning().accepted_days_since(user_id, &since.date_naive().to_string()).await?;
    let mut blocks = Vec::new();
    for day in days {
        blocks.extend(day.focus_blocks()?);
    }
    if blocks.is_empty() {
        return Ok(blocks);
    }
    let mut ids: Vec<String> = blocks.iter().map(|block| block.task_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let tasks = app.store.tasks().live_tasks(&Tenant::user(user_id), &ids).await?;
    let by_id: std::collections::HashMap<&str, &shared::domain::task::Task> =
        tasks.iter().map(|task| (task.id.as_str(), task)).collect();
    Ok(blocks
        .into_iter()
        .filter_map(|block| {
            let task = by_id.get(block.task_id.as_str())?;
            let held = task
                .scheduled_blocks
                .iter()
                .any(|scheduled| scheduled.start_at == block.start_at && scheduled.end_at == block.end_at);
            held.then(|| ical::FocusBlock { title: task.title.clone(), ..block })
        })
        .collect())
}

/// The user a feed token belongs to, if it is their current one (compared in constant time).
async fn feed_owner(app: &Base, path_token: &str) -> Result<String, ApiError> {
    let token = path_token.strip_suffix(".ics").ok_or_else(ApiError::not_found)?;
    let user_id = user_of_token(token).ok_or_else(ApiError::not_found)?;
    let feed = app.store.feeds().get_feed(user_id).await?.ok_or_else(ApiError::not_found)?;
    let presented = sha256_hex(token);
    match bool::from(presented.as_bytes().ct_eq(feed.token_hash.as_bytes())) {
        true => Ok(user_id.to_string()),
        false => Err(ApiError::not_found()),
    }
}

/// Whether `If-None-Match` names `etag` (or `*`); weak validators compare by their value.
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|value| value.to_str().ok()).any(|value| {
        value.split(',').map(str::trim).any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
    })
}

/// Where this API is reached, from the request: API Gateway gives the host and
/// `X-Forwarded-Proto`; a request without it is plain HTTP only on this machine (`make dev`).
pub(crate) fn api_origin(headers: &HeaderMap) -> String {
    let text = |value: Option<&HeaderValue>| value.and_then(|value| value.to_str().ok()).map(str::to_string);
    let host = text(headers.get(header::HOST)).unwrap_or_else(|| "localhost".into());
    let local =
        ["localhost", "127.0.0.1", "[::1]"].iter().any(|name| host == *name || host.starts_with(&format!("{name}:")));
    let scheme = text(headers.get("x-forwarded-proto")).unwrap_or_else(|| if local { "http" } else { "https" }.into());
    format!("{scheme}://{host}")
}
