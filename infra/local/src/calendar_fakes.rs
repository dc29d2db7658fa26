//! Local fakes of Google Calendar (with Google's OAuth server) and Microsoft Graph (with the
//! Microsoft identity platform), each a wiremock server on loopback whose one responder reads and
//! changes a state behind a mutex. They speak the providers' own formats, so the real clients of
//! `integrations::calendars` run against them unchanged: the consent redirect, the token endpoint
//! with PKCE (S256) and single-use codes, bearer tokens on every API call, paged full syncs and
//! incremental syncs with their tokens, push channels and subscriptions, and the providers' errors.
//!
//! Tests drive them through their controls: `put_event`, `delete_event`, `revoke_grant`,
//! `expire_access_tokens`, `expire_sync_tokens` / `expire_delta_links`, `fail_next`, and read back
//! `channels()` / `subscriptions()`, `refreshes()` and `calls(..)`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use shared::integrations::calendars::Original;
use shared::integrations::calendars::google::GoogleConfig;
use shared::integrations::calendars::microsoft::MicrosoftConfig;

/// Access tokens live an hour at both providers.
const ACCESS_TOKEN_SECONDS: i64 = 3600;

// ---------------------------------------------------------------------------------------------
// Google

/// A fake Google: `accounts.google.com` (consent and token endpoint) and the Calendar API v3 on
/// one server, so `uri()` is both `oauth_base` and `api_base`. The account is `EMAIL`, whose
/// primary calendar (also reachable as `primary`) holds the events.
pub struct FakeGoogleCalendar {
    server: MockServer,
    state: Arc<Mutex<GoogleState>>,
}

/// A push channel as the fake Google holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeChannel {
    pub id: String,
    pub resource_id: String,
    pub calendar_id: String,
    pub address: String,
    /// The channel's `token` (sent back as `X-Goog-Channel-Token`).
    pub token: Option<String>,
    pub expiration: DateTime<Utc>,
}

impl FakeGoogleCalendar {
    pub const CLIENT_ID: &str = "flowday-test.apps.googleusercontent.com";
    pub const CLIENT_SECRET: &str = "GOCSPX-fake-client-secret";
    /// The account, and the id of its primary calendar.
    pub const EMAIL: &str = "ada@example.com";
    pub const TIME_ZONE: &str = "Europe/Berlin";

    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(GoogleState::default()));
        let responder = GoogleResponder { state: state.clone(), base: server.uri() };
        Mock::given(any()).respond_with(responder).mount(&server).await;
        FakeGoogleCalendar { server, state }
    }

    /// The base of both the OAuth server and the API.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The client's settings for this fake.
    pub fn config(&self) -> GoogleConfig {
        GoogleConfig {
            oauth_base: self.uri(),
            api_base: self.uri(),
            client_id: Self::CLIENT_ID.to_string(),
            client_secret: Self::CLIENT_SECRET.to_string(),
        }
    }

    /// The user revoked our access: every refresh token and access token issued so far is refused
    /// (a new consent still works, as it would at Google).
    pub fn revoke_grant(&self) {
        lock(&self.state).grants.revoke();
    }

    /// Every access token issued so far answers 401 until the client refreshes.
    pub fn expire_access_tokens(&self) {
        lock(&self.state).grants.expire_access_tokens();
    }

    /// How many refresh-token grants the token endpoint received (refused ones too).
    pub fn refreshes(&self) -> usize {
        lock(&self.state).grants.refreshes
    }

    /// Creates or replaces an event, given in Google's JSON (`id`, `summary`, `start`, `end`,
    /// `recurrence`, `recurringEventId` + `originalStartTime` for an exception, ...). The fake
    /// sets `kind`, `etag`, `updated` and a default `status`, and assigns an `id` when there is
    /// none. Returns the id.
    pub fn put_event(&self, event: Value) -> String {
        let mut state = lock(&self.state);
        let id = event["id"].as_str().map_or_else(|| random_token(""), str::to_string);
        state.store(&id, event);
        id
    }

    /// Cancels one occurrence of a series: an exception item with `status: cancelled`, as Google
    /// makes when the user deletes "this event" of a series. Returns the exception's id.
    pub fn cancel_occurrence(&self, series_id: &str, original: Original) -> String {
        let mut state = lock(&self.state);
        let (suffix, mut original_start) = match original {
            Original::At(at) => (
                at.format("%Y%m%dT%H%M%SZ").to_string(),
                json!({ "dateTime": at.to_rfc3339_opts(SecondsFormat::Secs, true) }),
            ),
            Original::Day(day) => (day.format("%Y%m%d").to_string(), json!({ "date": day.to_string() })),
        };
        // Google names the series' zone with a timed original start.
        let zone = state.events.get(series_id).map(|series| series.json["start"]["timeZone"].clone());
        if let (Original::At(_), Some(zone @ Value::String(_))) = (original, zone) {
            original_start["timeZone"] = zone;
        }
        let id = format!("{series_id}_{suffix}");
        let exception = json!({
            "id": id, "status": "cancelled", "recurringEventId": series_id, "originalStartTime": original_start,
        });
        state.store(&id, exception);
        id
    }

    /// Deletes an event (or a whole series): it stays as a cancelled item for incremental syncs.
    pub fn delete_event(&self, id: &str) {
        let mut state = lock(&self.state);
        assert!(state.events.contains_key(id), "the fake Google holds no event {id}");
        state.store(id, json!({ "id": id, "status": "cancelled" }));
    }

    /// Every sync token handed out so far answers 410 `fullSyncRequired`.
    pub fn expire_sync_tokens(&self) {
        let mut state = lock(&self.state);
        state.counter += 1;
        state.sync_tokens_valid_from = state.counter;
    }

    /// The next `times` API calls (not the OAuth endpoints) answer `status` in Google's error
    /// format, with `Retry-After: retry_after` when given. 403 and 429 say `rateLimitExceeded`.
    pub fn fail_next(&self, status: u16, retry_after: Option<u64>, times: usize) {
        lock(&self.state).failures = Failures { status, retry_after, remaining: times };
    }

    /// The live push channels.
    pub fn channels(&self) -> Vec<FakeChannel> {
        lock(&self.state).channels.clone()
    }

    /// How many requests so far contain `fragment` in `METHOD /path?query` (as sent, encoded),
    /// e.g. `calls("GET /calendar/v3/calendars/")`.
    pub fn calls(&self, fragment: &str) -> usize {
        lock(&self.state).log.iter().filter(|line| line.contains(fragment)).count()
    }

    /// Every request so far as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).log.clone()
    }
}

