//! Typed settings, read once per cold start from the environment (in Lambda) or from a map (the local
//! gateway and tests, which must not share process-wide environment variables).

use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing setting {0}")]
    Missing(&'static str),
    #[error("setting {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Google's published signing keys for ID tokens.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

#[derive(Debug, Clone)]
pub struct Config {
    /// Name of this function, for logs (`AWS_LAMBDA_FUNCTION_NAME` in Lambda).
    pub function_name: String,
    /// The single DynamoDB table.
    pub table_name: String,
    /// Secrets Manager id of the JWT signing key set.
    pub jwt_keys_secret_id: String,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// OAuth client id that Google ID tokens must be issued for; Google sign-in is off without it.
    pub google_client_id: Option<String>,
    pub google_jwks_url: String,
    /// Sender address of every email.
    pub email_from: String,
    /// Base URL of the app, for links in emails (password reset, verification).
    pub app_base_url: String,
    /// The private bucket of attachments and exports (functions that store files have it).
    pub files_bucket: Option<String>,
    /// The `notifications` queue (the reminder scheduler and maintenance send to it).
    pub notifications_queue_url: Option<String>,
    /// SNS platform application of iOS devices (APNS); push registration for iOS is off without it.
    pub push_ios_app_arn: Option<String>,
    /// SNS platform application of Android devices (FCM); push registration for Android is off without it.
    pub push_android_app_arn: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_map(values: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| values.get(name).cloned())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|value| !value.is_empty());
        let require = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let app_base_url = require("APP_BASE_URL")?;
        if !app_base_url.starts_with("http://") && !app_base_url.starts_with("https://") {
            return Err(ConfigError::Invalid {
                name: "APP_BASE_URL",
                reason: "must start with http:// or https://".into(),
            });
        }
        Ok(Config {
            function_name: get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "local".into()),
            table_name: require("TABLE_NAME")?,
            jwt_keys_secret_id: require("JWT_KEYS_SECRET_ID")?,
            jwt_issuer: require("JWT_ISSUER")?,
            jwt_audience: require("JWT_AUDIENCE")?,
            google_client_id: get("GOOGLE_CLIENT_ID"),
            google_jwks_url: get("GOOGLE_JWKS_URL").unwrap_or_else(|| GOOGLE_JWKS_URL.into()),
            email_from: require("EMAIL_FROM")?,
            app_base_url: app_base_url.trim_end_matches('/').to_string(),
            files_bucket: get("FILES_BUCKET"),
            notifications_queue_url: get("NOTIFICATIONS_QUEUE_URL"),
            push_ios_app_arn: get("PUSH_IOS_APP_ARN"),
            push_android_app_arn: get("PUSH_ANDROID_APP_ARN"),
        })
    }
}
