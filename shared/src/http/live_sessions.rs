//! Whether the session an access token was issued for is still live. Access tokens live 15
//! minutes; ending a session must bite sooner. Account routes ask the table on every call
//! (`CheckedUser`); every other route trusts a positive answer for up to `TRUST_SECONDS`, kept in
//! this process (`CurrentUser`), so a revoked session's token is refused within a minute at the
//! cost of one read per session and minute per warm Lambda.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How long a positive answer is trusted.
pub const TRUST_SECONDS: u64 = 60;
/// Past this many remembered sessions the stale ones are dropped (a Lambda serves few users).
const REMEMBERED_MAX: usize = 10_000;

static CHECKED: LazyLock<Mutex<HashMap<String, Instant>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether `session_id` was found live less than `TRUST_SECONDS` ago in this process.
pub fn recently_live(session_id: &str) -> bool {
    let checked = CHECKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    checked.get(session_id).is_some_and(|at| at.elapsed() < Duration::from_secs(TRUST_SECONDS))
}

/// Remembers that `session_id` was found live now.
pub fn remember_live(session_id: &str) {
    let mut checked = CHECKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if checked.len() >= REMEMBERED_MAX {
        checked.retain(|_, at| at.elapsed() < Duration::from_secs(TRUST_SECONDS));
        if checked.len() >= REMEMBERED_MAX {
            checked.clear();
        }
    }
    checked.insert(session_id.to_string(), Instant::now());
}

/// Forgets sessions this process just ended, so it refuses their tokens at once.
pub fn forget(session_ids: &[&str]) {
    let mut checked = CHECKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for id in session_ids {
        checked.remove(*id);
    }
}

/// Forgets every session (an "end all" whose session ids this process does not know).
pub fn forget_all() {
    CHECKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_session_is_trusted_until_forgotten() {
        let id = ulid::Ulid::new().to_string();
        assert!(!recently_live(&id));
        remember_live(&id);
        assert!(recently_live(&id));
        forget(&[&id]);
        assert!(!recently_live(&id));
    }
}