#[derive(Default)]
struct GoogleState {
    log: Vec<String>,
    grants: Grants,
    failures: Failures,
    /// By id, so pages can resume after the last id they sent.
    events: BTreeMap<String, Stored>,
    /// Bumped by every change; sync tokens carry it.
    counter: u64,
    /// Sync tokens from before this counter answer 410.
    sync_tokens_valid_from: u64,
    channels: Vec<FakeChannel>,
}

struct Stored {
    json: Value,
    /// The counter of its last change.
    changed: u64,
}

/// Where `events.list` goes on: in a `pageToken`, and (with `since` only) a `syncToken`.
#[derive(Serialize, Deserialize)]
struct GooglePosition {
    /// Changes after this counter (an incremental sync); `None` for a full sync.
    since: Option<u64>,
    /// Changes up to this counter: the sync's snapshot (later ones go to the next sync).
    upto: u64,
    /// The last id sent.
    after: Option<String>,
    show_deleted: bool,
}

impl GoogleState {
    fn store(&mut self, id: &str, mut event: Value) {
        self.counter += 1;
        event["kind"] = json!("calendar#event");
        event["id"] = json!(id);
        event["etag"] = json!(format!("\"{}\"", self.counter));
        if event["status"].is_null() {
            event["status"] = json!("confirmed");
        }
        if event["status"] != "cancelled" {
            event["updated"] = json!(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        self.events.insert(id.to_string(), Stored { json: event, changed: self.counter });
    }

    fn authorize(&mut self, request: &Request) -> ResponseTemplate {
        let query = query_of(request);
        let field = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
        let problem = if field("client_id") != FakeGoogleCalendar::CLIENT_ID {
            Some("invalid_client: The OAuth client was not found.")
        } else if field("response_type") != "code" {
            Some("unsupported_response_type")
        } else if field("code_challenge_method") != "S256" || field("code_challenge").is_empty() {
            Some("invalid_request: PKCE with S256 is required.")
        } else if !field("scope").split(' ').any(|scope| scope == "https://www.googleapis.com/auth/calendar.readonly") {
            Some("invalid_scope: the calendar scope is missing.")
        } else if field("access_type") != "offline" {
            Some("invalid_request: access_type=offline is needed for a refresh token.")
        } else {
            None
        };
        if let Some(problem) = problem {
            return error_page(problem);
        }
        let code = self.grants.issue_code(field("code_challenge"), field("redirect_uri"));
        consent_redirect(
            request,
            field("redirect_uri"),
            &[("state", field("state")), ("code", &code), ("scope", field("scope"))],
        )
    }

    fn token(&mut self, request: &Request) -> ResponseTemplate {
        let form = form_of(request);
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        if field("client_id") != FakeGoogleCalendar::CLIENT_ID
            || field("client_secret") != FakeGoogleCalendar::CLIENT_SECRET
        {
            return oauth_error(401, json!({ "error": "invalid_client", "error_description": "Unauthorized" }));
        }
        let granted_scope =
            "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/calendar.readonly";
        match field("grant_type") {
            "authorization_code" => {
                match self.grants.redeem(field("code"), field("code_verifier"), field("redirect_uri")) {
                    Ok(()) => ResponseTemplate::new(200).set_body_json(json!({
                        "access_token": self.grants.issue_access_token(),
                        "expires_in": 3599,
                        "refresh_token": self.grants.issue_refresh_token(),
                        "scope": granted_scope,
                        "token_type": "Bearer",
                    })),
                    Err(Refusal::RedirectMismatch) => oauth_error(
                        400,
                        json!({ "error": "redirect_uri_mismatch", "error_description": "Bad Request" }),
                    ),
                    Err(refusal) => {
                        let description = match refusal {
                            Refusal::UnknownCode => "Malformed auth code.",
                            Refusal::VerifierMismatch => "Invalid code verifier.",
                            _ => "Bad Request",
                        };
                        oauth_error(400, json!({ "error": "invalid_grant", "error_description": description }))
                    }
                }
            }
            // Google keeps the refresh token: the answer has none.
            "refresh_token" => match self.grants.refresh(field("refresh_token"), false) {
                Ok(_) => ResponseTemplate::new(200).set_body_json(json!({
                    "access_token": self.grants.issue_access_token(),
                    "expires_in": 3599,
                    "scope": granted_scope,
                    "token_type": "Bearer",
                })),
                Err(_) => oauth_error(
                    400,
                    json!({ "error": "invalid_grant", "error_description": "Token has been expired or revoked." }),
                ),
            },
            other => {
                let description = format!("Invalid grant_type: {other}");
                oauth_error(400, json!({ "error": "unsupported_grant_type", "error_description": description }))
            }
        }
    }

    fn api(&mut self, request: &Request, base: &str) -> ResponseTemplate {
        if let Some((status, retry_after)) = self.failures.take() {
            return google_failure(status, retry_after);
        }
        if !bearer_of(request).is_some_and(|token| self.grants.is_live(token)) {
            return google_error(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            );
        }
        let segments = path_segments(request, "/calendar/v3/");
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["calendars", calendar]) if is_own_calendar(calendar) => self.calendar(),
            ("GET", ["calendars", calendar, "events"]) if is_own_calendar(calendar) => self.list(request),
            ("POST", ["calendars", calendar, "events", "watch"]) if is_own_calendar(calendar) => {
                self.watch(request, base)
            }
            ("POST", ["channels", "stop"]) => self.stop(request),
            _ => google_error(404, "notFound", "Not Found"),
        }
    }

