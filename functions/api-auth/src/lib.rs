//! api-auth: signup, login, tokens, passwords, email verification, Google sign-in, JWKS, health.
//! Each route's handler is in `handlers/<file>.rs`, named in the table below.

mod auth_result;
mod handlers;

use axum::Router;
use shared::AppState;
use shared::config::Config;
use shared::context::{AppContext, InitError, SdkConfig};
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

/// This function's context: the base plus only the outbound clients its handlers use (Lambda's
/// main and the local gateway both build it here, so a client left out is not linked at all).
pub async fn context(config: Config, sdk: &SdkConfig) -> Result<AppState, InitError> {
    // Password reset and email verification send email; Google sign-in checks ID tokens.
    Ok(AppContext::base(config, sdk).await?.with_email(sdk).with_google()?.into_state())
}

pub fn router(state: AppState) -> Router {
    build_router(routes(), state)
}
