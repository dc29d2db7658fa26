//! Microsoft Graph (v1.0) calendars and the Microsoft identity platform. See mod.rs.
//!
//! Changes come from `calendarView/delta` over a window (30 days back, a year ahead): Graph
//! expands series into instances there, so every change is a whole event (no RRULE, no
//! exceptions) and an occurrence cancelled upstream arrives as a removed instance.

use chrono::{DateTime, Duration, NaiveDateTime, SecondsFormat, Utc};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

// Helpers both providers need; they live with Google because mod.rs declares only the two providers.
use super::oauth::{self, form_encode, network_error, path_segment, retry_after};
use super::{
    Account, CalendarProvider, ChangePage, Grant, Provider, ProviderError, SyncFrom, UpstreamChange, UpstreamEvent,
    UpstreamWhen, Watch, WatchRequest,
};

/// The Microsoft identity platform (global cloud).
pub const DEFAULT_LOGIN_BASE: &str = "https://login.microsoftonline.com";
/// Microsoft Graph v1.0 (global cloud), with its version path.
pub const DEFAULT_GRAPH_BASE: &str = "https://graph.microsoft.com/v1.0";
/// Work, school and personal accounts alike.
pub const DEFAULT_TENANT: &str = "common";

const SCOPE: &str = "offline_access User.Read Calendars.Read";
/// Page size of the delta, and every time in UTC (Graph answers in the event's zone otherwise).
const PREFER: &str = "odata.maxpagesize=250, outlook.timezone=\"UTC\"";
/// Graph allows event subscriptions up to 10,080 minutes (7 days); ten minutes less leaves room
/// for the clocks of Graph and of this function to disagree.
const SUBSCRIPTION_MINUTES: i64 = 10_070;
const WINDOW_PAST_DAYS: i64 = 30;
const WINDOW_FUTURE_DAYS: i64 = 365;
const NO_TITLE: &str = "(no title)";

/// Where Microsoft is and who we are to it.
#[derive(Clone, PartialEq, Eq)]
pub struct MicrosoftConfig {
    /// `https://login.microsoftonline.com`, or a fake's base in tests.
    pub login_base: String,
    /// `https://graph.microsoft.com/v1.0` (with the version), or a fake's.
    pub graph_base: String,
    /// `common`, or a tenant's id.
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
}

impl MicrosoftConfig {
    /// The global cloud, tenant `common`, with our app registration.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        MicrosoftConfig {
            login_base: DEFAULT_LOGIN_BASE.to_string(),
            graph_base: DEFAULT_GRAPH_BASE.to_string(),
            tenant: DEFAULT_TENANT.to_string(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

/// The client secret never reaches logs.
impl std::fmt::Debug for MicrosoftConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicrosoftConfig")
            .field("login_base", &self.login_base)
            .field("graph_base", &self.graph_base)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Outlook calendars (Microsoft Graph) behind `CalendarProvider`.
#[derive(Debug, Clone)]
pub struct MicrosoftCalendar {
    http: reqwest::Client,
    config: MicrosoftConfig,
}

impl MicrosoftCalendar {
    /// A provider calling Microsoft (or what `config` points at) with `http`.
    pub fn new(http: reqwest::Client, mut config: MicrosoftConfig) -> Self {
        // Paths are appended with their leading '/'.
        config.login_base = config.login_base.trim_end_matches('/').to_string();
        config.graph_base = config.graph_base.trim_end_matches('/').to_string();
        MicrosoftCalendar { http, config }
    }

    fn login_url(&self, endpoint: &str) -> String {
        format!("{}/{}/oauth2/v2.0/{endpoint}", self.config.login_base, self.config.tenant)
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<Grant, ProviderError> {
        oauth::request_grant(&self.http, self.login_url("token"), form, "Microsoft").await
    }

    /// Sends a Graph call; any answer but 2xx becomes its `ProviderError`.
    async fn call(&self, request: RequestBuilder, what: &str) -> Result<Response, ProviderError> {
        let response = request.send().await.map_err(network_error)?;
        if response.status().is_success() { Ok(response) } else { Err(api_error(response, what).await) }
    }

    /// A nextLink or deltaLink we stored, only if it points into Graph: our bearer token goes with it.
    fn graph_link<'a>(&self, link: &'a str) -> Result<&'a str, ProviderError> {
        let inside = link
            .strip_prefix(&self.config.graph_base)
            .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'));
        if inside {
            Ok(link)
        } else {
            Err(ProviderError::Failed("a delta link outside Microsoft Graph was refused".into()))
        }
    }
}

#[async_trait::async_trait]
impl CalendarProvider for MicrosoftCalendar {
    fn provider(&self) -> Provider {
        Provider::Outlook
    }

