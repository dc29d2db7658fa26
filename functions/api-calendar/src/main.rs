//! Lambda entry point of api-calendar: build the state once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let (env, sdk) = shared::state::load().await;
    let state = api_calendar::state(&env, &sdk).await?;
    lambda_http::run(api_calendar::router(state)).await
}
