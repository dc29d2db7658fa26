//! Calendar connections (`USER#<id>` / `CONNECTION#<id>`) and the OAuth authorizations that make
//! them (`OAUTH_STATE#<hash of state>`, single use, 10 minutes).
//!
//! A connection holds its tokens sealed (`auth::sealed`), its push channel (renewed from the
//! GSI1 bucket `WATCHES#<day>`), and its sync state: where the next page starts (`sync_from`),
//! the generation of the current full sync, and a lease. One sync runs per connection at a time:
//! a job takes the lease with a conditional write; a job that finds it taken leaves `sync_again`
//! set instead, and the holder syncs once more before it lets go. The cursor moves only under
//! the lease, after the page's events are written, so a crash replays a page (idempotent) and
//! never skips or reorders one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::update::ItemUpdate;
use super::{Item, Store, StoreError, from_item, key, keys, n, s, to_item};
use crate::domain::calendar::Source;
use crate::domain::connection::{Connection, ConnectionStatus, RemovedConnection, SyncFrom, Watch};

/// How long a sync job may hold a connection: longer than the worker's timeout, so a job never
/// outlives its lease.
pub const LEASE_SECONDS: i64 = 300;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub id: String,
    pub user_id: String,
    pub provider: Source,
    pub account: String,
    /// The calendar followed at the provider.
    pub calendar_id: String,
    pub status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Sealed for `<user id>|<provider>`.
    pub refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<Watch>,
    /// SHA-256 of the secret the provider sends with each notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_secret_hash: Option<String>,
    pub sync_from: SyncFrom,
    /// Whether the sync under way started from the beginning (its end deletes what it did not see).
    #[serde(default)]
    pub full_sync: bool,
    /// Where the provider reaches our webhooks (this API's origin, as the callback saw it).
    pub webhook_base: String,
    /// Bumped by every full sync; events not seen by the latest full sync are deleted at its end.
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    #[serde(default)]
    pub sync_again: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// `WATCHES#<day the watch expires>`, while there is one.
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
}

impl ConnectionItem {
    pub fn key(user_id: &str, connection_id: &str) -> Item {
        key(keys::user(user_id), keys::connection(connection_id))
    }

    /// A new connection, to sync from the start.
    pub fn new(
        user_id: &str,
        provider: Source,
        account: String,
        calendar_id: String,
        refresh_token: String,
        webhook_base: String,
    ) -> Self {
        let id = ulid::Ulid::new().to_string();
        ConnectionItem {
            pk: keys::user(user_id),
            sk: keys::connection(&id),
            entity: "calendar_connection".into(),
            id,
            user_id: user_id.into(),
            provider,
            account,
            calendar_id,
            status: ConnectionStatus::Connected,
            error: None,
            refresh_token,
            access_token: None,
            access_expires_at: None,
            watch: None,
            watch_secret_hash: None,
            sync_from: SyncFrom::Start,
            full_sync: true,
            webhook_base,
            generation: 1,
            lease_owner: None,
            lease_until: None,
            sync_again: false,
            last_synced_at: None,
            created_at: Utc::now(),
            gsi1pk: None,
            gsi1sk: None,
        }
    }

    /// What the owner sees.
    pub fn view(&self) -> Connection {
        Connection {
            id: self.id.clone(),
            provider: self.provider,
            account: self.account.clone(),
            status: self.status,
            error: self.error.clone(),
            last_synced_at: self.last_synced_at,
            created_at: self.created_at,
        }
    }

    /// What the sync worker needs to clean up after it (its sealed refresh token included).
    pub fn removed(&self) -> RemovedConnection {
        RemovedConnection {
            user_id: self.user_id.clone(),
            id: self.id.clone(),
            provider: self.provider,
            refresh_token: self.refresh_token.clone(),
            watch: self.watch.clone(),
        }
    }

    /// The associated data its tokens are sealed with.
    pub fn token_owner(&self) -> String {
        token_owner(&self.user_id, self.provider)
    }
}

/// The associated data of a user's tokens at a provider.
pub fn token_owner(user_id: &str, provider: Source) -> String {
    format!("{user_id}|{}", provider_name(provider))
}

pub fn provider_name(provider: Source) -> &'static str {
    match provider {
        Source::Flowday => "flowday",
        Source::Google => "google",
        Source::Outlook => "outlook",
    }
}

/// An authorization under way: what the callback needs to finish it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub provider: Source,
    /// The PKCE verifier; only its challenge went to the provider.
    pub code_verifier: String,
    pub redirect_uri: String,
    /// Epoch seconds; TTL deletion may lag, so readers check it.
    pub expires_at: i64,
    pub ttl: i64,
}

/// The outcome of asking for a connection's lease.
#[derive(Debug)]
pub enum Lease {
    /// This job syncs: here is the connection as it is.
    Taken(Box<ConnectionItem>),
    /// Another job is syncing; it will sync again for this one.
    Busy,
    /// No such connection, or it is in `error`: nothing to sync.
    Idle,
}

