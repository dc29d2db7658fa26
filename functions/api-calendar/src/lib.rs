//! api-calendar: the signed-in user's calendar. Own events (timed or all-day, repeating by an
//! RRULE in their zone, with occurrences left out or changed one by one) and the listing of every
//! occurrence in a range, synced events included; and the feed, the same own events as
//! iCalendar at a secret URL; and the connections to Google and Outlook calendars (OAuth with
//! PKCE; their sync is calendar-sync-worker's). Each route's handler is in `handlers/<file>.rs`,
//! named in the table below.

mod handlers;

use axum::Router;
use axum::extract::FromRef;
use shared::Base;
use shared::http::{Route, RouteGroup};
use shared::integrations::calendar_clients::CalendarClients;
use shared::jobs::queue::SyncQueue;
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};

use handlers::{connections, events, feed};

/// What the handlers use: the base, the providers (with the sealing key), the calendar-sync
/// queue, and where the app is, for the browser's way back from a provider.
#[derive(Clone, FromRef)]
pub struct CalendarState {
    pub base: Base,
    pub calendars: CalendarClients,
    pub sync_queue: SyncQueue,
    pub app_url: AppUrl,
}

/// The app's URL (`APP_BASE_URL`).
#[derive(Clone, Debug)]
pub struct AppUrl(pub String);

impl AppUrl {
    /// The app's calendar settings, told how a connection went (`connected=google`).
    pub fn calendar_settings(&self, outcome: &str) -> String {
        format!("{}/settings/calendars?{outcome}", self.0)
    }
}

/// Every route this function serves (template.yaml declares the same list).
pub fn routes() -> Vec<Route<CalendarState>> {
    vec![
        Route::get("/v1/calendar/events", events::list).with_query(),
        Route::post("/v1/calendar/events", events::create),
        Route::get("/v1/calendar/events/{id}", events::get),
        Route::patch("/v1/calendar/events/{id}", events::patch).with_query(),
        Route::delete("/v1/calendar/events/{id}", events::delete).with_query(),
        // The answer holds a fresh secret: a replay would have to store it.
        Route::post("/v1/calendar/feed", feed::create).without_idempotency(),
        Route::delete("/v1/calendar/feed", feed::delete),
        // Calendar apps fetch every subscriber's feed from a few addresses.
        Route::get("/v1/calendar/feed/{token}", feed::serve).without_rate_limit(),
        Route::get("/v1/calendar/connections", connections::list),
        // The answer holds a fresh `state`, a credential until it is used.
        Route::post("/v1/calendar/connections/{id}", connections::start).without_idempotency(),
        Route::get("/v1/calendar/connections/{id}/callback", connections::callback).with_query(),
        Route::delete("/v1/calendar/connections/{id}", connections::delete),
        Route::post("/v1/calendar/connections/{id}/sync", connections::sync),
    ]
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<CalendarState, InitError> {
    Ok(CalendarState {
        base: Base::from_env(env, sdk).await?,
        calendars: CalendarClients::from_env(env, sdk)?,
        sync_queue: SyncQueue::from_env(env, sdk)?,
        app_url: AppUrl(env.url("APP_BASE_URL")?),
    })
}

pub fn route_group(state: CalendarState) -> RouteGroup {
    RouteGroup::new(routes(), state)
}

/// This function's part of the OpenAPI document (infra/local merges every function's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    events::list,
    events::create,
    events::get,
    events::patch,
    events::delete,
    feed::create,
    feed::delete,
    feed::serve,
    connections::list,
    connections::start,
    connections::callback,
    connections::delete,
    connections::sync
))]
pub struct ApiDoc;

pub fn router(state: CalendarState) -> Router {
    route_group(state).router()
}
