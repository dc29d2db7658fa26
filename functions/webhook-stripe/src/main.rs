//! Lambda entry point of webhook-stripe: build the state once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (env, sdk) = shared::state::load().await;
    let state = webhook_stripe::state(&env, &sdk).await?;
    lambda_http::run(webhook_stripe::router(state)).await
}
