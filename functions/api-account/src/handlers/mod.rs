pub mod activity;
pub mod identities;
pub mod profile;
pub mod push_tokens;
pub mod sessions;
