//! What the planner reads for a day, gathered from the store: the user's zone and settings, their
//! open tasks (as `PlanTask`s: estimate, priority, due, a start time as a pinned block, subtask
//! order, the blocks an accepted plan gave them that day) and the day's busy time (own and synced
//! events, every occurrence that overlaps the day).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use shared::Base;
use shared::domain::calendar::midnight;
use shared::domain::planner::{Due, Interval, PlanInput, PlanTask};
use shared::domain::task::{Status, Task};
use shared::http::ApiError;
use shared::store::Tenant;
use shared::store::accounts::UserItem;
use shared::store::tasks::{TaskFilter, TaskSort};

/// At most this many open tasks are considered (five pages of 200): a day holds far fewer.
pub const MAX_TASKS: usize = 1_000;

/// The planner's input, and what the plan needs to remember of it.
pub struct Gathered {
    pub input: PlanInput,
    /// The version of each task considered: accepting the plan needs them unchanged.
    pub task_versions: BTreeMap<String, u64>,
}

/// The day `[start, end)` in the zone: local midnight to the next (23 or 25 hours on DST days).
pub fn day_bounds(date: NaiveDate, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    (midnight(date, zone), midnight(date + Duration::days(1), zone))
}

pub fn zone_of(user: &UserItem) -> Tz {
    user.timezone.parse().unwrap_or(Tz::UTC)
}

pub async fn gather(app: &Base, user: &UserItem, date: NaiveDate, now: DateTime<Utc>) -> Result<Gathered, ApiError> {
    let zone = zone_of(user);
    let tenant = Tenant::user(&user.id);
    let (start, end) = day_bounds(date, zone);
    let settings = crate::handlers::settings::current(app, &user.id).await?.into_settings();
    let tasks = open_tasks(app, &tenant).await?;
    let busy = busy_time(app, &tenant, start, end).await?;
    let tasks = left_to_book(tasks, settings.default_estimate_minutes, (start, end), now);
    let task_versions = tasks.iter().map(|(task, _)| (task.id.clone(), task.version)).collect();
    let tasks = plan_tasks(&tasks, settings.default_estimate_minutes, (start, end));
    Ok(Gathered { input: PlanInput { date, tz: zone, now, settings, tasks, busy }, task_versions })
}

/// The open (to do or in progress), unarchived tasks, top-level and subtasks, up to `MAX_TASKS`.
/// A parent with open subtasks is planned through them, not itself.
async fn open_tasks(app: &Base, tenant: &Tenant) -> Result<Vec<Task>, ApiError> {
    let filter = TaskFilter { statuses: vec![Status::Todo, Status::InProgress], ..TaskFilter::default() };
    let mut tasks = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app.store.tasks().list_tasks(tenant, &filter, TaskSort::default(), after.as_deref(), 200).await?;
        tasks.extend(page.items);
        match page.next {
            Some(next) if tasks.len() < MAX_TASKS => after = Some(next),
            _ => break,
        }
    }
    tasks.truncate(MAX_TASKS);
    tasks.retain(|task| task.subtasks.as_ref().is_none_or(|counts| counts.open == 0));
    Ok(tasks)
}

/// Each task with the minutes still to book for it: its estimate (or the default) less what an
/// accepted plan booked on other days still ahead, so that planning Tuesday does not book again
/// what Monday's plan holds. A task booked elsewhere in full is not considered for this day
/// (as one pinned only on other days); past days' blocks count for nothing (the task is still
/// open: that time did not finish it).
fn left_to_book(
    tasks: Vec<Task>,
    default_estimate: Option<u32>,
    day: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Vec<(Task, Option<u32>)> {
    tasks
        .into_iter()
        .filter_map(|task| {
            let booked: i64 = task
                .scheduled_blocks
                .iter()
                .filter(|block| (block.end_at <= day.0 || block.start_at >= day.1) && block.end_at > now)
                .map(|block| (block.end_at - block.start_at).num_minutes())
                .sum();
            if booked == 0 {
                let estimate = task.estimate_minutes; // the planner applies the default itself
                return Some((task, estimate));
            }
            let left = i64::from(task.estimate_minutes.or(default_estimate)?) - booked;
            (left > 0).then(|| (task, u32::try_from(left).ok()))
        })
        .collect()
}

/// Every busy occurrence of the user's events (own and synced) that overlaps the day.
pub async fn busy_time(
    app: &Base,
    tenant: &Tenant,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Interval>, ApiError> {
    let events = app.store.events().events_between(tenant, start, end).await?;
    Ok(events
        .iter()
        .flat_map(|event| {
            let zone = event.zone();
            event.occurrences_between(start, end).into_iter().filter(|found| found.busy).map(move |found| {
                let (from, to) = found.when.instants(zone);
                Interval { start: from, end: to }
            })
        })
        .collect())
}

/// The tasks as the planner sees them. Subtasks of one parent are done in the order they were
/// made (each after the one before); a task's start time pins a block of its estimate there.
fn plan_tasks(
    tasks: &[(Task, Option<u32>)],
    default_estimate: Option<u32>,
    day: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<PlanTask> {
    let mut previous_sibling: HashMap<&str, &str> = HashMap::new();
    let mut by_id: Vec<&Task> = tasks.iter().map(|(task, _)| task).collect();
    by_id.sort_by(|a, b| a.id.cmp(&b.id));
    let mut after: HashMap<&str, Vec<String>> = HashMap::new();
    for task in by_id {
        if let Some(parent) = task.parent_id.as_deref()
            && let Some(before) = previous_sibling.insert(parent, &task.id)
        {
            after.entry(task.id.as_str()).or_default().push(before.to_string());
        }
    }
    tasks
        .iter()
        .map(|(task, left)| PlanTask {
            id: task.id.clone(),
            priority: task.priority,
            due: task.due_at.map(Due::At).or(task.due_date.map(Due::On)),
            estimate_minutes: *left,
            pinned: pinned(task, default_estimate),
            after: after.remove(task.id.as_str()).unwrap_or_default(),
            accepted: task
                .scheduled_blocks
                .iter()
                .filter(|block| block.start_at < day.1 && block.end_at > day.0)
                .map(|block| Interval { start: block.start_at, end: block.end_at })
                .collect(),
        })
        .collect()
}

/// A task with a start time is pinned there for its estimate (or the default, or 30 minutes).
fn pinned(task: &Task, default_estimate: Option<u32>) -> Vec<Interval> {
    let Some(start) = task.start_at else { return Vec::new() };
    let minutes = task.estimate_minutes.or(default_estimate).unwrap_or(30);
    vec![Interval { start, end: start + Duration::minutes(i64::from(minutes)) }]
}
