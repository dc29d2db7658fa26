//! `POST /v1/tasks/bulk`: complete, update or delete up to 100 tasks. Each task succeeds or fails
//! on its own; the answer has one result per id, in the order sent.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::domain::task::{Status, Task, TaskFields};
use shared::http::openapi::{CallerProblems, Problem, RequestProblems, WriteProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::store::Tenant;

use super::{change_task, load_task};

pub const MAX_BULK: usize = 100;

/// What to do to every task.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    Complete,
    Update,
    Delete,
}

/// One action on up to 100 tasks.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BulkRequest {
    action: BulkAction,
    /// 1 to 100 task ids, none repeated.
    #[schema(min_items = 1, max_items = 100)]
    ids: Vec<String>,
    /// For `update`: the fields to change on every task.
    #[serde(default)]
    fields: Option<TaskFields>,
}

/// What one task's part came to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    id: String,
    /// The HTTP status the task's own request would have answered: 200, 204 (deleted) or a problem's.
    status: u16,
    /// On 200: the task as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Task>)]
    task: Option<serde_json::Value>,
    /// On a 4xx or 5xx: the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Problem>)]
    error: Option<serde_json::Value>,
}

/// One result per id, in the order sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResponse {
    results: Vec<BulkResult>,
}

fn validate(request: &BulkRequest) -> Result<(), ApiError> {
    let mut violations = Violations::new();
    if request.ids.is_empty() || request.ids.len() > MAX_BULK {
        violations.add("ids", format!("must hold 1 to {MAX_BULK} task ids"));
    }
    let mut seen = std::collections::HashSet::new();
    if request.ids.iter().any(|id| !seen.insert(id)) {
        violations.add("ids", "must not repeat an id");
    }
    match (request.action, &request.fields) {
        (BulkAction::Update, None) => violations.add("fields", "is required for update"),
        (BulkAction::Complete | BulkAction::Delete, Some(_)) => violations.add("fields", "is only for update"),
        _ => {}
    }
    violations.finish(()).map_err(ApiError::from)
}

/// Completes, updates or deletes up to 100 tasks, each on its own.
#[utoipa::path(post, path = "/v1/tasks/bulk", tag = "tasks",
    request_body = BulkRequest,
    responses(
        (status = 200, description = "One result per id, in the order sent; each task succeeds or fails on its own", body = BulkResponse),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn bulk(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiJson(request): ApiJson<BulkRequest>,
) -> Result<Json<BulkResponse>, ApiError> {
    let tenant = caller.tenant();
    validate(&request)?;
    let no_precondition = HeaderMap::new();
    let mut results = Vec::with_capacity(request.ids.len());
    for id in &request.ids {
        let outcome = match request.action {
            BulkAction::Complete => {
                let done = |_: &shared::domain::task::Task| TaskFields {
                    status: Some(Some(Status::Done)),
                    ..TaskFields::default()
                };
                change_task(&app, &tenant, id, &no_precondition, done, "completed").await.map(Some)
            }
            BulkAction::Update => {
                let fields = request.fields.clone().unwrap_or_default();
                change_task(&app, &tenant, id, &no_precondition, |_| fields.clone(), "updated").await.map(Some)
            }
            BulkAction::Delete => trash(&app, &tenant, id).await.map(|()| None),
        };
        results.push(result_of(id, outcome).await);
    }
    Ok(Json(BulkResponse { results }))
}

async fn trash(app: &Base, tenant: &Tenant, id: &str) -> Result<(), ApiError> {
    let task = load_task(app, tenant, id).await?;
    Ok(app.store.trash().trash_task(tenant, &task).await?)
}

async fn result_of(id: &str, outcome: Result<Option<axum::response::Response>, ApiError>) -> BulkResult {
    let (status, body) = match outcome {
        Ok(Some(response)) => body_of(response).await,
        Ok(None) => (StatusCode::NO_CONTENT, None),
        Err(error) => body_of(error.into_response()).await,
    };
    let success = status.is_success();
    BulkResult {
        id: id.to_string(),
        status: status.as_u16(),
        task: body.clone().filter(|_| success),
        error: body.filter(|_| !success),
    }
}

async fn body_of(response: axum::response::Response) -> (StatusCode, Option<serde_json::Value>) {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap_or_default();
    (status, serde_json::from_slice(&bytes).ok())
}
