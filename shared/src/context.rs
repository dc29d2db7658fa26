//! Everything a function builds once per cold start: settings, SDK clients, signing keys, outbound
//! clients. Handlers receive it as axum state.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::auth::JwtKeys;
use crate::config::{Config, ConfigError};
use crate::integrations::email::{EmailSender, SesEmailSender};
use crate::integrations::google::{GoogleIdTokenVerifier, IdTokenVerifier};
use crate::integrations::push::{PushSender, SnsPushSender};
use crate::store::Store;

pub type AppState = Arc<AppContext>;

pub struct AppContext {
    pub config: Config,
    pub store: Store,
    pub s3: aws_sdk_s3::Client,
    pub keys: JwtKeys,
    pub email: Arc<dyn EmailSender>,
    pub google: Arc<dyn IdTokenVerifier>,
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

impl AppContext {
    /// In Lambda: settings from the environment, AWS settings from the default chain (which also
    /// honours `AWS_ENDPOINT_URL`, so the same binary talks to the local emulator).
    pub async fn from_env() -> Result<AppState, InitError> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Self::build(config, &sdk).await
    }

    pub async fn build(config: Config, sdk: &SdkConfig) -> Result<AppState, InitError> {
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let key_set = read_secret(&secrets, &config.jwt_keys_secret_id).await?;
        let keys = JwtKeys::from_secret_json(&key_set, &config.jwt_issuer, &config.jwt_audience)?;
        // reqwest is built without a crypto provider of its own; it uses the process default.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("flowday/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| InitError::Http(error.to_string()))?;
        let google = GoogleIdTokenVerifier::new(http, config.google_jwks_url.clone(), config.google_client_id.clone());
        let email = SesEmailSender::new(aws_sdk_sesv2::Client::new(sdk), config.email_from.clone());
        Ok(Arc::new(AppContext {
            store: Store::new(sdk, config.table_name.clone()),
            s3: s3_client(sdk),
            keys,
            email: Arc::new(email),
            google: Arc::new(google),
            push: Arc::new(push_sender(&config, sdk)),
            config,
        }))
    }
}

/// What a background function (scheduled or queue-driven) builds once per cold start: no signing
/// keys or sign-in verifiers, only the clients its jobs use.
pub struct JobContext {
    pub config: Config,
    pub store: Store,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub email: Arc<dyn EmailSender>,
    pub push: Arc<dyn PushSender>,
}

impl JobContext {
    pub async fn from_env() -> Result<Arc<JobContext>, InitError> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Ok(Self::build(config, &sdk))
    }

    pub fn build(config: Config, sdk: &SdkConfig) -> Arc<JobContext> {
        Arc::new(JobContext {
            store: Store::new(sdk, config.table_name.clone()),
            s3: s3_client(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            email: Arc::new(SesEmailSender::new(aws_sdk_sesv2::Client::new(sdk), config.email_from.clone())),
            push: Arc::new(push_sender(&config, sdk)),
            config,
        })
    }
}

/// SNS mobile push on the platform applications the config names.
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
