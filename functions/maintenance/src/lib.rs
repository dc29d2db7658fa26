//! maintenance (EventBridge Scheduler, hourly): sends the daily digests of the users whose local
//! digest hour has begun, purges trash entries whose 7 days are over, and queues the renewal of
//! calendar push channels that expire within a day (calendar-sync-worker renews them). Each job
//! runs even when another fails; the run fails (and alarms) if any did.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::domain::messages::CalendarJob;
use shared::integrations::files::Files;
use shared::jobs::digests::{DigestError, DigestReport, send_digests};
use shared::jobs::purge::{DEFAULT_DAYS_BACK, PurgeReport, purge_expired_trash};
use shared::jobs::queue::NotificationQueue;
use shared::jobs::queue::SyncQueue;
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};
use shared::store::Store;

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
    /// Connections whose watch expires within a day, queued for renewal.
    pub watches_renewed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error(transparent)]
    Purge(#[from] shared::jobs::purge::PurgeError),
    #[error(transparent)]
    Digests(#[from] DigestError),
    /// Some trash entries could not be purged (each is logged); the next run retries them. The
    /// run fails so that its alarm fires.
    #[error("{0} trash entries could not be purged")]
    PurgeIncomplete(usize),
    #[error("calendar watches not renewed: {0}")]
    Watches(String),
}

/// What maintenance uses: the store, the `notifications` queue (digests), the files bucket
/// (purged trash takes its attachments along) and the `calendar-sync` queue (watch renewals).
pub struct MaintenanceState {
    pub store: Store,
    pub queue: NotificationQueue,
    pub files: Files,
    pub calendar_sync: SyncQueue,
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub fn state(env: &Env, sdk: &SdkConfig) -> Result<MaintenanceState, InitError> {
    Ok(MaintenanceState {
        store: Store::from_env(env, sdk)?,
        queue: NotificationQueue::from_env(env, sdk)?,
        files: Files::from_env(env, sdk)?,
        calendar_sync: SyncQueue::from_env(env, sdk)?,
    })
}

/// The entry point every background function exposes, in Lambda (main.rs) and in the local
/// gateway (`infra/local/src/triggers.rs`): the event as JSON in, the result as JSON out.
/// EventBridge Scheduler passes the schedule's input as it is. A malformed input must not stop
/// the hourly clean-up: it runs with the defaults and says so.
pub async fn handle(
    state: Arc<MaintenanceState>,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    let input = serde_json::from_value(event).unwrap_or_else(|error| {
        tracing::warn!(%error, "maintenance input not understood; running with the defaults");
        MaintenanceEvent::default()
    });
    // Boxed: the run's future is deep, and inside the Lambda runtime's it overflows the type limit.
    let report = Box::pin(run(&state, input)).await?;
    Ok(serde_json::to_value(report)?)
}

/// One run of every maintenance job.
pub async fn run(state: &MaintenanceState, event: MaintenanceEvent) -> Result<MaintenanceReport, MaintenanceError> {
    let digests = digests(state, event.digest_at.unwrap_or_else(Utc::now)).await;
    let trash = purge(state, event.days_back).await;
    let watches = renew_watches(state).await;
    Ok(MaintenanceReport { digests: digests?, trash: trash?, watches_renewed: watches? })
}

/// Queues the renewal of every watch that expires within 25 hours (a day ahead, plus the hour
/// to the next run). A renewal queued twice renews twice, which only moves the expiry on.
async fn renew_watches(state: &MaintenanceState) -> Result<usize, MaintenanceError> {
    let failed = |error: String| {
        tracing::error!(%error, "calendar watches not renewed");
        MaintenanceError::Watches(error)
    };
    let until = Utc::now() + chrono::Duration::hours(25);
    let due = state.store.connections().watches_expiring(until).await.map_err(|error| failed(error.to_string()))?;
    for connection in &due {
        let job = CalendarJob::Sync {
            user_id: connection.user_id.clone(),
            connection_id: connection.id.clone(),
            renew_watch: true,
        };
        state.calendar_sync.send(&job, 0).await.map_err(|error| failed(error.to_string()))?;
    }
    tracing::info!(count = due.len(), "calendar watches queued for renewal");
    Ok(due.len())
}

async fn digests(state: &MaintenanceState, at: DateTime<Utc>) -> Result<DigestReport, MaintenanceError> {
    let report = send_digests(&state.store, &state.queue, at).await.inspect_err(|error| {
        tracing::error!(%error, "digests not sent");
    })?;
    tracing::info!(hours = report.hours_read, queued = report.queued, "digests queued");
    Ok(report)
}

async fn purge(state: &MaintenanceState, days_back: Option<i64>) -> Result<PurgeReport, MaintenanceError> {
    let days_back = days_back.unwrap_or(DEFAULT_DAYS_BACK).clamp(0, 3650);
    let trash = purge_expired_trash(&state.store, &state.files, Utc::now().timestamp(), days_back).await?;
    tracing::info!(
        entries = trash.entries,
        items = trash.items_deleted,
        objects = trash.objects_deleted,
        failed = trash.failed,
        "trash purged"
    );
    if trash.failed > 0 {
        return Err(MaintenanceError::PurgeIncomplete(trash.failed));
    }
    Ok(trash)
}
