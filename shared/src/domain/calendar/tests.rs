use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn berlin() -> Tz {
    "Europe/Berlin".parse().unwrap()
}

fn timed(start: &str, end: &str) -> When {
    When::Timed { start: utc(start), end: utc(end) }
}

fn series<'a>(
    when: When,
    rrule: Option<&'a str>,
    exdates: &'a [DateTime<Utc>],
    changes: &'a [OccurrenceChange],
) -> Series<'a> {
    Series {
        event_id: "01EVENT",
        title: "Stand-up",
        when,
        zone: berlin(),
        rrule,
        exdates,
        busy: true,
        source: Source::Flowday,
        changes,
    }
}

fn starts(occurrences: &[Occurrence]) -> Vec<String> {
    occurrences.iter().map(|occurrence| occurrence.when.occurrence_id()).collect()
}

#[test]
fn a_weekly_meeting_keeps_its_berlin_time_across_the_dst_change() {
    // Mondays 09:00 Berlin: 07:00 UTC in summer time, 08:00 UTC after 25 October 2026.
    let meeting = series(timed("2026-10-05T07:00:00Z", "2026-10-05T07:30:00Z"), Some("FREQ=WEEKLY;BYDAY=MO"), &[], &[]);
    let found = meeting.occurrences_between(utc("2026-10-15T00:00:00Z"), utc("2026-11-05T00:00:00Z"));
    assert_eq!(starts(&found), ["2026-10-19T07:00:00Z", "2026-10-26T08:00:00Z", "2026-11-02T08:00:00Z"]);
    assert!(found.iter().all(|occurrence| occurrence.recurring && occurrence.busy));
    let When::Timed { start, end } = found[1].when else { panic!("timed") };
    assert_eq!(end - start, TimeDelta::minutes(30), "every occurrence keeps the event's length");
}

#[test]
fn an_occurrence_still_going_on_at_the_start_of_the_range_is_listed() {
    let night_shift = series(timed("2026-12-01T20:00:00Z", "2026-12-02T06:00:00Z"), Some("FREQ=DAILY"), &[], &[]);
    let found = night_shift.occurrences_between(utc("2026-12-03T05:00:00Z"), utc("2026-12-03T21:00:00Z"));
    assert_eq!(starts(&found), ["2026-12-02T20:00:00Z", "2026-12-03T20:00:00Z"]);
    let single = series(timed("2026-12-01T20:00:00Z", "2026-12-02T06:00:00Z"), None, &[], &[]);
    assert_eq!(single.occurrences_between(utc("2026-12-02T05:59:59Z"), utc("2026-12-03T00:00:00Z")).len(), 1);
    assert!(
        single.occurrences_between(utc("2026-12-02T06:00:00Z"), utc("2026-12-03T00:00:00Z")).is_empty(),
        "ends are exclusive"
    );
}

#[test]
fn exdates_and_cancelled_occurrences_are_left_out_and_moved_ones_move() {
    let exdates = [utc("2026-12-08T08:00:00Z")];
    let changes = [
        OccurrenceChange::cancellation("2026-12-09T08:00:00Z"),
        OccurrenceChange {
            occurrence_id: "2026-12-10T08:00:00Z".into(),
            title: Some("Stand-up (late)".into()),
            start_at: Some(utc("2026-12-10T12:00:00Z")),
            end_at: Some(utc("2026-12-10T12:15:00Z")),
            ..OccurrenceChange::default()
        },
        // Moved from the day after the range into it.
        OccurrenceChange {
            occurrence_id: "2026-12-12T08:00:00Z".into(),
            start_at: Some(utc("2026-12-11T16:00:00Z")),
            end_at: Some(utc("2026-12-11T16:15:00Z")),
            ..OccurrenceChange::default()
        },
        // Moved from inside the range to after it.
        OccurrenceChange {
            occurrence_id: "2026-12-11T08:00:00Z".into(),
            start_at: Some(utc("2026-12-20T08:00:00Z")),
            end_at: Some(utc("2026-12-20T08:15:00Z")),
            busy: Some(false),
            ..OccurrenceChange::default()
        },
    ];
    let daily = series(timed("2026-12-07T08:00:00Z", "2026-12-07T08:15:00Z"), Some("FREQ=DAILY"), &exdates, &changes);
    let found = daily.occurrences_between(utc("2026-12-07T00:00:00Z"), utc("2026-12-12T00:00:00Z"));
    assert_eq!(starts(&found), ["2026-12-07T08:00:00Z", "2026-12-10T12:00:00Z", "2026-12-11T16:00:00Z"]);
    assert_eq!(found[1].occurrence_id, "2026-12-10T08:00:00Z", "a moved occurrence keeps its id");
    assert_eq!(found[1].title, "Stand-up (late)");
    assert_eq!(found[2].occurrence_id, "2026-12-12T08:00:00Z");
    let later = daily.occurrences_between(utc("2026-12-20T00:00:00Z"), utc("2026-12-21T00:00:00Z"));
    let moved_out = later.iter().find(|occurrence| occurrence.occurrence_id == "2026-12-11T08:00:00Z").unwrap();
    assert!(!moved_out.busy, "the override's busy flag applies");
}

