//! Repeating tasks: the `recurrence` JSON of a task, its validation, and when the next occurrence is due.
//!
//! A recurrence is `{"rrule": "FREQ=DAILY;INTERVAL=1", "timezone": "Europe/Berlin", "mode": "from_due"}`.
//! `rrule` is an RFC 5545 RRULE body (an `RRULE:` prefix is accepted and dropped), `timezone` an IANA
//! name, `mode` `from_due` (the default when absent) or `from_completion`.
//!
//! Occurrences keep their wall-clock time in the rule's time zone, so a daily 09:00 Europe/Berlin
//! task stays at 09:00 Berlin time across daylight-saving changes. A local time that does not exist
//! (the spring gap) is read with the offset before the gap, as RFC 5545 says, which moves it forward
//! by the gap (02:30 becomes 03:30); a local time that happens twice (autumn) takes the earlier one.
//! A series' wall-clock time is the local time of its start instant, so a series whose very first
//! occurrence was moved out of a gap keeps the moved time.
//!
//! Supported parts: FREQ (DAILY, WEEKLY, MONTHLY, YEARLY), INTERVAL, COUNT, UNTIL (`YYYYMMDD`, which
//! includes that whole local day, or `YYYYMMDDTHHMMSSZ`), BYDAY (ordinals such as `1MO` or `-1FR`
//! with MONTHLY and YEARLY), BYMONTHDAY (negative counts from the month's end), BYMONTH, BYSETPOS,
//! WKST, BYHOUR and BYMINUTE. As in RFC 5545 the series start is always the first occurrence, and
//! dates that do not exist (31 April, 29 February in other years) are skipped, not moved.
//!
//! Tasks with a date but no time use the `*_date` functions: the same rule over calendar dates, with
//! BYHOUR and BYMINUTE ignored and the time zone used only to tell on which day a task was completed
//! and which day a UTC UNTIL falls on.

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Violations;

/// The longest `rrule` accepted, in characters.
pub const RRULE_MAX: usize = 500;
/// No occurrence this many years past the start or the asked-for instant means the series is over.
const HORIZON_YEARS: u32 = 100;
/// A second bound on the walk, whatever the dates: no rule may keep a caller waiting.
const MAX_PERIODS: usize = 100_000;

/// What the next occurrence is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurrenceMode {
    /// The fixed series anchored at the first due date: late completion does not move it.
    #[default]
    FromDue,
    /// The rule's interval counted from the day the task was completed.
    FromCompletion,
}

/// A task's repetition, as stored and as clients send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    pub rrule: String,
    pub timezone: String,
    #[serde(default)]
    pub mode: RecurrenceMode,
}

impl Recurrence {
    /// Checks a client's `recurrence` value, naming every problem under `recurrence.*`. The rule
    /// comes back without an `RRULE:` prefix and in upper case.
    pub fn parse(value: &Value) -> Result<Recurrence, Violations> {
        let mut violations = Violations::new();
        let Some(object) = value.as_object() else {
            violations.add("recurrence", "must be an object with rrule, timezone and mode");
            return Err(violations);
        };
        for key in object.keys().filter(|key| !matches!(key.as_str(), "rrule" | "timezone" | "mode")) {
            violations.add(format!("recurrence.{key}"), "is not a known field; expected rrule, timezone or mode");
        }
        let rrule = text_field(object, "rrule", &mut violations).and_then(|text| match parse_rule(text) {
            Ok(_) => Some(rule_body(text).to_ascii_uppercase()),
            Err(problems) => {
                problems.into_iter().for_each(|problem| violations.add("recurrence.rrule", problem));
                None
            }
        });
        let timezone = text_field(object, "timezone", &mut violations).and_then(|name| match name.parse::<Tz>() {
            Ok(zone) => Some(zone.name().to_string()),
            Err(_) => {
                violations
                    .add("recurrence.timezone", format!("`{name}` is not an IANA time zone such as Europe/Berlin"));
                None
            }
        });
        let mode = parse_mode(object.get("mode"), &mut violations);
        match (rrule, timezone, mode) {
            (Some(rrule), Some(timezone), Some(mode)) => violations.finish(Recurrence { rrule, timezone, mode }),
            _ => Err(violations),
        }
    }

    /// The first occurrence strictly after `after` of the series whose first occurrence is
    /// `dtstart`; `None` when COUNT or UNTIL ended the series first, or nothing falls within 100
    /// years. COUNT counts from `dtstart`, which is occurrence 1.
    pub fn next_after(&self, dtstart: DateTime<Utc>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (rule, zone) = self.compiled()?;
        first_after(&rule, zone, local(dtstart, zone), after)
    }

    /// When the task after `current_due` is due; `None` when the series is over. `done_so_far` is
    /// how many occurrences have come due so far, `current_due` included (1 for the first task).
    /// COUNT is checked against it in both modes; `from_completion` needs it, as its series is
    /// re-anchored at each completion, while `from_due` also counts its own series from `series_start`.
    ///
    /// `from_due`: the next occurrence after `current_due` in the series anchored at `series_start`.
    /// `from_completion`: the rule applied from the local day of `completed_at` at `current_due`'s
    /// local time of day (every 3 days, completed on the 10th at 18:00, due at 09:00: the 13th at 09:00).
    pub fn next_due(
        &self,
        series_start: DateTime<Utc>,
        current_due: DateTime<Utc>,
        completed_at: DateTime<Utc>,
        done_so_far: u32,
    ) -> Option<DateTime<Utc>> {
        let (rule, zone) = self.compiled()?;
        if rule.is_used_up(done_so_far) {
            return None;
        }
        match self.mode {
            RecurrenceMode::FromDue => first_after(&rule, zone, local(series_start, zone), current_due),
            RecurrenceMode::FromCompletion => {
                let anchor = local(completed_at, zone).date().and_time(local(current_due, zone).time());
                let rule = Rule { count: None, ..rule };
                first_after(&rule, zone, anchor, resolve(zone, anchor)?)
            }
        }
    }

