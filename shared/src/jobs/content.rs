//! What a reminder, a due-soon alert and the daily digest say. Pure: the worker reads the task or
//! the day's tasks and hands them here. Texts speak in durations ("due in 30 minutes") so they
//! read the same in every time zone, except the digest, which is about one local day.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use super::notifications::Notification;
use crate::domain::notifications::NotificationType;
use crate::domain::task::Task;

/// The digest lists at most this many tasks of each kind; the counts say how many there are.
pub const DIGEST_LINES: usize = 10;

/// The notification of a task's reminder or due-soon alert, meant for `fire_at`.
pub fn reminder_notification(
    task: &Task,
    reminder_id: &str,
    occurrence: &str,
    kind: NotificationType,
    fire_at: DateTime<Utc>,
    late: bool,
) -> Notification {
    let mut body = match task.due_at {
        Some(due) => due_phrase(due - fire_at),
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

/// "Due in 30 minutes", "Due in 1 day", "Due now".
fn due_phrase(ahead: TimeDelta) -> String {
    let minutes = ahead.num_minutes();
    let (count, unit) = if minutes <= 0 {
        return "Due now".into();
    } else if minutes % (24 * 60) == 0 {
        (minutes / (24 * 60), "day")
    } else if minutes % 60 == 0 {
        (minutes / 60, "hour")
    } else {
        (minutes, "minute")
    };
    format!("Due in {count} {unit}{}", if count == 1 { "" } else { "s" })
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
        let fire_at = "2026-11-23T09:30:00Z".parse().unwrap();
        let on_time = reminder_notification(&dentist, "r1", "o", NotificationType::TaskReminder, fire_at, false);
        assert_eq!((on_time.title.as_str(), on_time.body.as_str()), ("Dentist", "Due in 30 minutes"));
        let day_ahead = "2026-11-22T10:00:00Z".parse().unwrap();
        let soon = reminder_notification(&dentist, "due-soon", "o", NotificationType::TaskDueSoon, day_ahead, true);
        assert!(soon.body.starts_with("Due in 1 day (sent late"), "{}", soon.body);
        assert_ne!(on_time.id, soon.id, "each reminder and occurrence is delivered on its own");
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
