//! The Latchkey server: builds the shared state from the configuration and
//! assembles the axum router around the Leptos app.

pub mod api;
mod bad_input;
mod client_addr;
mod csrf;
mod errors;
mod headers;
mod health;
mod housekeeping;
mod https;
pub mod listen;
mod metrics;
mod remember_me;
pub mod tls;
mod unavailable;

use std::sync::{Arc, OnceLock};

use app::{shell, state::AppState, App};
use axum::Router;
use https::HttpsOrigin;
use latchkey_core::{
    accounts::{AccountSettings, Accounts},
    api_auth::ApiAuth,
    config::{Config, LimitStoreKind},
    jwt::{KeyError, KeyRing},
    mail::{MailError, Mailer},
    mail_queue::{MailQueue, MailWorker, RetryPolicy},
    password::{PasswordError, PasswordHasher},
    store::{DatabaseLimitStore, FamilyLifetimes, SessionLifetimes, SessionStore, Store, StoreError},
    throttle::Throttle,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

pub use housekeeping::spawn_housekeeping;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not open the database: {0}")]
    Store(#[from] StoreError),
    #[error("could not set up password hashing: {0}")]
    Password(#[from] PasswordError),
    #[error("could not set up mail: {0}")]
    Mail(#[from] MailError),
    #[error("could not load the token signing keys: {0}")]
    Keys(#[from] KeyError),
}

/// The services behind the pages and the API.
#[derive(Clone)]
pub struct Services {
    pub app: AppState,
    pub api: api::ApiState,
    /// The transport the mail worker sends with.
    pub mailer: Mailer,
}

impl Services {
    /// Starts the worker that sends queued mail. A server runs one; other
    /// commands of the binary need none.
    pub fn start_mail_worker(&self, policy: RetryPolicy) -> MailWorker {
        let accounts = &self.app.accounts;
        accounts
            .mail_queue()
            .start_worker(accounts.store().clone(), self.mailer.clone(), policy)
    }
}

/// Name of the session cookie. Over HTTPS it takes the `__Host-` prefix, which
/// makes browsers refuse it unless it is Secure, has `Path=/` and names no
/// domain, so no sibling subdomain can set or overwrite it.
pub fn session_cookie_name(config: &Config) -> &'static str {
    if config.is_https() {
        "__Host-latchkey_session"
    } else {
        "latchkey_session"
    }
}

/// Opens the database and wires up the account and token services.
pub async fn build_state(config: &Config) -> Result<Services, StartupError> {
    let store = Store::connect(&config.database_url)
        .await?
        .with_read_cache_ttl(config.read_cache_ttl);
    let sessions = SessionStore::new(
        store.clone(),
        SessionLifetimes {
            idle: config.session_idle_timeout,
            max: config.session_max_lifetime,
        },
    );
    let hasher = PasswordHasher::new(config.password_hash, config.max_concurrent_hashes)?;
    let mailer = match &config.smtp_url {
        Some(url) => Mailer::smtp(url, config.mail_from.clone())?,
        None => Mailer::outbox(&config.mail_outbox_dir, config.mail_from.clone())?,
    };
    let accounts = Accounts::new(
        store.clone(),
        sessions,
        hasher,
        MailQueue::new(),
        match config.limit_store {
            LimitStoreKind::Memory => Throttle::in_memory(config.limits),
            LimitStoreKind::Database => Throttle::new(Arc::new(DatabaseLimitStore::new(store.clone())), config.limits),
        },
        AccountSettings {
            public_url: config.public_url.clone(),
            verification_ttl: config.verification_token_ttl,
            password_reset_ttl: config.password_reset_token_ttl,
            remember_me_lifetime: config.remember_me_lifetime,
            password_rules: config.password_rules,
        },
    );

    let issuer = config.public_url.as_str().trim_end_matches('/').to_owned();
    let keys = KeyRing::load(store, issuer, config.jwt_audience.clone(), config.access_token_ttl).await?;
    let lifetimes = FamilyLifetimes {
        idle: config.refresh_token_idle_timeout,
        max: config.refresh_token_max_lifetime,
    };
    let auth = ApiAuth::new(accounts.clone(), keys, lifetimes);
    let api = api::ApiState {
        accounts: accounts.clone(),
        auth,
        refresh_cookie_max_age: config.refresh_token_max_lifetime,
        refresh_cookie: if config.is_https() {
            api::SECURE_REFRESH_COOKIE
        } else {
            api::REFRESH_COOKIE
        },
    };

    Ok(Services {
        app: AppState { accounts },
        api,
        mailer,
    })
}

/// Returns the app's routes, generated once per process.
///
/// Generating them renders the app with resource loading switched off for
/// the whole process (leptos_server 0.8), so a render that starts meanwhile
/// in another router of the same process would wait forever. Every router
/// here shares one generation, which completes before any of them serves.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Builds the router: the pages, the server functions, the static files and
/// the session and header layers around them.
pub fn router(config: &Config, services: Services, leptos_options: LeptosOptions) -> Router {
    let state = services.app;
    // Secure is set even over plain HTTP: browsers accept it from
    // http://localhost and 127.0.0.1, and anywhere else the site must be
    // served over HTTPS. Lax keeps the cookie off cross-site POSTs while
    // still sending it when a user follows a link from elsewhere.
    let sessions = SessionManagerLayer::new(state.accounts.sessions().clone())
        .with_name(session_cookie_name(config))
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        // The cookie ends with the browser session unless the login chose
        // "Remember me"; the store ends sessions on its own schedule either
        // way. Saving on every request moves the idle expiry forward; the
        // store never recreates a session that was deleted meanwhile.
        .with_expiry(Expiry::OnSessionEnd)
        .with_always_save(true);

    let routes = route_list();
    let context_state = state.clone();
    let provide_state = move || provide_context(context_state.clone());
    let options = Arc::new(leptos_options.clone());

    let app = Router::new()
        .leptos_routes_with_context(&leptos_options, routes, provide_state.clone(), {
            let options = Arc::clone(&options);
            move || shell((*options).clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(provide_state, shell))
        .with_state(leptos_options)
        .layer(axum::middleware::from_fn(bad_input::server_fn_input_errors_are_400))
        .layer(axum::middleware::from_fn(remember_me::keep_remembered_cookie))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            csrf::TrustedOrigin(config.public_url.origin().ascii_serialization()),
            csrf::require_same_origin,
        ))
        .merge(api::router(services.api, &config.cors_allowed_origins))
        .merge(health::router(state.accounts.store().clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.accounts.store().clone(),
            unavailable::database_unavailable_is_503,
        ));
    with_outer_layers(app, config)
}

/// Wraps every route, pages and API alike, in the layers that must see
/// each request and response: the client address, the redirect of plain
/// HTTP that came through a proxy, panics, security headers and the
/// request log.
fn with_outer_layers(routes: Router, config: &Config) -> Router {
    // With an http:// public URL the redirect would point back at itself.
    let routes = if config.is_https() {
        routes.layer(axum::middleware::from_fn_with_state(
            HttpsOrigin::from_config(config),
            https::redirect_forwarded_http,
        ))
    } else {
        routes
    };
    routes
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.trusted_proxies.clone()),
            client_addr::resolve_client_addr,
        ))
        .layer(CatchPanicLayer::custom(errors::panic_page))
        // Outside the panic layer, so that the error page gets them too.
        .layer(axum::middleware::from_fn_with_state(
            headers::SecurityHeaders {
                hsts: config.is_https(),
            },
            headers::add_security_headers,
        ))
        .layer(axum::middleware::from_fn(metrics::time_requests))
        // The span names the path only: a query string can carry a token.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request, routing::get};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn panic_page_carries_security_headers() {
        let config =
            Config::from_lookup(|name| (name == "PUBLIC_URL").then(|| "https://auth.example.com".to_owned())).unwrap();
        let routes = Router::new().route("/boom", get(|| async { panic!("test panic") as &'static str }));
        let response = with_outer_layers(routes, &config)
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();

        assert_eq!(response.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers.contains_key("content-security-policy"));
        assert!(headers.contains_key("permissions-policy"));
        assert!(headers.contains_key("strict-transport-security"));
    }
}
