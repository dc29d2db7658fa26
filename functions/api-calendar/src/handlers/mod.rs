//! The handlers of api-calendar, one file per resource.

pub mod connections;
pub mod events;
pub mod feed;
