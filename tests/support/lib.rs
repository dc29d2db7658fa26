//! Test support: one emulator per test process, a fresh local stack (own table, queues, bucket,
//! secrets) per test, and helpers that speak HTTP to the gateway Router.

use shared::http::client_ip::trust_forwarded_for;
use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use flowday_local::{Emulator, LocalStack, Template, gateway, workspace_root};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub use flowday_local::calendar_fakes;
pub mod ai;
pub mod billing;
pub mod google;

/// The endpoint of this process's emulator, started on first use. It runs on a thread that never
/// ends, so it lives (and dies) with the test process.
pub fn emulator_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || match Emulator::start(0) {
                Ok(emulator) => {
                    sender.send(Ok(emulator.endpoint())).expect("test waits");
                    let _keep = emulator;
                    loop {
                        std::thread::park();
                    }
                }
                Err(error) => sender.send(Err(error.to_string())).expect("test waits"),
            });
            receiver.recv().expect("emulator thread").unwrap_or_else(|error| panic!("{error}"))
        })
        .clone()
}

pub fn template() -> Template {
    Template::load(&workspace_root().join("template.yaml")).expect("template.yaml parses")
}

/// A local stack of its own and the gateway Router on it.
pub struct TestStack {
    pub stack: LocalStack,
    pub router: Router,
    pub gateway: gateway::Gateway,
}

impl TestStack {
    pub async fn new() -> Self {
        Self::with_parameters(HashMap::new()).await
    }

    /// With template parameters overridden (e.g. `GoogleJwksUrl` pointing at a fake).
    pub async fn with_parameters(parameters: HashMap<String, String>) -> Self {
        let prefix = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let stack =
            LocalStack::create(&emulator_endpoint(), &prefix, template(), parameters).await.expect("local stack");
        let gateway = gateway::gateway(&stack).await.expect("gateway");
        // A test acts as many clients by sending X-Forwarded-For, as `make dev` with TRUST_FORWARDED_FOR=1.
        let router = gateway.router.clone().layer(axum::middleware::from_fn(trust_forwarded_for));
        TestStack { router, stack, gateway }
    }

