use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    auth::ConfirmEmailChange,
    error::AppError,
    form::{ErrorNotice, Notice},
};

/// Renders the page behind the link mailed to a new address. Opening it
/// shows a button; only the button's POST spends the link, so a mail
/// scanner that fetches it changes nothing.
#[component]
pub fn ConfirmEmailPage() -> impl IntoView {
    let confirm = ServerAction::<ConfirmEmailChange>::new();
    let query = use_query_map();
    let param = move |name: &'static str| query.read().get(name);
    let token = move || param("token").unwrap_or_default();
    let error = move || confirm.value().get().and_then(Result::err);

    let body = move || {
        if param("done").as_deref() == Some("1") {
            return view! {
                <Notice kind="success">"Your account now uses the new address."</Notice>
                <p><a class="button" href="/account">"Go to your account"</a></p>
            }
            .into_any();
        }
        if token().is_empty() {
            return view! { <ErrorNotice error=AppError::TokenInvalid/> }.into_any();
        }
        view! {
            {move || error().map(|error| view! { <ErrorNotice error/> })}
            <Show when=move || error().is_none()>
                <p>"Confirm that your account should use this address from now on."</p>
                <ActionForm action=confirm attr:class="stacked">
                    <input type="hidden" name="token" value=token/>
                    <button type="submit" disabled=move || confirm.pending().get()>"Confirm new address"</button>
                </ActionForm>
            </Show>
        }
        .into_any()
    };

    view! {
        <Title text="Confirm email · Latchkey"/>
        <section class="card">
            <h1>"Confirm your new email address"</h1>
            {body}
        </section>
    }
}
