//! api-calendar: the signed-in user's calendar. Own events (timed or all-day, repeating by an
//! RRULE in their zone, with occurrences left out or changed one by one) and the listing of every
//! occurrence in a range, synced events included; and the feed, the same own events as
//! iCalendar at a secret URL. Each route's handler is in `handlers/<file>.rs`,
//! named in the table below.

mod handlers;

use axum::Router;
use shared::Base;
use shared::http::{Route, RouteGroup};
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};

use handlers::{events, feed};

/// Every route this function serves (template.yaml declares the same list).
pub fn routes() -> Vec<Route<Base>> {
    vec![
        Route::get("/v1/calendar/events", events::list).with_query(),
        Route::post("/v1/calendar/events", events::create),
        Route::get("/v1/calendar/events/{id}", events::get),
        Route::patch("/v1/calendar/events/{id}", events::patch).with_query(),
        Route::delete("/v1/calendar/events/{id}", events::delete).with_query(),
        // The answer holds a fresh secret: a replay would have to store it.
        Route::post("/v1/calendar/feed", feed::create).without_idempotency(),
        Route::delete("/v1/calendar/feed", feed::delete),
        Route::get("/v1/calendar/feed/{token}", feed::serve),
    ]
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<Base, InitError> {
    Base::from_env(env, sdk).await
}

pub fn route_group(state: Base) -> RouteGroup {
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
    feed::serve
))]
pub struct ApiDoc;

pub fn router(state: Base) -> Router {
    route_group(state).router()
}
