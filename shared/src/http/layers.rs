//! What every response gets, whichever route answered: a request id, security headers, a log line,
//! problem+json for unknown routes and wrong methods.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode, header};

use super::problem::ApiError;
use super::request_id::{REQUEST_ID, REQUEST_ID_HEADER, request_id_for};

const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// The outermost middleware: sets the request id for everything inside, stamps the headers every
/// response carries, and writes one log line per request (route template, never the raw path or body).
pub async fn request_envelope(req: Request, next: Next) -> Response {
    let request_id = request_id_for(&req);
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map(|path| path.as_str().to_string());
    let cold_start = crate::telemetry::take_cold_start();
    let started = Instant::now();

    let mut response = REQUEST_ID.scope(request_id.clone(), next.run(req)).await;

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    for (name, value) in SECURITY_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    tracing::info!(
        request_id,
        function = crate::telemetry::function_name(),
        method = %method,
        route = route.as_deref().unwrap_or("unmatched"),
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        cold_start,
        "request"
    );
    response
}

pub async fn route_not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no route matches this path").into_response()
}

pub async fn method_not_allowed() -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not accept this method")
        .into_response()
}