    fn calendar(&self) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "kind": "calendar#calendar",
            "etag": "\"fake-calendar\"",
            "id": FakeGoogleCalendar::EMAIL,
            "summary": FakeGoogleCalendar::EMAIL,
            "timeZone": FakeGoogleCalendar::TIME_ZONE,
            "conferenceProperties": { "allowedConferenceSolutionTypes": ["hangoutsMeet"] },
        }))
    }

    fn list(&self, request: &Request) -> ResponseTemplate {
        let query = query_of(request);
        let page_size =
            query.get("maxResults").and_then(|size| size.parse::<usize>().ok()).unwrap_or(250).clamp(1, 2500);
        let position = if let Some(token) = query.get("pageToken") {
            match decode_token::<GooglePosition>(token) {
                Some(position) => position,
                None => return google_error(400, "invalid", "Invalid Value"),
            }
        } else if let Some(token) = query.get("syncToken") {
            match decode_token::<u64>(token) {
                Some(since) => {
                    GooglePosition { since: Some(since), upto: self.counter, after: None, show_deleted: true }
                }
                None => return google_error(400, "invalid", "Invalid sync token value."),
            }
        } else {
            let show_deleted = query.get("showDeleted").is_some_and(|value| value == "true");
            GooglePosition { since: None, upto: self.counter, after: None, show_deleted }
        };
        if position.since.is_some_and(|since| since < self.sync_tokens_valid_from) {
            return google_error(410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.");
        }
        let after = position.after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
        let mut matching = self
            .events
            .range::<String, _>((after, Bound::Unbounded))
            .filter(|(_, stored)| stored.changed <= position.upto)
            .filter(|(_, stored)| match position.since {
                Some(since) => stored.changed > since,
                // Without showDeleted a full sync leaves out deleted events, but not the
                // cancelled occurrences of a series.
                None => {
                    position.show_deleted
                        || stored.json["status"] != "cancelled"
                        || !stored.json["recurringEventId"].is_null()
                }
            });
        let items: Vec<Value> = matching.by_ref().take(page_size).map(|(_, stored)| stored.json.clone()).collect();
        let mut page = json!({
            "kind": "calendar#events",
            "etag": format!("\"{}\"", self.counter),
            "summary": FakeGoogleCalendar::EMAIL,
            "updated": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "timeZone": FakeGoogleCalendar::TIME_ZONE,
            "accessRole": "owner",
            "defaultReminders": [],
            "items": items,
        });
        if matching.next().is_some() {
            let last = items.last().and_then(|item| item["id"].as_str()).map(str::to_string);
            page["nextPageToken"] = json!(encode_token(&GooglePosition { after: last, ..position }));
        } else {
            page["nextSyncToken"] = json!(encode_token(&position.upto));
        }
        ResponseTemplate::new(200).set_body_json(page)
    }

    fn watch(&mut self, request: &Request, base: &str) -> ResponseTemplate {
        let Ok(body) = request.body_json::<Value>() else {
            return google_error(400, "parseError", "Parse Error");
        };
        let (Some(id), Some(address)) = (body["id"].as_str(), body["address"].as_str()) else {
            return google_error(400, "required", "Required");
        };
        if body["type"] != "web_hook" {
            return google_error(400, "invalid", "Invalid value for: type");
        }
        if self.channels.iter().any(|channel| channel.id == id) {
            return google_error(400, "channelIdNotUnique", "Channel id not unique");
        }
        let ttl = body["params"]["ttl"].as_str().and_then(|ttl| ttl.parse::<i64>().ok()).unwrap_or(604_800);
        let channel = FakeChannel {
            id: id.to_string(),
            resource_id: random_token("res-"),
            calendar_id: FakeGoogleCalendar::EMAIL.to_string(),
            address: address.to_string(),
            token: body["token"].as_str().map(str::to_string),
            expiration: Utc::now() + Duration::seconds(ttl),
        };
        let mut answer = json!({
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": format!("{base}/calendar/v3/calendars/{}/events?alt=json", channel.calendar_id),
            "expiration": channel.expiration.timestamp_millis().to_string(),
        });
        if let Some(token) = &channel.token {
            answer["token"] = json!(token);
        }
        self.channels.push(channel);
        ResponseTemplate::new(200).set_body_json(answer)
    }

    fn stop(&mut self, request: &Request) -> ResponseTemplate {
        let body = request.body_json::<Value>().unwrap_or_default();
        let id = body["id"].as_str().unwrap_or_default();
        let resource_id = body["resourceId"].as_str().unwrap_or_default();
        let before = self.channels.len();
        self.channels.retain(|channel| !(channel.id == id && channel.resource_id == resource_id));
        if self.channels.len() == before {
            return google_error(404, "notFound", &format!("Channel '{id}' not found for project 'flowday-test'"));
        }
        ResponseTemplate::new(204)
    }
}

struct GoogleResponder {
    state: Arc<Mutex<GoogleState>>,
    base: String,
}

impl Respond for GoogleResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        state.log.push(log_line(request));
        match (request.method.as_str(), request.url.path()) {
            ("GET", "/o/oauth2/v2/auth") => state.authorize(request),
            ("POST", "/o/oauth2/token") => state.token(request),
            (_, path) if path.starts_with("/calendar/v3/") => state.api(request, &self.base),
            _ => google_error(404, "notFound", "Not Found"),
        }
    }
}

fn is_own_calendar(calendar_id: &str) -> bool {
    calendar_id == "primary" || calendar_id == FakeGoogleCalendar::EMAIL
}

/// Google's API error: `{"error":{"code","message","errors":[{"domain","reason","message"}]}}`.
fn google_error(status: u16, reason: &str, message: &str) -> ResponseTemplate {
    let domain = if reason.contains("RateLimit") || reason == "rateLimitExceeded" { "usageLimits" } else { "global" };
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {
            "code": status,
            "message": message,
            "errors": [{ "domain": domain, "reason": reason, "message": message }],
        }
    }))
}

