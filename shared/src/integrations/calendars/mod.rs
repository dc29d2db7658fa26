//! Google Calendar and Microsoft Graph (Outlook) behind one trait, `CalendarProvider`: the OAuth
//! authorization code grant with PKCE, the account's calendar, pages of changes (Google's
//! `syncToken`, Graph's `@odata.deltaLink`), and push channels (Google's watch channels, Graph's
//! subscriptions). Each provider turns its own JSON into `UpstreamChange`s; the sync job
//! (`jobs::calendar_sync`) turns those into our events. Base URLs are settings, so tests and
//! national clouds point them elsewhere; `tests/support/calendar_fakes.rs` speaks both formats.
//!
//! A provider is a `reqwest::Client` and its settings; it uses nothing of the crate but the
//! connection's domain types.

pub mod google;
pub mod microsoft;
mod oauth;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

/// Where a sync stands and a provider's push channel are part of a connection's state (the
/// store keeps them), so they are domain types.
pub use crate::domain::connection::{SyncFrom, Watch};

/// Which provider a connection is to. Its name is the event's `source` and the path segment of
/// `POST /v1/calendar/connections/{provider}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Google,
    Outlook,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::Google, Provider::Outlook];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::Outlook => "outlook",
        }
    }

    pub fn parse(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|provider| provider.as_str() == name)
    }
}

/// Tokens from the token endpoint (a code exchange or a refresh).
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    pub access_token: String,
    /// Present after a code exchange; after a refresh only when the provider rotated it
    /// (Microsoft always does, Google rarely): the new one replaces the stored one.
    pub refresh_token: Option<String>,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
}

/// Tokens never reach logs, not even through `{:?}`.
impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// Who the connection is to and which calendar we follow (the account's primary one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's address, shown to the user in the connections list.
    pub email: String,
    /// The calendar's id at the provider (Google: `primary` resolves to the address; Graph: the
    /// default calendar's id).
    pub calendar_id: String,
}

/// One page of changes, in the provider's order.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    pub changes: Vec<UpstreamChange>,
    /// The next page, or (on the last page) the cursor of the next incremental sync.
    pub next: SyncFrom,
}

/// One change upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamChange {
    /// A single event or a series' master: create it or replace what we hold.
    Event(UpstreamEvent),
    /// One occurrence of a series moved or retitled (`Some`), or cancelled (`None`): Google's
    /// exceptions (`recurringEventId` + `originalStartTime`).
    Occurrence { series_id: String, original: Original, replacement: Option<Box<UpstreamEvent>> },
    /// The event (or series) is gone.
    Removed { upstream_id: String },
}

/// The original start of an occurrence of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Original {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

/// When an upstream event happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamWhen {
    Timed {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// All-day: dates, the end exclusive.
    AllDay {
        start: NaiveDate,
        end: NaiveDate,
    },
}

/// An event as a provider has it, in our terms.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamEvent {
    /// The provider's id of the event (the series' id for a master).
    pub upstream_id: String,
    pub title: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub when: UpstreamWhen,
    /// The IANA zone a series repeats in, when the provider says (Google's `start.timeZone`).
    pub timezone: Option<String>,
    /// The series' RRULE value, without `RRULE:`.
    pub rrule: Option<String>,
    /// Occurrences the series leaves out (EXDATE), as original starts.
    pub exdates: Vec<Original>,
    /// False for events shown as free (Google `transparency: transparent`, Graph `showAs: free`).
    pub busy: bool,
}

/// Asks a provider to notify our webhook of changes to one calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRequest {
    /// Our id for the channel (Google's channel `id`); Graph names its subscriptions itself.
    pub channel_id: String,
    /// Our webhook's URL for this provider.
    pub address: String,
    /// Graph's `lifecycleNotificationUrl` (the same webhook).
    pub lifecycle_address: Option<String>,
    /// The secret the provider sends back with every notification: Google's `token`
    /// (`X-Goog-Channel-Token`), Graph's `clientState`.
    pub secret: String,
}

/// Why a call to a provider failed, sorted by what the caller does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// 401 on an API call: the access token is no longer good; refresh once and try again.
    #[error("the access token was refused")]
    Unauthorized,
    /// The token endpoint refused the grant (`invalid_grant`: revoked, expired, or the code
    /// already used): the connection needs the user to connect again.
    #[error("the grant was refused: {0}")]
    GrantRefused(String),
    /// 410: the sync cursor expired; start a full sync of that calendar.
    #[error("the sync cursor expired; a full sync is needed")]
    SyncExpired,
    /// 429 or 503 (or Google's 403 `rateLimitExceeded`): try again later, after `retry_after` when
    /// the provider said.
    #[error("throttled (retry after {retry_after:?})")]
    Throttled { retry_after: Option<Duration> },
    /// The channel or subscription no longer exists at the provider (404 on renew or stop).
    #[error("no such channel or subscription")]
    WatchGone,
    /// Anything else: another status, a network failure, an answer we could not read.
    #[error("{0}")]
    Failed(String),
}

/// One calendar provider.
#[async_trait::async_trait]
pub trait CalendarProvider: Send + Sync {
    fn provider(&self) -> Provider;

    /// Where the user's browser goes to consent: the authorization code grant with PKCE (S256),
    /// offline access (a refresh token), read-only calendar scope.
    fn authorize_url(&self, state: &str, code_challenge: &str, redirect_uri: &str) -> String;

    /// Exchanges the code the callback received (with the PKCE verifier) for tokens.
    async fn exchange_code(&self, code: &str, code_verifier: &str, redirect_uri: &str) -> Result<Grant, ProviderError>;

    /// A new access token from the refresh token (and a new refresh token if the provider rotates it).
    async fn refresh(&self, refresh_token: &str) -> Result<Grant, ProviderError>;

    /// The account's address and its primary calendar.
    async fn account(&self, access_token: &str) -> Result<Account, ProviderError>;

    /// One page of changes of `calendar_id` from `from`.
    async fn changes(
        &self,
        access_token: &str,
        calendar_id: &str,
        from: &SyncFrom,
    ) -> Result<ChangePage, ProviderError>;

    /// Starts notifications for `calendar_id`.
    async fn watch(
        &self,
        access_token: &str,
        calendar_id: &str,
        request: &WatchRequest,
    ) -> Result<Watch, ProviderError>;

    /// Extends a watch before it expires. Graph extends the subscription in place; Google has no
    /// renewal, so a new channel is made (with `request`) and the old one stopped.
    async fn renew(
        &self,
        access_token: &str,
        calendar_id: &str,
        watch: &Watch,
        request: &WatchRequest,
    ) -> Result<Watch, ProviderError>;

    /// Ends a watch (on disconnect). A watch already gone is not an error.
    async fn stop(&self, access_token: &str, watch: &Watch) -> Result<(), ProviderError>;
}
