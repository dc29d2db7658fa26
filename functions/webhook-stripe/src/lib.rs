//! webhook-stripe: where Stripe tells us what happened to a customer's subscription, invoices
//! and purchases. Each request's signature is checked over its raw body, each event is applied
//! once (its id is remembered with a conditional write), and the subscription state only moves
//! forward whatever order events arrive in (`domain::billing::SubscriptionReport::supersedes`).
//! Everything an event does is a few table writes and at most one queued notification, so the
//! answer comes at once; nothing calls Stripe back. The route's handler is in `handlers/stripe.rs`,
//! what each event type does in `events.rs`.

mod events;
mod handlers;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use shared::Base;
use shared::domain::billing::Prices;
use shared::http::{Route, RouteGroup};
use shared::integrations::stripe_webhook::WebhookSecrets;
use shared::jobs::queue::NotificationQueue;
use shared::settings::{BillingSettings, Env};
use shared::state::{InitError, SdkConfig};

/// The base (the store), the signing secrets, our prices (a subscription's price says its plan)
/// and the notification queue (a failed payment tells the user).
#[derive(Clone, FromRef)]
pub struct StripeWebhookState {
    pub base: Base,
    pub secrets: WebhookSecrets,
    pub prices: Arc<Prices>,
    pub notifications: NotificationQueue,
}

/// Every route this function serves (template.yaml declares the same list). Stripe sends no
/// Idempotency-Key (the event id is its own), from a few addresses for every customer.
pub fn routes() -> Vec<Route<StripeWebhookState>> {
    vec![Route::post("/webhooks/stripe", handlers::stripe::receive).without_idempotency().without_rate_limit()]
}

/// Built once per cold start, by Lambda's main and the local gateway alike: the signing secret
/// is read from Secrets Manager here.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<StripeWebhookState, InitError> {
    Ok(StripeWebhookState {
        base: Base::from_env(env, sdk).await?,
        secrets: WebhookSecrets::from_env(env, sdk).await?,
        prices: Arc::new(BillingSettings::read_prices(env)),
        notifications: NotificationQueue::from_env(env, sdk)?,
    })
}

pub fn route_group(state: StripeWebhookState) -> RouteGroup {
    RouteGroup::new(routes(), state)
}

/// This function's part of the OpenAPI document (infra/local merges every function's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(handlers::stripe::receive))]
pub struct ApiDoc;

pub fn router(state: StripeWebhookState) -> Router {
    route_group(state).router()
}
