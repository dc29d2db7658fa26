//! What each tier may hold: the one table of limits. Tasks, templates and, later, billing, AI and
//! teams read their limits here and nowhere else.

use super::account::Tier;
use super::task::{Status, Task};

/// The limits of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// The tier these are the limits of.
    pub tier: Tier,
    /// Open top-level tasks (subtasks have their own limit per parent).
    pub open_tasks: u64,
    pub subtasks_per_task: u64,
    pub templates: u64,
    /// Notes on one task.
    pub notes_per_task: u64,
    /// Attachments on one task.
    pub attachments_per_task: u64,
    /// Attachments of the user across all tasks (trashed ones count until purged).
    pub attachments: u64,
    /// Bytes of all the user's attachments together.
    pub attachment_bytes: u64,
    /// Own calendar events (synced ones do not count).
    pub events: u64,
    /// Authenticated API requests per user and minute (the default of the rate-limit budget;
    /// `RATE_LIMIT_<TIER>_PER_MINUTE` overrides it).
    pub requests_per_minute: u32,
    /// AI jobs a user may start per hour.
    pub ai_requests_per_hour: u32,
    /// AI credits set each day (at midnight in the user's zone, lazily on first use).
    pub daily_credits: u64,
    /// AI credits granted per month of a paid subscription, on each paid invoice.
    pub subscription_credits_per_month: u64,
}

pub fn limits(tier: Tier) -> PlanLimits {
    const MB: u64 = 1024 * 1024;
    // What every tier shares: per-task caps keep one task's page and its duplicate bounded.
    let base = PlanLimits {
        tier,
        open_tasks: 10_000,
        subtasks_per_task: 50,
        templates: 100,
        notes_per_task: 100,
        attachments_per_task: 20,
        attachments: 5_000,
        attachment_bytes: 10 * 1024 * MB,
        events: 20_000,
        requests_per_minute: 600,
        ai_requests_per_hour: 60,
        daily_credits: 10,
        subscription_credits_per_month: 300,
    };
    match tier {
        Tier::Free => PlanLimits {
            open_tasks: 50,
            subtasks_per_task: 10,
            attachments: 100,
            attachment_bytes: 250 * MB,
            events: 1_000,
            requests_per_minute: 120,
            ai_requests_per_hour: 10,
            daily_credits: 3,
            subscription_credits_per_month: 0,
            ..base
        },
        Tier::Pro => base,
        Tier::Team => PlanLimits {
            attachments: 20_000,
            attachment_bytes: 50 * 1024 * MB,
            requests_per_minute: 1_200,
            ai_requests_per_hour: 120,
            subscription_credits_per_month: 500,
            ..base
        },
    }
}

/// One limit of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    OpenTasks,
    SubtasksPerTask,
    Templates,
    NotesPerTask,
    AttachmentsPerTask,
    Attachments,
    AttachmentBytes,
    Events,
}

impl Limit {
    /// The name clients see in a `limit_reached` problem.
    pub fn name(self) -> &'static str {
        match self {
            Limit::OpenTasks => "open_tasks",
            Limit::SubtasksPerTask => "subtasks_per_task",
            Limit::Templates => "templates",
            Limit::NotesPerTask => "notes_per_task",
            Limit::AttachmentsPerTask => "attachments_per_task",
            Limit::Attachments => "attachments",
            Limit::AttachmentBytes => "attachment_bytes",
            Limit::Events => "events",
        }
    }

    pub fn allowed(self, limits: PlanLimits) -> u64 {
        match self {
            Limit::OpenTasks => limits.open_tasks,
            Limit::SubtasksPerTask => limits.subtasks_per_task,
            Limit::Templates => limits.templates,
            Limit::NotesPerTask => limits.notes_per_task,
            Limit::AttachmentsPerTask => limits.attachments_per_task,
            Limit::Attachments => limits.attachments,
            Limit::AttachmentBytes => limits.attachment_bytes,
            Limit::Events => limits.events,
        }
    }

    /// The lowest tier above `tier` whose plan lifts this limit, if any does.
    pub fn lifted_by(self, tier: Tier) -> Option<Tier> {
        let allowed = self.allowed(limits(tier));
        [Tier::Pro, Tier::Team].into_iter().find(|higher| *higher > tier && self.allowed(limits(*higher)) > allowed)
    }

    /// What the person can do about it.
    pub fn advice(self) -> &'static str {
        match self {
            Limit::OpenTasks => "complete, archive or delete some, or upgrade",
            Limit::SubtasksPerTask => "delete some, or upgrade",
            Limit::Templates | Limit::NotesPerTask | Limit::AttachmentsPerTask => "delete some first",
            Limit::Attachments | Limit::AttachmentBytes => "delete some attachments, or upgrade",
            Limit::Events => "delete some events, or upgrade",
        }
    }
}

