//! What Google's and Microsoft's clients share: the OAuth 2.0 token endpoint (RFC 6749) as both
//! speak it, and the small HTTP helpers of their requests.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;

use super::{Grant, ProviderError};

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: i64,
    /// Sent on a code exchange; on a refresh when the provider rotates it (Microsoft always,
    /// Google rarely).
    refresh_token: Option<String>,
}

/// The token endpoint's errors (RFC 6749 section 5.2; Microsoft adds `error_codes` and ids).
#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    error_description: Option<String>,
}

/// Posts `form` to a token endpoint (`provider` names it in errors) and reads the grant.
pub(super) async fn request_grant(
    http: &reqwest::Client,
    url: String,
    form: &[(&str, &str)],
    provider: &str,
) -> Result<Grant, ProviderError> {
    let response = http.post(url).form(form).send().await.map_err(network_error)?;
    if !response.status().is_success() {
        return Err(token_error(response, provider).await);
    }
    let body = response.bytes().await.map_err(network_error)?;
    // No serde detail in the error: it could quote a token.
    let token: TokenResponse = serde_json::from_slice(&body)
        .map_err(|_| ProviderError::Failed(format!("{provider}'s token endpoint sent an unreadable answer")))?;
    Ok(Grant {
        access_token: token.access_token,
        refresh_token: token.refresh_token,
        expires_at: Utc::now() + chrono::Duration::seconds(token.expires_in),
    })
}

async fn token_error(response: reqwest::Response, provider: &str) -> ProviderError {
    let status = response.status();
    let retry = retry_after(response.headers());
    let body: OAuthError = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => OAuthError::default(),
    };
    // Both need the user back: the grant is gone, or (Microsoft) new consent such as MFA is needed.
    if matches!(body.error.as_str(), "invalid_grant" | "interaction_required") {
        let description = body.error_description.unwrap_or(body.error);
        // Microsoft's first line names the AADSTS code; trace and correlation ids follow.
        return ProviderError::GrantRefused(description.lines().next().unwrap_or_default().to_string());
    }
    if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
        return ProviderError::Throttled { retry_after: retry };
    }
    ProviderError::Failed(format!("{provider}'s token endpoint answered {status} {}", body.error))
}

/// Percent-encodes one path segment (calendar ids are addresses, or contain `#`).
pub(super) fn path_segment(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// `application/x-www-form-urlencoded` pairs (the query of a consent URL).
pub(super) fn form_encode(pairs: &[(&str, &str)]) -> String {
    // Strings always encode; an empty query would only make the consent page complain.
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// A failed connection. The URL is left out: a page or sync token is part of it.
pub(super) fn network_error(error: reqwest::Error) -> ProviderError {
    ProviderError::Failed(format!("request failed: {}", error.without_url()))
}

/// `Retry-After` in seconds, or as an HTTP-date.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}