fn google_failure(status: u16, retry_after: Option<u64>) -> ResponseTemplate {
    let (reason, message) = match status {
        403 | 429 => ("rateLimitExceeded", "Rate Limit Exceeded"),
        503 => ("backendError", "The service is currently unavailable."),
        _ => ("backendError", "Backend Error"),
    };
    with_retry_after(google_error(status, reason, message), retry_after)
}

// ---------------------------------------------------------------------------------------------
// Microsoft Graph

/// A fake Microsoft: the identity platform (`login_base()`, any tenant) and Graph v1.0
/// (`graph_base()`, with its `/v1.0`) on one server. The account's mail is `EMAIL` and its
/// default calendar `CALENDAR_ID`; events are stored as the instances `calendarView/delta` lists,
/// in Graph's JSON with UTC times.
///
/// Unlike the real Graph, creating a subscription does not POST a validation request to its
/// `notificationUrl` (tests have no public webhook to answer it); the subscription is simply made.
pub struct FakeGraph {
    server: MockServer,
    state: Arc<Mutex<GraphState>>,
}

/// A subscription as the fake Graph holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSubscription {
    pub id: String,
    pub resource: String,
    pub change_type: String,
    pub client_state: Option<String>,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub expiration: DateTime<Utc>,
}

impl FakeGraph {
    pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
    pub const CLIENT_SECRET: &str = "fake~graph~client~secret";
    /// The user's `mail`.
    pub const EMAIL: &str = "ada@contoso.com";
    /// The user's `userPrincipalName` (the address when `mail` is empty).
    pub const USER_PRINCIPAL_NAME: &str = "ada_contoso.com#EXT#@fabrikam.onmicrosoft.com";
    /// The id of the default calendar.
    pub const CALENDAR_ID: &str = "AAMkAGI2TGuLAAA=";
    /// Graph's upper bound for an event subscription's lifetime.
    pub const MAX_SUBSCRIPTION_MINUTES: i64 = 10_080;

    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = GraphState { mail: Some(Self::EMAIL.to_string()), ..GraphState::default() };
        let state = Arc::new(Mutex::new(state));
        let responder = GraphResponder { state: state.clone(), graph_base: format!("{}/v1.0", server.uri()) };
        Mock::given(any()).respond_with(responder).mount(&server).await;
        FakeGraph { server, state }
    }

    /// The server's root.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The client's `login_base`.
    pub fn login_base(&self) -> String {
        self.uri()
    }

    /// The client's `graph_base`: the root with `/v1.0`, like the real one.
    pub fn graph_base(&self) -> String {
        format!("{}/v1.0", self.uri())
    }

    /// The client's settings for this fake (tenant `common`).
    pub fn config(&self) -> MicrosoftConfig {
        MicrosoftConfig {
            login_base: self.login_base(),
            graph_base: self.graph_base(),
            tenant: "common".to_string(),
            client_id: Self::CLIENT_ID.to_string(),
            client_secret: Self::CLIENT_SECRET.to_string(),
        }
    }

    /// The user's `mail` (`None`: null, as for some personal accounts).
    pub fn set_mail(&self, mail: Option<&str>) {
        lock(&self.state).mail = mail.map(str::to_string);
    }

    /// The user revoked our access: every refresh token and access token issued so far is refused
    /// (a new consent still works).
    pub fn revoke_grant(&self) {
        lock(&self.state).grants.revoke();
    }

    /// Every access token issued so far answers 401 until the client refreshes.
    pub fn expire_access_tokens(&self) {
        lock(&self.state).grants.expire_access_tokens();
    }

    /// How many refresh-token grants the token endpoint received (refused ones too).
    pub fn refreshes(&self) -> usize {
        lock(&self.state).grants.refreshes
    }

    /// Creates or replaces an event instance, given in Graph's JSON (`id`, `subject`, `start`,
    /// `end`, `isAllDay`, `showAs`, `isCancelled`, ...). Times are UTC: `dateTime` with an offset
    /// or `Z` is converted, without one it is taken as UTC; they are stored with seven fractional
    /// digits and `timeZone: UTC`. The fake sets `@odata.etag`, `changeKey`,
    /// `lastModifiedDateTime` and defaults, and assigns an `id` when there is none. Returns the id.
    pub fn put_event(&self, event: Value) -> String {
        let mut state = lock(&self.state);
        let id = event["id"].as_str().map_or_else(|| random_token("AAMkAGI2TG"), str::to_string);
        let event = graph_event(&id, event, state.counter + 1);
        state.store(&id, Some(event));
        id
    }

    /// Deletes an event: incremental syncs report it `@removed`.
    pub fn delete_event(&self, id: &str) {
        let mut state = lock(&self.state);
        assert!(state.events.contains_key(id), "the fake Graph holds no event {id}");
        state.store(id, None);
    }

    /// Every deltaLink and nextLink handed out so far answers 410 `SyncStateNotFound`.
    pub fn expire_delta_links(&self) {
        let mut state = lock(&self.state);
        state.counter += 1;
        state.links_valid_from = state.counter;
    }

    /// The next `times` Graph calls (not the identity platform) answer `status` in Graph's error
    /// format, with `Retry-After: retry_after` when given.
    pub fn fail_next(&self, status: u16, retry_after: Option<u64>, times: usize) {
        lock(&self.state).failures = Failures { status, retry_after, remaining: times };
    }

    /// The live subscriptions.
    pub fn subscriptions(&self) -> Vec<FakeSubscription> {
        lock(&self.state).subscriptions.clone()
    }

    /// How many requests so far contain `fragment` in `METHOD /path?query` (as sent, encoded),
    /// e.g. `calls("/me/calendarView/delta")`.
    pub fn calls(&self, fragment: &str) -> usize {
        lock(&self.state).log.iter().filter(|line| line.contains(fragment)).count()
    }

    /// Every request so far as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).log.clone()
    }
}

#[derive(Default)]
struct GraphState {
    log: Vec<String>,
    grants: Grants,
    failures: Failures,
    mail: Option<String>,
    /// By id, so pages can resume after the last id they sent; `None` once deleted.
    events: BTreeMap<String, GraphStored>,
    /// Bumped by every change; links carry it.
    counter: u64,
    /// Links from before this counter answer 410.
    links_valid_from: u64,
    subscriptions: Vec<FakeSubscription>,
}

