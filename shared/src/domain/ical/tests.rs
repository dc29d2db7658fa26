use super::*;
use crate::domain::calendar::Source;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn event(title: &str, start: &str, end: &str, rrule: Option<&str>) -> Event {
    Event {
        id: "01EVENT".into(),
        title: title.into(),
        description: None,
        location: None,
        start_at: Some(utc(start)),
        end_at: Some(utc(end)),
        start_date: None,
        end_date: None,
        timezone: "Europe/Berlin".into(),
        rrule: rrule.map(String::from),
        exdates: Vec::new(),
        changes: Vec::new(),
        busy: true,
        source: Source::Flowday,
        version: 3,
        created_at: utc("2026-12-01T00:00:00Z"),
        updated_at: utc("2026-12-01T00:00:00Z"),
    }
}

/// The content lines, unfolded.
fn lines(ics: &str) -> Vec<String> {
    ics.replace("\r\n ", "").split("\r\n").filter(|line| !line.is_empty()).map(String::from).collect()
}

#[test]
fn a_repeating_event_is_written_in_its_zone_with_the_zones_transitions() {
    let mut weekly = event("Team sync", "2026-12-07T08:00:00Z", "2026-12-07T08:30:00Z", Some("FREQ=WEEKLY;BYDAY=MO"));
    weekly.exdates = vec![utc("2026-12-14T08:00:00Z")];
    let ics = calendar(&[weekly], utc("2026-12-02T00:00:00Z"));
    let lines = lines(&ics);
    for expected in [
        "DTSTART;TZID=Europe/Berlin:20261207T090000",
        "DTEND;TZID=Europe/Berlin:20261207T093000",
        "RRULE:FREQ=WEEKLY;BYDAY=MO",
        "EXDATE;TZID=Europe/Berlin:20261214T090000",
        "SEQUENCE:2",
        "TZID:Europe/Berlin",
    ] {
        assert!(lines.iter().any(|line| line == expected), "{expected} missing in\n{ics}");
    }
    // 28 March 2027, 02:00 local: CET (+0100) becomes CEST (+0200).
    let spring = lines.iter().position(|line| line == "DTSTART:20270328T020000").expect("the spring change");
    assert_eq!(lines[spring - 1], "BEGIN:DAYLIGHT");
    assert_eq!(lines[spring + 1..spring + 3], ["TZOFFSETFROM:+0100", "TZOFFSETTO:+0200"]);
    let autumn = lines.iter().position(|line| line == "DTSTART:20271031T030000").expect("the autumn change");
    assert_eq!(lines[autumn - 1], "BEGIN:STANDARD");
    assert_eq!(lines[autumn + 1..autumn + 3], ["TZOFFSETFROM:+0200", "TZOFFSETTO:+0100"]);
}

#[test]
fn single_and_all_day_events_need_no_zone() {
    let single = event("Dentist", "2026-12-08T09:00:00Z", "2026-12-08T10:00:00Z", None);
    let mut holiday = event("Holiday", "2026-12-24T00:00:00Z", "2026-12-24T01:00:00Z", Some("FREQ=YEARLY"));
    holiday.id = "01HOLIDAY".into();
    (holiday.start_at, holiday.end_at) = (None, None);
    holiday.start_date = Some("2026-12-24".parse().unwrap());
    holiday.end_date = Some("2026-12-27".parse().unwrap());
    holiday.busy = false;
    let ics = calendar(&[single, holiday], utc("2026-12-02T00:00:00Z"));
    let lines = lines(&ics);
    assert!(!lines.iter().any(|line| line == "BEGIN:VTIMEZONE"), "{ics}");
    for expected in
        ["DTSTART:20261208T090000Z", "DTSTART;VALUE=DATE:20261224", "DTEND;VALUE=DATE:20261227", "TRANSP:TRANSPARENT"]
    {
        assert!(lines.iter().any(|line| line == expected), "{expected} missing in\n{ics}");
    }
}

#[test]
fn changed_occurrences_get_their_own_vevent_and_cancelled_ones_an_exdate() {
    let mut daily = event("Stand-up", "2026-12-07T08:00:00Z", "2026-12-07T08:15:00Z", Some("FREQ=DAILY"));
    daily.changes = vec![
        OccurrenceChange::cancellation("2026-12-08T08:00:00Z"),
        OccurrenceChange {
            occurrence_id: "2026-12-09T08:00:00Z".into(),
            title: Some("Stand-up, late".into()),
            start_at: Some(utc("2026-12-09T12:00:00Z")),
            end_at: Some(utc("2026-12-09T12:15:00Z")),
            ..OccurrenceChange::default()
        },
    ];
    let lines = lines(&calendar(&[daily], utc("2026-12-02T00:00:00Z")));
    assert!(lines.contains(&"EXDATE;TZID=Europe/Berlin:20261208T090000".to_string()));
    let moved = lines.iter().position(|line| line == "RECURRENCE-ID;TZID=Europe/Berlin:20261209T090000").unwrap();
    assert!(lines[moved..].contains(&"DTSTART;TZID=Europe/Berlin:20261209T130000".to_string()));
    assert!(lines[moved..].contains(&"SUMMARY:Stand-up\\, late".to_string()), "commas are escaped");
    assert_eq!(lines.iter().filter(|line| *line == "BEGIN:VEVENT").count(), 2);
}

#[test]
fn text_is_escaped_and_long_lines_fold_at_75_octets_without_splitting_a_character() {
    let mut noted = event("Plan; review, ship\\done", "2026-12-08T09:00:00Z", "2026-12-08T10:00:00Z", None);
    noted.description = Some(format!("line one\nline two {}", "ü".repeat(100)));
    let ics = calendar(&[noted], utc("2026-12-02T00:00:00Z"));
    assert!(ics.split("\r\n").all(|line| line.len() <= 75), "{ics}");
    let lines = lines(&ics);
    assert!(lines.contains(&"SUMMARY:Plan\\; review\\, ship\\\\done".to_string()), "{lines:?}");
    let description = lines.iter().find(|line| line.starts_with("DESCRIPTION:")).unwrap();
    assert_eq!(description, &format!("DESCRIPTION:line one\\nline two {}", "ü".repeat(100)));
}
