//! Repeating tasks: `GET /v1/tasks/{id}/occurrences` (the closed ones, newest first) and
//! `POST /v1/tasks/{id}/skip` (close the current occurrence without completing it). Completing a
//! repeating task (`.../complete`, PATCH, bulk) comes through `close` too.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use shared::Base;
use shared::domain::account::Tier;
use shared::domain::occurrence::{Occurrence, Outcome, Series, advance};
use shared::domain::plan::{limits, may_raise_open_count};
use shared::domain::task::Task;
use shared::http::openapi::{CallerProblems, IfMatchParam, RequestProblems, TaskIdParam, WriteProblems};
use shared::http::pagination::{Page, PageQuery};
use shared::http::{ApiError, ApiQuery, CurrentUser};
use shared::http::{ApiPath, Id};
use shared::store::Tenant;
use shared::store::keys;

use super::{caller_limits, load_for_change, load_task, task_response};

/// The closed occurrences of a repeating task, newest first.
#[utoipa::path(get, path = "/v1/tasks/{id}/occurrences", tag = "tasks",
    params(TaskIdParam, PageQuery),
    responses(
        (status = 200, description = "One page of occurrences", body = Page<Occurrence>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Occurrence>>, ApiError> {
    let tenant = caller.tenant();
    let task = load_task(&app, &tenant, &id).await?;
    let prefix = keys::occurrences_of(&task.id);
    let page = query.page("occurrences", |position| position.starts_with(&prefix))?;
    let found = app.store.occurrences().list_occurrences(&tenant, &task.id, page.after.as_deref(), page.limit).await?;
    Ok(Json(Page::new(found.items, "occurrences", found.next.as_deref())))
}

/// Closes the current occurrence of a repeating task without completing it.
///
/// 409 `not_repeating` for a task that does not repeat, `series_over` for one done or cancelled.
#[utoipa::path(post, path = "/v1/tasks/{id}/skip", tag = "tasks",
    params(
        TaskIdParam,
        IfMatchParam
    ),
    responses(
        (status = 200, description = "The task at its next occurrence", body = Task,
            headers(("ETag" = String, description = "The task's version"))),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn skip(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant();
    let item = load_for_change(&app, &tenant, &id, &headers).await?;
    let Some(series) = item.series() else {
        return Err(ApiError::conflict("not_repeating", "only an occurrence of a repeating task can be skipped"));
    };
    let task = item.into_task();
    if !task.status.is_open() {
        return Err(ApiError::conflict("series_over", "the task is done or cancelled: no occurrence is left to skip"));
    }
    close(&app, &tenant, &task, &task, &series, Outcome::Skipped, "skipped").await
}

/// Closes the current occurrence of `before` as `current` records it (the request's other changes
/// applied), and answers with the task at its next occurrence.
pub async fn close(
    app: &Base,
    tenant: &Tenant,
    before: &Task,
    current: &Task,
    series: &Series,
    outcome: Outcome,
    action: &str,
) -> Result<Response, ApiError> {
    let step = advance(current, series, outcome, chrono::Utc::now())
        .ok_or_else(|| ApiError::conflict("not_repeating", "the task does not repeat"))?;
    // The tier matters only when the next occurrence reopens a cancelled task.
    let limits = if may_raise_open_count(before, &step.next) {
        caller_limits(app, tenant.actor()).await?
    } else {
        limits(Tier::default())
    };
    app.store.occurrences().close_occurrence(tenant, before, &step, action, limits).await?;
    // Reopened subtasks changed the counts: answer with the task as stored.
    let reopened = !step.ended && before.subtasks.as_ref().is_some_and(|counts| counts.done > 0);
    let next =
        if reopened { app.store.tasks().get_task(tenant, &before.id).await?.unwrap_or(step.next) } else { step.next };
    Ok(task_response(StatusCode::OK, &next))
}
