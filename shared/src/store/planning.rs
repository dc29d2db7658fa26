//! Planning in the table: the user's planning settings (`USER#<id>` / `PLANNING_SETTINGS`, the
//! document as JSON text with its version), their plans (`PLAN#<plan id>`, the planner's blocks
//! and unplaced tasks as JSON text), and which plan is a day's current one (`PLAN_DATE#<date>`).
//! A new proposal for a day supersedes the day's proposal before it in the same transaction.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use super::update::ItemUpdate;
use super::{Store, StoreError, Tenant, key, keys, n, s, to_item};
use crate::domain::ical::FocusBlock;
use crate::domain::task::Task;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SettingsItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// The settings document (JSON text), validated before it is stored.
    pub settings: String,
    pub version: u64,
    pub updated_at: String,
}

/// A plan as stored. `blocks` and `unplaced` are the planner's output as JSON text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub id: String,
    pub date: String,
    pub timezone: String,
    /// `proposed`, `accepted`, `rejected` or `superseded`.
    pub status: String,
    pub version: u64,
    pub blocks: String,
    pub unplaced: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narration: Option<String>,
    /// The version of each task the plan was made from: accepting it needs them unchanged.
    #[serde(default)]
    pub task_versions: BTreeMap<String, u64>,
    pub created_at: String,
    pub updated_at: String,
}

impl PlanItem {
    pub fn new(
        user_id: &str,
        id: String,
        date: String,
        timezone: String,
        (blocks, unplaced): (String, String),
        task_versions: BTreeMap<String, u64>,
    ) -> Self {
        let now = super::now_rfc3339();
        PlanItem {
            pk: keys::user(user_id),
            sk: keys::plan(&id),
            entity: "plan".into(),
            id,
            date,
            timezone,
            status: "proposed".into(),
            version: 1,
            blocks,
            unplaced,
            narration: None,
            task_versions,
            created_at: now.clone(),
            updated_at: now,
        }
    }
}

/// A day: its current plan, and what its accepted plan scheduled (for the next accept, which
/// replaces those blocks, and for the calendar feed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DayItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub plan_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_plan_id: Option<String>,
    /// The accepted blocks with their tasks' titles, as JSON text: `[{task_id, title, start_at, end_at}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_blocks: Option<String>,
}

impl DayItem {
    /// The accepted plan's blocks (none before an accept).
    pub fn focus_blocks(&self) -> Result<Vec<FocusBlock>, StoreError> {
        match &self.accepted_blocks {
            Some(text) => serde_json::from_str(text).map_err(StoreError::Json),
            None => Ok(Vec::new()),
        }
    }

    /// The tasks holding the accepted plan's blocks, each once.
    pub fn accepted_task_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = self.focus_blocks()?.into_iter().map(|block| block.task_id).collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

/// What an accept came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Done,
    /// The plan is no longer a proposal at the version read (accepted, rejected or superseded).
    NotProposed,
    /// These tasks changed since the plan was made (or while it was accepted).
    TasksChanged(Vec<String>),
}

/// A settings write refused: another write came first (the version stored now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleSettings(pub u64);

/// Planning settings and plans. Reached as `store.planning()`.
#[derive(Clone, Copy)]
pub struct Planning<'a> {
    pub(crate) store: &'a Store,
}

