//! Sessions and their refresh tokens. A session is one login on one device (a refresh-token family);
//! each refresh token is an item that works once. Revoking a session deletes it, which ends its
//! family: a token whose session is gone no longer refreshes.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::accounts::UserItem;
use super::{Store, StoreError, from_item, key, keys, n, s, to_item};
use crate::auth::opaque;

/// A session ends after 30 days without a refresh.
pub const SESSION_IDLE_SECONDS: i64 = 30 * 24 * 3600;
/// A user keeps at most this many sessions: a new login beyond it ends the least recently used.
pub const MAX_SESSIONS: usize = 50;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// How the session began: `password`, `google`, `signup`, `password_reset`.
    pub method: String,
    pub ttl: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshTokenItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub session_id: String,
    pub used: bool,
    pub ttl: i64,
}

/// A session about to be created: the actions that write it, and the refresh token to hand out.
pub struct NewSession {
    pub session_id: String,
    pub refresh_token: String,
    pub actions: Vec<TransactWriteItem>,
}

/// What a refresh token leads to.
pub enum RefreshOutcome {
    /// A fresh pair was issued for this user and session.
    Rotated {
        user: Box<UserItem>,
        session_id: String,
        refresh_token: String,
    },
    /// The token does not exist, expired, or its session was ended.
    Invalid,
    /// The token was used before: the whole family has been revoked.
    Reused,
}

fn refresh_item(user_id: &str, session_id: &str, token: &str, ttl: i64) -> RefreshTokenItem {
    RefreshTokenItem {
        pk: keys::user(user_id),
        sk: keys::refresh_token(&opaque::sha256_hex(token)),
        entity: "refresh_token".into(),
        session_id: session_id.to_string(),
        used: false,
        ttl,
    }
}

fn truncate_user_agent(user_agent: Option<&str>) -> Option<String> {
    user_agent.map(|agent| agent.chars().take(256).collect())
}

impl Store {
    /// The actions that open a session with its first refresh token.
    pub fn new_session(
        &self,
        user_id: &str,
        user_agent: Option<&str>,
        method: &str,
        now: &str,
    ) -> Result<NewSession, StoreError> {
        let session_id = ulid::Ulid::new().to_string();
        let refresh_token = opaque::refresh_token(user_id, &session_id);
        let ttl = super::ttl_in(SESSION_IDLE_SECONDS);
        let session = SessionItem {
            pk: keys::user(user_id),
            sk: keys::session(&session_id),
            entity: "session".into(),
            id: session_id.clone(),
            created_at: now.into(),
            last_used_at: now.into(),
            user_agent: truncate_user_agent(user_agent),
            method: method.into(),
            ttl,
        };
        let token = refresh_item(user_id, &session_id, &refresh_token, ttl);
        let actions = vec![
            self.put_new(to_item(&session)?)?,
            self.put_new(to_item(&token)?)?,
        ];
        Ok(NewSession {
            session_id,
            refresh_token,
            actions,
        })
    }

    /// Opens a session on its own (login): its writes plus `extra`, in one transaction. The least
    /// recently used sessions beyond `MAX_SESSIONS` are ended.
    pub async fn open_session(
        &self,
        user_id: &str,
        user_agent: Option<&str>,
        method: &str,
        extra: Vec<TransactWriteItem>,
    ) -> Result<NewSession, StoreError> {
        let now = super::now_rfc3339();
        let session = self.new_session(user_id, user_agent, method, &now)?;
        let mut actions = session.actions.clone();
        actions.extend(extra);
        self.transact(actions).await?;
        self.trim_sessions(user_id).await?;
        Ok(session)
    }