struct GraphStored {
    event: Option<Value>,
    changed: u64,
}

/// Where a delta goes on: in a `$skiptoken`, and (with `since` only) a `$deltatoken`. Both keep
/// the window of the first request, as Graph's do.
#[derive(Clone, Serialize, Deserialize)]
struct GraphPosition {
    since: Option<u64>,
    upto: u64,
    after: Option<String>,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
}

impl GraphState {
    fn store(&mut self, id: &str, event: Option<Value>) {
        self.counter += 1;
        self.events.insert(id.to_string(), GraphStored { event, changed: self.counter });
    }

    fn authorize(&mut self, request: &Request) -> ResponseTemplate {
        let query = query_of(request);
        let field = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
        let scopes: HashSet<&str> = field("scope").split(' ').collect();
        let problem = if field("client_id") != FakeGraph::CLIENT_ID {
            Some("AADSTS700016: Application not found in the directory.")
        } else if field("response_type") != "code" {
            Some("AADSTS900144: The request body must contain the following parameter: 'response_type'.")
        } else if field("code_challenge_method") != "S256" || field("code_challenge").is_empty() {
            Some("AADSTS9002325: Proof Key for Code Exchange is required.")
        } else if !["offline_access", "Calendars.Read"].iter().all(|scope| scopes.contains(scope)) {
            Some("AADSTS70011: The provided value for the input parameter 'scope' is not valid.")
        } else {
            None
        };
        if let Some(problem) = problem {
            return error_page(problem);
        }
        let code = self.grants.issue_code(field("code_challenge"), field("redirect_uri"));
        let session_state = guid();
        consent_redirect(
            request,
            field("redirect_uri"),
            &[("code", &code), ("state", field("state")), ("session_state", &session_state)],
        )
    }

