//! api-auth: signup, login, tokens, passwords, email verification, Google sign-in, JWKS, health.
//! Each route's handler is in `handlers/<file>.rs`, named in the table below.

mod auth_result;
mod handlers;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use shared::Base;
use shared::auth::JwtSigner;
use shared::http::{Route, RouteGroup};
use shared::integrations::email::Mailer;
use shared::integrations::google::{GoogleIdTokenVerifier, IdTokenVerifier};
use shared::jobs::queue::NotificationQueue;
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};

use handlers::{google, login, password, public, signup, tokens, verify};

/// What api-auth's handlers use: the base, email (password reset, verification) and the Google
/// ID-token verifier (Google sign-in).
#[derive(Clone, FromRef)]
pub struct AuthState {
    pub base: Base,
    pub mailer: Mailer,
    pub google: Arc<dyn IdTokenVerifier>,
    /// The private signing key: this function alone reads it.
    pub signer: Signer,
    /// Password-reset and verification emails go out through the notification worker.
    pub queue: NotificationQueue,
}

/// The access-token signer, shared by the handlers that answer fresh tokens.
#[derive(Clone)]
pub struct Signer(pub Arc<JwtSigner>);

/// Every route this function serves (template.yaml declares the same list). Routes whose answers
/// hold fresh tokens take no Idempotency-Key: the tokens must never be stored for a replay.
pub fn routes() -> Vec<Route<AuthState>> {
    vec![
        Route::post("/v1/auth/signup", signup::signup).without_idempotency(),
        Route::post("/v1/auth/login", login::login).without_idempotency(),
        Route::post("/v1/auth/refresh", tokens::refresh).without_idempotency(),
        Route::post("/v1/auth/logout", tokens::logout),
        Route::post("/v1/auth/password", password::change_password),
        Route::post("/v1/auth/password-reset", password::request_reset).without_idempotency(),
        Route::post("/v1/auth/password-reset/confirm", password::confirm_reset).without_idempotency(),
        Route::post("/v1/auth/verify-email", verify::verify_email),
        Route::post("/v1/auth/google", google::sign_in).without_idempotency(),
        Route::get("/.well-known/jwks.json", public::jwks),
        Route::get("/v1/health", public::health),
        Route::get("/v1/openapi.json", public::openapi),
    ]
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<AuthState, InitError> {
    let base = Base::from_env(env, sdk).await?;
    let signer = Signer(Arc::new(shared::state::signer(env, sdk, &base).await?));
    Ok(AuthState {
        base,
        mailer: Mailer::from_env(env, sdk)?,
        google: GoogleIdTokenVerifier::from_env(env)?,
        signer,
        queue: NotificationQueue::from_env(env, sdk)?,
    })
}

/// This function's part of the OpenAPI document (infra/local merges every function's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    signup::signup,
    login::login,
    tokens::refresh,
    tokens::logout,
    password::change_password,
    password::request_reset,
    password::confirm_reset,
    verify::verify_email,
    google::sign_in,
    public::jwks,
    public::health,
    public::openapi
))]
pub struct ApiDoc;

pub fn route_group(state: AuthState) -> RouteGroup {
    RouteGroup::new(routes(), state)
}

pub fn router(state: AuthState) -> Router {
    route_group(state).router()
}