    async fn trim_sessions(&self, user_id: &str) -> Result<(), StoreError> {
        let mut sessions = self.list_sessions(user_id).await?;
        if sessions.len() <= MAX_SESSIONS {
            return Ok(());
        }
        sessions.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at));
        for stale in &sessions[MAX_SESSIONS..] {
            self.delete_if_exists(keys::user(user_id), &keys::session(&stale.id))
                .await?;
        }
        Ok(())
    }

    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<SessionItem>, StoreError> {
        let items = self
            .query_prefix(keys::user(user_id), keys::SESSION_PREFIX)
            .await?;
        items.into_iter().map(from_item).collect()
    }

    /// Ends one session; false if the user has no such session.
    pub async fn revoke_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<bool, StoreError> {
        self.delete_if_exists(keys::user(user_id), &keys::session(session_id))
            .await
    }

    /// The delete actions that end every session of a user except `keep`.
    pub async fn revoke_sessions_actions(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let sessions = self.list_sessions(user_id).await?;
        sessions
            .iter()
            .filter(|session| Some(session.id.as_str()) != keep)
            .map(|session| self.delete(keys::user(user_id), &keys::session(&session.id)))
            .collect()
    }

    /// Ends every session of a user except `keep`; returns how many ended.
    pub async fn revoke_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<usize, StoreError> {
        let actions = self.revoke_sessions_actions(user_id, keep).await?;
        let count = actions.len();
        for chunk in actions.chunks(100) {
            self.transact(chunk.to_vec()).await?;
        }
        Ok(count)
    }

    /// Exchanges a refresh token for a new one. The old token is marked used in the same
    /// transaction that writes the new one, under the condition that it was unused: of two
    /// concurrent refreshes with one token, one wins and the other counts as reuse.
    pub async fn rotate_refresh_token(&self, token: &str) -> Result<RefreshOutcome, StoreError> {
        let Some((user_id, session_id)) = opaque::parse_refresh_token(token) else {
            return Ok(RefreshOutcome::Invalid);
        };
        let token_sk = keys::refresh_token(&opaque::sha256_hex(token));
        let session_sk = keys::session(session_id);
        let items = self
            .get_many(vec![
                key(keys::user(user_id), token_sk.as_str()),
                key(keys::user(user_id), session_sk.as_str()),
                key(keys::user(user_id), keys::PROFILE),
            ])
            .await?;
        let (mut stored, mut session, mut user) = (None, None, None);
        for item in items {
            match item.get(keys::SK) {
                Some(AttributeValue::S(sk)) if *sk == token_sk => {
                    stored = Some(from_item::<RefreshTokenItem>(item)?)
                }
                Some(AttributeValue::S(sk)) if *sk == session_sk => {
                    session = Some(from_item::<SessionItem>(item)?)
                }
                Some(AttributeValue::S(sk)) if sk == keys::PROFILE => {
                    user = Some(from_item::<UserItem>(item)?)
                }
                _ => {}
            }
        }
        let (Some(stored), Some(_session), Some(user)) = (stored, session, user) else {
            return Ok(RefreshOutcome::Invalid);
        };
        if stored.session_id != session_id {
            return Ok(RefreshOutcome::Invalid);
        }
        if stored.used {
            self.revoke_session(user_id, session_id).await?;
            return Ok(RefreshOutcome::Reused);
        }
        let now = super::now_rfc3339();
        let ttl = super::ttl_in(SESSION_IDLE_SECONDS);
        let new_token = opaque::refresh_token(user_id, session_id);
        let mark_used = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), token_sk.as_str())))
            .update_expression("SET used = :true")
            .condition_expression("attribute_exists(#pk) AND used = :false")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(|error| StoreError::Dynamo(error.to_string()))?;
        let touch_session = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user(user_id), session_sk.as_str())))
            .update_expression("SET last_used_at = :now, #ttl = :ttl")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":ttl", n(ttl))
            .build()
            .map_err(|error| StoreError::Dynamo(error.to_string()))?;
        let actions = vec![
            TransactWriteItem::builder().update(mark_used).build(),
            TransactWriteItem::builder().update(touch_session).build(),
            self.put_new(to_item(&refresh_item(
                user_id, session_id, &new_token, ttl,
            ))?)?,
        ];
        match self.transact(actions).await {
            Ok(()) => Ok(RefreshOutcome::Rotated {
                user: Box::new(user),
                session_id: session_id.to_string(),
                refresh_token: new_token,
            }),
            Err(error) if error.failed_condition_at(0) => {
                self.revoke_session(user_id, session_id).await?;
                Ok(RefreshOutcome::Reused)
            }
            Err(error) if error.failed_condition_at(1) => Ok(RefreshOutcome::Invalid),
            Err(error) => Err(error),
        }
    }
}
