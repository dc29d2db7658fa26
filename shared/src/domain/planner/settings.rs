//! Planning settings: the JSON shape of api.md ("Planning settings") and its validation.

use serde::{Deserialize, Serialize};

/// A local wall-clock range, `"HH:MM"` to `"HH:MM"` (`"24:00"` is the end of the day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

impl TimeRange {
    pub fn new(start: &str, end: &str) -> TimeRange {
        TimeRange { start: start.to_owned(), end: end.to_owned() }
    }

    /// Minutes after local midnight, or `None` when either end is malformed or the range is empty.
    pub fn minutes(&self) -> Option<(u32, u32)> {
        let (start, end) = (wall_minutes(&self.start)?, wall_minutes(&self.end)?);
        (start < end).then_some((start, end))
    }
}

/// `"HH:MM"` as minutes after midnight; `"24:00"` is allowed so a range can run to midnight.
pub fn wall_minutes(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Working hours per weekday, several ranges a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct WorkingHours {
    pub mon: Vec<TimeRange>,
    pub tue: Vec<TimeRange>,
    pub wed: Vec<TimeRange>,
    pub thu: Vec<TimeRange>,
    pub fri: Vec<TimeRange>,
    pub sat: Vec<TimeRange>,
    pub sun: Vec<TimeRange>,
}

impl WorkingHours {
    pub fn day(&self, weekday: chrono::Weekday) -> &[TimeRange] {
        use chrono::Weekday::*;
        match weekday {
            Mon => &self.mon,
            Tue => &self.tue,
            Wed => &self.wed,
            Thu => &self.thu,
            Fri => &self.fri,
            Sat => &self.sat,
            Sun => &self.sun,
        }
    }

    fn named(&self) -> [(&'static str, &[TimeRange]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanningSettings {
    pub working_hours: WorkingHours,
    pub peak_hours: Vec<TimeRange>,
    /// Kept free between two blocks, and between a block and busy time.
    pub buffer_minutes: u32,
    /// Focus minutes a day, pinned and kept blocks included.
    pub max_focus_minutes: u32,
    pub min_chunk_minutes: u32,
    pub max_chunk_minutes: u32,
    /// Focus minutes in a row (blocks less than `break_minutes` apart) before a break is due.
    pub break_after_minutes: u32,
    pub break_minutes: u32,
    /// `None`: tasks without an estimate are left out (`no_estimate`).
    pub default_estimate_minutes: Option<u32>,
}

impl Default for PlanningSettings {
    fn default() -> PlanningSettings {
        let weekday = vec![TimeRange::new("09:00", "12:30"), TimeRange::new("13:30", "17:30")];
        PlanningSettings {
            working_hours: WorkingHours {
                mon: weekday.clone(),
                tue: weekday.clone(),
                wed: weekday.clone(),
                thu: weekday.clone(),
                fri: weekday,
                sat: vec![],
                sun: vec![],
            },
            peak_hours: vec![TimeRange::new("09:00", "11:30")],
            buffer_minutes: 10,
            max_focus_minutes: 360,
            min_chunk_minutes: 25,
            max_chunk_minutes: 90,
            break_after_minutes: 90,
            break_minutes: 15,
            default_estimate_minutes: Some(30),
        }
    }
}

/// A problem with one field: its path (e.g. `working_hours.mon[1]`) and what is wrong.
pub type Problem = (String, String);

impl PlanningSettings {
    /// Every problem found, empty when the settings are usable as they are.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (day, ranges) in self.working_hours.named() {
            check_ranges(&format!("working_hours.{day}"), ranges, &mut problems);
        }
        check_ranges("peak_hours", &self.peak_hours, &mut problems);
        let mut bound = |field: &str, value: u32, min: u32, max: u32| {
            if value < min || value > max {
                problems.push((field.to_owned(), format!("must be between {min} and {max}, got {value}")));
            }
        };
        bound("buffer_minutes", self.buffer_minutes, 0, 120);
        bound("max_focus_minutes", self.max_focus_minutes, 0, 1440);
        bound("min_chunk_minutes", self.min_chunk_minutes, 5, 240);
        bound("max_chunk_minutes", self.max_chunk_minutes, 5, 480);
        bound("break_after_minutes", self.break_after_minutes, 5, 1440);
        bound("break_minutes", self.break_minutes, 0, 240);
        if let Some(estimate) = self.default_estimate_minutes {
            bound("default_estimate_minutes", estimate, 1, 1440);
        }
        if self.min_chunk_minutes > self.max_chunk_minutes {
            problems.push(("min_chunk_minutes".into(), "must not exceed max_chunk_minutes".into()));
        }
        // A chunk longer than the run before a break could never be placed.
        if self.max_chunk_minutes > self.break_after_minutes {
            problems.push(("max_chunk_minutes".into(), "must not exceed break_after_minutes".into()));
        }
        problems
    }
}

/// Ranges one day (or the peak hours) may have: a day is not cut finer than this, and the stored
/// document stays small.
pub const MAX_RANGES: usize = 8;

fn check_ranges(field: &str, ranges: &[TimeRange], problems: &mut Vec<Problem>) {
    if ranges.len() > MAX_RANGES {
        problems.push((field.to_owned(), format!("at most {MAX_RANGES} ranges, got {}", ranges.len())));
        return;
    }
    let mut previous_end = None;
    for (i, range) in ranges.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let (Some(start), Some(end)) = (wall_minutes(&range.start), wall_minutes(&range.end)) else {
            problems.push((at, "times must be HH:MM (00:00 to 24:00)".into()));
            continue;
        };
        if start >= end {
            problems.push((at, "start must be before end".into()));
            continue;
        }
        if previous_end.is_some_and(|previous| start < previous) {
            problems.push((at, "ranges must be in order and must not overlap".into()));
        }
        previous_end = Some(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_round_trip_through_the_api_shape() {
        let settings = PlanningSettings::default();
        assert_eq!(settings.validate(), vec![]);
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(json["working_hours"]["mon"][1], serde_json::json!({"start": "13:30", "end": "17:30"}));
        assert_eq!(json["working_hours"]["sun"], serde_json::json!([]));
        assert_eq!(json["default_estimate_minutes"], 30);
        assert_eq!(serde_json::from_value::<PlanningSettings>(json).unwrap(), settings);
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut settings = PlanningSettings::default();
        settings.working_hours.mon = vec![TimeRange::new("09:00", "12:00"), TimeRange::new("11:00", "13:00")];
        settings.working_hours.tue = vec![TimeRange::new("9:00", "12:00")];
        settings.peak_hours = vec![TimeRange::new("11:00", "10:00")];
        settings.min_chunk_minutes = 100;
        let fields: Vec<String> = settings.validate().into_iter().map(|(field, _)| field).collect();
        assert_eq!(fields, ["working_hours.mon[1]", "working_hours.tue[0]", "peak_hours[0]", "min_chunk_minutes"]);
    }

    #[test]
    fn a_day_cut_into_too_many_ranges_is_refused() {
        let mut settings = PlanningSettings::default();
        settings.working_hours.wed = (0..MAX_RANGES + 1)
            .map(|hour| TimeRange::new(&format!("{hour:02}:00"), &format!("{hour:02}:30")))
            .collect();
        assert_eq!(settings.validate(), vec![("working_hours.wed".to_string(), "at most 8 ranges, got 9".to_string())]);
    }

    #[test]
    fn wall_times_accept_only_hh_mm() {
        assert_eq!(wall_minutes("00:00"), Some(0));
        assert_eq!(wall_minutes("24:00"), Some(1440));
        assert_eq!(wall_minutes("17:45"), Some(1065));
        for bad in ["24:01", "9:00", "09:60", "0900", "ab:cd", ""] {
            assert_eq!(wall_minutes(bad), None, "{bad}");
        }
    }
}