    /// Serves this stack's gateway on a loopback port, for callers that speak HTTP (a provider's
    /// fake sending webhooks): answers its base URL. The server lives as long as the test.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let address = listener.local_addr().expect("its address");
        let service = self.router.clone().into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        format!("http://{address}")
    }

    /// With every rate limit off: for tests that count a route's own round trips (a counter is
    /// one UpdateItem more per request, documented once in docs/data-model.md).
    pub async fn without_rate_limits() -> Self {
        let off = [
            "RateLimitAnonymousPerMinute",
            "RateLimitFreePerMinute",
            "RateLimitProPerMinute",
            "RateLimitTeamPerMinute",
        ];
        Self::with_parameters(off.map(|parameter| (parameter.to_string(), "0".to_string())).into()).await
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        TestResponse { status, headers, body }
    }

    /// A JSON request, with a bearer token when given.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> TestResponse {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = match body {
            Some(body) => builder.header("content-type", "application/json").body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.expect("request")).await
    }

    /// Signs up a new user with a unique email; returns the auth result.
    pub async fn signup(&self, name: &str) -> Value {
        let email = unique_email(name);
        let response = self
            .call(
                Method::POST,
                "/v1/auth/signup",
                None,
                Some(serde_json::json!({"email": email, "password": PASSWORD, "name": name, "timezone": "Europe/Berlin"})),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "signup: {}", response.body);
        response.body
    }

    /// A stack whose Google sign-in trusts `google` (a fake serving its keys).
    pub async fn with_google(google: &google::FakeGoogle) -> Self {
        Self::with_parameters(HashMap::from([
            ("GoogleClientId".to_string(), google::CLIENT_ID.to_string()),
            ("GoogleJwksUrl".to_string(), google.jwks_url()),
        ]))
        .await
    }

    /// Puts a user on a tier (`free`, `pro`, `team`), as billing will.
    pub async fn set_tier(&self, user_id: &str, tier: &str) {
        use aws_sdk_dynamodb::types::AttributeValue;
        self.dynamo()
            .update_item()
            .table_name(self.table())
            .key("PK", AttributeValue::S(format!("USER#{user_id}")))
            .key("SK", AttributeValue::S("PROFILE".into()))
            .update_expression("SET tier = :tier")
            .expression_attribute_values(":tier", AttributeValue::S(tier.into()))
            .send()
            .await
            .expect("tier set");
    }

    /// Verifies `email` with the token of the verification email signup sent it.
    pub async fn verify_email(&self, email: &str) {
        let mails = self.emails_to(email).await;
        let mail = mails.iter().find(|mail| mail.subject.contains("Confirm")).expect("a verification email");
        let body = serde_json::json!({"token": mail.token()});
        let confirm = self.call(Method::POST, "/v1/auth/verify-email", None, Some(body)).await;
        assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    }

    /// `POST /v1/auth/login`.
    pub async fn login(&self, email: impl serde::Serialize, password: impl serde::Serialize) -> TestResponse {
        let body = serde_json::json!({"email": email, "password": password});
        self.call(Method::POST, "/v1/auth/login", None, Some(body)).await
    }

    /// `POST /v1/auth/refresh`.
    pub async fn refresh(&self, refresh_token: impl serde::Serialize) -> TestResponse {
        let body = serde_json::json!({ "refresh_token": refresh_token });
        self.call(Method::POST, "/v1/auth/refresh", None, Some(body)).await
    }

    /// Emails the emulator's SES received for `to`, oldest first.
    pub async fn emails_to(&self, to: &str) -> Vec<SentEmail> {
        let data = self.emulator_data().await;
        data["ses"]["Message"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|message| {
                message["destinations"]["ToAddresses"].as_array().is_some_and(|to_list| to_list.iter().any(|a| a == to))
            })
            .map(|message| SentEmail {
                source: message["source"].as_str().unwrap_or_default().to_string(),
                subject: message["subject"].as_str().unwrap_or_default().to_string(),
                body: message["body"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// The emulator's record of what it received. Its dump can fail while another test writes
    /// (the emulator serialises its state without a lock), so it is read again on failure.
    async fn emulator_data(&self) -> Value {
        let url = format!("{}/moto-api/data.json", self.stack.endpoint);
        let mut last_error = String::new();
        for _ in 0..10 {
            match reqwest::get(&url).await {
                Ok(response) if response.status().is_success() => match response.json::<Value>().await {
                    Ok(data) => return data,
                    Err(error) => last_error = error.to_string(),
                },
                Ok(response) => last_error = format!("status {}", response.status()),
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the emulator's data could not be read: {last_error}")
    }

    /// DynamoDB requests the function `binary` has sent so far.
    pub fn round_trips(&self, binary: &str) -> u64 {
        self.store(binary).round_trips.count()
    }

    pub fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.stack.sdk)
    }

    pub fn table(&self) -> String {
        self.stack.physical_id("Table").expect("table")
    }

    /// The state the background function `binary` runs with, built by its crate's `state` from
    /// the environment template.yaml gives it: `stack.job_state("maintenance", maintenance::state)`.
    pub fn job_state<S>(
        &self,
        binary: &str,
        build: fn(&shared::settings::Env, &shared::state::SdkConfig) -> Result<S, shared::state::InitError>,
    ) -> S {
        let env = self.stack.env(binary).expect("a function of template.yaml");
        build(&env, &self.stack.sdk).unwrap_or_else(|error| panic!("{binary} starts: {error}"))
    }

    /// Takes every message now on the queue `logical_id` (they stay hidden for its visibility
    /// timeout), bodies parsed as JSON.
    /// Hands what waits on the notifications queue to the notification worker, as its SQS event
    /// source would (account emails, reminders, digests); how many messages it got.
    pub async fn run_notification_worker(&self) -> usize {
        let bodies = self.drain_queue("NotificationsQueue").await;
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(index, body)| {
                serde_json::json!({
                    "messageId": format!("test-{index}"), "receiptHandle": format!("test-{index}"),
                    "body": body.to_string(), "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                })
            })
            .collect();
        if !records.is_empty() {
            let answer = self.gateway.jobs.invoke("notification-worker", serde_json::json!({"Records": records})).await;
            let answer = answer.expect("the worker runs");
            assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "every record handled: {answer}");
        }
        bodies.len()
    }

    pub async fn drain_queue(&self, logical_id: &str) -> Vec<Value> {
        let client = aws_sdk_sqs::Client::new(&self.stack.sdk);
        let url = self.stack.physical_id(logical_id).expect("a queue of template.yaml");
        let mut bodies = Vec::new();
        loop {
            let output = client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("the queue answers");
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for message in messages {
                bodies.push(serde_json::from_str(message.body().unwrap_or("null")).expect("a JSON body"));
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct SentEmail {
    pub source: String,
    pub subject: String,
    pub body: String,
}

impl SentEmail {
    /// The `token=` value of the link in the email.
    pub fn token(&self) -> String {
        let start = self.body.find("token=").expect("a token link") + "token=".len();
        self.body[start..].split_whitespace().next().expect("token").to_string()
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// `/v1/tasks/<id><suffix>` of a task as the API answered it.
pub fn task_path(task: &Value, suffix: &str) -> String {
    format!("/v1/tasks/{}{suffix}", task["id"].as_str().unwrap())
}

/// An instant as the API writes it: RFC 3339 in UTC, to the second.
pub fn instant(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl TestStack {
    /// `POST /v1/tasks` with `body`, answered as it is.
    pub async fn create_task(&self, token: Option<&str>, body: Value) -> TestResponse {
        self.call(Method::POST, "/v1/tasks", token, Some(body)).await
    }

    /// A new task with `title` (and defaults for the rest), as the API answered it.
    pub async fn task_titled(&self, token: Option<&str>, title: &str) -> Value {
        let response = self.create_task(token, serde_json::json!({"title": title})).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        response.body
    }
}

pub fn unique_email(name: &str) -> String {
    format!("{}-{}@example.com", name.to_lowercase(), ulid::Ulid::new().to_string().to_lowercase())
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status.as_u16());
        assert!(self.body["detail"].as_str().is_some_and(|detail| !detail.is_empty()));
        assert_eq!(self.body["request_id"].as_str(), self.header("x-request-id"));
    }

    /// The `field`s named in a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|error| error["field"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// An event of `events/<function>/<name>.json` with its placeholders filled.
pub fn event(function: &str, name: &str, values: &[(&str, &str)]) -> Value {
    let path = workspace_root().join("events").join(function).join(format!("{name}.json"));
    flowday_local::lambda_process::load_event(&path, values).unwrap_or_else(|error| panic!("{error}"))
}

/// What a Lambda HTTP function answered (API Gateway v2 response), with its body parsed.
pub struct LambdaAnswer {
    pub status: u16,
    pub headers: Value,
    pub body: Value,
}

impl LambdaAnswer {
    pub fn from_response(response: Value) -> Self {
        let body = match response["body"].as_str() {
            Some(text) if !text.is_empty() => serde_json::from_str(text).unwrap_or(Value::String(text.into())),
            _ => Value::Null,
        };
        LambdaAnswer {
            status: response["statusCode"].as_u64().unwrap_or_default() as u16,
            headers: response["headers"].clone(),
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers[name].as_str()
    }
}

impl TestStack {
    /// Starts a function's Lambda binary on this stack.
    pub async fn lambda(&self, binary_path: &str, binary: &str) -> flowday_local::lambda_process::LambdaProcess {
        flowday_local::lambda_process::LambdaProcess::start(std::path::Path::new(binary_path), binary, &self.stack)
            .await
            .expect("function process")
    }
}

/// Invokes a function process on an event and parses the answer.
pub async fn invoke(process: &flowday_local::lambda_process::LambdaProcess, event: Value) -> LambdaAnswer {
    LambdaAnswer::from_response(
        process.invoke(event).await.unwrap_or_else(|error| panic!("invocation failed: {error}")),
    )
}

impl TestStack {
    /// The messages the emulator's SNS published to a platform endpoint, oldest first (each the
    /// JSON text the sender gave to Publish).
    pub async fn pushes_to(&self, endpoint_arn: &str) -> Vec<String> {
        let data = self.emulator_data().await;
        data["sns"]["PlatformEndpoint"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|endpoint| endpoint["arn"] == endpoint_arn)
            .flat_map(|endpoint| match &endpoint["messages"] {
                Value::Object(messages) => messages.values().cloned().collect::<Vec<_>>(),
                Value::Array(messages) => messages.clone(),
                _ => Vec::new(),
            })
            .map(|message| message.as_str().map(String::from).unwrap_or_else(|| message.to_string()))
            .collect()
    }

    /// The emulator's whole record, for assertions this module has no helper for.
    pub async fn emulator_record(&self) -> Value {
        self.emulator_data().await
    }

    /// The store of an HTTP function of the gateway (its round-trip counter is that function's).
    pub fn store(&self, binary: &str) -> shared::store::Store {
        self.gateway.base(binary).expect("a function of the gateway").store.clone()
    }
}

impl TestStack {
    /// A stack whose calendar connections go to these fakes (their client ids, secrets and base
    /// URLs, as a deployer would set the real ones).
    pub async fn with_calendar_fakes(
        google: &calendar_fakes::FakeGoogleCalendar,
        graph: &calendar_fakes::FakeGraph,
    ) -> Self {
        Self::with_parameters(calendar_fakes::stack_parameters(google, graph)).await
    }

    /// Connects the caller's `provider` calendar as a browser would: starts the authorization,
    /// follows the consent URL (the fake consents at once) and opens the callback it redirects
    /// to. Answers the callback's response (303 on to the app).
    pub async fn connect_calendar(&self, token: Option<&str>, provider: &str) -> TestResponse {
        let started = self.call(Method::POST, &format!("/v1/calendar/connections/{provider}"), token, None).await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
        let consent = started.body["url"].as_str().expect("a consent URL");
        let callback = follow_consent(consent).await;
        self.call(Method::GET, &callback, None, None).await
    }

    /// Runs calendar-sync-worker on what waits on the calendar-sync queue, again while jobs queue
    /// more (further pages, a pass another job asked for); answers the jobs it ran. Every job
    /// must succeed.
    pub async fn run_calendar_sync(&self) -> usize {
        let mut ran = 0;
        for _ in 0..20 {
            let bodies = self.drain_queue("CalendarSyncQueue").await;
            if bodies.is_empty() {
                return ran;
            }
            ran += bodies.len();
            let records: Vec<Value> = bodies
                .iter()
                .map(|body| {
                    let id = ulid::Ulid::new().to_string();
                    serde_json::json!({
                        "messageId": id, "receiptHandle": id, "body": body.to_string(),
                        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                        "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                    })
                })
                .collect();
            let answer =
                self.gateway.jobs.invoke("calendar-sync-worker", serde_json::json!({"Records": records})).await;
            let answer = answer.expect("the worker runs");
            assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "every job done: {answer}");
        }
        panic!("calendar-sync jobs kept coming after 20 rounds");
    }
}

/// Opens a consent URL of a calendar fake without following its redirect; answers the path and
/// query of the callback it sends the browser to.
pub async fn follow_consent(consent: &str) -> String {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = browser.get(consent).send().await.expect("the fake consents");
    assert_eq!(answer.status().as_u16(), 302, "the consent redirects");
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    location[location.find("/v1/").expect("our callback")..].to_string()
}
