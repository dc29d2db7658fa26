//! The planner, the greedy baseline it is measured against, and the output they share.

use super::day::Span;
use super::engine::{Board, Placed};
use super::prepare::{NO_DEADLINE, Prepared};
use super::{Block, Chunk, Plan, PlanInput, Reason, Unplaced, UnplacedCode};

/// What became of one task.
#[derive(Debug, Clone)]
enum Fate {
    NotConsidered,
    Pinned,
    Kept,
    Planned,
    Unplaced(UnplacedCode, String),
}

/// Plans the day. Deterministic: the same input gives the same plan.
pub fn plan(input: &PlanInput) -> Plan {
    let p = Prepared::new(input);
    let (order, cyclic) = p.order();
    let mut fate = vec![Fate::NotConsidered; p.tasks.len()];
    let mut fixed = p.pinned.clone();
    for &t in &order {
        if !p.tasks[t].pinned.is_empty() {
            fate[t] = Fate::Pinned;
        }
    }
    keep_accepted(&p, &order, &mut fate, &mut fixed);

    let (layout, selected) = select(&p, &order, &cyclic, &fixed, &mut fate);
    let mut layout = into_peak_hours(&p, &fixed, &selected, layout);
    // Each step below only ever moves one task or swaps one pair; repeat while one of them helps.
    for _ in 0..4 {
        let filled = fill_gaps(&p, &order, &fixed, &mut fate, &mut layout);
        let swapped = swap_for_more_important(&p, &order, &mut fate, &mut layout);
        let moved = move_into_peak_hours(&p, &order, &fate, &mut layout);
        if !(filled || swapped || moved) {
            break;
        }
    }
    relabel_blocked(&p, &fixed, &layout, &mut fate);
    output(&p, &layout, &fate, &order)
}

/// Takes tasks in planning order and keeps each one that fits with those kept before it: first
/// added where it fits as things are, else with everything laid out again earliest-deadline-first.
fn select(p: &Prepared, order: &[usize], cyclic: &[bool], fixed: &Board, fate: &mut [Fate]) -> (Board, Vec<usize>) {
    let mut layout = fixed.clone();
    let mut selected: Vec<usize> = Vec::new();
    // (estimate, deadline) of tasks that did not fit: a task needing as much by as early a deadline
    // cannot fit either, since the set it is tried with only grows.
    let mut misses: Vec<(i64, i64)> = Vec::new();
    for &t in order {
        if !matches!(fate[t], Fate::NotConsidered) {
            continue;
        }
        if let Some(refusal) = refuse_early(p, t, fate, cyclic[t]) {
            fate[t] = refusal;
            continue;
        }
        let facts = &p.tasks[t];
        let estimate = facts.estimate.unwrap_or(0);
        let focus_left = p.rules.focus_cap - layout.focus;
        if estimate > focus_left {
            let detail = format!("needs {estimate} min; {} min of focus time left today", focus_left.max(0));
            fate[t] = Fate::Unplaced(UnplacedCode::ExceedsFocusCap, detail);
            continue;
        }
        let plain = facts.preds.is_empty();
        let class = |e: i64| e >= 2 * p.rules.min_chunk;
        let known_miss =
            plain && misses.iter().any(|&(e, d)| estimate >= e && facts.deadline <= d && class(e) == class(estimate));
        if !known_miss {
            if let Ok(next) = edf(p, layout.clone(), &p.free, &[t]) {
                layout = next;
                selected.push(t);
                fate[t] = Fate::Planned;
                continue;
            }
            let mut jobs = selected.clone();
            jobs.push(t);
            if let Ok(next) = edf(p, fixed.clone(), &p.free, &jobs) {
                layout = next;
                selected.push(t);
                fate[t] = Fate::Planned;
                continue;
            }
            if plain {
                misses.push((estimate, facts.deadline));
            }
        }
        fate[t] = diagnose(p, t, fixed, &layout, &selected);
    }
    (layout, selected)
}

