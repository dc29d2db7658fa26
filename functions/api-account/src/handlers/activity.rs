//! `GET /v1/activity`: the caller's activity log, newest first, optionally of one entity.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::http::openapi::{CallerProblems, RequestProblems};
use shared::http::pagination::{Page, PageRequest};
use shared::http::{ApiError, ApiQuery, CurrentUser};
use shared::store::keys;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityEntry {
    id: String,
    actor_id: String,
    entity_type: String,
    entity_id: String,
    action: String,
    /// `[{"field", "old", "new"}]`
    #[schema(value_type = Vec<Object>)]
    changes: serde_json::Value,
    at: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// 1 to 200 (50 when absent).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    cursor: Option<String>,
    /// Only the entries of this task, session, ...
    entity_id: Option<String>,
}

#[utoipa::path(get, path = "/v1/activity", tag = "account",
    params(ActivityQuery),
    responses(
        (status = 200, description = "One page of the activity log, newest first", body = Page<ActivityEntry>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<ActivityQuery>,
) -> Result<Json<Page<ActivityEntry>>, ApiError> {
    let request = PageRequest::only(query.limit.as_deref(), query.cursor.as_deref(), "activity", |position| {
        position.starts_with(keys::ACTIVITY_PREFIX)
    })?;
    let entity = query.entity_id.as_deref();
    let page =
        app.store.activity().list_activity(&caller.tenant(), entity, request.after.as_deref(), request.limit).await?;
    let items = page
        .items
        .into_iter()
        .map(|item| ActivityEntry {
            changes: item.changes_json(),
            id: item.id,
            actor_id: item.actor_id,
            entity_type: item.entity_type,
            entity_id: item.entity_id,
            action: item.action,
            at: item.at,
        })
        .collect();
    Ok(Json(Page::new(items, "activity", page.next.as_deref())))
}
