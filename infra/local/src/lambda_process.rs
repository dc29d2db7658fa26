//! A function's real Lambda binary, run as Lambda runs it: its own process with the environment
//! template.yaml gives it, polling a Runtime API stand-in for events.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::runtime_api::RuntimeApi;
use crate::stack::{LocalStack, StackError};

pub struct LambdaProcess {
    pub runtime: RuntimeApi,
    child: Child,
    started: Instant,
    logs: Arc<Mutex<String>>,
}

impl LambdaProcess {
    /// Starts `binary_path` (the function named `binary` in template.yaml) on `stack`.
    pub async fn start(binary_path: &Path, binary: &str, stack: &LocalStack) -> Result<Self, StackError> {
        Self::start_with(binary_path, binary, stack, &[]).await
    }

    /// `start`, with `extra` environment variables on top (e.g. one service's endpoint elsewhere).
    pub async fn start_with(
        binary_path: &Path,
        binary: &str,
        stack: &LocalStack,
        extra: &[(&str, &str)],
    ) -> Result<Self, StackError> {
        let runtime = RuntimeApi::start()
            .await
            .map_err(|error| StackError::Init { function: binary.into(), reason: error.to_string() })?;
        let mut command = Command::new(binary_path);
        command
            .env_clear()
            .envs(stack.process_environment(binary)?)
            .envs(crate::LAMBDA_PROCESS_DEFAULTS)
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.address)
            .env("RUST_LOG", "info")
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|error| StackError::Init {
            function: binary.into(),
            reason: format!("{}: {error}", binary_path.display()),
        })?;
        let logs = Arc::new(Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            let sink = logs.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut logs = sink.lock().expect("log buffer");
                    logs.push_str(&line);
                    logs.push('\n');
                }
            });
        }
        Ok(LambdaProcess { runtime, child, started, logs })
    }

    /// Hands one event to the function and returns its answer.
    pub async fn invoke(&self, event: serde_json::Value) -> Result<serde_json::Value, String> {
        self.invoke_within(event, Duration::from_secs(30)).await
    }

    /// `invoke`, waiting up to `timeout` for the answer.
    pub async fn invoke_within(
        &self,
        event: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, String> {
        self.runtime.invoke(event, timeout).await
    }

    /// Everything the process logged so far (its stdout: JSON lines).
    pub fn logs(&self) -> String {
        self.logs.lock().expect("log buffer").clone()
    }

    /// When the process was spawned.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Peak resident memory of the process so far, in KiB (Linux `VmHWM`).
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Reads an event of events/ and fills its `{{name}}` placeholders (tokens and emails are made at
/// test time, so no secret is ever stored in events/).
pub fn load_event(path: &Path, values: &[(&str, &str)]) -> Result<serde_json::Value, String> {
    let mut text = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    for (name, value) in values {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}
