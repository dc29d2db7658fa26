//! Accounts: the profile item under the user's partition, plus the email and Google items that
//! make those identifiers unique and let login find the user.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::tokens::OneTimeKind;
use super::{Store, StoreError, WriteError, from_item, key, keys, n, s, to_item};
use crate::domain::account::{Profile, Tier};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub id: String,
    pub email: String,
    pub name: String,
    pub timezone: String,
    pub language: String,
    /// The client's preferences object, kept as JSON text.
    pub preferences: String,
    pub tier: Tier,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_sub: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
    /// Sessions opened under an older epoch are over: ending every session is one write here.
    #[serde(default)]
    pub session_epoch: u64,
}

impl UserItem {
    #[allow(clippy::too_many_arguments)]
    pub fn new(id: String, email: String, name: String, timezone: String, language: String, now: &str) -> Self {
        UserItem {
            pk: keys::user(&id),
            sk: keys::PROFILE.into(),
            entity: "user".into(),
            id,
            email,
            name,
            timezone,
            language,
            preferences: "{}".into(),
            tier: Tier::Free,
            password_hash: None,
            email_verified: false,
            google_sub: None,
            created_at: now.into(),
            updated_at: now.into(),
            version: 1,
            session_epoch: 0,
        }
    }

    pub fn preferences_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.preferences).unwrap_or_else(|_| serde_json::json!({}))
    }
}

/// The profile as its owner sees it.
impl From<&UserItem> for Profile {
    fn from(user: &UserItem) -> Self {
        Profile {
            id: user.id.clone(),
            email: user.email.clone(),
            email_verified: user.email_verified,
            name: user.name.clone(),
            timezone: user.timezone.clone(),
            language: user.language.clone(),
            preferences: user.preferences_json(),
            tier: user.tier,
            google_linked: user.google_sub.is_some(),
            has_password: user.password_hash.is_some(),
            version: user.version,
            created_at: user.created_at.clone(),
            updated_at: user.updated_at.clone(),
        }
    }
}

/// `EMAIL#<email>` -> user id.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmailItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub user_id: String,
}

/// `GOOGLE#<sub>` -> user id.
#[derive(Debug, Serialize, Deserialize)]
pub struct GoogleItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub user_id: String,
}

/// A refused account creation or profile change; a version conflict carries the profile as it is.
pub type AccountWriteError = WriteError<Profile>;

/// An account with this email exists.
pub const EMAIL_TAKEN: AccountWriteError =
    WriteError::Conflict { code: "email_taken", detail: "an account with this email exists" };
/// This Google account is linked to another user.
pub const GOOGLE_TAKEN: AccountWriteError =
    WriteError::Conflict { code: "google_taken", detail: "this Google account is linked to another user" };

/// Profile fields a user may change; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct ProfileChanges {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub language: Option<String>,
    pub preferences: Option<serde_json::Value>,
}

/// What signup made: the first session, and the email verification token to send.
pub struct SignedUp {
    pub session: super::sessions::NewSession,
    pub verify_token: String,
}

/// Accounts: the user, their unique email and Google identity, login failures, passwords. Reached as `store.accounts()`.
#[derive(Clone, Copy)]
pub struct Accounts<'a> {
    pub(crate) store: &'a Store,
}

