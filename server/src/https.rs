//! Keeping browsers on HTTPS when the public URL is https://.
//!
//! Two ways a plain-HTTP request can arrive: on the server's own redirect
//! listener (when it terminates TLS itself), or through a trusted proxy
//! that reports `proto=http` or `X-Forwarded-Proto: http`. Both get a
//! permanent redirect to the same path on the public origin.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, StatusCode, Uri},
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use latchkey_core::{
    client_ip::{self, Scheme, TrustedProxies},
    config::Config,
};

use crate::client_addr::header_values;

/// Target origin and trusted proxies of the redirects.
#[derive(Clone)]
pub struct HttpsOrigin {
    /// Such as `https://auth.example.com`, without a trailing slash.
    pub origin: Arc<str>,
    pub trusted_proxies: Arc<TrustedProxies>,
}

impl HttpsOrigin {
    pub fn from_config(config: &Config) -> Self {
        Self {
            origin: config.public_url.origin().ascii_serialization().into(),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        }
    }
}

/// Builds the app of the plain-HTTP redirect listener: every path redirects.
pub fn redirect_everything(origin: HttpsOrigin) -> Router {
    Router::new()
        .fallback(|State(target): State<HttpsOrigin>, uri: Uri| async move { redirect(&target.origin, &uri) })
        .with_state(origin)
}

/// Redirects requests that a trusted proxy received over plain HTTP.
pub async fn redirect_forwarded_http(State(target): State<HttpsOrigin>, request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let headers = request.headers();
        let scheme = client_ip::forwarded_scheme(
            peer.ip(),
            header_values(headers, "forwarded"),
            header_values(headers, "x-forwarded-proto"),
            &target.trusted_proxies,
        );
        if scheme == Some(Scheme::Http) {
            return redirect(&target.origin, request.uri());
        }
    }
    next.run(request).await
}

/// 308 keeps the method, so a form posted over HTTP is not silently turned
/// into a GET; the browser posts it again to the HTTPS address.
fn redirect(origin: &str, uri: &Uri) -> Response {
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let location = format!("{origin}{path}");
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response()
}
