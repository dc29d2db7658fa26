//! Starting an AI job, the same way from every route that starts one (api-ai's, and api-planning's
//! narration): the caller's AI budget for the hour is counted, the job's credits are reserved and
//! the job written in one transaction (a job exists exactly when its credits are held), and its
//! message is queued for ai-worker. A message that cannot be queued fails the job and returns
//! its credits at once.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::queue::{AiJobQueue, QueueError};
use crate::domain::ai::{AiJobMessage, JobKind};
use crate::domain::credits::{InsufficientCredits, today};
use crate::domain::plan::limits;
use crate::store::accounts::UserItem as User;
use crate::store::ai::{JobItem, JobUsage};
use crate::store::credits::Reserved;
use crate::store::{Store, StoreError};

/// The window of the per-tier AI budget (`PlanLimits::ai_requests_per_hour`).
const AI_WINDOW_SECONDS: i64 = 3600;

/// Why a job did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the hour's AI requests are spent; try again in {retry_after} s")]
    RateLimited { per_hour: u32, retry_after: u64 },
    #[error("not enough credits")]
    Insufficient(InsufficientCredits),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Counts one AI request of `user` against their tier's hourly budget.
pub async fn count_request(store: &Store, user: &User, now: DateTime<Utc>) -> Result<(), StartError> {
    let per_hour = limits(user.tier).ai_requests_per_hour;
    let scope = format!("AI#{}", user.id);
    let hit = store.rate_limits().hit(&scope, per_hour, AI_WINDOW_SECONDS, now.timestamp()).await?;
    if hit.allowed { Ok(()) } else { Err(StartError::RateLimited { per_hour, retry_after: hit.reset_after }) }
}

/// Starts a job of `kind` on `input` for `user`: counts the request, reserves the kind's credits
/// with the job's creation, and queues it. The job as written (`queued`).
pub async fn start_job(
    store: &Store,
    queue: &AiJobQueue,
    user: &User,
    kind: JobKind,
    input: &Value,
    now: DateTime<Utc>,
) -> Result<JobItem, StartError> {
    let job = JobItem::queued(&user.id, ulid::Ulid::new().to_string(), kind, input, kind.credits(), String::new());
    start(store, queue, user, job, now).await
}

/// Starts `job` (queued, with its id and credits; its day is set here) as `start_job` does. A
/// voice capture's message waits for the client's upload.
pub async fn start(
    store: &Store,
    queue: &AiJobQueue,
    user: &User,
    mut job: JobItem,
    now: DateTime<Utc>,
) -> Result<JobItem, StartError> {
    count_request(store, user, now).await?;
    job.day = today(now, &user.timezone).to_string();
    let allowance = limits(user.tier).daily_credits;
    let reserved = store.credits().reserve_for_job(&job, job.credits, now, &user.timezone, allowance).await?;
    if let Reserved::Insufficient(refused) = reserved {
        return Err(StartError::Insufficient(refused));
    }
    let mut message = AiJobMessage::new(&user.id, &job.id);
    message.waits_for_upload = job.kind == JobKind::Transcription;
    if let Err(error) = queue.send(&message).await {
        let problem = json!({"code": "ai_unavailable", "detail": "the job could not be queued"});
        store.ai().fail(&job, &problem, &JobUsage::default()).await?;
        store.credits().refund(&user.id, &job.id).await?;
        return Err(error.into());
    }
    Ok(job)
}
