//! Ids in paths, parsed at the edge: every id this API hands out is a ULID, so a path whose id is
//! anything else names no object of anyone's. `ApiPath<Id>` answers it 404 `not_found` (problem+json)
//! before the handler runs, and the handler never spends a read on it.

use std::fmt;
use std::ops::Deref;

use axum::extract::{FromRequestParts, Path};
use http::request::Parts;
use serde::{Deserialize, Deserializer};

use super::problem::ApiError;

/// An object's id from a path: a well-formed ULID (kept as the client wrote it, upper case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id(String);

impl Id {
    pub fn parse(text: &str) -> Option<Id> {
        ulid::Ulid::from_string(text).ok().map(|ulid| Id(ulid.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Id {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<Id> for String {
    fn eq(&self, other: &Id) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        let text = String::deserialize(deserializer)?;
        Id::parse(&text).ok_or_else(|| serde::de::Error::custom("not an id"))
    }
}

/// Path parameters as typed values (`ApiPath<Id>`, `ApiPath<(Id, Id)>`): one that does not parse
/// is an object that does not exist, 404.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(_) => Err(ApiError::not_found()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_ulid_is_an_id() {
        let id = ulid::Ulid::new().to_string();
        assert_eq!(Id::parse(&id).unwrap().as_str(), id);
        assert_eq!(Id::parse(&id.to_lowercase()).unwrap().as_str(), id, "read in any case, kept canonical");
        for bad in ["", "42", "../etc/passwd", "01J!", &"0".repeat(27), &"U".repeat(26)] {
            assert!(Id::parse(bad).is_none(), "{bad:?}");
        }
    }
}
