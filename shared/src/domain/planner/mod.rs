//! The day planner: given a day, the open tasks, busy time and planning settings, place focus blocks
//! and explain every placement and every task left out. Pure: no I/O, no clock (the caller passes
//! `now`).
//!
//! How it plans (see `solver`): pinned blocks are placed as they are, accepted blocks are kept when
//! still valid, then tasks are taken in priority order (a task inherits the priority and deadline of
//! what waits on it) and each is kept only if the tasks taken so far plus it still fit, checked by
//! laying them out earliest-deadline-first. Last, urgent and high tasks are moved into peak hours
//! where that keeps every deadline.

mod check;
mod corpus;
mod day;
mod engine;
mod prepare;
mod score;
mod settings;
mod solver;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::task::Priority;

pub use check::violations;
pub use corpus::{Rng, bench_day, corpus, generate_day};
pub use score::{Score, score};
pub use settings::{PlanningSettings, Problem, TimeRange, WorkingHours};
pub use solver::{baseline, bench, plan};

/// `[start, end)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// When a task is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    At(DateTime<Utc>),
    /// By the end of that day in the user's zone.
    On(NaiveDate),
}

/// An open task as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanTask {
    pub id: String,
    pub priority: Priority,
    pub due: Option<Due>,
    pub estimate_minutes: Option<u32>,
    /// Blocks the user fixed: placed as they are, busy for every other task. A task with pinned
    /// blocks today is not planned further; one with pinned blocks only on other days is not
    /// considered for this day at all.
    pub pinned: Vec<Interval>,
    /// Ids of tasks whose blocks must end before this one's start (subtask order). Ids not among the
    /// tasks (done, deleted) are satisfied.
    pub after: Vec<String>,
    /// Blocks of the previously accepted plan: kept as a whole when still valid.
    pub accepted: Vec<Interval>,
}

impl PlanTask {
    pub fn new(id: &str, priority: Priority, estimate_minutes: Option<u32>) -> PlanTask {
        PlanTask {
            id: id.to_owned(),
            priority,
            due: None,
            estimate_minutes,
            pinned: vec![],
            after: vec![],
            accepted: vec![],
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlanInput {
    pub date: NaiveDate,
    pub tz: Tz,
    /// Nothing is placed before it.
    pub now: DateTime<Utc>,
    pub settings: PlanningSettings,
    pub tasks: Vec<PlanTask>,
    /// The user's events and synced ones, already expanded.
    pub busy: Vec<Interval>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Plan {
    /// Sorted by start.
    pub blocks: Vec<Block>,
    /// In planning order.
    pub unplaced: Vec<Unplaced>,
}

/// One block, in the api.md shape (`start_at`, `end_at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Block {
    pub task_id: String,
    #[serde(rename = "start_at")]
    pub start: DateTime<Utc>,
    #[serde(rename = "end_at")]
    pub end: DateTime<Utc>,
    pub chunk: Chunk,
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Chunk {
    /// 1-based.
    pub index: u32,
    pub of: u32,
}

/// Why a block is where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Pinned,
    KeptFromAcceptedPlan,
    DueToday,
    /// The task is due first of the tasks planned.
    EarliestDeadline,
    PriorityLow,
    PriorityMedium,
    PriorityHigh,
    PriorityUrgent,
    /// An urgent or high task's block inside peak hours.
    PeakHours,
    /// Placed after the blocks of the tasks it waits on.
    AfterDependency,
}

impl Reason {
    pub fn priority(priority: Priority) -> Reason {
        match priority {
            Priority::Low => Reason::PriorityLow,
            Priority::Medium => Reason::PriorityMedium,
            Priority::High => Reason::PriorityHigh,
            Priority::Urgent => Reason::PriorityUrgent,
        }
    }
}

/// A task left out, with one code and a sentence with the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unplaced {
    pub task_id: String,
    pub code: UnplacedCode,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnplacedCode {
    NoEstimate,
    DeadlinePassed,
    NoFreeSlotBeforeDeadline,
    ExceedsFocusCap,
    /// No working time left today (none that weekday, or all of it past or busy).
    OutsideWorkingHours,
    /// Free time is left, but every gap is shorter than the task's shortest allowed chunk.
    ChunkTooSmall,
    LowerPriorityThanPlaced,
    BlockedByDependency,
}

/// Larger is more important; `Priority` itself is not ordered.
pub fn rank(priority: Priority) -> u8 {
    match priority {
        Priority::Low => 0,
        Priority::Medium => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

#[cfg(test)]
mod tests;
