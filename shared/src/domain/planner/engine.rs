//! The board: free time of the day and the focus blocks on it, and the one question every placer asks
//! of it: where can the next chunk start, and how long may it be?

use super::day::Span;
use super::settings::PlanningSettings;

/// The settings the placer needs, in minutes, made safe to use even when unvalidated.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub buffer: i64,
    pub min_chunk: i64,
    pub max_chunk: i64,
    pub break_after: i64,
    pub break_len: i64,
    pub focus_cap: i64,
}

impl Rules {
    pub fn new(settings: &PlanningSettings) -> Rules {
        let min_chunk = i64::from(settings.min_chunk_minutes.max(1));
        let break_after = i64::from(settings.break_after_minutes.max(1));
        // A chunk longer than a run before a break could never be placed: cap it there.
        let max_chunk = i64::from(settings.max_chunk_minutes).max(min_chunk).min(break_after.max(min_chunk));
        Rules {
            buffer: i64::from(settings.buffer_minutes),
            min_chunk,
            max_chunk,
            break_after: break_after.max(max_chunk),
            break_len: i64::from(settings.break_minutes),
            focus_cap: i64::from(settings.max_focus_minutes),
        }
    }

    /// The shortest chunk a task with `remaining` minutes may get next. A rest shorter than two
    /// minimum chunks cannot be split, so it goes whole (a task shorter than the minimum chunk is one
    /// chunk of its own length).
    pub fn min_len(&self, remaining: i64) -> i64 {
        if remaining < 2 * self.min_chunk { remaining } else { self.min_chunk }
    }

    /// The chunk a task would like next: all of it, or an even share when it needs several.
    pub fn want(&self, remaining: i64) -> i64 {
        let pieces = (remaining + self.max_chunk - 1) / self.max_chunk;
        (remaining + pieces - 1) / pieces.max(1)
    }

    /// How long the next chunk of a task is when `room` minutes are free where it starts. When the
    /// rest fits here it is split evenly; when it does not, the chunk fills the room, leaving a rest
    /// of at least a minimum chunk.
    pub fn chunk_len(&self, remaining: i64, room: i64) -> Option<i64> {
        if remaining <= room.min(self.max_chunk) {
            return Some(remaining);
        }
        let even = self.want(remaining);
        let mut len = if room >= even { even } else { room.min(self.max_chunk) };
        if remaining - len < self.min_chunk {
            len = remaining - self.min_chunk;
        }
        (len >= self.min_chunk).then_some(len)
    }
}

/// A focus block on the board; `task` indexes the planner's task list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub start: i64,
    pub end: i64,
    pub task: usize,
}

#[derive(Debug, Clone)]
pub struct Board {
    pub rules: Rules,
    /// Blocks sorted by start (pinned ones may overlap others: the user put them there).
    pub blocks: Vec<Placed>,
    pub focus: i64,
}

impl Board {
    pub fn new(rules: Rules) -> Board {
        Board { rules, blocks: Vec::new(), focus: 0 }
    }

    pub fn add(&mut self, block: Placed) {
        let at = self.blocks.partition_point(|b| (b.start, b.end) <= (block.start, block.end));
        self.blocks.insert(at, block);
        self.focus += block.end - block.start;
    }

    /// The board without the blocks of `task`.
    pub fn without(&self, task: usize) -> Board {
        let blocks: Vec<Placed> = self.blocks.iter().copied().filter(|b| b.task != task).collect();
        let freed: i64 = self.blocks.iter().filter(|b| b.task == task).map(|b| b.end - b.start).sum();
        Board { rules: self.rules, blocks, focus: self.focus - freed }
    }

