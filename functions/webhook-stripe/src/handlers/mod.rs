//! The one route: `POST /webhooks/stripe`.

pub mod stripe;
