//! Lambda entry point of reminder-scheduler: build the clients once, then run on each scheduled event.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let context = shared::context::JobContext::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let context = context.clone();
        async move {
            // The deadline leaves a margin to write the watermark of what was sent.
            let budget = event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
            reminder_scheduler::handle(&context, event.payload, budget).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
