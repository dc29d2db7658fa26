pub mod activity;
pub mod profile;
pub mod sessions;
