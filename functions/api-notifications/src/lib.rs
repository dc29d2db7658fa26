//! api-notifications: the signed-in user's inbox and notification preferences. Each route's
//! handler is in `handlers/<file>.rs`, named in the table below. Delivery itself (inbox items,
//! email, push) is the notification worker's, through `shared::jobs::deliver`.

mod handlers;

use axum::Router;
use shared::Base;
use shared::http::{Route, RouteGroup};
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};

use handlers::{inbox, preferences};

/// Every route this function serves (template.yaml declares the same list). The inbox and the
/// preferences are all in the table: the base is its whole state, no outbound client.
pub fn routes() -> Vec<Route<Base>> {
    vec![
        Route::get("/v1/notifications", inbox::list).with_query(),
        Route::post("/v1/notifications/{id}/read", inbox::read),
        Route::post("/v1/notifications/read-all", inbox::read_all),
        Route::delete("/v1/notifications/{id}", inbox::delete),
        Route::get("/v1/notifications/preferences", preferences::get),
        Route::put("/v1/notifications/preferences", preferences::put),
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
#[openapi(paths(inbox::list, inbox::read, inbox::read_all, inbox::delete, preferences::get, preferences::put))]
pub struct ApiDoc;

pub fn router(state: Base) -> Router {
    route_group(state).router()
}
