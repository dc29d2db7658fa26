//! Types and rules. Pure: no I/O, no AWS or HTTP types.

pub mod account;
pub mod messages;
pub mod notifications;
pub mod occurrence;
pub mod recurrence;
pub mod reminders;
pub mod task;
pub mod template;
pub mod validation;

pub use validation::Violations;
