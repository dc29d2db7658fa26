//! The reminder schedule: one entry per thing that must go off at a time (a task's reminder or
//! due-soon alert, or a delivery quiet hours deferred), each holding the queue message to send.
//!
//! Entries sit under their owner (`REMINDER#<task>#<reminder>`, `DEFERRED#<notification>#<channel>`)
//! and on GSI1 in an hour bucket split into `SHARDS` partitions:
//! `GSI1PK = REMIND#<yyyy-mm-ddThh>#<shard>`, `GSI1SK = <index time>#<user>`. The scheduler reads
//! the buckets between its watermark and now with one Query per bucket shard and page, so 10,000
//! entries in one minute are 8 partitions of ~1,250, read in parallel.
//!
//! An entry's index time is its fire time, or a few seconds after it was written when that is
//! later (a reminder set for a moment already past goes off at the next run, not never).

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::Tenant;
use super::{IndexRange, Store, StoreError, dynamo_error, from_item, keys, s, to_item};
use crate::domain::messages::{NotificationJob, NotificationMessage};
use crate::domain::reminders::{Scheduled, schedule};
use crate::domain::task::Task;

/// Partitions per hour bucket.
pub const SHARDS: u32 = 8;
/// How far after its write an entry is first visible to a run: more than the index's usual lag.
pub const WRITE_MARGIN: TimeDelta = TimeDelta::seconds(5);
/// Entries stay this long after their time, then DynamoDB may delete them.
const ENTRY_LIFETIME: TimeDelta = TimeDelta::days(7);

/// One entry of the schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleEntry {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    /// When it is meant to go off.
    pub fire_at: DateTime<Utc>,
    /// When it is first due on the index: its fire time, or just after its write when that is later.
    pub index_at: DateTime<Utc>,
    /// The message the scheduler sends when it is due.
    pub message: NotificationMessage,
    pub ttl: i64,
}

impl ScheduleEntry {
    /// An entry of `user_id` under the sort key `sk`, due at `fire_at`, written at `now`.
    pub fn new(sk: String, fire_at: DateTime<Utc>, message: NotificationMessage, now: DateTime<Utc>) -> Self {
        let index_at = fire_at.max(now + WRITE_MARGIN);
        let shard = shard_of(&message.user_id, &sk);
        ScheduleEntry {
            pk: keys::user(&message.user_id),
            gsi1pk: keys::schedule_bucket(index_at, shard),
            gsi1sk: format!("{}#{}", index_time(index_at), message.user_id),
            entity: "schedule".into(),
            sk,
            fire_at,
            index_at,
            ttl: (index_at + ENTRY_LIFETIME).timestamp(),
            message,
        }
    }
}

/// The sort-key form of an instant on the schedule index (whole seconds, sorts as time).
pub fn index_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A stable shard for an entry (FNV-1a), so its rewrites land in the same partition.
fn shard_of(user_id: &str, sk: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in user_id.bytes().chain(sk.bytes()) {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    hash % SHARDS
}

/// The start of each hour bucket from `from`'s hour to `to`'s, in order.
pub fn hour_buckets(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let truncate =
        |at: DateTime<Utc>| at.with_nanosecond(0).and_then(|at| at.with_second(0)).and_then(|at| at.with_minute(0));
    let (Some(mut hour), Some(last)) = (truncate(from), truncate(to)) else {
        return Vec::new();
    };
    let mut hours = Vec::new();
    while hour <= last {
        hours.push(hour);
        hour += TimeDelta::hours(1);
    }
    hours
}

/// The reminder schedule and the scheduler's watermark. Reached as `store.schedule()`.
#[derive(Clone, Copy)]
pub struct Schedule<'a> {
    pub(crate) store: &'a Store,
}

