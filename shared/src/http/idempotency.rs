//! `Idempotency-Key` on every mutation, one mechanism for every route group: a repeat of a request
//! with the same key and body replays the first answer (`idempotent-replayed: true`); the same key
//! with another body is 422 `idempotency_key_reused`; while the first is still running, 409.
//!
//! Keys belong to the caller (they live under the user's partition). Unauthenticated routes
//! (signup, login, refresh, password reset) are left out: their answers carry fresh tokens, which
//! must never be stored, and repeating them is already harmless.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};

use super::json::{MAX_BODY_BYTES, too_large};
use super::problem::ApiError;
use crate::auth::opaque::sha256_hex;
use crate::state::Base;
use crate::store::idempotency::{Claim, IdempotencyRecord};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";
/// Response headers a replay repeats.
const REPLAYED_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::ETAG, header::LOCATION];
/// Answers larger than this are not stored (a DynamoDB item holds 400 KB): the key is released.
const MAX_STORED_BODY: usize = 300 * 1024;

/// What makes two requests "the same": method, path with query, body.
pub fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> String {
    let mut material = Vec::with_capacity(body.len() + path_and_query.len() + 8);
    material.extend_from_slice(method.as_str().as_bytes());
    material.push(b' ');
    material.extend_from_slice(path_and_query.as_bytes());
    material.push(b'\n');
    material.extend_from_slice(body);
    sha256_hex(&material)
}

fn is_mutation(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or("");
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_string()))
}

fn caller(headers: &HeaderMap, app: &Base) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    app.keys.verify(token.trim()).map(|claims| claims.sub)
}

/// 400 `idempotency_key_required` for a request without a key, on the routes that need one.
pub async fn require_key(req: Request, next: Next) -> Response {
    if is_mutation(req.method()) && !req.headers().contains_key(IDEMPOTENCY_KEY) {
        let detail =
            "this route needs an Idempotency-Key header: a retry without one could start, and charge, a second job";
        return ApiError::bad_request("idempotency_key_required", detail).into_response();
    }
    next.run(req).await
}

pub async fn idempotency(State(app): State<Base>, req: Request, next: Next) -> Response {
    if !is_mutation(req.method()) {
        return next.run(req).await;
    }
    let key = match key_of(req.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(req).await,
        Err(error) => return error.into_response(),
    };
    // Without a valid caller the handler answers 401 itself; nothing to remember.
    let Some(user_id) = caller(req.headers(), &app) else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large().into_response();
    };
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let fingerprint = fingerprint(&parts.method, path, &bytes);
    let key_hash = sha256_hex(&key);
    match app.store.idempotency().claim_idempotency_key(&user_id, &key_hash, &fingerprint).await {
        Ok(Claim::Claimed) => {}
        Ok(Claim::Existing(record)) => return answer_repeat(&record, &fingerprint),
        Err(error) => return ApiError::from(error).into_response(),
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    remember(&app, &user_id, &key_hash, response).await
}

fn answer_repeat(record: &IdempotencyRecord, fingerprint: &str) -> Response {
    if record.fingerprint != fingerprint {
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        )
        .into_response();
    }
    if !record.completed() {
        return ApiError::conflict("idempotency_in_progress", "a request with this Idempotency-Key is still running")
            .with_retry_after(1)
            .into_response();
    }
    let status = StatusCode::from_u16(record.status.unwrap_or(200)).unwrap_or(StatusCode::OK);
    let mut response = (status, record.body.clone().unwrap_or_default()).into_response();
    let stored: Vec<(String, String)> =
        record.headers.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    for (name, value) in stored {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    headers.insert(HeaderName::from_static(REPLAYED), HeaderValue::from_static("true"));
    response
}

/// Whether an answer tells the client to try again later (a 5xx, 401 with another token, 408,
/// 423 locked, 429 too many): replaying it would turn "not now" into "never".
fn says_try_again(status: StatusCode) -> bool {
    status.is_server_error()
        || [StatusCode::UNAUTHORIZED, StatusCode::REQUEST_TIMEOUT, StatusCode::LOCKED, StatusCode::TOO_MANY_REQUESTS]
            .contains(&status)
}

/// Stores the answer on the key, or releases the key when the answer must not be replayed (it
/// says "try again") or cannot be stored.
async fn remember(app: &Base, user_id: &str, key_hash: &str, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_else(|_| Bytes::new());
    let storable = !says_try_again(parts.status) && bytes.len() <= MAX_STORED_BODY;
    let text = std::str::from_utf8(&bytes).ok().filter(|_| storable);
    let outcome = match text {
        Some(text) => {
            let headers: Vec<(String, String)> = REPLAYED_HEADERS
                .iter()
                .filter_map(|name| Some((name.to_string(), parts.headers.get(name)?.to_str().ok()?.to_string())))
                .collect();
            let headers = serde_json::to_string(&headers).unwrap_or_else(|_| "[]".into());
            app.store
                .idempotency()
                .complete_idempotency_key(user_id, key_hash, parts.status.as_u16(), headers, text.to_string())
                .await
        }
        None => app.store.idempotency().release_idempotency_key(user_id, key_hash).await,
    };
    if let Err(error) = outcome {
        tracing::error!(error = %error, "idempotency record not updated");
    }
    Response::from_parts(parts, Body::from(bytes))
}
