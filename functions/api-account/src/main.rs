//! Lambda entry point of api-account: build everything once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (config, sdk) = shared::context::load_env().await?;
    let state = api_account::context(config, &sdk).await?;
    lambda_http::run(api_account::router(state)).await
}
