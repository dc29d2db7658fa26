//! Everything a function builds once per cold start: settings, SDK clients, signing keys, outbound
//! clients. Handlers receive it as axum state.
//!
//! Each function builds only the clients it uses: `AppContext::base` (or `JobContext::base`) gives
//! the store and stand-ins that answer "not available in this function" for every outbound client,
//! and the function's crate adds the real ones with `with_*` (its `context` / `job_context`). The
//! linker keeps whatever a constructor may call, so a client that no function crate asks for is not
//! in that binary at all: this keeps every Lambda binary under the size bar. The local gateway and
//! the tests build contexts through the same function-crate constructors.

use std::sync::Arc;

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;

use crate::auth::JwtKeys;
use crate::config::{Config, ConfigError};
use crate::integrations::email::{Email, EmailError, EmailSender, SesEmailSender};
use crate::integrations::google::{GoogleError, GoogleIdTokenVerifier, GoogleIdentity, IdTokenVerifier};
use crate::integrations::push::{Platform, PushError, PushMessage, PushSender, SnsPushSender};
use crate::store::Store;

pub type AppState = Arc<AppContext>;

pub struct AppContext {
    pub config: Config,
    pub store: Store,
    /// Only in functions that built it (`with_s3`).
    pub s3: Option<aws_sdk_s3::Client>,
    pub keys: JwtKeys,
    /// `Unavailable` unless the function built it (`with_email`).
    pub email: Arc<dyn EmailSender>,
    /// `Unavailable` unless the function built it (`with_google`).
    pub google: Arc<dyn IdTokenVerifier>,
    /// `Unavailable` unless the function built it (`with_push`).
    pub push: Arc<dyn PushSender>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not read secret {id}: {reason}")]
    Secret { id: String, reason: String },
    #[error("JWT keys: {0}")]
    Keys(#[from] crate::auth::KeyError),
    #[error("HTTP client: {0}")]
    Http(String),
}

/// In Lambda: settings from the environment, AWS settings from the default chain (which also
/// honours `AWS_ENDPOINT_URL`, so the same binary talks to the local emulator). A function's main
/// hands both to its crate's `context` / `job_context`.
pub async fn load_env() -> Result<(Config, SdkConfig), InitError> {
    let config = Config::from_env()?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    Ok((config, sdk))
}

impl AppContext {
    /// What every HTTP function needs: settings, the store, the JWT keys. Every outbound client is
    /// the `Unavailable` stand-in until a `with_*` replaces it.
    pub async fn base(config: Config, sdk: &SdkConfig) -> Result<AppContext, InitError> {
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let key_set = read_secret(&secrets, &config.jwt_keys_secret_id).await?;
        let keys = JwtKeys::from_secret_json(&key_set, &config.jwt_issuer, &config.jwt_audience)?;
        Ok(AppContext {
            store: Store::new(sdk, config.table_name.clone()),
            s3: None,
            keys,
            email: Arc::new(Unavailable),
            google: Arc::new(Unavailable),
            push: Arc::new(Unavailable),
            config,
        })
    }

    /// Email through SES, from the configured sender.
    pub fn with_email(mut self, sdk: &SdkConfig) -> Self {
        self.email = Arc::new(ses_sender(&self.config, sdk));
        self
    }

    /// Google sign-in: ID tokens checked against the configured JWKS URL, fetched with reqwest.
    pub fn with_google(mut self) -> Result<Self, InitError> {
        // reqwest is built without a crypto provider of its own; it uses the process default.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("flowday/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| InitError::Http(error.to_string()))?;
        self.google = Arc::new(GoogleIdTokenVerifier::new(
            http,
            self.config.google_jwks_url.clone(),
            self.config.google_client_id.clone(),
        ));
        Ok(self)
    }

    /// SNS mobile push on the platform applications the config names.
    pub fn with_push(mut self, sdk: &SdkConfig) -> Self {
        self.push = Arc::new(push_sender(&self.config, sdk));
        self
    }

    pub fn with_s3(mut self, sdk: &SdkConfig) -> Self {
        self.s3 = Some(s3_client(sdk));
        self
    }

