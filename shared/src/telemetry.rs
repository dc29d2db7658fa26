//! JSON logs through `tracing`. Fields are chosen by the call sites; none of them logs a password,
//! a token or a request body.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static COLD: AtomicBool = AtomicBool::new(true);

/// Installs the JSON log subscriber once per process. `RUST_LOG` overrides the level.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}

/// True for the first request this process serves (a Lambda cold start), false after.
pub fn take_cold_start() -> bool {
    COLD.swap(false, Ordering::Relaxed)
}

/// The function this process runs as (`AWS_LAMBDA_FUNCTION_NAME`), `local` in the local gateway.
pub fn function_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into()))
}
