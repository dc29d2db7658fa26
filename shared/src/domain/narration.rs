//! The narration of a plan may only explain it. `validate_narration` checks a model's text
//! against the plan's facts before it is kept: every time of day it names is a block's start or
//! end, every count of blocks is the plan's, every id is a planned task's, every quoted title is
//! a task of the plan, and no open task that is not in the plan is mentioned. A text that fails
//! any of these is discarded, and the plan stands without it.

use std::collections::BTreeSet;

use chrono::Timelike;
use chrono_tz::Tz;

use super::planner::{Block, Unplaced};

/// The longest narration kept, in characters.
pub const MAX_NARRATION_CHARS: usize = 1_500;

/// What a narration may mention.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanFacts {
    /// Block starts and ends, and the times the plan's own reasons for unplaced tasks name
    /// ("due at 15:00"), minutes after local midnight.
    pub times: BTreeSet<u32>,
    /// The tasks of the plan (placed or explained), by id, with their titles.
    pub tasks: Vec<(String, String)>,
    /// Titles of the user's open tasks that are not in the plan: never to be named.
    pub other_titles: Vec<String>,
    /// How many blocks the plan has.
    pub blocks: usize,
}

impl PlanFacts {
    /// The facts of a plan in `zone`: `title_of` names its tasks, `other_titles` are the user's
    /// other open tasks.
    pub fn of(
        blocks: &[Block],
        unplaced: &[Unplaced],
        zone: Tz,
        title_of: impl Fn(&str) -> Option<String>,
        other_titles: Vec<String>,
    ) -> Self {
        let minutes = |at: chrono::DateTime<chrono::Utc>| {
            let local = at.with_timezone(&zone);
            local.hour() * 60 + local.minute()
        };
        let times = blocks
            .iter()
            .flat_map(|block| [minutes(block.start), minutes(block.end)])
            .chain(unplaced.iter().flat_map(|left_out| times_named(&left_out.detail)))
            .collect();
        let ids: BTreeSet<&str> = blocks
            .iter()
            .map(|block| block.task_id.as_str())
            .chain(unplaced.iter().map(|u| u.task_id.as_str()))
            .collect();
        let tasks = ids.into_iter().filter_map(|id| Some((id.to_string(), title_of(id)?))).collect();
        PlanFacts { times, tasks, other_titles, blocks: blocks.len() }
    }
}

/// The narration, trimmed, if it only explains the plan; otherwise what it got wrong.
pub fn validate_narration(text: &str, facts: &PlanFacts) -> Result<String, Vec<String>> {
    let text = text.trim();
    let mut wrong = Vec::new();
    if text.is_empty() {
        wrong.push("it is empty".to_string());
    }
    if text.chars().count() > MAX_NARRATION_CHARS {
        wrong.push(format!("it is longer than {MAX_NARRATION_CHARS} characters"));
    }
    for minutes in times_named(text) {
        if !facts.times.contains(&minutes) {
            wrong.push(format!("it names {:02}:{:02}, which no block starts or ends at", minutes / 60, minutes % 60));
        }
    }
    for count in block_counts(text) {
        if count != facts.blocks {
            wrong.push(format!("it speaks of {count} blocks; the plan has {}", facts.blocks));
        }
    }
    for id in ids_named(text) {
        if !facts.tasks.iter().any(|(task_id, _)| *task_id == id) {
            wrong.push(format!("it names {id}, which is not a task of the plan"));
        }
    }
    let lowered = simplified(text);
    for quoted in quotations(text) {
        let quoted = simplified(&quoted);
        let known = facts.tasks.iter().any(|(_, title)| {
            let title = simplified(title);
            title.contains(&quoted) || quoted.contains(&title)
        });
        if !known && quoted.chars().count() >= 3 {
            wrong.push(format!("it quotes \"{quoted}\", which is no task of the plan"));
        }
    }
    for title in &facts.other_titles {
        let title = simplified(title);
        let in_plan = facts.tasks.iter().any(|(_, planned)| simplified(planned) == title);
        if !in_plan && title.chars().count() >= 4 && contains_words(&lowered, &title) {
            wrong.push(format!("it mentions \"{title}\", which is not in the plan"));
        }
    }
    if wrong.is_empty() { Ok(text.to_string()) } else { Err(wrong) }
}

