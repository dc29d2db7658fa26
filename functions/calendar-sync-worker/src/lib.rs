//! calendar-sync-worker (SQS `calendar-sync`): runs each job of the batch, one at a time
//! (`jobs::calendar_sync`), and reports the ones that failed so only they come back
//! (ReportBatchItemFailures); after 5 receives the queue moves a job to its DLQ. A job the
//! provider throttled, or one with more pages to go, is queued again by the job itself and
//! reported done, so waiting never counts toward the DLQ.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use shared::integrations::calendar_clients::CalendarClients;
use shared::jobs::calendar_sync::{CalendarJob, SyncContext, process};
use shared::jobs::queue::{NotificationQueue, SyncQueue};
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};
use shared::store::Store;

/// What the worker uses: the store, the providers (secrets read on first use), its own queue
/// (jobs put themselves back), and the notifications queue (a connection that stops syncing
/// tells its owner).
pub struct SyncWorkerState {
    pub store: Store,
    pub clients: CalendarClients,
    pub queue: SyncQueue,
    pub notifications: NotificationQueue,
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub fn state(env: &Env, sdk: &SdkConfig) -> Result<SyncWorkerState, InitError> {
    Ok(SyncWorkerState {
        store: Store::from_env(env, sdk)?,
        clients: CalendarClients::from_env(env, sdk)?,
        queue: SyncQueue::from_env(env, sdk)?,
        notifications: NotificationQueue::from_env(env, sdk)?,
    })
}

/// The handler (Lambda's and the local gateway's): an `SqsEvent` in, an `SqsBatchResponse` out.
pub async fn handle(
    state: Arc<SyncWorkerState>,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let event: SqsEvent = serde_json::from_value(event)?;
    let context = SyncContext {
        store: &state.store,
        clients: &state.clients,
        queue: &state.queue,
        notifications: &state.notifications,
    };
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let job: CalendarJob = match serde_json::from_str(record.body.as_deref().unwrap_or_default()) {
            Ok(job) => job,
            Err(error) => {
                tracing::error!(%message_id, %error, "not a calendar-sync job");
                response.add_failure(message_id);
                continue;
            }
        };
        // Boxed: the job's future is deep, and inside the Lambda runtime's it overflows the type limit.
        match Box::pin(process(&context, &job, &message_id)).await {
            Ok(report) => tracing::info!(%message_id, ?report, "calendar sync"),
            Err(error) => {
                let receives = record.attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default();
                tracing::error!(%message_id, %error, receives, "calendar sync failed; it comes back");
                response.add_failure(message_id);
            }
        }
    }
    Ok(serde_json::to_value(response)?)
}
