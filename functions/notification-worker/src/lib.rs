//! notification-worker (SQS `notifications`): delivers each message's notification on the
//! channels the user allows, one record at a time, reporting the records that failed so only
//! they come back (ReportBatchItemFailures). After 5 failed receives the queue moves a record to
//! its DLQ; every failure is logged with its reason, message id and receive count.
//!
//! Every record is idempotent: a reminder is checked against its task as it is now (a task done,
//! deleted or moved since sends nothing), and each channel's delivery is recorded with a
//! condition, so a duplicate or redelivered message sends nothing twice.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use shared::domain::messages::{
    AccountEmailPurpose, MESSAGE_VERSION, Notification, NotificationJob, NotificationMessage,
};
use shared::domain::notifications::{Channel, NotificationType};
use shared::domain::reminders::schedule;
use shared::integrations::email::{Mailer, templates};
use shared::integrations::push::{PushSender, SnsPushSender};
use shared::jobs::content::reminder_notification;
use shared::jobs::deliver::{DeliverError, DeliveryReport, deliver};
use shared::jobs::digests::digest_for;
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};
use shared::store::Store;
use shared::store::tokens::OneTimeKind;
use shared::store::{StoreError, Tenant, keys};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the body is not a notification message: {0}")]
    Malformed(String),
    #[error("message version {0} is not one this worker reads")]
    UnknownVersion(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    #[error(transparent)]
    Email(#[from] shared::integrations::email::EmailError),
}

/// What became of one record.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Delivered(DeliveryReport),
    /// The reminder no longer applies (its task changed, closed or went away) or the digest is empty.
    Nothing(&'static str),
}

/// What the worker uses: the store, SES email and SNS push (no SQS client: the queue's event
/// source hands it its messages).
pub struct WorkerState {
    pub store: Store,
    pub mailer: Mailer,
    pub push: Arc<dyn PushSender>,
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub fn state(env: &Env, sdk: &SdkConfig) -> Result<WorkerState, InitError> {
    Ok(WorkerState {
        store: Store::from_env(env, sdk)?,
        mailer: Mailer::from_env(env, sdk)?,
        push: SnsPushSender::from_env(env, sdk),
    })
}

/// The handler (Lambda's and the local gateway's): an `SqsEvent` in, an `SqsBatchResponse` out.
pub async fn handle(
    state: Arc<WorkerState>,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let event: SqsEvent = serde_json::from_value(event)?;
    // Boxed: the batch's future is deep, and inside the Lambda runtime's it overflows the type limit.
    let response = Box::pin(handle_batch(&state, event, Utc::now())).await?;
    Ok(serde_json::to_value(response)?)
}

/// Each record in turn; the failed ones are reported. A record without a message id cannot be
/// reported, so it fails the whole batch (SQS always sends one).
pub async fn handle_batch(
    context: &WorkerState,
    event: SqsEvent,
    now: DateTime<Utc>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let Some(message_id) = record.message_id.clone().filter(|id| !id.is_empty()) else {
            return Err("an SQS record without a message id".into());
        };
        match process(context, &record, now).await {
            Ok(outcome) => tracing::info!(message_id, ?outcome, "notification record done"),
            Err(error) => {
                let receives = record.attributes.get("ApproximateReceiveCount").map(String::as_str).unwrap_or("?");
                tracing::error!(message_id, receives, reason = %error, "notification record failed; it will be retried, then go to the DLQ");
                response.add_failure(message_id);
            }
        }
    }
    Ok(response)
}

/// A password-reset or verification email, if an account has the address (and, for a
/// verification, has not verified it yet). Each sends a new single-use token; a duplicate message
/// sends a second, equally valid, one.
async fn send_account_email(
    context: &WorkerState,
    email: &str,
    purpose: AccountEmailPurpose,
) -> Result<Outcome, RecordError> {
    let Some(user_id) = context.store.accounts().user_id_by_email(email).await? else {
        return Ok(Outcome::Nothing("no account has this address"));
    };
    let base_url = &context.mailer.app_base_url;
    let message = match purpose {
        AccountEmailPurpose::PasswordReset => {
            let token = context.store.tokens().issue(&user_id, OneTimeKind::PasswordReset).await?;
            templates::password_reset(email, base_url, &token)
        }
        AccountEmailPurpose::EmailVerification => {
            let verified = context.store.accounts().get_user(&user_id).await?.is_none_or(|user| user.email_verified);
            if verified {
                return Ok(Outcome::Nothing("the address is verified already"));
            }
            let token = context.store.tokens().issue(&user_id, OneTimeKind::EmailVerification).await?;
            templates::verify_email(email, base_url, &token)
        }
    };
    context.mailer.send(message).await?;
    Ok(Outcome::Nothing("account email sent"))
}

/// One record.
pub async fn process(context: &WorkerState, record: &SqsMessage, now: DateTime<Utc>) -> Result<Outcome, RecordError> {
    let body = record.body.as_deref().unwrap_or_default();
    let message: NotificationMessage =
        serde_json::from_str(body).map_err(|error| RecordError::Malformed(error.to_string()))?;
    if message.v != MESSAGE_VERSION {
        return Err(RecordError::UnknownVersion(message.v));
    }
    let user_id = message.user_id.as_str();
    let (notification, only) = match message.job {
        NotificationJob::AccountEmail { email, purpose } => return send_account_email(context, &email, purpose).await,
        NotificationJob::Reminder { task_id, reminder_id, occurrence, kind, fire_at, late } => {
            let due = Due { reminder_id: &reminder_id, occurrence: &occurrence, kind, fire_at, late };
            match current_reminder(context, user_id, &task_id, due, now).await? {
                Some(notification) => (notification, None),
                None => return Ok(Outcome::Nothing("the reminder no longer applies to its task")),
            }
        }
        NotificationJob::Digest { date } => {
            let Some(user) = context.store.accounts().get_user(user_id).await? else {
                return Ok(Outcome::Nothing("the user is gone"));
            };
            let zone: Tz = user.timezone.parse().unwrap_or(Tz::UTC);
            match digest_for(&context.store, user_id, date, zone).await? {
                Some(notification) => (notification, None),
                None => return Ok(Outcome::Nothing("nothing due or overdue: no digest")),
            }
        }
        NotificationJob::Deferred { notification, channels } => (notification, Some(channels)),
        NotificationJob::Notice { notification } => (notification, None),
    };
    let report = deliver(
        &context.store,
        context.mailer.sender(),
        context.push.as_ref(),
        user_id,
        &notification,
        only.as_deref(),
        now,
    )
    .await?;
    for (channel, at) in &report.deferred {
        defer(context, user_id, &notification, *channel, *at).await?;
    }
    Ok(Outcome::Delivered(report))
}

/// What a reminder message says came due.
struct Due<'a> {
    reminder_id: &'a str,
    occurrence: &'a str,
    kind: NotificationType,
    fire_at: DateTime<Utc>,
    late: bool,
}

/// The reminder's notification if the task still calls for it: live, open, and the reminder
/// still set for this occurrence at this time.
async fn current_reminder(
    context: &WorkerState,
    user_id: &str,
    task_id: &str,
    due: Due<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Notification>, StoreError> {
    let Some(item) = context.store.tasks().get_task_item(&Tenant::user(user_id), task_id).await? else {
        return Ok(None);
    };
    let task = item.into_task();
    let still_due = schedule(&task, &task.reminders).into_iter().any(|entry| {
        entry.reminder_id == due.reminder_id && entry.occurrence == due.occurrence && entry.fire_at == due.fire_at
    });
    Ok(still_due
        .then(|| reminder_notification(&task, due.reminder_id, due.occurrence, due.kind, due.fire_at, due.late, now)))
}

/// Puts a delivery that quiet hours hold back on the schedule for when they end.
async fn defer(
    context: &WorkerState,
    user_id: &str,
    notification: &Notification,
    channel: Channel,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let message = NotificationMessage::new(
        user_id,
        NotificationJob::Deferred { notification: notification.clone(), channels: vec![channel] },
    );
    context
        .store
        .schedule()
        .schedule_deferred(keys::deferred_entry(&notification.id, channel.name()), at, message)
        .await
}