/// Swaps and fills change who is placed after codes were given: a task whose predecessor ended up
/// left out is blocked by it; one whose predecessors all ended up placed gets its own reason.
fn relabel_blocked(p: &Prepared, fixed: &Board, layout: &Board, fate: &mut [Fate]) {
    let planned: Vec<usize> = (0..fate.len()).filter(|&x| matches!(fate[x], Fate::Planned)).collect();
    for t in 0..fate.len() {
        let Fate::Unplaced(code, _) = fate[t] else { continue };
        if matches!(code, UnplacedCode::NoEstimate | UnplacedCode::DeadlinePassed) {
            continue;
        }
        let placed = |q: &usize| matches!(fate[*q], Fate::Pinned | Fate::Kept | Fate::Planned);
        if code == UnplacedCode::BlockedByDependency {
            // Its predecessors came in last: say why it still does not fit.
            if p.tasks[t].preds.iter().all(placed) {
                fate[t] = diagnose(p, t, fixed, layout, &planned);
            }
            continue;
        }
        let missing = p.tasks[t].preds.iter().find(|&&q| matches!(fate[q], Fate::Unplaced(..)));
        if let Some(&q) = missing {
            let detail = format!("waits on task {} which is not planned today", p.id(q));
            fate[t] = Fate::Unplaced(UnplacedCode::BlockedByDependency, detail);
        }
    }
}

/// Moving work into peak hours can free gaps elsewhere: offer them, most important first, to the
/// tasks that did not fit, without moving anything already placed.
fn fill_gaps(p: &Prepared, order: &[usize], fixed: &Board, fate: &mut [Fate], layout: &mut Board) -> bool {
    let mut changed = false;
    for &t in order {
        let placed = |q: &usize| matches!(fate[*q], Fate::Pinned | Fate::Kept | Fate::Planned);
        let retry = match fate[t] {
            Fate::Unplaced(UnplacedCode::LowerPriorityThanPlaced | UnplacedCode::NoFreeSlotBeforeDeadline, _) => true,
            // Its predecessors came in by a swap or a fill since.
            Fate::Unplaced(UnplacedCode::BlockedByDependency, _) => p.tasks[t].preds.iter().all(placed),
            _ => false,
        };
        if retry && p.tasks[t].estimate.is_some_and(|e| e <= p.rules.focus_cap - layout.focus) {
            if let Ok(next) = edf(p, layout.clone(), &p.free, &[t]) {
                *layout = next;
                fate[t] = Fate::Planned;
                changed = true;
            } else if matches!(fate[t], Fate::Unplaced(UnplacedCode::BlockedByDependency, _)) {
                let planned: Vec<usize> = (0..fate.len()).filter(|&x| matches!(fate[x], Fate::Planned)).collect();
                fate[t] = diagnose(p, t, fixed, layout, &planned);
            }
        }
    }
    changed
}

/// Whether nothing else hangs on the task: it can be moved or dropped alone.
fn loose(p: &Prepared, fate: &[Fate], t: usize) -> bool {
    matches!(fate[t], Fate::Planned)
        && p.tasks[t].preds.is_empty()
        && !p.tasks.iter().enumerate().any(|(x, f)| f.preds.contains(&t) && !matches!(fate[x], Fate::Unplaced(..)))
}

/// A task left out takes the place of a less important one when it fits there; the less important
/// one comes back if it still fits elsewhere.
fn swap_for_more_important(p: &Prepared, order: &[usize], fate: &mut [Fate], layout: &mut Board) -> bool {
    let mut changed = false;
    for &high in order {
        let Fate::Unplaced(code, _) = fate[high] else { continue };
        let capacity = matches!(
            code,
            UnplacedCode::LowerPriorityThanPlaced
                | UnplacedCode::NoFreeSlotBeforeDeadline
                | UnplacedCode::ExceedsFocusCap
                | UnplacedCode::ChunkTooSmall
        );
        if !capacity {
            continue;
        }
        // Least important first, the latest in planning order first among equals.
        let lows = order.iter().rev().copied().filter(|&l| p.tasks[l].rank < p.tasks[high].rank && loose(p, fate, l));
        let mut lows: Vec<usize> = lows.collect();
        lows.sort_by_key(|&l| p.tasks[l].rank);
        for low in lows {
            let Ok(next) = edf(p, layout.without(low), &p.free, &[high]) else { continue };
            *layout = next;
            fate[high] = Fate::Planned;
            changed = true;
            if let Ok(back) = edf(p, layout.clone(), &p.free, &[low]) {
                *layout = back;
            } else {
                let detail = format!("its time went to the more important task {}", p.id(high));
                fate[low] = Fate::Unplaced(UnplacedCode::LowerPriorityThanPlaced, detail);
            }
            break;
        }
    }
    changed
}

