//! The activity log: one append-only entry per mutation, written in the same transaction as the
//! change it records. Entries expire after `RETENTION_DAYS`. Only a task's entries keep old and new
//! values, and they go with the task when the trash is purged (found through GSI1, where each
//! entry is indexed by its object); entries of notes, attachments and templates name the fields
//! that changed, never their content, so nothing of a deleted note lingers here.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use super::Tenant;
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
    /// The fields that changed (with their old and new values on task entries), as JSON text.
    pub changes: String,
    pub at: String,
    /// `USER#<id>#ACTIVITY#<entity id>`: the entries of one object, newest first.
    #[serde(rename = "GSI1PK", default)]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK", default)]
    pub gsi1sk: String,
    #[serde(default)]
    pub ttl: i64,
}

/// How long an entry is kept.
pub const RETENTION_DAYS: i64 = 90;

/// What an entry keeps of a change: task entries the values (they are purged with the task);
/// others the field names only.
fn kept(entity_type: &str, changes: &[FieldChange]) -> Vec<FieldChange> {
    if entity_type == "task" {
        return changes.to_vec();
    }
    changes
        .iter()
        .map(|change| FieldChange {
            field: change.field.clone(),
            old: serde_json::Value::Null,
            new: serde_json::Value::Null,
        })
        .collect()
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
        tenant: &Tenant,
        entity_type: &str,
        entity_id: &str,
        action: &str,
        changes: &[FieldChange],
    ) -> Result<TransactWriteItem, StoreError> {
        let id = ulid::Ulid::new().to_string();
        let item = ActivityItem {
            pk: tenant.partition(),
            sk: keys::activity(&id),
            entity: "activity".into(),
            id: id.clone(),
            actor_id: tenant.actor().to_string(),
            entity_type: entity_type.into(),
            entity_id: entity_id.into(),
            action: action.into(),
            changes: serde_json::to_string(&kept(entity_type, changes)).unwrap_or_else(|_| "[]".into()),
            at: super::now_rfc3339(),
            gsi1pk: keys::activity_of(tenant, entity_id),
            gsi1sk: id.clone(),
            ttl: super::ttl_in(RETENTION_DAYS * 24 * 3600),
        };
        self.store.put_new(super::to_item(&item)?)
    }

    /// Newest first, `limit` entries after the sort key `after`, optionally of one object only
    /// (its GSI1 partition: one bounded Query per page either way). Expired entries are skipped.
    pub async fn list_activity(
        self,
        tenant: &Tenant,
        entity_id: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<ActivityPage, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let mut query =
            self.store.client.query().table_name(&self.store.table).scan_index_forward(false).limit(limit as i32 + 1);
        query = match entity_id {
            None => query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", s(tenant.partition()))
                .expression_attribute_values(":prefix", s(keys::ACTIVITY_PREFIX))
                .set_exclusive_start_key(after.map(|sk| super::key(tenant.partition(), sk))),
            Some(entity_id) => {
                let partition = keys::activity_of(tenant, entity_id);
                let start = after.map(|sk| {
                    let mut start = super::key(tenant.partition(), sk);
                    start.insert("GSI1PK".into(), s(partition.clone()));
                    start.insert("GSI1SK".into(), s(sk.strip_prefix(keys::ACTIVITY_PREFIX).unwrap_or(sk)));
                    start
                });
                query
                    .index_name("GSI1")
                    .key_condition_expression("GSI1PK = :pk")
                    .expression_attribute_values(":pk", s(partition))
                    .set_exclusive_start_key(start)
            }
        };
        let output = query.send().await.map_err(dynamo_error)?;
        let mut items = Vec::new();
        let mut more = false;
        for item in output.items.unwrap_or_default() {
            if items.len() == limit {
                more = true;
                break;
            }
            if !super::expired(&item, now) {
                items.push(from_item::<ActivityItem>(item)?);
            }
        }
        let next = if more { items.last().map(|item| item.sk.clone()) } else { None };
        Ok(ActivityPage { items, next })
    }

    /// The keys of every entry of one object (for the trash purge).
    pub(crate) async fn keys_of(self, tenant: &Tenant, entity_id: &str) -> Result<Vec<super::Item>, StoreError> {
        let entries = self.store.index_items(keys::activity_of(tenant, entity_id), super::IndexRange::All).await?;
        Ok(entries.iter().map(super::key_of).collect())
    }
}