/// Lower case, one space between words.
fn simplified(text: &str) -> String {
    text.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

/// Whether `needle` occurs in `haystack` on word boundaries.
fn contains_words(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Times of day in the text, as minutes after midnight: `9:30`, `09:30`, `14:00`, `9:30 am`,
/// `9am`, `2 pm`, `12:15pm`.
fn times_named(text: &str) -> Vec<u32> {
    let chars: Vec<char> = text.chars().collect();
    let mut times = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let starts_number = chars[index].is_ascii_digit() && (index == 0 || !chars[index - 1].is_alphanumeric());
        if !starts_number {
            index += 1;
            continue;
        }
        let (hour, mut next) = number_at(&chars, index);
        let mut minute = None;
        if chars.get(next) == Some(&':') && chars.get(next + 1).is_some_and(char::is_ascii_digit) {
            let (value, after) = number_at(&chars, next + 1);
            if after - (next + 1) == 2 {
                minute = Some(value);
                next = after;
            }
        }
        let meridiem = meridiem_at(&chars, next);
        let time = match (minute, meridiem) {
            (Some(minute), None) if hour < 24 && minute < 60 => Some(hour * 60 + minute),
            (minute, Some((pm, _))) if (1..=12).contains(&hour) && minute.unwrap_or(0) < 60 => {
                let hour = hour % 12 + if pm { 12 } else { 0 };
                Some(hour * 60 + minute.unwrap_or(0))
            }
            _ => None,
        };
        times.extend(time);
        index = meridiem.map_or(next, |(_, end)| end).max(index + 1);
    }
    times
}

/// The number of digits at `start` and where it ends.
fn number_at(chars: &[char], start: usize) -> (u32, usize) {
    let mut end = start;
    let mut value: u32 = 0;
    while end < chars.len() && chars[end].is_ascii_digit() && end - start < 4 {
        value = value * 10 + chars[end].to_digit(10).unwrap_or(0);
        end += 1;
    }
    (value, end)
}

/// `am` / `pm` (also `a.m.`) after optional spaces at `start`: whether pm, and where it ends.
fn meridiem_at(chars: &[char], start: usize) -> Option<(bool, usize)> {
    let mut at = start;
    while chars.get(at) == Some(&' ') {
        at += 1;
    }
    let first = chars.get(at)?.to_ascii_lowercase();
    if first != 'a' && first != 'p' {
        return None;
    }
    let mut end = at + 1;
    if chars.get(end) == Some(&'.') {
        end += 1;
    }
    if !chars.get(end)?.eq_ignore_ascii_case(&'m') {
        return None;
    }
    end += 1;
    if chars.get(end) == Some(&'.') {
        end += 1;
    }
    if chars.get(end).is_some_and(|c| c.is_alphanumeric()) {
        return None;
    }
    Some((first == 'p', end))
}

const NUMBER_WORDS: [&str; 13] =
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];

/// Counts of blocks the text states: "3 blocks", "two focus blocks", "one block".
fn block_counts(text: &str) -> Vec<usize> {
    let words: Vec<String> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_lowercase).collect();
    let mut counts = Vec::new();
    for (index, word) in words.iter().enumerate() {
        if word != "block" && word != "blocks" {
            continue;
        }
        let before = |back: usize| index.checked_sub(back).map(|at| words[at].as_str());
        let number = match before(1) {
            Some("focus" | "work" | "time") => before(2),
            other => other,
        };
        let value = number.and_then(|number| {
            number.parse::<usize>().ok().or_else(|| NUMBER_WORDS.iter().position(|word| *word == number))
        });
        counts.extend(value);
    }
    counts
}

