//! maintenance: the hourly clean-up (EventBridge Scheduler). Today it purges trash entries whose
//! 7 days are over; the daily digest joins it with the notification pipeline.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shared::context::JobContext;
use shared::jobs::purge::{DEFAULT_DAYS_BACK, PurgeReport, purge_expired_trash};

/// The scheduler's input. Every field is optional: the schedule sends `{}`; an operator catching
/// up after a long outage sends `{"days_back": 60}`.
#[derive(Debug, Default, Deserialize)]
pub struct MaintenanceEvent {
    #[serde(default)]
    pub days_back: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct MaintenanceReport {
    pub trash: PurgeReport,
}

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("FILES_BUCKET is not set")]
    NoBucket,
    #[error(transparent)]
    Purge(#[from] shared::jobs::purge::PurgeError),
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
    let report = run(context, input).await?;
    Ok(serde_json::to_value(report)?)
}

/// One run of every maintenance job.
pub async fn run(context: &Arc<JobContext>, event: MaintenanceEvent) -> Result<MaintenanceReport, MaintenanceError> {
    let bucket = context.config.files_bucket.as_deref().ok_or(MaintenanceError::NoBucket)?;
    let now = chrono::Utc::now().timestamp();
    let days_back = event.days_back.unwrap_or(DEFAULT_DAYS_BACK).clamp(0, 3650);
    let trash = purge_expired_trash(&context.store, &context.s3, bucket, now, days_back).await?;
    tracing::info!(
        entries = trash.entries,
        items = trash.items_deleted,
        objects = trash.objects_deleted,
        failed = trash.failed,
        "trash purged"
    );
    Ok(MaintenanceReport { trash })
}
