//! The input turned into minutes of the day: free time, deadlines, dependencies, pinned blocks.
//! Shared by the solver, the baseline and the checker so they agree on what the rules mean.

use std::collections::BTreeMap;

use chrono::Datelike;

use super::day::{Day, Span, intersect, merge, subtract};
use super::engine::{Board, Placed, Rules};
use super::{Due, Interval, PlanInput, rank};

/// "No deadline today": later than any minute of the day.
pub const NO_DEADLINE: i64 = i64::MAX / 4;

pub struct Prepared<'a> {
    pub input: &'a PlanInput,
    pub day: Day,
    pub rules: Rules,
    pub now: i64,
    /// Working time of the day.
    pub working: Vec<Span>,
    /// Working time after now, minus busy time widened by the buffer.
    pub free: Vec<Span>,
    /// The part of `free` in peak hours.
    pub peak_free: Vec<Span>,
    pub peak: Vec<Span>,
    /// Busy time in minutes (not widened).
    pub busy: Vec<Span>,
    pub tasks: Vec<TaskFacts>,
    /// The pinned blocks of the day.
    pub pinned: Board,
}

pub struct TaskFacts {
    pub estimate: Option<i64>,
    /// Minutes into the day by which every chunk must end.
    pub deadline: i64,
    pub preds: Vec<usize>,
    pub rank: u8,
    pub pinned: Vec<Span>,
    /// Pinned blocks exist, none of them today: scheduled elsewhere, not considered.
    pub pinned_elsewhere: bool,
    pub accepted: Vec<Span>,
}

impl<'a> Prepared<'a> {
    pub fn new(input: &'a PlanInput) -> Prepared<'a> {
        let day = Day::new(input.date, input.tz);
        let rules = Rules::new(&input.settings);
        let now = day.minute_ceil(input.now).max(0);
        let working = day.spans(input.settings.working_hours.day(input.date.weekday()));
        let open = intersect(&working, &[Span { start: now, end: day.minutes }]);
        let busy = minute_spans(&day, &input.busy, 0);
        let widened = minute_spans(&day, &input.busy, rules.buffer);
        let free = subtract(&open, &widened);
        let peak = day.spans(&input.settings.peak_hours);
        let peak_free = intersect(&free, &peak);
        let ids: BTreeMap<&str, usize> =
            input.tasks.iter().enumerate().rev().map(|(i, task)| (task.id.as_str(), i)).collect();
        let mut pinned = Board::new(rules);
        let tasks: Vec<TaskFacts> = input
            .tasks
            .iter()
            .enumerate()
            .map(|(i, task)| {
                let today = |blocks: &[Interval]| -> Vec<Span> {
                    blocks.iter().map(|b| span(&day, b)).filter(|s| s.start < day.minutes && s.end > 0).collect()
                };
                let pinned_today = today(&task.pinned);
                for s in &pinned_today {
                    pinned.add(Placed { start: s.start, end: s.end, task: i });
                }
                let estimate = task.estimate_minutes.or(input.settings.default_estimate_minutes).map(i64::from);
                TaskFacts {
                    estimate: estimate.filter(|&e| e > 0),
                    deadline: deadline(&day, task.due),
                    preds: task
                        .after
                        .iter()
                        .filter_map(|id| ids.get(id.as_str()).copied())
                        .filter(|&p| p != i)
                        .collect(),
                    rank: rank(task.priority),
                    pinned_elsewhere: !task.pinned.is_empty() && pinned_today.is_empty(),
                    pinned: pinned_today,
                    accepted: today(&task.accepted),
                }
            })
            .collect();
        Prepared { input, day, rules, now, working, free, peak_free, peak, busy, tasks, pinned }
    }

    /// Tasks considered for the day, dependencies first, then by inherited priority (high first),
    /// inherited deadline, estimate (shortest first) and id; tasks on a dependency cycle come last.
    pub fn order(&self) -> (Vec<usize>, Vec<bool>) {
        let n = self.tasks.len();
        let considered: Vec<bool> = self.tasks.iter().map(|t| !t.pinned_elsewhere).collect();
        let mut rank: Vec<u8> = self.tasks.iter().map(|t| t.rank).collect();
        let mut deadline: Vec<i64> = self.tasks.iter().map(|t| t.deadline).collect();
        // A task inherits from what waits on it; n rounds settle any acyclic chain.
        for _ in 0..n {
            let mut changed = false;
            for (i, task) in self.tasks.iter().enumerate() {
                let needs = task.estimate.unwrap_or(0);
                for &p in &task.preds {
                    if rank[i] > rank[p] {
                        rank[p] = rank[i];
                        changed = true;
                    }
                    if deadline[i] - needs < deadline[p] && deadline[i] < NO_DEADLINE {
                        deadline[p] = deadline[i] - needs;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut waiting: Vec<usize> = self.tasks.iter().map(|t| t.preds.len()).collect();
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, task) in self.tasks.iter().enumerate() {
            for &p in &task.preds {
                next[p].push(i);
            }
        }
        // Among equals the shorter task first: more of them fit.
        let key = |i: usize| {
            let estimate = self.tasks[i].estimate.unwrap_or(0);
            (std::cmp::Reverse(rank[i]), deadline[i], estimate, self.input.tasks[i].id.as_str(), i)
        };
        let mut ready: std::collections::BTreeSet<_> = (0..n).filter(|&i| waiting[i] == 0).map(key).collect();
        let mut order = Vec::with_capacity(n);
        let mut cyclic = vec![true; n];
        while let Some(first) = ready.pop_first() {
            let i = first.4;
            cyclic[i] = false;
            order.push(i);
            for &j in &next[i] {
                waiting[j] -= 1;
                if waiting[j] == 0 {
                    ready.insert(key(j));
                }
            }
        }
        order.extend((0..n).filter(|&i| cyclic[i]));
        order.retain(|&i| considered[i]);
        (order, cyclic)
    }

    pub fn id(&self, task: usize) -> &str {
        &self.input.tasks[task].id
    }

    /// A minute of the day as local `HH:MM`, for details.
    pub fn clock(&self, minute: i64) -> String {
        self.day.instant(minute).with_timezone(&self.day.tz).format("%H:%M").to_string()
    }
}

fn span(day: &Day, interval: &Interval) -> Span {
    Span { start: day.minute_floor(interval.start), end: day.minute_ceil(interval.end) }
}

fn minute_spans(day: &Day, intervals: &[Interval], widen: i64) -> Vec<Span> {
    let mut spans: Vec<Span> = intervals
        .iter()
        .map(|i| span(day, i))
        .filter(|s| s.start < s.end)
        .map(|s| Span { start: s.start - widen, end: s.end + widen })
        .collect();
    spans.sort();
    merge(spans)
}

fn deadline(day: &Day, due: Option<Due>) -> i64 {
    match due {
        None => NO_DEADLINE,
        Some(Due::At(at)) => {
            let minute = day.minute_floor(at);
            if minute >= day.minutes { NO_DEADLINE } else { minute }
        }
        Some(Due::On(date)) if date == day.date => day.minutes,
        Some(Due::On(date)) if date > day.date => NO_DEADLINE,
        Some(Due::On(_)) => -1,
    }
}