/// A write refused because it would go past a limit: which one, how many the plan allows, and
/// the tier that would allow more (None when no plan does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitReached {
    pub limit: Limit,
    pub allowed: u64,
    pub lifted_by: Option<Tier>,
}

impl LimitReached {
    pub fn of(limit: Limit, limits: PlanLimits) -> Self {
        LimitReached { limit, allowed: limit.allowed(limits), lifted_by: limit.lifted_by(limits.tier) }
    }

    pub fn detail(self) -> String {
        let what = match self.limit {
            Limit::OpenTasks => format!("open tasks: your plan allows {}", self.allowed),
            Limit::SubtasksPerTask => format!("subtasks: your plan allows {} per task", self.allowed),
            Limit::Templates => format!("templates: you can keep at most {}", self.allowed),
            Limit::NotesPerTask => format!("notes: a task can have at most {}", self.allowed),
            Limit::AttachmentsPerTask => format!("attachments: a task can have at most {}", self.allowed),
            Limit::Attachments => format!("attachments: your plan allows {} in all", self.allowed),
            Limit::Events => format!("calendar events: your plan allows {}", self.allowed),
            Limit::AttachmentBytes => {
                format!("attachment storage: your plan allows {} MB in all", self.allowed / (1024 * 1024))
            }
        };
        format!("{what}; {}", self.limit.advice())
    }
}

/// How much a task counts against the open-task limit: top-level, open and not archived.
pub fn open_count(task: &Task) -> i64 {
    i64::from(task.parent_id.is_none() && task.status.is_open() && !task.archived)
}

/// Whether moving `before` to `after` can add to the open-task count (so the tier must be known):
/// reopening a top-level task, or reopening a subtask whose parent was completed with it.
pub fn may_raise_open_count(before: &Task, after: &Task) -> bool {
    open_count(after) > open_count(before)
        || (after.parent_id.is_some() && before.status == Status::Done && after.status != Status::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_tiers_lift_the_task_limits() {
        let free = limits(Tier::Free);
        for tier in [Tier::Pro, Tier::Team] {
            assert!(limits(tier).open_tasks > free.open_tasks);
            assert!(limits(tier).subtasks_per_task > free.subtasks_per_task);
            assert!(limits(tier).requests_per_minute > free.requests_per_minute);
            assert!(limits(tier).attachments > free.attachments);
            assert!(limits(tier).attachment_bytes > free.attachment_bytes);
        }
    }

    #[test]
    fn a_reached_limit_says_how_many_the_plan_allows() {
        let reached = LimitReached::of(Limit::OpenTasks, limits(Tier::Free));
        assert_eq!(reached.allowed, 50);
        assert!(reached.detail().contains("50"), "{}", reached.detail());
        let storage = LimitReached::of(Limit::AttachmentBytes, limits(Tier::Free));
        assert!(storage.detail().contains("250 MB"), "{}", storage.detail());
        assert_eq!(reached.lifted_by, Some(Tier::Pro));
        assert_eq!(LimitReached::of(Limit::Templates, limits(Tier::Free)).lifted_by, None);
        assert_eq!(LimitReached::of(Limit::Attachments, limits(Tier::Pro)).lifted_by, Some(Tier::Team));
    }
}
