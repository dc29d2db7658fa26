//! Unauthenticated read-only routes: the signing keys, health, and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::{HeaderValue, header};
use serde::Serialize;
use shared::Base;

/// `GET /.well-known/jwks.json`: the public keys that verify our access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses(
        (status = 200, description = "The public keys that verify access tokens (RFC 7517)", body = Object)
    )
)]
pub async fn jwks(State(app): State<Base>) -> impl IntoResponse {
    let mut response = Json(app.keys.jwks()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// `GET /v1/health`
#[utoipa::path(get, path = "/v1/health", tag = "auth",
    responses(
        (status = 200, description = "The function is up", body = Health)
    )
)]
pub async fn health(State(app): State<Base>) -> Json<Health> {
    Json(Health { status: "ok", function: app.function_name.clone(), version: env!("CARGO_PKG_VERSION") })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
    /// The function that answered.
    function: String,
    version: &'static str,
}

/// The OpenAPI document of the whole API, generated from the code (`make openapi` writes it).
const OPENAPI_DOCUMENT: &str = include_str!("../../../../docs/openapi.json");

/// `GET /v1/openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "auth",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of every route", body = Object)
    )
)]
pub async fn openapi() -> impl IntoResponse {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
    ];
    (headers, OPENAPI_DOCUMENT)
}
