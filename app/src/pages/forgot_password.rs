use latchkey_core::validate::{self, field};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    auth::RequestPasswordReset,
    error::AppError,
    form::{ErrorNotice, Field, Notice},
};

/// Renders the form that mails a password reset link. It confirms the
/// request in the same words whether or not the address has an account.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let request = ServerAction::<RequestPasswordReset>::new();
    let query = use_query_map();
    let sent = move || {
        matches!(request.value().get(), Some(Ok(())))
            || (request.value().get().is_none() && query.read().get("sent").as_deref() == Some("1"))
    };

    let error = move || request.value().get().and_then(Result::err);
    let email = Signal::derive(move || match error() {
        Some(AppError::Invalid { email, .. }) => email,
        _ => String::new(),
    });
    let other_error = move || error().filter(|error| !matches!(error, AppError::Invalid { .. }));

    view! {
        <Title text="Forgot password · Latchkey"/>
        <section class="card">
            <h1>"Forgot your password?"</h1>
            <Show
                when=sent
                fallback=move || view! {
                    <p>"Type the email address of your account, and we will mail you a link to choose a new password."</p>
                    {move || other_error().map(|error| view! { <ErrorNotice error/> })}
                    <ActionForm action=request attr:novalidate=true attr:class="stacked">
                        <Field
                            label="Email"
                            name=field::EMAIL
                            kind="email"
                            autocomplete="username"
                            value=email
                            message=Signal::derive(move || error().and_then(|error| error.field(field::EMAIL)))
                            on_check=Callback::new(|text: String| validate::normalize_email(&text).err())
                        />
                        <button type="submit" disabled=move || request.pending().get()>"Send reset link"</button>
                    </ActionForm>
                }
            >
                <Notice kind="success">
                    "If that address has an account, a link to choose a new password is on its way. It works once, for a limited time."
                </Notice>
            </Show>
            <p class="aside"><a href="/login">"Back to log in"</a></p>
        </section>
    }
}
