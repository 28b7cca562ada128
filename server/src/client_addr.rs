//! Resolves each request's client address once, before any handler runs,
//! so that the pages and the JSON API rate-limit and log the same address.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};
use latchkey_core::client_ip::{self, ClientAddr, TrustedProxies};

/// Stores the [`ClientAddr`] in the request's extensions.
pub async fn resolve_client_addr(
    State(trusted): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let headers = request.headers();
        let client = client_ip::resolve(
            peer.ip(),
            header_values(headers, "forwarded"),
            header_values(headers, "x-forwarded-for"),
            &trusted,
        );
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

/// Returns every value of a header that is valid text; others are skipped.
pub fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect()
}
