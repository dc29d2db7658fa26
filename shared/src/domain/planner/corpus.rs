//! Generated days for the corpus, the property tests and the benchmark: a seeded xorshift, so the
//! same seed always gives the same days.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::settings::{PlanningSettings, TimeRange};
use super::{Due, Interval, PlanInput, PlanTask};
use crate::domain::task::Priority;

/// xorshift64*: small, fast, and ours.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next_u64() % (high - low + 1) as u64) as i64
    }

    pub fn chance(&mut self, percent: i64) -> bool {
        self.range(0, 99) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as i64 - 1) as usize]
    }
}

const ZONES: [Tz; 6] = [
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Sydney,
    chrono_tz::UTC,
    chrono_tz::America::Los_Angeles,
];

/// DST days: Berlin's 23-hour and 25-hour days, New York's 25-hour day.
const DST_DAYS: [(i32, u32, u32, Tz); 3] = [
    (2026, 3, 29, chrono_tz::Europe::Berlin),
    (2026, 10, 25, chrono_tz::Europe::Berlin),
    (2026, 11, 1, chrono_tz::America::New_York),
];

/// `n` days from `seed`: 5-40 tasks, 0-12 meetings, varied settings and zones; every tenth is a DST
/// day, worked (weekend working hours are set on DST days).
pub fn corpus(seed: u64, n: usize) -> Vec<PlanInput> {
    let mut rng = Rng::new(seed);
    (0..n).map(|i| generate_day(&mut rng, i % 10 == 9)).collect()
}

pub fn generate_day(rng: &mut Rng, dst: bool) -> PlanInput {
    let (date, tz) = if dst {
        let (y, m, d, tz) = rng.pick(&DST_DAYS);
        (NaiveDate::from_ymd_opt(y, m, d).unwrap(), tz)
    } else {
        let date = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap() + Duration::days(rng.range(0, 360));
        (date, rng.pick(&ZONES))
    };
    let settings = generate_settings(rng, dst);
    let local = |minute: i64| {
        let wall = date.and_hms_opt(0, 0, 0).unwrap() + Duration::minutes(minute);
        tz.from_local_datetime(&wall).earliest().map(|t| t.with_timezone(&Utc))
    };
    let now_minute = if rng.chance(50) { 0 } else { rng.range(7 * 60, 14 * 60) };
    let now = local(now_minute).unwrap_or_else(|| local(now_minute + 60).unwrap());
    let mut busy = Vec::new();
    for _ in 0..rng.range(0, 12) {
        let start = rng.range(16, 36) * 30;
        let len = rng.pick(&[15, 30, 30, 45, 60, 90]);
        if let (Some(start), Some(end)) = (local(start), local(start + len)) {
            busy.push(Interval { start, end });
        }
    }
    let count = rng.range(5, 40) as usize;
    let tasks = (0..count).map(|i| generate_task(rng, i, count, date, &local)).collect();
    PlanInput { date, tz, now, settings, tasks, busy }
}

fn generate_settings(rng: &mut Rng, weekend: bool) -> PlanningSettings {
    let mut s = PlanningSettings::default();
    let day = match rng.range(0, 3) {
        0 => vec![TimeRange::new("08:00", "12:00"), TimeRange::new("13:00", "16:00")],
        1 => vec![TimeRange::new("09:00", "12:30"), TimeRange::new("13:30", "17:30")],
        2 => vec![TimeRange::new("10:00", "18:00")],
        _ => vec![TimeRange::new("07:30", "11:00"), TimeRange::new("12:00", "15:00"), TimeRange::new("16:00", "19:00")],
    };
    // DST days fall on Sundays: work them, or they would only test an empty day.
    let weekend = weekend || rng.chance(30);
    let w = &mut s.working_hours;
    for slot in [&mut w.mon, &mut w.tue, &mut w.wed, &mut w.thu, &mut w.fri] {
        *slot = day.clone();
    }
    if weekend {
        w.sat = day.clone();
        w.sun = day.clone();
    }
    s.peak_hours = vec![rng.pick(&[("09:00", "11:30"), ("08:00", "10:00"), ("14:00", "16:30"), ("10:00", "12:00")])]
        .into_iter()
        .map(|(a, b)| TimeRange::new(a, b))
        .collect();
    s.buffer_minutes = rng.pick(&[0, 5, 10, 15]) as u32;
    s.max_focus_minutes = rng.pick(&[180, 240, 300, 360, 420]) as u32;
    s.min_chunk_minutes = rng.pick(&[15, 25, 30]) as u32;
    s.max_chunk_minutes = rng.pick(&[60, 90, 120]) as u32;
    s.break_after_minutes = s.max_chunk_minutes.max(rng.pick(&[90, 120]) as u32);
    s.break_minutes = rng.pick(&[10, 15, 20]) as u32;
    s.default_estimate_minutes = if rng.chance(80) { Some(30) } else { None };
    s
}

fn generate_task(
    rng: &mut Rng,
    i: usize,
    count: usize,
    date: NaiveDate,
    local: &dyn Fn(i64) -> Option<chrono::DateTime<Utc>>,
) -> PlanTask {
    let priority = rng.pick(&[Priority::Low, Priority::Medium, Priority::Medium, Priority::High, Priority::Urgent]);
    let estimate = if rng.chance(85) { Some(rng.pick(&[10, 15, 20, 30, 30, 45, 60, 60, 90, 120, 180])) } else { None };
    let mut task = PlanTask::new(&format!("t{i:03}"), priority, estimate);
    task.due = match rng.range(0, 19) {
        0..=7 => None,
        8..=11 => Some(Due::On(date)),
        12..=15 => local(rng.range(9 * 60, 18 * 60)).map(Due::At),
        16..=17 => Some(Due::On(date + Duration::days(rng.range(1, 5)))),
        _ => Some(Due::On(date - Duration::days(1))),
    };
    if i > 0 && rng.chance(10) {
        task.after = vec![format!("t{:03}", rng.range(0, i as i64 - 1))];
    }
    if rng.chance(4) && count > 5 {
        let start = rng.range(18, 32) * 30;
        if let (Some(start), Some(end)) = (local(start), local(start + 30)) {
            task.pinned = vec![Interval { start, end }];
        }
    }
    task
}

/// A full weekday in Berlin for the benchmark: working 08:00-18:00, `events` meetings of 15-60 min
/// scattered over 07:00-20:00 (some overlapping, some outside working hours), `tasks` generated
/// tasks, planned from 07:00.
pub fn bench_day(tasks: usize, events: usize) -> PlanInput {
    let mut rng = Rng::new(42);
    let date = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    let tz = chrono_tz::Europe::Berlin;
    let midnight = date.and_hms_opt(0, 0, 0).unwrap();
    let at = |minute: i64| tz.from_local_datetime(&(midnight + Duration::minutes(minute))).unwrap().with_timezone(&Utc);
    let busy = (0..events)
        .map(|_| {
            let start = rng.range(7 * 12, 20 * 12) * 5;
            Interval { start: at(start), end: at(start + rng.pick(&[15, 30, 30, 45, 60])) }
        })
        .collect();
    let local = |m: i64| Some(at(m));
    let tasks = (0..tasks).map(|i| generate_task(&mut rng, i, tasks, date, &local)).collect();
    let mut settings = PlanningSettings::default();
    settings.working_hours.wed = vec![TimeRange::new("08:00", "18:00")];
    settings.max_focus_minutes = 480;
    settings.buffer_minutes = 5;
    PlanInput { date, tz, now: at(7 * 60), settings, tasks, busy }
}