/// Moves an urgent or high task alone into peak hours when it fits there as things stand.
fn move_into_peak_hours(p: &Prepared, order: &[usize], fate: &[Fate], layout: &mut Board) -> bool {
    let mut changed = false;
    for &t in order {
        if p.tasks[t].rank < 2 || !loose(p, fate, t) || in_peak(p, layout, t) {
            continue;
        }
        if let Ok(moved) = edf(p, layout.without(t), &p.peak_free, &[t]) {
            *layout = moved;
            changed = true;
        }
    }
    changed
}

/// Tasks that cannot be planned whatever else is on the day.
fn refuse_early(p: &Prepared, t: usize, fate: &[Fate], cyclic: bool) -> Option<Fate> {
    let facts = &p.tasks[t];
    if facts.estimate.is_none() {
        return Some(Fate::Unplaced(UnplacedCode::NoEstimate, "no estimate and no default estimate set".into()));
    }
    if facts.deadline <= p.now {
        let detail = format!("was due before now ({})", p.clock(p.now));
        return Some(Fate::Unplaced(UnplacedCode::DeadlinePassed, detail));
    }
    let blocker = facts.preds.iter().find(|&&q| !matches!(fate[q], Fate::Pinned | Fate::Kept | Fate::Planned));
    if cyclic || blocker.is_some() {
        let detail = match blocker {
            Some(&q) if !cyclic => format!("waits on task {} which is not planned today", p.id(q)),
            _ => "its dependencies form a cycle".to_owned(),
        };
        return Some(Fate::Unplaced(UnplacedCode::BlockedByDependency, detail));
    }
    None
}

/// Why a task that passed the early checks did not fit.
fn diagnose(p: &Prepared, t: usize, fixed: &Board, layout: &Board, selected: &[usize]) -> Fate {
    let facts = &p.tasks[t];
    // Alone, but after what it waits on.
    let before: Vec<Placed> =
        layout.blocks.iter().copied().filter(|b| facts.preds.contains(&b.task) && !fixed.blocks.contains(b)).collect();
    let mut fixed = fixed.clone();
    for b in before {
        fixed.add(b);
    }
    let fixed = &fixed;
    let estimate = facts.estimate.unwrap_or(0);
    let by = match facts.deadline {
        d if d >= p.day.minutes => "today".to_owned(),
        d => format!("before {}", p.clock(d)),
    };
    if edf(p, fixed.clone(), &p.free, &[t]).is_err() {
        let focus_left = p.rules.focus_cap - fixed.focus;
        let (code, detail) = if p.free.is_empty() {
            (UnplacedCode::OutsideWorkingHours, "no working hours left today outside busy time".to_owned())
        } else if focus_left < p.rules.min_len(estimate) {
            let detail = format!("needs {estimate} min; {} min of focus time left today", focus_left.max(0));
            (UnplacedCode::ExceedsFocusCap, detail)
        } else if fixed.earliest(&p.free, 0, p.rules.min_len(estimate), 1).is_none() {
            let detail = format!("every free gap left today is shorter than {} min", p.rules.min_len(estimate));
            (UnplacedCode::ChunkTooSmall, detail)
        } else {
            let free = free_before(p, facts.deadline);
            let detail = if free >= estimate {
                format!("needs {estimate} min {by}; the {free} min still free then are in gaps too short for it")
            } else {
                format!("needs {estimate} min {by}; only {free} min of working time free then")
            };
            (UnplacedCode::NoFreeSlotBeforeDeadline, detail)
        };
        return Fate::Unplaced(code, detail);
    }
    let higher = selected.iter().filter(|&&s| p.tasks[s].rank > facts.rank).count();
    if higher > 0 {
        let detail = format!("needs {estimate} min {by}; that time went to {higher} more important task(s)");
        return Fate::Unplaced(UnplacedCode::LowerPriorityThanPlaced, detail);
    }
    let detail = format!("needs {estimate} min {by}; that time went to tasks due earlier or as important");
    Fate::Unplaced(UnplacedCode::NoFreeSlotBeforeDeadline, detail)
}

