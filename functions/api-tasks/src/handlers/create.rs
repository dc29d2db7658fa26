//! Creating a task, in one place: `POST /v1/tasks` (a task, a subtask under `parent_id`, or a task
//! and its subtasks from `template_id`), and `create_task`, which subtasks and templates reuse.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use shared::Base;
use shared::domain::Violations;
use shared::domain::plan::{Limit, LimitReached, limits};
use shared::domain::task::{SubtaskCounts, Task, TaskFields};
use shared::domain::template;
use shared::http::concurrency::created;
use shared::http::json::from_value;
use shared::http::openapi::{CallerProblems, RequestProblems, WriteProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::store::Tenant;
use shared::store::tasks::TaskWriteError;

use super::{caller_limits, load_task};

/// A new task's fields, and optionally the template it starts from.
// For the OpenAPI document only: `create` reads its body as a map (`split_create_body`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[allow(dead_code, reason = "a schema for the OpenAPI document, never built")]
pub struct NewTask {
    // Inline: infra/local closes every schema a request body names (`additionalProperties: false`),
    // and a closed TaskFields next to `template_id` would refuse `template_id`.
    #[serde(flatten)]
    #[schema(inline)]
    fields: TaskFields,
    /// A template of the caller: the new task (with the template's subtasks) starts from it, the
    /// other fields sent overriding the template's.
    template_id: Option<String>,
}

/// Creates a task, or a subtask when `parent_id` is sent.
///
/// `POST /v1/tasks`: a task, or a subtask when `parent_id` is sent; from a template (with its
/// subtasks) when `template_id` is sent, the other fields overriding the template's.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks",
    request_body = NewTask,
    responses(
        (status = 201, description = "The task created", body = Task,
            headers(
                ("ETag" = String, description = "The task's version"),
                ("Location" = String, description = "The task's URL: `/v1/tasks/{id}`")
            )),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant();
    let (template_id, mut fields) = split_create_body(body)?;
    let parent = match fields.parent_id.take().flatten() {
        Some(parent_id) => Some(load_task(&app, &tenant, &parent_id).await.map_err(|_| parent_not_found())?),
        None => None,
    };
    match template_id {
        Some(template_id) => create_from_template(&app, &tenant, &template_id, fields, parent.as_ref()).await,
        None => create_task(&app, &tenant, fields, parent.as_ref()).await,
    }
}

/// Creates a task from `fields`, under `parent` if given (a live task of the caller).
pub async fn create_task(
    app: &Base,
    tenant: &Tenant,
    fields: TaskFields,
    parent: Option<&Task>,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let (task, _) = Task::new(ulid::Ulid::new().to_string(), now).apply(&fields, now).map_err(ApiError::from)?;
    let mut task = Task { version: 1, updated_at: now, ..task };
    match parent {
        Some(parent) if parent.parent_id.is_some() => {
            let mut violations = Violations::new();
            violations.add("parent_id", "is a subtask itself; subtasks are one level deep");
            return Err(ApiError::from(violations));
        }
        Some(parent) => task.parent_id = Some(parent.id.clone()),
        None => task.subtasks = Some(SubtaskCounts::default()),
    }
    let limits = caller_limits(app, tenant.actor()).await?;
    match app.store.tasks().create_task(tenant, &task, &[], limits, &[]).await {
        Ok(()) => {}
        Err(TaskWriteError::NotFound) => return Err(parent_not_found()),
        Err(refused) => return Err(refused.into()),
    }
    Ok(created(&format!("/v1/tasks/{}", task.id), &task))
}

/// A parent that is absent, trashed or someone else's is a problem of the request's `parent_id`.
fn parent_not_found() -> ApiError {
    let mut violations = Violations::new();
    violations.add("parent_id", "no such task");
    ApiError::from(violations)
}

/// Splits a `POST /v1/tasks` body into its `template_id` and the task's fields.
pub fn split_create_body(mut body: serde_json::Map<String, Value>) -> Result<(Option<String>, TaskFields), ApiError> {
    let template_id = match body.remove("template_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err(ApiError::from(Violations::one("template_id", "must be a template id"))),
    };
    Ok((template_id, from_value(Value::Object(body))?))
}

fn unknown_template() -> ApiError {
    ApiError::from(Violations::one("template_id", "no such template"))
}

/// The template's fields, with every field the request sent taking their place.
fn overlay(base: TaskFields, overrides: TaskFields) -> TaskFields {
    TaskFields {
        title: overrides.title.or(base.title),
        description: overrides.description.or(base.description),
        priority: overrides.priority.or(base.priority),
        estimate_minutes: overrides.estimate_minutes.or(base.estimate_minutes),
        labels: overrides.labels.or(base.labels),
        category: overrides.category.or(base.category),
        recurrence: overrides.recurrence.or(base.recurrence),
        ..overrides
    }
}

/// `POST /v1/tasks` with `template_id`: the template's task, overridden by the fields sent, with
/// the template's subtasks, created in one transaction. Under a `parent` (a subtask), only a
/// template without subtasks fits: subtasks are one level deep.
pub async fn create_from_template(
    app: &Base,
    tenant: &Tenant,
    template_id: &str,
    overrides: TaskFields,
    parent: Option<&Task>,
) -> Result<Response, ApiError> {
    if ulid::Ulid::from_string(template_id).is_err() {
        return Err(unknown_template());
    }
    if let Some(parent) = parent {
        let template =
            app.store.templates().get_template(tenant.actor(), template_id).await?.ok_or_else(unknown_template)?;
        if !template.subtasks.is_empty() {
            return Err(ApiError::from(Violations::one(
                "parent_id",
                "this template has subtasks; subtasks are one level deep",
            )));
        }
        return create_task(app, tenant, overlay(template.task.fields(), overrides), Some(parent)).await;
    }
    let (template, user) = app.store.templates().get_template_and_user(tenant.actor(), template_id).await?;
    let template = template.ok_or_else(unknown_template)?;
    let limits = limits(user.ok_or_else(ApiError::not_found)?.tier);
    if template.subtasks.len() as u64 > limits.subtasks_per_task {
        return Err(ApiError::limit_reached(LimitReached::of(Limit::SubtasksPerTask, limits)));
    }
    let now = chrono::Utc::now();
    // One monotonic generator: the subtasks keep the template's order (lists sort by id).
    let mut ids = ulid::Generator::new();
    let mut new_id = || ids.generate().map(|id| id.to_string()).unwrap_or_else(|_| ulid::Ulid::new().to_string());
    let fields = overlay(template.task.fields(), overrides);
    let mut task = template::new_task(new_id(), &fields, now, "").map_err(ApiError::from)?;
    let mut subtasks = Vec::with_capacity(template.subtasks.len());
    let mut violations = Violations::new();
    for (index, subtask) in template.subtasks.iter().enumerate() {
        match template::new_task(new_id(), &subtask.fields(), now, &format!("subtasks[{index}].")) {
            Ok(subtask) => subtasks.push(Task { parent_id: Some(task.id.clone()), ..subtask }),
            Err(problems) => {
                for (field, message) in problems.into_vec() {
                    violations.add(field, message);
                }
            }
        }
    }
    if !violations.is_empty() {
        // Rules that changed since the template was saved: say which part of it no longer fits.
        return Err(ApiError::from(violations));
    }
    let ids = subtasks.iter().map(|subtask| subtask.id.clone()).collect();
    task.subtasks = Some(SubtaskCounts { open: subtasks.len() as u64, done: 0, ids });
    app.store.tasks().create_task(tenant, &task, &subtasks, limits, &[]).await?;
    Ok(created(&format!("/v1/tasks/{}", task.id), &task))
}