    fn authorize_url(&self, state: &str, code_challenge: &str, redirect_uri: &str) -> String {
        let query = form_encode(&[
            ("client_id", &self.config.client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("response_mode", "query"),
            ("scope", SCOPE),
            ("state", state),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ]);
        format!("{}?{query}", self.login_url("authorize"))
    }

    async fn exchange_code(&self, code: &str, code_verifier: &str, redirect_uri: &str) -> Result<Grant, ProviderError> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", code_verifier),
            ("redirect_uri", redirect_uri),
            ("scope", SCOPE),
            ("client_id", &self.config.client_id),
            ("client_secret", &self.config.client_secret),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<Grant, ProviderError> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", SCOPE),
            ("client_id", &self.config.client_id),
            ("client_secret", &self.config.client_secret),
        ])
        .await
    }

    async fn account(&self, access_token: &str) -> Result<Account, ProviderError> {
        let base = &self.config.graph_base;
        let me = self.http.get(format!("{base}/me?$select=mail,userPrincipalName")).bearer_auth(access_token);
        let me: Me = read_json(self.call(me, "me").await?, "user").await?;
        let calendar = self.http.get(format!("{base}/me/calendar?$select=id")).bearer_auth(access_token);
        let calendar: CalendarResource = read_json(self.call(calendar, "me/calendar").await?, "calendar").await?;
        // `mail` is empty for some personal accounts; their sign-in name is an address too.
        let email = non_empty(me.mail)
            .or(non_empty(me.user_principal_name))
            .ok_or_else(|| ProviderError::Failed("Graph's user has neither mail nor userPrincipalName".into()))?;
        Ok(Account { email, calendar_id: calendar.id })
    }

    async fn changes(
        &self,
        access_token: &str,
        _calendar_id: &str,
        from: &SyncFrom,
    ) -> Result<ChangePage, ProviderError> {
        let request = match from {
            SyncFrom::Start => {
                let now = Utc::now();
                let window_start = now - Duration::days(WINDOW_PAST_DAYS);
                let window_end = now + Duration::days(WINDOW_FUTURE_DAYS);
                self.http.get(format!("{}/me/calendarView/delta", self.config.graph_base)).query(&[
                    ("startDateTime", window_start.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    ("endDateTime", window_end.to_rfc3339_opts(SecondsFormat::Secs, true)),
                ])
            }
            SyncFrom::Page(link) | SyncFrom::Cursor(link) => self.http.get(self.graph_link(link)?),
        };
        let request = request.header("Prefer", PREFER).bearer_auth(access_token);
        let page: DeltaPage = read_json(self.call(request, "calendarView/delta").await?, "delta page").await?;
        let changes = page.value.into_iter().map(change_of).collect::<Result<Vec<_>, _>>()?;
        let next = match (page.next_link, page.delta_link) {
            (Some(link), _) => SyncFrom::Page(link),
            (None, Some(link)) => SyncFrom::Cursor(link),
            (None, None) => {
                return Err(ProviderError::Failed("Graph's delta page had neither a nextLink nor a deltaLink".into()));
            }
        };
        Ok(ChangePage { changes, next })
    }

    async fn watch(
        &self,
        access_token: &str,
        _calendar_id: &str,
        request: &WatchRequest,
    ) -> Result<Watch, ProviderError> {
        // Graph names the subscription itself; `request.channel_id` has no place here.
        let body = NewSubscription {
            change_type: "created,updated,deleted",
            notification_url: &request.address,
            lifecycle_notification_url: request.lifecycle_address.as_deref(),
            resource: "me/events",
            expiration_date_time: subscription_expiry(),
            client_state: &request.secret,
        };
        let call =
            self.http.post(format!("{}/subscriptions", self.config.graph_base)).bearer_auth(access_token).json(&body);
        let subscription: Subscription = read_json(self.call(call, "subscriptions").await?, "subscription").await?;
        subscription.into_watch()
    }

    async fn renew(
        &self,
        access_token: &str,
        _calendar_id: &str,
        watch: &Watch,
        _request: &WatchRequest,
    ) -> Result<Watch, ProviderError> {
        let url = format!("{}/subscriptions/{}", self.config.graph_base, path_segment(&watch.id));
        let body = RenewSubscription { expiration_date_time: subscription_expiry() };
        let response =
            self.http.patch(url).bearer_auth(access_token).json(&body).send().await.map_err(network_error)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(ProviderError::WatchGone);
        }
        if !response.status().is_success() {
            return Err(api_error(response, "subscriptions.update").await);
        }
        let subscription: Subscription = read_json(response, "subscription").await?;
        subscription.into_watch()
    }

    async fn stop(&self, access_token: &str, watch: &Watch) -> Result<(), ProviderError> {
        let url = format!("{}/subscriptions/{}", self.config.graph_base, path_segment(&watch.id));
        let response = self.http.delete(url).bearer_auth(access_token).send().await.map_err(network_error)?;
        if response.status() == StatusCode::NOT_FOUND || response.status().is_success() {
            return Ok(());
        }
        Err(api_error(response, "subscriptions.delete").await)
    }
}

/// Graph's errors: `{"error":{"code","message"}}`.
#[derive(Deserialize, Default)]
struct GraphErrorBody {
    #[serde(default)]
    error: GraphError,
}

