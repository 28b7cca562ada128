//! Server-side state handed to the server functions through Leptos context.

use latchkey_core::accounts::Accounts;

#[derive(Debug, Clone)]
pub struct AppState {
    pub accounts: Accounts,
}
