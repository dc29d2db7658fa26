//! `POST /v1/ai/breakdown {task_id}`: starts a job that asks the model for 3-10 steps of a task
//! and, once they pass `domain::ai::validate_breakdown`, creates them as its subtasks (ids derived
//! from the job's, so a job run twice creates them once). An identical request for the unchanged
//! task on the same day answers the day's earlier result as a finished job, at no cost.

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use shared::Base;
use shared::domain::Violations;
use shared::domain::ai::{JobKind, JobStatus, breakdown_fingerprint};
use shared::domain::credits::today;
use shared::domain::plan::{Limit, LimitReached, limits};
use shared::domain::task::Task;
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::jobs::ai::start_job;
use shared::jobs::queue::AiJobQueue;
use shared::settings::LlmSettings;
use shared::store::accounts::UserItem as User;
use shared::store::ai::JobItem;

use super::ai_user;
use super::jobs::{JobView, accepted};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BreakdownRequest {
    /// A top-level task of the caller that is still open.
    task_id: String,
}

/// Breaks a task down into subtasks: 202 with the job; its result lists the subtasks created.
#[utoipa::path(post, path = "/v1/ai/breakdown", tag = "ai", request_body = BreakdownRequest,
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
    ApiJson(request): ApiJson<BreakdownRequest>,
) -> Result<Response, ApiError> {
    let user = ai_user(&app.store, &llm, &caller.user_id).await?;
    let task = breakable_task(&app, &caller, &user, &request.task_id).await?;
    let now = Utc::now();
    let fingerprint = breakdown_fingerprint(&task.title, task.description.as_deref(), task.estimate_minutes);
    let day = today(now, &user.timezone).to_string();
    if let Some(cached) = app.store.ai().cached_breakdown(&user.id, &task.id, &fingerprint, &day).await? {
        let input = json!({ "task_id": task.id, "reused_job_id": cached.job_id });
        let mut job = JobItem::queued(&user.id, ulid::Ulid::new().to_string(), JobKind::Breakdown, &input, 0, day);
        job.status = JobStatus::Succeeded;
        job.progress = 100;
        job.result = Some(cached.result);
        app.store.ai().create_finished(&job).await?;
        return Ok(accepted(&job));
    }
    let input = json!({ "task_id": task.id, "fingerprint": fingerprint });
    let job = start_job(&app.store, &queue, &user, JobKind::Breakdown, &input, now).await?;
    Ok(accepted(&job))
}

/// The caller's task of `task_id` if a breakdown can go under it: top level (subtasks are one
/// level deep), open, and with room for at least the fewest steps a breakdown makes.
async fn breakable_task(app: &Base, caller: &CurrentUser, user: &User, task_id: &str) -> Result<Task, ApiError> {
    let no_such_task = || ApiError::from(Violations::one("task_id", "no such task"));
    let id = shared::http::Id::parse(task_id).ok_or_else(no_such_task)?;
    let task = app.store.tasks().get_task(&caller.tenant(), &id).await?.ok_or_else(no_such_task)?;
    if task.parent_id.is_some() {
        return Err(Violations::one("task_id", "is a subtask; subtasks are one level deep").into());
    }
    if !task.status.is_open() {
        return Err(Violations::one("task_id", "is done or cancelled; reopen it first").into());
    }
    let plan = limits(user.tier);
    let existing = task.subtasks.as_ref().map_or(0, |counts| counts.ids.len() as u64);
    if existing + shared::domain::ai::MIN_SUBTASKS as u64 > plan.subtasks_per_task {
        return Err(ApiError::limit_reached(LimitReached::of(Limit::SubtasksPerTask, plan)));
    }
    Ok(task)
}
