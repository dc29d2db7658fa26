//! ai-worker (SQS `ai-jobs`): runs each AI job its message names, one record at a time, and
//! settles the job's credits exactly once: kept when it succeeds, returned when it fails.
//!
//! Every record is idempotent. The job moves `queued` -> `running` -> `succeeded` | `failed` by
//! conditional writes; a message for a finished job (a duplicate, or a redelivery after a crash
//! between the finish and the settling) only settles the credits again, which changes nothing
//! the second time. A job that crashed mid-run comes back when its message does and runs again:
//! what it creates has ids derived from the job's, so it is created once. A model that is
//! throttled or down sends the record back to the queue (after the client's own retries); on
//! the last receive before the DLQ, or after `MAX_RUNS` runs, the job fails and its credits
//! return. A model answer that breaks the rules is asked for once more, with the rules it broke,
//! then the job fails.

mod breakdown;
mod chat;
pub mod insights;
mod narration;
pub mod transcription;

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use serde_json::{Value, json};
use shared::domain::ai::{AiJobMessage, JobKind, JobStatus, MESSAGE_VERSION};
use shared::domain::messages::{Notification, NotificationJob, NotificationMessage};
use shared::domain::notifications::NotificationType;
use shared::integrations::files::Files;
use shared::integrations::llm::{LanguageModel, LlmError};
use shared::integrations::transcription::Transcriber;
use shared::jobs::queue::{AiJobQueue, NotificationQueue};
use shared::settings::{Env, LlmSettings, TranscriptionSettings};
use shared::state::{InitError, SdkConfig};
use shared::store::ai::{JobItem, JobUsage, Started};
use shared::store::{Store, StoreError};

/// Runs of one job before it fails for good.
pub const MAX_RUNS: u32 = 3;
/// The queue's `maxReceiveCount` (template.yaml): on this receive a job that cannot finish
/// fails, rather than go to the DLQ holding its credits.
pub const LAST_RECEIVE: u32 = 5;

/// The store, the language model (none when no provider is configured), the transcription
/// service and the files bucket (voice capture), the `ai-jobs` queue (a voice capture waiting for
/// its upload comes back through it), and the notification queue (a finished job tells the user).
pub struct AiWorkerState {
    pub store: Store,
    pub model: Option<Arc<dyn LanguageModel>>,
    pub transcriber: Option<Arc<dyn Transcriber>>,
    pub files: Files,
    pub queue: AiJobQueue,
    pub notifications: NotificationQueue,
}

/// Built once per cold start, by Lambda's main and the local gateway alike. The model's API key
/// (OpenAI-compatible providers) is read from Secrets Manager on first use.
pub fn state(env: &Env, sdk: &SdkConfig) -> Result<AiWorkerState, InitError> {
    let settings = LlmSettings::read(env)?;
    let transcription = TranscriptionSettings::read(env)?;
    Ok(AiWorkerState {
        store: Store::from_env(env, sdk)?,
        model: shared::integrations::llm::from_settings(&settings, sdk)?,
        transcriber: shared::integrations::transcription::from_settings(&transcription, sdk)?,
        files: Files::from_env(env, sdk)?,
        queue: AiJobQueue::from_env(env, sdk)?,
        notifications: NotificationQueue::from_env(env, sdk)?,
    })
}

/// Why a run did not finish the job.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Worth another delivery: the model was throttled or down, the table unavailable.
    #[error("try again: {0}")]
    Retry(String),
    /// The job cannot succeed: it fails with this problem (`code`, `detail`).
    #[error("{code}: {detail}")]
    Fail { code: &'static str, detail: String, usage: JobUsage },
}

impl From<StoreError> for RunError {
    fn from(error: StoreError) -> Self {
        RunError::Retry(error.to_string())
    }
}

impl RunError {
    /// What a model error means for the job; `usage` is what the run took so far.
    pub fn of_model(error: LlmError, usage: JobUsage) -> Self {
        match error {
            LlmError::Throttled { .. } | LlmError::Unavailable(_) => RunError::Retry(error.to_string()),
            LlmError::TooLong => {
                RunError::Fail { code: "too_long", detail: "the request is too long for the model".into(), usage }
            }
            LlmError::Refused(_) => {
                RunError::Fail { code: "model_refused", detail: "the model refused the request".into(), usage }
            }
            LlmError::Malformed(_) => RunError::Fail {
                code: "invalid_answer",
                detail: "the model's answer was not what was asked for".into(),
                usage,
            },
        }
    }
}

