//! Attacks on accounts, each mounted against the local stack and shown refused: an account
//! squatted before its owner signs in with Google, a verified account linked behind its owner's
//! back, sessions piled up to block recovery, parallel password guesses, and access tokens of
//! ended sessions.

use flowday_tests::google::FakeGoogle;
use flowday_tests::{PASSWORD, TestStack, unique_email};
use futures::future::join_all;
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn google_sign_in(stack: &TestStack, id_token: &str) -> flowday_tests::TestResponse {
    stack.call(Method::POST, "/v1/auth/google", None, Some(json!({"id_token": id_token}))).await
}

fn access(auth: &Value) -> Option<&str> {
    auth["access_token"].as_str()
}

#[tokio::test]
async fn google_sign_in_takes_a_squatted_account_back_from_the_squatter() {
    let google = FakeGoogle::start().await;
    let stack = TestStack::with_google(&google).await;
    // The attacker signs up with the victim's address and a password of theirs.
    let squatter = stack.signup("Victim").await;
    let email = squatter["user"]["email"].as_str().unwrap();
    let squatter_login = stack.login(email, PASSWORD).await.body;

    let victim = google_sign_in(&stack, &google.sign(&google.claims("victim-sub", email))).await;
    assert_eq!(victim.status, StatusCode::OK, "{}", victim.body);
    assert_eq!(victim.body["user"]["id"], squatter["user"]["id"], "the victim owns the account now");
    let me = stack.call(Method::GET, "/v1/me", access(&victim.body), None).await.body;
    assert_eq!((me["email_verified"].clone(), me["has_password"].clone()), (json!(true), json!(false)));

    // Nothing the squatter held works any more.
    stack.login(email, PASSWORD).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    for held in [&squatter, &squatter_login] {
        stack.refresh(&held["refresh_token"]).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
        let sessions = stack.call(Method::GET, "/v1/me/sessions", access(held), None).await;
        sessions.assert_problem(StatusCode::UNAUTHORIZED, "session_ended");
        let tasks = stack.call(Method::GET, "/v1/tasks", access(held), None).await;
        tasks.assert_problem(StatusCode::UNAUTHORIZED, "session_ended");
    }
}

#[tokio::test]
async fn a_verified_account_links_google_only_from_its_own_session() {
    let google = FakeGoogle::start().await;
    let stack = TestStack::with_google(&google).await;
    let owner = stack.signup("Owner").await;
    let email = owner["user"]["email"].as_str().unwrap();
    stack.verify_email(email).await;
    let identity = google.sign(&google.claims("owner-sub", email));

    // Linking needs a token; a forged one (signed by another key) is refused.
    let missing = stack.call(Method::POST, "/v1/me/identities/google", access(&owner), Some(json!({}))).await;
    missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(missing.error_fields(), ["id_token"]);
    let forged = FakeGoogle::start().await.sign(&google.claims("owner-sub", email));
    let refused =
        stack.call(Method::POST, "/v1/me/identities/google", access(&owner), Some(json!({"id_token": forged})));
    refused.await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_google_token");

    // Someone with a Google identity for the address (a recycled mailbox) cannot walk in.
    google_sign_in(&stack, &identity).await.assert_problem(StatusCode::CONFLICT, "account_link_required");
    assert_eq!(stack.login(email, PASSWORD).await.status, StatusCode::OK, "the owner's password still works");

    let link =
        stack.call(Method::POST, "/v1/me/identities/google", access(&owner), Some(json!({"id_token": identity})));
    let linked = link.await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
    assert_eq!(linked.body["google_linked"], true);
    let signed_in = google_sign_in(&stack, &identity).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.body["user"]["id"], owner["user"]["id"]);

    // One Google identity per account: another one for the same address is refused both ways.
    let other = google.sign(&google.claims("recycled-sub", email));
    google_sign_in(&stack, &other).await.assert_problem(StatusCode::CONFLICT, "account_link_required");
    let relink = stack.call(Method::POST, "/v1/me/identities/google", access(&owner), Some(json!({"id_token": other})));
    relink.await.assert_problem(StatusCode::CONFLICT, "google_already_linked");

    // An identity that belongs to another account is not taken from it.
    let stranger = stack.signup("Stranger").await;
    let steal =
        stack.call(Method::POST, "/v1/me/identities/google", access(&stranger), Some(json!({"id_token": identity})));
    steal.await.assert_problem(StatusCode::CONFLICT, "google_taken");

    let unlinked = stack.call(Method::DELETE, "/v1/me/identities/google", access(&owner), None).await;
    assert_eq!(unlinked.status, StatusCode::OK, "{}", unlinked.body);
    assert_eq!(unlinked.body["google_linked"], false);
}

