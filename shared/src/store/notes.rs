//! Notes on a task, under the owner's partition next to each other (`NOTE#<task id>#<note id>`).
//! Every write checks, in its transaction, that the task is live (not trashed), and moves the
//! task's note counter (`COUNTS#<task id>`), which the per-task cap is enforced on.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::Tenant;
use super::{Store, StoreError, WriteError, from_item, key, keys, n, s, to_item};
use crate::domain::note::Note;
use crate::domain::plan::{Limit, LimitReached, PlanLimits};
use crate::domain::task::FieldChange;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoteItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    #[serde(flatten)]
    pub note: Note,
}

impl NoteItem {
    /// The key of a note of `tenant`.
    pub fn key(tenant: &Tenant, task_id: &str, note_id: &str) -> super::Item {
        key(tenant.partition(), keys::note(task_id, note_id))
    }
}

/// Notes on a task. Reached as `store.notes()`.
#[derive(Clone, Copy)]
pub struct Notes<'a> {
    pub(crate) store: &'a Store,
}

impl Notes<'_> {
    /// A condition (for a transaction) that the task exists and is not in the trash.
    pub fn task_is_live(self, tenant: &Tenant, task_id: &str) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.store.table)
            .set_key(Some(super::tasks::TaskItem::key(tenant, task_id)))
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(trashed_at)")
            .expression_attribute_names("#pk", keys::PK)
            .build()
            .map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    fn note_put(self, tenant: &Tenant, note: &Note) -> Result<TransactWriteItem, StoreError> {
        let item = NoteItem {
            pk: tenant.partition(),
            sk: keys::note(&note.task_id, &note.id),
            entity: "note".into(),
            note: note.clone(),
        };
        self.store.put_new(to_item(&item)?)
    }

    /// The update (for a transaction) that moves a task's note count by `delta`; going up, only
    /// while it stays within `limit`.
    pub(crate) fn count_notes(
        self,
        tenant: &Tenant,
        task_id: &str,
        delta: i64,
        limit: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        self.store.count(tenant.partition(), &keys::task_counts(task_id), "notes", delta, limit)
    }

    /// The writes (for a new task's transaction) that save copies of notes on it, counted.
    pub(crate) fn copies(
        self,
        tenant: &Tenant,
        task_id: &str,
        notes: &[Note],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        if notes.is_empty() {
            return Ok(Vec::new());
        }
        let mut writes = vec![self.count_notes(tenant, task_id, notes.len() as i64, None)?];
        for note in notes {
            writes.push(self.note_put(tenant, note)?);
        }
        Ok(writes)
    }

    /// Saves a note on a live task, within the plan's notes per task.
    pub async fn add_note(self, tenant: &Tenant, note: &Note, limits: PlanLimits) -> Result<(), WriteError<Note>> {
        let change = FieldChange { field: "body".into(), old: serde_json::Value::Null, new: note.body.clone().into() };
        let actions = vec![
            self.task_is_live(tenant, &note.task_id)?,
            self.count_notes(tenant, &note.task_id, 1, Some(limits.notes_per_task))?,
            self.note_put(tenant, note)?,
            self.store.activity().record_activity(tenant, "note", &note.id, "created", &[change])?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) => Err(WriteError::NotFound),
            Err(error) if error.failed_condition_at(1) => {
                Err(WriteError::LimitReached(LimitReached::of(Limit::NotesPerTask, limits)))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The notes of a task, oldest first.
    pub async fn list_notes(self, tenant: &Tenant, task_id: &str) -> Result<Vec<Note>, StoreError> {
        let items = self.store.query_prefix(tenant.partition(), &keys::notes_of(task_id)).await?;
        items.into_iter().map(|item| from_item::<NoteItem>(item).map(|item| item.note)).collect()
    }

    pub async fn get_note(self, tenant: &Tenant, task_id: &str, note_id: &str) -> Result<Option<Note>, StoreError> {
        let item: Option<NoteItem> = self.store.get(tenant.partition(), &keys::note(task_id, note_id)).await?;
        Ok(item.map(|item| item.note))
    }

    /// Replaces a note's body if it is still at `before.version` and its task is live.
    pub async fn edit_note(self, tenant: &Tenant, before: &Note, body: &str) -> Result<Note, WriteError<Note>> {
        let now = super::now_rfc3339();
        let change = FieldChange { field: "body".into(), old: before.body.clone().into(), new: body.into() };
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(NoteItem::key(tenant, &before.task_id, &before.id)))
            .update_expression("SET body = :body, updated_at = :now, version = version + :one")
            .condition_expression("version = :version")
            .expression_attribute_values(":body", s(body))
            .expression_attribute_values(":now", s(now.clone()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":version", n(before.version))
            .build()
            .map_err(StoreError::from)?;
        let actions = vec![
            self.task_is_live(tenant, &before.task_id)?,
            TransactWriteItem::builder().update(update).build(),
            self.store.activity().record_activity(tenant, "note", &before.id, "updated", &[change])?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(Note { body: body.into(), updated_at: now, version: before.version + 1, ..before.clone() }),
            Err(error) if error.failed_condition_at(0) => Err(WriteError::NotFound),
            Err(error) if error.failed_condition_at(1) => {
                match self.get_note(tenant, &before.task_id, &before.id).await? {
                    Some(current) => Err(WriteError::VersionConflict(Box::new(current))),
                    None => Err(WriteError::NotFound),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    pub async fn delete_note(self, tenant: &Tenant, note: &Note) -> Result<(), WriteError<Note>> {
        let change = FieldChange { field: "body".into(), old: note.body.clone().into(), new: serde_json::Value::Null };
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.store.table)
            .set_key(Some(NoteItem::key(tenant, &note.task_id, &note.id)))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", n(note.version))
            .build()
            .map_err(StoreError::from)?;
        let actions = vec![
            self.task_is_live(tenant, &note.task_id)?,
            TransactWriteItem::builder().delete(delete).build(),
            self.count_notes(tenant, &note.task_id, -1, None)?,
            self.store.activity().record_activity(tenant, "note", &note.id, "deleted", &[change])?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) => Err(WriteError::NotFound),
            Err(error) if error.failed_condition_at(1) => match self.get_note(tenant, &note.task_id, &note.id).await? {
                Some(current) => Err(WriteError::VersionConflict(Box::new(current))),
                None => Err(WriteError::NotFound),
            },
            Err(error) => Err(error.into()),
        }
    }
}