fn free_before(p: &Prepared, deadline: i64) -> i64 {
    p.free.iter().map(|s| (s.end.min(deadline) - s.start).max(0)).sum()
}

/// Accepted blocks are kept, a task's all together, when they still obey every rule with what is
/// already on the board: otherwise the task is planned afresh.
fn keep_accepted(p: &Prepared, order: &[usize], fate: &mut [Fate], fixed: &mut Board) {
    for &t in order {
        let facts = &p.tasks[t];
        if !matches!(fate[t], Fate::NotConsidered) || facts.accepted.is_empty() {
            continue;
        }
        let mut blocks = facts.accepted.clone();
        blocks.sort();
        let minutes: i64 = blocks.iter().map(|b| b.len()).sum();
        let preds_end = facts.preds.iter().try_fold(i64::MIN, |end, &q| {
            matches!(fate[q], Fate::Pinned | Fate::Kept).then(|| end.max(last_end(fixed, q)))
        });
        let (Some(estimate), Some(preds_end)) = (facts.estimate, preds_end) else { continue };
        if minutes != estimate || blocks[0].start < preds_end || blocks.last().unwrap().end > facts.deadline {
            continue;
        }
        let mut trial = fixed.clone();
        let fits = blocks.iter().all(|b| {
            let len = b.len();
            let lengths_ok = (len >= p.rules.min_chunk || blocks.len() == 1) && len <= p.rules.max_chunk;
            let placed = lengths_ok
                && trial
                    .earliest(&p.free, b.start, p.rules.min_len(len), 1)
                    .is_some_and(|(s, room)| s == b.start && room >= len);
            if placed {
                trial.add(Placed { start: b.start, end: b.end, task: t });
            }
            placed
        });
        if fits {
            *fixed = trial;
            fate[t] = Fate::Kept;
        }
    }
}

fn last_end(board: &Board, task: usize) -> i64 {
    board.blocks.iter().filter(|b| b.task == task).map(|b| b.end).max().unwrap_or(i64::MIN)
}

/// Lays out `jobs` on `board` earliest-deadline-first: at each step the chunk that can start
/// earliest, ties to the earliest deadline, then priority, then id. `Err` names a job that missed its
/// deadline or found no room.
fn edf(p: &Prepared, mut board: Board, free: &[Span], jobs: &[usize]) -> Result<Board, usize> {
    let mut remaining: Vec<i64> = jobs
        .iter()
        .map(|&t| {
            let done: i64 = board.blocks.iter().filter(|b| b.task == t).map(|b| b.end - b.start).sum();
            p.tasks[t].estimate.unwrap_or(0) - done
        })
        .collect();
    let mut cursor = p.now;
    loop {
        // (start, deadline, 3 - rank, id) of the best chunk so far, its job and its room.
        type Pick<'a> = ((i64, i64, u8, &'a str), usize, i64);
        let mut best: Option<Pick> = None;
        let mut waiting = None;
        for (j, &t) in jobs.iter().enumerate() {
            if remaining[j] <= 0 {
                continue;
            }
            waiting = Some(t);
            let facts = &p.tasks[t];
            let mut release = cursor;
            let mut ready = true;
            for &q in &facts.preds {
                let end = last_end(&board, q);
                match jobs.iter().position(|&x| x == q) {
                    Some(k) if remaining[k] > 0 => ready = false,
                    // A predecessor neither laid out here nor on the board: not yet.
                    None if end == i64::MIN => ready = false,
                    _ => release = release.max(end),
                }
            }
            if !ready {
                continue;
            }
            let (start, room) =
                board.earliest(free, release, p.rules.min_len(remaining[j]), p.rules.want(remaining[j])).ok_or(t)?;
            let key = (start, facts.deadline, 3 - facts.rank, p.id(t));
            if best.as_ref().is_none_or(|(k, _, _)| key < *k) {
                best = Some((key, j, room));
            }
        }
        let Some(((start, deadline, _, _), j, room)) = best else {
            return match waiting {
                Some(t) => Err(t),
                None => Ok(board),
            };
        };
        let t = jobs[j];
        let len = p.rules.chunk_len(remaining[j], room).ok_or(t)?;
        if start + len > deadline {
            return Err(t);
        }
        board.add(Placed { start, end: start + len, task: t });
        remaining[j] -= len;
        cursor = start + len;
    }
}

