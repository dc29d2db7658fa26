//! Sessions. A session is one login on one device: a refresh-token family. The session item holds
//! the hash of its one live refresh token and the hashes of the last ones it replaced, so rotation is
//! one conditional write to one item and reuse of an old token is recognised. Revoking a session
//! deletes its item, which ends the family: no token of it refreshes again. A session belongs to
//! the profile's `session_epoch` it was opened in; moving the epoch on ends them all at once
//! (`accounts().end_sessions`). A user keeps at most `MAX_SESSIONS`: opening one more ends the oldest.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::accounts::UserItem;
use super::{Store, StoreError, condition_held, from_item, key, keys, n, s, to_item};
use crate::auth::opaque;
use crate::domain::account::Tier;

/// A session ends after 30 days without a refresh.
pub const SESSION_IDLE_SECONDS: i64 = 30 * 24 * 3600;
/// How many replaced refresh tokens a session remembers to recognise their reuse. Refreshing every
/// 15 minutes, that covers the last 5 hours; an older token is simply invalid.
pub const REMEMBERED_TOKENS: usize = 20;
/// How long the token just replaced still gets the same successor (a retried refresh).
pub const RETRY_GRACE_SECONDS: i64 = 30;
/// Live sessions per user; a login past it ends the oldest.
pub const MAX_SESSIONS: usize = 20;

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
    /// How the session began: `password`, `google`, `signup`.
    pub method: String,
    /// SHA-256 of the refresh token that works now.
    pub token_hash: String,
    /// SHA-256 of the tokens it replaced, newest first.
    #[serde(default)]
    pub used_token_hashes: Vec<String>,
    pub ttl: i64,
    /// The profile's `session_epoch` this session belongs to.
    #[serde(default)]
    pub epoch: u64,
}

impl SessionItem {
    /// Live for `user`: of its current epoch and not expired.
    fn is_live_for(&self, user: &UserItem, now: i64) -> bool {
        self.epoch == user.session_epoch && self.ttl > now
    }

    /// Whether `presented` is the token this session replaced last, by `successor`, less than
    /// `RETRY_GRACE_SECONDS` ago: a retry, which gets the same successor.
    fn retried_within_grace(&self, presented: &str, successor: &str) -> bool {
        let rotated_at = chrono::DateTime::parse_from_rfc3339(&self.last_used_at).map(|at| at.timestamp());
        let recent = rotated_at.is_ok_and(|at| chrono::Utc::now().timestamp() - at < RETRY_GRACE_SECONDS);
        recent
            && self.used_token_hashes.first().map(String::as_str) == Some(presented)
            && self.token_hash == opaque::sha256_hex(successor)
    }
}

/// A session about to be created: the Put that writes it, and the refresh token to hand out.
pub struct NewSession {
    pub session_id: String,
    pub refresh_token: String,
    pub put: TransactWriteItem,
}

/// What a refresh token leads to.
pub enum RefreshOutcome {
    /// A fresh token was issued for this user and session.
    Rotated { user: Box<UserItem>, session_id: String, refresh_token: String },
    /// The token does not exist, expired, or its session was ended.
    Invalid,
    /// The token was used before: the whole family has been revoked.
    Reused,
}

fn truncate_user_agent(user_agent: Option<&str>) -> Option<String> {
    user_agent.map(|agent| agent.chars().take(256).collect())
}

/// Sessions and their refresh tokens. Reached as `store.sessions()`.
#[derive(Clone, Copy)]
pub struct Sessions<'a> {
    pub(crate) store: &'a Store,
}

