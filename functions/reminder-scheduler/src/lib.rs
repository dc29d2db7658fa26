//! reminder-scheduler (EventBridge Scheduler, every minute): sends every schedule entry that came
//! due since the last run to the `notifications` queue.
//!
//! It keeps a watermark: each run reads the entries from just after the watermark up to now, then
//! moves it. A run that did not happen (an outage) leaves the watermark behind, and the next run
//! sends what was missed, marked late. Runs that overlap or repeat may send an entry twice; the
//! worker's per-channel delivery records make the second one a no-op. A run near its deadline
//! stops after a whole hour bucket and moves the watermark that far; the next run goes on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use shared::domain::messages::{NotificationJob, NotificationMessage};
use shared::jobs::queue::{NotificationQueue, QueueError};
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};
use shared::store::schedule::{SHARDS, ScheduleEntry, hour_buckets};
use shared::store::{Store, StoreError};

/// A first run with no watermark looks back this far.
const FIRST_RUN_LOOKBACK: TimeDelta = TimeDelta::minutes(10);
/// Entries written in the last seconds may not be on the index yet: the next run takes them.
const INDEX_LAG: TimeDelta = TimeDelta::seconds(2);
/// An entry sent this long after it came due on the index is marked late.
const LATE_AFTER: TimeDelta = TimeDelta::minutes(2);
/// Time kept back from the deadline to move the watermark.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// The schedule's input: `{}`; an operator may send `{"since": "<instant>"}` to send again
/// everything due after that instant (the worker skips what was already delivered).
#[derive(Debug, Default, Deserialize)]
pub struct SchedulerEvent {
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SchedulerReport {
    /// Entries after this instant were read...
    pub from: DateTime<Utc>,
    /// ...up to and including this one: the new watermark.
    pub through: DateTime<Utc>,
    pub sent: usize,
    pub late: usize,
    /// False when the deadline stopped the run before now; the next run goes on.
    pub complete: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What the scheduler uses: the store and the `notifications` queue, nothing else.
pub struct SchedulerState {
    pub store: Store,
    pub queue: NotificationQueue,
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub fn state(env: &Env, sdk: &SdkConfig) -> Result<SchedulerState, InitError> {
    Ok(SchedulerState { store: Store::from_env(env, sdk)?, queue: NotificationQueue::from_env(env, sdk)? })
}

/// How long one run may take: template.yaml gives the function 60 seconds.
pub const RUN_BUDGET: Duration = Duration::from_secs(50);

/// The handler (Lambda's and the local gateway's): reads the event (a malformed one runs with the
/// defaults, and says so) and runs once.
pub async fn handle(
    state: Arc<SchedulerState>,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let event = serde_json::from_value(event).unwrap_or_else(|error| {
        tracing::warn!(%error, "scheduler input not understood; running with the defaults");
        SchedulerEvent::default()
    });
    let report = run(&state, event, Utc::now(), RUN_BUDGET).await?;
    Ok(serde_json::to_value(report)?)
}

/// One run at `now`, stopping short of `budget`.
pub async fn run(
    context: &SchedulerState,
    event: SchedulerEvent,
    now: DateTime<Utc>,
    budget: Duration,
) -> Result<SchedulerReport, SchedulerError> {
    let started = Instant::now();
    let seen = context.store.schedule().schedule_watermark().await?;
    let from = event.since.or(seen).unwrap_or(now - FIRST_RUN_LOOKBACK);
    let until = now - INDEX_LAG;
    let mut report = SchedulerReport { from, through: from, sent: 0, late: 0, complete: true };
    for hour in hour_buckets(from + TimeDelta::seconds(1), until) {
        if started.elapsed() + DEADLINE_MARGIN > budget {
            report.complete = false;
            break;
        }
        let low = hour.max(from + TimeDelta::seconds(1));
        let high = (hour + TimeDelta::seconds(3599)).min(until);
        if low > high {
            continue;
        }
        let entries = due_in_bucket(context, hour, low, high).await?;
        let (sent, late) = send(&context.queue, entries, now).await?;
        report.sent += sent;
        report.late += late;
        report.through = high;
    }
    // Never backwards: an operator's `since` run that stopped early leaves the watermark alone.
    let forward = seen.is_none_or(|seen| report.through > seen);
    if report.through > from && forward && !context.store.schedule().advance_watermark(seen, report.through).await? {
        tracing::info!("another run moved the watermark first");
    }
    tracing::info!(sent = report.sent, late = report.late, complete = report.complete, "reminders sent");
    Ok(report)
}

/// Every entry of one hour bucket in `[low, high]`, its shards read in parallel.
async fn due_in_bucket(
    context: &SchedulerState,
    hour: DateTime<Utc>,
    low: DateTime<Utc>,
    high: DateTime<Utc>,
) -> Result<Vec<ScheduleEntry>, StoreError> {
    let shards = (0..SHARDS).map(|shard| context.store.schedule().due_entries(hour, shard, low, high));
    Ok(futures::future::try_join_all(shards).await?.into_iter().flatten().collect())
}

/// Sends the entries' messages, ten per SendMessageBatch; returns (sent, late).
async fn send(
    queue: &NotificationQueue,
    entries: Vec<ScheduleEntry>,
    now: DateTime<Utc>,
) -> Result<(usize, usize), SchedulerError> {
    let mut late = 0;
    let messages: Vec<String> = entries
        .into_iter()
        .map(|entry| {
            // Late means held up by us: a due-soon alert for a task created 2 hours before its due
            // time is first due at its write, and on time then.
            let overdue = now - entry.index_at > LATE_AFTER;
            late += usize::from(overdue);
            serde_json::to_string(&marked_late(entry.message, overdue)).unwrap_or_default()
        })
        .collect();
    let sent = messages.len();
    queue.send_all(messages).await?;
    Ok((sent, late))
}

fn marked_late(mut message: NotificationMessage, overdue: bool) -> NotificationMessage {
    if let NotificationJob::Reminder { late, .. } = &mut message.job {
        *late = overdue;
    }
    message
}
