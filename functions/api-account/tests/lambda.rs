//! The api-account binary, run as Lambda runs it, on every event of events/api-account.

use flowday_tests::{TestStack, event, invoke};

const BINARY: &str = env!("CARGO_BIN_EXE_api-account");

#[tokio::test]
async fn every_api_account_event_is_answered_by_the_lambda_binary() {
    let stack = TestStack::new().await;
    let user = stack.signup("Lambda").await;
    let token = user["access_token"].as_str().unwrap();
    let lambda = stack.lambda(BINARY, "api-account").await;
    let with_token = |name: &str, extra: &[(&str, &str)]| {
        let mut values = vec![("access_token", token)];
        values.extend_from_slice(extra);
        event("api-account", name, &values)
    };

    let me = invoke(&lambda, with_token("get-me", &[])).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["id"], user["user"]["id"]);
    assert_eq!(me.header("etag"), Some("\"1\""));

    let patched = invoke(&lambda, with_token("patch-me", &[])).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!((patched.body["name"].as_str(), patched.body["version"].as_u64()), (Some("Ada King"), Some(2)));
    let stale = invoke(&lambda, with_token("patch-me", &[])).await;
    assert_eq!((stale.status, stale.body["code"].as_str()), (412, Some("version_conflict")));

    // A second session (another device) to end from this one.
    let email = user["user"]["email"].as_str().unwrap();
    assert_eq!(stack.login(email, flowday_tests::PASSWORD).await.status, 200);
    let sessions = invoke(&lambda, with_token("list-sessions", &[])).await;
    assert_eq!(sessions.status, 200);
    let other = sessions.body["items"].as_array().unwrap().iter().find(|session| session["current"] == false);
    let session_id = other.expect("the other session")["id"].as_str().unwrap().to_string();
    let revoked = invoke(&lambda, with_token("revoke-session", &[("session_id", &session_id)])).await;
    assert_eq!(revoked.status, 204);
    let again = invoke(&lambda, with_token("revoke-session", &[("session_id", &session_id)])).await;
    assert_eq!((again.status, again.body["code"].as_str()), (404, Some("not_found")));
    let device = format!("lambda-device-{}", ulid::Ulid::new());
    let registered = invoke(&lambda, with_token("register-push-token", &[("device_token", &device)])).await;
    assert_eq!((registered.status, registered.body["platform"].as_str()), (201, Some("ios")), "{}", registered.body);
    let removed = invoke(&lambda, with_token("remove-push-token", &[("device_token", &device)])).await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    // Google is not configured on this stack: linking says so; there is nothing to unlink.
    let link = invoke(&lambda, with_token("link-google", &[("id_token", "not-a-google-token")])).await;
    assert_eq!((link.status, link.body["code"].as_str()), (503, Some("google_sign_in_disabled")), "{}", link.body);
    let unlink = invoke(&lambda, with_token("unlink-google", &[])).await;
    assert_eq!((unlink.status, unlink.body["code"].as_str()), (404, Some("not_found")), "{}", unlink.body);
    let activity = invoke(&lambda, with_token("list-activity", &[])).await;
    assert_eq!(activity.status, 200, "{}", activity.body);
    assert_eq!(activity.body["items"], serde_json::json!([]), "no task changed yet");
    lambda.stop().await;
}