/// Moves urgent and high tasks, most important first, wholly into peak hours: alone when the rest
/// can stay where it is, else with the rest laid out again around them, as long as everything still
/// fits. A second round catches room freed by later moves.
/// `anchored` always holds a subset of `best`'s blocks: the fixed ones and those moved so far.
fn into_peak_hours(p: &Prepared, fixed: &Board, selected: &[usize], layout: Board) -> Board {
    if p.peak_free.is_empty() {
        return layout;
    }
    let mut best = layout;
    let mut anchored = fixed.clone();
    let mut rest: Vec<usize> = selected.to_vec();
    let mut important: Vec<usize> = selected.iter().copied().filter(|&t| p.tasks[t].rank >= 2).collect();
    important.sort_by_key(|&t| (3 - p.tasks[t].rank, p.tasks[t].deadline, p.id(t).to_owned()));
    for _round in 0..2 {
        for &t in &important {
            // Anchoring a task while what it waits on may still move could reverse their order.
            if p.tasks[t].preds.iter().any(|q| rest.contains(q)) {
                continue;
            }
            if in_peak(p, &best, t) {
                // Already there: keep it there when the rest is laid out again.
                if rest.contains(&t) {
                    for b in best.blocks.iter().filter(|b| b.task == t) {
                        anchored.add(*b);
                    }
                    rest.retain(|&x| x != t);
                }
                continue;
            }
            // Moving a task later must not move it past what waits on it.
            let waited_on = selected.iter().any(|&x| p.tasks[x].preds.contains(&t));
            if !waited_on && let Ok(moved) = edf(p, best.without(t), &p.peak_free, &[t]) {
                for b in moved.blocks.iter().filter(|b| b.task == t) {
                    anchored.add(*b);
                }
                rest.retain(|&x| x != t);
                best = moved;
                continue;
            }
            let Ok(trial) = edf(p, anchored.clone(), &p.peak_free, &[t]) else { continue };
            let others: Vec<usize> = rest.iter().copied().filter(|&x| x != t).collect();
            if let Ok(full) = edf(p, trial.clone(), &p.free, &others) {
                anchored = trial;
                rest = others;
                best = full;
            }
        }
        // Moves leave holes: lay the rest out again, earliest first, around what is anchored.
        if let Ok(compact) = edf(p, anchored.clone(), &p.free, &rest) {
            best = compact;
        }
    }
    best
}

fn in_peak(p: &Prepared, board: &Board, t: usize) -> bool {
    board.blocks.iter().filter(|b| b.task == t).all(|b| inside(&p.peak, b.start, b.end))
}

pub(super) fn inside(spans: &[Span], start: i64, end: i64) -> bool {
    spans.iter().any(|s| s.start <= start && end <= s.end)
}

