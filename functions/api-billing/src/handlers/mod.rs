//! One file per resource: the plans, the subscription, checkout and the portal, invoices, credits.

pub mod checkout;
pub mod credits;
pub mod invoices;
pub mod plans;
pub mod subscription;

use http::StatusCode;
use shared::http::ApiError;
use shared::integrations::stripe::StripeError;

/// Stripe's refusal or absence, as the caller sees it. Nothing Stripe said about our key is
/// repeated; what it said about the request is, since it names the parameter at fault.
pub fn stripe_problem(error: StripeError) -> ApiError {
    match error {
        StripeError::Invalid { message, param, .. } => {
            tracing::error!(%message, ?param, "Stripe refused a request");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "billing_provider_error",
                format!("Stripe refused the request: {message}"),
            )
        }
        StripeError::NotFound { message } => {
            tracing::error!(%message, "Stripe does not know an object we named");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "billing_provider_error",
                format!("Stripe refused the request: {message}"),
            )
        }
        StripeError::Auth => {
            tracing::error!("Stripe refused our API key: check the StripeApiKeySecret");
            billing_unavailable("billing is not available right now")
        }
        StripeError::RateLimited => billing_unavailable("billing is busy; try again in a moment").with_retry_after(2),
        StripeError::Unavailable(reason) => {
            tracing::warn!(%reason, "Stripe is unreachable");
            billing_unavailable("billing is not available right now; try again in a moment").with_retry_after(5)
        }
    }
}

pub fn billing_unavailable(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "billing_unavailable", detail)
}
