//! Tasks under their owner's partition (`USER#<id>`, `TASK#<id>`), the open-task counter the tier
//! limit is enforced on, and the trash (a deleted task stays in place, marked, with a 7-day TTL,
//! and a `TRASH#<id>` entry lists it).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, dynamo_error, from_item, key, keys, n, s, to_item};
use crate::domain::account::Tier;
use crate::domain::task::{FieldChange, Task};

/// Deleted tasks can be restored for 7 days.
pub const TRASH_SECONDS: i64 = 7 * 24 * 3600;

/// Tier limits, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierLimits {
    pub open_tasks: u64,
    pub subtasks_per_task: u64,
}

pub fn limits(tier: Tier) -> TierLimits {
    match tier {
        Tier::Free => TierLimits { open_tasks: 50, subtasks_per_task: 10 },
        Tier::Pro | Tier::Team => TierLimits { open_tasks: 10_000, subtasks_per_task: 50 },
    }
}

/// A task as stored: the task plus its keys, index keys and trash marks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    /// `<due>#<id>`: tasks by due time; undated ones sort last.
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    #[serde(rename = "GSI2PK")]
    pub gsi2pk: String,
    /// `<rank>#<id>`: most urgent first.
    #[serde(rename = "GSI2SK")]
    pub gsi2sk: String,
    #[serde(rename = "GSI3PK")]
    pub gsi3pk: String,
    /// `<updated_at>#<id>`.
    #[serde(rename = "GSI3SK")]
    pub gsi3sk: String,
    /// Lower-cased title and description, for the case-insensitive text filter.
    pub search_text: String,
    #[serde(flatten)]
    pub task: Task,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trashed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl TaskItem {
    pub fn new(user_id: &str, task: Task) -> Self {
        let due = match (&task.due_at, &task.due_date) {
            (Some(at), _) => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            (None, Some(date)) => format!("{date}T23:59:59Z"),
            (None, None) => "~".into(),
        };
        let search_text = format!("{}\n{}", task.title, task.description.as_deref().unwrap_or("")).to_lowercase();
        TaskItem {
            pk: keys::user(user_id),
            sk: keys::task(&task.id),
            entity: "task".into(),
            gsi1pk: keys::tasks_index(user_id),
            gsi1sk: format!("{due}#{}", task.id),
            gsi2pk: keys::tasks_index(user_id),
            gsi2sk: format!("{}#{}", priority_rank(task.priority), task.id),
            gsi3pk: keys::tasks_index(user_id),
            gsi3sk: format!("{}#{}", task.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), task.id),
            search_text,
            task,
            trashed_at: None,
            ttl: None,
        }
    }
}

fn priority_rank(priority: crate::domain::task::Priority) -> u8 {
    use crate::domain::task::Priority;
    match priority {
        Priority::Urgent => 0,
        Priority::High => 1,
        Priority::Medium => 2,
        Priority::Low => 3,
    }
}

/// The orders a task list comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskSort {
    /// Newest first (the table's own order: ids are ULIDs).
    #[default]
    Created,
    /// Soonest due first; undated last (GSI1).
    Due,
    /// Most urgent first (GSI2).
    Priority,
    /// Most recently updated first (GSI3).
    Updated,
}

impl TaskSort {
    /// Index, its key attributes, and whether it reads forward.
    fn index(self) -> Option<(&'static str, &'static str, &'static str, bool)> {
        match self {
            TaskSort::Created => None,
            TaskSort::Due => Some(("GSI1", "GSI1PK", "GSI1SK", true)),
            TaskSort::Priority => Some(("GSI2", "GSI2PK", "GSI2SK", true)),
            TaskSort::Updated => Some(("GSI3", "GSI3PK", "GSI3SK", false)),
        }
    }
}

