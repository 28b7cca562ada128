//! `latchkey`: serves the sign-in pages.
//!
//! Settings come from environment variables, optionally from a `.env` file
//! in the working directory; the README lists them with their defaults.

use std::{net::SocketAddr, process::ExitCode};

use latchkey_core::config::Config;
use leptos::config::get_configuration;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let dotenv = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .init();
    if let Err(error) = dotenv {
        if !error.not_found() {
            tracing::error!(%error, "could not read .env");
            return ExitCode::FAILURE;
        }
    }

    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("latchkey: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = Config::from_env().map_err(|error| error.to_string())?;
    // Reads the cargo-leptos settings from the workspace Cargo.toml, which
    // LEPTOS_* environment variables override.
    let leptos = get_configuration(None).map_err(|error| format!("invalid Leptos settings: {error}"))?;
    let leptos_options = leptos.leptos_options;
    let address = leptos_options.site_addr;

    let state = server::build_state(&config).await.map_err(|error| error.to_string())?;
    server::spawn_housekeeping(state.accounts.clone());
    let app = server::router(&config, state, leptos_options);

    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| format!("could not listen on {address}: {error}; set LEPTOS_SITE_ADDR to a free address"))?;
    let mail = if config.smtp_url.is_some() { "SMTP".to_owned() } else { format!("outbox {}", config.mail_outbox_dir.display()) };
    tracing::info!(%address, public_url = %config.public_url, %mail, "Latchkey listening");

    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|error| format!("server failed: {error}"))
}

/// Resolves on Ctrl+C or SIGTERM; in-flight requests then finish before exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
