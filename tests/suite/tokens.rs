//! Access tokens, refresh rotation, reuse detection, logout and the JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flowday_tests::{PASSWORD, TestStack};
use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use shared::auth::JwtSigner;
use shared::auth::jwt::generate_key_set_json;

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Finn").await;

    let first = stack.refresh(&signup["refresh_token"]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_ne!(first.body["refresh_token"], signup["refresh_token"]);
    assert_eq!(first.body["user"]["id"], signup["user"]["id"]);
    let second = stack.refresh(&first.body["refresh_token"]).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);

    // The first token, two rotations back, is no retry: a stolen token's replay.
    let reused = stack.refresh(&signup["refresh_token"]).await;
    reused.assert_problem(StatusCode::UNAUTHORIZED, "refresh_token_reused");

    // The newest token of the family stopped working too.
    let after = stack.refresh(&second.body["refresh_token"]).await;
    after.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
}

#[tokio::test]
async fn a_refresh_token_of_another_family_keeps_working_after_a_reuse() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Gus").await;
    let email = signup["user"]["email"].as_str().unwrap();
    let other = stack.login(email, PASSWORD).await;
    let _ = stack.refresh(&signup["refresh_token"]).await;
    let _ = stack.refresh(&signup["refresh_token"]).await;
    assert_eq!(stack.refresh(&other.body["refresh_token"]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn garbage_and_missing_refresh_tokens_are_rejected() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Hal").await;
    let token = signup["refresh_token"].as_str().unwrap();
    let forged = format!("{}XYZ", &token[..token.len() - 3]);
    stack.refresh(&json!(forged)).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    stack.refresh(&json!("nonsense")).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    let missing = stack.call(Method::POST, "/v1/auth/refresh", None, Some(json!({}))).await;
    missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(missing.error_fields(), ["refresh_token"]);
    // The forged attempt did not burn the real token.
    assert_eq!(stack.refresh(&signup["refresh_token"]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_one_session_or_all() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Ida").await;
    let email = signup["user"]["email"].as_str().unwrap();
    let login = |_: u8| stack.login(email, PASSWORD);
    let phone = login(1).await.body;
    let laptop = login(2).await.body;

    let out = stack.call(Method::POST, "/v1/auth/logout", phone["access_token"].as_str(), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    stack.refresh(&phone["refresh_token"]).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    assert_eq!(stack.refresh(&laptop["refresh_token"]).await.status, StatusCode::OK, "other sessions live on");

    let sessions = stack.call(Method::GET, "/v1/me/sessions", signup["access_token"].as_str(), None).await;
    assert_eq!(sessions.body["items"].as_array().unwrap().len(), 2, "signup and laptop remain");

    let all =
        stack.call(Method::POST, "/v1/auth/logout", signup["access_token"].as_str(), Some(json!({"all": true}))).await;
    assert_eq!(all.status, StatusCode::NO_CONTENT);
    stack.refresh(&signup["refresh_token"]).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    // Its access token ended with it (tests/suite/takeover.rs mounts the other ways to end one).
    let sessions = stack.call(Method::GET, "/v1/me/sessions", signup["access_token"].as_str(), None).await;
    sessions.assert_problem(StatusCode::UNAUTHORIZED, "session_ended");
}

#[tokio::test]
async fn jwks_verifies_issued_tokens() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Jay").await;
    let jwks = stack.call(Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!(jwks.status, StatusCode::OK);
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.body.clone()).unwrap();
    let token = signup["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("the token's kid is published");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["flowday-app"]);
    let claims =
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims;
    assert_eq!(claims["sub"], signup["user"]["id"]);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn forged_tokens_are_401() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Kim").await;
    let real = signup["access_token"].as_str().unwrap();
    let claims = claims_of(real);
    let encode = |text: String| URL_SAFE_NO_PAD.encode(text);

    let alg_none = format!(
        "{}.{}.",
        encode(json!({"alg": "none", "typ": "JWT", "kid": "local-1"}).to_string()),
        encode(claims.to_string())
    );
    let public_jwk = stack.call(Method::GET, "/.well-known/jwks.json", None, None).await.body["keys"][0].to_string();
    let mut hmac_header = Header::new(Algorithm::HS256);
    hmac_header.kid = Some("local-1".into());
    let hmac = jsonwebtoken::encode(&hmac_header, &claims, &EncodingKey::from_secret(public_jwk.as_bytes())).unwrap();
    let other_keys =
        JwtSigner::from_secret_json(&generate_key_set_json("local-1"), "https://api.flowday.example", "flowday-app")
            .unwrap();
    let (other_key, _) = other_keys.issue(
        claims["sub"].as_str().unwrap(),
        claims["sid"].as_str().unwrap(),
        chrono::Utc::now().timestamp(),
    );
    let real_keys_expired = {
        let secret = aws_sdk_secretsmanager::Client::new(&stack.stack.sdk)
            .get_secret_value()
            .secret_id(stack.stack.physical_id("JwtKeysSecret").unwrap())
            .send()
            .await
            .unwrap();
        let keys =
            JwtSigner::from_secret_json(secret.secret_string().unwrap(), "https://api.flowday.example", "flowday-app")
                .unwrap();
        let an_hour_ago = chrono::Utc::now().timestamp() - 3600;
        keys.issue(claims["sub"].as_str().unwrap(), claims["sid"].as_str().unwrap(), an_hour_ago).0
    };
    for (name, token) in [
        ("alg none", alg_none),
        ("HMAC with the public key", hmac),
        ("another key", other_key),
        ("expired, signed by our key", real_keys_expired),
        ("junk", "abc.def.ghi".into()),
    ] {
        let response = stack.call(Method::GET, "/v1/me", Some(&token), None).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{name}");
        response.assert_problem(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let none = stack.call(Method::GET, "/v1/me", None, None).await;
    none.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    let basic = stack.call_with(Method::GET, "/v1/me", None, None, &[("authorization", "Basic YTpi")]).await;
    basic.assert_problem(StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_give_one_new_pair() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Lou").await;
    // Two tabs (or a retry after a lost answer) refresh with one token at once.
    let attempts = (0..4).map(|_| stack.refresh(&signup["refresh_token"]));
    let results = futures::future::join_all(attempts).await;
    let statuses: Vec<StatusCode> = results.iter().map(|response| response.status).collect();
    assert!(statuses.iter().all(|status| *status == StatusCode::OK), "{statuses:?}");
    let successor = &results[0].body["refresh_token"];
    assert!(results.iter().all(|response| &response.body["refresh_token"] == successor), "one new refresh token");
    // The session lives on: the successor refreshes.
    assert_eq!(stack.refresh(successor).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_retried_refresh_gets_the_same_pair_but_an_older_token_ends_the_session() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Retry").await;
    let first = stack.refresh(&signup["refresh_token"]).await.body;
    let retried = stack.refresh(&signup["refresh_token"]).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["refresh_token"], first["refresh_token"], "the answer that was lost, again");
    let second = stack.refresh(&first["refresh_token"]).await.body;
    // Two rotations back is no retry: reuse, and the whole session ends.
    stack.refresh(&signup["refresh_token"]).await.assert_problem(StatusCode::UNAUTHORIZED, "refresh_token_reused");
    stack.refresh(&second["refresh_token"]).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
}

#[tokio::test]
async fn the_token_just_replaced_is_reuse_once_the_grace_has_passed() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Late").await;
    let first = stack.refresh(&signup["refresh_token"]).await.body;
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    stack.refresh(&signup["refresh_token"]).await.assert_problem(StatusCode::UNAUTHORIZED, "refresh_token_reused");
    stack.refresh(&first["refresh_token"]).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
}

/// A flaw in any other function must not leak the signing keys: only api-auth is given the private
/// key set (its environment and its IAM policy); every function verifies with the public keys.
#[test]
fn only_api_auth_can_read_the_private_signing_keys() {
    let template = flowday_tests::template();
    let mut readers = Vec::new();
    for (id, function) in template.resources_of_type("AWS::Serverless::Function") {
        let properties = serde_yaml::to_string(&function["Properties"]).unwrap();
        let private = properties.replace("JwtPublicKeysSecret", "");
        if private.contains("JwtKeysSecret") || private.contains("JWT_KEYS_SECRET_ID") {
            readers.push(id);
        }
    }
    assert_eq!(readers, ["ApiAuthFunction"]);
    let text = std::fs::read_to_string(flowday_local::workspace_root().join("template.yaml")).unwrap();
    let root: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let globals = serde_yaml::to_string(&root["Globals"]).unwrap();
    assert!(globals.contains("JWT_PUBLIC_KEYS_SECRET_ID") && !globals.contains("JWT_KEYS_SECRET_ID"));
}
