//! Access tokens: RS256 JWTs with a `kid`. RS256 rather than EdDSA so that an API Gateway JWT
//! authorizer (which accepts RSA keys only) can verify them from our JWKS. The algorithm is pinned:
//! a token that names any other (`none`, `HS256` signed with the public key, ...) is rejected.

use std::collections::HashMap;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// Access tokens live 15 minutes.
pub const ACCESS_TOKEN_SECONDS: i64 = 15 * 60;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key set is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("key {kid}: {reason}")]
    BadKey { kid: String, reason: String },
    #[error("the active key {0} is not in the key set")]
    NoActiveKey(String),
}

/// The stored form of the signing keys (the JWT secret in Secrets Manager). Old keys stay listed
/// after a rotation so tokens they signed verify until they expire.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeySetSecret {
    pub active_kid: String,
    pub keys: Vec<StoredKey>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    /// PKCS#8 PEM of an RSA private key (2048 bits or more).
    pub private_key_pem: String,
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    /// The session (refresh-token family) the token was issued for.
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

struct VerifyingKey {
    decoding: DecodingKey,
    modulus_b64: String,
    exponent_b64: String,
}

impl VerifyingKey {
    fn from_components(modulus: &[u8], exponent: &[u8]) -> Self {
        VerifyingKey {
            decoding: DecodingKey::from_rsa_raw_components(modulus, exponent),
            modulus_b64: URL_SAFE_NO_PAD.encode(modulus),
            exponent_b64: URL_SAFE_NO_PAD.encode(exponent),
        }
    }
}

/// The private key that signs access tokens: api-auth's alone.
pub struct JwtSigner {
    active_kid: String,
    signing: EncodingKey,
    issuer: String,
    audience: String,
    /// The key refresh tokens are derived with (`opaque::next_refresh_token`), itself derived from
    /// the active private key: a secret of api-auth's alone, with no secret of its own to manage.
    refresh_key: [u8; 32],
}

impl JwtSigner {
    /// The active key of a private key set (the JWT secret).
    pub fn from_secret_json(json: &str, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let secret: KeySetSecret = serde_json::from_str(json)?;
        let active = secret
            .keys
            .iter()
            .find(|key| key.kid == secret.active_kid)
            .ok_or_else(|| KeyError::NoActiveKey(secret.active_kid.clone()))?;
        let signing = EncodingKey::from_rsa_pem(active.private_key_pem.as_bytes())
            .map_err(|error| KeyError::BadKey { kid: active.kid.clone(), reason: error.to_string() })?;
        let refresh_key: [u8; 32] = sha2::Sha256::new()
            .chain_update(b"flowday refresh-token successors\0")
            .chain_update(active.private_key_pem.as_bytes())
            .finalize()
            .into();
        Ok(JwtSigner {
            active_kid: secret.active_kid,
            signing,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            refresh_key,
        })
    }

    /// The refresh token that replaces `presented` (see `opaque::next_refresh_token`).
    pub fn next_refresh_token(&self, presented: &str, user_id: &str, session_id: &str) -> String {
        super::opaque::next_refresh_token(&self.refresh_key, presented, user_id, session_id)
    }

    /// The id of the key it signs with.
    pub fn kid(&self) -> &str {
        &self.active_kid
    }

    /// Signs an access token for a user's session; returns the token and its lifetime in seconds.
    pub fn issue(&self, user_id: &str, session_id: &str, now: i64) -> (String, i64) {
        let claims = AccessClaims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + ACCESS_TOKEN_SECONDS,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.active_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.signing)
            .expect("RS256 signing with a key that loaded cannot fail");
        (token, ACCESS_TOKEN_SECONDS)
    }
}

/// The public keys that verify access tokens, loaded once per cold start. Every API function has
/// them; only api-auth also has the private keys (`JwtSigner`).
pub struct JwtKeys {
    verifying: HashMap<String, VerifyingKey>,
    validation: Validation,
}

/// One public key of a JWKS document (`GET /.well-known/jwks.json`, the public-keys secret).
#[derive(Debug, Deserialize)]
struct PublicJwk {
    kid: String,
    kty: String,
    n: String,
    e: String,
}

#[derive(Debug, Deserialize)]
struct PublicJwks {
    keys: Vec<PublicJwk>,
}

impl JwtKeys {
    /// The public half of a private key set (tests, and api-auth's check that both secrets agree).
    pub fn from_secret_json(json: &str, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let secret: KeySetSecret = serde_json::from_str(json)?;
        if !secret.keys.iter().any(|key| key.kid == secret.active_kid) {
            return Err(KeyError::NoActiveKey(secret.active_kid.clone()));
        }
        let mut verifying = HashMap::new();
        for key in &secret.keys {
            let bad = |reason: String| KeyError::BadKey { kid: key.kid.clone(), reason };
            let der = pem_to_der(&key.private_key_pem).ok_or_else(|| bad("not a PEM private key".into()))?;
            let pair = KeyPair::from_pkcs8(&der).map_err(|error| bad(error.to_string()))?;
            let public = pair.public_key();
            let modulus = public.modulus().big_endian_without_leading_zero().to_vec();
            let exponent = public.exponent().big_endian_without_leading_zero().to_vec();
            verifying.insert(key.kid.clone(), VerifyingKey::from_components(&modulus, &exponent));
        }
        Ok(Self::with(verifying, issuer, audience))
    }

