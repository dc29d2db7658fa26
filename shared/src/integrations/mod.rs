//! Outbound clients behind traits, so tests can point them at local fakes that speak the real
//! formats. Each is built at cold start by the functions that use it (`from_env`), from the
//! settings of its capability.

pub mod calendar_clients;
pub mod calendars;
pub mod email;
pub mod files;
pub mod google;
pub mod llm;
pub mod push;
pub mod stripe;
pub mod stripe_webhook;
pub mod transcription;
pub(crate) mod upstream;

use crate::state::InitError;

/// The HTTPS client of outbound calls (Google's keys, presigned S3 requests): rustls with the
/// aws-lc provider the AWS SDK already links.
pub fn http_client() -> Result<reqwest::Client, InitError> {
    // reqwest is built without a crypto provider of its own; it uses the process default.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("flowday/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| InitError::Http(error.to_string()))
}