/// How much a task counts against the open-task limit.
pub fn open_count(task: &Task) -> i64 {
    i64::from(task.status.is_open() && !task.archived)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrashItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub task_id: String,
    pub title: String,
    pub trashed_at: String,
    pub ttl: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TaskWriteError {
    #[error("not found")]
    NotFound,
    /// The task is at another version; here it is.
    #[error("version conflict")]
    VersionConflict(Box<Task>),
    #[error("limit reached")]
    LimitReached,
    #[error(transparent)]
    Store(#[from] StoreError),
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
    LimitReached,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Filters of a task list.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub statuses: Vec<String>,
    pub priorities: Vec<String>,
    pub label: Option<String>,
    pub category: Option<String>,
    pub archived: bool,
    pub due_from: Option<String>,
    pub due_to: Option<String>,
    pub text: Option<String>,
}

pub struct TaskPage {
    pub items: Vec<Task>,
    pub next: Option<String>,
}

impl Store {
    /// The update (for a transaction) that moves the open-task count by `delta`; going up, only
    /// while under `limit`.
    fn count_open(&self, user_id: &str, delta: i64, limit: u64) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::TASK_COUNTS)))
            .update_expression("ADD open_tasks :delta")
            .expression_attribute_values(":delta", n(delta));
        if delta > 0 {
            update = update
                .condition_expression("attribute_not_exists(open_tasks) OR open_tasks < :limit")
                .expression_attribute_values(":limit", n(limit));
        }
        let update = update.build().map_err(|error| StoreError::Dynamo(error.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Creates a task with its activity entry, counting it against the tier's open-task limit.
    /// `extra` actions (the copies of a duplicated task's notes) join the same transaction.
    pub async fn create_task(
        &self,
        user_id: &str,
        task: &Task,
        limits: TierLimits,
        extra: Vec<TransactWriteItem>,
    ) -> Result<(), TaskWriteError> {
        let changes = creation_changes(task);
        let mut actions = vec![self.put_new(to_item(&TaskItem::new(user_id, task.clone()))?)?];
        actions.push(self.record_activity(user_id, "task", &task.id, "created", &changes)?);
        let delta = open_count(task);
        if delta != 0 {
            actions.push(self.count_open(user_id, delta, limits.open_tasks)?);
        }
        actions.extend(extra);
        match self.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if delta != 0 && error.failed_condition_at(2) => Err(TaskWriteError::LimitReached),
            Err(error) => Err(error.into()),
        }
    }

    /// A live (not trashed) task of the user.
    pub async fn get_task(&self, user_id: &str, task_id: &str) -> Result<Option<Task>, StoreError> {
        let item: Option<TaskItem> = self.get(keys::user(user_id), &keys::task(task_id)).await?;
        Ok(item.filter(|item| item.trashed_at.is_none()).map(|item| item.task))
    }

    /// Replaces `before` with `after` if the stored task is still at `before.version`, with the
    /// activity entry and the open-count change in the same transaction.
    pub async fn update_task(
        &self,
        user_id: &str,
        before: &Task,
        after: &Task,
        action: &str,
        changes: &[FieldChange],
        limits: TierLimits,
    ) -> Result<(), TaskWriteError> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&TaskItem::new(user_id, after.clone()))?))
            .condition_expression("version = :version AND attribute_not_exists(trashed_at)")
            .expression_attribute_values(":version", n(before.version))
            .build()
            .map_err(|error| StoreError::Dynamo(error.to_string()))?;
        let mut actions = vec![TransactWriteItem::builder().put(put).build()];
        actions.push(self.record_activity(user_id, "task", &after.id, action, changes)?);
        let delta = open_count(after) - open_count(before);
        if delta != 0 {
            actions.push(self.count_open(user_id, delta, limits.open_tasks)?);
        }
        match self.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) => match self.get_task(user_id, &before.id).await? {
                Some(current) => Err(TaskWriteError::VersionConflict(Box::new(current))),
                None => Err(TaskWriteError::NotFound),
            },
            Err(error) if delta > 0 && error.failed_condition_at(2) => Err(TaskWriteError::LimitReached),
            Err(error) => Err(error.into()),
        }
    }

    /// Moves a task to the trash: marked in place with a 7-day TTL, listed under `TRASH#`.
    pub async fn trash_task(&self, user_id: &str, task: &Task) -> Result<(), TaskWriteError> {
        let now = super::now_rfc3339();
        let expires = super::ttl_in(TRASH_SECONDS);
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::task(&task.id))))
            .update_expression("SET trashed_at = :now, #ttl = :ttl")
            .condition_expression("version = :version AND attribute_not_exists(trashed_at)")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":now", s(now.clone()))
            .expression_attribute_values(":ttl", n(expires))
            .expression_attribute_values(":version", n(task.version))
            .build()
            .map_err(|error| StoreError::Dynamo(error.to_string()))?;
        let entry = TrashItem {
            pk: keys::user(user_id),
            sk: keys::trash(&task.id),
            entity: "trash".into(),
            task_id: task.id.clone(),
            title: task.title.clone(),
            trashed_at: now,
            ttl: expires,
        };
        let mut actions = vec![
            TransactWriteItem::builder().update(mark).build(),
            self.put(to_item(&entry)?)?,
            self.record_activity(user_id, "task", &task.id, "trashed", &[])?,
        ];
        if open_count(task) != 0 {
            actions.push(self.count_open(user_id, -1, 0)?);
        }
        match self.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) => match self.get_task(user_id, &task.id).await? {
                Some(current) => Err(TaskWriteError::VersionConflict(Box::new(current))),
                None => Err(TaskWriteError::NotFound),
            },
            Err(error) => Err(error.into()),
        }
    }

    pub async fn list_trash(&self, user_id: &str) -> Result<Vec<TrashItem>, StoreError> {
        let items = self.query_prefix(keys::user(user_id), keys::TRASH_PREFIX).await?;
        let mut entries: Vec<TrashItem> = items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        entries.sort_by(|a, b| b.trashed_at.cmp(&a.trashed_at));
        Ok(entries)
    }

    /// Brings a trashed task back with its id, if its 7 days have not passed.
    pub async fn restore_task(&self, user_id: &str, task_id: &str, limits: TierLimits) -> Result<Task, RestoreError> {
        let item: Option<TaskItem> = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::task(task_id))))
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
        let now = chrono::Utc::now().timestamp();
        if item.ttl.is_some_and(|ttl| ttl <= now) {
            return Err(RestoreError::Expired);
        }
        let unmark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), keys::task(task_id))))
            .update_expression("REMOVE trashed_at, #ttl")
            .condition_expression("attribute_exists(trashed_at) AND #ttl > :now")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(|error| StoreError::Dynamo(error.to_string()))?;
        let mut actions = vec![
            TransactWriteItem::builder().update(unmark).build(),
            self.delete(keys::user(user_id), &keys::trash(task_id))?,
            self.record_activity(user_id, "task", task_id, "restored", &[])?,
        ];
        if open_count(&item.task) != 0 {
            actions.push(self.count_open(user_id, 1, limits.open_tasks)?);
        }
        match self.transact(actions).await {
            Ok(()) => Ok(item.task),
            Err(error) if error.failed_condition_at(0) => Err(RestoreError::NotInTrash),
            Err(error) if error.failed_condition_at(3) => Err(RestoreError::LimitReached),
            Err(error) => Err(error.into()),
        }
    }

    /// Tasks in `sort` order, filtered, `limit` per page after the position `after` (a task id, or
    /// the index sort key of the last task seen). One Query per 200 items read; filters apply on
    /// the Query, which reads on until the page is full. Index orders are eventually consistent.
    pub async fn list_tasks(
        &self,
        user_id: &str,
        filter: &TaskFilter,
        sort: TaskSort,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TaskPage, StoreError> {
        let (expression, values) = filter_expression(filter);
        let mut items: Vec<TaskItem> = Vec::new();
        let mut start = after.map(|position| start_key(user_id, sort, position));
        loop {
            let mut query = self.client.query().table_name(&self.table).filter_expression(&expression).limit(200);
            query = match sort.index() {
                None => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#pk", keys::PK)
                    .expression_attribute_names("#sk", keys::SK)
                    .expression_attribute_values(":pk", s(keys::user(user_id)))
                    .expression_attribute_values(":prefix", s(keys::TASK_PREFIX))
                    .scan_index_forward(false),
                Some((index, partition, _, forward)) => query
                    .index_name(index)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", partition)
                    .expression_attribute_values(":pk", s(keys::tasks_index(user_id)))
                    .scan_index_forward(forward),
            };
            query = query.set_exclusive_start_key(start.take());
            for (name, value) in &values {
                query = query.expression_attribute_values(name, value.clone());
            }
            if expression.contains("#status") {
                query = query.expression_attribute_names("#status", "status");
            }
            let output = query.send().await.map_err(dynamo_error)?;
            for item in output.items.unwrap_or_default() {
                if items.len() < limit {
                    items.push(from_item::<TaskItem>(item)?);
                }
            }
            start = output.last_evaluated_key;
            if items.len() >= limit || start.is_none() {
                break;
            }
        }
        let next = if items.len() >= limit { items.last().map(|item| position_of(item, sort)) } else { None };
        Ok(TaskPage { items: items.into_iter().map(|item| item.task).collect(), next })
    }
}

