//! How good a plan is, for comparing the planner with the baseline on the corpus.
//!
//! `on_time`: the priority weights (urgent 8, high 4, medium 2, low 1) of the tasks placed in full
//! with every chunk ending by their deadline (tasks without a deadline today count when placed).
//! `peak_minutes`: minutes of urgent and high work inside peak hours. `total` = 60 * on_time +
//! peak_minutes: an hour of important work in peak hours is worth one low task done.

use super::prepare::Prepared;
use super::solver::inside;
use super::{Plan, PlanInput};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Score {
    pub on_time: i64,
    pub peak_minutes: i64,
    pub total: i64,
}

pub fn weight(rank: u8) -> i64 {
    1 << rank
}

pub fn score(input: &PlanInput, plan: &Plan) -> Score {
    let p = Prepared::new(input);
    let mut score = Score::default();
    for (i, task) in input.tasks.iter().enumerate() {
        let blocks: Vec<_> = plan.blocks.iter().filter(|b| b.task_id == task.id).collect();
        if blocks.is_empty() {
            continue;
        }
        let facts = &p.tasks[i];
        let spans: Vec<(i64, i64)> =
            blocks.iter().map(|b| (p.day.minute_floor(b.start), p.day.minute_ceil(b.end))).collect();
        let minutes: i64 = spans.iter().map(|s| s.1 - s.0).sum();
        let full = facts.estimate.is_none_or(|e| minutes >= e) || !facts.pinned.is_empty();
        if full && spans.iter().all(|s| s.1 <= facts.deadline) {
            score.on_time += weight(facts.rank);
        }
        if facts.rank >= 2 {
            score.peak_minutes += spans.iter().filter(|s| inside(&p.peak, s.0, s.1)).map(|s| s.1 - s.0).sum::<i64>();
        }
    }
    score.total = 60 * score.on_time + score.peak_minutes;
    score
}
