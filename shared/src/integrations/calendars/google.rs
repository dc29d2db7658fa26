//! Google Calendar (API v3) and Google OAuth 2.0. See mod.rs.
//!
//! Changes are read with `singleEvents=false`: a series comes as its master (with `recurrence`),
//! and its changed or cancelled occurrences as exceptions (`recurringEventId` +
//! `originalStartTime`). Of the `recurrence` lines only `RRULE` and `EXDATE` are read: Google's UI
//! never writes `RDATE` or `EXRULE` (EXRULE is deprecated by RFC 5545), so they are ignored.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::oauth::{self, form_encode, network_error, path_segment, retry_after};
use super::{
    Account, CalendarProvider, ChangePage, Grant, Original, Provider, ProviderError, SyncFrom, UpstreamChange,
    UpstreamEvent, UpstreamWhen, Watch, WatchRequest,
};

/// Google's OAuth server (consent page and token endpoint).
pub const DEFAULT_OAUTH_BASE: &str = "https://accounts.google.com";
/// Google's API host (Calendar API v3 lives under `/calendar/v3`).
pub const DEFAULT_API_BASE: &str = "https://www.googleapis.com";

const SCOPE: &str = "openid email https://www.googleapis.com/auth/calendar.readonly";
/// Events per page of `events.list` (Google's default; at most 2500).
const PAGE_SIZE: &str = "250";
/// A channel lives a week (Google's default and usual maximum for calendars); renewed before.
const CHANNEL_TTL_SECONDS: &str = "604800";
const NO_TITLE: &str = "(no title)";

/// Where Google is and who we are to it.
#[derive(Clone, PartialEq, Eq)]
pub struct GoogleConfig {
    /// `https://accounts.google.com`, or a fake's base in tests.
    pub oauth_base: String,
    /// `https://www.googleapis.com`, or a fake's base in tests.
    pub api_base: String,
    pub client_id: String,
    pub client_secret: String,
}

