//! Query strings read into a typed struct. Names the struct does not know are refused (422, each
//! named, with the closest known name), as unknown body fields are: `?statsu=done` must not list
//! every task as if no filter had been asked for.

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::json::from_value;
use super::problem::ApiError;

/// The layer of every route that reads no query string: any parameter is refused by name, so a
/// client never believes a filter was applied.
pub async fn refuse_query(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let query = request.uri().query().unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    if pairs.is_empty() {
        return next.run(request).await;
    }
    let errors =
        pairs.into_iter().map(|(name, _)| super::FieldError::new(name, "is not a parameter of this route")).collect();
    ApiError::validation(errors).into_response()
}

/// The query string as `T` (its fields are `Option<String>`: the handler parses each value, so a
/// bad one is named with the others).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| ApiError::bad_request("malformed_query", "the query string could not be read"))?;
        let mut object = serde_json::Map::new();
        for (name, value) in pairs {
            if object.insert(name.clone(), value.into()).is_some() {
                let message = "is given more than once (send one value, comma-separated where a list is allowed)";
                return Err(ApiError::validation(vec![super::FieldError::new(name, message)]));
            }
        }
        from_value(serde_json::Value::Object(object)).map(ApiQuery)
    }
}
