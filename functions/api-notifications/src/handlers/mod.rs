pub mod inbox;
pub mod preferences;