impl GoogleConfig {
    /// The public Google endpoints with our OAuth client.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        GoogleConfig {
            oauth_base: DEFAULT_OAUTH_BASE.to_string(),
            api_base: DEFAULT_API_BASE.to_string(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

/// The client secret never reaches logs.
impl std::fmt::Debug for GoogleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleConfig")
            .field("oauth_base", &self.oauth_base)
            .field("api_base", &self.api_base)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Google Calendar behind `CalendarProvider`.
#[derive(Debug, Clone)]
pub struct GoogleCalendar {
    http: reqwest::Client,
    config: GoogleConfig,
}

impl GoogleCalendar {
    /// A provider calling Google (or what `config` points at) with `http`.
    pub fn new(http: reqwest::Client, mut config: GoogleConfig) -> Self {
        // Paths are appended with their leading '/'.
        config.oauth_base = config.oauth_base.trim_end_matches('/').to_string();
        config.api_base = config.api_base.trim_end_matches('/').to_string();
        GoogleCalendar { http, config }
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<Grant, ProviderError> {
        let url = format!("{}/o/oauth2/token", self.config.oauth_base);
        oauth::request_grant(&self.http, url, form, "Google").await
    }

    fn calendar_url(&self, calendar_id: &str, rest: &str) -> String {
        format!("{}/calendar/v3/calendars/{}{rest}", self.config.api_base, path_segment(calendar_id))
    }

    /// Sends an API call; any answer but 2xx becomes its `ProviderError`.
    async fn call(&self, request: RequestBuilder, what: &str) -> Result<Response, ProviderError> {
        let response = request.send().await.map_err(network_error)?;
        if response.status().is_success() { Ok(response) } else { Err(api_error(response, what).await) }
    }

    /// Stops a channel; `WatchGone` when Google no longer knows it.
    async fn stop_channel(&self, access_token: &str, watch: &Watch) -> Result<(), ProviderError> {
        let url = format!("{}/calendar/v3/channels/stop", self.config.api_base);
        let body = StopChannel { id: &watch.id, resource_id: watch.resource_id.as_deref() };
        let response = self.http.post(url).bearer_auth(access_token).json(&body).send().await.map_err(network_error)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(ProviderError::WatchGone);
        }
        if !response.status().is_success() {
            return Err(api_error(response, "channels.stop").await);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl CalendarProvider for GoogleCalendar {
    fn provider(&self) -> Provider {
        Provider::Google
    }

    fn authorize_url(&self, state: &str, code_challenge: &str, redirect_uri: &str) -> String {
        let query = form_encode(&[
            ("client_id", &self.config.client_id),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("scope", SCOPE),
            // A refresh token, and on every consent (Google sends one only on the first otherwise).
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("include_granted_scopes", "true"),
            ("state", state),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ]);
        format!("{}/o/oauth2/v2/auth?{query}", self.config.oauth_base)
    }

    async fn exchange_code(&self, code: &str, code_verifier: &str, redirect_uri: &str) -> Result<Grant, ProviderError> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", code_verifier),
            ("redirect_uri", redirect_uri),
            ("client_id", &self.config.client_id),
            ("client_secret", &self.config.client_secret),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<Grant, ProviderError> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &self.config.client_id),
            ("client_secret", &self.config.client_secret),
        ])
        .await
    }

    async fn account(&self, access_token: &str) -> Result<Account, ProviderError> {
        let request = self.http.get(self.calendar_url("primary", "")).bearer_auth(access_token);
        let response = self.call(request, "calendars.get").await?;
        let calendar: CalendarResource = read_json(response, "calendar").await?;
        // The primary calendar's id is the account's address.
        Ok(Account { email: calendar.id.clone(), calendar_id: calendar.id })
    }

    async fn changes(
        &self,
        access_token: &str,
        calendar_id: &str,
        from: &SyncFrom,
    ) -> Result<ChangePage, ProviderError> {
        // With pageToken Google wants the first request's parameters again, so they are always sent.
        let mut query = vec![("maxResults", PAGE_SIZE), ("singleEvents", "false"), ("showDeleted", "true")];
        match from {
            SyncFrom::Start => {}
            SyncFrom::Page(token) => query.push(("pageToken", token)),
            SyncFrom::Cursor(token) => query.push(("syncToken", token)),
        }
        let request = self.http.get(self.calendar_url(calendar_id, "/events")).query(&query).bearer_auth(access_token);
        let response = self.call(request, "events.list").await?;
        let page: EventsPage = read_json(response, "events page").await?;
        let changes = page.items.into_iter().map(change_of).collect::<Result<Vec<_>, _>>()?;
        let next = match (page.next_page_token, page.next_sync_token) {
            (Some(token), _) => SyncFrom::Page(token),
            (None, Some(token)) => SyncFrom::Cursor(token),
            (None, None) => {
                return Err(ProviderError::Failed(
                    "Google's events page had neither nextPageToken nor nextSyncToken".into(),
                ));
            }
        };
        Ok(ChangePage { changes, next })
    }

    async fn watch(
        &self,
        access_token: &str,
        calendar_id: &str,
        request: &WatchRequest,
    ) -> Result<Watch, ProviderError> {
        let body = NewChannel {
            id: &request.channel_id,
            kind: "web_hook",
            address: &request.address,
            token: &request.secret,
            params: ChannelParams { ttl: CHANNEL_TTL_SECONDS },
        };
        let call =
            self.http.post(self.calendar_url(calendar_id, "/events/watch")).bearer_auth(access_token).json(&body);
        let response = self.call(call, "events.watch").await?;
        let channel: Channel = read_json(response, "channel").await?;
        let expires_at = channel
            .expiration
            .as_deref()
            .and_then(|millis| millis.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| ProviderError::Failed("Google's channel had no readable expiration".into()))?;
        Ok(Watch { id: channel.id, resource_id: Some(channel.resource_id), expires_at })
    }

    async fn renew(
        &self,
        access_token: &str,
        calendar_id: &str,
        watch: &Watch,
        request: &WatchRequest,
    ) -> Result<Watch, ProviderError> {
        let renewed = self.watch(access_token, calendar_id, request).await?;
        // Whatever becomes of the old channel, the new one is live and must reach the caller: a
        // channel that could not be stopped only sends notifications until it expires.
        let _ = self.stop_channel(access_token, watch).await;
        Ok(renewed)
    }

    async fn stop(&self, access_token: &str, watch: &Watch) -> Result<(), ProviderError> {
        match self.stop_channel(access_token, watch).await {
            Err(ProviderError::WatchGone) => Ok(()),
            other => other,
        }
    }
}

/// The API's errors: `{"error":{"code","message","errors":[{"reason"}]}}`.
#[derive(Deserialize, Default)]
struct ApiErrorBody {
    #[serde(default)]
    error: ApiError,
}

#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ApiErrorReason>,
}