impl Planning<'_> {
    /// The stored settings document and its version; None before the first PUT (defaults, version 0).
    pub async fn get_settings(self, user_id: &str) -> Result<Option<SettingsItem>, StoreError> {
        self.store.get(keys::user(user_id), keys::PLANNING_SETTINGS).await
    }

    /// Stores `settings` (JSON text) as version `read + 1`, if the stored version is still `read`
    /// (0: none stored). Answers the new version, or the version that got there first.
    pub async fn put_settings(
        self,
        user_id: &str,
        settings: &str,
        read: u64,
    ) -> Result<Result<u64, StaleSettings>, StoreError> {
        let item = SettingsItem {
            pk: keys::user(user_id),
            sk: keys::PLANNING_SETTINGS.into(),
            entity: "planning_settings".into(),
            settings: settings.into(),
            version: read + 1,
            updated_at: super::now_rfc3339(),
        };
        let put = self.store.client.put_item().table_name(&self.store.table).set_item(Some(to_item(&item)?));
        let put = if read == 0 {
            put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", keys::PK)
        } else {
            put.condition_expression("version = :read").expression_attribute_values(":read", n(read))
        };
        if super::condition_held(put.send().await)? {
            return Ok(Ok(read + 1));
        }
        let current = self.get_settings(user_id).await?.map_or(0, |item| item.version);
        Ok(Err(StaleSettings(current)))
    }

    pub async fn get_plan(self, user_id: &str, plan_id: &str) -> Result<Option<PlanItem>, StoreError> {
        self.store.get(keys::user(user_id), &keys::plan(plan_id)).await
    }

    pub async fn get_day(self, user_id: &str, date: &str) -> Result<Option<DayItem>, StoreError> {
        self.store.get(keys::user(user_id), &keys::plan_day(date)).await
    }

    /// The day's current plan: the latest proposed, or the one accepted or rejected since. A
    /// rejected re-plan of a day that has an accepted plan gives way to that one: its blocks are
    /// still the day's (on the tasks and in the feed).
    pub async fn plan_of_day(self, user_id: &str, date: &str) -> Result<Option<PlanItem>, StoreError> {
        let Some(day) = self.get_day(user_id, date).await? else { return Ok(None) };
        let latest = self.get_plan(user_id, &day.plan_id).await?;
        match (&latest, &day.accepted_plan_id) {
            (Some(plan), Some(accepted)) if plan.status == "rejected" && *accepted != plan.id => {
                Ok(self.get_plan(user_id, accepted).await?.or(latest))
            }
            _ => Ok(latest),
        }
    }

    /// Accepts a proposed plan: in one transaction, the plan becomes `accepted` (at its version),
    /// the day records what it scheduled (while the plan is still the day's current one), and each
    /// task in `tasks` (as read, then as it will be) gets its new blocks on condition it is still
    /// at the version read, with an activity entry each.
    pub async fn accept(
        self,
        tenant: &Tenant,
        plan: &PlanItem,
        day: &DayItem,
        tasks: &[(Task, Task)],
    ) -> Result<Accepted, StoreError> {
        let user_id = tenant.actor();
        let mut actions = vec![self.status_change(user_id, plan, "accepted")?, self.record_day(user_id, plan, day)?];
        for (before, after) in tasks {
            let write = self.store.tasks().task_write(tenant, before, after)?;
            actions.push(write.into_action(&self.store.table, key(tenant.partition(), keys::task(&after.id)))?);
            let change = crate::domain::task::FieldChange {
                field: "scheduled_blocks".into(),
                old: serde_json::json!(before.scheduled_blocks.len()),
                new: serde_json::json!(after.scheduled_blocks.len()),
            };
            actions.push(self.store.activity().record_activity(tenant, "task", &after.id, "scheduled", &[change])?);
        }
        match self.store.transact(actions).await {
            Ok(()) => Ok(Accepted::Done),
            Err(error) if error.failed_condition_at(0) || error.failed_condition_at(1) => Ok(Accepted::NotProposed),
            Err(error) if error.is_condition_failure() => {
                let changed = tasks
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| error.failed_condition_at(2 + 2 * index))
                    .map(|(_, (task, _))| task.id.clone())
                    .collect();
                Ok(Accepted::TasksChanged(changed))
            }
            Err(error) => Err(error),
        }
    }

    fn record_day(&self, user_id: &str, plan: &PlanItem, day: &DayItem) -> Result<TransactWriteItem, StoreError> {
        ItemUpdate::new()
            .set("accepted_plan_id", s(&plan.id))
            .set("accepted_blocks", s(day.accepted_blocks.clone().unwrap_or_else(|| "[]".into())))
            .condition("plan_id = :plan", &[], [(":plan", s(&plan.id))])
            .into_action(&self.store.table, key(keys::user(user_id), keys::plan_day(&plan.date)))
    }

    /// The days from `from` (a date) on whose plans were accepted: what the calendar feed
    /// publishes. One Query, pages followed.
    pub async fn accepted_days_since(self, user_id: &str, from: &str) -> Result<Vec<DayItem>, StoreError> {
        let items = self.store.query_from(keys::user(user_id), &keys::plan_day(from), keys::PLAN_DAY_END).await?;
        let days: Vec<DayItem> = items.into_iter().map(super::from_item).collect::<Result<_, _>>()?;
        Ok(days.into_iter().filter(|day| day.accepted_blocks.is_some()).collect())
    }

    /// Stores a new proposal as the day's current plan (`previous_day` and `previous`: the day and
    /// its current plan as read). The previous plan, if still proposed, is superseded in the same
    /// transaction; what the day's accepted plan scheduled stays recorded. False when another
    /// proposal for the day got there first.
    pub async fn propose(
        self,
        user_id: &str,
        plan: &PlanItem,
        previous_day: Option<&DayItem>,
        previous: Option<&PlanItem>,
    ) -> Result<bool, StoreError> {
        let day = DayItem {
            pk: keys::user(user_id),
            sk: keys::plan_day(&plan.date),
            entity: "plan_day".into(),
            plan_id: plan.id.clone(),
            ..previous_day.cloned().unwrap_or_default()
        };
        let day_put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(to_item(&day)?))
            .expression_attribute_names("#pk", keys::PK);
        // The day still points where it was read: of two proposals at once, one wins.
        let day_put = match previous_day {
            Some(previous_day) => day_put
                .condition_expression("attribute_exists(#pk) AND plan_id = :previous")
                .expression_attribute_values(":previous", s(&previous_day.plan_id)),
            None => day_put.condition_expression("attribute_not_exists(#pk)"),
        };
        let mut actions =
            vec![self.store.put_new(to_item(plan)?)?, TransactWriteItem::builder().put(day_put.build()?).build()];
        if let Some(previous) = previous.filter(|previous| previous.status == "proposed") {
            actions.push(self.status_change(user_id, previous, "superseded")?);
        }
        match self.store.transact(actions).await {
            Ok(()) => Ok(true),
            Err(error) if error.is_condition_failure() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The update that moves `plan` from its status (at its version) to `to`, for a transaction.
    pub(crate) fn status_change(
        &self,
        user_id: &str,
        plan: &PlanItem,
        to: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        ItemUpdate::new()
            .set("status", s(to))
            .set("version", n(plan.version + 1))
            .set("updated_at", s(super::now_rfc3339()))
            .condition(
                "#status = :from AND version = :version",
                &[("#status", "status")],
                [(":from", s(&plan.status)), (":version", n(plan.version))],
            )
            .into_action(&self.store.table, key(keys::user(user_id), keys::plan(&plan.id)))
    }

    /// Moves a proposed plan to `rejected`; false when it is no longer proposed at that version.
    /// Puts a narration on a plan that is still proposed or accepted. The plan's version stays:
    /// a narration explains it and changes nothing an accept is conditioned on. False when the
    /// plan is gone or was superseded or rejected meanwhile.
    pub async fn set_narration(self, user_id: &str, plan_id: &str, narration: &str) -> Result<bool, StoreError> {
        let update = ItemUpdate::new().set("narration", s(narration)).condition(
            "#status = :proposed OR #status = :accepted",
            &[("#status", "status")],
            [(":proposed", s("proposed")), (":accepted", s("accepted"))],
        );
        Ok(update.apply(self.store, key(keys::user(user_id), keys::plan(plan_id))).await?.is_some())
    }

    pub async fn reject(self, user_id: &str, plan: &PlanItem) -> Result<bool, StoreError> {
        match self.store.transact(vec![self.status_change(user_id, plan, "rejected")?]).await {
            Ok(()) => Ok(true),
            Err(error) if error.is_condition_failure() => Ok(false),
            Err(error) => Err(error),
        }
    }
}
