//! `flowday-local`: the local stack behind `make dev`, and small tools for engineers.
//!
//! - `flowday-local dev`: starts the emulator, creates what template.yaml declares, serves every
//!   route of every function on 127.0.0.1:$PORT (3000), runs the background functions on their
//!   schedules and queues, and serves `POST /_local/invoke/{function}`. Ctrl-C stops all of it.
//! - `flowday-local jwt-key-set [kid]`: prints a new JWT signing key set, the value of the
//!   JwtKeysSecret in a deployed stack; `jwt-public-keys` prints the public keys (JWKS) of the key
//!   set on its stdin, the value of JwtPublicKeysSecret.
//! - `flowday-local bench`: cold start, peak memory and login latency of the release binaries;
//!   `bench reminders`: only the reminder scheduler's 10,000-in-a-minute run; `bench calendar`,
//!   `bench billing`, `bench planner`, `bench ai`: only those parts.
//! - `flowday-local openapi`: the OpenAPI document generated from the code (`make openapi`
//!   writes it to docs/openapi.json).
//! - `flowday-local contract [seconds]`: schemathesis over docs/openapi.json against a stack of
//!   its own (the contract test of `make test`, 180 s by default).
//! - `flowday-local functions`: the binary name of every function of the registry, one a line
//!   (what `make bench` builds).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::PathBuf;

use flowday_local::{Emulator, LocalStack, Template, functions, gateway, triggers, workspace_root};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("dev") => dev().await,
        Some("jwt-key-set") => {
            let kid = args.get(1).cloned().unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
            println!("{}", shared::auth::jwt::generate_key_set_json(&kid));
            Ok(())
        }
        Some("jwt-public-keys") => {
            let mut key_set = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut key_set) {
                Err(error) => Err(error.to_string()),
                Ok(_) => shared::auth::JwtKeys::from_secret_json(key_set.trim(), "any", "any")
                    .map(|keys| println!("{}", keys.jwks()))
                    .map_err(|error| format!("not a key set of make jwt-key-set: {error}")),
            }
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("reminders") => {
            flowday_local::bench::reminders_only(10_000).await
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("logins") => {
            flowday_local::bench::logins_only(1000).await
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("planner") => flowday_local::bench_planner::planner(),
        Some("bench") if args.get(1).map(String::as_str) == Some("billing") => {
            flowday_local::bench_billing::billing_only().await
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("ai") => flowday_local::bench_ai::ai_only().await,
        Some("bench") if args.get(1).map(String::as_str) == Some("calendar") => {
            flowday_local::bench_calendar::calendar_only().await
        }
        Some("bench") => flowday_local::bench::run().await,
        Some("contract") => {
            let seconds = args.get(1).and_then(|text| text.parse().ok()).unwrap_or(180);
            flowday_local::contract::run(seconds).await
        }
        Some("openapi") => {
            print!("{}", flowday_local::openapi::document_text());
            Ok(())
        }
        Some("functions") => {
            functions::binaries().iter().for_each(|binary| println!("{binary}"));
            Ok(())
        }
        Some(other) => Err(format!(
            "unknown command {other}; use `dev`, `jwt-key-set [kid]`, `jwt-public-keys`, `bench [reminders|logins|calendar|billing|planner]`, `functions`, `openapi` or `contract [seconds]`"
        )),
    };
    if let Err(message) = result {
        eprintln!("flowday-local: {message}");
        std::process::exit(1);
    }
}

fn port_from_env(name: &str, default: u16) -> Result<u16, String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value.parse().map_err(|_| format!("{name}={value} is not a port number")),
        _ => Ok(default),
    }
}

/// Template parameters set from the environment: `RATE_LIMIT_FREE_PER_MINUTE` sets
/// `RateLimitFreePerMinute`, `GOOGLE_JWKS_URL` sets `GoogleJwksUrl`, and so on for every parameter.
fn parameters_from_env(template: &Template) -> HashMap<String, String> {
    template
        .parameter_defaults()
        .into_keys()
        .filter_map(|parameter| {
            let value = std::env::var(env_name(&parameter)).ok().filter(|value| !value.is_empty())?;
            println!("  {parameter} = {value} (from {})", env_name(&parameter));
            Some((parameter, value))
        })
        .chain(client_secrets_from_env())
        .collect()
}

/// The secrets of real providers, when `make dev` is to talk to them (never printed): the OAuth
/// client secrets of the calendar providers, Stripe's API key and webhook signing secret, and
/// the key of an OpenAI-compatible model.
fn client_secrets_from_env() -> Vec<(String, String)> {
    [
        ("GOOGLE_OAUTH_CLIENT_SECRET", "GoogleOAuthSecret"),
        ("MICROSOFT_CLIENT_SECRET", "MicrosoftOAuthSecret"),
        ("STRIPE_API_KEY", "StripeApiKeySecret"),
        ("STRIPE_WEBHOOK_SECRET", "StripeWebhookSecret"),
        ("LLM_API_KEY", "LlmApiKeySecret"),
    ]
    .into_iter()
    .filter_map(|(variable, secret)| {
        let value = std::env::var(variable).ok().filter(|value| !value.is_empty())?;
        println!("  {secret} set from {variable}");
        Some((flowday_local::stack::secret_override(secret), value))
    })
    .collect()
}

