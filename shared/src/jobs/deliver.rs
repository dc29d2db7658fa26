//! Delivery of one notification to one user on the channels their preferences allow: the
//! function the notification worker calls for each message.
//!
//! At most once per notification and channel, however often the message arrives:
//! - in-app: the inbox item and the delivery record in one TransactWriteItems, the record on
//!   condition that none exists: exactly once.
//! - email and push: the delivery record is written first (on the same condition), then the
//!   message is sent. A failed send deletes the record (best effort) and returns an error, so the
//!   queue retries the message. The window: if the process dies between writing the record and
//!   sending (or the send succeeds but its answer is lost and the record stays), that channel is
//!   not sent again: at most once, never twice. If it dies after a failed send but before the
//!   record is deleted, the same. Both are rare (a crash inside one request) and lose one email or
//!   push, never the inbox item.
//!
//! Quiet hours defer email and push (never in-app): those channels come back in `deferred` with
//! the instant they may go out, and the caller schedules them again (`NotificationJob::Deferred`
//! with `only` set to them).
//!
//! Nothing here logs titles, bodies, addresses or tokens: ids only.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::messages::Notification;
use crate::domain::notifications::Channel;
use crate::integrations::email::{Email, EmailError, EmailSender};
use crate::integrations::push::{PushError, PushMessage, PushSender};
use crate::store::push_tokens::PushTokenItem;
use crate::store::{Store, StoreError};

/// What became of each channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Delivered now.
    pub sent: Vec<Channel>,
    /// Delivered before (a duplicate or retried message).
    pub already_sent: Vec<Channel>,
    /// Held back by quiet hours until the instant given: schedule these again.
    pub deferred: Vec<(Channel, DateTime<Utc>)>,
    /// Switched off in the user's preferences for this kind of notification, or email to an
    /// address its owner never verified.
    pub off: Vec<Channel>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error("push: {0}")]
    Push(String),
}

