//! What a reminder, a due-soon alert and the daily digest say. Pure: the worker reads the task or
//! the day's tasks and hands them here. Texts speak in durations ("due in 30 minutes") so they
//! read the same in every time zone, except the digest, which is about one local day.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::domain::messages::Notification;
use crate::domain::notifications::NotificationType;
use crate::domain::task::Task;

/// The digest lists at most this many tasks of each kind; the counts say how many there are.
pub const DIGEST_LINES: usize = 10;

/// The notification of a task's reminder or due-soon alert, meant for `fire_at` and written at
/// `now` (the time left is told from when it is sent: a due-soon alert for a task due in two hours
/// says two hours).
pub fn reminder_notification(
    task: &Task,
    reminder_id: &str,
    occurrence: &str,
    kind: NotificationType,
    fire_at: DateTime<Utc>,
    late: bool,
    now: DateTime<Utc>,
) -> Notification {
    let mut body = match task.due_at {
        Some(due) => due_phrase(due - fire_at.max(now)),
        None => "Reminder".to_string(),
    };
    if late {
        body.push_str(" (sent late: this reminder was held up)");
    }
    Notification {
        id: format!("reminder#{}#{reminder_id}#{occurrence}", task.id),
        kind,
        title: task.title.clone(),
        body,
        task_id: Some(task.id.clone()),
        late,
        due_at: fire_at,
    }
}

/// "Due in 30 minutes", "Due in 3 hours", "Due in 2 days", "Due now", "Overdue by 2 hours".
fn due_phrase(ahead: TimeDelta) -> String {
    let minutes = (ahead.num_seconds() + 30).div_euclid(60);
    match minutes {
        -1..=0 => "Due now".into(),
        ..-1 => format!("Overdue by {}", span(-minutes)),
        _ => format!("Due in {}", span(minutes)),
    }
}

/// A span of minutes in the largest unit that reads naturally.
fn span(minutes: i64) -> String {
    let (count, unit) = match minutes {
        ..90 => (minutes, "minute"),
        90..2880 => ((minutes + 30) / 60, "hour"),
        _ => ((minutes + 720) / 1440, "day"),
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

/// The digest of `date` in `zone`: the open tasks due that day and the ones overdue before it.
/// `None` when there is nothing to say.
pub fn digest_notification(date: NaiveDate, zone: Tz, due_today: &[Task], overdue: &[Task]) -> Option<Notification> {
    if due_today.is_empty() && overdue.is_empty() {
        return None;
    }
    let mut body = String::new();
    section(&mut body, &format!("Due today, {}", date.format("%A %-d %B")), due_today, zone);
    section(&mut body, "Overdue", overdue, zone);
    let due_at = date.and_hms_opt(0, 0, 0).map(|midnight| midnight.and_utc()).unwrap_or_default();
    Some(Notification {
        id: format!("digest#{date}"),
        kind: NotificationType::DailyDigest,
        title: format!("Your day: {} due today, {} overdue", due_today.len(), overdue.len()),
        body: body.trim_end().to_string(),
        task_id: None,
        late: false,
        due_at,
    })
}

fn section(body: &mut String, heading: &str, tasks: &[Task], zone: Tz) {
    if tasks.is_empty() {
        return;
    }
    body.push_str(&format!("{heading}:\n"));
    for task in tasks.iter().take(DIGEST_LINES) {
        match (task.due_at, task.due_date) {
            (Some(at), _) => body.push_str(&format!("- {} {}\n", at.with_timezone(&zone).format("%H:%M"), task.title)),
            (None, Some(date)) => body.push_str(&format!("- {} ({})\n", task.title, date.format("%-d %b"))),
            (None, None) => body.push_str(&format!("- {}\n", task.title)),
        }
    }
    if tasks.len() > DIGEST_LINES {
        body.push_str(&format!("…and {} more\n", tasks.len() - DIGEST_LINES));
    }
    body.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(title: &str, due_at: Option<&str>) -> Task {
        let mut task = Task::new(format!("id-{title}"), Utc::now());
        task.title = title.into();
        task.due_at = due_at.map(|at| at.parse().unwrap());
        task
    }

    #[test]
    fn a_reminder_says_how_far_ahead_the_due_time_is_and_whether_it_is_late() {
        let dentist = task("Dentist", Some("2026-11-23T10:00:00Z"));
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let fire_at = at("2026-11-23T09:30:00Z");
        let reminder = |kind, fire_at, late, now| reminder_notification(&dentist, "r1", "o", kind, fire_at, late, now);
        let on_time = reminder(NotificationType::TaskReminder, fire_at, false, at("2026-11-23T09:30:20Z"));
        assert_eq!((on_time.title.as_str(), on_time.body.as_str()), ("Dentist", "Due in 30 minutes"));
        let day_ahead = at("2026-11-22T10:00:00Z");
        let soon = reminder(NotificationType::TaskDueSoon, day_ahead, false, day_ahead);
        assert_eq!(soon.body, "Due in 24 hours");
        let created_late = reminder(NotificationType::TaskDueSoon, day_ahead, false, at("2026-11-23T08:00:00Z"));
        assert_eq!(created_late.body, "Due in 2 hours", "told from when it is sent");
        let held_up = reminder(NotificationType::TaskReminder, fire_at, true, at("2026-11-23T12:10:00Z"));
        assert!(held_up.body.starts_with("Overdue by 2 hours (sent late"), "{}", held_up.body);
    }

    #[test]
    fn the_digest_lists_the_day_in_local_time_and_is_skipped_when_empty() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let zone: Tz = "Asia/Tokyo".parse().unwrap();
        let today = [task("Stand-up", Some("2026-11-23T00:30:00Z"))];
        let overdue = [task("Taxes", None)];
        let digest = digest_notification(date, zone, &today, &overdue).unwrap();
        assert_eq!(digest.title, "Your day: 1 due today, 1 overdue");
        assert!(digest.body.contains("- 09:30 Stand-up"), "{}", digest.body);
        assert!(digest.body.contains("Overdue:\n- Taxes"), "{}", digest.body);
        assert_eq!(digest.id, "digest#2026-11-23");
        assert!(digest_notification(date, zone, &[], &[]).is_none());
    }
}
