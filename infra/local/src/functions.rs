//! The single list of the product's functions, read by the local gateway, the triggers, the
//! bench and the parity test (template.yaml must declare the same functions, routes and triggers).
//!
//! A new HTTP function is one `HttpFunction` here (its crate's `routes`, `state` and
//! `route_group`); a new background function is one `BackgroundFunction` (its crate's `state`
//! and `handle`, and what triggers it). docs/adding-a-function.md has the whole recipe.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use shared::http::RouteGroup;
use shared::http::routes::{RouteInfo, paths};
use shared::jobs::{JobHandler, handler};
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};
use utoipa::OpenApi;

pub type GroupFuture = Pin<Box<dyn Future<Output = Result<RouteGroup, InitError>> + Send>>;

/// An HTTP function: its binary name (as template.yaml's BuildProperties name it), its routes
/// (without handlers), how its Lambda builds its routes with their state, and its part of the
/// OpenAPI document.
pub struct HttpFunction {
    pub binary: &'static str,
    pub paths: fn() -> Vec<RouteInfo>,
    pub build: fn(Env, SdkConfig) -> GroupFuture,
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

/// Every HTTP function of the product.
pub const HTTP_FUNCTIONS: &[HttpFunction] = &[
    HttpFunction {
        binary: "api-auth",
        paths: || paths(&api_auth::routes()),
        build: |env, sdk| Box::pin(async move { Ok(api_auth::route_group(api_auth::state(&env, &sdk).await?)) }),
        openapi: api_auth::ApiDoc::openapi,
    },
    HttpFunction {
        binary: "api-account",
        paths: || paths(&api_account::routes()),
        build: |env, sdk| Box::pin(async move { Ok(api_account::route_group(api_account::state(&env, &sdk).await?)) }),
        openapi: api_account::ApiDoc::openapi,
    },
    HttpFunction {
        binary: "api-tasks",
        paths: || paths(&api_tasks::routes()),
        build: |env, sdk| Box::pin(async move { Ok(api_tasks::route_group(api_tasks::state(&env, &sdk).await?)) }),
        openapi: api_tasks::ApiDoc::openapi,
    },
    HttpFunction {
        binary: "api-notifications",
        paths: || paths(&api_notifications::routes()),
        build: |env, sdk| {
            Box::pin(async move { Ok(api_notifications::route_group(api_notifications::state(&env, &sdk).await?)) })
        },
        openapi: api_notifications::ApiDoc::openapi,
    },
    HttpFunction {
        binary: "api-calendar",
        paths: || paths(&api_calendar::routes()),
        build: |env, sdk| {
            Box::pin(async move { Ok(api_calendar::route_group(api_calendar::state(&env, &sdk).await?)) })
        },
        openapi: api_calendar::ApiDoc::openapi,
    },
    HttpFunction {
        binary: "webhook-calendar",
        paths: || paths(&webhook_calendar::routes()),
        build: |env, sdk| {
            Box::pin(async move { Ok(webhook_calendar::route_group(webhook_calendar::state(&env, &sdk).await?)) })
        },
        openapi: webhook_calendar::ApiDoc::openapi,
    },
    HttpFunction {
        binary: "api-planning",
        paths: || paths(&api_planning::routes()),
        build: |env, sdk| {
            Box::pin(async move { Ok(api_planning::route_group(api_planning::state(&env, &sdk).await?)) })
        },
        openapi: api_planning::ApiDoc::openapi,
    },
    HttpFunction {
        binary: "api-ai",
        paths: || paths(&api_ai::routes()),
        build: |env, sdk| Box::pin(async move { Ok(api_ai::route_group(api_ai::state(&env, &sdk).await?)) }),
        openapi: api_ai::ApiDoc::openapi,
    },
    HttpFunction {
        binary: "api-billing",
        paths: || paths(&api_billing::routes()),
        build: |env, sdk| Box::pin(async move { Ok(api_billing::route_group(api_billing::state(&env, &sdk).await?)) }),
        openapi: api_billing::ApiDoc::openapi,
    },
    HttpFunction {
        binary: "webhook-stripe",
        paths: || paths(&webhook_stripe::routes()),
        build: |env, sdk| {
            Box::pin(async move { Ok(webhook_stripe::route_group(webhook_stripe::state(&env, &sdk).await?)) })
        },
        openapi: webhook_stripe::ApiDoc::openapi,
    },
];

/// What starts a background function (template.yaml declares the same: the parity test checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An EventBridge schedule, `rate(...)`: first run one period after start-up, then every period.
    Schedule(Duration),
    /// An SQS event source: the queue's logical id in template.yaml.
    Queue(&'static str),
}

/// A background function: its binary name, its trigger, and how its Lambda builds its handler.
#[derive(Clone, Copy)]
pub struct BackgroundFunction {
    pub binary: &'static str,
    pub trigger: Trigger,
    pub build: fn(&Env, &SdkConfig) -> Result<JobHandler, InitError>,
}

/// Every background function of the product.
pub const BACKGROUND_FUNCTIONS: &[BackgroundFunction] = &[
    BackgroundFunction {
        binary: "maintenance",
        trigger: Trigger::Schedule(Duration::from_secs(3600)),
        build: |env, sdk| Ok(handler(maintenance::state(env, sdk)?, maintenance::handle)),
    },
    BackgroundFunction {
        binary: "reminder-scheduler",
        trigger: Trigger::Schedule(Duration::from_secs(60)),
        build: |env, sdk| Ok(handler(reminder_scheduler::state(env, sdk)?, reminder_scheduler::handle)),
    },
    BackgroundFunction {
        binary: "notification-worker",
        trigger: Trigger::Queue("NotificationsQueue"),
        build: |env, sdk| Ok(handler(notification_worker::state(env, sdk)?, notification_worker::handle)),
    },
    BackgroundFunction {
        binary: "ai-worker",
        trigger: Trigger::Queue("AiJobsQueue"),
        build: |env, sdk| Ok(handler(ai_worker::state(env, sdk)?, ai_worker::handle)),
    },
    BackgroundFunction {
        binary: "calendar-sync-worker",
        trigger: Trigger::Queue("CalendarSyncQueue"),
        build: |env, sdk| Ok(handler(calendar_sync_worker::state(env, sdk)?, calendar_sync_worker::handle)),
    },
];

pub fn http_function(binary: &str) -> Option<&'static HttpFunction> {
    HTTP_FUNCTIONS.iter().find(|function| function.binary == binary)
}

pub fn background_function(binary: &str) -> Option<&'static BackgroundFunction> {
    BACKGROUND_FUNCTIONS.iter().find(|function| function.binary == binary)
}

/// The binary name of every function: what `make bench` builds and measures.
pub fn binaries() -> Vec<&'static str> {
    let http = HTTP_FUNCTIONS.iter().map(|function| function.binary);
    http.chain(BACKGROUND_FUNCTIONS.iter().map(|function| function.binary)).collect()
}
