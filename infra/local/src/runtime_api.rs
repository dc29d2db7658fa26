//! A stand-in for the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`), so a function's real binary
//! can be run on an event exactly as Lambda runs it: the binary polls `invocation/next`, handles
//! the event, posts the response. Used by the entry-point tests and the cold-start benchmark.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use tokio::sync::{Mutex, mpsc, oneshot};

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Result<serde_json::Value, String>>>>>;

#[derive(Clone)]
struct RuntimeState {
    events: Arc<Mutex<mpsc::Receiver<(String, serde_json::Value)>>>,
    waiters: Waiters,
    init_error: Arc<Mutex<Option<String>>>,
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    sender: mpsc::Sender<(String, serde_json::Value)>,
    waiters: Waiters,
    init_error: Arc<Mutex<Option<String>>>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel(16);
        let waiters: Waiters = Arc::default();
        let init_error = Arc::new(Mutex::new(None));
        let state = RuntimeState {
            events: Arc::new(Mutex::new(receiver)),
            waiters: waiters.clone(),
            init_error: init_error.clone(),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_failed))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(RuntimeApi { address, sender, waiters, init_error })
    }

    /// Hands `event` to the function and waits for its answer (an error if it reported one).
    pub async fn invoke(&self, event: serde_json::Value, timeout: Duration) -> Result<serde_json::Value, String> {
        let request_id = ulid::Ulid::new().to_string();
        let (answer, answered) = oneshot::channel();
        self.waiters.lock().await.insert(request_id.clone(), answer);
        self.sender.send((request_id, event)).await.map_err(|_| "runtime API stopped".to_string())?;
        match tokio::time::timeout(timeout, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the invocation was dropped".into()),
            Err(_) => match self.init_error.lock().await.clone() {
                Some(error) => Err(format!("init failed: {error}")),
                None => Err(format!("no answer within {timeout:?}")),
            },
        }
    }

    pub async fn init_error(&self) -> Option<String> {
        self.init_error.lock().await.clone()
    }
}

async fn next(State(state): State<RuntimeState>) -> Response {
    let Some((request_id, event)) = state.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let headers = [
        ("lambda-runtime-aws-request-id", request_id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:local".to_string()),
        ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".to_string()),
        ("content-type", "application/json".to_string()),
    ];
    (headers, event.to_string()).into_response()
}

async fn respond(State(state): State<RuntimeState>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).map_err(|error| format!("response is not JSON: {error}"));
    if let Some(waiter) = state.waiters.lock().await.remove(&id) {
        let _ = waiter.send(value);
    }
    StatusCode::ACCEPTED
}

async fn fail(State(state): State<RuntimeState>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    if let Some(waiter) = state.waiters.lock().await.remove(&id) {
        let _ = waiter.send(Err(String::from_utf8_lossy(&body).into_owned()));
    }
    StatusCode::ACCEPTED
}

async fn init_failed(State(state): State<RuntimeState>, body: Bytes) -> StatusCode {
    *state.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}
