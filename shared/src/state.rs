//! What every function builds once per cold start, and nothing more.
//!
//! HTTP functions share a small `Base` (the store, the access-token keys, the function's name);
//! each function crate then defines its own state struct holding exactly the clients its handlers
//! use, and handlers take the parts they need through axum's `FromRef`. Background functions
//! define their state the same way. A function that sends no email has no email client at all:
//! the linker leaves it out of that binary, and no request can reach a client that is not there.
//! Settings are read per capability (`settings`), so a missing one fails the cold start with its
//! name.

use std::ops::Deref;
use std::sync::Arc;

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;

use crate::auth::JwtKeys;
use crate::settings::{Env, RateLimitSettings, SettingError, TokenSettings};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("could not read secret {id}: {reason}")]
    Secret { id: String, reason: String },
    #[error("JWT keys: {0}")]
    Keys(#[from] crate::auth::KeyError),
    #[error("HTTP client: {0}")]
    Http(String),
    #[error("AWS: {0}")]
    Aws(&'static str),
}

/// In Lambda: settings from the process environment, and the AWS settings Lambda gives every
/// function there: region and credentials from the environment, and `AWS_ENDPOINT_URL` when set
/// (the local emulator). Not `aws_config::load_defaults`: its chain (profiles, SSO, web identity,
/// STS, IMDS) never applies in Lambda, and linking it cost every binary over a megabyte.
pub async fn load() -> (Env, SdkConfig) {
    let env = Env::from_process();
    let sdk = lambda_sdk_config(&env);
    (env, sdk)
}

fn lambda_sdk_config(env: &Env) -> SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let region = env.optional("AWS_REGION").or_else(|| env.optional("AWS_DEFAULT_REGION"));
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.map(aws_config::Region::new))
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .retry_config(RetryConfig::standard())
        .timeout_config(TimeoutConfig::builder().connect_timeout(std::time::Duration::from_millis(3100)).build())
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().expect("the tokio sleep"))
        .time_source(aws_smithy_async::time::SharedTimeSource::default());
    if let Some(endpoint) = env.optional("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// What every HTTP function needs: the store, the keys that sign and check access tokens, and
/// its own name. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Base(Arc<BaseParts>);

pub struct BaseParts {
    pub function_name: String,
    pub store: Store,
    pub keys: JwtKeys,
    pub rate_limits: RateLimitSettings,
}

impl Deref for Base {
    type Target = BaseParts;

    fn deref(&self) -> &BaseParts {
        &self.0
    }
}

impl Base {
    /// The table of `TABLE_NAME`, and the signing key set read from Secrets Manager.
    pub async fn from_env(env: &Env, sdk: &SdkConfig) -> Result<Base, InitError> {
        let tokens = TokenSettings::read(env)?;
        let store = Store::from_env(env, sdk)?;
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let public_keys = read_secret(&secrets, &tokens.public_keys_secret_id).await?;
        let keys = JwtKeys::from_jwks_json(&public_keys, &tokens.issuer, &tokens.audience)?;
        let rate_limits = RateLimitSettings::read(env)?;
        Ok(Base(Arc::new(BaseParts { function_name: crate::settings::function_name(env), store, keys, rate_limits })))
    }
}

/// The access-token signer of api-auth: the active key of the private key set, which the public
/// keys every function verifies with must list.
pub async fn signer(env: &Env, sdk: &SdkConfig, base: &Base) -> Result<crate::auth::JwtSigner, InitError> {
    let tokens = TokenSettings::read(env)?;
    let secret_id = TokenSettings::signing_keys_secret_id(env)?;
    let key_set = read_secret(&aws_sdk_secretsmanager::Client::new(sdk), &secret_id).await?;
    let signer = crate::auth::JwtSigner::from_secret_json(&key_set, &tokens.issuer, &tokens.audience)?;
    if !base.keys.has_kid(signer.kid()) {
        return Err(InitError::Secret {
            id: tokens.public_keys_secret_id,
            reason: format!("the public keys lack the active signing key {}: put its JWKS there first", signer.kid()),
        });
    }
    Ok(signer)
}

/// A secret's text, read at cold start by a function whose client needs it (Stripe's API key).
pub async fn secret(sdk: &SdkConfig, id: &str) -> Result<String, InitError> {
    read_secret(&aws_sdk_secretsmanager::Client::new(sdk), id).await
}

pub(crate) async fn read_secret(client: &aws_sdk_secretsmanager::Client, id: &str) -> Result<String, InitError> {
    let output = client.get_secret_value().secret_id(id).send().await.map_err(|error| InitError::Secret {
        id: id.to_string(),
        reason: aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
    })?;
    output.secret_string.ok_or_else(|| InitError::Secret { id: id.to_string(), reason: "no string value".into() })
}
