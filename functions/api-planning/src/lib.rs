//! api-planning: "plan my day". The planning settings (working hours, peak hours, buffers, the
//! focus cap, chunks and breaks), and plans: a proposal the planner (`domain::planner`, pure)
//! makes from the day's open tasks, busy time and settings, which the user accepts (its blocks
//! become the tasks' `scheduled_blocks`, never double-booked) or rejects. Each route's handler is
//! in `handlers/<file>.rs`, named in the table below; `input.rs` gathers what the planner reads.

mod handlers;
mod input;

use axum::Router;
use axum::extract::FromRef;
use shared::Base;
use shared::http::{Route, RouteGroup};
use shared::jobs::queue::AiJobQueue;
use shared::settings::{Env, LlmSettings};
use shared::state::{InitError, SdkConfig};

use handlers::{plans, settings};

/// Every route this function serves (template.yaml declares the same list). `{id}` is a plan's
/// id, except on `GET /v1/plans/{id}`, where it is the day (`YYYY-MM-DD`): one segment name per
/// position, as the router wants.
/// The base, and what a narration job needs: the `ai-jobs` queue and whether a model is configured.
#[derive(Clone, FromRef)]
pub struct PlanningState {
    pub base: Base,
    pub queue: AiJobQueue,
    pub llm: LlmSettings,
}

pub fn routes() -> Vec<Route<PlanningState>> {
    vec![
        Route::get("/v1/planning/settings", settings::get),
        Route::put("/v1/planning/settings", settings::put),
        Route::post("/v1/plans", plans::propose).with_query(),
        Route::get("/v1/plans/{id}", plans::get),
        Route::post("/v1/plans/{id}/accept", plans::accept),
        Route::post("/v1/plans/{id}/reject", plans::reject),
    ]
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<PlanningState, InitError> {
    Ok(PlanningState {
        base: Base::from_env(env, sdk).await?,
        queue: AiJobQueue::from_env(env, sdk)?,
        llm: LlmSettings::read(env)?,
    })
}

pub fn route_group(state: PlanningState) -> RouteGroup {
    RouteGroup::new(routes(), state)
}

/// This function's part of the OpenAPI document (infra/local merges every function's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(settings::get, settings::put, plans::propose, plans::get, plans::accept, plans::reject))]
pub struct ApiDoc;

pub fn router(state: PlanningState) -> Router {
    route_group(state).router()
}
