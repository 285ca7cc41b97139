//! Cross-origin requests, for browser-based staff tools served from another origin.
//!
//! Policy: closed unless the deployment names the origins (`serve --cors-origin`, repeatable).
//! With none, no CORS header is ever sent, so a browser refuses every cross-origin call (the
//! apps and staff systems' servers are not browsers and are unaffected). A named origin is an
//! exact `scheme://host[:port]`: never `*` and never a pattern, since the answers hold health
//! records. Credentials are never allowed: the API authenticates with bearer tokens, not
//! cookies, so a page can only send what its own code holds.
//!
//! The preflight is answered before routing (an `OPTIONS` no route takes), allowing the
//! methods and request headers the contract uses and exposing the response headers a tool reads
//! (versions, paging, rate limits, the request id).

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use livingwell_core::api::headers;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::REQUEST_ID_HEADER;

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// An origin allowed to call the API from a browser: `https://tool.example.nhs.uk`, say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsOrigin(HeaderValue);

impl std::str::FromStr for CorsOrigin {
    type Err = String;

    /// Accepts exactly what a browser sends as `Origin`: an http(s) scheme, a host and an
    /// optional port — no path, query, user or trailing slash — in lower case.
    fn from_str(text: &str) -> Result<Self, String> {
        let refuse = |why: &str| Err(format!("`{text}` is not an origin: {why}"));
        let Some((scheme, rest)) = text.split_once("://") else {
            return refuse("write it as scheme://host[:port]");
        };
        if scheme != "https" && scheme != "http" {
            return refuse("the scheme must be https or http");
        }
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', '*']) {
            return refuse("only a host and an optional port, with no path, user or wildcard");
        }
        // An IPv6 host is bracketed (`[::1]:8443`); its colons are not a port's.
        let (host, port) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
            Some((host, "")) => (host, None),
            Some((host, port)) => match port.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return refuse("a port follows the host after `:`"),
            },
            None => match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            },
        };
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
        {
            return refuse("the host must be given in lower case, as browsers send it");
        }
        if let Some(port) = port
            && port.parse::<u16>().is_err()
        {
            return refuse("the port must be a number up to 65535");
        }
        HeaderValue::from_str(text)
            .map(Self)
            .or_else(|_| refuse("it has characters a header cannot carry"))
    }
}

/// The layer for `origins`, or none when the deployment named none (closed).
pub fn layer(origins: &[CorsOrigin]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(
                origins.iter().map(|origin| origin.0.clone()),
            ))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static(headers::IDEMPOTENCY_KEY),
                HeaderName::from_static(headers::ON_BEHALF_OF),
            ])
            .expose_headers([
                header::ETAG,
                header::LINK,
                header::LOCATION,
                header::RETRY_AFTER,
                REQUEST_ID_HEADER,
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_a_scheme_a_host_and_perhaps_a_port() {
        for good in [
            "https://tool.example.nhs.uk",
            "http://localhost:5173",
            "https://10.0.0.7:8443",
            "https://[::1]:8443",
        ] {
            assert!(good.parse::<CorsOrigin>().is_ok(), "{good}");
        }
        for bad in [
            "*",
            "null",
            "tool.example.nhs.uk",
            "ftp://tool.example",
            "https://tool.example/",
            "https://tool.example/app",
            "https://*.example.nhs.uk",
            "https://user@tool.example",
            "https://Tool.Example",
            "https://tool.example:99999",
            "https://",
        ] {
            assert!(bad.parse::<CorsOrigin>().is_err(), "{bad}");
        }
    }
}
