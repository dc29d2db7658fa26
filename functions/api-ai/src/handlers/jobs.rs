//! `GET /v1/ai/jobs/{id}`: a job of the caller, where it is and, once finished, its result or
//! its error. Also the view every route that starts a job answers with (202, `Location`).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::Value;
use shared::Base;
use shared::domain::ai::{JobKind, JobStatus};
use shared::http::openapi::{CallerProblems, RequestProblems};
use shared::http::{ApiError, ApiPath, CurrentUser, Id};
use shared::store::ai::JobItem;

/// A job (api.md, "Job").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    id: String,
    kind: JobKind,
    status: JobStatus,
    /// 0-100.
    progress: u8,
    /// What the job made, once it succeeded: a breakdown's `subtasks` (the tasks created).
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
    /// Why it failed: a problem document (`code`, `detail`).
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
    /// Credits reserved for it: kept when it succeeds, returned when it fails; 0 for a reused answer.
    credits: u64,
    created_at: String,
    updated_at: String,
}

impl JobView {
    pub fn of(job: &JobItem) -> Self {
        let parsed = |text: &Option<String>| text.as_deref().and_then(|text| serde_json::from_str(text).ok());
        JobView {
            id: job.id.clone(),
            kind: job.kind,
            status: job.status,
            progress: job.progress,
            result: parsed(&job.result),
            error: parsed(&job.error),
            credits: job.credits,
            created_at: job.created_at.clone(),
            updated_at: job.updated_at.clone(),
        }
    }
}

/// 202 with the job and `Location: /v1/ai/jobs/{id}`.
pub fn accepted(job: &JobItem) -> Response {
    let mut response = (StatusCode::ACCEPTED, Json(JobView::of(job))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/ai/jobs/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A job of the caller.
#[utoipa::path(get, path = "/v1/ai/jobs/{id}", tag = "ai",
    params(("id" = String, Path, description = "The job's id")),
    responses((status = 200, description = "The job", body = JobView), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Json<JobView>, ApiError> {
    let job = app.store.ai().get(&caller.user_id, &id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(JobView::of(&job)))
}