/// What a run made: the job's result and the tokens it took.
pub struct Made {
    pub result: Value,
    pub usage: JobUsage,
    /// The notice the user gets.
    pub notice: (String, String),
}

/// The handler (Lambda's and the local gateway's): an `SqsEvent` in, an `SqsBatchResponse` out.
pub async fn handle(state: Arc<AiWorkerState>, event: Value) -> Result<Value, lambda_runtime::Error> {
    let event: SqsEvent = serde_json::from_value(event)?;
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        // Boxed: the job's future is deep, and inside the Lambda runtime's it overflows the type limit.
        if let Err(error) = Box::pin(process(&state, &record)).await {
            let receives = receive_count(&record);
            tracing::error!(%message_id, %error, receives, "AI job not finished; it comes back");
            come_back_soon(&state, &record, receives).await;
            response.add_failure(message_id);
        }
    }
    Ok(serde_json::to_value(response)?)
}

/// Seconds before a record handed back is received again: 15, 30, 60, 120 (then the last
/// receive), rather than the queue's visibility timeout, which is long enough for a whole run.
pub fn backoff_seconds(receives: u32) -> u32 {
    15u32 << receives.clamp(1, 4).saturating_sub(1)
}

/// Shortens the wait of a record handed back; if that fails, it waits the visibility timeout.
async fn come_back_soon(state: &AiWorkerState, record: &SqsMessage, receives: u32) {
    let Some(receipt) = record.receipt_handle.as_deref() else { return };
    if let Err(error) = state.queue.come_back_after(receipt, backoff_seconds(receives)).await {
        tracing::warn!(%error, "the record's visibility was not shortened; it comes back after the timeout");
    }
}

fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1)
}

/// Why a record goes back to the queue.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ComeBack(String);

impl From<StoreError> for ComeBack {
    fn from(error: StoreError) -> Self {
        ComeBack(error.to_string())
    }
}

/// One record. An error sends it back to the queue.
async fn process(state: &AiWorkerState, record: &SqsMessage) -> Result<(), ComeBack> {
    let message: AiJobMessage = match serde_json::from_str(record.body.as_deref().unwrap_or_default()) {
        Ok(message) => message,
        Err(error) => {
            // Never a job: another delivery would not help.
            tracing::error!(%error, "not an AI job message; dropped");
            return Ok(());
        }
    };
    if message.version != MESSAGE_VERSION {
        tracing::error!(version = message.version, "an AI job message of another version; dropped");
        return Ok(());
    }
    if message.waits_for_upload {
        match transcription::upload(state, &message, Utc::now()).await? {
            transcription::Upload::Arrived => {}
            transcription::Upload::Waiting => return Ok(()),
            transcription::Upload::Missed => return Ok(missed_upload(state, &message).await?),
        }
    }
    let job = match state.store.ai().start(&message.user_id, &message.job_id).await? {
        Started::Missing => {
            tracing::warn!(job_id = %message.job_id, "no such AI job (expired?); dropped");
            return Ok(());
        }
        Started::Finished(job) => return Ok(settle(state, &job).await?),
        Started::Run(job) => job,
    };
    if job.attempts > MAX_RUNS {
        let detail = format!("the job did not finish in {MAX_RUNS} runs");
        return Ok(fail(state, &job, "gave_up", &detail, &JobUsage::default()).await?);
    }
    match run(state, &job).await {
        Ok(made) => {
            if state.store.ai().succeed(&job, &made.result, &made.usage).await? {
                cache(state, &job, &made.result).await;
                notify(state, &job, made.notice).await;
            }
            Ok(settle_as(state, &job, JobStatus::Succeeded).await?)
        }
        Err(RunError::Fail { code, detail, usage }) => Ok(fail(state, &job, code, &detail, &usage).await?),
        Err(RunError::Retry(reason)) if receive_count(record) >= LAST_RECEIVE => {
            let detail = format!("the model stayed unavailable ({reason})");
            Ok(fail(state, &job, "ai_unavailable", &detail, &JobUsage::default()).await?)
        }
        Err(RunError::Retry(reason)) => Err(ComeBack(reason)),
    }
}

