//! How an account proves who it is, and the writes that change it: a new or reset password, a
//! Google identity claimed or linked or unlinked, every session ended. Each is one transaction
//! whose cost does not grow with the number of sessions: the profile's `session_epoch` moves on,
//! and a session opened under an older epoch neither refreshes nor authenticates again.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::accounts::{Accounts, GOOGLE_TAKEN, GoogleItem, UserItem};
use super::tokens::OneTimeKind;
use super::{StoreError, WriteError, key, keys, n, s, to_item};
use crate::domain::account::Profile;

/// What changes on the profile in the same write that ends the sessions.
#[derive(Debug, Default, Clone, Copy)]
struct CredentialChange<'a> {
    new_password_hash: Option<&'a str>,
    drop_password: bool,
    verify_email: bool,
    google_sub: Option<&'a str>,
}

/// Why a Google identity cannot be linked to an account.
pub const GOOGLE_ALREADY_LINKED: WriteError<Profile> = WriteError::Conflict {
    code: "google_already_linked",
    detail: "this account is linked to another Google account; unlink it first",
};
/// Unlinking would leave the account with no way to sign in.
pub const LAST_SIGN_IN_METHOD: WriteError<Profile> = WriteError::Conflict {
    code: "last_sign_in_method",
    detail: "set a password before unlinking Google: it is this account's only way to sign in",
};

/// A transaction that lost the race for the profile is computed again this many times.
const EPOCH_RACE_ATTEMPTS: usize = 4;

