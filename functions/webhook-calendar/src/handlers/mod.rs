//! The handlers of webhook-calendar, one file per provider, and the check both make.

pub mod google;
pub mod microsoft;

use chrono::Utc;
use shared::Base;
use shared::auth::opaque::sha256_hex;
use shared::domain::connection::ConnectionStatus;
use shared::store::connections::ConnectionItem;
use subtle::ConstantTimeEq;

/// The connection a notification's secret (`<user id>.<connection id>.<secret>`, our Google
/// channel token or Graph `clientState`) belongs to, if the secret is its current one, the
/// connection syncs, and `is_current` holds for its live watch (the channel or subscription the
/// notification names). One GetItem.
pub async fn verified_connection(
    app: &Base,
    secret: &str,
    is_current: impl Fn(&shared::integrations::calendars::Watch) -> bool,
) -> Result<Option<ConnectionItem>, shared::store::StoreError> {
    let mut parts = secret.split('.');
    let (Some(user_id), Some(connection_id), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    if ulid::Ulid::from_string(user_id).is_err() || ulid::Ulid::from_string(connection_id).is_err() {
        return Ok(None);
    }
    let Some(connection) = app.store.connections().get_connection(user_id, connection_id).await? else {
        return Ok(None);
    };
    let presented = sha256_hex(secret);
    let stored = connection.watch_secret_hash.as_deref().unwrap_or_default();
    let secret_matches = bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) && !stored.is_empty();
    let live = connection.watch.as_ref().is_some_and(|watch| watch.expires_at > Utc::now() && is_current(watch));
    let syncing = connection.status == ConnectionStatus::Connected;
    Ok((secret_matches && live && syncing).then_some(connection))
}
