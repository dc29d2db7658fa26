//! RFC 9457 problem details: the one error type of the HTTP layer.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use super::concurrency::version_conflict;
use super::request_id::current_request_id;
use crate::domain::Versioned;
use crate::domain::plan::LimitReached;
use crate::integrations::google::GoogleError;
use crate::store::WriteError;

/// One invalid field of a request: `{"field", "message"}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// An HTTP failure with a stable `code`. Its response is `application/problem+json`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after_seconds: Option<u64>,
    /// Extra members of the body, e.g. `current` on a version conflict.
    pub extra: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_seconds: None,
            extra: Vec::new(),
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [only] => format!("{}: {}", only.field, only.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        ApiError { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail) }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such object")
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// A 500 that tells the client nothing internal; the cause goes to the log with the request id.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(request_id = current_request_id().as_deref(), error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "an internal error occurred")
    }

    /// 403 `limit_reached`: which limit (`limit`), how many the plan allows (`allowed`), the tier
    /// that lifts it (`upgrade_to`, null when none does) and the plans that give that tier
    /// (`upgrade_plans`, what checkout takes; empty when none does).
    pub fn limit_reached(reached: LimitReached) -> Self {
        let plans = reached.lifted_by.map(crate::domain::billing::PlanId::of_tier).unwrap_or_default();
        Self::new(StatusCode::FORBIDDEN, "limit_reached", reached.detail())
            .with_extra("limit", serde_json::json!(reached.limit.name()))
            .with_extra("allowed", serde_json::json!(reached.allowed))
            .with_extra("upgrade_to", serde_json::json!(reached.lifted_by))
            .with_extra("upgrade_plans", serde_json::json!(plans))
    }

    /// 403 `plan_required`: a feature `tier` and those above it have (`upgrade_to`,
    /// `upgrade_plans` as on `limit_reached`).
    pub fn plan_required(detail: &str, tier: crate::domain::account::Tier) -> Self {
        let plans = crate::domain::billing::PlanId::of_tier(tier);
        Self::new(StatusCode::FORBIDDEN, "plan_required", detail)
            .with_extra("upgrade_to", serde_json::json!(tier))
            .with_extra("upgrade_plans", serde_json::json!(plans))
    }

    /// 402 `insufficient_credits`: the job needs more credits than the balance (`balance`, per kind).
    pub fn insufficient_credits(refused: crate::domain::credits::InsufficientCredits) -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_credits",
            format!("this needs {} credits and you have {}", refused.needed, refused.balance.total()),
        )
        .with_extra("needed", serde_json::json!(refused.needed))
        .with_extra("balance", serde_json::json!(refused.balance))
    }

    /// 503 `ai_unavailable`: no language model is configured; `detail` names the settings.
    pub fn ai_unavailable(detail: &str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "ai_unavailable", detail)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds.max(1));
        self
    }

    pub fn with_extra(mut self, name: &'static str, value: serde_json::Value) -> Self {
        self.extra.push((name, value));
        self
    }
}

/// Why an AI job did not start: 429 `rate_limited` (the tier's hourly AI budget, with
/// Retry-After), 402 `insufficient_credits`, 503 `ai_unavailable` (not queued; nothing charged).
impl From<crate::jobs::ai::StartError> for ApiError {
    fn from(error: crate::jobs::ai::StartError) -> Self {
        use crate::jobs::ai::StartError;
        match error {
            StartError::RateLimited { per_hour, retry_after } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("{per_hour} AI requests an hour on this plan; try again in {retry_after} s"),
            )
            .with_retry_after(retry_after),
            StartError::Insufficient(refused) => ApiError::insufficient_credits(refused),
            StartError::Store(error) => error.into(),
            StartError::Queue(error) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ai_unavailable",
                format!("the job could not be queued ({error}); nothing was charged, try again"),
            ),
        }
    }
}

