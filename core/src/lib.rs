//! The framework-free core of Latchkey: input rules, password hashing,
//! tokens, storage, mail and the account and session rules built on them.
//!
//! Without the default `server` feature only [`validate`] is compiled, for
//! the browser build.

pub mod password_rules;
pub mod validate;

#[cfg(feature = "server")]
pub mod accounts;
#[cfg(feature = "server")]
pub mod api_auth;
#[cfg(feature = "server")]
pub mod blocklist;
#[cfg(feature = "server")]
mod cache;
#[cfg(feature = "server")]
pub mod client_ip;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod devices;
#[cfg(feature = "server")]
pub mod emails;
#[cfg(feature = "server")]
pub mod jwt;
#[cfg(feature = "server")]
pub mod mail;
#[cfg(feature = "server")]
pub mod mail_queue;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod password;
#[cfg(feature = "server")]
pub mod roles;
#[cfg(feature = "server")]
pub mod session;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod throttle;
#[cfg(feature = "server")]
pub mod timestamps;
#[cfg(feature = "server")]
pub mod token;
