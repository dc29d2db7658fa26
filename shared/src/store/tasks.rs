//! Tasks under their owner's partition (`USER#<id>`, `TASK#<id>`), their subtasks, and the
//! open-task counter the tier limit is enforced on. The trash is in `trash.rs`.
//!
//! A subtask is a task with `parent_id`, one level deep. Its parent keeps the set of its live
//! subtasks' ids (`subtask_ids`) and the counts of open and done ones; every subtask change moves
//! them in the subtask's own transaction, and the parent's write is conditioned on the open count
//! it was computed from, so concurrent subtask changes never both decide to complete the parent.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::Tenant;
use super::update::ItemUpdate;
use super::{Item, Store, StoreError, WriteError, dynamo_error, from_item, key, keys, n, s, to_item};
use crate::domain::note::Note;
use crate::domain::occurrence::Series;
use crate::domain::plan::{Limit, LimitReached, PlanLimits, open_count};
use crate::domain::reminders::Reminder;
use crate::domain::task::{FieldChange, Priority, Status, SubtaskCounts, Task, subtask_contribution};

/// The attributes of a repeating task's series.
const SERIES_FIELDS: [&str; 2] = ["series_start", "series_count"];

/// The most actions DynamoDB takes in one TransactWriteItems.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;

/// How many times a write that lost a race on its parent's counts is computed again.
pub(crate) const PARENT_RACE_ATTEMPTS: usize = 4;

/// A task as stored: the task plus its keys, index keys, subtask bookkeeping and trash marks.
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
    /// A parent's live subtasks (a string set: added and taken out atomically).
    #[serde(with = "serde_dynamo::string_set", default, skip_serializing_if = "Vec::is_empty")]
    pub subtask_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_subtasks: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_subtasks: Option<i64>,
    /// Set when completing its last open subtask completed this task; reopening a subtask then
    /// reopens it. Any status change made by hand clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub completed_by_subtasks: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trashed_at: Option<String>,
    /// Set on subtasks that went to the trash with their parent: they come back with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trashed_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// The task's reminders (see domain::reminders).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminders: Vec<Reminder>,
    /// On repeating tasks: the due of the series' first occurrence (see domain::occurrence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_start: Option<String>,
    /// On repeating tasks: how many occurrences have come due, the current one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_count: Option<u32>,
}

impl TaskItem {
    /// The key of a task of `tenant`.
    pub fn key(tenant: &Tenant, task_id: &str) -> Item {
        key(tenant.partition(), keys::task(task_id))
    }

    pub fn new(tenant: &Tenant, task: Task) -> Self {
        let due = match (&task.due_at, &task.due_date) {
            (Some(at), _) => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            (None, Some(date)) => format!("{date}T23:59:59Z"),
            (None, None) => "~".into(),
        };
        let search_text = format!("{}\n{}", task.title, task.description.as_deref().unwrap_or("")).to_lowercase();
        let series = task.recurrence.as_ref().and_then(|_| Series::starting_at(&task));
        TaskItem {
            pk: tenant.partition(),
            sk: keys::task(&task.id),
            entity: "task".into(),
            gsi1pk: keys::tasks_index(tenant),
            gsi1sk: format!("{due}#{}", task.id),
            gsi2pk: keys::tasks_index(tenant),
            gsi2sk: format!("{}#{}", priority_rank(task.priority), task.id),
            gsi3pk: keys::tasks_index(tenant),
            gsi3sk: format!("{}#{}", task.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), task.id),
            search_text,
            reminders: task.reminders.clone(),
            task: Task { subtasks: None, reminders: Vec::new(), ..task },
            subtask_ids: Vec::new(),
            open_subtasks: None,
            done_subtasks: None,
            completed_by_subtasks: false,
            trashed_at: None,
            trashed_with: None,
            ttl: None,
            series_start: series.as_ref().map(|series| series.start.clone()),
            series_count: series.map(|series| series.count),
        }
    }

    /// Where the task's series stands; a task given its repetition before the series was kept
    /// starts at its current due.
    pub fn series(&self) -> Option<Series> {
        self.task.recurrence.as_ref()?;
        match (&self.series_start, self.series_count) {
            (Some(start), Some(count)) => Some(Series { start: start.clone(), count }),
            _ => Series::starting_at(&self.task),
        }
    }

    /// The task as clients see it: a top-level task carries its subtask counts.
    pub fn into_task(self) -> Task {
        let mut task = self.task;
        task.reminders = self.reminders;
        if task.parent_id.is_none() {
            let mut ids = self.subtask_ids;
            ids.sort();
            task.subtasks = Some(SubtaskCounts {
                open: self.open_subtasks.unwrap_or(0).max(0) as u64,
                done: self.done_subtasks.unwrap_or(0).max(0) as u64,
                ids,
            });
        }
        task
    }

    pub fn is_live(&self) -> bool {
        self.trashed_at.is_none()
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
    pub const ALL: [TaskSort; 4] = [TaskSort::Created, TaskSort::Due, TaskSort::Priority, TaskSort::Updated];

    /// The name clients send (`sort=`), which also names the list its cursors belong to.
    pub fn name(self) -> &'static str {
        match self {
            TaskSort::Created => "created",
            TaskSort::Due => "due",
            TaskSort::Priority => "priority",
            TaskSort::Updated => "updated",
        }
    }

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

