//! Unauthenticated read-only routes.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::{HeaderValue, header};
use shared::Base;

/// `GET /.well-known/jwks.json`: the public keys that verify our access tokens.
pub async fn jwks(State(app): State<Base>) -> impl IntoResponse {
    let mut response = Json(app.keys.jwks()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// `GET /v1/health`
pub async fn health(State(app): State<Base>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "ok",
        "function": app.function_name,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
