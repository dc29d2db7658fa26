//! Lambda entry point of reminder-scheduler: build the state once, then run on each event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let (env, sdk) = shared::state::load().await;
    shared::jobs::run(reminder_scheduler::state(&env, &sdk)?, reminder_scheduler::handle).await
}
