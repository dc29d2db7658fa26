//! Background work run by the scheduled and queue-driven functions. Each job is a plain async
//! function over the store and clients, so the Lambda entry point, the local gateway and tests
//! run the same code.

pub mod ai;
pub mod calendar_sync;
pub mod content;
pub mod deliver;
pub mod digests;
pub mod purge;
pub mod queue;
pub mod runtime;

pub use runtime::{JobHandler, handler, run};