/// Calendar connections. Reached as `store.connections()`.
#[derive(Clone, Copy)]
pub struct Connections<'a> {
    pub(crate) store: &'a Store,
}

impl Connections<'_> {
    /// Remembers an authorization under way (its `state` hashed).
    pub async fn start_authorization(
        self,
        user_id: &str,
        state_hash: &str,
        provider: Source,
        code_verifier: &str,
        redirect_uri: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let item = AuthorizationItem {
            pk: keys::user(user_id),
            sk: keys::oauth_state(state_hash),
            entity: "oauth_state".into(),
            provider,
            code_verifier: code_verifier.into(),
            redirect_uri: redirect_uri.into(),
            expires_at,
            ttl: expires_at,
        };
        let put = self.store.put(to_item(&item)?)?;
        self.store.transact(vec![put]).await
    }

    /// Takes an authorization out, once: of two callbacks with one `state`, one gets it. Expired
    /// ones are taken out too, and answered as absent.
    pub async fn take_authorization(
        self,
        user_id: &str,
        state_hash: &str,
    ) -> Result<Option<AuthorizationItem>, StoreError> {
        let old = self
            .store
            .client
            .delete_item()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::oauth_state(state_hash))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(super::dynamo_error)?
            .attributes;
        let Some(old) = old else { return Ok(None) };
        let item: AuthorizationItem = from_item(old)?;
        Ok((item.expires_at > Utc::now().timestamp()).then_some(item))
    }

    pub async fn list_connections(self, user_id: &str) -> Result<Vec<ConnectionItem>, StoreError> {
        let items = self.store.query_prefix(keys::user(user_id), keys::CONNECTION_PREFIX).await?;
        items.into_iter().map(from_item).collect()
    }

    pub async fn get_connection(
        self,
        user_id: &str,
        connection_id: &str,
    ) -> Result<Option<ConnectionItem>, StoreError> {
        self.store.get(keys::user(user_id), &keys::connection(connection_id)).await
    }

    /// Saves a new connection.
    pub async fn create_connection(self, item: &ConnectionItem) -> Result<(), StoreError> {
        let put = self.store.put_new(to_item(item)?)?;
        self.store.transact(vec![put]).await
    }

    /// The same account connected again: new tokens, back to `connected`, and a full sync.
    pub async fn reconnect(self, existing: &ConnectionItem, refresh_token: &str) -> Result<bool, StoreError> {
        let update = ItemUpdate::new()
            .set("refresh_token", s(refresh_token))
            .set("status", s("connected"))
            .remove("error")
            .remove("access_token")
            .remove("access_expires_at")
            .set("sync_from", sync_from_value(&SyncFrom::Start)?)
            .set("full_sync", boolean(true))
            .add("generation", n(1))
            .condition("attribute_exists(#pk)", &[("#pk", keys::PK)], []);
        Ok(update.apply(self.store, ConnectionItem::key(&existing.user_id, &existing.id)).await?.is_some())
    }

    /// Deletes a connection; answers it as it was (its watch is to be stopped), if it existed.
    pub async fn delete_connection(
        self,
        user_id: &str,
        connection_id: &str,
    ) -> Result<Option<ConnectionItem>, StoreError> {
        let old = self
            .store
            .client
            .delete_item()
            .table_name(&self.store.table)
            .set_key(Some(ConnectionItem::key(user_id, connection_id)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(super::dynamo_error)?
            .attributes;
        old.map(from_item).transpose()
    }

    /// Records the push channel (and the hash of its secret), indexed for renewal by its expiry.
    pub async fn set_watch(self, item: &ConnectionItem, watch: &Watch, secret_hash: &str) -> Result<bool, StoreError> {
        let update = ItemUpdate::new()
            .set("watch", to_value(watch)?)
            .set("watch_secret_hash", s(secret_hash))
            .set("GSI1PK", s(keys::watches_bucket(watch.expires_at.date_naive())))
            .set("GSI1SK", s(format!("{}#{}#{}", rfc3339(watch.expires_at), item.user_id, item.id)))
            .condition("attribute_exists(#pk)", &[("#pk", keys::PK)], []);
        Ok(update.apply(self.store, ConnectionItem::key(&item.user_id, &item.id)).await?.is_some())
    }

    /// Connections whose watch expires before `until`: one Query per day bucket, from a week
    /// back (watches a failed run left behind) to `until`'s day.
    pub async fn watches_expiring(self, until: DateTime<Utc>) -> Result<Vec<ConnectionItem>, StoreError> {
        let mut found = Vec::new();
        let mut day = (Utc::now() - chrono::Duration::days(7)).date_naive();
        while day <= until.date_naive() {
            let range = super::IndexRange::Below(format!("{}#~", rfc3339(until)));
            for item in self.store.index_items(keys::watches_bucket(day), range).await? {
                found.push(from_item(item)?);
            }
            day += chrono::Duration::days(1);
        }
        Ok(found)
    }

    /// Stores tokens after a refresh: the access token, and the refresh token if it rotated.
    pub async fn store_tokens(
        self,
        item: &ConnectionItem,
        access_token: &str,
        expires_at: DateTime<Utc>,
        refresh_token: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut update =
            ItemUpdate::new().set("access_token", s(access_token)).set("access_expires_at", s(rfc3339(expires_at)));
        if let Some(refresh_token) = refresh_token {
            update = update.set("refresh_token", s(refresh_token));
        }
        let update = update.condition("attribute_exists(#pk)", &[("#pk", keys::PK)], []);
        update.apply(self.store, ConnectionItem::key(&item.user_id, &item.id)).await?;
        Ok(())
    }

    /// Marks the connection `error` with `code`. True only for the write that changed it, so the
    /// user is told once however many jobs find the grant refused.
    pub async fn mark_error(self, item: &ConnectionItem, code: &str) -> Result<bool, StoreError> {
        let update = ItemUpdate::new()
            .set("status", s("error"))
            .set("error", s(code))
            .remove("lease_owner")
            .remove("lease_until")
            .remove("sync_again")
            .condition(
                "attribute_exists(#pk) AND #status <> :error",
                &[("#pk", keys::PK), ("#status", "status")],
                [(":error", s("error"))],
            );
        Ok(update.apply(self.store, ConnectionItem::key(&item.user_id, &item.id)).await?.is_some())
    }

    /// Takes the connection's lease for `owner` (a job id) until `now + LEASE_SECONDS`.
    pub async fn take_lease(self, user_id: &str, connection_id: &str, owner: &str) -> Result<Lease, StoreError> {
        let key = ConnectionItem::key(user_id, connection_id);
        for _ in 0..3 {
            let now = Utc::now().timestamp();
            let take = ItemUpdate::new()
                .set("lease_owner", s(owner))
                .set("lease_until", n(now + LEASE_SECONDS))
                .set("sync_again", boolean(false))
                .condition(
                    "attribute_exists(#pk) AND #status = :connected AND (attribute_not_exists(lease_until) OR lease_until < :now)",
                    &[("#pk", keys::PK), ("#status", "status")],
                    [(":connected", s("connected")), (":now", n(now))],
                );
            if take.apply(self.store, key.clone()).await?.is_some() {
                let item = self.get_connection(user_id, connection_id).await?;
                return Ok(item.map_or(Lease::Idle, |item| Lease::Taken(Box::new(item))));
            }
            // Held by another job: ask it to go again. If it let go meanwhile, try to take it.
            let ask = ItemUpdate::new().set("sync_again", boolean(true)).condition(
                "#status = :connected AND lease_until >= :now",
                &[("#status", "status")],
                [(":connected", s("connected")), (":now", n(now))],
            );
            if ask.apply(self.store, key.clone()).await?.is_some() {
                return Ok(Lease::Busy);
            }
            match self.get_connection(user_id, connection_id).await? {
                Some(item) if item.status == ConnectionStatus::Connected => continue,
                _ => return Ok(Lease::Idle),
            }
        }
        Ok(Lease::Busy)
    }

    /// Moves the cursor to `next` (under the lease of `owner`) with the sync's generation and
    /// whether it is a full one; at the end of a sync, also records when it finished. False when
    /// the lease was lost (its holder replays the page).
    pub async fn advance(
        self,
        item: &ConnectionItem,
        owner: &str,
        next: &SyncFrom,
        full_sync: bool,
        finished: bool,
    ) -> Result<bool, StoreError> {
        let mut update = ItemUpdate::new()
            .set("sync_from", sync_from_value(next)?)
            .set("generation", n(item.generation))
            .set("full_sync", boolean(full_sync));
        if finished {
            update = update.set("last_synced_at", s(rfc3339(Utc::now())));
        }
        let update = update.condition("lease_owner = :owner", &[], [(":owner", s(owner))]);
        Ok(update.apply(self.store, ConnectionItem::key(&item.user_id, &item.id)).await?.is_some())
    }

    /// Lets the lease go; true when another job asked for one more sync meanwhile (the lease is
    /// then kept for it).
    pub async fn release_lease(self, item: &ConnectionItem, owner: &str) -> Result<bool, StoreError> {
        let key = ConnectionItem::key(&item.user_id, &item.id);
        let again = ItemUpdate::new().set("sync_again", boolean(false)).condition(
            "lease_owner = :owner AND sync_again = :yes",
            &[],
            [(":owner", s(owner)), (":yes", boolean(true))],
        );
        if again.apply(self.store, key.clone()).await?.is_some() {
            return Ok(true);
        }
        let release = ItemUpdate::new().remove("lease_owner").remove("lease_until").remove("sync_again").condition(
            "lease_owner = :owner",
            &[],
            [(":owner", s(owner))],
        );
        release.apply(self.store, key).await?;
        Ok(false)
    }
}

fn to_value<T: Serialize>(value: &T) -> Result<aws_sdk_dynamodb::types::AttributeValue, StoreError> {
    Ok(serde_dynamo::to_attribute_value(value)?)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn boolean(value: bool) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::Bool(value)
}

fn sync_from_value(from: &SyncFrom) -> Result<aws_sdk_dynamodb::types::AttributeValue, StoreError> {
    to_value(from)
}
