//! The guarantees as a checker: every rule a plan must keep, for the tests, the corpus report, and
//! for a caller that wants to re-check a plan before accepting it.

use std::collections::BTreeMap;

use super::PlanInput;
use super::day::Span;
use super::prepare::Prepared;
use super::solver::inside;
use super::{Plan, Reason};

/// Every broken rule, as `"rule: what"`; empty when the plan keeps them all. Pinned blocks are the
/// user's and exempt, except that they count as busy time and toward the focus cap.
pub fn violations(input: &PlanInput, plan: &Plan) -> Vec<String> {
    let p = Prepared::new(input);
    let r = p.rules;
    let mut found = Vec::new();
    let minutes = |b: &super::Block| Span { start: p.day.minute_floor(b.start), end: p.day.minute_ceil(b.end) };
    let blocks: Vec<(Span, bool, usize)> = plan
        .blocks
        .iter()
        .map(|b| {
            let task = input.tasks.iter().position(|t| t.id == b.task_id).unwrap_or(usize::MAX);
            (minutes(b), b.reasons.contains(&Reason::Pinned), task)
        })
        .collect();
    if plan.blocks.windows(2).any(|w| w[0].start > w[1].start) {
        found.push("order: blocks not sorted by start".to_owned());
    }
    // Every considered task is placed or explained, once.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for u in &plan.unplaced {
        *seen.entry(u.task_id.as_str()).or_default() += 1;
        if plan.blocks.iter().any(|b| b.task_id == u.task_id) {
            found.push(format!("explained: {} both placed and unplaced", u.task_id));
        }
    }
    for (i, task) in input.tasks.iter().enumerate() {
        let placed = plan.blocks.iter().any(|b| b.task_id == task.id);
        let unplaced = seen.get(task.id.as_str()).copied().unwrap_or(0);
        if !p.tasks[i].pinned_elsewhere && !placed && unplaced != 1 {
            found.push(format!("explained: {} placed nowhere and unplaced {unplaced} times", task.id));
        }
    }
    // Blocked means a predecessor is not placed; any other code means all of them are.
    let placed_ids: std::collections::BTreeSet<&str> = plan.blocks.iter().map(|b| b.task_id.as_str()).collect();
    for u in &plan.unplaced {
        let Some(t) = input.tasks.iter().position(|t| t.id == u.task_id) else { continue };
        let all_placed = p.tasks[t].preds.iter().all(|&q| placed_ids.contains(input.tasks[q].id.as_str()));
        let blocked = u.code == super::UnplacedCode::BlockedByDependency;
        let fundamental = matches!(u.code, super::UnplacedCode::NoEstimate | super::UnplacedCode::DeadlinePassed);
        if blocked == all_placed && !fundamental {
            found.push(format!("explained: {} is {:?} but its predecessors placed: {all_placed}", u.task_id, u.code));
        }
    }
    let mut per_task: BTreeMap<usize, Vec<Span>> = BTreeMap::new();
    for (k, &(s, pinned, t)) in blocks.iter().enumerate() {
        if t == usize::MAX {
            found.push(format!("explained: block of unknown task {}", plan.blocks[k].task_id));
            continue;
        }
        if pinned {
            continue;
        }
        per_task.entry(t).or_default().push(s);
        let id = &input.tasks[t].id;
        if s.start < p.now || !inside(&p.working, s.start, s.end) {
            found.push(format!("hours: {id} at {}..{} outside working hours or before now", s.start, s.end));
        }
        if p.busy.iter().any(|b| s.start < b.end + r.buffer && b.start < s.end + r.buffer) {
            found.push(format!("busy: {id} at {}..{} within the buffer of busy time", s.start, s.end));
        }
        for (j, (other, _, _)) in blocks.iter().enumerate() {
            if j != k && s.start < other.end + r.buffer && other.start < s.end + r.buffer {
                found.push(format!("overlap: {id} at {}..{} within the buffer of another block", s.start, s.end));
            }
        }
        if s.end > p.tasks[t].deadline {
            found.push(format!("deadline: {id} ends at {} after its deadline {}", s.end, p.tasks[t].deadline));
        }
        for &q in &p.tasks[t].preds {
            let before = blocks.iter().filter(|o| o.2 == q).map(|o| o.0.end).max();
            if before.is_none_or(|end| end > s.start) {
                found.push(format!("after: {id} starts before its predecessor {} ends", input.tasks[q].id));
            }
        }
    }
    for (&t, spans) in &per_task {
        let id = &input.tasks[t].id;
        let total: i64 = spans.iter().map(|s| s.len()).sum();
        if Some(total) != p.tasks[t].estimate {
            found.push(format!("chunks: {id} placed {total} min of {:?}", p.tasks[t].estimate));
        }
        for s in spans {
            let short_alone = spans.len() == 1 && s.len() < r.min_chunk;
            if s.len() > r.max_chunk || (s.len() < r.min_chunk && !short_alone) {
                found.push(format!("chunks: {id} has a {} min chunk", s.len()));
            }
        }
    }
    let focus: i64 = blocks.iter().map(|b| b.0.len()).sum();
    let pinned: i64 = blocks.iter().filter(|b| b.1).map(|b| b.0.len()).sum();
    if focus > r.focus_cap.max(pinned) {
        found.push(format!("focus: {focus} min placed, cap {}", r.focus_cap));
    }
    // Runs: blocks less than a break apart. A run with a planned block stays within the limit.
    let mut sorted: Vec<&(Span, bool, usize)> = blocks.iter().collect();
    sorted.sort_by_key(|b| b.0);
    let never = -(1i64 << 40);
    let mut run = (0i64, false, never);
    for b in sorted {
        if b.0.start - run.2 >= r.break_len {
            run = (0, false, never);
        }
        run = (run.0 + b.0.len(), run.1 || !b.1, run.2.max(b.0.end));
        if run.1 && run.0 > r.break_after {
            found.push(format!("break: {} min of focus in a row, limit {}", run.0, r.break_after));
        }
    }
    found
}
