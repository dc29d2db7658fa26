//! Lambda entry point of api-auth: build everything once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (config, sdk) = shared::context::load_env().await?;
    let state = api_auth::context(config, &sdk).await?;
    lambda_http::run(api_auth::router(state)).await
}
