//! `flowday-local contract`: the contract test of `make test`. It serves every route on a local
//! stack of its own (as `make dev` does, on a free port), signs up one user, and runs
//! schemathesis (pinned in infra/requirements.txt) over docs/openapi.json with that user's token:
//! every operation, generated inputs valid and invalid, checked for no 5xx and for answers the
//! document describes. Bounded in time; stops everything it started.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::stripe_fake::{FakeStripe, LOCAL_PRICES, WebhookTarget};
use crate::{Emulator, LocalStack, Template, gateway, workspace_root};

/// The checks every answer must pass.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

pub async fn run(max_seconds: u64) -> Result<(), String> {
    let mut emulator = Emulator::start(0).map_err(|error| error.to_string())?;
    let outcome = test_against(&emulator.endpoint(), max_seconds).await;
    emulator.stop();
    outcome
}

async fn test_against(endpoint: &str, max_seconds: u64) -> Result<(), String> {
    let template = Template::load(&workspace_root().join("template.yaml")).map_err(|error| error.to_string())?;
    // The tester sends thousands of requests a minute from one address: budgets it never reaches.
    let mut parameters = HashMap::from(
        ["RateLimitAnonymousPerMinute", "RateLimitFreePerMinute", "AccountEmailsPerHour"]
            .map(|parameter| (parameter.to_string(), "1000000".to_string())),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|error| error.to_string())?;
    let port = listener.local_addr().map_err(|error| error.to_string())?.port();
    // Billing against the Stripe stand-in, as in `make dev`: checkouts, the portal and invoices
    // answer what Stripe would.
    let stripe = FakeStripe::start(Some(WebhookTarget {
        url: format!("http://127.0.0.1:{port}/webhooks/stripe"),
        secret: crate::stack::LOCAL_STRIPE_WEBHOOK_SECRET.into(),
    }))
    .await;
    stripe.sell_local_prices();
    parameters.insert("StripeApiBase".into(), stripe.uri());
    parameters.extend(LOCAL_PRICES.iter().map(|price| (price.parameter.to_string(), price.id.to_string())));
    // The AI routes against the model's stand-in: they answer what they would with a provider
    // configured (202, 402, 429), not 503 `ai_unavailable` (tests/suite/ai.rs covers that).
    let model = crate::llm_fakes::FakeOpenAi::start().await;
    parameters.extend([
        ("LlmProvider".to_string(), "openai".to_string()),
        ("LlmBaseUrl".to_string(), format!("{}/v1", model.uri())),
        (crate::stack::secret_override("LlmApiKeySecret"), crate::llm_fakes::FakeOpenAi::API_KEY.to_string()),
    ]);
    let stack = LocalStack::create(endpoint, "contract", template, parameters).await.map_err(|e| e.to_string())?;
    let router = gateway::gateway(&stack).await.map_err(|error| error.to_string())?.router;
    let token = signed_in_user(&router).await?;
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let schemathesis = workspace_root().join(".venv/bin/schemathesis");
    let run = tokio::process::Command::new(&schemathesis)
        .current_dir(workspace_root())
        .args(["run", crate::openapi::DOCUMENT_PATH, "--url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .args(["--checks", CHECKS, "--max-time"])
        .arg(max_seconds.to_string())
        // One worker: with two, CPython 3.11 at times fails compiling the generators' code in two
        // threads at once ("AST constructor recursion depth mismatch"), an error of the tester's.
        .args(["--workers", "1", "--max-examples", "25", "--seed", "20261202", "--suppress-health-check", "all"])
        .args(["--request-timeout", "30", "--no-color", "--output-truncate", "true"])
        // Google sign-in and linking need Google's keys: locally they are off (503
        // google_sign_in_disabled, as a deploy without GoogleClientId answers); tests/suite/google.rs
        // and takeover.rs cover them against a fake Google.
        .args(["--exclude-path", "/v1/auth/google", "--exclude-path", "/v1/me/identities/google"])
        // Logout, and revoking a session (the tester learns its own session's id from the list),
        // end the tester's session: every later call would be 401 session_ended.
        // tests/suite/tokens.rs and takeover.rs cover both.
        .args(["--exclude-path", "/v1/auth/logout", "--exclude-path", "/v1/me/sessions/{id}"])
        .kill_on_drop(true)
        .status();
    // The tester's own budget, plus room to report.
    let status = tokio::time::timeout(Duration::from_secs(max_seconds + 120), run).await;
    server.abort();
    match status {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("schemathesis found answers that break the contract ({status})")),
        Ok(Err(error)) => Err(format!("{} could not run: {error} (make venv installs it)", schemathesis.display())),
        Err(_) => Err(format!("schemathesis did not finish within {} s", max_seconds + 120)),
    }
}

/// Signs a new user up through the gateway itself; their access token.
async fn signed_in_user(router: &axum::Router) -> Result<String, String> {
    let body = serde_json::json!({
        "email": format!("contract-{}@example.com", ulid::Ulid::new().to_string().to_lowercase()),
        "password": "correct horse battery staple",
        "name": "Contract",
        "timezone": "Europe/Berlin",
    });
    let request = Request::post("/v1/auth/signup")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .map_err(|error| error.to_string())?;
    let response = router.clone().oneshot(request).await.map_err(|error| error.to_string())?;
    let bytes = response.into_body().collect().await.map_err(|error| error.to_string())?.to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| error.to_string())?;
    answer["access_token"].as_str().map(String::from).ok_or_else(|| format!("signup failed: {answer}"))
}
