//! Lambda entry point of notification-worker: build the state once, then run on each event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let (env, sdk) = shared::state::load().await;
    shared::jobs::run(notification_worker::state(&env, &sdk)?, notification_worker::handle).await
}