/// `RateLimitFreePerMinute` -> `RATE_LIMIT_FREE_PER_MINUTE`.
fn env_name(parameter: &str) -> String {
    let mut name = String::new();
    for (index, c) in parameter.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The local Stripe stand-in, unless `STRIPE_API_BASE` points at a Stripe (test mode, or
/// stripe-mock): it answers api-billing's calls and sends its webhooks, signed with the local
/// stack's webhook secret, to this gateway. Plans and packs get local prices unless the
/// environment gives real ones.
async fn local_stripe(
    port: u16,
    overrides: &mut HashMap<String, String>,
) -> Option<flowday_local::stripe_fake::FakeStripe> {
    use flowday_local::stripe_fake::{FakeStripe, WebhookTarget};
    if overrides.contains_key("StripeApiBase") {
        return None;
    }
    let secret = overrides
        .get(&flowday_local::stack::secret_override("StripeWebhookSecret"))
        .cloned()
        .unwrap_or_else(|| flowday_local::stack::LOCAL_STRIPE_WEBHOOK_SECRET.to_string());
    let target = WebhookTarget { url: format!("http://127.0.0.1:{port}/webhooks/stripe"), secret };
    let stripe = FakeStripe::start(Some(target)).await;
    overrides.insert("StripeApiBase".into(), stripe.uri());
    overrides
        .entry(flowday_local::stack::secret_override("StripeApiKeySecret"))
        .or_insert_with(|| flowday_local::stripe_fake::SECRET_KEY.into());
    stripe.sell_local_prices();
    for price in &flowday_local::stripe_fake::LOCAL_PRICES {
        overrides.entry(price.parameter.to_string()).or_insert_with(|| price.id.to_string());
    }
    Some(stripe)
}

fn pid_file() -> PathBuf {
    workspace_root().join(".dev/dev.pid")
}

async fn dev() -> Result<(), String> {
    shared::telemetry::init();
    let port = port_from_env("PORT", 3000)?;
    let emulator_port = port_from_env("EMULATOR_PORT", 0)?;
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(error) if error.kind() == ErrorKind::AddrInUse => {
            let running = std::fs::read_to_string(pid_file()).unwrap_or_default();
            return Err(format!(
                "port {port} is taken: a local stack is probably running already ({}). \
                 Stop it with Ctrl-C in its terminal, or start another with PORT={} make dev.",
                if running.trim().is_empty() {
                    "no .dev/dev.pid found".to_string()
                } else {
                    running.trim().to_string()
                },
                port + 1
            ));
        }
        Err(error) => return Err(format!("cannot listen on 127.0.0.1:{port}: {error}")),
    };
    let mut emulator = Emulator::start(emulator_port).map_err(|error| error.to_string())?;
    let template = Template::load(&workspace_root().join("template.yaml")).map_err(|error| error.to_string())?;
    let mut overrides = parameters_from_env(&template);
    let stripe = local_stripe(port, &mut overrides).await;
    let stack = LocalStack::create(&emulator.endpoint(), "dev", template, overrides)
        .await
        .map_err(|error| error.to_string())?;
    let gateway = gateway::gateway(&stack).await.map_err(|error| error.to_string())?;
    let triggers = triggers::start(&stack, &gateway.jobs).map_err(|error| error.to_string())?;
    let mut router = gateway.router.layer(tower_http::cors::CorsLayer::very_permissive());
    let trust_forwarded_for = std::env::var("TRUST_FORWARDED_FOR").is_ok_and(|value| value == "1");
    if trust_forwarded_for {
        router = router.layer(axum::middleware::from_fn(shared::http::client_ip::trust_forwarded_for));
    }

    let _ = std::fs::create_dir_all(workspace_root().join(".dev"));
    let note = format!(
        "pid {} serving http://127.0.0.1:{port}, emulator pid {} on {}",
        std::process::id(),
        emulator.pid(),
        emulator.endpoint()
    );
    let _ = std::fs::write(pid_file(), &note);
    println!("\nFlowday local stack: http://127.0.0.1:{port}");
    println!("  emulator (AWS APIs, dummy credentials): {}", emulator.endpoint());
    println!("  table {}", stack.physical_id("Table").unwrap_or_default());
    for job in gateway.jobs.iter() {
        let trigger = match job.trigger {
            functions::Trigger::Schedule(period) => format!("every {} s", period.as_secs()),
            functions::Trigger::Queue(queue) => format!("on queue {queue}"),
        };
        println!("  background: {} ({trigger})", job.binary);
    }
    println!("\nTry:\n  curl -s http://127.0.0.1:{port}/v1/health");
    println!(
        "  curl -s -X POST http://127.0.0.1:{port}/v1/auth/signup -H 'content-type: application/json' \\\n    \
         -d '{{\"email\":\"ada@example.com\",\"password\":\"correct horse battery\",\"name\":\"Ada\",\"timezone\":\"Europe/Berlin\"}}'"
    );
    println!("  curl -s -X POST http://127.0.0.1:{port}/_local/invoke/maintenance -d @events/maintenance/hourly.json");
    if let Some(stripe) = &stripe {
        println!(
            "  Stripe stand-in: {} (POST /v1/billing/checkout answers a URL on it; a GET of that URL pays and sends the webhooks)",
            stripe.uri()
        );
    }
    println!("\nCtrl-C stops the gateway, the triggers and the emulator.\n");

    if trust_forwarded_for {
        println!("  TRUST_FORWARDED_FOR=1: the first X-Forwarded-For address is the client's (rate limits)");
    }
    let served = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    drop(triggers);
    emulator.stop();
    let _ = std::fs::remove_file(pid_file());
    println!("stopped");
    served.map_err(|error| error.to_string())
}
