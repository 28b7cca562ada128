//! Security headers that every response carries, pages and API alike.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

/// Browser features the site never uses, switched off so that an injected
/// script or a framed page cannot ask for them.
const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), \
     magnetometer=(), microphone=(), payment=(), usb=()";

/// One year, the minimum that HSTS preload lists accept.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Deployment facts that decide the optional headers.
#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    /// Send `Strict-Transport-Security`: only when users reach the site
    /// over HTTPS, since browsers ignore it on plain HTTP anyway and a
    /// local development server must stay reachable without TLS.
    pub hsts: bool,
}

/// Adds the security headers to a response unless its handler set them.
pub async fn add_security_headers(State(policy): State<SecurityHeaders>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();

    set_default(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(headers, header::REFERRER_POLICY, "same-origin");
    set_default(
        headers,
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS_POLICY,
    );
    // Pages replace this with a policy that also restricts scripts; the
    // default covers every other response, so nothing may frame the site.
    set_default(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
    );
    if policy.hsts {
        set_default(headers, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}

fn set_default(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    headers.entry(name).or_insert(HeaderValue::from_static(value));
}