/// The one mapping of a refused write: 404, 412 with the current object, 403 `limit_reached`
/// naming the limit, or 409 with the conflict's code.
impl<T: Versioned> From<WriteError<T>> for ApiError {
    fn from(error: WriteError<T>) -> Self {
        match error {
            WriteError::NotFound => ApiError::not_found(),
            WriteError::VersionConflict(current) => version_conflict(T::KIND, current.version(), current.as_ref()),
            WriteError::LimitReached(reached) => ApiError::limit_reached(reached),
            WriteError::Conflict { code, detail } => ApiError::conflict(code, detail),
            WriteError::TooLarge(detail) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_large", detail),
            WriteError::Store(error) => error.into(),
        }
    }
}

/// A Google ID token refused, or Google not reachable.
impl From<GoogleError> for ApiError {
    fn from(error: GoogleError) -> Self {
        match error {
            GoogleError::InvalidToken(reason) => {
                ApiError::unauthorized("invalid_google_token", format!("the Google ID token is not valid: {reason}"))
            }
            GoogleError::EmailNotVerified => ApiError::new(
                StatusCode::FORBIDDEN,
                "google_email_unverified",
                "the Google account's email is not verified",
            ),
            GoogleError::NotConfigured => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "google_sign_in_disabled",
                "Google sign-in is not configured on this server",
            ),
            GoogleError::KeysUnavailable(reason) => {
                tracing::error!(reason, "Google keys unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "google_unavailable", "Google could not be reached")
                    .with_retry_after(30)
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        match error {
            // Many writes at once to one item (a burst of reservations against one balance): the
            // request lost its races and wrote nothing; a moment later it goes through.
            crate::store::StoreError::Contended(what) => {
                tracing::warn!(request_id = current_request_id().as_deref(), what, "a write lost its races");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many changes at once; try again")
                    .with_retry_after(1)
            }
            other => ApiError::internal(other),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "type": format!("urn:flowday:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
            "request_id": current_request_id(),
        });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        for (name, value) in self.extra {
            body[name] = value;
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Every field violation gathered while validating an input, as one 422; a request whose
/// repetition rule is wrong is a 400 `invalid_recurrence` (issue 4's contract), with the same list.
impl From<crate::domain::Violations> for ApiError {
    fn from(violations: crate::domain::Violations) -> Self {
        let errors: Vec<FieldError> =
            violations.into_vec().into_iter().map(|(field, message)| FieldError::new(field, message)).collect();
        let bad_rule = errors.iter().any(|error| error.field.starts_with("recurrence"));
        let error = ApiError::validation(errors);
        if bad_rule { ApiError { status: StatusCode::BAD_REQUEST, code: "invalid_recurrence", ..error } } else { error }
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;

    use super::*;
    use crate::domain::credits::{Amounts, InsufficientCredits};

    async fn body(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn insufficient_credits_is_402_with_the_balance_per_kind() {
        let balance = Amounts { daily: 0, subscription: 2, purchased: 0, kickstart: 1 };
        let (status, body) = body(ApiError::insufficient_credits(InsufficientCredits { needed: 5, balance })).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(body["code"], "insufficient_credits");
        assert_eq!(body["needed"], 5);
        assert_eq!(body["balance"], serde_json::json!({"daily": 0, "subscription": 2, "purchased": 0, "kickstart": 1}));
        assert!(body["detail"].as_str().unwrap().contains("needs 5 credits and you have 3"), "{body}");
    }

    #[tokio::test]
    async fn a_write_that_lost_its_races_is_503_to_retry_not_a_500() {
        let error = ApiError::from(crate::store::StoreError::Contended("the credit balance kept changing"));
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        let response = error.into_response();
        assert_eq!(response.headers()["retry-after"], "1");
        let other = ApiError::from(crate::store::StoreError::ConditionFailed);
        assert_eq!(other.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn limit_reached_names_the_limit_and_the_tier_that_lifts_it() {
        use crate::domain::account::Tier;
        use crate::domain::plan::{Limit, LimitReached, limits};
        let (status, body) =
            body(ApiError::limit_reached(LimitReached::of(Limit::OpenTasks, limits(Tier::Free)))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            (body["limit"].as_str(), body["allowed"].as_u64(), body["upgrade_to"].as_str()),
            (Some("open_tasks"), Some(50), Some("pro"))
        );
        assert_eq!(body["upgrade_plans"], serde_json::json!(["pro_monthly", "pro_yearly"]), "what checkout takes");
    }
}
