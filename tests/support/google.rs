//! A fake Google: serves a JWKS in Google's format on a local wiremock server and signs ID tokens
//! with the matching RSA key, as accounts.google.com would.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use shared::auth::JwtKeys;
use shared::auth::jwt::{KeySetSecret, StoredKey, generate_private_key_pem};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const CLIENT_ID: &str = "flowday-test.apps.googleusercontent.com";
pub const JWKS_PATH: &str = "/oauth2/v3/certs";

pub struct FakeGoogle {
    pub server: MockServer,
    private_key_pem: String,
    pub kid: String,
}

impl FakeGoogle {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let kid = "google-test-key".to_string();
        let private_key_pem = generate_private_key_pem();
        let secret = KeySetSecret {
            active_kid: kid.clone(),
            keys: vec![StoredKey { kid: kid.clone(), private_key_pem: private_key_pem.clone() }],
        };
        let keys = JwtKeys::from_secret_json(&serde_json::to_string(&secret).unwrap(), "unused", "unused").unwrap();
        Mock::given(method("GET"))
            .and(path(JWKS_PATH))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("cache-control", "public, max-age=22000")
                    .set_body_json(keys.jwks()),
            )
            .mount(&server)
            .await;
        FakeGoogle { server, private_key_pem, kid }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.server.uri())
    }

    /// Claims of a valid ID token for `email`, to adjust before signing.
    pub fn claims(&self, subject: &str, email: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": "https://accounts.google.com", "aud": CLIENT_ID, "sub": subject, "email": email,
            "email_verified": true, "name": "Grace Hopper", "iat": now, "exp": now + 3600,
        })
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_kid(claims, &self.kid)
    }

    pub fn sign_with_kid(&self, claims: &Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        let key = EncodingKey::from_rsa_pem(self.private_key_pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}
