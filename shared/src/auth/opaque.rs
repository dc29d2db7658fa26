//! Opaque tokens (refresh, password reset, email verification): `<user id>.<random secret>` or
//! `<user id>.<session id>.<secret>`. The user id routes the lookup to the owner's partition; only the
//! SHA-256 of the whole token is stored, so a leaked table does not leak usable tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 256 random bits, URL-safe.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    let digest = Sha256::digest(data.as_ref());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A token for one user: `<user id>.<secret>`.
pub fn user_token(user_id: &str) -> String {
    format!("{user_id}.{}", new_secret())
}

/// The user id of a `user_token`, if the token has its shape.
pub fn user_of_token(token: &str) -> Option<&str> {
    let (user_id, secret) = token.split_once('.')?;
    (is_ulid(user_id) && secret.len() >= 40 && !secret.contains('.')).then_some(user_id)
}

/// A refresh token: `<user id>.<session id>.<secret>`.
pub fn refresh_token(user_id: &str, session_id: &str) -> String {
    format!("{user_id}.{session_id}.{}", new_secret())
}

/// The refresh token that replaces `presented`: its secret is an HMAC of the presented token under a
/// server key, so the same token presented again (a retried request, a second tab) gets the same
/// successor, and nobody without the key can compute it.
pub fn next_refresh_token(key: &[u8], presented: &str, user_id: &str, session_id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(presented.as_bytes());
    format!("{user_id}.{session_id}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// `(user id, session id)` of a refresh token, if it has the shape.
pub fn parse_refresh_token(token: &str) -> Option<(&str, &str)> {
    let mut parts = token.split('.');
    let (user_id, session_id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let valid = parts.next().is_none() && is_ulid(user_id) && is_ulid(session_id) && secret.len() >= 40;
    valid.then_some((user_id, session_id))
}

fn is_ulid(value: &str) -> bool {
    ulid::Ulid::from_string(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_their_ids_and_reject_garbage() {
        let user = ulid::Ulid::new().to_string();
        let session = ulid::Ulid::new().to_string();
        let refresh = refresh_token(&user, &session);
        assert_eq!(parse_refresh_token(&refresh), Some((user.as_str(), session.as_str())));
        assert_eq!(user_of_token(&user_token(&user)), Some(user.as_str()));
        assert_eq!(parse_refresh_token("a.b.c"), None);
        assert_eq!(user_of_token("nonsense"), None);
        assert_ne!(new_secret(), new_secret());
        assert_eq!(sha256_hex("abc").len(), 64);
    }
}
