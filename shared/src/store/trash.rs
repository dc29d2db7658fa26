//! The trash. A deleted task stays in place, marked, with a 7-day TTL (readers treat it as
//! gone); its live subtasks go with it, marked `trashed_with` its id. A `TRASH#<id>` entry lists
//! it for `GET /v1/trash` and names every task the purge deletes once the 7 days are over. The
//! entry has no TTL: the purge deletes it last, so a purge cut short is finished by the next run.

use serde::{Deserialize, Serialize};

use super::Tenant;
use super::tasks::{Guard, PARENT_RACE_ATTEMPTS, Plan, TaskItem, TaskWriteError, id_set};
use super::update::ItemUpdate;
use super::{IndexRange, Store, StoreError, dynamo_error, from_item, keys, n, s, to_item};
use crate::domain::plan::{Limit, LimitReached, PlanLimits, open_count};
use crate::domain::task::{Task, subtask_contribution};

/// Deleted tasks can be restored for 7 days.
pub const TRASH_SECONDS: i64 = 7 * 24 * 3600;

/// What a trash entry holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrashKind {
    #[default]
    Task,
    Event,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrashItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// A task (with its subtasks) or a calendar event.
    #[serde(default)]
    pub kind: TrashKind,
    /// The id of the task or event (its field name is from the time only tasks were trashed).
    pub task_id: String,
    pub title: String,
    pub trashed_at: String,
    /// Epoch seconds after which the task cannot be restored and the purge deletes it.
    pub expires_at: i64,
    /// The task and the subtasks trashed with it (an event: the event): what the purge deletes.
    pub task_ids: Vec<String>,
    /// Who trashed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trashed_by: Option<String>,
    /// The purge index (GSI1): `PURGE#<day the entry expires>`.
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    /// `<expires_at, 12 digits>#<user id>#<task id>`.
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    /// The user's trash, newest first (GSI2): `USER#<id>#TRASH`.
    #[serde(rename = "GSI2PK")]
    pub gsi2pk: String,
    /// `<expires_at, 12 digits>#<task id>`: the list reads only entries still restorable.
    #[serde(rename = "GSI2SK")]
    pub gsi2sk: String,
}

impl TrashItem {
    /// The key of the trash entry of a task of `tenant`.
    pub fn key(tenant: &Tenant, task_id: &str) -> super::Item {
        super::key(tenant.partition(), keys::trash(task_id))
    }

    fn new(tenant: &Tenant, task: &Task, subtask_ids: Vec<String>, trashed_at: String, expires_at: i64) -> Self {
        let mut entry = Self::entry(tenant, TrashKind::Task, &task.id, &task.title, trashed_at, expires_at);
        entry.task_ids.extend(subtask_ids);
        entry
    }

    /// The entry of a trashed `kind` of object (`id`, shown as `title`).
    pub(crate) fn entry(
        tenant: &Tenant,
        kind: TrashKind,
        id: &str,
        title: &str,
        trashed_at: String,
        expires_at: i64,
    ) -> Self {
        TrashItem {
            pk: tenant.partition(),
            sk: keys::trash(id),
            entity: "trash".into(),
            kind,
            task_id: id.into(),
            title: title.into(),
            trashed_at,
            expires_at,
            task_ids: vec![id.into()],
            trashed_by: Some(tenant.actor().to_string()),
            gsi1pk: keys::purge_bucket(expires_at),
            gsi1sk: format!("{expires_at:012}#{}#{id}", tenant.partition()),
            gsi2pk: keys::trash_index(tenant),
            gsi2sk: format!("{expires_at:012}#{id}"),
        }
    }

    /// The tenant the entry belongs to, acting as the person who trashed it (the purge's deletes
    /// are theirs).
    pub fn tenant(&self) -> Tenant {
        let actor = self.trashed_by.clone().unwrap_or_default();
        match self.pk.split_once('#') {
            Some(("TEAM", team_id)) => Tenant::Team { team_id: team_id.into(), member_id: actor },
            _ => Tenant::user(self.pk.strip_prefix("USER#").unwrap_or_default()),
        }
    }
}

/// One page of the trash.
#[derive(Debug)]
pub struct TrashPage {
    pub items: Vec<TrashItem>,
    /// The position of the last entry, when more follow.
    pub next: Option<String>,
}

