//! The local stack behind `make dev` and the tests: the emulator, the resources template.yaml
//! declares, the local gateway serving every route group, the background functions' triggers,
//! and a Lambda Runtime API stand-in.

pub mod bench;
pub mod bench_ai;
pub mod bench_billing;
pub mod bench_calendar;
pub mod bench_planner;
pub mod bench_reminders;
pub mod calendar_fakes;
pub mod contract;
pub mod emulator;
pub mod functions;
pub mod gateway;
pub mod lambda_process;
pub mod llm_fakes;
pub mod openapi;
pub mod runtime_api;
pub mod stack;
pub mod stripe_fake;
pub mod template;
pub mod transcription_fakes;
pub mod triggers;

pub use emulator::{Emulator, workspace_root};
pub use stack::LocalStack;
pub use template::Template;

/// Environment every Lambda process has, which the Rust runtime requires.
pub const LAMBDA_PROCESS_DEFAULTS: [(&str, &str); 4] = [
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ("AWS_LAMBDA_LOG_GROUP_NAME", "local"),
    ("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
];