impl Schedule<'_> {
    /// The writes that bring a task's schedule entries from what `before` needed to what `after`
    /// needs (for the task's own transaction): new or moved entries are put, obsolete ones deleted.
    /// Reminders go to the owner of a user's own task; a team's tasks have none until teams say
    /// whom they remind (assignees).
    pub fn schedule_writes(
        self,
        tenant: &Tenant,
        before: Option<&Task>,
        after: &Task,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let Some(user_id) = tenant.own_user() else { return Ok(Vec::new()) };
        let old = before.map(|task| schedule(task, &task.reminders)).unwrap_or_default();
        let new = schedule(after, &after.reminders);
        let mut writes = Vec::new();
        for entry in &new {
            if !old.contains(entry) && still_worth_sending(after, entry, now) {
                writes.push(self.store.put(to_item(&reminder_entry(user_id, &after.id, entry, now))?)?);
            }
        }
        for entry in old.iter().filter(|old| !new.iter().any(|new| new.reminder_id == old.reminder_id)) {
            writes.push(self.store.delete(keys::user(user_id), &keys::reminder_entry(&after.id, &entry.reminder_id))?);
        }
        Ok(writes)
    }

    /// A delivery that quiet hours hold back, put on the schedule for when they end.
    pub async fn schedule_deferred(
        self,
        sk: String,
        at: DateTime<Utc>,
        message: NotificationMessage,
    ) -> Result<(), StoreError> {
        let entry = ScheduleEntry::new(sk, at, message, Utc::now());
        self.store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(to_item(&entry)?))
            .send()
            .await
            .map_err(dynamo_error)?;
        Ok(())
    }

    /// The entries of one bucket shard whose index time is in `[from, to]` (whole seconds).
    pub async fn due_entries(
        self,
        hour: DateTime<Utc>,
        shard: u32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ScheduleEntry>, StoreError> {
        let range = IndexRange::Between(index_time(from), format!("{}#~", index_time(to)));
        let items = self.store.index_items(keys::schedule_bucket(hour, shard), range).await?;
        items.into_iter().map(from_item::<ScheduleEntry>).collect()
    }

    /// Where the scheduler stopped: every entry up to this instant has been sent.
    pub async fn schedule_watermark(self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item: Option<Watermark> = self.store.get(keys::SCHEDULER.into(), keys::WATERMARK).await?;
        Ok(item.map(|item| item.through))
    }

    /// Moves the watermark from `seen` (what this run read) to `through`; `false` when another
    /// run moved it first (overlapping runs: the later watermark wins, nothing is lost).
    pub async fn advance_watermark(
        self,
        seen: Option<DateTime<Utc>>,
        through: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let mut update = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(super::key(keys::SCHEDULER.into(), keys::WATERMARK)))
            .update_expression("SET through = :through")
            .expression_attribute_values(":through", s(index_time(through)));
        update = match seen {
            Some(seen) => {
                update.condition_expression("through = :seen").expression_attribute_values(":seen", s(index_time(seen)))
            }
            None => update.condition_expression("attribute_not_exists(through)"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(StoreError::Dynamo(Box::new(other))),
            },
        }
    }
}

#[derive(Debug, Deserialize)]
struct Watermark {
    through: DateTime<Utc>,
}

/// Whether an entry written now should go off: one whose moment is ahead, or one that came due
/// before its task's due time (a reminder set late, the due-soon alert of a task due within a
/// day: they go off at once). Reopening a task whose due time has passed brings back none of its
/// past moments, and an absolute reminder whose time has passed stays silent.
fn still_worth_sending(task: &Task, entry: &Scheduled, now: DateTime<Utc>) -> bool {
    let absolute = task.reminders.iter().any(|reminder| reminder.id == entry.reminder_id && reminder.at.is_some());
    entry.fire_at >= now || (!absolute && task.due_at.is_some_and(|due| due > now))
}

/// The entry of one scheduled reminder of a task.
fn reminder_entry(user_id: &str, task_id: &str, entry: &Scheduled, now: DateTime<Utc>) -> ScheduleEntry {
    let message = NotificationMessage::new(
        user_id,
        NotificationJob::Reminder {
            task_id: task_id.to_string(),
            reminder_id: entry.reminder_id.clone(),
            occurrence: entry.occurrence.clone(),
            kind: entry.kind,
            fire_at: entry.fire_at,
            late: false,
        },
    );
    ScheduleEntry::new(keys::reminder_entry(task_id, &entry.reminder_id), entry.fire_at, message, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn an_entry_for_a_past_moment_is_indexed_just_after_its_write() {
        let now = at("2026-11-23T09:59:58Z");
        let message = NotificationMessage::new("u1", NotificationJob::Digest { date: now.date_naive() });
        let entry = ScheduleEntry::new("REMINDER#t#r".into(), at("2026-11-23T09:00:00Z"), message, now);
        assert!(entry.gsi1pk.starts_with("REMIND#2026-11-23T10#"), "{}", entry.gsi1pk);
        assert_eq!(entry.gsi1sk, "2026-11-23T10:00:03Z#u1");
        assert_eq!(entry.fire_at, at("2026-11-23T09:00:00Z"), "its own time is kept for the message");
    }

    #[test]
    fn buckets_cover_every_hour_between_two_instants() {
        let hours = hour_buckets(at("2026-11-23T08:59:59Z"), at("2026-11-23T10:00:00Z"));
        assert_eq!(hours, [at("2026-11-23T08:00:00Z"), at("2026-11-23T09:00:00Z"), at("2026-11-23T10:00:00Z")]);
    }

    #[test]
    fn entries_spread_over_every_shard() {
        let shards: std::collections::HashSet<u32> =
            (0..200).map(|index| shard_of(&format!("user{index}"), "REMINDER#t#r")).collect();
        assert_eq!(shards.len(), SHARDS as usize);
    }
}
