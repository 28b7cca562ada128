//! Binds the configured listeners and serves until shutdown: plain HTTP, or
//! HTTPS with an optional plain-HTTP redirect listener.

use std::{
    future::{Future, IntoFuture},
    net::SocketAddr,
    sync::Arc,
};

use axum::Router;
use latchkey_core::config::Config;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    https::{self, HttpsOrigin},
    tls::{self, Certificates},
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("could not listen on {address}: {source}; set {variable} to a free address")]
    Bind {
        address: SocketAddr,
        variable: &'static str,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// Serves `app` on `address` until `shutdown` resolves. With certificates
/// the server speaks HTTPS there, and redirects plain HTTP arriving at the
/// configured redirect address.
pub async fn serve(
    config: &Config,
    address: SocketAddr,
    app: Router,
    certificates: Option<Arc<Certificates>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = bind(address, "LEPTOS_SITE_ADDR").await?;
    tracing::info!(
        address = %listener.local_addr().unwrap_or(address),
        tls = certificates.is_some(),
        "Latchkey listening"
    );
    let redirect_listener = match config.http_redirect_addr {
        Some(address) => Some(bind(address, "HTTP_REDIRECT_ADDR").await?),
        None => None,
    };
    let metrics_listener = match config.metrics_addr {
        Some(address) => Some(bind(address, "METRICS_ADDR").await?),
        None => None,
    };

    // Every listener stops on the same signal.
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
    };

    let redirect_task = redirect_listener.map(|listener| {
        let redirects = https::redirect_everything(HttpsOrigin::from_config(config));
        tracing::info!(address = %listener.local_addr().unwrap_or(address), "redirecting plain HTTP to HTTPS");
        tokio::spawn(
            axum::serve(listener, redirects)
                .with_graceful_shutdown(until_stopped(stopped.clone()))
                .into_future(),
        )
    });

    let metrics_task = metrics_listener.map(|listener| {
        tracing::info!(address = %listener.local_addr().unwrap_or(address), "serving metrics");
        tokio::spawn(
            axum::serve(listener, crate::metrics::router())
                .with_graceful_shutdown(until_stopped(stopped.clone()))
                .into_future(),
        )
    });

    match certificates {
        Some(certificates) => {
            tls::reload_on_hangup(Arc::clone(&certificates));
            tls::serve(listener, app, certificates, until_stopped(stopped)).await;
        }
        None => {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(until_stopped(stopped))
                .await
                .map_err(ServeError::Serve)?;
        }
    }

    for (name, task) in [("redirect", redirect_task), ("metrics", metrics_task)] {
        let Some(task) = task else { continue };
        if let Ok(Err(error)) = task.await {
            tracing::warn!(%error, listener = name, "listener failed");
        }
    }
    Ok(())
}

async fn bind(address: SocketAddr, variable: &'static str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(address).await.map_err(|source| ServeError::Bind {
        address,
        variable,
        source,
    })
}
