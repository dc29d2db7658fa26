//! Daily digests. The hourly fan-out (maintenance): for every time zone, the local hours whose
//! start passed since the last run; the users whose digest hour that is (a sparse index by zone
//! and hour) get a digest message for their local day. What a digest holds (the notification
//! worker): the user's open tasks due that day and those overdue, read with one Query on the
//! due-time index. It is delivered once per user, day and channel, so overlapping runs send
//! nothing twice.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::{TZ_VARIANTS, Tz};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::content::digest_notification;
use super::queue::{NotificationQueue, QueueError};
use crate::domain::messages::{Notification, NotificationJob, NotificationMessage};
use crate::domain::task::{Status, Task};
use crate::store::tasks::{TaskFilter, TaskSort};
use crate::store::{Store, StoreError, Tenant};

/// Index partitions read at once.
const PARALLEL_READS: usize = 16;

/// How far back a run looks: an hour, plus a margin for a schedule that fires a little late.
pub const WINDOW: TimeDelta = TimeDelta::minutes(65);

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct DigestReport {
    /// (zone, local hour) index partitions read.
    pub hours_read: usize,
    /// Digest messages sent.
    pub queued: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Sends the digest messages of every local hour that began in `(now - WINDOW, now]`.
pub async fn send_digests(
    store: &Store,
    queue: &NotificationQueue,
    now: DateTime<Utc>,
) -> Result<DigestReport, DigestError> {
    let begun: Vec<(Tz, NaiveDate, u32)> = TZ_VARIANTS
        .iter()
        .flat_map(|zone| hours_begun(*zone, now - WINDOW, now).into_iter().map(move |(date, hour)| (*zone, date, hour)))
        .collect();
    let mut report = DigestReport { hours_read: begun.len(), queued: 0 };
    // About 600 small Queries an hour (one per zone): read several at once.
    let mut recipients = stream::iter(begun)
        .map(|(zone, date, hour)| async move {
            store.digests().digest_recipients(zone.name(), hour).await.map(|users| (users, date))
        })
        .buffer_unordered(PARALLEL_READS);
    let mut bodies = Vec::new();
    while let Some(found) = recipients.next().await {
        let (users, date) = found?;
        bodies.extend(
            users
                .into_iter()
                .map(|user_id| NotificationMessage::new(user_id, NotificationJob::Digest { date }))
                .filter_map(|message| serde_json::to_string(&message).ok()),
        );
    }
    report.queued = bodies.len();
    queue.send_all(bodies).await?;
    Ok(report)
}

/// The local (date, hour) of every wall-clock hour that began in `zone` within `(from, to]`. An
/// hour skipped by a clock change counts as begun when the clock jumps over it; an hour repeated
/// when clocks go back begins once.
pub fn hours_begun(zone: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(NaiveDate, u32)> {
    let mut hours = Vec::new();
    // Offsets are whole quarter hours: stepping by 15 minutes sees every hour start.
    let mut previous = from.with_timezone(&zone).naive_local();
    let mut at = from;
    while at < to {
        at = (at + TimeDelta::minutes(15)).min(to);
        let local = at.with_timezone(&zone).naive_local();
        let mut boundary = previous.date().and_hms_opt(previous.hour(), 0, 0).unwrap_or(previous) + TimeDelta::hours(1);
        while boundary <= local {
            hours.push((boundary.date(), boundary.hour()));
            boundary += TimeDelta::hours(1);
        }
        previous = previous.max(local);
    }
    hours
}

/// Open tasks read for one digest (the Query reads on until this many match).
const DIGEST_READ: usize = 100;

/// The digest of `date` for `user_id` in `zone`, or `None` when nothing is due or overdue.
pub async fn digest_for(
    store: &Store,
    user_id: &str,
    date: NaiveDate,
    zone: Tz,
) -> Result<Option<Notification>, StoreError> {
    let day_start = local_midnight(zone, date);
    let next_day_start = date.succ_opt().map(|next| local_midnight(zone, next)).unwrap_or(day_start);
    // Index keys: `<instant>#id` for timed tasks, `<date>T23:59:59Z#id` for dated ones.
    let timed_bound = next_day_start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let dated_bound = format!("{date}T23:59:59Z~");
    let filter = TaskFilter {
        statuses: vec![Status::Todo, Status::InProgress],
        due_to: Some(timed_bound.max(dated_bound)),
        ..TaskFilter::default()
    };
    let page = store.tasks().list_tasks(&Tenant::user(user_id), &filter, TaskSort::Due, None, DIGEST_READ).await?;
    let (overdue, due_today): (Vec<Task>, Vec<Task>) =
        page.items.into_iter().partition(|task| match (task.due_at, task.due_date) {
            (Some(at), _) => at < day_start,
            (None, Some(on)) => on < date,
            (None, None) => false,
        });
    let due_today: Vec<Task> = due_today
        .into_iter()
        .filter(|task| task.due_at.is_none_or(|at| at < next_day_start) && task.due_date.is_none_or(|on| on == date))
        .collect();
    Ok(digest_notification(date, zone, &due_today, &overdue))
}

/// The instant a local day begins (the first valid local time when midnight falls in a gap).
fn local_midnight(zone: Tz, date: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    (0..4)
        .find_map(|hour| zone.from_local_datetime(&date.and_hms_opt(hour, 0, 0)?).earliest())
        .map(|at| at.to_utc())
        .unwrap_or_else(|| date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn one_hour_begins_per_hourly_run_in_whole_and_half_hour_zones() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            hours_begun(berlin, at("2026-11-23T06:05:00Z"), at("2026-11-23T07:05:00Z")),
            [(day("2026-11-23"), 8)]
        );
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        assert_eq!(
            hours_begun(kolkata, at("2026-11-23T02:05:00Z"), at("2026-11-23T03:05:00Z")),
            [(day("2026-11-23"), 8)]
        );
    }

    #[test]
    fn an_hour_skipped_in_spring_still_begins_and_a_repeated_one_begins_once() {
        let new_york: Tz = "America/New_York".parse().unwrap();
        // 8 March 2026: 02:00 EST jumps to 03:00 EDT at 07:00Z.
        let spring = hours_begun(new_york, at("2026-03-08T06:30:00Z"), at("2026-03-08T07:30:00Z"));
        assert_eq!(spring, [(day("2026-03-08"), 2), (day("2026-03-08"), 3)]);
        // 1 November 2026: 02:00 EDT goes back to 01:00 EST at 06:00Z; 01:00 began at 05:00Z.
        let first = hours_begun(new_york, at("2026-11-01T04:30:00Z"), at("2026-11-01T05:30:00Z"));
        let second = hours_begun(new_york, at("2026-11-01T05:30:00Z"), at("2026-11-01T06:30:00Z"));
        let third = hours_begun(new_york, at("2026-11-01T06:30:00Z"), at("2026-11-01T07:30:00Z"));
        assert_eq!(first, [(day("2026-11-01"), 1)]);
        assert_eq!(second, [], "01:00 EST is the second 01:00: it does not begin again");
        assert_eq!(third, [(day("2026-11-01"), 2)]);
    }
}
