//! The messages of the `notifications` queue (a domain type: the store keeps them in the
//! schedule, the scheduler and maintenance send them, the worker reads them): what the reminder scheduler and maintenance ask the notification
//! worker to deliver. One message is one notification for one user; the worker reads the user's
//! preferences and delivers it on each allowed channel, at most once per channel (a conditional
//! delivery record keyed by the notification's id and the channel).
//!
//! Messages carry `"v": 1`; a reader meeting a version it does not know fails the record, which
//! retries and lands in the DLQ instead of being dropped silently.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::connection::RemovedConnection;
use crate::domain::notifications::{Channel, NotificationType};

pub const MESSAGE_VERSION: u32 = 1;

/// One message on the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationMessage {
    pub v: u32,
    /// The recipient; empty for an account email, which is addressed by email (the worker finds
    /// the account, if there is one).
    pub user_id: String,
    #[serde(flatten)]
    pub job: NotificationJob,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum NotificationJob {
    /// A reminder (or the built-in due-soon alert) of one occurrence of a task came due.
    Reminder {
        task_id: String,
        reminder_id: String,
        /// Which occurrence of the task: its due instant or date, or `once` for an undated task.
        occurrence: String,
        kind: NotificationType,
        /// When it was meant to go out.
        fire_at: DateTime<Utc>,
        /// Sent after its time because the scheduler was down or behind.
        late: bool,
    },
    /// The morning summary of one local day.
    Digest { date: NaiveDate },
    /// A delivery that quiet hours held back, now due on these channels only.
    Deferred { notification: Notification, channels: Vec<Channel> },
    /// A password-reset or verification email to this (normalised) address, sent only if an
    /// account has it. Queued so that the API answers alike, and as fast, whether or not one does.
    AccountEmail { email: String, purpose: AccountEmailPurpose },
    /// A notification made by the sender (e.g. `calendar_disconnected`), delivered as it is on
    /// the channels the user allows.
    Notice { notification: Notification },
}

/// Why an account email is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountEmailPurpose {
    PasswordReset,
    EmailVerification,
}

/// A notification's content, as it reaches every channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable across retries and duplicate messages: the delivery records are keyed by it.
    pub id: String,
    pub kind: NotificationType,
    pub title: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Delivered after its time (the scheduler caught up after an outage).
    #[serde(default)]
    pub late: bool,
    /// When it was meant to go out.
    pub due_at: DateTime<Utc>,
}

impl NotificationMessage {
    pub fn new(user_id: impl Into<String>, job: NotificationJob) -> Self {
        NotificationMessage { v: MESSAGE_VERSION, user_id: user_id.into(), job }
    }

    /// An account email to `email` (no user id: whether an account has the address is the
    /// worker's to find out).
    pub fn account_email(email: impl Into<String>, purpose: AccountEmailPurpose) -> Self {
        Self::new("", NotificationJob::AccountEmail { email: email.into(), purpose })
    }
}

/// The messages of the `calendar-sync` queue: what api-calendar, webhook-calendar and
/// maintenance ask calendar-sync-worker to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum CalendarJob {
    /// Bring the connection's events up to date (a notification, a new connection, a manual
    /// sync), renewing its watch first when asked or when it is due.
    Sync {
        user_id: String,
        connection_id: String,
        #[serde(default)]
        renew_watch: bool,
    },
    /// A removed connection: delete its events and stop its watch.
    Disconnected { connection: RemovedConnection },
}

impl CalendarJob {
    pub fn sync(user_id: &str, connection_id: &str) -> Self {
        CalendarJob::Sync { user_id: user_id.into(), connection_id: connection_id.into(), renew_watch: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reminder_message_reads_back_as_written() {
        let message = NotificationMessage::new(
            "u1",
            NotificationJob::Reminder {
                task_id: "t1".into(),
                reminder_id: "r1".into(),
                occurrence: "2026-03-29T07:00:00Z".into(),
                kind: NotificationType::TaskReminder,
                fire_at: "2026-03-29T06:30:00Z".parse().unwrap(),
                late: false,
            },
        );
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["job"], "reminder");
        assert_eq!(json["v"], 1);
        assert_eq!(serde_json::from_value::<NotificationMessage>(json).unwrap(), message);
    }
}
