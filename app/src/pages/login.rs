use latchkey_core::validate::field;
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    auth::{LogIn, ResendVerification},
    error::AppError,
    form::{clear_after_failure, ErrorNotice, Field, Notice},
};

/// Tells the user when they may ask for another verification mail.
pub fn cooldown_text(wait: Option<String>) -> Option<String> {
    let seconds: u64 = wait?.parse().ok().filter(|&seconds| seconds > 0)?;
    Some(format!(" You can ask for another link in {seconds} seconds."))
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let log_in = ServerAction::<LogIn>::new();
    let resend = ServerAction::<ResendVerification>::new();
    let query = use_query_map();
    let flag = move |name: &'static str| move || query.read().get(name).is_some_and(|value| value == "1");
    // The server checks that the target is on this site before using it.
    let next = move || query.read().get("next").unwrap_or_default();

    let error = move || log_in.value().get().and_then(Result::err);
    let unverified_email = move || match error() {
        Some(AppError::EmailNotVerified { email }) => Some(email),
        _ => None,
    };
    let resend_error = move || resend.value().get().and_then(Result::err);

    let password_input = NodeRef::<leptos::html::Input>::new();
    clear_after_failure(password_input, move || error().is_some());

    view! {
        <Title text="Log in · Latchkey"/>
        <section class="card">
            <h1>"Log in"</h1>
            <Show when=flag("verified")>
                <Notice kind="success">"Your email address is verified. You can log in now."</Notice>
            </Show>
            <Show when=flag("deleted")>
                <Notice kind="success">"Your account has been deleted. We mailed you a confirmation."</Notice>
            </Show>
            <Show when=flag("reset")>
                <Notice kind="success">"Your password is set. Log in with the new one."</Notice>
            </Show>
            <Show when=flag("resent")>
                <Notice kind="success">
                    "If that address belongs to an account that still needs verifying, a new link is on its way."
                    {move || cooldown_text(query.read().get("wait"))}
                </Notice>
            </Show>
            {move || error().map(|error| view! { <ErrorNotice error/> })}
            {move || unverified_email().map(|email| view! {
                <ActionForm action=resend attr:class="inline">
                    <input type="hidden" name=field::EMAIL value=email/>
                    <button type="submit">"Resend verification email"</button>
                </ActionForm>
            })}
            {move || resend_error().map(|error| view! { <ErrorNotice error/> })}
            <ActionForm action=log_in attr:novalidate=true attr:class="stacked">
                <Field
                    label="Email"
                    name=field::EMAIL
                    kind="email"
                    autocomplete="username"
                    value=Signal::derive(move || unverified_email().unwrap_or_default())
                    message=Signal::derive(move || error().and_then(|error| error.field(field::EMAIL)))
                />
                <Field
                    label="Password"
                    name=field::PASSWORD
                    kind="password"
                    autocomplete="current-password"
                    message=Signal::derive(move || error().and_then(|error| error.field(field::PASSWORD)))
                    node_ref=password_input
                />
                <label class="check">
                    <input type="checkbox" name="remember" value="on"/>
                    "Remember me on this device"
                </label>
                <input type="hidden" name="next" value=next/>
                <button type="submit" disabled=move || log_in.pending().get()>"Log in"</button>
            </ActionForm>
            <p class="aside"><a href="/forgot-password">"Forgot your password?"</a></p>
            <p class="aside">"New here? " <a href="/register">"Create an account"</a></p>
        </section>
    }
}
