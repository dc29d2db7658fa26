//! The day in the user's zone, as minutes after its first instant: the planner works on whole minutes
//! so that a 23- or 25-hour day is just a shorter or longer line.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::settings::TimeRange;

/// Minutes after the day's start: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn len(self) -> i64 {
        self.end - self.start
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Day {
    pub date: NaiveDate,
    pub tz: Tz,
    /// Local midnight (or the first instant after it when midnight does not exist that day).
    pub start: DateTime<Utc>,
    /// Minutes until the next local midnight: 1380, 1440 or 1500 around DST.
    pub minutes: i64,
}

impl Day {
    pub fn new(date: NaiveDate, tz: Tz) -> Day {
        let start = local_instant(tz, date, 0);
        let next = local_instant(tz, date.succ_opt().unwrap_or(date), 0);
        Day { date, tz, start, minutes: (next - start).num_minutes() }
    }

    /// The instant `minute` minutes into the day.
    pub fn instant(&self, minute: i64) -> DateTime<Utc> {
        self.start + Duration::minutes(minute)
    }

    /// Minutes into the day, rounded down (may fall outside `0..minutes`).
    pub fn minute_floor(&self, at: DateTime<Utc>) -> i64 {
        (at - self.start).num_seconds().div_euclid(60)
    }

    /// Minutes into the day, rounded up: a busy event ending at :30 seconds keeps its whole minute.
    pub fn minute_ceil(&self, at: DateTime<Utc>) -> i64 {
        let seconds = (at - self.start).num_seconds() + i64::from((at - self.start).subsec_nanos() > 0);
        -((-seconds).div_euclid(60))
    }

    /// Local wall-clock ranges of this day as spans, in order.
    pub fn spans(&self, ranges: &[TimeRange]) -> Vec<Span> {
        let mut spans: Vec<Span> = ranges
            .iter()
            .filter_map(TimeRange::minutes)
            .map(|(start, end)| Span { start: self.wall(start), end: self.wall(end) })
            .filter(|span| span.start < span.end)
            .collect();
        spans.sort();
        merge(spans)
    }

    /// A wall time of this day as minutes into it.
    fn wall(&self, minutes: u32) -> i64 {
        if minutes >= 1440 {
            return self.minutes;
        }
        (local_instant(self.tz, self.date, minutes) - self.start).num_minutes()
    }
}

/// The instant of a local wall time. A wall time that does not exist (spring forward) moves to the
/// first one that does, so a range over the gap keeps its existing part; an ambiguous one (fall back)
/// takes the earlier instant.
fn local_instant(tz: Tz, date: NaiveDate, minutes: u32) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    // Gaps are at most a few hours; look a day ahead so a malformed zone cannot loop forever.
    for shift in 0..=1440 {
        let wall = midnight + Duration::minutes(i64::from(minutes + shift));
        if let Some(at) = tz.from_local_datetime(&wall).earliest() {
            return at.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&midnight)
}

/// Sorted spans with overlapping or touching ones joined.
pub fn merge(sorted: Vec<Span>) -> Vec<Span> {
    let mut merged: Vec<Span> = Vec::with_capacity(sorted.len());
    for span in sorted {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// `from` minus every span of `holes` (both sorted, `holes` merged).
pub fn subtract(from: &[Span], holes: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut h = 0;
    for &span in from {
        let mut start = span.start;
        while h < holes.len() && holes[h].end <= start {
            h += 1;
        }
        let mut k = h;
        while k < holes.len() && holes[k].start < span.end {
            if holes[k].start > start {
                out.push(Span { start, end: holes[k].start });
            }
            start = start.max(holes[k].end);
            k += 1;
        }
        if start < span.end {
            out.push(Span { start, end: span.end });
        }
    }
    out
}

/// The parts of `a` inside `b` (both sorted and merged).
pub fn intersect(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(Span { start, end });
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        assert_eq!(Day::new(date(2026, 3, 29), chrono_tz::Europe::Berlin).minutes, 23 * 60);
        assert_eq!(Day::new(date(2026, 10, 25), chrono_tz::Europe::Berlin).minutes, 25 * 60);
        assert_eq!(Day::new(date(2026, 6, 1), chrono_tz::Europe::Berlin).minutes, 24 * 60);
    }

    #[test]
    fn a_range_across_the_spring_gap_keeps_its_existing_part() {
        // 02:00-03:00 does not exist in Berlin on 2026-03-29: 01:00-04:00 is two real hours.
        let day = Day::new(date(2026, 3, 29), chrono_tz::Europe::Berlin);
        let spans = day.spans(&[TimeRange::new("01:00", "04:00"), TimeRange::new("02:15", "02:45")]);
        assert_eq!(spans, vec![Span { start: 60, end: 180 }]);
    }

    #[test]
    fn an_ambiguous_wall_time_takes_the_earlier_instant() {
        // 02:30 happens twice in Berlin on 2026-10-25; the first is 150 minutes after midnight.
        let day = Day::new(date(2026, 10, 25), chrono_tz::Europe::Berlin);
        assert_eq!(day.spans(&[TimeRange::new("02:30", "04:00")]), vec![Span { start: 150, end: 300 }]);
    }

    #[test]
    fn subtract_and_intersect_cut_spans() {
        let s = |start, end| Span { start, end };
        assert_eq!(subtract(&[s(0, 100)], &[s(10, 20), s(50, 120)]), vec![s(0, 10), s(20, 50)]);
        assert_eq!(intersect(&[s(0, 100), s(200, 300)], &[s(50, 250)]), vec![s(50, 100), s(200, 250)]);
    }
}
