//! The daily digest of one user and local day: their open tasks due that day and those overdue,
//! read with one Query on the due-time index.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

use super::content::digest_notification;
use super::notifications::Notification;
use crate::domain::task::Task;
use crate::store::tasks::{TaskFilter, TaskSort};
use crate::store::{Store, StoreError};

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
        statuses: vec!["todo".into(), "in_progress".into()],
        due_to: Some(timed_bound.max(dated_bound)),
        ..TaskFilter::default()
    };
    let page = store.list_tasks(user_id, &filter, TaskSort::Due, None, DIGEST_READ).await?;
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