/// The job's work, by its kind.
async fn run(state: &AiWorkerState, job: &JobItem) -> Result<Made, RunError> {
    let Some(model) = state.model.as_deref() else {
        let detail = "no language model is configured (LLM_PROVIDER)".to_string();
        return Err(RunError::Fail { code: "ai_unavailable", detail, usage: JobUsage::default() });
    };
    match job.kind {
        JobKind::Breakdown => breakdown::run(&state.store, model, job).await,
        JobKind::Narration => narration::run(&state.store, model, job).await,
        JobKind::Chat => chat::run(&state.store, model, job).await,
        JobKind::Insights => insights::run(&state.store, model, job).await,
        JobKind::Transcription => transcription::run(state, model, job).await,
    }
}

/// Fails the job with a problem, returns its credits, and tells the user.
async fn fail(
    state: &AiWorkerState,
    job: &JobItem,
    code: &'static str,
    detail: &str,
    usage: &JobUsage,
) -> Result<(), StoreError> {
    tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), code, detail, "AI job failed");
    if job.kind == JobKind::Transcription {
        transcription::discard_audio(state, job).await;
    }
    let problem =
        json!({ "type": "about:blank", "title": "The job failed", "status": 422, "code": code, "detail": detail });
    if state.store.ai().fail(job, &problem, usage).await? {
        let title = format!("Your {} did not work out", job.kind.as_str());
        notify(state, job, (title, format!("{detail}. Your credits were returned."))).await;
    }
    settle_as(state, job, JobStatus::Failed).await
}

/// A voice capture whose audio never arrived: it fails, and its credits return.
async fn missed_upload(state: &AiWorkerState, message: &AiJobMessage) -> Result<(), StoreError> {
    let Some(job) = state.store.ai().get(&message.user_id, &message.job_id).await? else {
        return Ok(());
    };
    let detail = "the audio was not uploaded before its upload link expired";
    fail(state, &job, "upload_missing", detail, &JobUsage::default()).await
}

/// Settles the credits of a job that finished before.
async fn settle(state: &AiWorkerState, job: &JobItem) -> Result<(), StoreError> {
    settle_as(state, job, job.status).await
}

/// Keeps the credits of a job that succeeded, returns those of one that failed. Idempotent.
async fn settle_as(state: &AiWorkerState, job: &JobItem, status: JobStatus) -> Result<(), StoreError> {
    if job.credits == 0 {
        return Ok(());
    }
    let settled = match status {
        JobStatus::Succeeded => state.store.credits().commit(&job.user_id, &job.id).await?,
        JobStatus::Failed => state.store.credits().refund(&job.user_id, &job.id).await?,
        JobStatus::Queued | JobStatus::Running => return Ok(()),
    };
    tracing::info!(job_id = %job.id, ?status, ?settled, "AI job credits settled");
    Ok(())
}

/// Keeps a breakdown for identical requests the same day. A miss costs a later request a model
/// call, never a wrong answer: failures are logged only.
async fn cache(state: &AiWorkerState, job: &JobItem, result: &Value) {
    if job.kind != JobKind::Breakdown {
        return;
    }
    let input = job.input_value();
    let (Some(task_id), Some(fingerprint)) = (input["task_id"].as_str(), input["fingerprint"].as_str()) else {
        return;
    };
    if let Err(error) = state.store.ai().cache_breakdown(&job.user_id, task_id, fingerprint, job, result).await {
        tracing::warn!(%error, "a breakdown was not cached");
    }
}

/// Tells the user in the app that a job finished (its id derives from the job's: once).
async fn notify(state: &AiWorkerState, job: &JobItem, (title, body): (String, String)) {
    let notification = Notification {
        id: shared::domain::ai::derived_id(&job.id, 15).unwrap_or_else(|| job.id.clone()),
        kind: NotificationType::AiJob,
        title,
        body,
        task_id: job.input_value()["task_id"].as_str().map(str::to_string),
        late: false,
        due_at: Utc::now(),
    };
    let message = NotificationMessage::new(&job.user_id, NotificationJob::Notice { notification });
    if let Err(error) = state.notifications.send(&message).await {
        tracing::warn!(%error, job_id = %job.id, "the job's notice was not queued");
    }
}
