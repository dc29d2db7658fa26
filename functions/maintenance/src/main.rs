//! Lambda entry point of maintenance: build the clients once, then run on each scheduled event.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let context = shared::context::JobContext::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let context = context.clone();
        async move {
            // EventBridge Scheduler passes the schedule's input as it is. A malformed input must not
            // stop the hourly clean-up: it runs with the defaults and says so.
            let input = serde_json::from_value(event.payload).unwrap_or_else(|error| {
                tracing::warn!(%error, "maintenance input not understood; running with the defaults");
                maintenance::MaintenanceEvent::default()
            });
            maintenance::run(&context, input).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