/// Whether a position is one the trash list gives: `<expires_at, 12 digits>#<task id>`.
pub fn is_trash_position(position: &str) -> bool {
    position.split_once('#').is_some_and(|(expires, task_id)| {
        expires.len() == 12 && expires.bytes().all(|b| b.is_ascii_digit()) && ulid::Ulid::from_string(task_id).is_ok()
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("not in the trash")]
    NotInTrash,
    #[error("expired")]
    Expired,
    #[error("not found")]
    NotFound,
    #[error("limit reached")]
    LimitReached(LimitReached),
    /// A subtask whose parent is in the trash comes back only with its parent.
    #[error("the parent is in the trash")]
    ParentInTrash,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The trash: trashed tasks, restore, and the purge's reads. Reached as `store.trash()`.
#[derive(Clone, Copy)]
pub struct Trash<'a> {
    pub(crate) store: &'a Store,
}

impl Trash<'_> {
    /// Moves a task to the trash with its live subtasks.
    pub async fn trash_task(self, tenant: &Tenant, task: &Task) -> Result<(), TaskWriteError> {
        let mut task = task.clone();
        for attempt in 0..PARENT_RACE_ATTEMPTS {
            if attempt > 0 {
                task = self.store.tasks().reread(tenant, &task).await?;
            }
            if self.try_trash(tenant, &task).await? {
                return Ok(());
            }
        }
        Err(StoreError::Contended("the task's subtasks kept changing while it was trashed").into())
    }

    async fn try_trash(self, tenant: &Tenant, task: &Task) -> Result<bool, TaskWriteError> {
        let now = super::now_rfc3339();
        let expires = super::ttl_in(TRASH_SECONDS);
        let subtask_ids = task.subtasks.as_ref().map(|counts| counts.ids.clone()).unwrap_or_default();
        let subtasks: Vec<TaskItem> =
            self.store.tasks().task_items(tenant, &subtask_ids).await?.into_iter().filter(TaskItem::is_live).collect();
        let mark = ItemUpdate::new().set("trashed_at", s(now.clone())).set(keys::TTL, n(expires));
        let mut plan = Plan::default();
        let task_mark = mark
            .clone()
            .condition(
                "#version = :expected_version AND attribute_not_exists(trashed_at)",
                &[("#version", "version")],
                [(":expected_version", n(task.version))],
            )
            .condition(&set_size_is("subtask_ids", subtask_ids.len()), &[], [(":set_size", n(subtask_ids.len()))]);
        plan.push(task_mark.into_action(&self.store.table, TaskItem::key(tenant, &task.id))?, Some(Guard::Task));
        for subtask in &subtasks {
            let subtask_mark = mark.clone().set("trashed_with", s(task.id.clone())).condition(
                "#version = :expected_version AND attribute_not_exists(trashed_at)",
                &[("#version", "version")],
                [(":expected_version", n(subtask.task.version))],
            );
            plan.push(
                subtask_mark.into_action(&self.store.table, TaskItem::key(tenant, &subtask.task.id))?,
                Some(Guard::Raced),
            );
        }
        let moved = subtasks.iter().map(|item| item.task.id.clone()).collect();
        let entry = TrashItem::new(tenant, task, moved, now, expires);
        plan.push(self.store.put(to_item(&entry)?)?, None);
        plan.push(self.store.activity().record_activity(tenant, "task", &task.id, "trashed", &[])?, None);
        if open_count(task) != 0 {
            plan.push(self.store.tasks().count_open(tenant, -1, 0)?, None);
        }
        if let Some(parent_id) = &task.parent_id {
            plan.push(self.leave_parent(tenant, parent_id, task)?, None);
        }
        match plan.run(self.store).await {
            Ok(()) => Ok(true),
            Err((_, Some(Guard::Task))) => self.store.tasks().reread(tenant, task).await.map(|_| false),
            Err((_, Some(_))) => Ok(false),
            Err((error, None)) => Err(error.into()),
        }
    }

    /// Takes a subtask out of its parent's set and counts.
    fn leave_parent(
        self,
        tenant: &Tenant,
        parent_id: &str,
        subtask: &Task,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let (open, done) = subtask_contribution(subtask);
        ItemUpdate::new()
            .delete_members("subtask_ids", id_set(&subtask.id))
            .add("open_subtasks", n(-open))
            .add("done_subtasks", n(-done))
            .condition("attribute_exists(#pk)", &[("#pk", keys::PK)], [])
            .into_action(&self.store.table, TaskItem::key(tenant, parent_id))
    }

    /// One page of the trash, most recently trashed first, after the position `after` (an
    /// entry's `<expires_at>#<task id>`); entries past their 7 days are not read. One Query of
    /// GSI2 for one entry more than the page, so a last page is known as such.
    pub async fn list_trash(self, tenant: &Tenant, after: Option<&str>, limit: usize) -> Result<TrashPage, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let start = after.map(|position| {
            let task_id = position.rsplit('#').next().unwrap_or_default();
            let mut start = TrashItem::key(tenant, task_id);
            start.insert("GSI2PK".into(), s(keys::trash_index(tenant)));
            start.insert("GSI2SK".into(), s(position));
            start
        });
        let output = self
            .store
            .client
            .query()
            .table_name(&self.store.table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :pk AND GSI2SK > :now")
            .expression_attribute_values(":pk", s(keys::trash_index(tenant)))
            .expression_attribute_values(":now", s(format!("{now:012}")))
            .scan_index_forward(false)
            .limit(limit as i32 + 1)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(dynamo_error)?;
        let returned = output.items.unwrap_or_default();
        let more = returned.len() > limit || output.last_evaluated_key.is_some();
        let items: Vec<TrashItem> = returned.into_iter().take(limit).map(from_item).collect::<Result<_, _>>()?;
        let next = if more { items.last().map(|entry| entry.gsi2sk.clone()) } else { None };
        Ok(TrashPage { items, next })
    }

    /// Brings a trashed task back with its id and the subtasks trashed with it, if its 7 days
    /// have not passed. A subtask trashed on its own comes back under its parent, if the parent
    /// is live and has room.
    pub async fn restore_task(self, tenant: &Tenant, task_id: &str, limits: PlanLimits) -> Result<Task, RestoreError> {
        for _ in 0..PARENT_RACE_ATTEMPTS {
            if let Some(task) = self.try_restore(tenant, task_id, limits).await? {
                return Ok(task);
            }
        }
        Err(StoreError::Contended("the task's parent kept changing while it was restored").into())
    }

    async fn try_restore(
        self,
        tenant: &Tenant,
        task_id: &str,
        limits: PlanLimits,
    ) -> Result<Option<Task>, RestoreError> {
        let item: Option<TaskItem> = self
            .store
            .client
            .get_item()
            .table_name(&self.store.table)
            .set_key(Some(TaskItem::key(tenant, task_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_error)?
            .item
            .map(from_item)
            .transpose()?;
        let Some(item) = item else {
            return Err(RestoreError::NotFound);
        };
        if item.trashed_at.is_none() {
            return Err(RestoreError::NotInTrash);
        }
        if item.trashed_with.is_some() {
            return Err(RestoreError::ParentInTrash);
        }
        let now = chrono::Utc::now().timestamp();
        if item.ttl.is_some_and(|ttl| ttl <= now) {
            return Err(RestoreError::Expired);
        }
        let unmark = ItemUpdate::new().remove("trashed_at").remove(keys::TTL).remove("trashed_with");
        let mut plan = Plan::default();
        let task_unmark = unmark.clone().condition(
            "attribute_exists(trashed_at) AND #ttl > :now",
            &[("#ttl", keys::TTL)],
            [(":now", n(now))],
        );
        plan.push(task_unmark.into_action(&self.store.table, TaskItem::key(tenant, task_id))?, Some(Guard::Task));
        for subtask in self.store.tasks().task_items(tenant, &item.subtask_ids).await? {
            if subtask.trashed_with.as_deref() == Some(task_id) {
                let subtask_unmark = unmark.clone().condition("trashed_with = :parent", &[], [(":parent", s(task_id))]);
                let key = TaskItem::key(tenant, &subtask.task.id);
                plan.push(subtask_unmark.into_action(&self.store.table, key)?, Some(Guard::Raced));
            }
        }
        plan.push(self.store.delete(tenant.partition(), &keys::trash(task_id))?, None);
        plan.push(self.store.activity().record_activity(tenant, "task", task_id, "restored", &[])?, None);
        if open_count(&item.task) != 0 {
            plan.push(self.store.tasks().count_open(tenant, 1, limits.open_tasks)?, Some(Guard::OpenLimit));
        }
        if let Some(parent_id) = &item.task.parent_id {
            if self.store.tasks().get_task_item(tenant, parent_id).await?.is_none() {
                return Err(RestoreError::ParentInTrash);
            }
            plan.push(self.store.tasks().join_parent(tenant, parent_id, &item.task, limits)?, Some(Guard::Parent));
        }
        match plan.run(self.store).await {
            Ok(()) => Ok(Some(item.into_task())),
            Err((_, Some(Guard::Task))) => Err(RestoreError::NotInTrash),
            Err((_, Some(Guard::OpenLimit))) => {
                Err(RestoreError::LimitReached(LimitReached::of(Limit::OpenTasks, limits)))
            }
            Err((_, Some(Guard::Parent))) => {
                let parent_id = item.task.parent_id.as_deref().unwrap_or_default();
                match self.store.tasks().get_task_item(tenant, parent_id).await? {
                    Some(_) => Err(RestoreError::LimitReached(LimitReached::of(Limit::SubtasksPerTask, limits))),
                    None => Err(RestoreError::ParentInTrash),
                }
            }
            Err((_, Some(Guard::Raced))) => Ok(None),
            Err((error, None)) => Err(error.into()),
        }
    }
}

/// A condition that a string set has `size` members (an empty set is an absent attribute).
fn set_size_is(attribute: &str, size: usize) -> String {
    if size == 0 { format!("attribute_not_exists({attribute})") } else { format!("size({attribute}) = :set_size") }
}

/// What purging one trash entry deletes: its tasks' items (notes, counters, occurrence records,
/// schedule and activity entries) and attachments (each record with its S3 object).
#[derive(Debug, Default)]
pub struct PurgeWork {
    pub items: Vec<super::Item>,
    pub attachments: Vec<crate::domain::attachment::Attachment>,
}

impl PurgeWork {
    /// The S3 keys of the attachments' files.
    pub fn object_keys(&self) -> Vec<String> {
        self.attachments.iter().map(|attachment| attachment.object_key.clone()).collect()
    }
}

impl Trash<'_> {
    /// Trash entries whose 7 days ended at or before `now`, from the purge index's day buckets of
    /// the last `days_back` days (an entry is deleted when purged, so older buckets are empty
    /// unless the purge was down longer than that).
    pub async fn expired_trash(self, now: i64, days_back: i64) -> Result<Vec<TrashItem>, StoreError> {
        let mut entries = Vec::new();
        for days_ago in (0..=days_back).rev() {
            let bucket = keys::purge_bucket(now - days_ago * 24 * 3600);
            let range = IndexRange::Below(format!("{:012}", now + 1));
            for item in self.store.index_items(bucket, range).await? {
                entries.push(from_item::<TrashItem>(item)?);
            }
        }
        Ok(entries)
    }

    /// Deletes a task of an expired entry, only while it is still in the trash (or already gone):
    /// false when it was restored meanwhile (the purge index is read eventually consistent, so an
    /// entry restored a moment ago may still be listed), and then nothing of it may go.
    pub async fn delete_trashed_task(self, tenant: &Tenant, task_id: &str) -> Result<bool, StoreError> {
        let key = TaskItem::key(tenant, task_id);
        self.store.delete_on_condition(key, "attribute_not_exists(#pk) OR attribute_exists(trashed_at)").await
    }

    /// What a purged task left: its notes, counters, occurrence records, schedule entries,
    /// activity entries and attachments.
    pub async fn leftovers_of(self, tenant: &Tenant, task_id: &str) -> Result<PurgeWork, StoreError> {
        let user = tenant.partition();
        let mut work = PurgeWork::default();
        work.items.extend(self.store.activity().keys_of(tenant, task_id).await?);
        let prefixes = [
            keys::task_counts(task_id),
            keys::notes_of(task_id),
            keys::occurrences_of(task_id),
            keys::reminder_entries_of(task_id),
        ];
        for prefix in prefixes {
            for record in self.store.query_prefix(user.clone(), &prefix).await? {
                work.items.push(super::key_of(&record));
            }
        }
        work.attachments = self.store.attachments().list_attachments(tenant, task_id).await?;
        Ok(work)
    }

    /// Deletes items by key (see `Store::write_batch`).
    pub async fn delete_items(self, keys: Vec<super::Item>) -> Result<(), StoreError> {
        self.store.write_batch(keys.into_iter().map(super::BatchWrite::Delete).collect()).await
    }

    /// Deletes a trash entry: the purge's last step, so an interrupted purge is found again.
    pub async fn delete_trash_entry(self, entry: &TrashItem) -> Result<(), StoreError> {
        self.delete_items(vec![super::key(entry.pk.clone(), entry.sk.clone())]).await
    }
}
