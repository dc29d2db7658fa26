//! A route group is a list of `Route`s: the list is the single truth about what a function serves.
//! The same list builds its Lambda router, the local gateway, and the route parity test.
//!
//! Each route says whether it takes an `Idempotency-Key` (every POST/PUT/PATCH/DELETE does unless
//! its function says otherwise with `without_idempotency`: routes whose answers hold fresh tokens).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use http::Method;

use super::json::MAX_BODY_BYTES;
use super::layers;
use crate::state::Base;

pub struct Route<S> {
    pub method: Method,
    /// API Gateway path syntax, which is also axum 0.8's: `/v1/me/sessions/{id}`.
    pub path: &'static str,
    pub handler: MethodRouter<S>,
    /// Whether the idempotency middleware runs for it.
    pub idempotent: bool,
    /// Whether a request without an `Idempotency-Key` is refused (400): the AI routes, whose
    /// repeats would start, and charge, another job.
    pub key_required: bool,
    /// Whether its handler reads a query string (`ApiQuery`, which refuses names it does not
    /// know); any other route refuses every query parameter.
    pub takes_query: bool,
    /// Whether requests spend a client's budget (`rate_limit`); see `without_rate_limit`.
    pub rate_limited: bool,
}

macro_rules! route_constructor {
    ($name:ident, $method:ident, $idempotent:expr) => {
        pub fn $name<H, T>(path: &'static str, handler: H) -> Route<S>
        where
            H: Handler<T, S>,
            T: 'static,
        {
            let handler = routing::$name(handler);
            Route {
                method: Method::$method,
                path,
                handler,
                idempotent: $idempotent,
                key_required: false,
                takes_query: false,
                rate_limited: true,
            }
        }
    };
}

impl<S: Clone + Send + Sync + 'static> Route<S> {
    route_constructor!(get, GET, false);
    route_constructor!(post, POST, true);
    route_constructor!(put, PUT, true);
    route_constructor!(patch, PATCH, true);
    route_constructor!(delete, DELETE, true);

    /// A mutation whose answer must never be stored or replayed (it hands out fresh tokens).
    pub fn without_idempotency(mut self) -> Self {
        self.idempotent = false;
        self
    }

    /// A route that servers of other companies call for many of our users at once, from a few
    /// shared addresses (providers' webhooks, calendar apps fetching feeds): a per-address budget
    /// would refuse them. Each such request carries its own secret, checked with one read before
    /// any other work; API Gateway's throttling bounds the rest.
    pub fn without_rate_limit(mut self) -> Self {
        self.rate_limited = false;
        self
    }

    /// A mutation that must carry an `Idempotency-Key`.
    pub fn requiring_idempotency_key(mut self) -> Self {
        self.idempotent = true;
        self.key_required = true;
        self
    }

    /// A route whose handler reads its query string with `ApiQuery`.
    pub fn with_query(mut self) -> Self {
        self.takes_query = true;
        self
    }
}

/// A function's routes with its state applied: what its Lambda serves, and what the local
/// gateway merges with the other functions' groups.
pub struct RouteGroup {
    routes: Vec<(Method, &'static str, MethodRouter)>,
    /// The group's base (its store: the tests count its round trips).
    pub base: Base,
}

impl RouteGroup {
    pub fn new<S>(routes: Vec<Route<S>>, state: S) -> RouteGroup
    where
        S: Clone + Send + Sync + 'static,
        Base: FromRef<S>,
    {
        let base = Base::from_ref(&state);
        let routes = routes
            .into_iter()
            .map(|route| {
                let mut handler = route.handler;
                if route.idempotent {
                    handler = handler
                        .layer(axum::middleware::from_fn_with_state(base.clone(), super::idempotency::idempotency));
                }
                if route.key_required {
                    handler = handler.layer(axum::middleware::from_fn(super::idempotency::require_key));
                }
                if !route.takes_query {
                    handler = handler.layer(axum::middleware::from_fn(super::query::refuse_query));
                }
                // Outermost: a request over its budget does no other work.
                if route.rate_limited {
                    handler = handler
                        .layer(axum::middleware::from_fn_with_state(base.clone(), super::rate_limit::rate_limit));
                }
                (route.method, route.path, handler.with_state(state.clone()))
            })
            .collect();
        RouteGroup { routes, base }
    }

    /// This group alone: a function's Lambda router.
    pub fn router(self) -> Router {
        merge(vec![self])
    }
}

/// What a route is, without its handler: for the parity test (template.yaml must declare the same
/// method and path) and the OpenAPI document (which routes take an Idempotency-Key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    pub path: &'static str,
    pub idempotent: bool,
    pub key_required: bool,
}

pub fn paths<S>(routes: &[Route<S>]) -> Vec<RouteInfo> {
    routes
        .iter()
        .map(|route| RouteInfo {
            method: route.method.clone(),
            path: route.path,
            idempotent: route.idempotent,
            key_required: route.key_required,
        })
        .collect()
}

/// One Router over several groups, each with its own state: one function's in Lambda, every
/// function's in the local gateway (each built as its Lambda would build it), with the layers
/// every response needs.
pub fn merge(groups: Vec<RouteGroup>) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter> = BTreeMap::new();
    for (_, path, handler) in groups.into_iter().flat_map(|group| group.routes) {
        let merged = match by_path.remove(path) {
            Some(existing) => existing.merge(handler),
            None => handler,
        };
        by_path.insert(path, merged);
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