fn output(p: &Prepared, layout: &Board, fate: &[Fate], order: &[usize]) -> Plan {
    let first_due = layout
        .blocks
        .iter()
        .filter(|b| matches!(fate[b.task], Fate::Planned) && p.tasks[b.task].deadline < NO_DEADLINE)
        .map(|b| (p.tasks[b.task].deadline, p.id(b.task)))
        .min()
        .map(|(_, id)| id);
    let mut blocks = Vec::with_capacity(layout.blocks.len());
    for &t in order {
        let task = &p.input.tasks[t];
        let facts = &p.tasks[t];
        let spans: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>, bool)> = match fate[t] {
            Fate::Pinned => {
                let mut pinned: Vec<_> = task
                    .pinned
                    .iter()
                    .filter(|b| {
                        facts.pinned.iter().any(|s| p.day.instant(s.start) <= b.start && b.end <= p.day.instant(s.end))
                    })
                    .map(|b| (b.start, b.end, false))
                    .collect();
                pinned.sort_by_key(|b| (b.0, b.1));
                pinned
            }
            Fate::Kept | Fate::Planned => layout
                .blocks
                .iter()
                .filter(|b| b.task == t)
                .map(|b| (p.day.instant(b.start), p.day.instant(b.end), inside(&p.peak, b.start, b.end)))
                .collect(),
            _ => continue,
        };
        let of = spans.len() as u32;
        for (i, (start, end, peak)) in spans.into_iter().enumerate() {
            let mut reasons = Vec::new();
            match fate[t] {
                Fate::Pinned => reasons.push(Reason::Pinned),
                Fate::Kept => reasons.push(Reason::KeptFromAcceptedPlan),
                _ => {}
            }
            if facts.deadline <= p.day.minutes {
                reasons.push(Reason::DueToday);
            }
            if matches!(fate[t], Fate::Planned) && first_due == Some(task.id.as_str()) {
                reasons.push(Reason::EarliestDeadline);
            }
            reasons.push(Reason::priority(task.priority));
            if peak && facts.rank >= 2 {
                reasons.push(Reason::PeakHours);
            }
            if !facts.preds.is_empty() {
                reasons.push(Reason::AfterDependency);
            }
            let chunk = Chunk { index: i as u32 + 1, of };
            blocks.push(Block { task_id: task.id.clone(), start, end, chunk, reasons });
        }
    }
    blocks.sort_by(|a, b| (a.start, a.end, &a.task_id).cmp(&(b.start, b.end, &b.task_id)));
    let unplaced = order
        .iter()
        .filter_map(|&t| match &fate[t] {
            Fate::Unplaced(code, detail) => {
                Some(Unplaced { task_id: p.id(t).to_owned(), code: *code, detail: detail.clone() })
            }
            _ => None,
        })
        .collect();
    Plan { blocks, unplaced }
}

fn considered(p: &Prepared, t: usize) -> bool {
    !p.tasks[t].pinned_elsewhere
}

/// The greedy baseline: tasks by deadline then id, each laid out as early as it fits, no priorities,
/// no peak hours, no stability. It keeps the same placement rules (buffers, working hours, focus cap,
/// breaks, chunk lengths, deadlines).
pub fn baseline(input: &PlanInput) -> Plan {
    let p = Prepared::new(input);
    let (order, _) = p.order();
    let mut by_deadline = order.clone();
    by_deadline.sort_by_key(|&t| (p.tasks[t].deadline, p.id(t).to_owned()));
    let mut fate = vec![Fate::NotConsidered; p.tasks.len()];
    let mut board = p.pinned.clone();
    // By deadline, but a task only once what it waits on is decided (cycles never are).
    let mut pending = by_deadline;
    while let Some(k) = pending
        .iter()
        .position(|&t| p.tasks[t].preds.iter().all(|&q| !matches!(fate[q], Fate::NotConsidered) || !considered(&p, q)))
    {
        let t = pending.remove(k);
        let facts = &p.tasks[t];
        fate[t] = if !facts.pinned.is_empty() {
            Fate::Pinned
        } else if facts.estimate.is_none() {
            Fate::Unplaced(UnplacedCode::NoEstimate, "no estimate".into())
        } else if facts.deadline <= p.now {
            Fate::Unplaced(UnplacedCode::DeadlinePassed, "was due before now".into())
        } else if facts.preds.iter().any(|&q| !matches!(fate[q], Fate::Pinned | Fate::Planned)) {
            Fate::Unplaced(UnplacedCode::BlockedByDependency, "waits on an unplanned task".into())
        } else if let Ok(next) = edf(&p, board.clone(), &p.free, &[t]) {
            board = next;
            Fate::Planned
        } else {
            Fate::Unplaced(UnplacedCode::NoFreeSlotBeforeDeadline, "did not fit".into())
        };
    }
    for t in pending {
        fate[t] = Fate::Unplaced(UnplacedCode::BlockedByDependency, "its dependencies form a cycle".into());
    }
    output(&p, &board, &fate, &order)
}

/// Median wall time of planning `input`, over `runs` runs.
pub fn bench(input: &PlanInput, runs: usize) -> std::time::Duration {
    let mut times: Vec<std::time::Duration> = (0..runs.max(1))
        .map(|_| {
            let started = std::time::Instant::now();
            std::hint::black_box(plan(std::hint::black_box(input)));
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
