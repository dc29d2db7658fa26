//! `GET /v1/activity`: the caller's activity log, newest first, optionally of one entity.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use shared::AppState;
use shared::http::pagination::{PageRequest, cursor};
use shared::http::{ApiError, CurrentUser};
use shared::store::keys;

#[derive(Debug, Serialize)]
pub struct ActivityEntry {
    id: String,
    actor_id: String,
    entity_type: String,
    entity_id: String,
    action: String,
    /// `[{"field", "old", "new"}]`
    changes: serde_json::Value,
    at: String,
}

#[derive(Debug, Serialize)]
pub struct ActivityList {
    items: Vec<ActivityEntry>,
    next_cursor: Option<String>,
}

pub async fn list(
    State(app): State<AppState>,
    caller: CurrentUser,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ActivityList>, ApiError> {
    let request = PageRequest::from_query(&query, keys::ACTIVITY_PREFIX)?;
    let entity = query.get("entity_id").map(String::as_str);
    let page = app.store.list_activity(&caller.user_id, entity, request.after.as_deref(), request.limit).await?;
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
    Ok(Json(ActivityList { items, next_cursor: page.next.as_deref().map(cursor) }))
}