#[test]
fn all_day_events_repeat_by_date_and_cover_whole_local_days() {
    // Every other Friday, one day long.
    let fridays = series(
        When::AllDay { start: date("2026-12-04"), end: date("2026-12-05") },
        Some("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR"),
        &[],
        &[],
    );
    let found = fridays.occurrences_between(utc("2026-12-01T00:00:00Z"), utc("2027-01-31T00:00:00Z"));
    assert_eq!(starts(&found), ["2026-12-04", "2026-12-18", "2027-01-01", "2027-01-15", "2027-01-29"]);
    // 23:30 UTC on 3 December is already Friday in Berlin: the day is busy from then.
    let (start, end) = found[0].when.instants(berlin());
    assert_eq!((start, end), (utc("2026-12-03T23:00:00Z"), utc("2026-12-04T23:00:00Z")));
    let exdates = [utc("2026-12-18T10:00:00Z")];
    let skipping = series(fridays.when, fridays.rrule, &exdates, &[]);
    assert!(
        !starts(&skipping.occurrences_between(utc("2026-12-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")))
            .contains(&"2026-12-18".to_string())
    );
}

#[test]
fn a_rule_that_fires_every_minute_is_cut_at_the_cap() {
    let minutes: Vec<String> = (0..60).map(|minute| minute.to_string()).collect();
    let hours: Vec<String> = (0..24).map(|hour| hour.to_string()).collect();
    let rule = format!("FREQ=DAILY;BYHOUR={};BYMINUTE={}", hours.join(","), minutes.join(","));
    let mut violations = Violations::new();
    let rule = parse_rrule(&rule, "UTC", &mut violations).expect("a valid rule");
    let busy = series(timed("2026-12-01T00:00:00Z", "2026-12-01T00:01:00Z"), Some(&rule), &[], &[]);
    let found = busy.occurrences_between(utc("2026-12-01T00:00:00Z"), utc("2027-01-31T00:00:00Z"));
    assert_eq!(found.len(), OCCURRENCES_PER_EVENT_MAX);
}

/// The expansion of a range equals the series walked from its start, filtered to the range.
#[test]
fn a_range_lists_exactly_the_occurrences_of_the_whole_series_that_overlap_it() {
    let rules = [
        "FREQ=DAILY",
        "FREQ=DAILY;INTERVAL=3",
        "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=WEEKLY;COUNT=10",
        "FREQ=DAILY;UNTIL=20270115T000000Z",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    ];
    let start = utc("2026-03-01T01:30:00Z");
    for rule in rules {
        let when = When::Timed { start, end: start + TimeDelta::hours(26) };
        let event = series(when, Some(rule), &[], &[]);
        let recurrence =
            Recurrence { rrule: rule.into(), timezone: "Europe/Berlin".into(), mode: RecurrenceMode::FromDue };
        let mut whole = vec![start];
        while let Some(next) = recurrence.next_after(start, *whole.last().unwrap()) {
            if next > utc("2028-01-01T00:00:00Z") {
                break;
            }
            whole.push(next);
        }
        for (from_day, span_days) in [(0, 1), (3, 10), (27, 62), (200, 31), (360, 62), (600, 5)] {
            let from = start + TimeDelta::days(from_day) - TimeDelta::hours(7);
            let to = from + TimeDelta::days(span_days);
            let expected: Vec<String> = whole
                .iter()
                .filter(|at| **at < to && **at + TimeDelta::hours(26) > from)
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .collect();
            assert_eq!(starts(&event.occurrences_between(from, to)), expected, "{rule} from day {from_day}");
        }
    }
}

