//! `GET /v1/activity`: the caller's activity log, newest first, optionally of one entity.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use shared::AppState;
use shared::http::{ApiError, CurrentUser, FieldError};

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

fn decode_cursor(cursor: &str) -> Option<String> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    text.starts_with("ACTIVITY#").then_some(text)
}

pub async fn list(
    State(app): State<AppState>,
    caller: CurrentUser,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ActivityList>, ApiError> {
    let limit = match query.get("limit").map(|text| text.parse::<usize>()) {
        None => 50,
        Some(Ok(limit)) if (1..=200).contains(&limit) => limit,
        Some(_) => {
            return Err(ApiError::validation(vec![FieldError::new("limit", "must be a number from 1 to 200")]));
        }
    };
    let after = match query.get("cursor") {
        Some(cursor) => Some(
            decode_cursor(cursor)
                .ok_or_else(|| ApiError::bad_request("invalid_cursor", "the cursor is not one this API gave"))?,
        ),
        None => None,
    };
    let entity = query.get("entity_id").map(String::as_str);
    let page = app.store.list_activity(&caller.user_id, entity, after.as_deref(), limit).await?;
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
    Ok(Json(ActivityList { items, next_cursor: page.next.map(|sk| URL_SAFE_NO_PAD.encode(sk)) }))
}