#[derive(Deserialize)]
struct ApiErrorReason {
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct CalendarResource {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsPage {
    #[serde(default)]
    items: Vec<GoogleEvent>,
    next_page_token: Option<String>,
    next_sync_token: Option<String>,
}

/// An item of `events.list`. A deleted event has only `id` and `status`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoogleEvent {
    id: String,
    status: Option<String>,
    summary: Option<String>,
    description: Option<String>,
    location: Option<String>,
    start: Option<EventTime>,
    end: Option<EventTime>,
    #[serde(default)]
    recurrence: Vec<String>,
    recurring_event_id: Option<String>,
    original_start_time: Option<EventTime>,
    transparency: Option<String>,
}

/// `{"dateTime": RFC 3339, "timeZone"?}` for a timed event, `{"date": "YYYY-MM-DD"}` for all-day.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventTime {
    date: Option<String>,
    date_time: Option<String>,
    time_zone: Option<String>,
}

#[derive(Serialize)]
struct NewChannel<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    address: &'a str,
    token: &'a str,
    params: ChannelParams,
}

#[derive(Serialize)]
struct ChannelParams {
    ttl: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Channel {
    id: String,
    resource_id: String,
    /// Epoch milliseconds, as a string.
    expiration: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StopChannel<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_id: Option<&'a str>,
}

/// One item of a page in our terms.
fn change_of(item: GoogleEvent) -> Result<UpstreamChange, ProviderError> {
    let cancelled = item.status.as_deref() == Some("cancelled");
    let exception_of = match (&item.recurring_event_id, &item.original_start_time) {
        (Some(series_id), Some(original)) => Some((series_id.clone(), original_of(original)?)),
        _ => None,
    };
    match exception_of {
        Some((series_id, original)) if cancelled => {
            Ok(UpstreamChange::Occurrence { series_id, original, replacement: None })
        }
        Some((series_id, original)) => {
            Ok(UpstreamChange::Occurrence { series_id, original, replacement: Some(Box::new(event_of(item)?)) })
        }
        None if cancelled => Ok(UpstreamChange::Removed { upstream_id: item.id }),
        None => Ok(UpstreamChange::Event(event_of(item)?)),
    }
}

fn event_of(item: GoogleEvent) -> Result<UpstreamEvent, ProviderError> {
    let (Some(start), Some(end)) = (&item.start, &item.end) else {
        return Err(ProviderError::Failed(format!("Google event {} has no start or end", item.id)));
    };
    let when = match (&start.date, &end.date) {
        (Some(start_day), Some(end_day)) => UpstreamWhen::AllDay { start: day(start_day)?, end: day(end_day)? },
        _ => UpstreamWhen::Timed { start: instant(start)?, end: instant(end)? },
    };
    let timezone = start.time_zone.clone();
    let mut rrule = None;
    for line in &item.recurrence {
        if let Some(rule) = line.strip_prefix("RRULE:") {
            rrule = Some(rule.to_string());
        }
    }
    let exdates = exdates(&item.recurrence, timezone.as_deref())?;
    Ok(UpstreamEvent {
        upstream_id: item.id,
        title: non_empty(item.summary).unwrap_or_else(|| NO_TITLE.to_string()),
        description: non_empty(item.description),
        location: non_empty(item.location),
        when,
        timezone,
        rrule,
        exdates,
        busy: item.transparency.as_deref() != Some("transparent"),
    })
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.trim().is_empty())
}

fn original_of(time: &EventTime) -> Result<Original, ProviderError> {
    match &time.date {
        Some(date) => Ok(Original::Day(day(date)?)),
        None => Ok(Original::At(instant(time)?)),
    }
}

fn day(text: &str) -> Result<NaiveDate, ProviderError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| ProviderError::Failed(format!("Google sent an unreadable date {text:?}")))
}