    /// Calls `visit` with each occurrence of the series starting at `dtstart` that falls strictly
    /// after `after`, in order, until `visit` answers false or the series ends: one walk, where
    /// calling `next_after` again and again would walk from the start each time.
    pub fn each_after(
        &self,
        dtstart: DateTime<Utc>,
        after: DateTime<Utc>,
        mut visit: impl FnMut(DateTime<Utc>) -> bool,
    ) {
        if let Some((rule, zone)) = self.compiled() {
            walk(&rule, zone, local(dtstart, zone), after, &mut visit);
        }
    }

    /// `each_after` over calendar dates, for events without a time.
    pub fn each_date_after(&self, start: NaiveDate, after: NaiveDate, mut visit: impl FnMut(NaiveDate) -> bool) {
        let Some((rule, zone)) = self.compiled() else { return };
        let rule = rule.for_dates(zone);
        let midnight = |date: NaiveDate| date.and_time(NaiveTime::MIN);
        walk(&rule, chrono_tz::UTC, midnight(start), midnight(after).and_utc(), &mut |at| visit(at.date_naive()));
    }

    /// The COUNT of the rule, if it has one.
    pub fn count(&self) -> Option<u32> {
        self.compiled().and_then(|(rule, _)| rule.count)
    }

    /// `next_after` for tasks with a date and no time.
    pub fn next_date_after(&self, start: NaiveDate, after: NaiveDate) -> Option<NaiveDate> {
        let (rule, zone) = self.compiled()?;
        first_date_after(&rule.for_dates(zone), start, after)
    }

    /// `next_due` for tasks with a date and no time: `completed_at`'s day is taken in the rule's
    /// time zone.
    pub fn next_due_date(
        &self,
        series_start: NaiveDate,
        current_due: NaiveDate,
        completed_at: DateTime<Utc>,
        done_so_far: u32,
    ) -> Option<NaiveDate> {
        let (rule, zone) = self.compiled()?;
        if rule.is_used_up(done_so_far) {
            return None;
        }
        let rule = rule.for_dates(zone);
        match self.mode {
            RecurrenceMode::FromDue => first_date_after(&rule, series_start, current_due),
            RecurrenceMode::FromCompletion => {
                let completed_on = local(completed_at, zone).date();
                first_date_after(&Rule { count: None, ..rule }, completed_on, completed_on)
            }
        }
    }

    /// The rule and zone; `None` for a stored value that no longer parses, which then never repeats.
    fn compiled(&self) -> Option<(Rule, Tz)> {
        Some((parse_rule(&self.rrule).ok()?, self.timezone.parse().ok()?))
    }
}

fn text_field<'a>(object: &'a Map<String, Value>, name: &str, violations: &mut Violations) -> Option<&'a str> {
    match object.get(name) {
        None | Some(Value::Null) => violations.add(format!("recurrence.{name}"), "is required"),
        Some(Value::String(text)) => return Some(text),
        Some(_) => violations.add(format!("recurrence.{name}"), "must be a string"),
    }
    None
}

fn parse_mode(value: Option<&Value>, violations: &mut Violations) -> Option<RecurrenceMode> {
    match value {
        None | Some(Value::Null) => Some(RecurrenceMode::default()),
        Some(Value::String(text)) if text == "from_due" => Some(RecurrenceMode::FromDue),
        Some(Value::String(text)) if text == "from_completion" => Some(RecurrenceMode::FromCompletion),
        Some(_) => {
            violations.add("recurrence.mode", "must be from_due or from_completion");
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The whole local day is included.
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

/// One BYDAY entry: a weekday, maybe with its ordinal in the month or year (`-1FR`: the last Friday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayEntry {
    ordinal: Option<i32>,
    weekday: Weekday,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    freq: Freq,
    interval: u32,
    count: Option<u32>,
    until: Option<Until>,
    by_day: Vec<DayEntry>,
    by_month_day: Vec<i32>,
    by_month: Vec<i32>,
    by_set_pos: Vec<i32>,
    by_hour: Vec<i32>,
    by_minute: Vec<i32>,
    week_start: Weekday,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            freq: Freq::Daily,
            interval: 1,
            count: None,
            until: None,
            by_day: Vec::new(),
            by_month_day: Vec::new(),
            by_month: Vec::new(),
            by_set_pos: Vec::new(),
            by_hour: Vec::new(),
            by_minute: Vec::new(),
            week_start: Weekday::Mon,
        }
    }
}

/// The rule without an `RRULE:` prefix or surrounding blanks.
fn rule_body(text: &str) -> &str {
    let text = text.trim();
    match text.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("RRULE:") => text[6..].trim(),
        _ => text,
    }
}

/// Every problem of the rule, each a sentence naming the part at fault.
fn parse_rule(text: &str) -> Result<Rule, Vec<String>> {
    if text.chars().count() > RRULE_MAX {
        return Err(vec![format!("must be at most {RRULE_MAX} characters")]);
    }
    let body = rule_body(text);
    if body.is_empty() {
        return Err(vec!["is required, e.g. FREQ=DAILY".into()]);
    }
    let mut rule = Rule::default();
    let mut seen: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for part in body.split(';').map(str::trim).filter(|part| !part.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            problems.push(format!("`{part}` is not of the form NAME=VALUE"));
            continue;
        };
        let name = name.trim().to_ascii_uppercase();
        if seen.contains(&name) {
            problems.push(format!("{name} appears more than once"));
            continue;
        }
        if let Err(problem) = set_part(&mut rule, &name, &value.trim().to_ascii_uppercase()) {
            problems.push(problem);
        }
        seen.push(name);
    }
    if !seen.iter().any(|name| name == "FREQ") {
        problems.push("FREQ is required: DAILY, WEEKLY, MONTHLY or YEARLY".into());
    }
    // Combinations are judged only on parts that parsed, so one mistake gives one message.
    if problems.is_empty() {
        problems = combination_problems(&rule);
    }
    if problems.is_empty() { Ok(rule) } else { Err(problems) }
}

