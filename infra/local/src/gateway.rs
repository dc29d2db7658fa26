//! The local gateway: every route group's routes in one axum server, each group with the context
//! its Lambda would build, on the resources of a local stack; and, local only,
//! `POST /_local/invoke/{function}` for the background functions (`triggers.rs`).

use axum::Router;
use shared::AppState;
use shared::config::Config;
use shared::context::{ContextFuture, SdkConfig};
use shared::http::{Route, build_router_for_groups};

use crate::stack::{LocalStack, StackError};
use crate::triggers::{Jobs, invoke_router};

/// A function the gateway serves: its binary name (as template.yaml's BuildProperties name it),
/// its route list, and its crate's `context` (what its Lambda main builds, with only its clients).
pub struct FunctionSpec {
    pub binary: &'static str,
    pub routes: fn() -> Vec<Route>,
    pub context: ContextFn,
}

/// An HTTP function's `context`, boxed.
pub type ContextFn = for<'a> fn(Config, &'a SdkConfig) -> ContextFuture<'a>;

/// Every HTTP function of the product.
pub const HTTP_FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        binary: "api-auth",
        routes: api_auth::routes,
        context: |config, sdk| Box::pin(api_auth::context(config, sdk)),
    },
    FunctionSpec {
        binary: "api-account",
        routes: api_account::routes,
        context: |config, sdk| Box::pin(api_account::context(config, sdk)),
    },
    FunctionSpec {
        binary: "api-tasks",
        routes: api_tasks::routes,
        context: |config, sdk| Box::pin(api_tasks::context(config, sdk)),
    },
    FunctionSpec {
        binary: "api-notifications",
        routes: api_notifications::routes,
        context: |config, sdk| Box::pin(api_notifications::context(config, sdk)),
    },
];

/// The HTTP function whose binary is `binary`.
pub fn http_function(binary: &str) -> Option<&'static FunctionSpec> {
    HTTP_FUNCTIONS.iter().find(|function| function.binary == binary)
}

/// The gateway: one Router serving every route of every function, and each function's context.
pub struct Gateway {
    pub router: Router,
    pub contexts: Vec<(&'static str, AppState)>,
    /// The background functions with their contexts (`/_local/invoke`, schedules, queues).
    pub jobs: Jobs,
}

impl Gateway {
    /// The context the function named `binary` runs with.
    pub fn context(&self, binary: &str) -> Option<&AppState> {
        self.contexts.iter().find(|(name, _)| *name == binary).map(|(_, context)| context)
    }
}

/// Builds each function's context as its Lambda would, and one Router over all their routes.
pub async fn gateway(stack: &LocalStack) -> Result<Gateway, StackError> {
    let mut contexts = Vec::new();
    let mut groups = Vec::new();
    for function in HTTP_FUNCTIONS {
        let context = stack.app_context(function.binary).await?;
        groups.push(((function.routes)(), context.clone()));
        contexts.push((function.binary, context));
    }
    let jobs = Jobs::build(stack)?;
    let router = build_router_for_groups(groups).merge(invoke_router(jobs.clone()));
    Ok(Gateway { router, contexts, jobs })
}

/// One Router serving every route of every function.
pub async fn gateway_router(stack: &LocalStack) -> Result<Router, StackError> {
    Ok(gateway(stack).await?.router)
}
