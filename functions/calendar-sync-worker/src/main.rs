//! Lambda entry point of calendar-sync-worker: build the state once, then run on each SQS batch.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let (env, sdk) = shared::state::load().await;
    shared::jobs::run(calendar_sync_worker::state(&env, &sdk)?, calendar_sync_worker::handle).await
}