/// Google answers with an offset; a `dateTime` without one is local time in `timeZone`.
fn instant(time: &EventTime) -> Result<DateTime<Utc>, ProviderError> {
    let unreadable = || ProviderError::Failed(format!("Google sent an unreadable dateTime {:?}", time.date_time));
    let text = time.date_time.as_deref().ok_or_else(unreadable)?;
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| unreadable())?;
    local_to_utc(local, time.time_zone.as_deref())
}

/// The `EXDATE` lines of `recurrence` as original starts. Values are local times in their
/// `TZID`, UTC when they end in `Z`, dates with `VALUE=DATE`; a value with neither is in the
/// series' zone (`event_zone`).
fn exdates(lines: &[String], event_zone: Option<&str>) -> Result<Vec<Original>, ProviderError> {
    let mut originals = Vec::new();
    for line in lines {
        let Some((head, values)) = line.split_once(':') else { continue };
        let mut parts = head.split(';');
        if !parts.next().is_some_and(|name| name.eq_ignore_ascii_case("EXDATE")) {
            continue;
        }
        let mut zone = event_zone;
        let mut dates_only = false;
        for parameter in parts {
            match parameter.split_once('=') {
                Some((name, value)) if name.eq_ignore_ascii_case("TZID") => zone = Some(value.trim_matches('"')),
                Some((name, value)) if name.eq_ignore_ascii_case("VALUE") => {
                    dates_only = value.eq_ignore_ascii_case("DATE")
                }
                _ => {}
            }
        }
        for value in values.split(',').map(str::trim).filter(|value| !value.is_empty()) {
            originals.push(exdate(value, dates_only, zone)?);
        }
    }
    Ok(originals)
}

fn exdate(value: &str, date_only: bool, zone: Option<&str>) -> Result<Original, ProviderError> {
    let unreadable = || ProviderError::Failed(format!("Google sent an unreadable EXDATE {value:?}"));
    if date_only || value.len() == 8 {
        return NaiveDate::parse_from_str(value, "%Y%m%d").map(Original::Day).map_err(|_| unreadable());
    }
    if let Some(utc) = value.strip_suffix(['Z', 'z']) {
        let at = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").map_err(|_| unreadable())?;
        return Ok(Original::At(at.and_utc()));
    }
    let local = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").map_err(|_| unreadable())?;
    local_to_utc(local, zone).map(Original::At)
}

/// A wall-clock time in an IANA zone (UTC without one) as an instant. As RFC 5545 says, a time
/// that happens twice (autumn) is the first one, and a time that does not exist (the spring gap)
/// keeps the offset from before the gap.
fn local_to_utc(local: NaiveDateTime, zone: Option<&str>) -> Result<DateTime<Utc>, ProviderError> {
    let Some(zone) = zone else { return Ok(local.and_utc()) };
    let tz: Tz =
        zone.parse().map_err(|_| ProviderError::Failed(format!("Google sent an unknown time zone {zone:?}")))?;
    let at = tz
        .from_local_datetime(&local)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(local + chrono::Duration::hours(1))).earliest())
        .ok_or_else(|| ProviderError::Failed(format!("{local} does not exist in {zone}")))?;
    Ok(at.with_timezone(&Utc))
}

async fn read_json<T: DeserializeOwned>(response: Response, what: &str) -> Result<T, ProviderError> {
    let body = response.bytes().await.map_err(network_error)?;
    serde_json::from_slice(&body).map_err(|error| ProviderError::Failed(format!("unreadable Google {what}: {error}")))
}

async fn api_error(response: Response, what: &str) -> ProviderError {
    let status = response.status();
    let retry = retry_after(response.headers());
    let body: ApiErrorBody = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => ApiErrorBody::default(),
    };
    let rate_limited = body
        .error
        .errors
        .iter()
        .any(|error| matches!(error.reason.as_str(), "rateLimitExceeded" | "userRateLimitExceeded"));
    match status {
        StatusCode::UNAUTHORIZED => ProviderError::Unauthorized,
        StatusCode::GONE => ProviderError::SyncExpired,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            ProviderError::Throttled { retry_after: retry }
        }
        StatusCode::FORBIDDEN if rate_limited => ProviderError::Throttled { retry_after: retry },
        _ => ProviderError::Failed(format!("Google {what} answered {status}: {}", body.error.message)),
    }
}
