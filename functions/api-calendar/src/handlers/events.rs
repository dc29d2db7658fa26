//! `GET/POST /v1/calendar/events`, `GET/PATCH/DELETE /v1/calendar/events/{id}`.
//!
//! The listing answers occurrences in a range (at most 62 days), own and synced events alike. A
//! PATCH or DELETE with `?occurrence_id=` changes or cancels one occurrence of a repeating event
//! (as RECURRENCE-ID does in iCalendar); without it, the whole event.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::domain::calendar::{Event, EventFields, Occurrence, OccurrenceChange, Source, When, check_range};
use shared::http::concurrency::{check_if_match, created, if_match_version, with_etag};
use shared::http::openapi::{CallerProblems, EventIdParam, IfMatchParam, Problem, RequestProblems, WriteProblems};
use shared::http::pagination::Page;
use shared::http::{ApiError, ApiJson, ApiPath, ApiQuery, CurrentUser, Id, caller_limits};
use shared::store::Tenant;

/// The range of a listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// The start of the range, an RFC 3339 instant (required).
    #[param(value_type = String, format = DateTime)]
    from: Option<String>,
    /// The end of the range (exclusive), at most 62 days after `from` (required).
    #[param(value_type = String, format = DateTime)]
    to: Option<String>,
}

/// Which occurrence of a repeating event a change is for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OccurrenceQuery {
    /// One occurrence only: its original start (an instant, or a date for all-day events), as a
    /// listing names it.
    occurrence_id: Option<String>,
}

/// One occurrence in a range (api.md's occurrence shape).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OccurrenceView {
    event_id: String,
    /// Its original start: what `?occurrence_id=` names.
    occurrence_id: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_date: Option<NaiveDate>,
    busy: bool,
    source: Source,
    recurring: bool,
}

fn view(occurrence: Occurrence) -> OccurrenceView {
    let (start_at, end_at, start_date, end_date) = match occurrence.when {
        When::Timed { start, end } => (Some(start), Some(end), None, None),
        When::AllDay { start, end } => (None, None, Some(start), Some(end)),
    };
    OccurrenceView {
        event_id: occurrence.event_id,
        occurrence_id: occurrence.occurrence_id,
        title: occurrence.title,
        start_at,
        end_at,
        start_date,
        end_date,
        busy: occurrence.busy,
        source: occurrence.source,
        recurring: occurrence.recurring,
    }
}

fn instant(violations: &mut Violations, field: &str, value: Option<&str>) -> Option<DateTime<Utc>> {
    match value.map(DateTime::parse_from_rfc3339) {
        Some(Ok(at)) => Some(at.with_timezone(&Utc)),
        Some(Err(_)) => {
            violations.add(field, "must be an RFC 3339 instant such as 2026-12-07T00:00:00Z");
            None
        }
        None => {
            violations.add(field, "is required");
            None
        }
    }
}

