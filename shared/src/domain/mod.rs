//! Types and rules. Pure: no I/O, no AWS or HTTP types.

pub mod account;
pub mod attachment;
pub mod calendar;
pub mod connection;
pub mod ical;
pub mod messages;
pub mod note;
pub mod notifications;
pub mod occurrence;
pub mod plan;
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
