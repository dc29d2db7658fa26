//! maintenance (EventBridge Scheduler, hourly): sends the daily digests of the users whose local
//! digest hour has begun, then purges trash entries whose 7 days are over. Each job runs even when
//! the other fails; the run fails (and alarms) if either did.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::config::Config;
use shared::context::{JobContext, SdkConfig};
use shared::jobs::digests::{DigestError, DigestReport, send_digests};
use shared::jobs::purge::{DEFAULT_DAYS_BACK, PurgeReport, purge_expired_trash};

/// The scheduler's input. Every field is optional: the schedule sends `{}`; an operator catching
/// up after a long outage sends `{"days_back": 60}` (trash) or `{"digest_at": "<instant>"}` (the
/// digests of the hour before that instant).
#[derive(Debug, Default, Deserialize)]
pub struct MaintenanceEvent {
    #[serde(default)]
    pub days_back: Option<i64>,
    #[serde(default)]
    pub digest_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
pub struct MaintenanceReport {
    pub digests: DigestReport,
    pub trash: PurgeReport,
}

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("FILES_BUCKET is not set")]
    NoBucket,
    #[error("NOTIFICATIONS_QUEUE_URL is not set")]
    NoQueue,
    #[error("{0} is not available in this function")]
    Unavailable(&'static str),
    #[error(transparent)]
    Purge(#[from] shared::jobs::purge::PurgeError),
    #[error(transparent)]
    Digests(#[from] DigestError),
}

/// This function's context: the store, SQS (digests go to the `notifications` queue) and S3
/// (purged trash takes its attachments along). Lambda's main and the local gateway both build it
/// here, so a client left out is not linked at all.
pub fn job_context(config: Config, sdk: &SdkConfig) -> Arc<JobContext> {
    JobContext::base(config, sdk).with_sqs(sdk).with_s3(sdk).into_shared()
}

/// The entry point every background function exposes, in Lambda (main.rs) and in the local
/// gateway (`infra/local/src/triggers.rs`): the event as JSON in, the result as JSON out.
/// EventBridge Scheduler passes the schedule's input as it is. A malformed input must not stop
/// the hourly clean-up: it runs with the defaults and says so.
pub async fn handle(
    context: &Arc<JobContext>,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let input = serde_json::from_value(event).unwrap_or_else(|error| {
        tracing::warn!(%error, "maintenance input not understood; running with the defaults");
        MaintenanceEvent::default()
    });
    // Boxed: the run's future is deep, and inside the Lambda runtime's it overflows the type limit.
    let report = Box::pin(run(context, input)).await?;
    Ok(serde_json::to_value(report)?)
}

/// One run of every maintenance job.
pub async fn run(context: &Arc<JobContext>, event: MaintenanceEvent) -> Result<MaintenanceReport, MaintenanceError> {
    let digests = digests(context, event.digest_at.unwrap_or_else(Utc::now)).await;
    let trash = purge(context, event.days_back).await;
    Ok(MaintenanceReport { digests: digests?, trash: trash? })
}

async fn digests(context: &JobContext, at: DateTime<Utc>) -> Result<DigestReport, MaintenanceError> {
    let queue = context.config.notifications_queue_url.as_deref().ok_or(MaintenanceError::NoQueue)?;
    let sqs = context.sqs.as_ref().ok_or(MaintenanceError::Unavailable("SQS"))?;
    let report = send_digests(&context.store, sqs, queue, at).await.inspect_err(|error| {
        tracing::error!(%error, "digests not sent");
    })?;
    tracing::info!(hours = report.hours_read, queued = report.queued, "digests queued");
    Ok(report)
}

async fn purge(context: &JobContext, days_back: Option<i64>) -> Result<PurgeReport, MaintenanceError> {
    let bucket = context.config.files_bucket.as_deref().ok_or(MaintenanceError::NoBucket)?;
    let days_back = days_back.unwrap_or(DEFAULT_DAYS_BACK).clamp(0, 3650);
    let s3 = context.s3.as_ref().ok_or(MaintenanceError::Unavailable("S3"))?;
    let trash = purge_expired_trash(&context.store, s3, bucket, Utc::now().timestamp(), days_back).await?;
    tracing::info!(
        entries = trash.entries,
        items = trash.items_deleted,
        objects = trash.objects_deleted,
        failed = trash.failed,
        "trash purged"
    );
    Ok(trash)
}
