//! The AWS emulator (moto's server, from the project's `.venv`) as a child process on loopback.
//! It dies with the process that started it, even when that process is killed.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("the emulator is not installed at {0}: run `make venv` (or `make dev`, which does it)")]
    NotInstalled(String),
    #[error("the emulator could not start: {0}")]
    Start(String),
}

pub struct Emulator {
    child: Child,
    pub port: u16,
}

/// The workspace root (where template.yaml and .venv live).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).expect("infra/local sits two levels below the root").to_path_buf()
}

/// The Python that has moto: `FLOWDAY_PYTHON`, else the project's `.venv`.
pub fn python_path() -> PathBuf {
    std::env::var_os("FLOWDAY_PYTHON").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

/// Our launcher for moto's server (it makes DynamoDB conditional writes atomic, as in AWS).
pub fn emulator_script() -> PathBuf {
    workspace_root().join("infra/local/emulator.py")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).map(|addr| addr.port()).unwrap_or(0)
}

impl Emulator {
    /// Starts the emulator on `port` (0: a free one) and waits until it answers.
    pub fn start(port: u16) -> Result<Self, EmulatorError> {
        let program = python_path();
        if !program.exists() {
            return Err(EmulatorError::NotInstalled(program.display().to_string()));
        }
        let port = if port == 0 { free_port() } else { port };
        let mut command = Command::new(&program);
        command
            .arg(emulator_script())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it asks Linux to kill the emulator when the thread
        // that started it exits, so no emulator outlives a test run or a killed gateway.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().map_err(|error| EmulatorError::Start(error.to_string()))?;
        let mut emulator = Emulator { child, port };
        emulator.wait_ready(Duration::from_secs(30))?;
        Ok(emulator)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), EmulatorError> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(EmulatorError::Start(format!("exited with {status} (is port {} taken?)", self.port)));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(EmulatorError::Start(format!("no answer on port {} within {limit:?}", self.port)))
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}
