//! api-auth: signup, login, tokens, passwords, email verification, Google sign-in, JWKS, health.
//! Each route's handler is in `handlers/<file>.rs`, named in the table below.

mod auth_result;
mod handlers;

use axum::Router;
use shared::AppState;
use shared::http::{Route, build_router};

use handlers::{google, login, password, public, signup, tokens, verify};

/// Every route this function serves (template.yaml declares the same list).
pub fn routes() -> Vec<Route> {
    vec![
        Route::post("/v1/auth/signup", signup::signup),
        Route::post("/v1/auth/login", login::login),
        Route::post("/v1/auth/refresh", tokens::refresh),
        Route::post("/v1/auth/logout", tokens::logout),
        Route::post("/v1/auth/password", password::change_password),
        Route::post("/v1/auth/password-reset", password::request_reset),
        Route::post("/v1/auth/password-reset/confirm", password::confirm_reset),
        Route::post("/v1/auth/verify-email", verify::verify_email),
        Route::post("/v1/auth/google", google::sign_in),
        Route::get("/.well-known/jwks.json", public::jwks),
        Route::get("/v1/health", public::health),
    ]
}

pub fn router(state: AppState) -> Router {
    build_router(routes(), state)
}
