//! Types and rules. Pure: no I/O, no AWS or HTTP types.

pub mod account;
pub mod ai;
pub mod attachment;
pub mod billing;
pub mod calendar;
pub mod connection;
pub mod credits;
pub mod ical;
pub mod messages;
pub mod narration;
pub mod note;
pub mod notifications;
pub mod occurrence;
pub mod plan;
pub mod planner;
pub mod recurrence;
pub mod reminders;
pub mod task;
pub mod template;
pub mod validation;

pub use validation::Violations;

/// An object clients change under optimistic concurrency (`ETag` out, `If-Match` in); a refused
/// write answers it as it is now.
pub trait Versioned: serde::Serialize {
    /// What a client calls it, e.g. `task`.
    const KIND: &'static str;
    fn version(&self) -> u64;
}

/// An id derived from `seed`, shaped as a ULID like every id of the API: the same seed gives the
/// same id, so work done twice (a replayed page, a retried message) writes the same items.
pub fn derived_id(seed: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    ulid::Ulid::from(u128::from_be_bytes(bytes)).to_string()
}