#[test]
fn times_and_rules_are_checked_with_every_problem_named() {
    let mut violations = Violations::new();
    let when = When::from_fields(
        Some(utc("2026-12-01T10:00:00Z")),
        Some(utc("2026-12-01T09:00:00Z")),
        None,
        None,
        &mut violations,
    );
    assert!(when.is_some());
    assert!(parse_rrule("FREQ=SOMETIMES", "Mars/Olympus", &mut violations).is_none());
    let fields: Vec<String> = violations.into_vec().into_iter().map(|(field, _)| field).collect();
    assert!(fields.contains(&"end_at".to_string()), "{fields:?}");
    assert!(fields.contains(&"rrule".to_string()), "{fields:?}");
    assert!(fields.contains(&"timezone".to_string()), "{fields:?}");

    let mut both = Violations::new();
    let mixed = When::from_fields(Some(utc("2026-12-01T10:00:00Z")), None, Some(date("2026-12-01")), None, &mut both);
    assert!(mixed.is_none() && !both.is_empty());
    let mut long = Violations::new();
    When::from_fields(None, None, Some(date("2026-01-01")), Some(date("2027-06-01")), &mut long);
    assert_eq!(long.into_vec()[0].0, "end_date");
    assert_eq!(
        check_range(utc("2026-12-01T00:00:00Z"), utc("2027-03-01T00:00:00Z")).unwrap_err(),
        "a range spans at most 62 days"
    );
}

fn event(when: When, rrule: Option<&str>) -> Event {
    let (start_at, end_at, start_date, end_date) = match when {
        When::Timed { start, end } => (Some(start), Some(end), None, None),
        When::AllDay { start, end } => (None, None, Some(start), Some(end)),
    };
    Event {
        id: "01EVENT".into(),
        title: "Review".into(),
        description: None,
        location: None,
        start_at,
        end_at,
        start_date,
        end_date,
        timezone: "Europe/Berlin".into(),
        rrule: rrule.map(String::from),
        exdates: Vec::new(),
        changes: Vec::new(),
        busy: true,
        source: Source::Flowday,
        version: 1,
        created_at: utc("2026-12-01T00:00:00Z"),
        updated_at: utc("2026-12-01T00:00:00Z"),
    }
}

#[test]
fn a_span_runs_to_the_end_of_the_last_occurrence_or_has_no_end() {
    let single = event(timed("2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z"), None);
    assert_eq!(single.span(), (utc("2026-12-07T08:00:00Z"), Some(utc("2026-12-07T09:00:00Z"))));
    let counted = event(timed("2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z"), Some("FREQ=DAILY;COUNT=3"));
    assert_eq!(counted.span().1, Some(utc("2026-12-09T09:00:00Z")));
    let endless = event(timed("2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z"), Some("FREQ=WEEKLY"));
    assert_eq!(endless.span().1, None);
    let mut moved = counted.clone();
    moved.changes.push(OccurrenceChange {
        occurrence_id: "2026-12-09T08:00:00Z".into(),
        start_at: Some(utc("2026-12-20T08:00:00Z")),
        end_at: Some(utc("2026-12-20T09:00:00Z")),
        ..OccurrenceChange::default()
    });
    assert_eq!(moved.span().1, Some(utc("2026-12-20T09:00:00Z")), "a moved occurrence stretches the span");
    let until =
        event(When::AllDay { start: date("2026-12-01"), end: date("2026-12-02") }, Some("FREQ=DAILY;UNTIL=20261205"));
    assert_eq!(until.span(), (utc("2026-11-30T23:00:00Z"), Some(utc("2026-12-05T23:00:00Z"))));
    let listed = moved.occurrences_between(utc("2026-12-19T00:00:00Z"), utc("2026-12-21T00:00:00Z"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].occurrence_id, "2026-12-09T08:00:00Z");
}
