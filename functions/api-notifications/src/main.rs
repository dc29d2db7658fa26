//! Lambda entry point of api-notifications: build everything once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (config, sdk) = shared::context::load_env().await?;
    let state = api_notifications::context(config, &sdk).await?;
    lambda_http::run(api_notifications::router(state)).await
}