/// Delivers `notification` to `user_id` on each channel the user's preferences allow for its
/// kind (only the channels of `only`, when given). `now` decides quiet hours.
///
/// Round trips: one BatchGetItem (profile and preferences); in-app: one TransactWriteItems;
/// email: one PutItem (+ one DeleteItem if the send fails); push: one PutItem and one Query of the
/// devices (+ cleanup of rejected devices). A user that no longer exists gets nothing: `Ok` with
/// an empty report.
///
/// Every channel is tried even when one fails; the first failure is returned after all were
/// tried, so a retry only redoes the failed ones (the others have their delivery records).
pub async fn deliver(
    store: &Store,
    email: &dyn EmailSender,
    push: &dyn PushSender,
    user_id: &str,
    notification: &Notification,
    only: Option<&[Channel]>,
    now: DateTime<Utc>,
) -> Result<DeliveryReport, DeliverError> {
    let mut report = DeliveryReport::default();
    let Some((user, stored)) = store.notifications().user_with_preferences(user_id).await? else {
        tracing::info!(user_id, notification_id = %notification.id, "user gone: nothing delivered");
        return Ok(report);
    };
    let preferences = stored.preferences;
    let timezone: Tz = user.timezone.parse().unwrap_or(Tz::UTC);
    let mut first_error = None;
    for channel in Channel::ALL {
        if only.is_some_and(|only| !only.contains(&channel)) {
            continue;
        }
        // Product email goes only to a verified address: an account signed up with someone else's
        // address must not make us mail them (nor mail them text the account's owner wrote).
        let unverified = channel == Channel::Email && !user.email_verified;
        if unverified || !preferences.allows(notification.kind, channel) {
            report.off.push(channel);
            continue;
        }
        let at = preferences.deliver_via(channel, timezone, now);
        if at > now {
            report.deferred.push((channel, at));
            continue;
        }
        let outcome = match channel {
            Channel::InApp => {
                store.notifications().deliver_to_inbox(user_id, notification, now).await.map_err(DeliverError::from)
            }
            Channel::Email => {
                let message = email_of(&user.email, notification);
                send_once(store, user_id, notification, channel, now, || async {
                    email.send(message).await.map_err(DeliverError::from)
                })
                .await
            }
            Channel::Push => deliver_push(store, push, user_id, notification, now).await,
        };
        match outcome {
            Ok(true) => report.sent.push(channel),
            Ok(false) => report.already_sent.push(channel),
            Err(error) => {
                tracing::warn!(user_id, notification_id = %notification.id, channel = channel.name(), %error, "delivery failed");
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(report),
    }
}

/// The email of a notification: its title as subject (marked when late) and its body.
pub fn email_of(to: &str, notification: &Notification) -> Email {
    let late = if notification.late { " (late)" } else { "" };
    let lateness = if notification.late {
        format!(
            "\n\nThis was due at {} and is sent late: Flowday could not send it on time.",
            notification.due_at.format("%Y-%m-%d %H:%M UTC")
        )
    } else {
        String::new()
    };
    Email {
        to: to.to_string(),
        subject: format!("{}{late}", subject_line(&notification.title)),
        text: format!(
            "{}{lateness}\n\n--\nYou get this email because of your Flowday notification preferences; \
             change them in the app's settings.\n",
            notification.body
        ),
    }
}

/// The longest subject a notification email gets, in characters.
pub const SUBJECT_MAX_CHARS: usize = 100;

/// A title made safe for a subject header: control characters (line breaks that could start
/// another header among them) become spaces, runs of white space one space, and it is cut.
pub fn subject_line(title: &str) -> String {
    let spaced: String = title.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let line = words.join(" ");
    if line.chars().count() <= SUBJECT_MAX_CHARS {
        return line;
    }
    let cut: String = line.chars().take(SUBJECT_MAX_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// Claims the delivery record of `channel`, then sends; a failed send gives the claim back.
/// `Ok(false)`: claimed before, nothing sent.
async fn send_once<F, Fut>(
    store: &Store,
    user_id: &str,
    notification: &Notification,
    channel: Channel,
    now: DateTime<Utc>,
    send: F,
) -> Result<bool, DeliverError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), DeliverError>>,
{
    if !store.notifications().claim_delivery(user_id, &notification.id, channel, now).await? {
        return Ok(false);
    }
    match send().await {
        Ok(()) => Ok(true),
        Err(error) => {
            if let Err(release) = store.notifications().release_delivery(user_id, &notification.id, channel).await {
                // The record stays: this channel will not be retried (at most once).
                tracing::error!(user_id, notification_id = %notification.id, channel = channel.name(), error = %release,
                    "could not release the delivery record after a failed send");
            }
            Err(error)
        }
    }
}

/// Push to every device of the user. A device the provider rejects for good is forgotten (its
/// token item, claim and endpoint) and is not an error. The channel counts as sent when at least
/// one device took it, or when there is no device left; it fails (and is retried) only when no
/// device took it and one failed for a passing reason.
async fn deliver_push(
    store: &Store,
    push: &dyn PushSender,
    user_id: &str,
    notification: &Notification,
    now: DateTime<Utc>,
) -> Result<bool, DeliverError> {
    let message = PushMessage {
        notification_id: notification.id.clone(),
        title: notification.title.clone(),
        body: notification.body.clone(),
        task_id: notification.task_id.clone(),
    };
    send_once(store, user_id, notification, Channel::Push, now, || async {
        let devices = store.devices().push_tokens(user_id).await?;
        let (mut delivered, mut failure) = (0, None);
        for device in &devices {
            match push.publish(&device.endpoint, &message).await {
                Ok(()) => delivered += 1,
                Err(PushError::Rejected(_)) => forget_device(store, push, device).await,
                Err(error) => {
                    tracing::warn!(user_id, notification_id = %notification.id, token = %device.token_hash, %error, "push failed");
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) if delivered == 0 => Err(DeliverError::Push(error.to_string())),
            _ => Ok(()),
        }
    })
    .await
}

async fn forget_device(store: &Store, push: &dyn PushSender, device: &PushTokenItem) {
    tracing::info!(user_id = %device.user_id, token = %device.token_hash, "push endpoint rejected: device forgotten");
    match store.devices().remove_push_token(device).await {
        // The endpoint is the token's: delete it only if nobody else took the token over meanwhile.
        Ok(true) => {
            if let Err(error) = push.delete_endpoint(&device.endpoint).await {
                tracing::warn!(token = %device.token_hash, %error, "could not delete a rejected endpoint");
            }
        }
        Ok(false) => {}
        Err(error) => {
            tracing::warn!(user_id = %device.user_id, token = %device.token_hash, %error, "could not forget a rejected device")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notifications::NotificationType;

    fn notification(late: bool) -> Notification {
        Notification {
            id: "n1".into(),
            kind: NotificationType::TaskReminder,
            title: "Call Ada".into(),
            body: "Due at 10:00".into(),
            task_id: Some("t1".into()),
            late,
            due_at: "2026-01-15T09:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_subject_is_one_short_line_whatever_the_title() {
        assert_eq!(subject_line("Call Ada\r\nBcc: everyone@example.com"), "Call Ada Bcc: everyone@example.com");
        assert_eq!(subject_line("  tabs\tand\u{7}bells  "), "tabs and bells");
        let long = subject_line(&"word ".repeat(100));
        assert_eq!(long.chars().count(), SUBJECT_MAX_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn an_email_says_when_it_is_late() {
        let on_time = email_of("a@example.com", &notification(false));
        assert_eq!(on_time.subject, "Call Ada");
        assert!(on_time.text.starts_with("Due at 10:00\n"));
        let late = email_of("a@example.com", &notification(true));
        assert_eq!(late.subject, "Call Ada (late)");
        assert!(late.text.contains("sent late"), "{}", late.text);
    }
}
