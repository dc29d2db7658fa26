//! Attachment records of a task (`ATTACHMENT#<task id>#<id>`); the files themselves are S3 objects
//! under the owner's prefix. Every record write checks that its task is live and moves two
//! counters in the same transaction: the task's (`COUNTS#<task id>.attachments`, capped per task)
//! and the user's usage (`ATTACHMENT_USAGE`: `attachments` and `bytes`, the tier's quota). A
//! record counts from the moment its upload is handed out until it is deleted or purged.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use super::Tenant;
use super::update::ItemUpdate;
use super::{Store, StoreError, WriteError, from_item, key, keys, n, to_item};
use crate::domain::attachment::Attachment;
use crate::domain::plan::{Limit, LimitReached, PlanLimits};
use crate::domain::task::FieldChange;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AttachmentItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(flatten)]
    pub(crate) attachment: Attachment,
}

impl AttachmentItem {
    /// The key of an attachment record of `tenant`.
    pub fn key(tenant: &Tenant, task_id: &str, attachment_id: &str) -> super::Item {
        key(tenant.partition(), keys::attachment(task_id, attachment_id))
    }
}

/// The S3 key of an attachment: under its tenant and task, so a bucket listing by prefix finds
/// everything of one user (or team).
pub fn object_key(tenant: &Tenant, task_id: &str, attachment_id: &str) -> String {
    format!("{}/tasks/{task_id}/{attachment_id}", tenant.folder())
}

/// Attachment records of a task (the files are in S3). Reached as `store.attachments()`.
#[derive(Clone, Copy)]
pub struct Attachments<'a> {
    pub(crate) store: &'a Store,
}

/// The user's attachment usage, as counted.
#[derive(Debug, Default, Deserialize)]
struct UsageItem {
    #[serde(default)]
    attachments: i64,
}

impl Attachments<'_> {
    fn count_on_task(
        self,
        tenant: &Tenant,
        task_id: &str,
        delta: i64,
        limit: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        self.store.count(tenant.partition(), &keys::task_counts(task_id), "attachments", delta, limit)
    }

    fn count_usage(
        self,
        tenant: &Tenant,
        attachment: &Attachment,
        limits: Option<PlanLimits>,
    ) -> Result<TransactWriteItem, StoreError> {
        let bytes = i64::try_from(attachment.size_bytes).unwrap_or(i64::MAX);
        let update = match limits {
            Some(limits) => ItemUpdate::new().add_within("attachments", 1, limits.attachments).add_within(
                "bytes",
                bytes,
                limits.attachment_bytes,
            ),
            None => ItemUpdate::new().add("attachments", n(-1)).add("bytes", n(-bytes)),
        };
        update.into_action(&self.store.table, key(tenant.partition(), keys::ATTACHMENT_USAGE))
    }

    /// Records an attachment on a live task, within the per-task cap and the tier's quota.
    pub async fn add_attachment(
        self,
        tenant: &Tenant,
        attachment: &Attachment,
        limits: PlanLimits,
    ) -> Result<(), WriteError<Attachment>> {
        let item = AttachmentItem {
            pk: tenant.partition(),
            sk: keys::attachment(&attachment.task_id, &attachment.id),
            entity: "attachment".into(),
            attachment: attachment.clone(),
        };
        let change = FieldChange {
            field: "filename".into(),
            old: serde_json::Value::Null,
            new: attachment.filename.clone().into(),
        };
        let actions = vec![
            self.store.notes().task_is_live(tenant, &attachment.task_id)?,
            self.count_on_task(tenant, &attachment.task_id, 1, Some(limits.attachments_per_task))?,
            self.count_usage(tenant, attachment, Some(limits))?,
            self.store.put_new(to_item(&item)?)?,
            self.store.activity().record_activity(tenant, "attachment", &attachment.id, "created", &[change])?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) => Err(WriteError::NotFound),
            Err(error) if error.failed_condition_at(1) => {
                Err(WriteError::LimitReached(LimitReached::of(Limit::AttachmentsPerTask, limits)))
            }
            Err(error) if error.failed_condition_at(2) => {
                // One update holds both quotas: the count says which one is full.
                let usage: Option<UsageItem> = self.store.get(tenant.partition(), keys::ATTACHMENT_USAGE).await?;
                let full = usage.unwrap_or_default().attachments >= limits.attachments as i64;
                let limit = if full { Limit::Attachments } else { Limit::AttachmentBytes };
                Err(WriteError::LimitReached(LimitReached::of(limit, limits)))
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn list_attachments(self, tenant: &Tenant, task_id: &str) -> Result<Vec<Attachment>, StoreError> {
        let items = self.store.query_prefix(tenant.partition(), &keys::attachments_of(task_id)).await?;
        items.into_iter().map(|item| from_item::<AttachmentItem>(item).map(|item| item.attachment)).collect()
    }

    pub async fn get_attachment(
        self,
        tenant: &Tenant,
        task_id: &str,
        attachment_id: &str,
    ) -> Result<Option<Attachment>, StoreError> {
        let item: Option<AttachmentItem> =
            self.store.get(tenant.partition(), &keys::attachment(task_id, attachment_id)).await?;
        Ok(item.map(|item| item.attachment))
    }

    /// Deletes the record and gives its room back; false when the task is not live or the record
    /// is gone.
    pub async fn delete_attachment(self, tenant: &Tenant, attachment: &Attachment) -> Result<bool, StoreError> {
        let change = FieldChange {
            field: "filename".into(),
            old: attachment.filename.clone().into(),
            new: serde_json::Value::Null,
        };
        let mut actions = vec![self.store.notes().task_is_live(tenant, &attachment.task_id)?];
        actions.extend(self.release(tenant, attachment)?);
        actions.push(self.store.activity().record_activity(
            tenant,
            "attachment",
            &attachment.id,
            "deleted",
            &[change],
        )?);
        match self.store.transact(actions).await {
            Ok(()) => Ok(true),
            Err(error) if error.is_condition_failure() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The purge's delete of a purged task's record: its room is given back once (false when an
    /// earlier, interrupted purge already did).
    pub async fn purge_attachment(self, tenant: &Tenant, attachment: &Attachment) -> Result<bool, StoreError> {
        match self.store.transact(self.release(tenant, attachment)?).await {
            Ok(()) => Ok(true),
            Err(error) if error.is_condition_failure() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The record's delete (on condition it exists) with both counters moved back.
    fn release(self, tenant: &Tenant, attachment: &Attachment) -> Result<Vec<TransactWriteItem>, StoreError> {
        Ok(vec![
            self.store.delete_existing(AttachmentItem::key(tenant, &attachment.task_id, &attachment.id), None)?,
            self.count_on_task(tenant, &attachment.task_id, -1, None)?,
            self.count_usage(tenant, attachment, None)?,
        ])
    }
}
