//! What Stripe sends to `POST /webhooks/stripe`: the `Stripe-Signature` check and the event
//! envelope. The signature is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{raw body}">`, with
//! one `v1` per signing secret while a secret is being rolled; any of ours matching any of them is
//! enough. The objects inside are read in the pinned API version's shapes (`stripe`).

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::settings::Env;
use crate::state::{InitError, SdkConfig};

/// How old a signed timestamp may be (Stripe's own libraries use 300 s): a captured request
/// replayed later is refused even though its signature is genuine.
pub const TOLERANCE_SECONDS: i64 = 300;

/// The endpoint's signing secrets (`whsec_...`). The secret's text holds one, or several separated
/// by whitespace or commas while one is rolled to the next.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<String>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecrets({} secrets)", self.0.len())
    }
}

impl WebhookSecrets {
    pub fn parse(text: &str) -> Result<Self, InitError> {
        let secrets: Vec<String> = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|part| !part.is_empty())
            .map(String::from)
            .collect();
        if secrets.is_empty() {
            return Err(InitError::Secret { id: "Stripe webhook secret".into(), reason: "it is empty".into() });
        }
        Ok(WebhookSecrets(secrets))
    }

    /// Read from Secrets Manager at cold start (`STRIPE_WEBHOOK_SECRET_ID`).
    pub async fn from_env(env: &Env, sdk: &SdkConfig) -> Result<Self, InitError> {
        let id = crate::settings::BillingSettings::webhook_secret_id(env)?;
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        Self::parse(&crate::state::read_secret(&client, &id).await?)
    }
}

/// Why a request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("the signed timestamp is more than 300 seconds away from now")]
    OutsideTolerance,
    #[error("no v1 signature matches the payload")]
    NoMatch,
}

/// Checks `header` (the Stripe-Signature value) over the raw `body` at `now` (unix seconds).
pub fn verify(secrets: &WebhookSecrets, header: Option<&str>, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.extend(decode_hex(value)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::OutsideTolerance);
    }
    for secret in &secrets.0 {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        // Each candidate compared in constant time; which one matched is not observable either.
        let matched = signatures.iter().fold(subtle::Choice::from(0), |any, signature| {
            any | subtle::ConstantTimeEq::ct_eq(&expected[..], &signature[..])
        });
        if bool::from(matched) {
            return Ok(());
        }
    }
    Err(SignatureError::NoMatch)
}

/// `t=..,v1=..` for `body` at `timestamp`: what Stripe sends, for tests and the local stand-in.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok()).collect()
}

/// A Stripe event: its id (what we deduplicate on), type, creation time and object.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds.
    pub created: i64,
    pub data: EventData,
    #[serde(default)]
    pub livemode: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

impl Event {
    /// The event's object read as `T` (a subscription, an invoice, ...); None if it is not one.
    pub fn object<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.data.object.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000;

    fn secrets() -> WebhookSecrets {
        WebhookSecrets::parse("whsec_new whsec_old").unwrap()
    }

    #[test]
    fn a_signature_of_any_current_secret_passes() {
        let body = br#"{"id":"evt_1"}"#;
        for secret in ["whsec_new", "whsec_old"] {
            let header = signature_header(secret, NOW, body);
            assert_eq!(verify(&secrets(), Some(&header), body, NOW + 10), Ok(()));
        }
        // Stripe sends one v1 per secret while rolling: one matching among others is enough.
        let other = signature_header("whsec_unknown", NOW, body);
        let ours = signature_header("whsec_old", NOW, body);
        let both = format!("{other},{}", ours.split_once(',').unwrap().1);
        assert_eq!(verify(&secrets(), Some(&both), body, NOW), Ok(()));
    }

    #[test]
    fn forged_stale_and_altered_requests_are_refused() {
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header("whsec_new", NOW, body);
        assert_eq!(verify(&secrets(), None, body, NOW), Err(SignatureError::Missing));
        assert_eq!(verify(&secrets(), Some("v1=abc"), body, NOW), Err(SignatureError::Malformed));
        assert_eq!(verify(&secrets(), Some(&format!("t={NOW}")), body, NOW), Err(SignatureError::Malformed));
        assert_eq!(verify(&secrets(), Some(&header), body, NOW + 301), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify(&secrets(), Some(&header), br#"{"id":"evt_2"}"#, NOW), Err(SignatureError::NoMatch));
        let forged = signature_header("whsec_guess", NOW, body);
        assert_eq!(verify(&secrets(), Some(&forged), body, NOW), Err(SignatureError::NoMatch));
        // The timestamp is part of what is signed: moving it breaks the signature.
        let moved = header.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);
        assert_eq!(verify(&secrets(), Some(&moved), body, NOW), Err(SignatureError::NoMatch));
    }
}
