//! Whether the session an access token was issued for is still live. Access tokens live 15
//! minutes; ending a session must bite sooner. Account routes ask the table on every call
//! (`CheckedUser`); every other route trusts a positive answer for up to `TRUST_SECONDS`, kept in
//! this process (`CurrentUser`), so a revoked session's token is refused within a minute at the
//! cost of one read per session and minute per warm Lambda.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::domain::account::Tier;

/// How long a positive answer is trusted.
pub const TRUST_SECONDS: u64 = 60;
/// Past this many remembered sessions the stale ones are dropped (a Lambda serves few users).
const REMEMBERED_MAX: usize = 10_000;

/// A session found live: its user, the user's tier then (the rate limit's budget), and when.
struct Checked {
    user_id: String,
    tier: Tier,
    at: Instant,
}

static CHECKED: LazyLock<Mutex<HashMap<String, Checked>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn checked() -> std::sync::MutexGuard<'static, HashMap<String, Checked>> {
    CHECKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fresh(checked: &Checked) -> bool {
    checked.at.elapsed() < Duration::from_secs(TRUST_SECONDS)
}

/// Whether `session_id` was found live less than `TRUST_SECONDS` ago in this process.
pub fn recently_live(session_id: &str) -> bool {
    recent_tier(session_id).is_some()
}

/// The tier of a session found live less than `TRUST_SECONDS` ago in this process.
pub fn recent_tier(session_id: &str) -> Option<Tier> {
    checked().get(session_id).filter(|entry| fresh(entry)).map(|entry| entry.tier)
}

/// Remembers that the user's session was found live (or opened) now, with the user's tier.
pub fn remember_live(user_id: &str, session_id: &str, tier: Tier) {
    let mut checked = checked();
    if checked.len() >= REMEMBERED_MAX {
        checked.retain(|_, entry| fresh(entry));
        if checked.len() >= REMEMBERED_MAX {
            checked.clear();
        }
    }
    checked.insert(session_id.to_string(), Checked { user_id: user_id.to_string(), tier, at: Instant::now() });
}

/// Forgets sessions this process just ended, so it refuses their tokens at once.
pub fn forget(session_ids: &[&str]) {
    let mut checked = checked();
    for id in session_ids {
        checked.remove(*id);
    }
}

/// Forgets every session of a user (after ending all or all but one of them).
pub fn forget_user(user_id: &str) {
    checked().retain(|_, entry| entry.user_id != user_id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_session_is_trusted_until_forgotten() {
        let (user, id, other) =
            (ulid::Ulid::new().to_string(), ulid::Ulid::new().to_string(), ulid::Ulid::new().to_string());
        assert!(!recently_live(&id));
        remember_live(&user, &id, Tier::Pro);
        remember_live(&user, &other, Tier::Free);
        assert_eq!(recent_tier(&id), Some(Tier::Pro));
        assert!(recently_live(&id));
        forget(&[&id]);
        assert!(!recently_live(&id));
        assert!(recently_live(&other));
        forget_user(&user);
        assert!(!recently_live(&other));
    }
}