fn set_part(rule: &mut Rule, name: &str, value: &str) -> Result<(), String> {
    match name {
        "FREQ" => rule.freq = parse_freq(value)?,
        "INTERVAL" => rule.interval = positive(name, value)?,
        "COUNT" => rule.count = Some(positive(name, value)?),
        "UNTIL" => rule.until = Some(parse_until(value)?),
        "BYDAY" => rule.by_day = parse_days(value)?,
        "BYMONTHDAY" => rule.by_month_day = numbers(name, value, 1, 31, true)?,
        "BYMONTH" => rule.by_month = numbers(name, value, 1, 12, false)?,
        "BYSETPOS" => rule.by_set_pos = numbers(name, value, 1, 366, true)?,
        "BYHOUR" => rule.by_hour = numbers(name, value, 0, 23, false)?,
        "BYMINUTE" => rule.by_minute = numbers(name, value, 0, 59, false)?,
        "WKST" => {
            rule.week_start = weekday(value).ok_or_else(|| format!("WKST `{value}` is not one of {WEEKDAYS}"))?;
        }
        "BYSECOND" | "BYYEARDAY" | "BYWEEKNO" => return Err(format!("{name} is not supported")),
        _ => {
            return Err(format!(
                "`{name}` is not a known rule part; use FREQ, INTERVAL, COUNT, UNTIL, BYDAY, BYMONTHDAY, BYMONTH, \
                 BYSETPOS, BYHOUR, BYMINUTE or WKST"
            ));
        }
    }
    Ok(())
}

fn parse_freq(value: &str) -> Result<Freq, String> {
    match value {
        "DAILY" => Ok(Freq::Daily),
        "WEEKLY" => Ok(Freq::Weekly),
        "MONTHLY" => Ok(Freq::Monthly),
        "YEARLY" => Ok(Freq::Yearly),
        "HOURLY" | "MINUTELY" | "SECONDLY" => {
            Err(format!("FREQ={value} is not supported; tasks repeat DAILY, WEEKLY, MONTHLY or YEARLY"))
        }
        _ => Err(format!("FREQ `{value}` is unknown; expected DAILY, WEEKLY, MONTHLY or YEARLY")),
    }
}

fn positive(name: &str, value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|number| *number >= 1)
        .ok_or_else(|| format!("{name} must be a whole number of 1 or more, not `{value}`"))
}

fn parse_until(value: &str) -> Result<Until, String> {
    let digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
    if value.len() == 8
        && digits(value)
        && let Ok(date) = NaiveDate::parse_from_str(value, "%Y%m%d")
    {
        return Ok(Until::Date(date));
    }
    if value.len() == 16
        && let Ok(instant) = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ")
    {
        return Ok(Until::Instant(instant.and_utc()));
    }
    Err(format!(
        "UNTIL `{value}` is invalid; expected a date such as 20261231 or a UTC date-time such as 20261231T235959Z"
    ))
}

const WEEKDAYS: &str = "MO, TU, WE, TH, FR, SA or SU";

fn weekday(code: &str) -> Option<Weekday> {
    let day = match code {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    };
    Some(day)
}

fn parse_days(value: &str) -> Result<Vec<DayEntry>, String> {
    let mut days = Vec::new();
    for item in value.split(',').map(str::trim) {
        let entry = parse_day(item).ok_or_else(|| {
            format!(
                "BYDAY value `{item}` is invalid; expected {WEEKDAYS}, optionally after an ordinal as in 1MO or -1FR"
            )
        })?;
        days.push(entry);
    }
    Ok(days)
}

fn parse_day(item: &str) -> Option<DayEntry> {
    let split = item.len().checked_sub(2).filter(|split| item.is_char_boundary(*split))?;
    let (ordinal, code) = item.split_at(split);
    let ordinal = match ordinal {
        "" => None,
        text => Some(text.parse::<i32>().ok().filter(|number| *number != 0 && number.unsigned_abs() <= 53)?),
    };
    Some(DayEntry { ordinal, weekday: weekday(code)? })
}

