//! Latchkey's browser app: the pages, their routes and the server functions
//! they call. Rendered on the server (`ssr`) and hydrated in the browser
//! (`hydrate`); every form also works as a plain HTML form.

pub mod auth;
pub mod error;
mod form;
mod pages;
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use pages::{
    account::AccountPage, account_delete::AccountDeletePage, account_email::AccountEmailPage,
    account_security::AccountSecurityPage, account_sessions::AccountSessionsPage, check_email::CheckEmailPage,
    confirm_email::ConfirmEmailPage, forgot_password::ForgotPasswordPage, home::HomePage, login::LoginPage,
    not_found::NotFoundPage, register::RegisterPage, reset_password::ResetPasswordPage, verify_email::VerifyEmailPage,
};

/// Renders the HTML document around the app, on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Sends a Content-Security-Policy that lets only this response's nonced
/// scripts run. Leptos puts the per-response nonce on its hydration scripts.
/// `'strict-dynamic'` extends the trust to the modules they import, and
/// `'wasm-unsafe-eval'` lets them compile the WebAssembly app. Inline
/// scripts without the nonce, injected by an attacker, do not run.
#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'nonce-{}' 'strict-dynamic' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
         form-action 'self'",
        nonce.as_inner()
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    #[cfg(feature = "ssr")]
    set_content_security_policy();

    // Effects run only in the browser, after hydration: the attribute marks
    // the page as interactive for browser tests.
    Effect::new(|| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    // Every page is rendered whole before the response starts, so that a
    // page can still respond with a redirect or a 404 status, and so that a
    // browser without JavaScript gets complete HTML.
    view! {
        <Stylesheet id="leptos" href="/pkg/latchkey.css"/>
        <Title text="Latchkey"/>
        <Router>
            <header class="masthead">
                <a href="/" class="brand">"Latchkey"</a>
            </header>
            <main>
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/register") view=RegisterPage ssr=SsrMode::Async/>
                    <Route path=path!("/register/check-email") view=CheckEmailPage ssr=SsrMode::Async/>
                    <Route path=path!("/verify-email") view=VerifyEmailPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                    <Route path=path!("/account/security") view=AccountSecurityPage ssr=SsrMode::Async/>
                    <Route path=path!("/account/sessions") view=AccountSessionsPage ssr=SsrMode::Async/>
                    <Route path=path!("/account/delete") view=AccountDeletePage ssr=SsrMode::Async/>
                    <Route path=path!("/account/email") view=AccountEmailPage ssr=SsrMode::Async/>
                    <Route path=path!("/confirm-email") view=ConfirmEmailPage ssr=SsrMode::Async/>
                    <Route path=path!("/forgot-password") view=ForgotPasswordPage ssr=SsrMode::Async/>
                    <Route path=path!("/reset-password") view=ResetPasswordPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