    fn token(&mut self, request: &Request) -> ResponseTemplate {
        let form = form_of(request);
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        if field("client_id") != FakeGraph::CLIENT_ID || field("client_secret") != FakeGraph::CLIENT_SECRET {
            return microsoft_oauth_error(401, "invalid_client", 7_000_215, "Invalid client secret provided.");
        }
        let issued = match field("grant_type") {
            "authorization_code" => self.grants.redeem(field("code"), field("code_verifier"), field("redirect_uri")),
            // Microsoft rotates: the old refresh token is spent.
            "refresh_token" => self.grants.refresh(field("refresh_token"), true).map(|_| ()),
            _ => {
                return microsoft_oauth_error(
                    400,
                    "unsupported_grant_type",
                    70_003,
                    "The app requested an unsupported grant type.",
                );
            }
        };
        if let Err(refusal) = issued {
            let (code, text) = match refusal {
                Refusal::UnknownCode => (70_000, "The provided value for the 'code' parameter is not valid."),
                Refusal::CodeRedeemed => {
                    (54_005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code.")
                }
                Refusal::RedirectMismatch => (
                    500_112,
                    "The reply address does not match the reply address provided when requesting Authorization code.",
                ),
                Refusal::VerifierMismatch => (
                    501_481,
                    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                ),
                Refusal::UnknownRefreshToken => {
                    (70_008, "The provided authorization code or refresh token has expired due to inactivity.")
                }
                Refusal::Revoked => {
                    (50_173, "The provided grant has expired due to it being revoked, a fresh auth token is needed.")
                }
            };
            return microsoft_oauth_error(400, "invalid_grant", code, text);
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer",
            "scope": "Calendars.Read User.Read profile openid email",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "ext_expires_in": ACCESS_TOKEN_SECONDS,
            "access_token": self.grants.issue_access_token(),
            "refresh_token": self.grants.issue_refresh_token(),
        }))
    }

    fn api(&mut self, request: &Request, graph_base: &str) -> ResponseTemplate {
        if let Some((status, retry_after)) = self.failures.take() {
            return graph_failure(status, retry_after);
        }
        if !bearer_of(request).is_some_and(|token| self.grants.is_live(token)) {
            return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
        }
        let segments = path_segments(request, "/v1.0/");
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["me"]) => self.me(graph_base),
            ("GET", ["me", "calendar"]) => ResponseTemplate::new(200).set_body_json(json!({
                "@odata.context": format!("{graph_base}/$metadata#users('ada')/calendar(id)/$entity"),
                "id": FakeGraph::CALENDAR_ID,
            })),
            ("GET", ["me", "calendarView", "delta"]) => self.delta(request, graph_base),
            ("POST", ["subscriptions"]) => self.subscribe(request, graph_base),
            ("PATCH", ["subscriptions", id]) => self.renew(request, id, graph_base),
            ("DELETE", ["subscriptions", id]) => self.unsubscribe(id),
            _ => graph_error(400, "BadRequest", "Resource not found for the segment."),
        }
    }

    fn me(&self, graph_base: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": format!("{graph_base}/$metadata#users(mail,userPrincipalName)/$entity"),
            "mail": self.mail,
            "userPrincipalName": FakeGraph::USER_PRINCIPAL_NAME,
        }))
    }

    fn delta(&self, request: &Request, graph_base: &str) -> ResponseTemplate {
        let query = query_of(request);
        let position = if let Some(token) = query.get("$skiptoken") {
            decode_token::<GraphPosition>(token)
        } else if let Some(token) = query.get("$deltatoken") {
            decode_token::<GraphPosition>(token).map(|position| GraphPosition { upto: self.counter, ..position })
        } else {
            let window = |name: &str| query.get(name).and_then(|value| DateTime::parse_from_rfc3339(value).ok());
            match (window("startDateTime"), window("endDateTime")) {
                (Some(start), Some(end)) => Some(GraphPosition {
                    since: None,
                    upto: self.counter,
                    after: None,
                    window_start: start.with_timezone(&Utc),
                    window_end: end.with_timezone(&Utc),
                }),
                _ => {
                    return graph_error(
                        400,
                        "ErrorInvalidParameter",
                        "This request requires a time window: startDateTime and endDateTime.",
                    );
                }
            }
        };
        let Some(position) = position else {
            return graph_error(400, "ErrorInvalidUrlQuery", "The skip or delta token is not valid.");
        };
        // A skiptoken of a full sync has no `since`: its snapshot counter is checked instead.
        if position.since.unwrap_or(position.upto) < self.links_valid_from {
            return graph_error(
                410,
                "SyncStateNotFound",
                "The sync state generation is not found. Please perform a full sync.",
            );
        }
        let after = position.after.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
        let in_window = |event: &Value| graph_overlaps(event, position.window_start, position.window_end);
        let mut matching = self
            .events
            .range::<String, _>((after, Bound::Unbounded))
            .filter(|(_, stored)| stored.changed <= position.upto)
            .filter_map(|(id, stored)| match (position.since, &stored.event) {
                (None, Some(event)) => in_window(event).then(|| graph_listed(event)),
                (None, None) => None,
                (Some(since), _) if stored.changed <= since => None,
                // Changed since the last sync: as it is, or removed when deleted or moved out of the window.
                (Some(_), Some(event)) if in_window(event) => Some(graph_listed(event)),
                (Some(_), _) => Some(json!({
                    "@odata.type": "#microsoft.graph.event", "id": id, "@removed": { "reason": "deleted" },
                })),
            })
            .peekable();
        let page_size = prefer_page_size(request).unwrap_or(10);
        let mut value = Vec::new();
        while value.len() < page_size {
            let Some(item) = matching.next() else { break };
            value.push(item);
        }
        let more = matching.peek().is_some();
        let mut page = json!({ "@odata.context": format!("{graph_base}/$metadata#Collection(event)"), "value": value });
        if more {
            let last = value.last().and_then(|item| item["id"].as_str()).map(str::to_string);
            let token = encode_token(&GraphPosition { after: last, ..position });
            page["@odata.nextLink"] = json!(format!("{graph_base}/me/calendarView/delta?$skiptoken={token}"));
        } else {
            let token = encode_token(&GraphPosition { since: Some(position.upto), after: None, ..position });
            page["@odata.deltaLink"] = json!(format!("{graph_base}/me/calendarView/delta?$deltatoken={token}"));
        }
        ResponseTemplate::new(200).set_body_json(page)
    }

    fn subscribe(&mut self, request: &Request, graph_base: &str) -> ResponseTemplate {
        let Ok(body) = request.body_json::<Value>() else {
            return graph_error(400, "BadRequest", "Unable to read JSON request payload.");
        };
        let text = |name: &str| body[name].as_str().filter(|value| !value.is_empty()).map(str::to_string);
        let (Some(change_type), Some(notification_url), Some(resource)) =
            (text("changeType"), text("notificationUrl"), text("resource"))
        else {
            return graph_error(400, "InvalidRequest", "changeType, notificationUrl and resource are required.");
        };
        let expiration = match subscription_expiration(&body) {
            Ok(expiration) => expiration,
            Err(refusal) => return graph_error(400, "InvalidRequest", refusal),
        };
        let subscription = FakeSubscription {
            id: guid(),
            resource,
            change_type,
            client_state: text("clientState"),
            notification_url,
            lifecycle_notification_url: text("lifecycleNotificationUrl"),
            expiration,
        };
        let answer = subscription_json(&subscription, graph_base);
        self.subscriptions.push(subscription);
        ResponseTemplate::new(201).set_body_json(answer)
    }

    fn renew(&mut self, request: &Request, id: &str, graph_base: &str) -> ResponseTemplate {
        let body = request.body_json::<Value>().unwrap_or_default();
        let Some(subscription) = self.subscriptions.iter_mut().find(|subscription| subscription.id == id) else {
            return graph_error(404, "ResourceNotFound", &format!("The object was not found: subscription {id}."));
        };
        match subscription_expiration(&body) {
            Ok(expiration) => subscription.expiration = expiration,
            Err(refusal) => return graph_error(400, "InvalidRequest", refusal),
        }
        ResponseTemplate::new(200).set_body_json(subscription_json(subscription, graph_base))
    }

    fn unsubscribe(&mut self, id: &str) -> ResponseTemplate {
        let before = self.subscriptions.len();
        self.subscriptions.retain(|subscription| subscription.id != id);
        if self.subscriptions.len() == before {
            return graph_error(404, "ResourceNotFound", &format!("The object was not found: subscription {id}."));
        }
        ResponseTemplate::new(204)
    }
}

struct GraphResponder {
    state: Arc<Mutex<GraphState>>,
    graph_base: String,
}

impl Respond for GraphResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        state.log.push(log_line(request));
        let path = request.url.path();
        // `/{tenant}/oauth2/v2.0/{endpoint}`, any tenant.
        let endpoint = path.split_once("/oauth2/v2.0/").map(|(_, endpoint)| endpoint);
        match (request.method.as_str(), endpoint) {
            ("GET", Some("authorize")) => state.authorize(request),
            ("POST", Some("token")) => state.token(request),
            _ if path.starts_with("/v1.0/") => state.api(request, &self.graph_base),
            _ => graph_error(404, "NotFound", "Not found."),
        }
    }
}

/// Graph's JSON for an event as stored: UTC times with seven fractional digits, and defaults.
fn graph_event(id: &str, mut event: Value, counter: u64) -> Value {
    for edge in ["start", "end"] {
        let time = &mut event[edge];
        assert!(
            time["timeZone"].is_null() || time["timeZone"] == "UTC",
            "the fake Graph stores UTC times; give {edge} with timeZone UTC"
        );
        let at = time["dateTime"].as_str().and_then(utc_of).unwrap_or_else(|| panic!("{edge}.dateTime of {id}"));
        *time = json!({ "dateTime": graph_date_time(at), "timeZone": "UTC" });
    }
    let defaults = [
        ("type", json!("singleInstance")),
        ("subject", json!("")),
        ("bodyPreview", json!("")),
        ("isAllDay", json!(false)),
        ("isCancelled", json!(false)),
        ("showAs", json!("busy")),
        ("location", json!({ "displayName": "" })),
    ];
    for (name, value) in defaults {
        if event[name].is_null() {
            event[name] = value;
        }
    }
    let now = Utc::now();
    event["id"] = json!(id);
    event["@odata.etag"] = json!(format!("W/\"DwAAABYAAAB{counter}\""));
    event["changeKey"] = json!(format!("DwAAABYAAAB{counter}"));
    event["lastModifiedDateTime"] = json!(format!("{}Z", graph_date_time(now)));
    if event["createdDateTime"].is_null() {
        event["createdDateTime"] = event["lastModifiedDateTime"].clone();
    }
    event
}

