//! The client's address, for the rate limits of unauthenticated routes. In AWS it is API
//! Gateway's `requestContext.http.sourceIp`, never a header the client controls. Locally it is the
//! TCP peer, or (`make dev` with `TRUST_FORWARDED_FOR=1`, and the tests) the first
//! `X-Forwarded-For` address, as a web framework's trusted-proxy setting does.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;

/// The client's address, set by a trusted layer in front of the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Where the request came from, if anything trustworthy says.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    if let Some(ClientIp(ip)) = req.extensions().get::<ClientIp>() {
        return Some(*ip);
    }
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) =
        req.extensions().get::<lambda_http::request::RequestContext>()
    {
        return context.http.source_ip.as_deref().and_then(|ip| ip.parse().ok());
    }
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip())
}

/// Local only, behind a proxy we trust: the first `X-Forwarded-For` address is the client's.
pub async fn trust_forwarded_for(mut req: Request, next: Next) -> Response {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .and_then(|first| first.trim().parse::<IpAddr>().ok());
    if let Some(ip) = forwarded {
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}
