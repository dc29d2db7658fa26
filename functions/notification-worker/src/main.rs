//! Lambda entry point of notification-worker: build the clients once, then take each SQS batch.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let (config, sdk) = shared::context::load_env().await?;
    let context = notification_worker::job_context(config, &sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let context = context.clone();
        async move { notification_worker::handle(&context, event.payload).await }
    }))
    .await
}
