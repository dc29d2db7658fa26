//! Outbound clients behind traits, so tests can point them at local fakes that speak the real formats.

pub mod email;
pub mod google;
pub mod push;
