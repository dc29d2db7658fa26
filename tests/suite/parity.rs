//! Route parity: every route template.yaml gives a function is served by that function, and every
//! route a function serves is in template.yaml.

use std::collections::BTreeSet;

use flowday_local::functions::{BACKGROUND_FUNCTIONS, HTTP_FUNCTIONS};
use flowday_local::template::RouteKey;
use flowday_local::triggers::declared_triggers;
use flowday_tests::{TestStack, template};
use http::StatusCode;

#[test]
fn every_function_serves_exactly_its_template_routes() {
    let template = template();
    let functions = template.resources_of_type("AWS::Serverless::Function");
    for function in HTTP_FUNCTIONS {
        let id = template
            .function_by_binary(function.binary)
            .unwrap_or_else(|| panic!("{} not in template.yaml", function.binary));
        let declared: BTreeSet<RouteKey> = template.routes_of(&id).into_iter().collect();
        let served: BTreeSet<RouteKey> = (function.paths)()
            .into_iter()
            .map(|route| RouteKey { method: route.method.to_string(), path: route.path.to_string() })
            .collect();
        let missing: Vec<_> = declared.difference(&served).collect();
        let undeclared: Vec<_> = served.difference(&declared).collect();
        assert!(missing.is_empty(), "{}: in template.yaml but not served: {missing:?}", function.binary);
        assert!(undeclared.is_empty(), "{}: served but not in template.yaml: {undeclared:?}", function.binary);
    }
    let with_routes = functions.iter().filter(|(id, _)| !template.routes_of(id).is_empty()).count();
    assert_eq!(with_routes, HTTP_FUNCTIONS.len(), "every function with HTTP routes is served by the gateway");
    // The local gateway's own routes are never deployed.
    for (id, _) in &functions {
        let local: Vec<_> =
            template.routes_of(id).into_iter().filter(|route| route.path.starts_with("/_local/")).collect();
        assert!(local.is_empty(), "{id}: /_local/ routes exist only in the local gateway: {local:?}");
    }
}

/// Every background function of template.yaml runs locally, on the trigger the template gives it.
#[test]
fn every_background_function_runs_locally_on_its_template_trigger() {
    let template = template();
    let background: Vec<String> = template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .filter(|(id, _)| template.routes_of(id).is_empty())
        .map(|(id, _)| id)
        .collect();
    for function in BACKGROUND_FUNCTIONS {
        let id = template
            .function_by_binary(function.binary)
            .unwrap_or_else(|| panic!("{} not in template.yaml", function.binary));
        let declared = declared_triggers(&template, &id).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(declared, [function.trigger.declared()], "{}: template.yaml's trigger", function.binary);
    }
    assert_eq!(background.len(), BACKGROUND_FUNCTIONS.len(), "every background function is registered: {background:?}");
}

/// Each declared route reaches a handler: the router does not answer route_not_found or
/// method_not_allowed for it.
#[tokio::test]
async fn every_template_route_reaches_a_handler() {
    let stack = TestStack::new().await;
    let template = template();
    for function in HTTP_FUNCTIONS {
        let id = template.function_by_binary(function.binary).unwrap();
        for route in template.routes_of(&id) {
            let path = route.path.replace("{id}", &ulid::Ulid::new().to_string());
            let method = route.method.parse().unwrap();
            let response = stack.call(method, &path, None, None).await;
            assert_ne!(response.body["code"], "route_not_found", "{route}");
            assert_ne!(response.status, StatusCode::METHOD_NOT_ALLOWED, "{route}");
        }
    }
}

/// A default deployment's rate-limit budgets are the plan table's (`domain::plan`), which
/// `GET /v1/billing/plans` shows: the template's parameters override them only when a deployer
/// chooses to.
#[test]
fn the_templates_default_rate_limits_are_the_plan_tables() {
    use shared::domain::account::Tier;
    let defaults = template().parameter_defaults();
    for (parameter, tier) in [
        ("RateLimitFreePerMinute", Tier::Free),
        ("RateLimitProPerMinute", Tier::Pro),
        ("RateLimitTeamPerMinute", Tier::Team),
    ] {
        let default: u32 = defaults[parameter].parse().unwrap();
        assert_eq!(default, shared::domain::plan::limits(tier).requests_per_minute, "{parameter}");
    }
}
