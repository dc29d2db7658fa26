//! Google sign-in: checks an ID token against Google's published keys (JWKS), fetched over HTTP and
//! cached. The JWKS URL is configuration, so tests point it at a local fake.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

/// What we take from a verified Google ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleIdentity {
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    /// The token is not a valid Google ID token for us.
    #[error("invalid ID token: {0}")]
    InvalidToken(String),
    #[error("the Google account's email is not verified")]
    EmailNotVerified,
    /// Google sign-in is not configured (no client id).
    #[error("Google sign-in is not configured")]
    NotConfigured,
    /// Google's keys could not be fetched.
    #[error("Google keys unavailable: {0}")]
    KeysUnavailable(String),
}

#[async_trait::async_trait]
pub trait IdTokenVerifier: Send + Sync {
    async fn verify(&self, id_token: &str) -> Result<GoogleIdentity, GoogleError>;
}

#[derive(Debug, Deserialize)]
struct GoogleClaims {
    sub: String,
    email: Option<String>,
    #[serde(default, deserialize_with = "bool_or_string")]
    email_verified: bool,
    name: Option<String>,
}

/// Google has sent `email_verified` both as a boolean and as the string "true".
fn bool_or_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    Ok(match Flag::deserialize(deserializer)? {
        Flag::Bool(value) => value,
        Flag::Text(text) => text == "true",
    })
}

struct CachedKeys {
    keys: HashMap<String, DecodingKey>,
    fetched: Instant,
}

/// Verifies Google ID tokens: RS256 only, `iss` Google, `aud` our client id, not expired.
pub struct GoogleIdTokenVerifier {
    http: reqwest::Client,
    jwks_url: String,
    client_id: Option<String>,
    cache: RwLock<Option<CachedKeys>>,
}

/// Keys are re-fetched after an hour, or sooner when a token names a key we do not know (Google
/// rotates keys), but not more than once a minute.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

impl GoogleIdTokenVerifier {
    /// Checks ID tokens for `GOOGLE_CLIENT_ID` against the keys at `GOOGLE_JWKS_URL`.
    pub fn from_env(
        env: &crate::settings::Env,
    ) -> Result<std::sync::Arc<dyn IdTokenVerifier>, crate::state::InitError> {
        let settings = crate::settings::GoogleSettings::read(env);
        let verifier = GoogleIdTokenVerifier::new(super::http_client()?, settings.jwks_url, settings.client_id);
        Ok(std::sync::Arc::new(verifier))
    }

    pub fn new(http: reqwest::Client, jwks_url: impl Into<String>, client_id: Option<String>) -> Self {
        GoogleIdTokenVerifier { http, jwks_url: jwks_url.into(), client_id, cache: RwLock::new(None) }
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>, GoogleError> {
        let unavailable = |error: reqwest::Error| GoogleError::KeysUnavailable(error.to_string());
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(unavailable)?
            .error_for_status()
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect())
    }

    /// The key for `kid`, from the cache or a fresh fetch.
    async fn key(&self, kid: &str) -> Result<DecodingKey, GoogleError> {
        {
            let cache = self.cache.read().await;
            if let Some(cached) = cache.as_ref() {
                let fresh = cached.fetched.elapsed() < KEYS_MAX_AGE;
                let may_refetch = cached.fetched.elapsed() >= MIN_REFETCH_INTERVAL;
                match cached.keys.get(kid) {
                    Some(key) if fresh => return Ok(key.clone()),
                    None if fresh && !may_refetch => {
                        return Err(GoogleError::InvalidToken("unknown signing key".into()));
                    }
                    _ => {}
                }
            }
        }
        let keys = self.fetch_keys().await?;
        let key = keys.get(kid).cloned();
        *self.cache.write().await = Some(CachedKeys { keys, fetched: Instant::now() });
        key.ok_or_else(|| GoogleError::InvalidToken("unknown signing key".into()))
    }
}

#[async_trait::async_trait]
impl IdTokenVerifier for GoogleIdTokenVerifier {
    async fn verify(&self, id_token: &str) -> Result<GoogleIdentity, GoogleError> {
        let client_id = self.client_id.as_deref().ok_or(GoogleError::NotConfigured)?;
        let invalid = |reason: String| GoogleError::InvalidToken(reason);
        let header = jsonwebtoken::decode_header(id_token).map_err(|error| invalid(error.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("not signed with RS256".into()));
        }
        let kid = header.kid.ok_or_else(|| invalid("no key id".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&["https://accounts.google.com", "accounts.google.com"]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<GoogleClaims>(id_token, &key, &validation)
            .map_err(|error| invalid(error.to_string()))?
            .claims;
        let email = claims.email.ok_or_else(|| invalid("no email claim".into()))?;
        if !claims.email_verified {
            return Err(GoogleError::EmailNotVerified);
        }
        Ok(GoogleIdentity { subject: claims.sub, email, name: claims.name })
    }
}