impl Accounts<'_> {
    /// A new password; every session but `keep` ends. The email stays as verified as it was.
    pub async fn change_password(self, user_id: &str, password_hash: &str, keep: &str) -> Result<(), StoreError> {
        let change = CredentialChange { new_password_hash: Some(password_hash), ..Default::default() };
        self.end_sessions_with(user_id, Some(keep), change, Vec::new()).await.map(|_| ())
    }

    /// A password reset: the token consumed, the new password set, every session ended, and the
    /// email verified (whoever read the reset mail controls the address), and every older reset link
    /// ended, in one transaction.
    /// Answers the user whose password it was; none when the token is invalid, used or expired.
    pub async fn reset_password(self, token: &str, password_hash: &str) -> Result<Option<String>, StoreError> {
        let Some((user_id, consume)) = self.store.tokens().consume_one_time_token(token, OneTimeKind::PasswordReset)?
        else {
            return Ok(None);
        };
        let change =
            CredentialChange { new_password_hash: Some(password_hash), verify_email: true, ..Default::default() };
        let mut actions = vec![consume];
        actions.extend(self.store.tokens().revoke_others(&user_id, OneTimeKind::PasswordReset, token).await?);
        let reset = self.end_sessions_with(&user_id, None, change, actions).await?;
        Ok(reset.then_some(user_id))
    }

    /// Ends every session of the user but `keep`: one write, whatever their number.
    pub async fn end_sessions(self, user_id: &str, keep: Option<&str>) -> Result<(), StoreError> {
        self.end_sessions_with(user_id, keep, CredentialChange::default(), Vec::new()).await.map(|_| ())
    }

    /// A Google identity (whose email Google verified) claims the account with that email, which
    /// nobody ever verified: whoever signed up with the address could not prove it, so their
    /// password and every session end in the same transaction, and the address counts as verified.
    pub async fn claim_with_google(self, user: &UserItem, subject: &str) -> Result<(), WriteError<Profile>> {
        let change = CredentialChange {
            drop_password: true,
            verify_email: true,
            google_sub: Some(subject),
            ..Default::default()
        };
        self.write_google_identity(user, subject, None, change).await
    }

    /// Links a Google identity to a signed-in account (whose email is its own business: the
    /// signed-in owner asks for it). Sessions other than `keep` stay.
    pub async fn link_google(self, user: &UserItem, subject: &str) -> Result<(), WriteError<Profile>> {
        let change = CredentialChange { google_sub: Some(subject), ..Default::default() };
        self.write_google_identity(user, subject, Some(user.session_epoch), change).await
    }

    /// Unlinks Google from the account, only when a password remains to sign in with.
    pub async fn unlink_google(self, user: &UserItem) -> Result<(), WriteError<Profile>> {
        let Some(subject) = user.google_sub.as_deref() else {
            return Err(WriteError::NotFound);
        };
        if user.password_hash.is_none() {
            return Err(LAST_SIGN_IN_METHOD);
        }
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(&user.id), keys::PROFILE)))
            .update_expression("REMOVE google_sub SET updated_at = :now")
            .condition_expression("google_sub = :sub AND attribute_exists(password_hash)")
            .expression_attribute_values(":sub", s(subject))
            .expression_attribute_values(":now", s(super::now_rfc3339()))
            .build()
            .map_err(StoreError::from)?;
        let actions = vec![
            TransactWriteItem::builder().update(update).build(),
            self.store.delete(keys::google(subject), keys::GOOGLE_SK)?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) => Err(LAST_SIGN_IN_METHOD),
            Err(error) => Err(error.into()),
        }
    }

    /// The Google item (new: one identity, one account) and the profile change, in one
    /// transaction conditioned on the profile having no Google identity yet. With `keep_epoch`
    /// the sessions stay (the epoch must still be that one); without, they end.
    async fn write_google_identity(
        self,
        user: &UserItem,
        subject: &str,
        keep_epoch: Option<u64>,
        change: CredentialChange<'_>,
    ) -> Result<(), WriteError<Profile>> {
        if user.google_sub.is_some() {
            return Err(GOOGLE_ALREADY_LINKED);
        }
        let google_item = GoogleItem {
            pk: keys::google(subject),
            sk: keys::GOOGLE_SK.into(),
            entity: "google".into(),
            user_id: user.id.clone(),
        };
        let claim = self.store.put_new(to_item(&google_item)?)?;
        let epoch = user.session_epoch;
        let next = keep_epoch.unwrap_or(epoch + 1);
        let update = self.credential_update(&user.id, epoch, next, change, "attribute_not_exists(google_sub)")?;
        match self.store.transact(vec![update, claim]).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(1) => Err(GOOGLE_TAKEN),
            // The profile changed meanwhile (another link, a password change): the caller reads again.
            Err(error) if error.failed_condition_at(0) => Err(WriteError::Conflict {
                code: "account_changed",
                detail: "the account changed while linking; try again",
            }),
            Err(error) => Err(error.into()),
        }
    }

    /// Moves the session epoch on with `change`, keeping `keep` (its epoch moves along), with
    /// `extra` actions in the same transaction. False when a condition of `extra` failed.
    async fn end_sessions_with(
        self,
        user_id: &str,
        keep: Option<&str>,
        change: CredentialChange<'_>,
        extra: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        let mut keep = keep;
        for _ in 0..EPOCH_RACE_ATTEMPTS {
            let Some(user) = self.get_user(user_id).await? else {
                return Ok(false);
            };
            let next = user.session_epoch + 1;
            let mut actions = vec![self.credential_update(user_id, user.session_epoch, next, change, "")?];
            actions.extend(extra.iter().cloned());
            if let Some(session_id) = keep {
                actions.push(self.store.sessions().move_to_epoch(user_id, session_id, next)?);
            }
            let kept_at = actions.len() - 1;
            match self.store.transact(actions).await {
                Ok(()) => return Ok(true),
                // Another change moved the epoch first: compute again from the profile as it is.
                Err(error) if error.failed_condition_at(0) => continue,
                // The session to keep was ended meanwhile: end it with the others.
                Err(error) if keep.is_some() && error.failed_condition_at(kept_at) => keep = None,
                Err(error) if error.is_condition_failure() => return Ok(false),
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Contended("the profile's session epoch kept changing"))
    }

    /// The profile update: `session_epoch` from `epoch` to `next` (on condition it is still
    /// `epoch`), plus `change`, plus an extra `condition`.
    fn credential_update(
        self,
        user_id: &str,
        epoch: u64,
        next: u64,
        change: CredentialChange<'_>,
        condition: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut sets = vec!["session_epoch = :next", "updated_at = :now"];
        let mut removes = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::PROFILE)))
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":epoch", n(epoch))
            .expression_attribute_values(":next", n(next))
            .expression_attribute_values(":now", s(super::now_rfc3339()));
        if let Some(hash) = change.new_password_hash {
            sets.push("password_hash = :hash");
            update = update.expression_attribute_values(":hash", s(hash));
        }
        if change.drop_password {
            removes.push("password_hash");
        }
        if change.verify_email {
            sets.push("email_verified = :verified");
            update = update.expression_attribute_values(":verified", AttributeValue::Bool(true));
        }
        if let Some(subject) = change.google_sub {
            sets.push("google_sub = :sub");
            update = update.expression_attribute_values(":sub", s(subject));
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let mut guard = if epoch == 0 {
            // A profile written before epochs existed has none: it is at epoch 0.
            "attribute_exists(#pk) AND (attribute_not_exists(session_epoch) OR session_epoch = :epoch)".to_string()
        } else {
            "attribute_exists(#pk) AND session_epoch = :epoch".to_string()
        };
        if !condition.is_empty() {
            guard.push_str(&format!(" AND {condition}"));
        }
        let update = update.update_expression(expression).condition_expression(guard).build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