/// An event as a delta page lists it.
fn graph_listed(event: &Value) -> Value {
    let mut listed = event.clone();
    listed["@odata.type"] = json!("#microsoft.graph.event");
    listed
}

fn graph_overlaps(event: &Value, window_start: DateTime<Utc>, window_end: DateTime<Utc>) -> bool {
    let edge = |name: &str| event[name]["dateTime"].as_str().and_then(utc_of);
    match (edge("start"), edge("end")) {
        (Some(start), Some(end)) => start < window_end && end > window_start,
        _ => false,
    }
}

/// `2026-12-07T09:00:00.0000000`: Graph's seven fractional digits, no offset.
fn graph_date_time(at: DateTime<Utc>) -> String {
    format!("{}.{:07}", at.format("%Y-%m-%dT%H:%M:%S"), at.timestamp_subsec_nanos() / 100)
}

/// RFC 3339 with an offset, or a wall-clock time taken as UTC.
fn utc_of(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|at| at.and_utc()))
}

/// `Prefer: odata.maxpagesize=N` (among other preferences, in one header or several).
fn prefer_page_size(request: &Request) -> Option<usize> {
    request
        .headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|preference| preference.trim().strip_prefix("odata.maxpagesize="))
        .and_then(|size| size.trim().parse::<usize>().ok())
        .map(|size| size.clamp(1, 1000))
}

/// The `expirationDateTime` of a subscription request, or why Graph would refuse it (400
/// `InvalidRequest`).
fn subscription_expiration(body: &Value) -> Result<DateTime<Utc>, &'static str> {
    let expiration = body["expirationDateTime"]
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .ok_or("expirationDateTime is missing or not a date.")?
        .with_timezone(&Utc);
    let now = Utc::now();
    if expiration <= now {
        return Err("Subscription expiration must be in the future.");
    }
    if expiration > now + Duration::minutes(FakeGraph::MAX_SUBSCRIPTION_MINUTES) {
        return Err("Subscription expiration can only be 10080 minutes in the future.");
    }
    Ok(expiration)
}

fn subscription_json(subscription: &FakeSubscription, graph_base: &str) -> Value {
    json!({
        "@odata.context": format!("{graph_base}/$metadata#subscriptions/$entity"),
        "id": subscription.id,
        "resource": subscription.resource,
        "applicationId": FakeGraph::CLIENT_ID,
        "changeType": subscription.change_type,
        "clientState": subscription.client_state,
        "notificationUrl": subscription.notification_url,
        "notificationQueryOptions": null,
        "lifecycleNotificationUrl": subscription.lifecycle_notification_url,
        "expirationDateTime": format!("{}Z", graph_date_time(subscription.expiration)),
        "creatorId": "8ee44408-0679-472c-bc2a-692812af3437",
        "includeResourceData": null,
        "latestSupportedTlsVersion": "v1_2",
        "encryptionCertificate": null,
        "encryptionCertificateId": null,
        "notificationUrlAppId": null,
    })
}

/// Graph's error: `{"error":{"code","message","innerError"}}`.
fn graph_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": { "date": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true), "request-id": guid() },
        }
    }))
}

fn graph_failure(status: u16, retry_after: Option<u64>) -> ResponseTemplate {
    let (code, message) = match status {
        429 => ("TooManyRequests", "Too many requests."),
        503 => ("ServiceUnavailable", "The service is temporarily unavailable."),
        _ => ("generalException", "An unexpected error occurred."),
    };
    with_retry_after(graph_error(status, code, message), retry_after)
}

/// The identity platform's error, `AADSTS` code first in the description.
fn microsoft_oauth_error(status: u16, error: &str, code: u32, text: &str) -> ResponseTemplate {
    let now = Utc::now().format("%Y-%m-%d %H:%M:%SZ");
    let (trace_id, correlation_id) = (guid(), guid());
    oauth_error(
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {now}"
            ),
            "error_codes": [code],
            "timestamp": now.to_string(),
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// What both fakes share

/// Authorization codes and tokens, the same at both providers but for rotation.
#[derive(Default)]
struct Grants {
    codes: HashMap<String, IssuedCode>,
    /// Access tokens and when they stop working.
    access_tokens: HashMap<String, DateTime<Utc>>,
    refresh_tokens: HashSet<String>,
    revoked_refresh_tokens: HashSet<String>,
    refreshes: usize,
}

struct IssuedCode {
    code_challenge: String,
    redirect_uri: String,
    redeemed: bool,
}

/// Why the token endpoint refuses a grant.
enum Refusal {
    UnknownCode,
    CodeRedeemed,
    RedirectMismatch,
    VerifierMismatch,
    UnknownRefreshToken,
    Revoked,
}

impl Grants {
    fn issue_code(&mut self, code_challenge: &str, redirect_uri: &str) -> String {
        let code = random_token("code-");
        let issued = IssuedCode {
            code_challenge: code_challenge.to_string(),
            redirect_uri: redirect_uri.to_string(),
            redeemed: false,
        };
        self.codes.insert(code.clone(), issued);
        code
    }

    /// Spends the code (even when the rest is wrong: a code is tried once) and checks PKCE.
    fn redeem(&mut self, code: &str, code_verifier: &str, redirect_uri: &str) -> Result<(), Refusal> {
        let issued = self.codes.get_mut(code).ok_or(Refusal::UnknownCode)?;
        if std::mem::replace(&mut issued.redeemed, true) {
            return Err(Refusal::CodeRedeemed);
        }
        if issued.redirect_uri != redirect_uri {
            return Err(Refusal::RedirectMismatch);
        }
        if URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes())) != issued.code_challenge {
            return Err(Refusal::VerifierMismatch);
        }
        Ok(())
    }

    fn issue_access_token(&mut self) -> String {
        let token = random_token("ya29.fake-");
        self.access_tokens.insert(token.clone(), Utc::now() + Duration::seconds(ACCESS_TOKEN_SECONDS));
        token
    }

    fn issue_refresh_token(&mut self) -> String {
        let token = random_token("1//fake-");
        self.refresh_tokens.insert(token.clone());
        token
    }

    /// Checks a refresh token; with `rotate` it is spent and a new one returned.
    fn refresh(&mut self, token: &str, rotate: bool) -> Result<Option<String>, Refusal> {
        self.refreshes += 1;
        if self.revoked_refresh_tokens.contains(token) {
            return Err(Refusal::Revoked);
        }
        if !self.refresh_tokens.contains(token) {
            return Err(Refusal::UnknownRefreshToken);
        }
        if !rotate {
            return Ok(None);
        }
        self.refresh_tokens.remove(token);
        Ok(Some(self.issue_refresh_token()))
    }

    fn is_live(&self, access_token: &str) -> bool {
        self.access_tokens.get(access_token).is_some_and(|expires_at| *expires_at > Utc::now())
    }

    fn expire_access_tokens(&mut self) {
        self.access_tokens.clear();
    }

    fn revoke(&mut self) {
        self.access_tokens.clear();
        let revoked: Vec<String> = self.refresh_tokens.drain().collect();
        self.revoked_refresh_tokens.extend(revoked);
    }
}

