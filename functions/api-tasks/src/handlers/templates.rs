//! `GET/POST /v1/templates`, `DELETE /v1/templates/{id}`, and `POST /v1/tasks` with `template_id`
//! (a task with its subtasks from a template, in one transaction).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use shared::Base;
use shared::domain::Violations;
use shared::domain::task::TaskFields;
use shared::domain::template::{
    self, Template, TemplateSubtask, TemplateSubtaskInput, TemplateTask, TemplateTaskInput,
};
use shared::http::concurrency::{created, if_match_version};
use shared::http::openapi::{CallerProblems, IfMatchParam, RequestProblems, WriteProblems};
use shared::http::pagination::{Page, PageQuery, is_id};
use shared::http::{ApiError, ApiJson, ApiQuery, CurrentUser};
use shared::http::{ApiPath, Id};

use super::{caller_limits, load_task};

/// `POST /v1/templates`: `{"name", "task_id"}` saves a live task of the caller with its live
/// subtasks; `{"name", "task", "subtasks"}` is a template written out.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    /// Required: 1 to 100 characters once trimmed.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 100)]
    name: Option<String>,
    /// A live task of the caller to save, with its live subtasks (instead of `task`).
    task_id: Option<String>,
    /// The template's task written out (instead of `task_id`).
    task: Option<TemplateTaskInput>,
    /// With `task` only: at most 50.
    #[schema(max_items = 50)]
    subtasks: Option<Vec<TemplateSubtaskInput>>,
}

/// Saves a template: a live task of the caller (`task_id`), or one written out (`task`, `subtasks`).
#[utoipa::path(post, path = "/v1/templates", tag = "templates",
    request_body = NewTemplate,
    responses(
        (status = 201, description = "The template created", body = Template,
            headers(("ETag" = String, description = "The template's version"))),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiJson(body): ApiJson<NewTemplate>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant();
    let now = chrono::Utc::now();
    let id = ulid::Ulid::new().to_string();
    let (task, subtasks) = match (body.task_id, body.task) {
        (Some(_), Some(_)) => return Err(ApiError::from(Violations::one("task_id", "send task_id or task, not both"))),
        (None, None) => {
            return Err(ApiError::from(Violations::one("task", "is required (or task_id, to save an existing task)")));
        }
        (Some(task_id), None) => {
            if body.subtasks.is_some() {
                return Err(ApiError::from(Violations::one(
                    "subtasks",
                    "comes from the task of task_id; send task to write them out",
                )));
            }
            // Like `parent_id`: a task that is absent, trashed or someone else's is a problem of the field.
            let task = load_task(&app, &tenant, &task_id)
                .await
                .map_err(|_| ApiError::from(Violations::one("task_id", "no such task")))?;
            let subtasks = app.store.tasks().list_subtasks(&tenant, &task).await?;
            let subtasks: Vec<TaskFields> =
                subtasks.iter().map(|subtask| TemplateSubtask::from_task(subtask).fields()).collect();
            (TemplateTask::from_task(&task).fields(), subtasks)
        }
        (None, Some(task)) => {
            let subtasks = body.subtasks.unwrap_or_default();
            (task.fields(), subtasks.iter().map(TemplateSubtaskInput::fields).collect())
        }
    };
    let template = template::build(id, body.name.as_deref(), &task, &subtasks, now).map_err(ApiError::from)?;
    let limits = caller_limits(&app, &caller.user_id).await?;
    app.store.templates().create_template(&caller.user_id, &template, limits).await?;
    Ok(created(&format!("/v1/templates/{}", template.id), &template))
}

/// The caller's templates, newest first.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", params(PageQuery),
    responses(
        (status = 200, description = "One page of templates", body = Page<Template>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Template>>, ApiError> {
    let request = query.page("templates", is_id)?;
    let page = app.store.templates().list_templates(&caller.user_id, request.after.as_deref(), request.limit).await?;
    Ok(Json(Page::new(page.items, "templates", page.next.as_deref())))
}

/// Deletes a template (the tasks made from it are not touched).
#[utoipa::path(delete, path = "/v1/templates/{id}", tag = "templates",
    params(
        ("id" = String, Path, description = "The template's id"),
        IfMatchParam
    ),
    responses(
        (status = 204, description = "Deleted"),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let expected = if_match_version(&headers)?;
    app.store.templates().delete_template(&caller.user_id, &id, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
