//! What every route's OpenAPI description shares: the problem+json body, the sets of problems a
//! route can answer, and the bearer scheme. Each function crate describes its own routes with
//! `#[utoipa::path]` next to the handlers; `infra/local` merges them into docs/openapi.json, which
//! api-auth serves at `GET /v1/openapi.json`.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::{RefOr, Response, ResponseBuilder, ResponsesBuilder};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

use super::FieldError;

/// RFC 9457 problem details, as every 4xx and 5xx answer carries them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:flowday:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// A stable snake_case code: `validation_failed`, `not_found`, `version_conflict`, ...
    pub code: String,
    pub request_id: Option<String>,
    /// On 422 `validation_failed` (and 400 `invalid_recurrence`): every field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// On 412 `version_conflict`: the object as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub current: Option<serde_json::Value>,
    /// On 403 `limit_reached`: which limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// On 403 `limit_reached`: how many the plan allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<u64>,
    /// On 403 `limit_reached`: the tier whose plan lifts the limit, null when none does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_to: Option<crate::domain::account::Tier>,
    /// On 403 `limit_reached` and `plan_required`: the plans that give that tier (what
    /// `POST /v1/billing/checkout {plan}` takes), empty when none does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_plans: Option<Vec<crate::domain::billing::PlanId>>,
    /// On 402 `insufficient_credits`: how many the job needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needed: Option<u64>,
    /// On 402 `insufficient_credits`: the balance per kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<crate::domain::credits::Amounts>,
}

fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

fn responses(entries: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    let mut builder = ResponsesBuilder::new();
    for (status, description) in entries {
        builder = builder.response(*status, problem(description));
    }
    builder.build().into()
}

/// What any route can answer: a bad request (malformed JSON, a cursor or If-Match this API did
/// not give), an invalid one (422, each field named), a body too large or not JSON, a failure.
pub struct RequestProblems;

impl IntoResponses for RequestProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            ("400", "Malformed: JSON, cursor, If-Match or Idempotency-Key (`code` says which)"),
            ("413", "payload_too_large: the body is over 1 MB"),
            ("415", "unsupported_media_type: the body is not application/json"),
            ("422", "validation_failed: `errors` names every field at fault, unknown names included"),
            (
                "429",
                "rate_limited: over the budget of this user or address per minute; `Retry-After` says when to try again",
            ),
            ("500", "internal_error: nothing internal is told; the request id finds it in the logs"),
        ])
    }
}

/// What a route of a signed-in caller adds: no or a bad token, an object that is not the caller's.
pub struct CallerProblems;

impl IntoResponses for CallerProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            ("401", "unauthenticated, invalid_token, or session_ended (the token's session was ended)"),
            ("404", "not_found: no such object, or another user's"),
        ])
    }
}

/// What a write adds: a tier limit, a conflict, a stale If-Match, a key still in flight.
pub struct WriteProblems;

impl IntoResponses for WriteProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                "403",
                "limit_reached: `limit` names the tier's limit, `upgrade_to` the tier that lifts it, `upgrade_plans` the plans that give it",
            ),
            ("409", "A conflict (`code` says which), or idempotency_in_progress"),
            ("412", "version_conflict: If-Match is stale; `current` holds the object as it is now"),
        ])
    }
}

/// The bearer scheme of access tokens, and the document's title.
pub struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        // The problem sets refer to these by name.
        components.schemas.insert("Problem".into(), Problem::schema());
        components.schemas.insert("FieldError".into(), FieldError::schema());
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The `{id}` of a task's routes, described once for the document.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TaskIdParam {
    /// The task's id.
    pub id: String,
}

/// The `{id}` of a calendar event's routes, described once for the document.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EventIdParam {
    /// The event's id.
    pub id: String,
}

/// The `If-Match` header of a conditional write, described once for the document.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchParam {
    /// The ETag read: refused with 412 if it is stale (without it, the write is unconditional).
    #[serde(rename = "If-Match")]
    pub if_match: Option<String>,
}
