//! Optimistic concurrency on the wire: `ETag: "<version>"` out, `If-Match` in.

use http::{HeaderMap, HeaderValue, header};

use super::problem::ApiError;

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