/// A refused task write.
pub type TaskWriteError = WriteError<Task>;

/// What `create_subtasks` came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtasksCreated {
    Now,
    /// An earlier call with the same ids made them.
    Before,
}

/// Filters of a task list.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub statuses: Vec<Status>,
    pub priorities: Vec<Priority>,
    pub label: Option<String>,
    pub category: Option<String>,
    pub archived: bool,
    pub due_from: Option<String>,
    pub due_to: Option<String>,
    pub text: Option<String>,
    pub parent: ParentFilter,
}

/// Which level of tasks a list holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum ParentFilter {
    /// Top-level tasks and subtasks alike.
    #[default]
    Any,
    /// Only top-level tasks.
    TopLevel,
    /// Only the subtasks of this task.
    Of(String),
}

pub struct TaskPage {
    pub items: Vec<Task>,
    pub next: Option<String>,
}

/// A string set of one member.
pub(crate) fn id_set(id: &str) -> AttributeValue {
    AttributeValue::Ss(vec![id.to_string()])
}

/// `attribute = value`, where an absent attribute counts as 0.
pub(crate) fn count_is(attribute: &'static str, placeholder: &'static str, value: i64) -> (String, AttributeValue) {
    let expression = if value == 0 {
        format!("attribute_not_exists({attribute}) OR {attribute} = {placeholder}")
    } else {
        format!("{attribute} = {placeholder}")
    };
    (expression, n(value))
}

/// What the failure of one action of a task transaction means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// The task itself: changed, trashed or gone since it was read.
    Task,
    /// A parent's counts or a subtask moved under us: compute the write again.
    Raced,
    /// The open-task counter is at the tier's limit.
    OpenLimit,
    /// The parent is gone or full.
    Parent,
}

/// The actions of one transaction, each with what its failed condition would mean.
#[derive(Default)]
pub(crate) struct Plan {
    actions: Vec<TransactWriteItem>,
    guards: Vec<Option<Guard>>,
}

impl Plan {
    pub(crate) fn push(&mut self, action: TransactWriteItem, guard: Option<Guard>) {
        self.actions.push(action);
        self.guards.push(guard);
    }

    pub(crate) fn len(&self) -> usize {
        self.actions.len()
    }

    pub(crate) async fn run(self, store: &Store) -> Result<(), (StoreError, Option<Guard>)> {
        let guards = self.guards;
        store.transact(self.actions).await.map_err(|error| {
            let guard =
                (0..guards.len()).find(|index| error.failed_condition_at(*index)).and_then(|index| guards[index]);
            (error, guard)
        })
    }
}

/// Tasks and subtasks, with their counts and the open-task limit. Reached as `store.tasks()`.
#[derive(Clone, Copy)]
pub struct Tasks<'a> {
    pub(crate) store: &'a Store,
}

