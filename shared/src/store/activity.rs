//! The activity log: one append-only entry per mutation, written in the same transaction as the
//! change it records.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, dynamo_error, from_item, keys, s};
use crate::domain::task::FieldChange;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActivityItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub id: String,
    /// Who acted.
    pub actor_id: String,
    /// What kind of object changed (`task`, ...), and which.
    pub entity_type: String,
    pub entity_id: String,
    /// `created`, `updated`, `completed`, `uncompleted`, `archived`, `trashed`, `restored`.
    pub action: String,
    /// The fields that changed with their old and new values, as JSON text.
    pub changes: String,
    pub at: String,
}

impl ActivityItem {
    pub fn changes_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.changes).unwrap_or_default()
    }
}

/// One page of activity.
pub struct ActivityPage {
    pub items: Vec<ActivityItem>,
    /// The sort key to continue after.
    pub next: Option<String>,
}

/// The activity log: who changed what, newest first. Reached as `store.activity()`.
#[derive(Clone, Copy)]
pub struct ActivityLog<'a> {
    pub(crate) store: &'a Store,
}

impl ActivityLog<'_> {
    /// The Put (for the change's transaction) of one activity entry.
    pub fn record_activity(
        self,
        user_id: &str,
        entity_type: &str,
        entity_id: &str,
        action: &str,
        changes: &[FieldChange],
    ) -> Result<TransactWriteItem, StoreError> {
        let id = ulid::Ulid::new().to_string();
        let item = ActivityItem {
            pk: keys::user(user_id),
            sk: keys::activity(&id),
            entity: "activity".into(),
            id,
            actor_id: user_id.to_string(),
            entity_type: entity_type.into(),
            entity_id: entity_id.into(),
            action: action.into(),
            changes: serde_json::to_string(changes).unwrap_or_else(|_| "[]".into()),
            at: super::now_rfc3339(),
        };
        self.store.put_new(super::to_item(&item)?)
    }

    /// Newest first, `limit` entries after the sort key `after`, optionally of one entity only
    /// (a filter on the Query, read on until the page is full).
    pub async fn list_activity(
        self,
        user_id: &str,
        entity_id: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ActivityPage, StoreError> {
        let mut items = Vec::new();
        let mut start = after.map(|sk| super::key(keys::user(user_id), sk));
        loop {
            let mut query = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", s(keys::user(user_id)))
                .expression_attribute_values(":prefix", s(keys::ACTIVITY_PREFIX))
                .scan_index_forward(false)
                .limit((limit - items.len()).max(1) as i32 * if entity_id.is_some() { 4 } else { 1 })
                .set_exclusive_start_key(start.take());
            if let Some(entity_id) = entity_id {
                query =
                    query.filter_expression("entity_id = :entity").expression_attribute_values(":entity", s(entity_id));
            }
            let output = query.send().await.map_err(dynamo_error)?;
            for item in output.items.unwrap_or_default() {
                if items.len() < limit {
                    items.push(from_item::<ActivityItem>(item)?);
                }
            }
            start = output.last_evaluated_key;
            if items.len() >= limit || start.is_none() {
                break;
            }
        }
        let more = items.len() >= limit;
        let next = if more { items.last().map(|item| item.sk.clone()) } else { None };
        Ok(ActivityPage { items, next })
    }
}
