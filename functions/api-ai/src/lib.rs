//! api-ai: the AI features as jobs (breakdown, chat, weekly insights, voice capture). A `POST` counts the caller's hourly AI budget, reserves the
//! job's credits with the job itself, queues it for ai-worker and answers 202 with the job;
//! `GET /v1/ai/jobs/{id}` follows it to its result. `GET /v1/ai/usage` sums requests, tokens and
//! credits per day. Without a language model configured every route that starts a job answers 503
//! `ai_unavailable`, naming the settings (jobs and usage stay readable). Each route's handler is in `handlers/<file>.rs`, named
//! in the table below.

mod handlers;

use axum::Router;
use axum::extract::FromRef;
use shared::Base;
use shared::http::{Route, RouteGroup};
use shared::integrations::files::Files;
use shared::jobs::queue::AiJobQueue;
use shared::settings::{Env, LlmSettings};
use shared::state::{InitError, SdkConfig};

use handlers::{breakdown, chat, insights, jobs, transcriptions, usage};

/// The base, the `ai-jobs` queue, whether a language model is configured, and the files bucket
/// (voice capture's uploads).
#[derive(Clone, FromRef)]
pub struct AiState {
    pub base: Base,
    pub queue: AiJobQueue,
    pub llm: LlmSettings,
    pub files: Files,
}

/// Every route this function serves (template.yaml declares the same list). Every POST needs
/// an Idempotency-Key (api.md): a retried request must never start, or charge, a second job.
pub fn routes() -> Vec<Route<AiState>> {
    vec![
        Route::post("/v1/ai/breakdown", breakdown::create).requiring_idempotency_key(),
        Route::post("/v1/ai/chat", chat::send).requiring_idempotency_key(),
        Route::get("/v1/ai/conversations", chat::list).with_query(),
        Route::get("/v1/ai/conversations/{id}", chat::get),
        Route::post("/v1/ai/insights", insights::create).requiring_idempotency_key(),
        Route::post("/v1/ai/transcriptions", transcriptions::create).requiring_idempotency_key(),
        Route::get("/v1/ai/jobs/{id}", jobs::get),
        Route::get("/v1/ai/usage", usage::get).with_query(),
    ]
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<AiState, InitError> {
    Ok(AiState {
        base: Base::from_env(env, sdk).await?,
        queue: AiJobQueue::from_env(env, sdk)?,
        llm: LlmSettings::read(env)?,
        files: Files::from_env(env, sdk)?,
    })
}

pub fn route_group(state: AiState) -> RouteGroup {
    RouteGroup::new(routes(), state)
}

/// This function's part of the OpenAPI document (infra/local merges every function's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    breakdown::create,
    chat::send,
    chat::list,
    chat::get,
    insights::create,
    transcriptions::create,
    jobs::get,
    usage::get
))]
pub struct ApiDoc;

pub fn router(state: AiState) -> Router {
    route_group(state).router()
}
