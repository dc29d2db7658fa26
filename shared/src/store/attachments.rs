//! Attachment records of a task (`ATTACHMENT#<task id>#<id>`); the files themselves are S3 objects
//! under the owner's prefix. Every record write checks that its task is live.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, from_item, keys, to_item};
use crate::domain::attachment::Attachment;
use crate::domain::task::FieldChange;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AttachmentItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(flatten)]
    attachment: Attachment,
}

/// The S3 key of an attachment: under its owner and task, so a bucket listing by prefix finds
/// everything of one user.
pub fn object_key(user_id: &str, task_id: &str, attachment_id: &str) -> String {
    format!("users/{user_id}/tasks/{task_id}/{attachment_id}")
}

/// Attachment records of a task (the files are in S3). Reached as `store.attachments()`.
#[derive(Clone, Copy)]
pub struct Attachments<'a> {
    pub(crate) store: &'a Store,
}

impl Attachments<'_> {
    pub async fn add_attachment(&self, user_id: &str, attachment: &Attachment) -> Result<bool, StoreError> {
        let item = AttachmentItem {
            pk: keys::user(user_id),
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
            self.store.notes().task_is_live(user_id, &attachment.task_id)?,
            self.store.put_new(to_item(&item)?)?,
            self.store.activity().record_activity(user_id, "attachment", &attachment.id, "created", &[change])?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(true),
            Err(error) if error.failed_condition_at(0) => Ok(false),
            Err(error) => Err(error),
        }
    }

    pub async fn list_attachments(self, user_id: &str, task_id: &str) -> Result<Vec<Attachment>, StoreError> {
        let items = self.store.query_prefix(keys::user(user_id), &keys::attachments_of(task_id)).await?;
        items.into_iter().map(|item| from_item::<AttachmentItem>(item).map(|item| item.attachment)).collect()
    }

    pub async fn get_attachment(
        self,
        user_id: &str,
        task_id: &str,
        attachment_id: &str,
    ) -> Result<Option<Attachment>, StoreError> {
        let item: Option<AttachmentItem> =
            self.store.get(keys::user(user_id), &keys::attachment(task_id, attachment_id)).await?;
        Ok(item.map(|item| item.attachment))
    }

    /// Deletes the record; false when the task is not live or the record is gone.
    pub async fn delete_attachment(self, user_id: &str, attachment: &Attachment) -> Result<bool, StoreError> {
        let change = FieldChange {
            field: "filename".into(),
            old: attachment.filename.clone().into(),
            new: serde_json::Value::Null,
        };
        let actions = vec![
            self.store.notes().task_is_live(user_id, &attachment.task_id)?,
            self.store.delete_existing(
                keys::user(user_id),
                &keys::attachment(&attachment.task_id, &attachment.id),
                None,
            )?,
            self.store.activity().record_activity(user_id, "attachment", &attachment.id, "deleted", &[change])?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(true),
            Err(error) if error.is_condition_failure() => Ok(false),
            Err(error) => Err(error),
        }
    }
}
