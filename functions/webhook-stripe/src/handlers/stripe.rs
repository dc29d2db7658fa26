//! `POST /webhooks/stripe`: verify, deduplicate, apply. A request whose signature does not check
//! out answers 400 and stores nothing; an event seen before answers 200 and changes nothing; an
//! event type we do not handle answers 200 and is ignored.

use axum::body::Bytes;
use axum::extract::State;
use http::{HeaderMap, StatusCode};
use shared::http::ApiError;
use shared::http::openapi::{Problem, RequestProblems};
use shared::integrations::stripe_webhook::{Event, verify};

use crate::StripeWebhookState;

/// An event from Stripe. The body is Stripe's event object, signed in `Stripe-Signature`.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256>` (one v1 per signing secret)")),
    request_body(content = Object, description = "A Stripe event (API version 2024-06-20)", content_type = "application/json"),
    responses(
        (status = 200, description = "Applied, or seen before, or a type we ignore"),
        (status = 400, description = "invalid_signature: missing, forged, or older than 300 s; malformed_event: not a Stripe event", body = Problem, content_type = "application/problem+json"),
        RequestProblems
    ))]
pub async fn receive(
    State(state): State<StripeWebhookState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let signature = headers.get("stripe-signature").and_then(|value| value.to_str().ok());
    verify(&state.secrets, signature, &body, chrono::Utc::now().timestamp())
        .map_err(|refused| ApiError::bad_request("invalid_signature", refused.to_string()))?;
    let event: Event = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("malformed_event", "the body is not a Stripe event"))?;
    if state.base.store.billing().event_seen(&event.id).await? {
        return Ok(StatusCode::OK);
    }
    crate::events::apply(&state, &event).await?;
    Ok(StatusCode::OK)
}
