//! `latchkey`: serves the sign-in pages and the JSON API.
//!
//! Settings come from environment variables, optionally from a `.env` file
//! in the working directory; the README lists them with their defaults.

use std::{process::ExitCode, sync::Arc};

use latchkey_core::{config::Config, roles::Role, validate::normalize_email};
use leptos::config::get_configuration;
use server::{listen, tls::Certificates};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
Usage:
  latchkey                      serve the app (the default)
  latchkey rotate-signing-key   add a new token signing key; the old one keeps
                                verifying tokens until they expire
  latchkey grant-admin EMAIL    give the account with this email the admin role
  latchkey help                 show this text";

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

    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let result = match arguments.as_slice() {
        [] | ["serve"] => serve().await,
        ["rotate-signing-key"] => rotate_signing_key().await,
        ["grant-admin", email] => grant_admin(email).await,
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown arguments {arguments:?}\n{USAGE}")),
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("latchkey: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    let config = Config::from_env().map_err(|error| error.to_string())?;
    // Reads the cargo-leptos settings from the workspace Cargo.toml, which
    // LEPTOS_* environment variables override.
    let leptos = get_configuration(None).map_err(|error| format!("invalid Leptos settings: {error}"))?;
    let leptos_options = leptos.leptos_options;
    let address = leptos_options.site_addr;
    // Certificate problems stop the server before it creates anything.
    let certificates = config
        .tls
        .as_ref()
        .map(|files| Certificates::load(files).map(Arc::new))
        .transpose()
        .map_err(|error| error.to_string())?;

    let services = server::build_state(&config).await.map_err(|error| error.to_string())?;
    server::spawn_housekeeping(
        services.app.accounts.clone(),
        services.api.auth.keys().clone(),
        config.signing_key_reload,
    );
    let mail_worker = services.start_mail_worker(config.mail_retry);
    let app = server::router(&config, services, leptos_options);

    let mail = if config.smtp_url.is_some() {
        "SMTP".to_owned()
    } else {
        format!("outbox {}", config.mail_outbox_dir.display())
    };
    tracing::info!(public_url = %config.public_url, %mail, "Latchkey starting");

    let served = listen::serve(&config, address, app, certificates, shutdown_signal()).await;
    // Requests have drained; the mail they queued is in the database, and
    // the worker finishes the message it is sending.
    mail_worker.stop().await;
    tracing::info!("Latchkey stopped");
    served.map_err(|error| error.to_string())
}

async fn rotate_signing_key() -> Result<(), String> {
    let config = Config::from_env().map_err(|error| error.to_string())?;
    let services = server::build_state(&config).await.map_err(|error| error.to_string())?;
    let kid = services
        .api
        .auth
        .keys()
        .rotate()
        .await
        .map_err(|error| error.to_string())?;
    println!("new signing key {kid}; running servers pick it up within SIGNING_KEY_RELOAD_INTERVAL (60 s by default)");
    Ok(())
}

async fn grant_admin(email: &str) -> Result<(), String> {
    let config = Config::from_env().map_err(|error| error.to_string())?;
    let email = normalize_email(email).map_err(|message| format!("invalid email: {message}"))?;
    let services = server::build_state(&config).await.map_err(|error| error.to_string())?;
    let store = services.app.accounts.store();

    let credentials = store
        .find_credentials_by_email(&email)
        .await
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("no account with the email {email}; register it first"))?;
    let user_id = credentials.user.id;
    let mut roles = store.user_roles(&user_id).await.map_err(|error| error.to_string())?;
    if !roles.contains(&Role::Admin) {
        roles.push(Role::Admin);
    }
    store
        .set_user_roles(&user_id, &roles)
        .await
        .map_err(|error| error.to_string())?;
    tracing::info!(user.id = %user_id, "admin role granted from the command line");
    println!(
        "{email} now has the roles: {}",
        roles.iter().map(|role| role.as_str()).collect::<Vec<_>>().join(", ")
    );
    Ok(())
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