/// Failures the test asked for, answered before anything else.
#[derive(Default)]
struct Failures {
    status: u16,
    retry_after: Option<u64>,
    remaining: usize,
}

impl Failures {
    fn take(&mut self) -> Option<(u16, Option<u64>)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        Some((self.status, self.retry_after))
    }
}

/// A test that panicked holding the lock must not break the fakes for the others.
fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn log_line(request: &Request) -> String {
    match request.url.query() {
        Some(query) => format!("{} {}?{query}", request.method, request.url.path()),
        None => format!("{} {}", request.method, request.url.path()),
    }
}

fn random_token(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// A random id shaped like a GUID, as Microsoft's are.
fn guid() -> String {
    let hex = format!("{:032x}", rand::random::<u128>());
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Tokens the fakes hand out and read back: base64url JSON, opaque to the clients.
fn encode_token<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

fn decode_token<T: DeserializeOwned>(token: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token).ok()?).ok()
}

fn query_of(request: &Request) -> HashMap<String, String> {
    request.url.query_pairs().map(|(name, value)| (name.into_owned(), value.into_owned())).collect()
}

/// The fields of an `application/x-www-form-urlencoded` body, decoded as a query is (the URL's
/// own decoder, so the fakes need no crate for it).
fn form_of(request: &Request) -> HashMap<String, String> {
    let mut url = request.url.clone();
    url.set_query(Some(&String::from_utf8_lossy(&request.body)));
    url.query_pairs().map(|(name, value)| (name.into_owned(), value.into_owned())).collect()
}

fn bearer_of(request: &Request) -> Option<&str> {
    request.headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")
}

/// The percent-decoded segments of the path after `prefix`.
fn path_segments(request: &Request, prefix: &str) -> Vec<String> {
    let rest = request.url.path().strip_prefix(prefix).unwrap_or_default();
    rest.split('/').map(percent_decode).collect()
}

/// `%XX` escapes decoded (the fakes read ids out of request paths).
pub(crate) fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes.get(index + 1..index + 3).and_then(|hex| std::str::from_utf8(hex).ok());
        match escaped.filter(|_| bytes[index] == b'%').and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The user consented: back to `redirect_uri` with `parameters` added to its query.
fn consent_redirect(request: &Request, redirect_uri: &str, parameters: &[(&str, &str)]) -> ResponseTemplate {
    if !redirect_uri.starts_with("http://") && !redirect_uri.starts_with("https://") {
        return error_page("invalid_request: redirect_uri is missing or not absolute.");
    }
    // Joining an absolute URL parses it (wiremock's URL type, so no crate for it).
    let Ok(mut location) = request.url.join(redirect_uri) else {
        return error_page("invalid_request: redirect_uri is not a URL.");
    };
    location.query_pairs_mut().extend_pairs(parameters);
    ResponseTemplate::new(302).insert_header("location", location.as_str())
}

/// What the browser shows when the consent request itself is wrong (no redirect).
fn error_page(problem: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_raw(format!("<html><body>Error 400: {problem}</body></html>"), "text/html")
}

fn oauth_error(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn with_retry_after(response: ResponseTemplate, retry_after: Option<u64>) -> ResponseTemplate {
    match retry_after {
        Some(seconds) => response.insert_header("retry-after", seconds.to_string().as_str()),
        None => response,
    }
}

/// The template parameters (and local secret values) that point a stack's calendar connections
/// at these fakes, as a deployer would set the real providers'.
pub fn stack_parameters(google: &FakeGoogleCalendar, graph: &FakeGraph) -> HashMap<String, String> {
    use crate::stack::secret_override;
    HashMap::from([
        ("GoogleCalendarClientId".to_string(), FakeGoogleCalendar::CLIENT_ID.to_string()),
        ("GoogleOAuthBaseUrl".to_string(), google.uri()),
        ("GoogleApiBaseUrl".to_string(), google.uri()),
        (secret_override("GoogleOAuthSecret"), FakeGoogleCalendar::CLIENT_SECRET.to_string()),
        ("MicrosoftClientId".to_string(), FakeGraph::CLIENT_ID.to_string()),
        ("MicrosoftLoginBaseUrl".to_string(), graph.login_base()),
        ("MicrosoftGraphBaseUrl".to_string(), graph.graph_base()),
        (secret_override("MicrosoftOAuthSecret"), FakeGraph::CLIENT_SECRET.to_string()),
    ])
}
