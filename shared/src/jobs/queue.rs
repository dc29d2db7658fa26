//! Sending messages to an SQS queue, ten per SendMessageBatch, several batches in flight.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::stream::{self, TryStreamExt};

/// SendMessageBatch calls in flight at once.
const PARALLEL_SENDS: usize = 16;

#[derive(Debug, thiserror::Error)]
#[error("sending to the queue failed: {0}")]
pub struct QueueError(pub String);

/// The `notifications` queue of `NOTIFICATIONS_QUEUE_URL`, for the functions that send to it.
#[derive(Clone, Debug)]
pub struct NotificationQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl NotificationQueue {
    pub fn from_env(
        env: &crate::settings::Env,
        sdk: &crate::state::SdkConfig,
    ) -> Result<Self, crate::settings::SettingError> {
        let settings = crate::settings::QueueSettings::read(env)?;
        // An endpoint of SQS's own (`AWS_ENDPOINT_URL_SQS`) wins over the general one: the bench
        // points SQS alone at a counting stand-in.
        let mut config = aws_sdk_sqs::config::Builder::from(sdk);
        if let Some(endpoint) = env.optional("AWS_ENDPOINT_URL_SQS") {
            config = config.endpoint_url(endpoint);
        }
        Ok(NotificationQueue {
            sqs: aws_sdk_sqs::Client::from_conf(config.build()),
            url: settings.notifications_queue_url,
        })
    }

    /// Sends one message.
    pub async fn send(&self, message: &crate::domain::messages::NotificationMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|error| QueueError(error.to_string()))?;
        self.send_all(vec![body]).await
    }

    /// Sends every body (see `send_all`).
    pub async fn send_all(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        send_all(&self.sqs, &self.url, bodies).await
    }
}

/// Sends every body; entries SQS refuses are sent once more, then it fails.
pub async fn send_all(sqs: &aws_sdk_sqs::Client, queue_url: &str, bodies: Vec<String>) -> Result<(), QueueError> {
    let batches: Vec<Vec<String>> = bodies.chunks(10).map(<[String]>::to_vec).collect();
    stream::iter(batches.into_iter().map(Ok))
        .try_for_each_concurrent(PARALLEL_SENDS, |batch| send_batch(sqs, queue_url, batch))
        .await
}

async fn send_batch(sqs: &aws_sdk_sqs::Client, queue_url: &str, bodies: Vec<String>) -> Result<(), QueueError> {
    let mut pending: Vec<(String, String)> =
        bodies.into_iter().enumerate().map(|(index, body)| (index.to_string(), body)).collect();
    for _attempt in 0..2 {
        let entries = pending
            .iter()
            .map(|(id, body)| SendMessageBatchRequestEntry::builder().id(id).message_body(body).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| QueueError(error.to_string()))?;
        let output = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|error| QueueError(aws_sdk_sqs::error::DisplayErrorContext(&error).to_string()))?;
        let failed: Vec<&str> = output.failed.iter().map(|failure| failure.id.as_str()).collect();
        pending.retain(|(id, _)| failed.contains(&id.as_str()));
        if pending.is_empty() {
            return Ok(());
        }
    }
    Err(QueueError(format!("{} messages refused twice", pending.len())))
}

/// The `ai-jobs` queue (api-ai and api-planning send to it; ai-worker consumes it).
#[derive(Clone, Debug)]
pub struct AiJobQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl AiJobQueue {
    /// The queue of `AI_JOBS_QUEUE_URL`.
    pub fn from_env(
        env: &crate::settings::Env,
        sdk: &crate::state::SdkConfig,
    ) -> Result<Self, crate::settings::SettingError> {
        let url = env.require("AI_JOBS_QUEUE_URL")?;
        Ok(AiJobQueue { sqs: aws_sdk_sqs::Client::new(sdk), url })
    }

    /// Queues a job's message.
    pub async fn send(&self, message: &crate::domain::ai::AiJobMessage) -> Result<(), QueueError> {
        self.send_after(message, 0).await
    }

    /// Makes a received message visible again after `seconds` (instead of the queue's whole
    /// visibility timeout): a job handed back for a throttled or unavailable model is tried again
    /// soon, while a run that crashes keeps the long timeout.
    pub async fn come_back_after(&self, receipt_handle: &str, seconds: u32) -> Result<(), QueueError> {
        self.sqs
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(seconds).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|error| QueueError(error.to_string()))?;
        Ok(())
    }

    /// Queues a job's message, visible after `delay_seconds`.
    pub async fn send_after(
        &self,
        message: &crate::domain::ai::AiJobMessage,
        delay_seconds: u32,
    ) -> Result<(), QueueError> {
        send_one(&self.sqs, &self.url, message, delay_seconds).await
    }
}

/// The `calendar-sync` queue.
#[derive(Clone, Debug)]
pub struct SyncQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl SyncQueue {
    /// The queue of `CALENDAR_SYNC_QUEUE_URL`.
    pub fn from_env(
        env: &crate::settings::Env,
        sdk: &crate::state::SdkConfig,
    ) -> Result<Self, crate::settings::SettingError> {
        let url = env.require("CALENDAR_SYNC_QUEUE_URL")?;
        Ok(SyncQueue { sqs: aws_sdk_sqs::Client::new(sdk), url })
    }

    /// Queues a job, visible after `delay_seconds`.
    pub async fn send(&self, job: &crate::domain::messages::CalendarJob, delay_seconds: u32) -> Result<(), QueueError> {
        send_one(&self.sqs, &self.url, job, delay_seconds).await
    }
}

/// Sends one message, visible after `delay_seconds` (SQS allows at most 900).
async fn send_one(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    message: &impl serde::Serialize,
    delay_seconds: u32,
) -> Result<(), QueueError> {
    let body = serde_json::to_string(message).map_err(|error| QueueError(error.to_string()))?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .delay_seconds(delay_seconds.min(900) as i32)
        .send()
        .await
        .map_err(|error| QueueError(aws_sdk_sqs::error::DisplayErrorContext(&error).to_string()))?;
    Ok(())
}
