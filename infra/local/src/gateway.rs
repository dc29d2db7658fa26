//! The local gateway: every route group's routes in one axum server, each group with the state
//! its Lambda would build, on the resources of a local stack; and, local only,
//! `POST /_local/invoke/{function}` for the background functions (`triggers.rs`).

use axum::Router;
use shared::Base;
use shared::http::routes::merge;

use crate::functions::HTTP_FUNCTIONS;
use crate::stack::{LocalStack, StackError};
use crate::triggers::{Jobs, invoke_router};

/// The gateway: one Router serving every route of every function, and each function's base.
pub struct Gateway {
    pub router: Router,
    pub bases: Vec<(&'static str, Base)>,
    /// The background functions with their handlers (`/_local/invoke`, schedules, queues).
    pub jobs: Jobs,
}

impl Gateway {
    /// The base the function named `binary` runs with (its store: tests count its round trips).
    pub fn base(&self, binary: &str) -> Option<&Base> {
        self.bases.iter().find(|(name, _)| *name == binary).map(|(_, base)| base)
    }
}

/// Builds each function's state as its Lambda would, and one Router over all their routes.
pub async fn gateway(stack: &LocalStack) -> Result<Gateway, StackError> {
    let mut bases = Vec::new();
    let mut groups = Vec::new();
    for function in HTTP_FUNCTIONS {
        let group = stack.route_group(function.binary).await?;
        bases.push((function.binary, group.base.clone()));
        groups.push(group);
    }
    let jobs = Jobs::build(stack)?;
    let router = merge(groups).merge(invoke_router(jobs.clone()));
    Ok(Gateway { router, bases, jobs })
}

/// One Router serving every route of every function.
pub async fn gateway_router(stack: &LocalStack) -> Result<Router, StackError> {
    Ok(gateway(stack).await?.router)
}
