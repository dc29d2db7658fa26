//! Lambda entry point of api-ai: build the state once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (env, sdk) = shared::state::load().await;
    let state = api_ai::state(&env, &sdk).await?;
    lambda_http::run(api_ai::router(state)).await
}