impl Tasks<'_> {
    /// The update (for a transaction) that moves the open-task count by `delta`; going up, only
    /// while under `limit`.
    pub(crate) fn count_open(self, tenant: &Tenant, delta: i64, limit: u64) -> Result<TransactWriteItem, StoreError> {
        let limit = (delta > 0).then_some(limit);
        self.store.count(tenant.partition(), keys::TASK_COUNTS, "open_tasks", delta, limit)
    }

    /// Writes `after` over `before`: every task field and index key (the subtask bookkeeping is
    /// left alone), if the stored task is still at `before.version` and not trashed.
    pub(crate) fn task_write(self, tenant: &Tenant, before: &Task, after: &Task) -> Result<ItemUpdate, StoreError> {
        let mut update = ItemUpdate::new();
        // A new repetition starts a new series at the current due; otherwise the series is left
        // as it is (completing an occurrence moves it explicitly).
        let new_series = before.recurrence != after.recurrence;
        let new_reminders = before.reminders != after.reminders;
        for (attribute, value) in to_item(&TaskItem::new(tenant, after.clone()))? {
            let skipped = match attribute.as_str() {
                keys::PK | keys::SK => true,
                "series_start" | "series_count" => !new_series,
                "reminders" => !new_reminders,
                _ => false,
            };
            if !skipped {
                update = update.set(&attribute, value);
            }
        }
        if new_series && after.recurrence.is_none() {
            update = SERIES_FIELDS.iter().fold(update, |update, field| update.remove(field));
        }
        if new_reminders && after.reminders.is_empty() {
            update = update.remove("reminders");
        }
        Ok(update.condition(
            "#version = :expected_version AND attribute_not_exists(trashed_at)",
            &[("#version", "version")],
            [(":expected_version", n(before.version))],
        ))
    }

    /// Adds `subtask` to its parent's set and counts, if the parent is live and has room.
    pub(crate) fn join_parent(
        self,
        tenant: &Tenant,
        parent_id: &str,
        subtask: &Task,
        limits: PlanLimits,
    ) -> Result<TransactWriteItem, StoreError> {
        let (open, done) = subtask_contribution(subtask);
        ItemUpdate::new()
            .add("subtask_ids", id_set(&subtask.id))
            .add("open_subtasks", n(open))
            .add("done_subtasks", n(done))
            .condition(
                "attribute_exists(#pk) AND attribute_not_exists(trashed_at) \
                 AND (attribute_not_exists(subtask_ids) OR size(subtask_ids) < :subtask_limit)",
                &[("#pk", keys::PK)],
                [(":subtask_limit", n(limits.subtasks_per_task))],
            )
            .into_action(&self.store.table, TaskItem::key(tenant, parent_id))
    }

    /// Creates a task with its activity entry, counting it against the tier's limits: a top-level
    /// task against the open tasks, a subtask against its parent's subtasks. `subtasks` (new
    /// tasks whose parent is `task`) and `notes` (copies to save on it) join the same transaction.
    pub async fn create_task(
        self,
        tenant: &Tenant,
        task: &Task,
        subtasks: &[Task],
        limits: PlanLimits,
        notes: &[Note],
    ) -> Result<(), TaskWriteError> {
        let mut item = TaskItem::new(tenant, task.clone());
        for subtask in subtasks {
            let (open, done) = subtask_contribution(subtask);
            item.subtask_ids.push(subtask.id.clone());
            *item.open_subtasks.get_or_insert(0) += open;
            *item.done_subtasks.get_or_insert(0) += done;
        }
        let mut plan = Plan::default();
        plan.push(self.store.put_new(to_item(&item)?)?, None);
        plan.push(
            self.store.activity().record_activity(tenant, "task", &task.id, "created", &creation_changes(task))?,
            None,
        );
        if open_count(task) != 0 {
            plan.push(self.count_open(tenant, 1, limits.open_tasks)?, Some(Guard::OpenLimit));
        }
        if let Some(parent_id) = &task.parent_id {
            plan.push(self.join_parent(tenant, parent_id, task, limits)?, Some(Guard::Parent));
        }
        for subtask in subtasks {
            plan.push(self.store.put_new(to_item(&TaskItem::new(tenant, subtask.clone()))?)?, None);
        }
        let now = chrono::Utc::now();
        for created in std::iter::once(task).chain(subtasks) {
            for write in self.store.schedule().schedule_writes(tenant, None, created, now)? {
                plan.push(write, None);
            }
        }
        for write in self.store.notes().copies(tenant, &task.id, notes)? {
            plan.push(write, None);
        }
        // Counted with every write it makes (schedule entries too), before DynamoDB refuses it.
        if plan.len() > MAX_TRANSACTION_ACTIONS {
            return Err(TaskWriteError::TooLarge(format!(
                "this takes {} writes (the task, {} subtasks, their reminders and the rest); one step holds {MAX_TRANSACTION_ACTIONS}",
                plan.len(),
                subtasks.len()
            )));
        }
        match plan.run(self.store).await {
            Ok(()) => Ok(()),
            Err((_, Some(Guard::OpenLimit))) => {
                Err(TaskWriteError::LimitReached(LimitReached::of(Limit::OpenTasks, limits)))
            }
            Err((_, Some(Guard::Parent))) => {
                let parent_id = task.parent_id.as_deref().unwrap_or_default();
                match self.get_task_item(tenant, parent_id).await? {
                    Some(_) => Err(TaskWriteError::LimitReached(LimitReached::of(Limit::SubtasksPerTask, limits))),
                    None => Err(TaskWriteError::NotFound),
                }
            }
            Err((error, _)) => Err(error.into()),
        }
    }

    /// Creates `subtasks` under the live task `parent_id`, all in one transaction with their
    /// activity entries and the parent's set and counts, if the parent has room for them all.
    /// The subtasks' ids are the caller's (an AI job derives them from its own), so a repeat finds
    /// the first already there and writes nothing: `Before`.
    pub async fn create_subtasks(
        self,
        tenant: &Tenant,
        parent_id: &str,
        subtasks: &[Task],
        limits: PlanLimits,
    ) -> Result<SubtasksCreated, TaskWriteError> {
        let Some(first) = subtasks.first() else {
            return Ok(SubtasksCreated::Now);
        };
        let mut plan = Plan::default();
        for subtask in subtasks {
            plan.push(self.store.put_new(to_item(&TaskItem::new(tenant, subtask.clone()))?)?, Some(Guard::Raced));
            let changes = creation_changes(subtask);
            plan.push(self.store.activity().record_activity(tenant, "task", &subtask.id, "created", &changes)?, None);
        }
        let room = limits.subtasks_per_task.saturating_sub(subtasks.len() as u64);
        let open: i64 = subtasks.iter().map(|subtask| subtask_contribution(subtask).0).sum();
        let ids = AttributeValue::Ss(subtasks.iter().map(|subtask| subtask.id.clone()).collect());
        let join = ItemUpdate::new()
            .add("subtask_ids", ids)
            .add("open_subtasks", n(open))
            .condition(
                "attribute_exists(#pk) AND attribute_not_exists(trashed_at) \
                 AND (attribute_not_exists(subtask_ids) OR size(subtask_ids) <= :room)",
                &[("#pk", keys::PK)],
                [(":room", n(room))],
            )
            .into_action(&self.store.table, TaskItem::key(tenant, parent_id))?;
        plan.push(join, Some(Guard::Parent));
        if plan.len() > MAX_TRANSACTION_ACTIONS {
            return Err(TaskWriteError::TooLarge(format!("{} subtasks take more than one step", subtasks.len())));
        }
        match plan.run(self.store).await {
            Ok(()) => Ok(SubtasksCreated::Now),
            Err((_, Some(Guard::Raced))) if self.get_task_item(tenant, &first.id).await?.is_some() => {
                Ok(SubtasksCreated::Before)
            }
            Err((_, Some(Guard::Parent))) => match self.get_task_item(tenant, parent_id).await? {
                Some(_) => Err(TaskWriteError::LimitReached(LimitReached::of(Limit::SubtasksPerTask, limits))),
                None => Err(TaskWriteError::NotFound),
            },
            Err((error, _)) => Err(error.into()),
        }
    }

    /// A live (not trashed) task of the user, as stored.
    pub async fn get_task_item(self, tenant: &Tenant, task_id: &str) -> Result<Option<TaskItem>, StoreError> {
        let item: Option<TaskItem> = self.store.get(tenant.partition(), &keys::task(task_id)).await?;
        Ok(item.filter(TaskItem::is_live))
    }

    /// A live (not trashed) task of the user.
    pub async fn get_task(self, tenant: &Tenant, task_id: &str) -> Result<Option<Task>, StoreError> {
        Ok(self.get_task_item(tenant, task_id).await?.map(TaskItem::into_task))
    }

    /// Tasks of the user by id, trashed ones included, in id order (one BatchGetItem per 100).
    pub(crate) async fn task_items(self, tenant: &Tenant, ids: &[String]) -> Result<Vec<TaskItem>, StoreError> {
        let mut items = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let keys = chunk.iter().map(|id| TaskItem::key(tenant, id)).collect();
            for item in self.store.get_many(keys).await? {
                items.push(from_item::<TaskItem>(item)?);
            }
        }
        items.sort_by(|a, b| a.task.id.cmp(&b.task.id));
        Ok(items)
    }

    /// The live (not trashed) tasks among `ids`, in id order; unknown and trashed ones are left out.
    pub async fn live_tasks(self, tenant: &Tenant, ids: &[String]) -> Result<Vec<Task>, StoreError> {
        let items = self.task_items(tenant, ids).await?;
        Ok(items.into_iter().filter(TaskItem::is_live).map(TaskItem::into_task).collect())
    }

    /// The live subtasks of `parent`, oldest first.
    pub async fn list_subtasks(self, tenant: &Tenant, parent: &Task) -> Result<Vec<Task>, StoreError> {
        let ids = parent.subtasks.as_ref().map(|counts| counts.ids.clone()).unwrap_or_default();
        let items = self.task_items(tenant, &ids).await?;
        Ok(items.into_iter().filter(TaskItem::is_live).map(TaskItem::into_task).collect())
    }

    /// Replaces `before` with `after` if the stored task is still at `before.version`, with the
    /// activity entry and the open-count change in the same transaction. Completing a parent
    /// completes its open subtasks; a subtask's change moves its parent's counts and may complete
    /// or reopen the parent (see the module's notes).
    pub async fn update_task(
        self,
        tenant: &Tenant,
        before: &Task,
        after: &Task,
        action: &str,
        changes: &[FieldChange],
        limits: PlanLimits,
    ) -> Result<(), TaskWriteError> {
        let mut before = before.clone();
        for attempt in 0..PARENT_RACE_ATTEMPTS {
            if attempt > 0 {
                before = self.reread(tenant, &before).await?;
            }
            if self.try_update_task(tenant, &before, after, action, changes, limits).await? {
                return Ok(());
            }
        }
        Err(StoreError::Contended("the task's subtasks kept changing during the write").into())
    }

    /// The task again, after a lost race: the same version, or a conflict.
    pub(crate) async fn reread(self, tenant: &Tenant, task: &Task) -> Result<Task, TaskWriteError> {
        match self.get_task(tenant, &task.id).await? {
            Some(current) if current.version == task.version => Ok(current),
            Some(current) => Err(TaskWriteError::VersionConflict(Box::new(current))),
            None => Err(TaskWriteError::NotFound),
        }
    }

    /// One attempt; `false` when a race on subtask counts means computing it again.
    async fn try_update_task(
        self,
        tenant: &Tenant,
        before: &Task,
        after: &Task,
        action: &str,
        changes: &[FieldChange],
        limits: PlanLimits,
    ) -> Result<bool, TaskWriteError> {
        let mut write = self.task_write(tenant, before, after)?;
        if before.status != after.status {
            write = write.remove("completed_by_subtasks");
        }
        let mut changes = changes.to_vec();
        let mut cascade = Vec::new();
        let completing = after.status == Status::Done && before.status != Status::Done;
        if completing && before.subtasks.as_ref().is_some_and(|counts| counts.open > 0) {
            let (with_counts, writes, completed) =
                self.complete_subtasks(tenant, write, before, after.updated_at).await?;
            write = with_counts;
            cascade = writes;
            changes.push(FieldChange {
                field: "subtasks_completed".into(),
                old: serde_json::Value::Null,
                new: serde_json::json!(completed),
            });
        }
        let mut plan = Plan::default();
        plan.push(write.into_action(&self.store.table, TaskItem::key(tenant, &after.id))?, Some(Guard::Task));
        plan.push(self.store.activity().record_activity(tenant, "task", &after.id, action, &changes)?, None);
        let delta = open_count(after) - open_count(before);
        if delta != 0 {
            plan.push(self.count_open(tenant, delta, limits.open_tasks)?, Some(Guard::OpenLimit));
        }
        for child in cascade {
            plan.push(child, Some(Guard::Raced));
        }
        for (action, guard) in self.parent_follows(tenant, before, after, limits).await? {
            plan.push(action, guard);
        }
        for write in self.store.schedule().schedule_writes(tenant, Some(before), after, chrono::Utc::now())? {
            plan.push(write, None);
        }
        match plan.run(self.store).await {
            Ok(()) => Ok(true),
            Err((_, Some(Guard::Task))) => self.reread(tenant, before).await.map(|_| false),
            Err((_, Some(Guard::OpenLimit))) => {
                Err(TaskWriteError::LimitReached(LimitReached::of(Limit::OpenTasks, limits)))
            }
            Err((_, Some(Guard::Raced | Guard::Parent))) => Ok(false),
            Err((error, None)) => Err(error.into()),
        }
    }

    /// Completing a parent completes its open subtasks in the same transaction. The parent's
    /// write (`write`) is conditioned on the open count the subtasks were read at.
    async fn complete_subtasks(
        self,
        tenant: &Tenant,
        write: ItemUpdate,
        parent: &Task,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(ItemUpdate, Vec<TransactWriteItem>, Vec<String>), StoreError> {
        let counts = parent.subtasks.clone().unwrap_or_default();
        let open: Vec<Task> = self
            .task_items(tenant, &counts.ids)
            .await?
            .into_iter()
            .filter(TaskItem::is_live)
            .map(|item| item.task)
            .filter(|task| subtask_contribution(task).0 == 1)
            .collect();
        let (seen_open, seen) = count_is("open_subtasks", ":seen_open", counts.open as i64);
        let write = write
            .add("open_subtasks", n(-(open.len() as i64)))
            .add("done_subtasks", n(open.len() as i64))
            .condition(&seen_open, &[], [(":seen_open", seen)]);
        let mut writes = Vec::with_capacity(open.len());
        let mut ids = Vec::with_capacity(open.len());
        for subtask in open {
            let mut done = subtask.clone();
            done.set_status(Status::Done, now);
            done.version += 1;
            done.updated_at = now;
            let update = self.task_write(tenant, &subtask, &done)?.remove("completed_by_subtasks");
            writes.push(update.into_action(&self.store.table, TaskItem::key(tenant, &subtask.id))?);
            ids.push(subtask.id);
        }
        Ok((write, writes, ids))
    }

    /// What a subtask's change does to its parent: the counts move; completing the last open
    /// subtask completes the parent, and reopening a subtask of a parent completed that way
    /// reopens it. The parent's write holds only while its open count is the one read here.
    async fn parent_follows(
        self,
        tenant: &Tenant,
        before: &Task,
        after: &Task,
        limits: PlanLimits,
    ) -> Result<Vec<(TransactWriteItem, Option<Guard>)>, StoreError> {
        let Some(parent_id) = &after.parent_id else {
            return Ok(Vec::new());
        };
        let (open_before, done_before) = subtask_contribution(before);
        let (open_after, done_after) = subtask_contribution(after);
        let (open_delta, done_delta) = (open_after - open_before, done_after - done_before);
        if open_delta == 0 && done_delta == 0 {
            return Ok(Vec::new());
        }
        let Some(parent) = self.get_task_item(tenant, parent_id).await? else {
            return Ok(Vec::new());
        };
        let seen_open = parent.open_subtasks.unwrap_or(0);
        let completes_parent = after.status == Status::Done
            && before.status != Status::Done
            && parent.task.status.is_open()
            && parent.task.recurrence.is_none()
            && seen_open + open_delta == 0;
        let reopens_parent = before.status == Status::Done
            && after.status != Status::Done
            && parent.task.status == Status::Done
            && parent.completed_by_subtasks;
        let mut follow_ups = Vec::new();
        let mut write = if completes_parent || reopens_parent {
            let mut parent_after = parent.task.clone();
            parent_after.set_status(if completes_parent { Status::Done } else { Status::Todo }, after.updated_at);
            parent_after.version += 1;
            parent_after.updated_at = after.updated_at;
            let action = if completes_parent { "completed_with_subtasks" } else { "reopened_with_subtask" };
            let changes = crate::domain::task::changes_between(&parent.task, &parent_after);
            follow_ups
                .push((self.store.activity().record_activity(tenant, "task", parent_id, action, &changes)?, None));
            let delta = open_count(&parent_after) - open_count(&parent.task);
            if delta != 0 {
                follow_ups.push((self.count_open(tenant, delta, limits.open_tasks)?, Some(Guard::OpenLimit)));
            }
            let write = self.task_write(tenant, &parent.task, &parent_after)?;
            if completes_parent {
                write.set("completed_by_subtasks", AttributeValue::Bool(true))
            } else {
                write.remove("completed_by_subtasks")
            }
        } else {
            ItemUpdate::new().condition("attribute_not_exists(trashed_at)", &[], [])
        };
        let (seen_condition, seen) = count_is("open_subtasks", ":seen_open", seen_open);
        write = write.add("open_subtasks", n(open_delta)).add("done_subtasks", n(done_delta)).condition(
            &seen_condition,
            &[],
            [(":seen_open", seen)],
        );
        let mut actions =
            vec![(write.into_action(&self.store.table, TaskItem::key(tenant, parent_id))?, Some(Guard::Raced))];
        actions.extend(follow_ups);
        Ok(actions)
    }
}