/// Where a page ended, in the terms of its order.
fn position_of(item: &TaskItem, sort: TaskSort) -> String {
    match sort {
        TaskSort::Created => item.task.id.clone(),
        TaskSort::Due => item.gsi1sk.clone(),
        TaskSort::Priority => item.gsi2sk.clone(),
        TaskSort::Updated => item.gsi3sk.clone(),
    }
}

/// The key to continue after `position`: index sort keys end in `#<task id>`.
fn start_key(user_id: &str, sort: TaskSort, position: &str) -> super::Item {
    let task_id = position.rsplit('#').next().unwrap_or(position);
    let mut start = key(keys::user(user_id), keys::task(task_id));
    if let Some((_, partition, sort_key, _)) = sort.index() {
        start.insert(partition.into(), s(keys::tasks_index(user_id)));
        start.insert(sort_key.into(), s(position));
    }
    start
}

fn filter_expression(filter: &TaskFilter) -> (String, Vec<(String, AttributeValue)>) {
    let mut clauses = vec!["attribute_not_exists(trashed_at)".to_string(), "archived = :archived".to_string()];
    let mut values: Vec<(String, AttributeValue)> = vec![(":archived".into(), AttributeValue::Bool(filter.archived))];
    let mut one_of = |attribute: &str, prefix: &str, options: &[String], clauses: &mut Vec<String>| {
        if options.is_empty() {
            return;
        }
        let names: Vec<String> = (0..options.len()).map(|index| format!(":{prefix}{index}")).collect();
        clauses.push(format!("{attribute} IN ({})", names.join(", ")));
        values.extend(names.into_iter().zip(options.iter().map(|option| s(option.as_str()))));
    };
    one_of("#status", "status", &filter.statuses, &mut clauses);
    one_of("priority", "priority", &filter.priorities, &mut clauses);
    if let Some(label) = &filter.label {
        clauses.push("contains(labels, :label)".into());
        values.push((":label".into(), s(label.as_str())));
    }
    if let Some(category) = &filter.category {
        clauses.push("category = :category".into());
        values.push((":category".into(), s(category.as_str())));
    }
    if let Some(from) = &filter.due_from {
        clauses.push("GSI1SK >= :due_from".into());
        values.push((":due_from".into(), s(from.as_str())));
    }
    if let Some(to) = &filter.due_to {
        clauses.push("GSI1SK < :due_to".into());
        values.push((":due_to".into(), s(to.as_str())));
    }
    if let Some(text) = &filter.text {
        clauses.push("contains(search_text, :text)".into());
        values.push((":text".into(), s(text.to_lowercase())));
    }
    (clauses.join(" AND "), values)
}

/// A creation, as field changes from nothing.
fn creation_changes(task: &Task) -> Vec<FieldChange> {
    let serde_json::Value::Object(fields) = serde_json::to_value(task).unwrap_or_default() else {
        return Vec::new();
    };
    fields
        .into_iter()
        .filter(|(field, value)| {
            !value.is_null() && !matches!(field.as_str(), "id" | "version" | "created_at" | "updated_at")
        })
        .map(|(field, value)| FieldChange { field, old: serde_json::Value::Null, new: value })
        .collect()
}
