//! One file per resource: the planning settings and the plans.

pub mod plans;
pub mod settings;