impl Accounts<'_> {
    /// Signup: the profile with its email item, the first session and an email verification token,
    /// in one transaction. Answers the session and the token to mail.
    pub async fn signup(self, user: &UserItem, user_agent: Option<&str>) -> Result<SignedUp, AccountWriteError> {
        let session = self.store.sessions().new_session(&user.id, 0, user_agent, "signup", &user.created_at)?;
        let (verify_token, store_verify_token) =
            self.store.tokens().issue_one_time_token(&user.id, OneTimeKind::EmailVerification)?;
        self.create_account(user, None, vec![session.put.clone(), store_verify_token]).await?;
        Ok(SignedUp { session, verify_token })
    }

    /// Confirms an email with its verification token (single use); false when the token is
    /// invalid, used or expired.
    pub async fn verify_email(self, token: &str) -> Result<bool, StoreError> {
        let Some((user_id, consume)) =
            self.store.tokens().consume_one_time_token(token, OneTimeKind::EmailVerification)?
        else {
            return Ok(false);
        };
        match self.store.transact(vec![consume, self.mark_email_verified(&user_id)?]).await {
            Ok(()) => Ok(true),
            Err(error) if error.is_condition_failure() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Creates an account signed in with Google: the profile, its email and its Google identity.
    pub async fn create_with_google(self, user: &UserItem, google_sub: &str) -> Result<(), AccountWriteError> {
        self.create_account(user, Some(google_sub), Vec::new()).await
    }

    /// Creates the profile with its email item (and Google item), plus `extra` actions (the first
    /// session, a verification token) in one transaction. Uniqueness is the email item's condition.
    pub(crate) async fn create_account(
        self,
        user: &UserItem,
        google_sub: Option<&str>,
        extra: Vec<TransactWriteItem>,
    ) -> Result<(), AccountWriteError> {
        let email_item = EmailItem {
            pk: keys::email(&user.email),
            sk: keys::EMAIL_SK.into(),
            entity: "email".into(),
            user_id: user.id.clone(),
        };
        let mut actions = vec![self.store.put_new(to_item(&email_item)?)?, self.store.put_new(to_item(user)?)?];
        if let Some(sub) = google_sub {
            let google_item = GoogleItem {
                pk: keys::google(sub),
                sk: keys::GOOGLE_SK.into(),
                entity: "google".into(),
                user_id: user.id.clone(),
            };
            actions.push(self.store.put_new(to_item(&google_item)?)?);
        }
        // The kickstart credits come with the account, once.
        actions.extend(self.store.credits().opening(&user.id)?);
        actions.extend(extra);
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) => Err(EMAIL_TAKEN),
            Err(error) if google_sub.is_some() && error.failed_condition_at(2) => Err(GOOGLE_TAKEN),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn user_id_by_email(self, normalized_email: &str) -> Result<Option<String>, StoreError> {
        let item: Option<EmailItem> = self.store.get(keys::email(normalized_email), keys::EMAIL_SK).await?;
        Ok(item.map(|item| item.user_id))
    }

    pub async fn user_id_by_google(self, subject: &str) -> Result<Option<String>, StoreError> {
        let item: Option<GoogleItem> = self.store.get(keys::google(subject), keys::GOOGLE_SK).await?;
        Ok(item.map(|item| item.user_id))
    }

    pub async fn get_user(self, user_id: &str) -> Result<Option<UserItem>, StoreError> {
        self.store.get(keys::user(user_id), keys::PROFILE).await
    }

    /// An update (for a transaction) that marks the email verified.
    pub(crate) fn mark_email_verified(self, user_id: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::PROFILE)))
            .update_expression("SET email_verified = :verified")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":verified", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
            .build()
            .map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Applies profile changes, bumping `version`. With `expected_version`, only if it still holds.
    /// One UpdateItem; a timezone change also moves the digest index entry (see
    /// `update_profile_and_digest`).
    pub async fn update_profile(
        self,
        user_id: &str,
        changes: &ProfileChanges,
        expected_version: Option<u64>,
        now: &str,
    ) -> Result<UserItem, AccountWriteError> {
        if let Some(timezone) = &changes.timezone {
            return self.update_profile_and_digest(user_id, changes, timezone, expected_version, now).await;
        }
        let mut sets = vec!["updated_at = :now".to_string(), "version = version + :one".to_string()];
        let mut request = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::PROFILE)))
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let fields = [
            ("name", changes.name.clone()),
            ("timezone", changes.timezone.clone()),
            ("language", changes.language.clone()),
            ("preferences", changes.preferences.as_ref().map(|value| value.to_string())),
        ];
        for (field, value) in fields {
            if let Some(value) = value {
                sets.push(format!("#{field} = :{field}"));
                request = request
                    .expression_attribute_names(format!("#{field}"), field)
                    .expression_attribute_values(format!(":{field}"), s(value));
            }
        }
        request = request.update_expression(format!("SET {}", sets.join(", ")));
        request = match expected_version {
            Some(version) => request
                .condition_expression("attribute_exists(#pk) AND version = :expected")
                .expression_attribute_values(":expected", n(version)),
            None => request.condition_expression("attribute_exists(#pk)"),
        };
        match request.send().await {
            Ok(output) => Ok(from_item(output.attributes.unwrap_or_default())?),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let current = match failed.item {
                        Some(item) if !item.is_empty() => Some(from_item(item)?),
                        // Not every DynamoDB implementation returns the old item: read it.
                        _ => self.get_user(user_id).await?,
                    };
                    match current {
                        Some(current) => Err(WriteError::VersionConflict(Box::new(Profile::from(&current)))),
                        None => Err(AccountWriteError::NotFound),
                    }
                }
                other => Err(StoreError::Dynamo(Box::new(other)).into()),
            },
        }
    }

    /// A change that includes the timezone: the digest index entry (`DIGEST`, GSI1
    /// `DIGEST#<timezone>#<hour>`) must move with it, in the same transaction. BatchGetItem of
    /// the profile and the entry, then TransactWriteItems: the profile's update on condition of
    /// the version read, and the entry's move on condition of the hour read (or a check that there
    /// is still none), so a concurrent preferences change cannot leave it behind. A lost race is
    /// computed again. 2 round trips.
    async fn update_profile_and_digest(
        self,
        user_id: &str,
        changes: &ProfileChanges,
        timezone: &str,
        expected_version: Option<u64>,
        now: &str,
    ) -> Result<UserItem, AccountWriteError> {
        for _ in 0..4 {
            let items = self
                .store
                .get_many(vec![key(keys::user(user_id), keys::PROFILE), key(keys::user(user_id), keys::DIGEST)])
                .await?;
            let mut user: Option<UserItem> = None;
            let mut digest: Option<super::digests::DigestItem> = None;
            for item in items {
                match item.get(keys::SK) {
                    Some(aws_sdk_dynamodb::types::AttributeValue::S(sk)) if sk == keys::PROFILE => {
                        user = Some(from_item(item)?)
                    }
                    Some(aws_sdk_dynamodb::types::AttributeValue::S(sk)) if sk == keys::DIGEST => {
                        digest = Some(from_item(item)?)
                    }
                    _ => {}
                }
            }
            let current = user.ok_or(AccountWriteError::NotFound)?;
            if expected_version.is_some_and(|expected| expected != current.version) {
                return Err(WriteError::VersionConflict(Box::new(Profile::from(&current))));
            }
            let mut updated = current.clone();
            let mut sets = vec!["updated_at = :now".to_string(), "version = :new_version".to_string()];
            let mut update = Update::builder()
                .table_name(&self.store.table)
                .set_key(Some(key(keys::user(user_id), keys::PROFILE)))
                .condition_expression("version = :version")
                .expression_attribute_values(":now", s(now))
                .expression_attribute_values(":version", n(current.version))
                .expression_attribute_values(":new_version", n(current.version + 1));
            let fields = [
                ("name", changes.name.clone()),
                ("timezone", changes.timezone.clone()),
                ("language", changes.language.clone()),
                ("preferences", changes.preferences.as_ref().map(|value| value.to_string())),
            ];
            for (field, value) in fields {
                let Some(value) = value else { continue };
                sets.push(format!("#{field} = :{field}"));
                update = update
                    .expression_attribute_names(format!("#{field}"), field)
                    .expression_attribute_values(format!(":{field}"), s(value.clone()));
                match field {
                    "name" => updated.name = value,
                    "timezone" => updated.timezone = value,
                    "language" => updated.language = value,
                    _ => updated.preferences = value,
                }
            }
            updated.version = current.version + 1;
            updated.updated_at = now.to_string();
            let update =
                update.update_expression(format!("SET {}", sets.join(", "))).build().map_err(StoreError::from)?;
            let actions = vec![
                TransactWriteItem::builder().update(update).build(),
                self.store.digests().follow_timezone(user_id, digest.as_ref(), timezone)?,
            ];
            match self.store.transact(actions).await {
                Ok(()) => return Ok(updated),
                // The profile or the digest entry changed since they were read: read again (a
                // client's If-Match is compared with the new version above).
                Err(error) if error.is_condition_failure() => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Contended("the profile kept changing concurrently").into())
    }
}
