//! `POST /v1/tasks/bulk`: complete, update or delete up to 100 tasks. Each task succeeds or fails
//! on its own; the answer has one result per id, in the order sent.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::domain::task::{Status, TaskFields};
use shared::http::{ApiError, ApiJson, CurrentUser};

use super::{change_task, load_task, write_failed};

pub const MAX_BULK: usize = 100;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    Complete,
    Update,
    Delete,
}

#[derive(Debug, Deserialize)]
pub struct BulkRequest {
    action: BulkAction,
    ids: Vec<String>,
    /// For `update`: the fields to change on every task.
    #[serde(default)]
    fields: Option<TaskFields>,
}

#[derive(Debug, Serialize)]
pub struct BulkResult {
    id: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
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

pub async fn bulk(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiJson(request): ApiJson<BulkRequest>,
) -> Result<Json<BulkResponse>, ApiError> {
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
                change_task(&app, &caller.user_id, id, &no_precondition, done, "completed").await.map(Some)
            }
            BulkAction::Update => {
                let fields = request.fields.clone().unwrap_or_default();
                change_task(&app, &caller.user_id, id, &no_precondition, |_| fields.clone(), "updated").await.map(Some)
            }
            BulkAction::Delete => trash(&app, &caller.user_id, id).await.map(|()| None),
        };
        results.push(result_of(id, outcome).await);
    }
    Ok(Json(BulkResponse { results }))
}

async fn trash(app: &Base, user_id: &str, id: &str) -> Result<(), ApiError> {
    let task = load_task(app, user_id, id).await?;
    let no_limit_applies = shared::store::tasks::limits(Default::default());
    app.store.trash_task(user_id, &task).await.map_err(|error| write_failed(error, no_limit_applies))
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
