//! webhook-calendar: where Google Calendar and Microsoft Graph tell us a connected calendar
//! changed. Each notification is checked against the connection it names (its secret compared
//! in constant time, its channel or subscription the current one) and answered at once; the work
//! is a `calendar-sync` job for calendar-sync-worker. Each route's handler is in
//! `handlers/<file>.rs`, named in the table below.

mod handlers;

use axum::Router;
use axum::extract::FromRef;
use shared::Base;
use shared::http::{Route, RouteGroup};
use shared::jobs::queue::SyncQueue;
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};

use handlers::{google, microsoft};

/// The base (the store) and the queue the work goes to: no provider client, no token.
#[derive(Clone, FromRef)]
pub struct WebhookState {
    pub base: Base,
    pub queue: SyncQueue,
}

/// Every route this function serves (template.yaml declares the same list). Providers do not
/// send Idempotency-Key; a repeated notification is one more sync that finds nothing new.
pub fn routes() -> Vec<Route<WebhookState>> {
    vec![
        Route::post("/webhooks/google-calendar", google::notify).without_idempotency().without_rate_limit(),
        Route::post("/webhooks/microsoft-graph", microsoft::notify)
            .without_idempotency()
            .without_rate_limit()
            .with_query(),
    ]
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<WebhookState, InitError> {
    Ok(WebhookState { base: Base::from_env(env, sdk).await?, queue: SyncQueue::from_env(env, sdk)? })
}

pub fn route_group(state: WebhookState) -> RouteGroup {
    RouteGroup::new(routes(), state)
}

/// This function's part of the OpenAPI document (infra/local merges every function's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(google::notify, microsoft::notify))]
pub struct ApiDoc;

pub fn router(state: WebhookState) -> Router {
    route_group(state).router()
}