impl Tasks<'_> {
    /// Tasks in `sort` order, filtered, `limit` per page after the position `after` (a task id, or
    /// the index sort key of the last task seen). One Query per 200 items read; filters apply on
    /// the Query, which reads on until the page is full. Index orders are eventually consistent.
    pub async fn list_tasks(
        self,
        tenant: &Tenant,
        filter: &TaskFilter,
        sort: TaskSort,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TaskPage, StoreError> {
        let (expression, values) = filter_expression(filter);
        let mut items: Vec<TaskItem> = Vec::new();
        let mut start = after.map(|position| start_key(tenant, sort, position));
        loop {
            let mut query =
                self.store.client.query().table_name(&self.store.table).filter_expression(&expression).limit(200);
            query = match sort.index() {
                None => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#pk", keys::PK)
                    .expression_attribute_names("#sk", keys::SK)
                    .expression_attribute_values(":pk", s(tenant.partition()))
                    .expression_attribute_values(":prefix", s(keys::TASK_PREFIX))
                    .scan_index_forward(false),
                Some((index, partition, _, forward)) => query
                    .index_name(index)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", partition)
                    .expression_attribute_values(":pk", s(keys::tasks_index(tenant)))
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
        Ok(TaskPage { items: items.into_iter().map(TaskItem::into_task).collect(), next })
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
fn start_key(tenant: &Tenant, sort: TaskSort, position: &str) -> super::Item {
    let task_id = position.rsplit('#').next().unwrap_or(position);
    let mut start = TaskItem::key(tenant, task_id);
    if let Some((_, partition, sort_key, _)) = sort.index() {
        start.insert(partition.into(), s(keys::tasks_index(tenant)));
        start.insert(sort_key.into(), s(position));
    }
    start
}

fn filter_expression(filter: &TaskFilter) -> (String, Vec<(String, AttributeValue)>) {
    let mut clauses = vec!["attribute_not_exists(trashed_at)".to_string(), "archived = :archived".to_string()];
    let mut values: Vec<(String, AttributeValue)> = vec![(":archived".into(), AttributeValue::Bool(filter.archived))];
    let mut one_of = |attribute: &str, prefix: &str, options: &[&str], clauses: &mut Vec<String>| {
        if options.is_empty() {
            return;
        }
        let names: Vec<String> = (0..options.len()).map(|index| format!(":{prefix}{index}")).collect();
        clauses.push(format!("{attribute} IN ({})", names.join(", ")));
        values.extend(names.into_iter().zip(options.iter().map(|option| s(*option))));
    };
    let statuses: Vec<&str> = filter.statuses.iter().map(|status| status.as_str()).collect();
    let priorities: Vec<&str> = filter.priorities.iter().map(|priority| priority.as_str()).collect();
    one_of("#status", "status", &statuses, &mut clauses);
    one_of("priority", "priority", &priorities, &mut clauses);
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
    match &filter.parent {
        ParentFilter::Any => {}
        ParentFilter::TopLevel => {
            clauses.push("attribute_type(parent_id, :null_type)".into());
            values.push((":null_type".into(), s("NULL")));
        }
        ParentFilter::Of(parent_id) => {
            clauses.push("parent_id = :parent_id".into());
            values.push((":parent_id".into(), s(parent_id.as_str())));
        }
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
