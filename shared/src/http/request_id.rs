//! The request id: chosen once per request by the outermost layer (`layers::request_envelope`),
//! echoed in `x-request-id`, and read by whatever runs inside (a problem's `request_id`, the logs).

use axum::extract::Request;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    pub(super) static REQUEST_ID: String;
}

/// The id of the request being served, if called while serving one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The request id: the client's own if it sent a sane one, else API Gateway's, else a new ULID.
pub(super) fn request_id_for(req: &Request) -> String {
    let from_client = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()));
    if let Some(id) = from_client {
        return id.to_string();
    }
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) =
        req.extensions().get::<lambda_http::request::RequestContext>()
        && let Some(id) = &context.request_id
    {
        return id.clone();
    }
    ulid::Ulid::new().to_string()
}
