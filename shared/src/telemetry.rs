//! JSON logs through `tracing`. Fields are chosen by the call sites; none of them logs a password,
//! a token or a request body.

use std::sync::OnceLock;

use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::filter::Targets;

static COLD: AtomicBool = AtomicBool::new(true);

/// Installs the JSON log subscriber once per process. `RUST_LOG` sets the level (`info` when
/// absent or unreadable), or per target (`shared=debug,info`). A `Targets` filter rather than
/// `EnvFilter`: the same directives without the regex engine, which every binary carried.
pub fn init() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false);
    let _ = tracing_subscriber::registry().with(logs).with(filter).try_init();
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
