//! `POST /v1/ai/insights`: starts a job that writes the caller's weekly review. The figures
//! (tasks completed and on time, overdue, focus planned) are computed by the worker from the
//! data; the model only narrates them, and a narrative with any other number is refused.

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use serde_json::json;
use shared::Base;
use shared::domain::ai::JobKind;
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::{ApiError, CurrentUser};
use shared::jobs::ai::start_job;
use shared::jobs::queue::AiJobQueue;
use shared::settings::LlmSettings;

use super::ai_user;
use super::jobs::{JobView, accepted};

/// Writes the week's review (the last 7 days in the caller's timezone): 202 with the job; its
/// result holds the figures and the narrative.
#[utoipa::path(post, path = "/v1/ai/insights", tag = "ai",
    responses(
        (status = 202, description = "The job, with Location", body = JobView),
        (status = 402, description = "insufficient_credits: the balance per kind", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "ai_unavailable: no language model is configured (the detail names the settings)", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Base>,
    State(queue): State<AiJobQueue>,
    State(llm): State<LlmSettings>,
    caller: CurrentUser,
) -> Result<Response, ApiError> {
    let user = ai_user(&app.store, &llm, &caller.user_id).await?;
    let job =
        start_job(&app.store, &queue, &user, JobKind::Insights, &json!({ "week": "last_7_days" }), Utc::now()).await?;
    Ok(accepted(&job))
}