#[tokio::test]
async fn an_account_keeps_a_way_to_sign_in() {
    let google = FakeGoogle::start().await;
    let stack = TestStack::with_google(&google).await;
    let created = google_sign_in(&stack, &google.sign(&google.claims("only-sub", &unique_email("Solo")))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let unlink = stack.call(Method::DELETE, "/v1/me/identities/google", access(&created.body), None).await;
    unlink.assert_problem(StatusCode::CONFLICT, "last_sign_in_method");
    let me = stack.call(Method::GET, "/v1/me", access(&created.body), None).await;
    assert_eq!(me.body["google_linked"], true);
}

#[tokio::test]
async fn piled_up_sessions_never_block_recovery() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Piled").await;
    let email = signup["user"]["email"].as_str().unwrap().to_string();
    // A thief with the password opens session after session, more than the cap.
    let mut thief = Vec::new();
    for _ in 0..24 {
        let login = stack.login(&email, PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        thief.push(login.body);
    }
    let owner = thief.pop().unwrap();
    let listed = stack.call(Method::GET, "/v1/me/sessions", access(&owner), None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 20, "at most 20 live sessions");
    // The oldest ended when the cap was passed.
    stack.refresh(&signup["refresh_token"]).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");

    let change = json!({"current_password": PASSWORD, "new_password": "a brand new secret"});
    let changed = stack.call(Method::POST, "/v1/auth/password", access(&owner), Some(change)).await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    for held in thief.iter().rev().take(5) {
        stack.refresh(&held["refresh_token"]).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
        let tasks = stack.call(Method::GET, "/v1/tasks", access(held), None).await;
        tasks.assert_problem(StatusCode::UNAUTHORIZED, "session_ended");
    }
    assert_eq!(stack.call(Method::GET, "/v1/tasks", access(&owner), None).await.status, StatusCode::OK);
    let listed = stack.call(Method::GET, "/v1/me/sessions", access(&owner), None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "only the session that changed it");
}

#[tokio::test]
async fn parallel_guesses_get_five_password_checks_per_window() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Burst").await;
    let email = signup["user"]["email"].as_str().unwrap();
    let guesses = join_all((0..40).map(|guess| stack.login(email, format!("wrong guess {guess}")))).await;
    let checked = guesses.iter().filter(|answer| answer.status == StatusCode::UNAUTHORIZED).count();
    let locked = guesses.iter().filter(|answer| answer.status == StatusCode::LOCKED).count();
    assert!(checked <= 5, "{checked} passwords were checked");
    assert_eq!(checked + locked, 40, "every other guess was refused unchecked");
    stack.login(email, PASSWORD).await.assert_problem(StatusCode::LOCKED, "account_locked");
}

#[tokio::test]
async fn an_address_without_an_account_locks_like_one_with_it() {
    let stack = TestStack::new().await;
    let nobody = unique_email("Nobody");
    for _ in 0..5 {
        stack.login(&nobody, PASSWORD).await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let locked = stack.login(&nobody, PASSWORD).await;
    locked.assert_problem(StatusCode::LOCKED, "account_locked");
    assert!(locked.header("retry-after").is_some());
}

#[tokio::test]
async fn a_stolen_access_token_cannot_guess_the_password_either() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Guessed").await;
    let guess =
        |n: usize| json!({"current_password": format!("guess number {n}"), "new_password": "a brand new secret"});
    for n in 0..5 {
        let answer = stack.call(Method::POST, "/v1/auth/password", access(&signup), Some(guess(n))).await;
        answer.assert_problem(StatusCode::FORBIDDEN, "wrong_password");
    }
    let locked = stack.call(Method::POST, "/v1/auth/password", access(&signup), Some(guess(5))).await;
    locked.assert_problem(StatusCode::LOCKED, "account_locked");
    let email = signup["user"]["email"].as_str().unwrap();
    stack.login(email, PASSWORD).await.assert_problem(StatusCode::LOCKED, "account_locked");
}

#[tokio::test]
async fn an_ended_session_loses_its_access_token_at_once() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Ended").await;
    let email = signup["user"]["email"].as_str().unwrap();
    let laptop = stack.login(email, PASSWORD).await.body;
    let phone = stack.login(email, PASSWORD).await.body;
    assert_eq!(stack.call(Method::GET, "/v1/tasks", access(&laptop), None).await.status, StatusCode::OK);

    // One session ended from another.
    let laptop_id = claims_sid(access(&laptop).unwrap());
    let revoked = stack.call(Method::DELETE, &format!("/v1/me/sessions/{laptop_id}"), access(&phone), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    for path in ["/v1/tasks", "/v1/me/sessions", "/v1/me"] {
        let answer = stack.call(Method::GET, path, access(&laptop), None).await;
        answer.assert_problem(StatusCode::UNAUTHORIZED, "session_ended");
    }

    // Logout ends its own; logout-all ends every one.
    let logout = stack.call(Method::POST, "/v1/auth/logout", access(&phone), None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    stack
        .call(Method::GET, "/v1/tasks", access(&phone), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "session_ended");
    let all = stack.call(Method::POST, "/v1/auth/logout", access(&signup), Some(json!({"all": true}))).await;
    assert_eq!(all.status, StatusCode::NO_CONTENT);
    stack
        .call(Method::GET, "/v1/tasks", access(&signup), None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "session_ended");
}

/// The session id an access token carries.
fn claims_sid(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    let claims: Value = serde_json::from_slice(&bytes).expect("JSON claims");
    claims["sid"].as_str().expect("sid").to_string()
}
