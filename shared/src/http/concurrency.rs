//! Optimistic concurrency on the wire: `ETag: "<version>"` out, `If-Match` in.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use super::problem::ApiError;
use crate::domain::Versioned;

/// An object with `version`, answered with its `ETag`.
pub fn with_etag(status: StatusCode, body: &impl Serialize, version: u64) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    response
}

/// 201 with the new object, its `ETag`, and its `Location`.
pub fn created<T: Versioned>(location: &str, object: &T) -> Response {
    let mut response = with_etag(StatusCode::CREATED, object, object.version());
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// 412 `version_conflict`: the `If-Match` was stale; `current` is the object as it is now, so the
/// client can merge and retry without another read.
pub fn version_conflict(what: &str, version: u64, current: &impl Serialize) -> ApiError {
    let detail = format!("the {what} changed: it is at version {version}");
    ApiError::new(StatusCode::PRECONDITION_FAILED, "version_conflict", detail)
        .with_extra("current", serde_json::to_value(current).unwrap_or_default())
}

/// 412 with `current` when the client expected another version (`expected` from `If-Match`).
pub fn check_if_match<T: Versioned>(expected: Option<u64>, current: &T) -> Result<(), ApiError> {
    match expected {
        Some(version) if version != current.version() => Err(version_conflict(T::KIND, current.version(), current)),
        _ => Ok(()),
    }
}

pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits and quotes are a valid header value")
}

/// The version a client expects, from `If-Match` (`"3"`, `W/"3"` or `3`); `None` when absent or `*`.
pub fn if_match_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse::<u64>()
        .map(Some)
        .map_err(|_| ApiError::bad_request("invalid_if_match", "If-Match must be an ETag this API sent, such as \"3\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_the_etag_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match_version(&headers).unwrap(), None);
        for (value, expected) in [("\"3\"", Some(3)), ("W/\"4\"", Some(4)), ("5", Some(5)), ("*", None)] {
            headers.insert(header::IF_MATCH, HeaderValue::from_static(value));
            assert_eq!(if_match_version(&headers).unwrap(), expected, "{value}");
        }
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"abc\""));
        assert_eq!(if_match_version(&headers).unwrap_err().code, "invalid_if_match");
    }
}
