//! A calendar connection as its owner sees it: which provider and account, whether it syncs, and
//! when it last did. Its tokens and sync state stay in the store (`store::connections`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::Source;

/// A user connects at most this many calendars.
pub const CONNECTIONS_PER_USER: usize = 10;

/// An authorization must come back within 10 minutes, and only once.
pub const AUTHORIZATION_SECONDS: i64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Syncing: changes upstream arrive through the provider's notifications.
    Connected,
    /// The provider refused our grant (revoked, expired): nothing syncs until the user connects
    /// the same account again.
    Error,
}

/// `GET /v1/calendar/connections` lists these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Connection {
    pub id: String,
    /// `google` or `outlook`.
    pub provider: Source,
    /// The account's address at the provider.
    pub account: String,
    pub status: ConnectionStatus,
    /// Why it is in `error` (`grant_refused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the last sync finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Where a page of changes starts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum SyncFrom {
    /// A full sync: every event from the beginning.
    Start,
    /// The next page of the sync under way (Google's `pageToken`, Graph's `@odata.nextLink`).
    Page(String),
    /// The changes since the last completed sync (Google's `syncToken`, Graph's `@odata.deltaLink`).
    Cursor(String),
}

/// A channel (Google) or subscription (Graph) as the provider created it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Watch {
    /// Google: our channel id; Graph: the subscription's id.
    pub id: String,
    /// Google's `resourceId` (needed to stop the channel); none for Graph.
    pub resource_id: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// What the sync worker needs of a connection just removed: its events to delete and its watch
/// to stop (with its sealed refresh token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedConnection {
    pub user_id: String,
    pub id: String,
    pub provider: Source,
    /// Sealed, as stored.
    pub refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<Watch>,
}
