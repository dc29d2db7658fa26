//! Credentials: access tokens, passwords, and opaque tokens (refresh, reset, verification).

pub mod jwt;
pub mod opaque;
pub mod password;
pub mod sealed;

pub use jwt::{AccessClaims, JwtKeys, JwtSigner, KeyError};