    /// The public keys of a JWKS document: what every function but api-auth reads.
    pub fn from_jwks_json(json: &str, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let jwks: PublicJwks = serde_json::from_str(json)?;
        let mut verifying = HashMap::new();
        for key in jwks.keys {
            let bad = |reason: &str| KeyError::BadKey { kid: key.kid.clone(), reason: reason.into() };
            if key.kty != "RSA" {
                return Err(bad("not an RSA key"));
            }
            let modulus = URL_SAFE_NO_PAD.decode(&key.n).map_err(|_| bad("n is not base64url"))?;
            let exponent = URL_SAFE_NO_PAD.decode(&key.e).map_err(|_| bad("e is not base64url"))?;
            verifying.insert(key.kid.clone(), VerifyingKey::from_components(&modulus, &exponent));
        }
        Ok(Self::with(verifying, issuer, audience))
    }

    fn with(verifying: HashMap<String, VerifyingKey>, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.leeway = 30;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        JwtKeys { verifying, validation }
    }

    /// Whether a key of this id verifies.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.verifying.contains_key(kid)
    }

    /// Checks signature (by `kid`, RS256 only), issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 {
            return None;
        }
        let key = self.verifying.get(header.kid.as_deref()?)?;
        jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation).ok().map(|data| data.claims)
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        let mut kids: Vec<&String> = self.verifying.keys().collect();
        kids.sort();
        let keys: Vec<serde_json::Value> = kids
            .into_iter()
            .map(|kid| {
                let key = &self.verifying[kid];
                serde_json::json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": key.modulus_b64, "e": key.exponent_b64,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// A new RSA-2048 private key as PKCS#8 PEM (dev secrets, key rotation, test fakes).
pub fn generate_private_key_pem() -> String {
    let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
    let der = pair.as_der().expect("PKCS#8 encoding");
    der_to_pem(der.as_ref(), "PRIVATE KEY")
}

/// A key set with one fresh key, as stored in the JWT secret.
pub fn generate_key_set_json(kid: &str) -> String {
    let secret = KeySetSecret {
        active_kid: kid.to_string(),
        keys: vec![StoredKey { kid: kid.to_string(), private_key_pem: generate_private_key_pem() }],
    };
    serde_json::to_string(&secret).expect("serialisable")
}

fn der_to_pem(der: &[u8], label: &str) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).map(str::trim).collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::EncodingKey;

    /// A signer and the public keys of one fresh key set.
    fn keys(kid: &str) -> (JwtSigner, JwtKeys) {
        let set = generate_key_set_json(kid);
        (
            JwtSigner::from_secret_json(&set, "flowday", "flowday-app").unwrap(),
            JwtKeys::from_secret_json(&set, "flowday", "flowday-app").unwrap(),
        )
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn issued_token_verifies_and_carries_the_session() {
        let (signer, keys) = keys("k1");
        let (token, lifetime) = signer.issue("user-1", "session-1", now());
        assert_eq!(lifetime, 900);
        let claims = keys.verify(&token).expect("valid");
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("user-1", "session-1"));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn expired_token_and_token_of_another_key_are_rejected() {
        let (signer_a, keys_a) = keys("k1");
        let (expired, _) = signer_a.issue("u", "s", now() - 3600);
        assert!(keys_a.verify(&expired).is_none());
        let (signer_b, _) = keys("k1");
        let (foreign, _) = signer_b.issue("u", "s", now());
        assert!(keys_a.verify(&foreign).is_none(), "same kid, other key");
    }

    #[test]
    fn alg_none_and_hmac_with_the_public_key_are_rejected() {
        let (_, keys) = keys("k1");
        let claims = serde_json::json!({"sub": "u", "sid": "s", "iss": "flowday", "aud": "flowday-app",
            "iat": now(), "exp": now() + 600});
        let encode = |header: &str| URL_SAFE_NO_PAD.encode(header);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let none = format!("{}.{}.", encode(r#"{"alg":"none","kid":"k1"}"#), payload);
        assert!(keys.verify(&none).is_none());

        let public_jwk = keys.jwks()["keys"][0].to_string();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let hmac = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(public_jwk.as_bytes())).unwrap();
        assert!(keys.verify(&hmac).is_none());
    }

    #[test]
    fn the_public_jwks_verifies_what_the_private_set_signs() {
        let (signer, keys) = keys("k1");
        let public = JwtKeys::from_jwks_json(&keys.jwks().to_string(), "flowday", "flowday-app").unwrap();
        let (token, _) = signer.issue("u", "s", now());
        assert_eq!(public.verify(&token).unwrap().sub, "u");
        assert!(public.has_kid("k1") && !public.has_kid("k2"));
    }

    #[test]
    fn wrong_audience_is_rejected() {
        let (signer, keys) = keys("k1");
        let other = JwtKeys::from_secret_json(
            &serde_json::to_string(&KeySetSecret { active_kid: "k1".into(), keys: vec![] }).unwrap(),
            "x",
            "y",
        );
        assert!(matches!(other, Err(KeyError::NoActiveKey(_))));
        let (token, _) = signer.issue("u", "s", now());
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["aud"] = "someone-else".into();
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert!(keys.verify(&parts.join(".")).is_none(), "tampered payload");
    }
}
