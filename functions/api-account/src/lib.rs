//! api-account: the signed-in user's profile, sessions, push devices and activity log. Each route's handler is in
//! `handlers/<file>.rs`, named in the table below.

mod handlers;

use axum::Router;
use shared::AppState;
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

pub fn router(state: AppState) -> Router {
    build_router(routes(), state)
}
