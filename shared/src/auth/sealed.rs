//! Secrets we must keep but never show: the OAuth tokens of calendar connections. Each is sealed
//! with AES-256-GCM under a key from Secrets Manager, with what it belongs to (user and provider)
//! as associated data, so a sealed token copied onto another user's or provider's record does not
//! open. The form is `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`; the version leaves room to
//! change the key's derivation later.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const VERSION: &str = "v1";

/// The sealing key. Built once per cold start from the secret's text.
pub struct SealingKey(LessSafeKey);

/// A sealed value did not open: another key, other associated data, or altered bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the sealed value does not open with this key for this owner")]
pub struct Unsealable;

impl SealingKey {
    /// The key from the secret's text (any string with enough entropy: the stack generates 32
    /// random characters), derived with SHA-256 under a label of its own use.
    pub fn from_secret(secret: &str) -> SealingKey {
        let derived =
            Sha256::new().chain_update(b"flowday calendar tokens v1\0").chain_update(secret.as_bytes()).finalize();
        let key = UnboundKey::new(&AES_256_GCM, &derived).expect("SHA-256 gives the 32 bytes AES-256 takes");
        SealingKey(LessSafeKey::new(key))
    }

    /// Seals `plain` for `owner` (e.g. `<user id>|google`) with a fresh random nonce.
    pub fn seal(&self, plain: &str, owner: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let mut sealed = plain.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(owner.as_bytes()), &mut sealed)
            .expect("AES-GCM seals any message shorter than 64 GB");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens what `seal` gave for the same `owner`.
    pub fn open(&self, sealed: &str, owner: &str) -> Result<String, Unsealable> {
        let encoded = sealed.strip_prefix("v1.").ok_or(Unsealable)?;
        let mut bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| Unsealable)?;
        if bytes.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let mut body = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| Unsealable)?;
        let plain = self.0.open_in_place(nonce, Aad::from(owner.as_bytes()), &mut body).map_err(|_| Unsealable)?;
        String::from_utf8(plain.to_vec()).map_err(|_| Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_opens_only_with_its_key_and_owner() {
        let key = SealingKey::from_secret("a secret of thirty-two characters");
        let sealed = key.seal("1//refresh-token", "01USER|google");
        assert!(sealed.starts_with("v1.") && !sealed.contains("refresh-token"));
        assert_eq!(key.open(&sealed, "01USER|google").as_deref(), Ok("1//refresh-token"));
        assert_eq!(key.open(&sealed, "01OTHER|google"), Err(Unsealable), "another user's record");
        assert_eq!(key.open(&sealed, "01USER|outlook"), Err(Unsealable), "another provider");
        let other_key = SealingKey::from_secret("another secret");
        assert_eq!(other_key.open(&sealed, "01USER|google"), Err(Unsealable));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.open(&String::from_utf8(tampered).unwrap(), "01USER|google"), Err(Unsealable));
        assert_ne!(key.seal("same", "o"), key.seal("same", "o"), "a fresh nonce each time");
        assert_eq!(key.open("v1.", "o"), Err(Unsealable));
        assert_eq!(key.open("plain", "o"), Err(Unsealable));
    }
}