/// ULID-shaped words (26 characters of Crockford's base32): task ids.
fn ids_named(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| {
            word.len() == 26 && ulid::Ulid::from_string(word).is_ok() && word.chars().any(|c| c.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

/// Text between double quotes (straight or curly).
fn quotations(text: &str) -> Vec<String> {
    let mut quoted = Vec::new();
    let mut open: Option<usize> = None;
    for (at, c) in text.char_indices() {
        match (c, open) {
            ('"' | '“', None) => open = Some(at + c.len_utf8()),
            ('"' | '”', Some(start)) => {
                quoted.push(text[start..at].to_string());
                open = None;
            }
            _ => {}
        }
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> PlanFacts {
        PlanFacts {
            times: [9 * 60, 10 * 60 + 30, 14 * 60, 15 * 60].into_iter().collect(),
            tasks: vec![
                ("01JF0000000000000000000001".into(), "Write the report".into()),
                ("01JF0000000000000000000002".into(), "Call the bank".into()),
            ],
            other_titles: vec!["Plan the party".into(), "Tax".into()],
            blocks: 2,
        }
    }

    #[test]
    fn a_narration_of_the_plan_is_kept() {
        let text = "  Your two focus blocks: \"Write the report\" from 9:00 to 10:30 while you are fresh, \
                    then call the bank at 2pm until 3 p.m.  ";
        assert_eq!(validate_narration(text, &facts()).unwrap(), text.trim());
    }

    #[test]
    fn an_invented_time_is_refused() {
        let wrong = validate_narration("Start the report at 8:15 and finish by 10:30.", &facts()).unwrap_err();
        assert_eq!(wrong.len(), 1, "{wrong:?}");
        assert!(wrong[0].contains("08:15"));
        assert!(validate_narration("Lunch at 12 pm.", &facts()).is_err());
        assert!(validate_narration("Then at 16:00 you are done.", &facts()).is_err());
    }

    #[test]
    fn an_invented_block_or_task_is_refused() {
        assert!(validate_narration("Three blocks today.", &facts()).is_err());
        assert!(validate_narration("Also squeeze in \"Email Anna\".", &facts()).is_err());
        assert!(validate_narration("Don't forget to plan the party.", &facts()).is_err());
        assert!(validate_narration("Task 01JF0000000000000000000009 waits.", &facts()).is_err());
        // A short other title that is part of a word is no mention ("Tax" in "taxing").
        assert!(validate_narration("A taxing morning, then the bank.", &facts()).is_ok());
    }

    #[test]
    fn a_time_the_plan_gives_for_leaving_a_task_out_may_be_repeated() {
        let utc =
            |h: u32| chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap().and_hms_opt(h, 0, 0).unwrap().and_utc();
        let blocks = vec![Block {
            task_id: "01JF0000000000000000000001".into(),
            start: utc(8),
            end: utc(9),
            chunk: crate::domain::planner::Chunk { index: 1, of: 1 },
            reasons: vec![],
        }];
        let unplaced = vec![Unplaced {
            task_id: "01JF0000000000000000000002".into(),
            code: crate::domain::planner::UnplacedCode::NoFreeSlotBeforeDeadline,
            detail: "due at 14:00; no free time long enough before it".into(),
        }];
        let facts = PlanFacts::of(&blocks, &unplaced, chrono_tz::Europe::Berlin, |_| Some("A task".into()), vec![]);
        assert!(
            validate_narration("From 9:00 to 10:00 the first task; the second, due at 14:00, did not fit.", &facts)
                .is_ok()
        );
        assert!(validate_narration("The second could go at 15:00.", &facts).is_err());
    }

    #[test]
    fn numbers_that_are_not_times_pass() {
        assert!(validate_narration("The report takes 90 minutes; 2 blocks in all.", &facts()).is_ok());
        assert_eq!(times_named("at 9:00, 9am, 12:15pm, 12 am, 25:00, 3:5"), vec![540, 540, 735, 0]);
    }

    #[test]
    fn empty_and_overlong_texts_are_refused() {
        assert!(validate_narration("   ", &facts()).is_err());
        assert!(validate_narration(&"a".repeat(MAX_NARRATION_CHARS + 1), &facts()).is_err());
    }
}
