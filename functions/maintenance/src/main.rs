//! Lambda entry point of maintenance: build the state once, then run on each event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let (env, sdk) = shared::state::load().await;
    shared::jobs::run(maintenance::state(&env, &sdk)?, maintenance::handle).await
}
