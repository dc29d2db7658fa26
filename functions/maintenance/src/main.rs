//! Lambda entry point of maintenance: build the clients once, then run on each scheduled event.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let (config, sdk) = shared::context::load_env().await?;
    let context = maintenance::job_context(config, &sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let context = context.clone();
        async move { maintenance::handle(&context, event.payload).await }
    }))
    .await
}
