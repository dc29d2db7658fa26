//! Closed occurrences of repeating tasks (`OCCURRENCE#<task id>#<index>` under the owner), and the
//! transaction that closes one: the record, the task moved to its next occurrence with its done
//! subtasks reopened, the activity entry and the open-task count, all or nothing.

use serde::{Deserialize, Serialize};

use super::Tenant;
use super::tasks::{Guard, PARENT_RACE_ATTEMPTS, Plan, TaskItem, TaskWriteError, count_is};
use super::{Store, StoreError, from_item, keys, n, to_item};
use crate::domain::occurrence::{Advance, Occurrence};
use crate::domain::plan::{Limit, LimitReached, PlanLimits, open_count};
use crate::domain::task::{FieldChange, Status, Task, changes_between};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OccurrenceItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub task_id: String,
    #[serde(flatten)]
    pub occurrence: Occurrence,
}

pub struct OccurrencePage {
    pub items: Vec<Occurrence>,
    /// The sort key the page ended at, when more may follow.
    pub next: Option<String>,
}

/// Closed occurrences of repeating tasks. Reached as `store.occurrences()`.
#[derive(Clone, Copy)]
pub struct Occurrences<'a> {
    pub(crate) store: &'a Store,
}

impl Occurrences<'_> {
    /// A task's closed occurrences, newest first: one Query per page.
    pub async fn list_occurrences(
        self,
        tenant: &Tenant,
        task_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<OccurrencePage, StoreError> {
        let (items, more) =
            self.store.query_page(tenant.partition(), &keys::occurrences_of(task_id), after, limit, false).await?;
        let items: Vec<OccurrenceItem> = items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        let next = if more { items.last().map(|item| item.sk.clone()) } else { None };
        Ok(OccurrencePage { items: items.into_iter().map(|item| item.occurrence).collect(), next })
    }

    /// Closes `before`'s current occurrence as `step` says, in one transaction with the schedule
    /// entries that follow the task. Fails with a version conflict when the task changed.
    pub async fn close_occurrence(
        self,
        tenant: &Tenant,
        before: &Task,
        step: &Advance,
        action: &str,
        limits: PlanLimits,
    ) -> Result<(), TaskWriteError> {
        let mut before = before.clone();
        for attempt in 0..PARENT_RACE_ATTEMPTS {
            if attempt > 0 {
                before = self.store.tasks().reread(tenant, &before).await?;
            }
            if self.try_close_occurrence(tenant, &before, step, action, limits).await? {
                return Ok(());
            }
        }
        Err(StoreError::Contended("the task's subtasks kept changing while its occurrence closed").into())
    }

    async fn try_close_occurrence(
        self,
        tenant: &Tenant,
        before: &Task,
        step: &Advance,
        action: &str,
        limits: PlanLimits,
    ) -> Result<bool, TaskWriteError> {
        let mut write = self.store.tasks().task_write(tenant, before, &step.next)?.remove("completed_by_subtasks");
        if before.recurrence == step.next.recurrence {
            write = write.set("series_count", n(step.series.count));
        }
        let reopened = if step.ended { Vec::new() } else { self.done_subtasks(tenant, before).await? };
        if !reopened.is_empty() {
            let seen_open = before.subtasks.as_ref().map_or(0, |counts| counts.open as i64);
            let (seen_condition, seen) = count_is("open_subtasks", ":seen_open", seen_open);
            write = write
                .add("open_subtasks", n(reopened.len() as i64))
                .add("done_subtasks", n(-(reopened.len() as i64)))
                .condition(&seen_condition, &[], [(":seen_open", seen)]);
        }
        let mut changes = changes_between(before, &step.next);
        changes.push(FieldChange {
            field: "occurrence".into(),
            old: serde_json::Value::Null,
            new: serde_json::to_value(&step.occurrence).unwrap_or_default(),
        });
        let record = OccurrenceItem {
            pk: tenant.partition(),
            sk: keys::occurrence(&before.id, step.occurrence.index),
            entity: "occurrence".into(),
            task_id: before.id.clone(),
            occurrence: step.occurrence.clone(),
        };
        let mut plan = Plan::default();
        plan.push(write.into_action(&self.store.table, TaskItem::key(tenant, &before.id))?, Some(Guard::Task));
        plan.push(self.store.put_new(to_item(&record)?)?, Some(Guard::Task));
        plan.push(self.store.activity().record_activity(tenant, "task", &before.id, action, &changes)?, None);
        let delta = open_count(&step.next) - open_count(before);
        if delta != 0 {
            plan.push(self.store.tasks().count_open(tenant, delta, limits.open_tasks)?, Some(Guard::OpenLimit));
        }
        for subtask in reopened {
            let mut open = subtask.clone();
            open.set_status(Status::Todo, step.next.updated_at);
            open.version += 1;
            open.updated_at = step.next.updated_at;
            let update = self.store.tasks().task_write(tenant, &subtask, &open)?;
            plan.push(update.into_action(&self.store.table, TaskItem::key(tenant, &subtask.id))?, Some(Guard::Raced));
        }
        for write in self.store.schedule().schedule_writes(tenant, Some(before), &step.next, chrono::Utc::now())? {
            plan.push(write, None);
        }
        match plan.run(self.store).await {
            Ok(()) => Ok(true),
            Err((_, Some(Guard::Task))) => self.store.tasks().reread(tenant, before).await.map(|_| false),
            Err((_, Some(Guard::OpenLimit))) => {
                Err(TaskWriteError::LimitReached(LimitReached::of(Limit::OpenTasks, limits)))
            }
            Err((_, Some(Guard::Raced | Guard::Parent))) => Ok(false),
            Err((error, None)) => Err(error.into()),
        }
    }

    /// The live subtasks of `parent` that are done: a new occurrence reopens them.
    async fn done_subtasks(self, tenant: &Tenant, parent: &Task) -> Result<Vec<Task>, StoreError> {
        let Some(counts) = parent.subtasks.as_ref().filter(|counts| counts.done > 0) else {
            return Ok(Vec::new());
        };
        Ok(self
            .store
            .tasks()
            .task_items(tenant, &counts.ids)
            .await?
            .into_iter()
            .filter(TaskItem::is_live)
            .map(|item| item.task)
            .filter(|task| task.status == Status::Done)
            .collect())
    }
}