/// A comma-separated list of whole numbers in `low..=high`, or also in `-high..=-low` when `signed`.
fn numbers(name: &str, value: &str, low: i32, high: i32, signed: bool) -> Result<Vec<i32>, String> {
    let allowed =
        |number: i32| (low..=high).contains(&number) || (signed && (low..=high).contains(&number.saturating_neg()));
    let expected = if signed { format!("{low} to {high} or -{high} to -{low}") } else { format!("{low} to {high}") };
    let mut found = Vec::new();
    for item in value.split(',').map(str::trim) {
        match item.parse::<i32>() {
            Ok(number) if allowed(number) => found.push(number),
            _ => return Err(format!("{name} value `{item}` is invalid; expected numbers from {expected}")),
        }
    }
    // Sorted so the times of a day come out in order.
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

fn combination_problems(rule: &Rule) -> Vec<String> {
    let mut problems = Vec::new();
    if rule.count.is_some() && rule.until.is_some() {
        problems.push("COUNT and UNTIL cannot both be set; keep one".into());
    }
    let mut ordinals = rule.by_day.iter().filter_map(|day| day.ordinal);
    match rule.freq {
        Freq::Daily | Freq::Weekly if ordinals.next().is_some() => {
            problems.push("BYDAY ordinals such as 1MO or -1FR need FREQ=MONTHLY or FREQ=YEARLY".into());
        }
        Freq::Monthly => {
            if let Some(ordinal) = ordinals.find(|ordinal| ordinal.unsigned_abs() > 5) {
                problems
                    .push(format!("BYDAY ordinal {ordinal} is out of range for FREQ=MONTHLY: use 1 to 5 or -5 to -1"));
            }
        }
        _ => {}
    }
    if rule.freq == Freq::Weekly && !rule.by_month_day.is_empty() {
        problems.push("BYMONTHDAY cannot be used with FREQ=WEEKLY".into());
    }
    let other_by_parts = [&rule.by_month_day, &rule.by_month, &rule.by_hour, &rule.by_minute];
    if !rule.by_set_pos.is_empty() && rule.by_day.is_empty() && other_by_parts.iter().all(|part| part.is_empty()) {
        problems.push("BYSETPOS needs another BY part such as BYDAY or BYMONTHDAY".into());
    }
    if !rule.by_month.is_empty() && !rule.by_month_day.is_empty() && !month_days_can_meet(rule) {
        problems.push(
            "BYMONTHDAY never falls in a month of BYMONTH (like 30 February), so the task would never repeat".into(),
        );
    }
    problems
}

fn month_days_can_meet(rule: &Rule) -> bool {
    // 2024 is a leap year: February may have 29 days.
    let longest = |month: i32| days_in_month(2024, month.unsigned_abs());
    rule.by_month.iter().any(|month| rule.by_month_day.iter().any(|day| day.unsigned_abs() <= longest(*month)))
}

impl Rule {
    /// COUNT reached by the occurrences that have already come due.
    fn is_used_up(&self, done_so_far: u32) -> bool {
        self.count.is_some_and(|count| done_so_far >= count)
    }

    /// The rule over calendar dates: no times of day, and a UTC UNTIL read as its local day.
    fn for_dates(self, zone: Tz) -> Rule {
        let until = match self.until {
            Some(Until::Instant(end)) => Some(Until::Date(end.with_timezone(&zone).date_naive())),
            other => other,
        };
        Rule { until, by_hour: Vec::new(), by_minute: Vec::new(), ..self }
    }

    fn is_past_until(&self, at: DateTime<Utc>, local_date: NaiveDate) -> bool {
        match self.until {
            None => false,
            Some(Until::Instant(end)) => at > end,
            Some(Until::Date(end)) => local_date > end,
        }
    }

    /// Whether `date` is one of the rule's days; defaults come from the series start, as in RFC 5545.
    fn keeps(&self, date: NaiveDate, start: NaiveDate) -> bool {
        self.month_matches(date, start) && self.month_day_matches(date, start) && self.weekday_matches(date, start)
    }

    fn month_matches(&self, date: NaiveDate, start: NaiveDate) -> bool {
        let month = date.month() as i32;
        if !self.by_month.is_empty() {
            return self.by_month.contains(&month);
        }
        // A bare yearly rule repeats on the start's month (and day).
        let start_month_only = self.freq == Freq::Yearly && self.by_month_day.is_empty() && self.by_day.is_empty();
        !start_month_only || date.month() == start.month()
    }

    fn month_day_matches(&self, date: NaiveDate, start: NaiveDate) -> bool {
        if self.by_month_day.is_empty() {
            let start_day_only = matches!(self.freq, Freq::Monthly | Freq::Yearly) && self.by_day.is_empty();
            return !start_day_only || date.day() == start.day();
        }
        let day = date.day() as i32;
        let length = days_in_month(date.year(), date.month()) as i32;
        self.by_month_day.iter().any(|wanted| *wanted == day || *wanted == day - length - 1)
    }

    fn weekday_matches(&self, date: NaiveDate, start: NaiveDate) -> bool {
        if self.by_day.is_empty() {
            return self.freq != Freq::Weekly || date.weekday() == start.weekday();
        }
        let (first, last) = self.ordinal_scope(date);
        self.by_day.iter().any(|entry| {
            let nth = |from: NaiveDate, to: NaiveDate| (to - from).num_days() / 7 + 1;
            date.weekday() == entry.weekday
                && match entry.ordinal {
                    None => true,
                    Some(ordinal) if ordinal > 0 => nth(first, date) == i64::from(ordinal),
                    Some(ordinal) => nth(date, last) == -i64::from(ordinal),
                }
        })
    }

    /// What `1MO` counts within: the month, except in a yearly rule with only BYDAY (the year).
    fn ordinal_scope(&self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        let whole_year = self.freq == Freq::Yearly && self.by_month.is_empty() && self.by_month_day.is_empty();
        let (first_month, last_month) = if whole_year { (1, 12) } else { (date.month(), date.month()) };
        let first = NaiveDate::from_ymd_opt(date.year(), first_month, 1).unwrap_or(date);
        let last =
            NaiveDate::from_ymd_opt(date.year(), last_month, days_in_month(date.year(), last_month)).unwrap_or(date);
        (first, last)
    }

    /// The times of day of each occurrence: BYHOUR × BYMINUTE, or the start's own.
    fn times(&self, start: NaiveTime) -> Vec<NaiveTime> {
        let hours = if self.by_hour.is_empty() { vec![start.hour() as i32] } else { self.by_hour.clone() };
        let minutes = if self.by_minute.is_empty() { vec![start.minute() as i32] } else { self.by_minute.clone() };
        let at = |hour: i32, minute: i32| start.with_hour(hour as u32)?.with_minute(minute as u32);
        hours.iter().flat_map(|hour| minutes.iter().filter_map(move |minute| at(*hour, *minute))).collect()
    }

    /// BYSETPOS: which of a period's occurrences (in order) are kept.
    fn select_positions(&self, candidates: Vec<NaiveDateTime>) -> Vec<NaiveDateTime> {
        if self.by_set_pos.is_empty() {
            return candidates;
        }
        let length = candidates.len() as i64;
        let mut chosen: Vec<NaiveDateTime> = self
            .by_set_pos
            .iter()
            .filter_map(|position| {
                let index = if *position > 0 { i64::from(*position) - 1 } else { length + i64::from(*position) };
                usize::try_from(index).ok().and_then(|index| candidates.get(index).copied())
            })
            .collect();
        chosen.sort_unstable();
        chosen.dedup();
        chosen
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(next_year, next_month, 1).and_then(|first| first.pred_opt()).map_or(28, |last| last.day())
}

fn week_start(date: NaiveDate, week_start: Weekday) -> NaiveDate {
    let back = (7 + date.weekday().num_days_from_monday() - week_start.num_days_from_monday()) % 7;
    date - Days::new(u64::from(back))
}

fn local(at: DateTime<Utc>, zone: Tz) -> NaiveDateTime {
    at.with_timezone(&zone).naive_local()
}

/// The instant of a wall-clock time in `zone`: the earlier one when it happens twice; in a gap,
/// the offset from before the gap (RFC 5545), which moves it forward by the gap's length.
fn resolve(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(at) = zone.from_local_datetime(&local).earliest() {
        return Some(at.with_timezone(&Utc));
    }
    // A day earlier is before the gap: zones do not change their offset twice in one day.
    let before_gap = zone.offset_from_utc_datetime(&local.checked_sub_signed(TimeDelta::days(1))?).fix();
    let utc = local.checked_sub_signed(TimeDelta::seconds(i64::from(before_gap.local_minus_utc())))?;
    Some(utc.and_utc())
}

/// The first day of the `index`-th period (day, week, month or year, times INTERVAL) of a series.
fn period_start(rule: &Rule, start: NaiveDate, index: u64) -> Option<NaiveDate> {
    let steps = index.checked_mul(u64::from(rule.interval))?;
    match rule.freq {
        Freq::Daily => start.checked_add_days(Days::new(steps)),
        Freq::Weekly => week_start(start, rule.week_start).checked_add_days(Days::new(steps.checked_mul(7)?)),
        Freq::Monthly => start.with_day(1)?.checked_add_months(Months::new(u32::try_from(steps).ok()?)),
        Freq::Yearly => {
            start.with_ordinal(1)?.checked_add_months(Months::new(u32::try_from(steps.checked_mul(12)?).ok()?))
        }
    }
}

fn period_end(freq: Freq, first_day: NaiveDate) -> Option<NaiveDate> {
    match freq {
        Freq::Daily => first_day.checked_add_days(Days::new(1)),
        Freq::Weekly => first_day.checked_add_days(Days::new(7)),
        Freq::Monthly => first_day.checked_add_months(Months::new(1)),
        Freq::Yearly => first_day.checked_add_months(Months::new(12)),
    }
}

/// Without COUNT nothing before `after` matters, so the walk may begin near it: the number of
/// whole periods that safely end before `after_date`.
fn periods_to_skip(rule: &Rule, start: NaiveDate, after_date: NaiveDate) -> u64 {
    let months = |date: NaiveDate| i64::from(date.year()) * 12 + i64::from(date.month0());
    let units = match rule.freq {
        Freq::Daily => (after_date - start).num_days(),
        Freq::Weekly => (week_start(after_date, rule.week_start) - week_start(start, rule.week_start)).num_days() / 7,
        Freq::Monthly => months(after_date) - months(start),
        Freq::Yearly => i64::from(after_date.year() - start.year()),
    };
    u64::try_from(units / i64::from(rule.interval) - 1).unwrap_or(0)
}

/// The occurrences within one period, as instants in order, each with its local date.
fn occurrences_in(
    rule: &Rule,
    zone: Tz,
    start: NaiveDateTime,
    first_day: NaiveDate,
) -> Vec<(DateTime<Utc>, NaiveDate)> {
    let Some(end) = period_end(rule.freq, first_day) else { return Vec::new() };
    let times = rule.times(start.time());
    let candidates: Vec<NaiveDateTime> = first_day
        .iter_days()
        .take_while(|day| *day < end)
        .filter(|day| rule.keeps(*day, start.date()))
        .flat_map(|day| times.iter().map(move |time| day.and_time(*time)))
        .collect();
    let mut found: Vec<(DateTime<Utc>, NaiveDate)> = rule
        .select_positions(candidates)
        .into_iter()
        .filter_map(|candidate| Some((resolve(zone, candidate)?, candidate.date())))
        .collect();
    // Around a DST change two wall-clock times can land on one instant, or swap order.
    found.sort_unstable();
    found.dedup_by_key(|(at, _)| *at);
    found
}

/// The first occurrence strictly after `after` of the series starting at local time `start`.
fn first_after(rule: &Rule, zone: Tz, start: NaiveDateTime, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut found = None;
    walk(rule, zone, start, after, &mut |at| {
        found = Some(at);
        false
    });
    found
}

/// Calls `visit` with each occurrence strictly after `after`, in order, until it answers false
/// or the series ends (COUNT, UNTIL, 100 years past the start or `after`, or `MAX_PERIODS`).
fn walk(
    rule: &Rule,
    zone: Tz,
    start: NaiveDateTime,
    after: DateTime<Utc>,
    visit: &mut dyn FnMut(DateTime<Utc>) -> bool,
) {
    let Some(first) = resolve(zone, start) else { return };
    if rule.is_past_until(first, start.date()) {
        return;
    }
    if first > after && !visit(first) {
        return;
    }
    let after_date = local(after, zone).date();
    let Some(horizon) = start.date().max(after_date).checked_add_months(Months::new(HORIZON_YEARS * 12)) else {
        return;
    };
    let skip = if rule.count.is_none() { periods_to_skip(rule, start.date(), after_date) } else { 0 };
    // The start is occurrence 1 whether or not it matches the rule (RFC 5545).
    let mut seen = 1;
    for index in (skip..).take(MAX_PERIODS) {
        let Some(first_day) = period_start(rule, start.date(), index) else { return };
        if first_day > horizon {
            return;
        }
        for (at, date) in occurrences_in(rule, zone, start, first_day) {
            if at <= first {
                continue;
            }
            seen += 1;
            if rule.is_past_until(at, date) || rule.count.is_some_and(|count| seen > count) {
                return;
            }
            if at > after && !visit(at) {
                return;
            }
        }
    }
}

/// `first_after` over calendar dates: midnight in UTC, where no DST can interfere.
fn first_date_after(rule: &Rule, start: NaiveDate, after: NaiveDate) -> Option<NaiveDate> {
    let midnight = |date: NaiveDate| date.and_time(NaiveTime::MIN);
    first_after(rule, chrono_tz::UTC, midnight(start), midnight(after).and_utc()).map(|at| at.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recurrence(rrule: &str, timezone: &str) -> Recurrence {
        Recurrence::parse(&json!({ "rrule": rrule, "timezone": timezone })).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// The first `n` occurrences from `start`, each found from the one before.
    fn series(recurrence: &Recurrence, start: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut found = vec![start];
        while found.len() < n {
            match recurrence.next_after(start, *found.last().unwrap()) {
                Some(next) => found.push(next),
                None => break,
            }
        }
        found
    }

    fn local_times(found: &[DateTime<Utc>], zone: Tz) -> Vec<String> {
        found.iter().map(|at| at.with_timezone(&zone).format("%Y-%m-%d %H:%M %a").to_string()).collect()
    }

    fn problems(rrule: &str) -> Vec<(String, String)> {
        let value = json!({ "rrule": rrule, "timezone": "Europe/Berlin" });
        Recurrence::parse(&value).expect_err(rrule).into_vec()
    }

    #[test]
    fn daily_nine_in_berlin_stays_nine_across_spring_forward() {
        let daily = recurrence("FREQ=DAILY", "Europe/Berlin");
        let found = series(&daily, utc("2026-03-27T08:00:00Z"), 4);
        // 09:00 CET is 08:00Z; from 29 March 09:00 CEST is 07:00Z.
        let expected = ["2026-03-27T08:00:00Z", "2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"];
        assert_eq!(found, expected.map(utc));
    }

    #[test]
    fn daily_nine_in_berlin_stays_nine_across_fall_back() {
        let daily = recurrence("FREQ=DAILY", "Europe/Berlin");
        let found = series(&daily, utc("2026-10-24T07:00:00Z"), 3);
        let expected = ["2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z", "2026-10-26T08:00:00Z"];
        assert_eq!(found, expected.map(utc));
    }

    #[test]
    fn new_york_keeps_eight_in_the_morning_in_march_and_november() {
        let daily = recurrence("FREQ=DAILY", "America/New_York");
        let start = utc("2026-03-07T13:00:00Z"); // 08:00 EST
        assert_eq!(daily.next_after(start, start), Some(utc("2026-03-08T12:00:00Z"))); // 08:00 EDT
        let autumn = daily.next_after(start, utc("2026-10-31T12:30:00Z"));
        assert_eq!(autumn, Some(utc("2026-11-01T13:00:00Z"))); // 08:00 EST again
    }

    #[test]
    fn a_time_in_the_spring_gap_moves_forward_by_the_gap_that_day_only() {
        let daily = recurrence("FREQ=DAILY", "Europe/Berlin");
        let found = series(&daily, utc("2026-03-28T01:30:00Z"), 3); // 02:30 CET
        assert_eq!(
            local_times(&found, chrono_tz::Europe::Berlin),
            ["2026-03-28 02:30 Sat", "2026-03-29 03:30 Sun", "2026-03-30 02:30 Mon"]
        );
    }

    #[test]
    fn a_time_that_happens_twice_in_autumn_takes_the_earlier() {
        let daily = recurrence("FREQ=DAILY", "Europe/Berlin");
        let next = daily.next_after(utc("2026-10-24T00:30:00Z"), utc("2026-10-24T00:30:00Z"));
        assert_eq!(next, Some(utc("2026-10-25T00:30:00Z"))); // 02:30 CEST, not 02:30 CET
    }

    #[test]
    fn a_gap_at_midnight_does_not_lose_the_day() {
        // Chile moves from 00:00 to 01:00 on 6 September 2026.
        let daily = recurrence("FREQ=DAILY", "America/Santiago");
        let found = series(&daily, utc("2026-09-05T04:30:00Z"), 3);
        let zone = chrono_tz::America::Santiago;
        assert_eq!(local_times(&found, zone), ["2026-09-05 00:30 Sat", "2026-09-06 01:30 Sun", "2026-09-07 00:30 Mon"]);
    }

    #[test]
    fn weekly_on_monday_wednesday_and_friday() {
        let weekly = recurrence("FREQ=WEEKLY;BYDAY=MO,WE,FR", "Europe/Berlin");
        let found = series(&weekly, utc("2026-03-02T08:00:00Z"), 5);
        assert_eq!(
            local_times(&found, chrono_tz::Europe::Berlin),
            [
                "2026-03-02 09:00 Mon",
                "2026-03-04 09:00 Wed",
                "2026-03-06 09:00 Fri",
                "2026-03-09 09:00 Mon",
                "2026-03-11 09:00 Wed"
            ]
        );
    }

    #[test]
    fn every_other_week_on_tuesday() {
        let weekly = recurrence("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", "UTC");
        let found = series(&weekly, utc("2026-01-06T10:00:00Z"), 3);
        assert_eq!(found, ["2026-01-06T10:00:00Z", "2026-01-20T10:00:00Z", "2026-02-03T10:00:00Z"].map(utc));
    }

    #[test]
    fn monthly_on_the_last_friday() {
        let monthly = recurrence("FREQ=MONTHLY;BYDAY=-1FR", "Europe/Berlin");
        let found = series(&monthly, utc("2026-01-30T08:00:00Z"), 4);
        assert_eq!(
            local_times(&found, chrono_tz::Europe::Berlin),
            ["2026-01-30 09:00 Fri", "2026-02-27 09:00 Fri", "2026-03-27 09:00 Fri", "2026-04-24 09:00 Fri"]
        );
    }

    #[test]
    fn monthly_on_the_31st_skips_shorter_months() {
        let monthly = recurrence("FREQ=MONTHLY;BYMONTHDAY=31", "UTC");
        let found = series(&monthly, utc("2026-01-31T09:00:00Z"), 4);
        assert_eq!(
            found,
            ["2026-01-31T09:00:00Z", "2026-03-31T09:00:00Z", "2026-05-31T09:00:00Z", "2026-07-31T09:00:00Z"].map(utc)
        );
    }

    #[test]
    fn monthly_on_the_last_day_and_on_the_last_weekday() {
        let last_day = recurrence("FREQ=MONTHLY;BYMONTHDAY=-1", "UTC");
        assert_eq!(
            last_day.next_after(utc("2026-01-31T09:00:00Z"), utc("2026-01-31T09:00:00Z")),
            Some(utc("2026-02-28T09:00:00Z"))
        );
        let last_weekday = recurrence("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "UTC");
        // 31 January 2026 is a Saturday: the last weekday is Friday the 30th; May's is Friday the 29th.
        assert_eq!(
            last_weekday.next_after(utc("2026-01-01T09:00:00Z"), utc("2026-01-01T09:00:00Z")),
            Some(utc("2026-01-30T09:00:00Z"))
        );
        assert_eq!(
            last_weekday.next_after(utc("2026-01-01T09:00:00Z"), utc("2026-05-01T00:00:00Z")),
            Some(utc("2026-05-29T09:00:00Z"))
        );
    }

    #[test]
    fn yearly_thanksgiving_and_leap_day() {
        let thanksgiving = recurrence("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", "America/New_York");
        let start = utc("2025-11-27T17:00:00Z");
        assert_eq!(thanksgiving.next_after(start, start), Some(utc("2026-11-26T17:00:00Z")));
        let leap_day = recurrence("FREQ=YEARLY", "UTC");
        let start = utc("2024-02-29T12:00:00Z");
        assert_eq!(leap_day.next_after(start, start), Some(utc("2028-02-29T12:00:00Z")));
    }

    #[test]
    fn byhour_and_byminute_give_several_times_a_day() {
        let twice = recurrence("FREQ=DAILY;BYHOUR=8,20;BYMINUTE=15", "Europe/Berlin");
        let found = series(&twice, utc("2026-03-02T07:15:00Z"), 3);
        let zone = chrono_tz::Europe::Berlin;
        assert_eq!(local_times(&found, zone), ["2026-03-02 08:15 Mon", "2026-03-02 20:15 Mon", "2026-03-03 08:15 Tue"]);
    }

    #[test]
    fn count_three_ends_after_the_third() {
        let three = recurrence("FREQ=DAILY;COUNT=3", "UTC");
        let start = utc("2026-05-01T09:00:00Z");
        assert_eq!(series(&three, start, 10).len(), 3);
        assert_eq!(three.next_after(start, utc("2026-05-03T09:00:00Z")), None);
        assert_eq!(three.next_after(start, utc("2030-01-01T00:00:00Z")), None);
    }

    #[test]
    fn until_ends_the_series_and_a_date_includes_its_whole_day() {
        let by_date = recurrence("FREQ=DAILY;UNTIL=20260503", "Europe/Berlin");
        let start = utc("2026-05-01T16:00:00Z"); // 18:00 CEST
        assert_eq!(series(&by_date, start, 10).len(), 3);
        let by_instant = recurrence("RRULE:FREQ=DAILY;UNTIL=20260503T150000Z", "Europe/Berlin");
        assert_eq!(series(&by_instant, start, 10).len(), 2);
        assert_eq!(by_date.next_after(utc("2026-05-04T16:00:00Z"), utc("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn a_rule_that_never_matches_gives_up_instead_of_spinning() {
        // The fifth Monday is never the 1st, yet the rule is well-formed.
        let never = recurrence("FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1", "UTC");
        let start = utc("2026-01-05T09:00:00Z");
        assert_eq!(never.next_after(start, start), None);
        // One candidate a day, and BYSETPOS asks for the second: 100 years of days are walked, then None.
        let second_of_one = recurrence("FREQ=DAILY;BYHOUR=9;BYSETPOS=2", "UTC");
        assert_eq!(second_of_one.next_after(start, start), None);
        // A stored rule that no longer passes validation never repeats.
        let february_30 = Recurrence {
            rrule: "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30".into(),
            timezone: "UTC".into(),
            mode: RecurrenceMode::FromDue,
        };
        assert_eq!(february_30.next_after(start, start), None);
        let leap_days = recurrence("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29", "UTC");
        assert_eq!(leap_days.next_after(start, start), Some(utc("2028-02-29T09:00:00Z")));
    }

    #[test]
    fn a_series_started_decades_ago_is_still_quick_and_right() {
        let daily = recurrence("FREQ=DAILY;INTERVAL=2", "Europe/Berlin");
        let start = utc("1990-01-01T08:00:00Z"); // 09:00 CET
        // 2026-05-30 is 13,298 days (an even number) after the start, and 09:00 there is CEST.
        assert_eq!(daily.next_after(start, utc("2026-05-29T12:00:00Z")), Some(utc("2026-05-30T07:00:00Z")));
    }

    #[test]
    fn from_due_follows_the_series_even_when_completed_late() {
        let every_three = recurrence("FREQ=DAILY;INTERVAL=3", "Europe/Berlin");
        // Due on 1, 4, 7, 10, 13 March at 09:00; the 10th's task done on the 12th.
        let next = every_three.next_due(
            utc("2026-03-01T08:00:00Z"),
            utc("2026-03-10T08:00:00Z"),
            utc("2026-03-12T17:00:00Z"),
            4,
        );
        assert_eq!(next, Some(utc("2026-03-13T08:00:00Z")));
    }

    #[test]
    fn from_completion_counts_the_interval_from_the_day_it_was_done() {
        let value = json!({ "rrule": "FREQ=DAILY;INTERVAL=3", "timezone": "Europe/Berlin", "mode": "from_completion" });
        let every_three = Recurrence::parse(&value).unwrap();
        let due = utc("2026-03-08T08:00:00Z"); // 09:00 CET
        let done = utc("2026-03-10T17:00:00Z"); // 18:00 CET on the 10th
        assert_eq!(every_three.next_due(due, due, done, 1), Some(utc("2026-03-13T08:00:00Z")));
        // Across the spring change the task stays at 09:00 local.
        assert_eq!(every_three.next_due(due, due, utc("2026-03-27T17:00:00Z"), 1), Some(utc("2026-03-30T07:00:00Z")));
    }

    #[test]
    fn from_completion_still_stops_at_count() {
        let value = json!({ "rrule": "FREQ=WEEKLY;COUNT=2", "timezone": "UTC", "mode": "from_completion" });
        let twice = Recurrence::parse(&value).unwrap();
        let due = utc("2026-03-02T09:00:00Z");
        assert_eq!(twice.next_due(due, due, due, 1), Some(utc("2026-03-09T09:00:00Z")));
        assert_eq!(twice.next_due(due, due, due, 2), None);
    }

    #[test]
    fn date_only_tasks_repeat_by_calendar_day() {
        let weekly = recurrence("FREQ=WEEKLY;BYDAY=MO,TH", "Europe/Berlin");
        let done = utc("2026-03-02T23:30:00Z"); // 00:30 on Tuesday the 3rd in Berlin
        assert_eq!(weekly.next_due_date(date("2026-03-02"), date("2026-03-02"), done, 1), Some(date("2026-03-05")));
        assert_eq!(weekly.next_date_after(date("2026-03-02"), date("2026-03-05")), Some(date("2026-03-09")));
        let value = json!({ "rrule": "FREQ=MONTHLY", "timezone": "Europe/Berlin", "mode": "from_completion" });
        let monthly = Recurrence::parse(&value).unwrap();
        assert_eq!(monthly.next_due_date(date("2026-03-02"), date("2026-03-02"), done, 1), Some(date("2026-04-03")));
    }

    #[test]
    fn parse_accepts_a_prefix_and_defaults_the_mode() {
        let parsed = Recurrence::parse(&json!({ "rrule": " rrule:freq=weekly;byday=mo ", "timezone": "Asia/Tokyo" }));
        let expected = Recurrence {
            rrule: "FREQ=WEEKLY;BYDAY=MO".into(),
            timezone: "Asia/Tokyo".into(),
            mode: RecurrenceMode::FromDue,
        };
        assert_eq!(parsed, Ok(expected.clone()));
        assert_eq!(serde_json::to_value(&expected).unwrap()["mode"], "from_due");
        let stored: Recurrence = serde_json::from_value(json!({ "rrule": "FREQ=DAILY", "timezone": "UTC" })).unwrap();
        assert_eq!(stored.mode, RecurrenceMode::FromDue);
    }

    #[test]
    fn parse_names_each_wrong_field() {
        let value = json!({ "rrule": 5, "timezone": "Mars/Olympus", "mode": "whenever", "colour": "red" });
        let mut fields: Vec<String> =
            Recurrence::parse(&value).unwrap_err().into_vec().into_iter().map(|(field, _)| field).collect();
        fields.sort();
        assert_eq!(fields, ["recurrence.colour", "recurrence.mode", "recurrence.rrule", "recurrence.timezone"]);
        let missing = Recurrence::parse(&json!({})).unwrap_err().into_vec();
        assert_eq!(
            missing,
            [
                ("recurrence.rrule".to_string(), "is required".to_string()),
                ("recurrence.timezone".to_string(), "is required".to_string())
            ]
        );
        assert_eq!(Recurrence::parse(&json!("FREQ=DAILY")).unwrap_err().into_vec()[0].0, "recurrence");
    }

    #[test]
    fn invalid_rules_say_what_is_wrong() {
        let long = format!("FREQ=DAILY;{}", "INTERVAL=1;".repeat(50));
        let cases = [
            ("", "is required"),
            ("INTERVAL=2", "FREQ is required"),
            ("FREQ=FORTNIGHTLY", "FREQ `FORTNIGHTLY` is unknown"),
            ("FREQ=HOURLY", "FREQ=HOURLY is not supported"),
            ("FREQ=MINUTELY", "FREQ=MINUTELY is not supported"),
            ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number of 1 or more, not `0`"),
            ("FREQ=DAILY;INTERVAL=x", "INTERVAL must be a whole number of 1 or more, not `X`"),
            ("FREQ=DAILY;COUNT=-1", "COUNT must be a whole number of 1 or more"),
            ("FREQ=DAILY;COUNT=3;UNTIL=20261231", "COUNT and UNTIL cannot both be set"),
            ("FREQ=DAILY;UNTIL=2026-12-31", "UNTIL `2026-12-31` is invalid"),
            ("FREQ=DAILY;UNTIL=20261231T235959", "UNTIL `20261231T235959` is invalid"),
            ("FREQ=WEEKLY;BYDAY=MO,XX", "BYDAY value `XX` is invalid"),
            ("FREQ=MONTHLY;BYDAY=0MO", "BYDAY value `0MO` is invalid"),
            ("FREQ=WEEKLY;BYDAY=1MO", "BYDAY ordinals such as 1MO or -1FR need FREQ=MONTHLY or FREQ=YEARLY"),
            ("FREQ=MONTHLY;BYDAY=6FR", "BYDAY ordinal 6 is out of range for FREQ=MONTHLY"),
            (
                "FREQ=MONTHLY;BYMONTHDAY=0",
                "BYMONTHDAY value `0` is invalid; expected numbers from 1 to 31 or -31 to -1",
            ),
            ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY value `32` is invalid"),
            ("FREQ=YEARLY;BYMONTH=13", "BYMONTH value `13` is invalid; expected numbers from 1 to 12"),
            ("FREQ=DAILY;BYHOUR=24", "BYHOUR value `24` is invalid; expected numbers from 0 to 23"),
            ("FREQ=DAILY;BYMINUTE=60", "BYMINUTE value `60` is invalid"),
            ("FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS needs another BY part"),
            ("FREQ=WEEKLY;WKST=XX", "WKST `XX` is not one of MO"),
            ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY cannot be used with FREQ=WEEKLY"),
            ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "BYMONTHDAY never falls in a month of BYMONTH"),
            ("FREQ=YEARLY;BYWEEKNO=20", "BYWEEKNO is not supported"),
            ("FREQ=DAILY;FOO=1", "`FOO` is not a known rule part"),
            ("FREQ=DAILY;FREQ=WEEKLY", "FREQ appears more than once"),
            ("FREQ=DAILY;BYDAY", "`BYDAY` is not of the form NAME=VALUE"),
            (long.as_str(), "must be at most 500 characters"),
        ];
        for (rrule, expected) in cases {
            let found = problems(rrule);
            assert!(
                found.iter().any(|(field, message)| field == "recurrence.rrule" && message.contains(expected)),
                "{rrule:?}: expected {expected:?}, got {found:?}"
            );
        }
    }

    #[test]
    fn every_problem_of_a_rule_is_reported() {
        let found = problems("FREQ=SOMETIMES;INTERVAL=0;BYDAY=XX");
        assert_eq!(found.len(), 3, "{found:?}");
    }
}