/// Every occurrence of the caller's events (own and synced) that overlaps the range, by start.
#[utoipa::path(get, path = "/v1/calendar/events", tag = "calendar", params(RangeQuery),
    responses(
        (status = 200, description = "Every occurrence in the range (`next_cursor` is null)", body = Page<OccurrenceView>),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> Result<Json<Page<OccurrenceView>>, ApiError> {
    let mut violations = Violations::new();
    let from = instant(&mut violations, "from", query.from.as_deref());
    let to = instant(&mut violations, "to", query.to.as_deref());
    if let (Some(from), Some(to)) = (from, to) {
        violations.check("to", check_range(from, to));
    }
    let (from, to) = match (from, to) {
        (Some(from), Some(to)) if violations.is_empty() => (from, to),
        _ => return Err(violations.into()),
    };
    let events = app.store.events().events_between(&caller.tenant(), from, to).await?;
    // By start (all-day ones from their midnight in the event's zone), then by event.
    let mut occurrences: Vec<(DateTime<Utc>, Occurrence)> = events
        .iter()
        .flat_map(|event| {
            let zone = event.zone();
            event.occurrences_between(from, to).into_iter().map(move |found| (found.when.instants(zone).0, found))
        })
        .collect();
    occurrences.sort_by(|(a, first), (b, second)| a.cmp(b).then_with(|| first.event_id.cmp(&second.event_id)));
    Ok(Json(Page::whole(occurrences.into_iter().map(|(_, found)| view(found)).collect())))
}

/// Creates an own event.
#[utoipa::path(post, path = "/v1/calendar/events", tag = "calendar",
    request_body = EventFields,
    responses(
        (status = 201, description = "The event created", body = Event,
            headers(("ETag" = String, description = "The event's version"), ("Location" = String, description = "The event's URL"))),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiJson(fields): ApiJson<EventFields>,
) -> Result<Response, ApiError> {
    let event = Event::create(ulid::Ulid::new().to_string(), &fields, Utc::now()).map_err(ApiError::from)?;
    let limits = caller_limits(&app, &caller.user_id).await?;
    app.store.events().create_event(&caller.tenant(), &event, limits).await?;
    Ok(created(&format!("/v1/calendar/events/{}", event.id), &event))
}

async fn load_event(app: &Base, tenant: &Tenant, id: &str) -> Result<Event, ApiError> {
    app.store.events().get_event(tenant, id).await?.ok_or_else(ApiError::not_found)
}

/// The caller's own event, for a change: checked against `If-Match`. Synced events change at
/// their source only.
async fn load_for_change(app: &Base, tenant: &Tenant, id: &str, headers: &HeaderMap) -> Result<Event, ApiError> {
    let expected = if_match_version(headers)?;
    let event = load_event(app, tenant, id).await?;
    if event.source != Source::Flowday {
        return Err(ApiError::conflict("read_only_event", "a synced event changes in the calendar it comes from"));
    }
    check_if_match(expected, &event)?;
    Ok(event)
}

/// One event.
#[utoipa::path(get, path = "/v1/calendar/events/{id}", tag = "calendar", params(EventIdParam),
    responses(
        (status = 200, description = "The event", body = Event,
            headers(("ETag" = String, description = "The event's version"))),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn get(State(app): State<Base>, caller: CurrentUser, ApiPath(id): ApiPath<Id>) -> Result<Response, ApiError> {
    let event = load_event(&app, &caller.tenant(), &id).await?;
    Ok(with_etag(StatusCode::OK, &event, event.version))
}

/// Changes an own event, or with `?occurrence_id=` one occurrence of it (title, time, busy).
#[utoipa::path(patch, path = "/v1/calendar/events/{id}", tag = "calendar",
    request_body = EventFields,
    params(EventIdParam, OccurrenceQuery, IfMatchParam),
    responses(
        (status = 200, description = "The event as it is now", body = Event,
            headers(("ETag" = String, description = "The event's version"))),
        (status = 409, description = "read_only_event: a synced event changes at its source", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn patch(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    ApiQuery(query): ApiQuery<OccurrenceQuery>,
    headers: HeaderMap,
    ApiJson(fields): ApiJson<EventFields>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant();
    let before = load_for_change(&app, &tenant, &id, &headers).await?;
    let now = Utc::now();
    let (after, changes) = match &query.occurrence_id {
        None => before.apply(&fields, now).map_err(ApiError::from)?,
        Some(occurrence_id) => {
            let change = occurrence_change(&before, occurrence_id, &fields)?;
            let after = before.change_occurrence(change, now).map_err(ApiError::from)?;
            (after, vec![changed("occurrence")])
        }
    };
    if changes.is_empty() {
        return Ok(with_etag(StatusCode::OK, &before, before.version));
    }
    app.store.events().replace_event(&tenant, &before, &after, &changes).await?;
    Ok(with_etag(StatusCode::OK, &after, after.version))
}

fn changed(field: &str) -> shared::domain::task::FieldChange {
    shared::domain::task::FieldChange {
        field: field.into(),
        old: serde_json::Value::Null,
        new: serde_json::Value::Null,
    }
}

/// The change of one occurrence a PATCH asks for: only its title, time and busy flag.
fn occurrence_change(event: &Event, occurrence_id: &str, fields: &EventFields) -> Result<OccurrenceChange, ApiError> {
    if !event.has_occurrence(occurrence_id) {
        return Err(ApiError::not_found());
    }
    let mut violations = Violations::new();
    let whole_event_only = [
        ("description", fields.description.is_some()),
        ("location", fields.location.is_some()),
        ("timezone", fields.timezone.is_some()),
        ("rrule", fields.rrule.is_some()),
        ("exdates", fields.exdates.is_some()),
    ];
    for (field, _) in whole_event_only.iter().filter(|(_, sent)| *sent) {
        violations.add(*field, "belongs to the whole event: send it without occurrence_id");
    }
    let existing = event.changes.iter().find(|change| change.occurrence_id == occurrence_id);
    if existing.is_some_and(|change| change.cancelled) {
        return Err(ApiError::not_found());
    }
    let base = existing
        .cloned()
        .unwrap_or(OccurrenceChange { occurrence_id: occurrence_id.to_string(), ..OccurrenceChange::default() });
    let change = OccurrenceChange {
        title: match &fields.title {
            None => base.title.clone(),
            Some(title) => title.as_ref().map(|title| title.trim().to_string()),
        },
        start_at: pick(&fields.start_at, base.start_at),
        end_at: pick(&fields.end_at, base.end_at),
        start_date: pick(&fields.start_date, base.start_date),
        end_date: pick(&fields.end_date, base.end_date),
        busy: match fields.busy {
            None => base.busy,
            Some(busy) => busy,
        },
        ..base
    };
    violations.finish(change).map_err(ApiError::from)
}

/// `patch` applied to `current`: absent keeps it, null clears it.
fn pick<T: Copy>(patch: &Option<Option<T>>, current: Option<T>) -> Option<T> {
    match patch {
        None => current,
        Some(value) => *value,
    }
}

/// Moves an own event to the trash (restorable for 7 days with `POST /v1/trash/{id}/restore`), or
/// with `?occurrence_id=` cancels one occurrence of it.
#[utoipa::path(delete, path = "/v1/calendar/events/{id}", tag = "calendar",
    params(EventIdParam, OccurrenceQuery, IfMatchParam),
    responses(
        (status = 204, description = "Deleted (or the occurrence cancelled)"),
        (status = 409, description = "read_only_event: a synced event changes at its source", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems,
        WriteProblems
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
    ApiQuery(query): ApiQuery<OccurrenceQuery>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let tenant = caller.tenant();
    let event = load_for_change(&app, &tenant, &id, &headers).await?;
    let Some(occurrence_id) = &query.occurrence_id else {
        app.store.events().trash_event(&tenant, &event).await?;
        return Ok(StatusCode::NO_CONTENT);
    };
    if !event.has_occurrence(occurrence_id)
        || event.changes.iter().any(|change| change.occurrence_id == *occurrence_id && change.cancelled)
    {
        return Err(ApiError::not_found());
    }
    let cancel = OccurrenceChange::cancellation(occurrence_id);
    let after = event.change_occurrence(cancel, Utc::now()).map_err(ApiError::from)?;
    app.store.events().replace_event(&tenant, &event, &after, &[changed("occurrence")]).await?;
    Ok(StatusCode::NO_CONTENT)
}
