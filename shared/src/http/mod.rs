//! axum plumbing shared by every route group.

pub mod auth;
pub mod client_ip;
pub mod concurrency;
pub mod idempotency;
pub mod ids;
pub mod json;
pub mod known_fields;
pub mod layers;
pub mod live_sessions;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod query;
pub mod rate_limit;
pub mod request_id;
pub mod routes;

pub use auth::{CheckedUser, CurrentUser, caller_limits};
pub use ids::{ApiPath, Id};
pub use json::{ApiJson, OptionalJson};
pub use problem::{ApiError, FieldError};
pub use query::ApiQuery;
pub use routes::{Route, RouteGroup};

/// The User-Agent of a request, for the sessions list.
pub fn user_agent(headers: &::http::HeaderMap) -> Option<&str> {
    headers.get(::http::header::USER_AGENT).and_then(|value| value.to_str().ok())
}
