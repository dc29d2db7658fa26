//! Lambda entry point of ai-worker: build the state once, then run on each SQS batch.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let (env, sdk) = shared::state::load().await;
    shared::jobs::run(ai_worker::state(&env, &sdk)?, ai_worker::handle).await
}
