//! api-account: the signed-in user's profile, sessions, push devices and activity log. Each route's handler is in
//! `handlers/<file>.rs`, named in the table below.

mod handlers;

use axum::Router;
use shared::AppState;
use shared::config::Config;
use shared::context::{AppContext, InitError, SdkConfig};
use shared::http::{Route, build_router};

use handlers::{activity, profile, push_tokens, sessions};

/// Every route this function serves (template.yaml declares the same list).
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/v1/me", profile::get_me),
        Route::patch("/v1/me", profile::patch_me),
        Route::get("/v1/me/sessions", sessions::list),
        Route::delete("/v1/me/sessions/{id}", sessions::revoke),
        Route::post("/v1/me/push-tokens", push_tokens::register),
        Route::delete("/v1/me/push-tokens", push_tokens::remove),
        Route::get("/v1/activity", activity::list),
    ]
}

/// This function's context: the base plus only the outbound clients its handlers use (Lambda's
/// main and the local gateway both build it here, so a client left out is not linked at all).
pub async fn context(config: Config, sdk: &SdkConfig) -> Result<AppState, InitError> {
    // Push devices register with and are removed from SNS.
    Ok(AppContext::base(config, sdk).await?.with_push(sdk).into_state())
}

pub fn router(state: AppState) -> Router {
    build_router(routes(), state)
}
