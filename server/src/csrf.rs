//! Cross-site request forgery defence for the cookie-authenticated pages.
//!
//! A state-changing request (anything but GET, HEAD and OPTIONS) must come
//! from this site. Browsers send `Origin` on such requests, and
//! `Sec-Fetch-Site` where they support it; an attacker's page can set
//! neither. This works on top of the `SameSite=Lax` session cookie, which
//! older browsers and some same-site setups do not enforce.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};

/// The origins a state-changing request may come from besides the one named
/// by its own `Host` header.
#[derive(Debug, Clone)]
pub struct TrustedOrigin(pub String);

pub async fn require_same_origin(State(trusted): State<TrustedOrigin>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || is_same_origin(request.headers(), &trusted)
    {
        return next.run(request).await;
    }
    tracing::warn!(path = %request.uri().path(), "cross-site request blocked");
    (
        StatusCode::FORBIDDEN,
        Html(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Request blocked · Latchkey</title></head>\
             <body><h1>Request blocked</h1><p>This form was sent from another site, so it was not processed. \
             Open Latchkey directly and try again.</p><p><a href=\"/\">Go to the start page</a></p></body></html>",
        ),
    )
        .into_response()
}

/// Decides from `Origin`, else `Sec-Fetch-Site`. A request with neither
/// comes from a client that is not a browser, which cannot be a forgery's
/// victim, and is let through.
fn is_same_origin(headers: &HeaderMap, trusted: &TrustedOrigin) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let host = headers.get(header::HOST).and_then(|host| host.to_str().ok());
        let authority = origin.split_once("://").map(|(_, authority)| authority);
        return origin == trusted.0 || (host.is_some() && authority == host);
    }
    match headers.get("sec-fetch-site").map(|value| value.to_str()) {
        None => true,
        Some(Ok(site)) => matches!(site, "same-origin" | "none"),
        Some(Err(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn origin_decides() {
        let trusted = TrustedOrigin("https://auth.example.com".to_owned());
        assert!(is_same_origin(
            &headers(&[("origin", "https://auth.example.com")]),
            &trusted
        ));
        assert!(is_same_origin(
            &headers(&[("origin", "http://localhost:3000"), ("host", "localhost:3000")]),
            &trusted
        ));
        assert!(!is_same_origin(
            &headers(&[("origin", "https://evil.example"), ("host", "auth.example.com")]),
            &trusted
        ));
        assert!(!is_same_origin(
            &headers(&[("origin", "null"), ("host", "auth.example.com")]),
            &trusted
        ));
        assert!(!is_same_origin(
            &headers(&[
                ("origin", "https://auth.example.com.evil.example"),
                ("host", "auth.example.com")
            ]),
            &trusted
        ));
    }

    #[test]
    fn fetch_metadata_decides_without_origin() {
        let trusted = TrustedOrigin("https://auth.example.com".to_owned());
        assert!(is_same_origin(&headers(&[("sec-fetch-site", "same-origin")]), &trusted));
        assert!(is_same_origin(&headers(&[("sec-fetch-site", "none")]), &trusted));
        assert!(!is_same_origin(&headers(&[("sec-fetch-site", "cross-site")]), &trusted));
        assert!(!is_same_origin(&headers(&[("sec-fetch-site", "same-site")]), &trusted));
        assert!(
            is_same_origin(&headers(&[]), &trusted),
            "non-browser clients send neither"
        );
    }
}
