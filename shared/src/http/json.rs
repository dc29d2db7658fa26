//! JSON request bodies whose every failure is a problem+json naming what is wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::known_fields::unknown_field_errors;
use super::problem::{ApiError, FieldError};

/// Largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A required JSON body.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent (an empty body reads as `T::default()`).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_json_bytes(req, state).await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request("malformed_json", "a JSON body is required"));
        }
        parse(&bytes).map(ApiJson)
    }
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_json_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        parse(&bytes).map(OptionalJson)
    }
}

async fn read_json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let essence = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
        let is_json =
            essence.eq_ignore_ascii_case("application/json") || essence.to_ascii_lowercase().ends_with("+json");
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request("malformed_json", "the body could not be read")
        }
    })
}

pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Reads `T`, naming the field of any problem; names `T` does not know are refused (422, each
/// named, with the closest known name).
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut unknown = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let mut record = |path: serde_ignored::Path| unknown.push(path.to_string());
    let ignoring = serde_ignored::Deserializer::new(&mut deserializer, &mut record);
    let value = serde_path_to_error::deserialize(ignoring).map_err(problem)?;
    refuse_unknown::<T>(unknown)?;
    Ok(value)
}

/// Reads `T` from JSON already parsed (part of a body taken apart by its handler), naming the
/// field of any problem as `ApiJson` does. (`#[serde(flatten)]` would lose the field's name.)
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path| unknown.push(path.to_string());
    let ignoring = serde_ignored::Deserializer::new(value, &mut record);
    let value = serde_path_to_error::deserialize(ignoring).map_err(problem)?;
    refuse_unknown::<T>(unknown)?;
    Ok(value)
}

fn refuse_unknown<T: DeserializeOwned>(unknown: Vec<String>) -> Result<(), ApiError> {
    match unknown.is_empty() {
        true => Ok(()),
        false => Err(ApiError::validation(unknown_field_errors::<T>(unknown))),
    }
}

fn problem(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = error.inner();
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {inner}"));
    }
    let path = error.path().to_string();
    let field = if path == "." { String::new() } else { path };
    let message = strip_position(&inner.to_string());
    let field = if field.is_empty() { missing_field_name(&message).unwrap_or_default() } else { field };
    ApiError::validation(vec![FieldError::new(field, message)])
}

/// serde_json appends " at line 1 column 12" to its messages; the field name says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

/// "missing field `email`" is reported at the parent's path; name the field itself.
fn missing_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        age: u32,
    }

    #[test]
    fn wrong_type_names_the_field() {
        let error = parse::<Body>(br#"{"email": "a@b.c", "age": "x"}"#).unwrap_err();
        assert_eq!(error.code, "validation_failed");
        assert_eq!(error.errors[0].field, "age");
        assert!(!error.errors[0].message.contains("line"));
    }

    #[test]
    fn missing_field_names_the_field() {
        let error = parse::<Body>(br#"{"age": 3}"#).unwrap_err();
        assert_eq!(error.errors[0].field, "email");
    }

    #[test]
    fn a_part_of_a_body_names_its_fields_too() {
        let error = from_value::<Body>(serde_json::json!({"email": "a@b.c", "age": "x"})).unwrap_err();
        assert_eq!(error.errors[0].field, "age");
        let error = from_value::<Body>(serde_json::json!({"age": 1})).unwrap_err();
        assert_eq!(error.errors[0].field, "email");
    }

    #[test]
    fn unknown_fields_are_refused_each_by_name() {
        let error = parse::<Body>(br#"{"email": "a@b.c", "age": 3, "agee": 4, "nickname": "x"}"#).unwrap_err();
        assert_eq!(error.code, "validation_failed");
        let fields: Vec<&str> = error.errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["agee", "nickname"]);
        assert!(error.errors[0].message.contains("did you mean age?"), "{}", error.errors[0].message);
        let error = from_value::<Body>(serde_json::json!({"email": "a@b.c", "age": 1, "x": 1})).unwrap_err();
        assert_eq!(error.errors[0].field, "x");
    }

    #[test]
    fn broken_json_is_malformed() {
        let error = parse::<Body>(br#"{"email": "#).unwrap_err();
        assert_eq!(error.code, "malformed_json");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
    }
}
