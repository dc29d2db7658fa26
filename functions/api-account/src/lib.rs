//! api-account: the signed-in user's profile, sessions, Google identity, push devices and activity log. Each
//! route's handler is in `handlers/<file>.rs`, named in the table below.

mod handlers;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use shared::Base;
use shared::http::{Route, RouteGroup};
use shared::integrations::google::{GoogleIdTokenVerifier, IdTokenVerifier};
use shared::integrations::push::{PushSender, SnsPushSender};
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};

use handlers::{activity, identities, profile, push_tokens, sessions};

/// What api-account's handlers use: the base, SNS (push devices register with it) and the Google
/// ID-token verifier (linking a Google identity).
#[derive(Clone, FromRef)]
pub struct AccountState {
    pub base: Base,
    pub push: Arc<dyn PushSender>,
    pub google: Arc<dyn IdTokenVerifier>,
}

/// Every route this function serves (template.yaml declares the same list).
pub fn routes() -> Vec<Route<AccountState>> {
    vec![
        Route::get("/v1/me", profile::get_me),
        Route::patch("/v1/me", profile::patch_me),
        Route::get("/v1/me/sessions", sessions::list),
        Route::delete("/v1/me/sessions/{id}", sessions::revoke),
        Route::post("/v1/me/push-tokens", push_tokens::register),
        Route::delete("/v1/me/push-tokens", push_tokens::remove),
        Route::post("/v1/me/identities/google", identities::link_google),
        Route::delete("/v1/me/identities/google", identities::unlink_google),
        Route::get("/v1/activity", activity::list).with_query(),
    ]
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<AccountState, InitError> {
    Ok(AccountState {
        base: Base::from_env(env, sdk).await?,
        push: SnsPushSender::from_env(env, sdk),
        google: GoogleIdTokenVerifier::from_env(env)?,
    })
}

/// This function's part of the OpenAPI document (infra/local merges every function's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    profile::get_me,
    profile::patch_me,
    sessions::list,
    sessions::revoke,
    push_tokens::register,
    push_tokens::remove,
    identities::link_google,
    identities::unlink_google,
    activity::list
))]
pub struct ApiDoc;

pub fn route_group(state: AccountState) -> RouteGroup {
    RouteGroup::new(routes(), state)
}

pub fn router(state: AccountState) -> Router {
    route_group(state).router()
}