#[derive(Deserialize, Default)]
struct GraphError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Me {
    mail: Option<String>,
    user_principal_name: Option<String>,
}

#[derive(Deserialize)]
struct CalendarResource {
    id: String,
}

#[derive(Deserialize)]
struct DeltaPage {
    #[serde(default)]
    value: Vec<GraphEvent>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

/// An instance in a delta page. A removed one has only `id` and `@removed`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphEvent {
    id: String,
    #[serde(rename = "@removed")]
    removed: Option<serde_json::Value>,
    #[serde(default)]
    is_cancelled: bool,
    subject: Option<String>,
    body_preview: Option<String>,
    location: Option<GraphLocation>,
    start: Option<GraphTime>,
    end: Option<GraphTime>,
    #[serde(default)]
    is_all_day: bool,
    show_as: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphLocation {
    display_name: Option<String>,
}

/// `{"dateTime":"2026-12-07T09:00:00.0000000","timeZone":"UTC"}`: wall-clock time in `timeZone`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphTime {
    date_time: String,
    time_zone: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewSubscription<'a> {
    change_type: &'static str,
    notification_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifecycle_notification_url: Option<&'a str>,
    resource: &'static str,
    expiration_date_time: String,
    client_state: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RenewSubscription {
    expiration_date_time: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    id: String,
    expiration_date_time: String,
}

impl Subscription {
    fn into_watch(self) -> Result<Watch, ProviderError> {
        let expires_at = DateTime::parse_from_rfc3339(&self.expiration_date_time)
            .map_err(|_| ProviderError::Failed("Graph's subscription had an unreadable expirationDateTime".into()))?
            .with_timezone(&Utc);
        Ok(Watch { id: self.id, resource_id: None, expires_at })
    }
}

fn subscription_expiry() -> String {
    (Utc::now() + Duration::minutes(SUBSCRIPTION_MINUTES)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One value of a delta page in our terms.
fn change_of(event: GraphEvent) -> Result<UpstreamChange, ProviderError> {
    if event.removed.is_some() || event.is_cancelled {
        return Ok(UpstreamChange::Removed { upstream_id: event.id });
    }
    let (Some(start), Some(end)) = (&event.start, &event.end) else {
        return Err(ProviderError::Failed(format!("Graph event {} has no start or end", event.id)));
    };
    // An all-day event runs from midnight to midnight of its dates, in whatever zone is asked for.
    let when = if event.is_all_day {
        UpstreamWhen::AllDay { start: wall_clock(start)?.date(), end: wall_clock(end)?.date() }
    } else {
        UpstreamWhen::Timed { start: utc(start)?, end: utc(end)? }
    };
    Ok(UpstreamChange::Event(UpstreamEvent {
        title: non_empty(event.subject).unwrap_or_else(|| NO_TITLE.to_string()),
        description: non_empty(event.body_preview),
        location: non_empty(event.location.and_then(|location| location.display_name)),
        when,
        timezone: None,
        rrule: None,
        exdates: Vec::new(),
        busy: event.show_as.as_deref() != Some("free"),
        upstream_id: event.id,
    }))
}

fn wall_clock(time: &GraphTime) -> Result<NaiveDateTime, ProviderError> {
    // Seven fractional digits; `%.f` takes any number.
    NaiveDateTime::parse_from_str(&time.date_time, "%Y-%m-%dT%H:%M:%S%.f")
        .map_err(|_| ProviderError::Failed(format!("Graph sent an unreadable dateTime {:?}", time.date_time)))
}

/// Times are UTC because of the `Prefer: outlook.timezone` header; anything else is refused
/// rather than shifted by a guess.
fn utc(time: &GraphTime) -> Result<DateTime<Utc>, ProviderError> {
    match time.time_zone.as_deref() {
        None | Some("UTC" | "Etc/UTC") => Ok(wall_clock(time)?.and_utc()),
        Some(zone) => Err(ProviderError::Failed(format!("Graph sent a time in {zone:?}, not UTC"))),
    }
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.trim().is_empty())
}

async fn read_json<T: DeserializeOwned>(response: Response, what: &str) -> Result<T, ProviderError> {
    let body = response.bytes().await.map_err(network_error)?;
    serde_json::from_slice(&body).map_err(|error| ProviderError::Failed(format!("unreadable Graph {what}: {error}")))
}

async fn api_error(response: Response, what: &str) -> ProviderError {
    let status = response.status();
    let retry = retry_after(response.headers());
    let body: GraphErrorBody = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => GraphErrorBody::default(),
    };
    match status {
        StatusCode::UNAUTHORIZED => ProviderError::Unauthorized,
        StatusCode::GONE => ProviderError::SyncExpired,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            ProviderError::Throttled { retry_after: retry }
        }
        _ => {
            ProviderError::Failed(format!("Graph {what} answered {status}: {} {}", body.error.code, body.error.message))
        }
    }
}
