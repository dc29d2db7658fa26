//! A route group is a list of `Route`s: the list is the single truth about what a function serves.
//! The same list builds its Lambda router, the local gateway, and the route parity test.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use http::Method;

use super::json::MAX_BODY_BYTES;
use super::layers;
use crate::context::AppState;

pub struct Route {
    pub method: Method,
    /// API Gateway path syntax, which is also axum 0.8's: `/v1/me/sessions/{id}`.
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
}

macro_rules! route_constructor {
    ($name:ident, $method:ident) => {
        pub fn $name<H, T>(path: &'static str, handler: H) -> Route
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            Route { method: Method::$method, path, handler: routing::$name(handler) }
        }
    };
}

impl Route {
    route_constructor!(get, GET);
    route_constructor!(post, POST);
    route_constructor!(put, PUT);
    route_constructor!(patch, PATCH);
    route_constructor!(delete, DELETE);
}

/// Builds a function's axum Router from its routes, with the layers every response needs.
pub fn build_router(routes: Vec<Route>, state: AppState) -> Router {
    build_router_for_groups(vec![(routes, state)])
}

/// Builds one Router from several route groups, each with its own state: one function's in
/// Lambda, every function's in the local gateway (each built as its Lambda would build it).
pub fn build_router_for_groups(groups: Vec<(Vec<Route>, AppState)>) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter> = BTreeMap::new();
    for (routes, state) in groups {
        for route in routes {
            let handler: MethodRouter = route
                .handler
                .layer(axum::middleware::from_fn_with_state(state.clone(), super::idempotency::idempotency))
                .with_state(state.clone());
            let merged = match by_path.remove(route.path) {
                Some(existing) => existing.merge(handler),
                None => handler,
            };
            by_path.insert(route.path, merged);
        }
    }
    let mut router = Router::new();
    for (path, method_router) in by_path {
        router = router.route(path, method_router);
    }
    router
        .fallback(layers::route_not_found)
        .method_not_allowed_fallback(layers::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(layers::request_envelope))
}