    pub fn into_state(self) -> AppState {
        Arc::new(self)
    }
}

/// What a background function (scheduled or queue-driven) builds once per cold start: no signing
/// keys or sign-in verifiers, only the clients its jobs use (as `AppContext`: `base`, then `with_*`).
pub struct JobContext {
    pub config: Config,
    pub store: Store,
    /// Only in functions that built it (`with_s3`).
    pub s3: Option<aws_sdk_s3::Client>,
    /// Only in functions that built it (`with_sqs`).
    pub sqs: Option<aws_sdk_sqs::Client>,
    /// `Unavailable` unless the function built it (`with_email`).
    pub email: Arc<dyn EmailSender>,
    /// `Unavailable` unless the function built it (`with_push`).
    pub push: Arc<dyn PushSender>,
}

impl JobContext {
    pub fn base(config: Config, sdk: &SdkConfig) -> JobContext {
        JobContext {
            store: Store::new(sdk, config.table_name.clone()),
            s3: None,
            sqs: None,
            email: Arc::new(Unavailable),
            push: Arc::new(Unavailable),
            config,
        }
    }

    pub fn with_s3(mut self, sdk: &SdkConfig) -> Self {
        self.s3 = Some(s3_client(sdk));
        self
    }

    pub fn with_sqs(mut self, sdk: &SdkConfig) -> Self {
        self.sqs = Some(aws_sdk_sqs::Client::new(sdk));
        self
    }

    pub fn with_email(mut self, sdk: &SdkConfig) -> Self {
        self.email = Arc::new(ses_sender(&self.config, sdk));
        self
    }

    pub fn with_push(mut self, sdk: &SdkConfig) -> Self {
        self.push = Arc::new(push_sender(&self.config, sdk));
        self
    }

    pub fn into_shared(self) -> Arc<JobContext> {
        Arc::new(self)
    }
}

/// The stand-in for an outbound client a function did not build: every call fails, saying so.
/// Reaching it is a wiring mistake (a handler using a client its function's `context` leaves out).
pub struct Unavailable;

const UNAVAILABLE: &str = "not available in this function (its context does not build this client)";

#[async_trait::async_trait]
impl EmailSender for Unavailable {
    async fn send(&self, _email: Email) -> Result<(), EmailError> {
        Err(EmailError(format!("email is {UNAVAILABLE}")))
    }
}

#[async_trait::async_trait]
impl IdTokenVerifier for Unavailable {
    async fn verify(&self, _id_token: &str) -> Result<GoogleIdentity, GoogleError> {
        Err(GoogleError::NotConfigured)
    }
}

#[async_trait::async_trait]
impl PushSender for Unavailable {
    fn supports(&self, _platform: Platform) -> bool {
        false
    }

    async fn register(&self, platform: Platform, _token: &str) -> Result<String, PushError> {
        Err(PushError::NotConfigured(platform))
    }

    async fn delete_endpoint(&self, _endpoint: &str) -> Result<(), PushError> {
        Err(PushError::Other(format!("push is {UNAVAILABLE}")))
    }

    async fn publish(&self, _endpoint: &str, _message: &PushMessage) -> Result<(), PushError> {
        Err(PushError::Other(format!("push is {UNAVAILABLE}")))
    }
}

fn ses_sender(config: &Config, sdk: &SdkConfig) -> SesEmailSender {
    SesEmailSender::new(aws_sdk_sesv2::Client::new(sdk), config.email_from.clone())
}

fn push_sender(config: &Config, sdk: &SdkConfig) -> SnsPushSender {
    SnsPushSender::new(
        aws_sdk_sns::Client::new(sdk),
        config.push_ios_app_arn.clone(),
        config.push_android_app_arn.clone(),
    )
}

async fn read_secret(client: &aws_sdk_secretsmanager::Client, id: &str) -> Result<String, InitError> {
    let output = client.get_secret_value().secret_id(id).send().await.map_err(|error| InitError::Secret {
        id: id.to_string(),
        reason: aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
    })?;
    output.secret_string.ok_or_else(|| InitError::Secret { id: id.to_string(), reason: "no string value".into() })
}

/// S3 with path-style addressing when an endpoint is configured (the local emulator answers on
/// one host, not a host per bucket).
fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The boxed future of an HTTP function's `context`, so the local gateway can hold it as a plain
/// `fn` pointer.
pub type ContextFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<AppState, InitError>> + Send + 'a>>;
