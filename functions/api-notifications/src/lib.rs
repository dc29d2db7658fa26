//! api-notifications: the signed-in user's inbox and notification preferences. Each route's
//! handler is in `handlers/<file>.rs`, named in the table below. Delivery itself (inbox items,
//! email, push) is the notification worker's, through `shared::jobs::deliver`.

mod handlers;

use axum::Router;
use shared::AppState;
use shared::config::Config;
use shared::context::{AppContext, InitError, SdkConfig};
use shared::http::{Route, build_router};

use handlers::{inbox, preferences};

/// Every route this function serves (template.yaml declares the same list).
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/v1/notifications", inbox::list),
        Route::post("/v1/notifications/{id}/read", inbox::read),
        Route::post("/v1/notifications/read-all", inbox::read_all),
        Route::delete("/v1/notifications/{id}", inbox::delete),
        Route::get("/v1/notifications/preferences", preferences::get),
        Route::put("/v1/notifications/preferences", preferences::put),
    ]
}

/// This function's context: the base plus only the outbound clients its handlers use (Lambda's
/// main and the local gateway both build it here, so a client left out is not linked at all).
pub async fn context(config: Config, sdk: &SdkConfig) -> Result<AppState, InitError> {
    // The inbox and preferences are all in the table: no outbound client.
    Ok(AppContext::base(config, sdk).await?.into_state())
}

pub fn router(state: AppState) -> Router {
    build_router(routes(), state)
}
