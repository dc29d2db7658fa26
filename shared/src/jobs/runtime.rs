//! The one way a background function runs: its crate's `handle(state, event)` takes the event as
//! JSON (the schedule's input; an SQS batch as `SqsEvent`) and answers JSON (a report; an
//! `SqsBatchResponse`). Lambda's main hands it to the runtime with `run`; the local gateway holds
//! it type-erased as a `JobHandler` and calls the very same function.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

pub type JobResult = Result<Value, lambda_runtime::Error>;
pub type JobFuture = Pin<Box<dyn Future<Output = JobResult> + Send>>;
/// A background function with its state, ready to take events.
pub type JobHandler = Arc<dyn Fn(Value) -> JobFuture + Send + Sync>;

/// `handle` bound to its state.
pub fn handler<S, F, Fut>(state: S, handle: F) -> JobHandler
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = JobResult> + Send + 'static,
{
    let state = Arc::new(state);
    Arc::new(move |event| Box::pin(handle(state.clone(), event)))
}

/// Serves Lambda invocations with `handle` until the runtime stops (a background main).
pub async fn run<S, F, Fut>(state: S, handle: F) -> Result<(), lambda_runtime::Error>
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = JobResult> + Send + 'static,
{
    let handler = handler(state, handle);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| {
        handler(event.payload)
    }))
    .await
}
