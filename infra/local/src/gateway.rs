//! The local gateway: every route group's routes in one axum server, each group with the context
//! its Lambda would build, on the resources of a local stack.

use axum::Router;
use shared::http::{Route, build_router_for_groups};

use crate::stack::{LocalStack, StackError};

/// A function the gateway serves: its binary name (as template.yaml's BuildProperties name it)
/// and its route list.
pub struct FunctionSpec {
    pub binary: &'static str,
    pub routes: fn() -> Vec<Route>,
}

/// Every HTTP function of the product.
pub const HTTP_FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        binary: "api-auth",
        routes: api_auth::routes,
    },
    FunctionSpec {
        binary: "api-account",
        routes: api_account::routes,
    },
    FunctionSpec {
        binary: "api-tasks",
        routes: api_tasks::routes,
    },
];

/// One Router serving every route of every function.
pub async fn gateway_router(stack: &LocalStack) -> Result<Router, StackError> {
    let mut groups = Vec::new();
    for function in HTTP_FUNCTIONS {
        groups.push((
            (function.routes)(),
            stack.app_context(function.binary).await?,
        ));
    }
    Ok(build_router_for_groups(groups))
}