    /// The earliest start at or after `from` inside `free` where a chunk of at least `min_len` fits,
    /// with the longest chunk allowed there. `free` is working time after now, minus busy time
    /// widened by the buffer.
    /// When only the end of a run of focus stands between the chunk and the `want` minutes it
    /// would like, it starts after the break instead: splitting there would end the task no sooner.
    pub fn earliest(&self, free: &[Span], from: i64, min_len: i64, want: i64) -> Option<(i64, i64)> {
        let r = self.rules;
        let cap_left = r.focus_cap - self.focus;
        if min_len <= 0 || cap_left < min_len {
            return None;
        }
        let mut s = from;
        let mut seg = free.partition_point(|span| span.end <= s);
        loop {
            let span = *free.get(seg)?;
            s = s.max(span.start);
            if span.end - s < min_len {
                seg += 1;
                continue;
            }
            // Too close to a block: start after it and its buffer.
            let clash = self
                .blocks
                .iter()
                .filter(|b| b.start < s + min_len + r.buffer && b.end + r.buffer > s)
                .map(|b| b.end + r.buffer)
                .max();
            if let Some(after) = clash {
                s = after;
                continue;
            }
            let next = self.blocks.iter().find(|b| b.start >= s);
            let limit = next.map_or(span.end, |b| span.end.min(b.start - r.buffer));
            let left = self.run_before(s);
            if left + min_len > r.break_after || (left > 0 && left + want > r.break_after && limit - s >= want) {
                // Only a break resets the run: start once it is over.
                s = self.last_end_before(s) + r.break_len;
                continue;
            }
            let allowed = r.break_after - left;
            let run_cap = match next {
                // Either stop a break before the next block, or join its run.
                Some(next) => (next.start - r.break_len - s).min(allowed).max(allowed - self.run_from(next.start)),
                None => allowed,
            };
            let room = (limit - s).min(run_cap).min(cap_left);
            if room >= min_len {
                return Some((s, room));
            }
            match next {
                Some(next) if next.start < span.end => s = next.end + r.buffer,
                _ => seg += 1,
            }
        }
    }

    /// Focus minutes of the run a block starting at `at` would continue (blocks less than a break
    /// apart, going back from `at`).
    fn run_before(&self, at: i64) -> i64 {
        let mut edge = at;
        let mut sum = 0;
        for b in self.blocks.iter().rev().filter(|b| b.end <= at) {
            if edge - b.end >= self.rules.break_len {
                break;
            }
            sum += b.end - b.start;
            edge = b.start;
        }
        sum
    }

    /// Focus minutes of the run starting with the block at `at`.
    fn run_from(&self, at: i64) -> i64 {
        let mut edge = at;
        let mut sum = 0;
        for b in self.blocks.iter().filter(|b| b.start >= at) {
            if b.start - edge >= self.rules.break_len {
                break;
            }
            sum += b.end - b.start;
            edge = b.end;
        }
        sum
    }

    fn last_end_before(&self, at: i64) -> i64 {
        self.blocks.iter().filter(|b| b.end <= at).map(|b| b.end).max().unwrap_or(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::new(&PlanningSettings::default())
    }

    #[test]
    fn a_long_task_is_split_evenly_when_it_fits() {
        let r = rules();
        assert_eq!(r.chunk_len(120, 500), Some(60));
        assert_eq!(r.chunk_len(80, 500), Some(80));
        assert_eq!(r.chunk_len(20, 500), Some(20), "shorter than a minimum chunk: one chunk of its own");
    }

    #[test]
    fn a_chunk_that_fills_a_gap_leaves_a_rest_of_at_least_a_minimum_chunk() {
        let r = rules();
        assert_eq!(r.chunk_len(100, 90), Some(50), "room for both halves: split evenly");
        assert_eq!(r.chunk_len(100, 45), Some(45), "no room for half: fill the gap");
        assert_eq!(r.chunk_len(120, 40), Some(40));
        assert_eq!(r.chunk_len(40, 30), None, "30 now would leave 10, too short");
    }

    #[test]
    fn the_next_chunk_keeps_the_buffer_and_takes_a_break_after_a_long_run() {
        let mut board = Board::new(rules());
        let free = [Span { start: 540, end: 1050 }];
        board.add(Placed { start: 540, end: 600, task: 0 });
        assert_eq!(board.earliest(&free, 540, 25, 25), Some((610, 30)), "buffer 10, then 30 more to reach 90");
        board.add(Placed { start: 610, end: 640, task: 1 });
        assert_eq!(board.earliest(&free, 640, 25, 25).map(|(s, _)| s), Some(655), "a 15-minute break is due");
    }
}
