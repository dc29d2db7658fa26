//! Password change, password reset by email, email verification.

use flowday_tests::{PASSWORD, TestStack, unique_email};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Lea").await;
    let email = signup["user"]["email"].as_str().unwrap();
    let other = stack.login(email, PASSWORD).await.body;
    let token = signup["access_token"].as_str();

    let wrong = stack
        .call(
            Method::POST,
            "/v1/auth/password",
            token,
            Some(json!({"current_password": "not it at all", "new_password": "a brand new secret"})),
        )
        .await;
    wrong.assert_problem(StatusCode::FORBIDDEN, "wrong_password");
    let weak = stack
        .call(
            Method::POST,
            "/v1/auth/password",
            token,
            Some(json!({"current_password": PASSWORD, "new_password": "qwertyuiop"})),
        )
        .await;
    weak.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(weak.error_fields(), ["new_password"]);

    let changed = stack
        .call(
            Method::POST,
            "/v1/auth/password",
            token,
            Some(json!({"current_password": PASSWORD, "new_password": "a brand new secret"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    assert_eq!(stack.login(email, PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stack.login(email, "a brand new secret").await.status, StatusCode::OK);
    let other_refresh = stack.refresh(&other["refresh_token"]).await;
    other_refresh.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    let own_refresh = stack.refresh(&signup["refresh_token"]).await;
    assert_eq!(own_refresh.status, StatusCode::OK, "the session that changed it stays");
}

#[tokio::test]
async fn password_reset_by_email_works_once_and_ends_all_sessions() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Max").await;
    let email = signup["user"]["email"].as_str().unwrap();

    let request =
        stack.call(Method::POST, "/v1/auth/password-reset", None, Some(json!({"email": email.to_uppercase()}))).await;
    assert_eq!(request.status, StatusCode::ACCEPTED);
    assert_eq!(stack.run_notification_worker().await, 1, "the reset email is queued");
    let emails = stack.emails_to(email).await;
    let reset = emails.iter().find(|mail| mail.subject.contains("Reset")).expect("a reset email");
    assert!(reset.source.contains("no-reply@flowday.example"));
    let token = reset.token();

    let confirm = |password: &'static str| {
        stack.call(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "new_password": password})),
        )
    };
    assert_eq!(confirm("my fresh passphrase").await.status, StatusCode::NO_CONTENT);
    assert_eq!(stack.login(email, "my fresh passphrase").await.status, StatusCode::OK);
    assert_eq!(stack.login(email, PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let old_session = stack.refresh(&signup["refresh_token"]).await;
    old_session.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");

    confirm("yet another passphrase").await.assert_problem(StatusCode::BAD_REQUEST, "invalid_token");
    assert_eq!(
        stack.login(email, "my fresh passphrase").await.status,
        StatusCode::OK,
        "the second use changed nothing"
    );
}

#[tokio::test]
async fn password_reset_answers_the_same_for_unknown_emails_and_sends_nothing() {
    let stack = TestStack::new().await;
    let nobody = unique_email("nobody");
    let response = stack.call(Method::POST, "/v1/auth/password-reset", None, Some(json!({"email": nobody}))).await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
    let junk = stack.call(Method::POST, "/v1/auth/password-reset", None, Some(json!({"email": "not-an-email"}))).await;
    assert_eq!(junk.status, StatusCode::ACCEPTED);
    assert_eq!(response.body, junk.body);
    // Queued like a known address's, and dropped by the worker: no account, no email.
    assert_eq!(stack.run_notification_worker().await, 2);
    assert!(stack.emails_to(&nobody).await.is_empty());
    let forged = stack
        .call(Method::POST, "/v1/auth/password-reset/confirm", None, Some(json!({"token": format!("{}.{}", ulid::Ulid::new(), "x".repeat(43)), "new_password": "whatever it takes"})))
        .await;
    forged.assert_problem(StatusCode::BAD_REQUEST, "invalid_token");
}

#[tokio::test]
async fn email_verification_by_emailed_token() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Nia").await;
    let email = signup["user"]["email"].as_str().unwrap();
    let token = signup["access_token"].as_str();
    let welcome = stack.emails_to(email).await;
    let verification = welcome.iter().find(|mail| mail.subject.contains("Confirm")).expect("a verification email");

    let resend = stack.call(Method::POST, "/v1/auth/verify-email", token, None).await;
    assert_eq!(resend.status, StatusCode::ACCEPTED);
    stack.run_notification_worker().await;
    assert_eq!(stack.emails_to(email).await.len(), welcome.len() + 1);

    let confirm =
        stack.call(Method::POST, "/v1/auth/verify-email", None, Some(json!({"token": verification.token()}))).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert_eq!(stack.call(Method::GET, "/v1/me", token, None).await.body["email_verified"], true);
    let again =
        stack.call(Method::POST, "/v1/auth/verify-email", None, Some(json!({"token": verification.token()}))).await;
    again.assert_problem(StatusCode::BAD_REQUEST, "invalid_token");
    let anonymous = stack.call(Method::POST, "/v1/auth/verify-email", None, None).await;
    anonymous.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

/// A reset link that leaked (an old email, a shared mailbox) stops working once a newer one sets the password.
#[tokio::test]
async fn a_reset_ends_the_reset_links_sent_before_it() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Links").await;
    let email = signup["user"]["email"].as_str().unwrap();
    for _ in 0..2 {
        let request = stack.call(Method::POST, "/v1/auth/password-reset", None, Some(json!({"email": email}))).await;
        assert_eq!(request.status, StatusCode::ACCEPTED);
    }
    assert_eq!(stack.run_notification_worker().await, 2);
    let links: Vec<String> = stack
        .emails_to(email)
        .await
        .iter()
        .filter(|mail| mail.subject.contains("Reset"))
        .map(|mail| mail.token())
        .collect();
    assert_eq!(links.len(), 2);
    let confirm = |token: &str, password: &str| {
        let body = json!({"token": token, "new_password": password});
        stack.call(Method::POST, "/v1/auth/password-reset/confirm", None, Some(body))
    };
    assert_eq!(confirm(&links[1], "the newest link's password").await.status, StatusCode::NO_CONTENT);
    confirm(&links[0], "the older link's password").await.assert_problem(StatusCode::BAD_REQUEST, "invalid_token");
    assert_eq!(stack.login(email, "the newest link's password").await.status, StatusCode::OK);
}