impl Sessions<'_> {
    /// The Put that opens a session with its first refresh token.
    pub(crate) fn new_session(
        self,
        user_id: &str,
        epoch: u64,
        user_agent: Option<&str>,
        method: &str,
        now: &str,
    ) -> Result<NewSession, StoreError> {
        let session_id = ulid::Ulid::new().to_string();
        let refresh_token = opaque::refresh_token(user_id, &session_id);
        let session = SessionItem {
            pk: keys::user(user_id),
            sk: keys::session(&session_id),
            entity: "session".into(),
            id: session_id.clone(),
            created_at: now.into(),
            last_used_at: now.into(),
            user_agent: truncate_user_agent(user_agent),
            method: method.into(),
            token_hash: opaque::sha256_hex(&refresh_token),
            used_token_hashes: Vec::new(),
            ttl: super::ttl_in(SESSION_IDLE_SECONDS),
            epoch,
        };
        let put = self.store.put_new(to_item(&session)?)?;
        Ok(NewSession { session_id, refresh_token, put })
    }

    /// Opens a session (a login by `method`) in the user's current epoch, then ends the oldest
    /// beyond `MAX_SESSIONS` and any of an older epoch.
    pub async fn open(self, user: &UserItem, user_agent: Option<&str>, method: &str) -> Result<NewSession, StoreError> {
        self.open_with(user, user_agent, method, Vec::new()).await
    }

    /// A password login's session: opened with its email's attempts forgotten, in one transaction.
    pub async fn open_after_password(
        self,
        user: &UserItem,
        user_agent: Option<&str>,
    ) -> Result<NewSession, StoreError> {
        let forget_attempts = self.store.login_attempts().clear_action(&user.email)?;
        self.open_with(user, user_agent, "password", vec![forget_attempts]).await
    }

    async fn open_with(
        self,
        user: &UserItem,
        user_agent: Option<&str>,
        method: &str,
        extra: Vec<TransactWriteItem>,
    ) -> Result<NewSession, StoreError> {
        let session = self.new_session(&user.id, user.session_epoch, user_agent, method, &super::now_rfc3339())?;
        let mut actions = vec![session.put.clone()];
        actions.extend(extra);
        self.store.transact(actions).await?;
        self.trim(user).await?;
        Ok(session)
    }

    /// Deletes the sessions past the cap (oldest first: ids are ULIDs) and the dead ones.
    async fn trim(self, user: &UserItem) -> Result<(), StoreError> {
        let sessions = self.all_sessions(&user.id).await?;
        let now = chrono::Utc::now().timestamp();
        let (live, dead): (Vec<_>, Vec<_>) = sessions.into_iter().partition(|session| session.is_live_for(user, now));
        let surplus = live.len().saturating_sub(MAX_SESSIONS);
        for session in dead.iter().chain(live.iter().take(surplus)) {
            self.revoke_session(&user.id, &session.id).await?;
        }
        Ok(())
    }

    /// Every session item of a user, oldest first, dead ones included.
    async fn all_sessions(self, user_id: &str) -> Result<Vec<SessionItem>, StoreError> {
        let items = self.store.query_prefix(keys::user(user_id), keys::SESSION_PREFIX).await?;
        items.into_iter().map(from_item).collect()
    }

    /// The user's live sessions (at most `MAX_SESSIONS`, give or take concurrent logins).
    pub async fn live_sessions(self, user: &UserItem) -> Result<Vec<SessionItem>, StoreError> {
        let now = chrono::Utc::now().timestamp();
        Ok(self.all_sessions(&user.id).await?.into_iter().filter(|session| session.is_live_for(user, now)).collect())
    }

    /// The user's tier when `session_id` is a live session of theirs, else none: one
    /// BatchGetItem of the session and the profile.
    pub async fn live_tier(self, user_id: &str, session_id: &str) -> Result<Option<Tier>, StoreError> {
        let (session, user) = self.session_and_user(user_id, session_id).await?;
        let now = chrono::Utc::now().timestamp();
        Ok(match (session, user) {
            (Some(session), Some(user)) if session.is_live_for(&user, now) => Some(user.tier),
            _ => None,
        })
    }

    /// Ends one session; false if the user has no such session.
    pub async fn revoke_session(self, user_id: &str, session_id: &str) -> Result<bool, StoreError> {
        self.store.delete_if_exists(keys::user(user_id), &keys::session(session_id)).await
    }

    /// The update (for a transaction) that moves a kept session to the epoch its profile moves to.
    pub(crate) fn move_to_epoch(
        self,
        user_id: &str,
        session_id: &str,
        epoch: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::session(session_id))))
            .update_expression("SET epoch = :epoch")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":epoch", n(epoch))
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn session_and_user(
        self,
        user_id: &str,
        session_id: &str,
    ) -> Result<(Option<SessionItem>, Option<UserItem>), StoreError> {
        let session_sk = keys::session(session_id);
        let items = self
            .store
            .get_many(vec![key(keys::user(user_id), session_sk.as_str()), key(keys::user(user_id), keys::PROFILE)])
            .await?;
        let (mut session, mut user) = (None, None);
        for item in items {
            match item.get(keys::SK) {
                Some(AttributeValue::S(sk)) if *sk == session_sk => session = Some(from_item::<SessionItem>(item)?),
                Some(AttributeValue::S(sk)) if sk == keys::PROFILE => user = Some(from_item::<UserItem>(item)?),
                _ => {}
            }
        }
        Ok((session, user))
    }

    /// Exchanges a refresh token for its successor (`next` computes it from the presented token,
    /// its user and session)
    /// with one write conditioned on the presented token still being the live one. The token just
    /// replaced, presented again within `RETRY_GRACE_SECONDS` (a lost answer, two tabs, two
    /// concurrent refreshes), gets the same successor and ends nothing; later, or any older token,
    /// counts as reuse and ends the session.
    pub async fn rotate_refresh_token(
        self,
        token: &str,
        next: impl Fn(&str, &str, &str) -> String,
    ) -> Result<RefreshOutcome, StoreError> {
        let Some((user_id, session_id)) = opaque::parse_refresh_token(token) else {
            return Ok(RefreshOutcome::Invalid);
        };
        let (Some(session), Some(user)) = self.session_and_user(user_id, session_id).await? else {
            return Ok(RefreshOutcome::Invalid);
        };
        // A session of an older epoch was ended with all the others.
        if !session.is_live_for(&user, chrono::Utc::now().timestamp()) {
            return Ok(RefreshOutcome::Invalid);
        }
        let presented = opaque::sha256_hex(token);
        let successor = next(token, user_id, session_id);
        let rotated = |user: UserItem| RefreshOutcome::Rotated {
            user: Box::new(user),
            session_id: session_id.to_string(),
            refresh_token: successor.clone(),
        };
        if session.token_hash != presented {
            if session.retried_within_grace(&presented, &successor) {
                return Ok(rotated(user));
            }
            if session.used_token_hashes.contains(&presented) {
                self.revoke_session(user_id, session_id).await?;
                return Ok(RefreshOutcome::Reused);
            }
            return Ok(RefreshOutcome::Invalid);
        }
        match self.replace_token(user_id, session_id, &session, &presented, &successor).await? {
            true => Ok(rotated(user)),
            // Another refresh with this very token won the race: it wrote the same successor.
            false => match self.session_and_user(user_id, session_id).await? {
                (Some(current), _) if current.retried_within_grace(&presented, &successor) => Ok(rotated(user)),
                _ => {
                    self.revoke_session(user_id, session_id).await?;
                    Ok(RefreshOutcome::Reused)
                }
            },
        }
    }

    /// Moves the live token from `presented` to `successor`; false when `presented` was no
    /// longer the live one.
    async fn replace_token(
        self,
        user_id: &str,
        session_id: &str,
        session: &SessionItem,
        presented: &str,
        successor: &str,
    ) -> Result<bool, StoreError> {
        let mut used: Vec<AttributeValue> = vec![s(presented)];
        used.extend(session.used_token_hashes.iter().take(REMEMBERED_TOKENS - 1).map(|hash| s(hash.as_str())));
        let result = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::session(session_id))))
            .update_expression("SET token_hash = :new, used_token_hashes = :used, last_used_at = :now, #ttl = :ttl")
            .condition_expression("attribute_exists(#pk) AND token_hash = :presented")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":new", s(opaque::sha256_hex(successor)))
            .expression_attribute_values(":used", AttributeValue::L(used))
            .expression_attribute_values(":now", s(super::now_rfc3339()))
            .expression_attribute_values(":ttl", n(super::ttl_in(SESSION_IDLE_SECONDS)))
            .expression_attribute_values(":presented", s(presented))
            .send()
            .await;
        condition_held(result)
    }
}
