use latchkey_core::validate::field;
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::Redirect, hooks::use_query_map};

use crate::{
    auth::{current_user, ChangePassword},
    error::AppError,
    form::{clear_after_failure, ErrorNotice, Field, Notice},
};

/// Renders the password change form of a logged-in user.
#[component]
pub fn AccountSecurityPage() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());

    view! {
        <Title text="Security · Latchkey"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(_)) => view! { <ChangePasswordForm/> }.into_any(),
                    Ok(None) | Err(AppError::NotLoggedIn) => {
                        view! { <Redirect path="/login?next=/account/security"/> }.into_any()
                    }
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ChangePasswordForm() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let query = use_query_map();
    let changed = move || {
        matches!(change.value().get(), Some(Ok(())))
            || (change.value().get().is_none() && query.read().get("changed").as_deref() == Some("1"))
    };
    let error = move || change.value().get().and_then(Result::err);
    let message = move |name: &'static str| Signal::derive(move || error().and_then(|error| error.field(name)));
    let other_error = move || error().filter(|error| !matches!(error, AppError::Invalid { .. }));

    let current_input = NodeRef::<leptos::html::Input>::new();
    let new_input = NodeRef::<leptos::html::Input>::new();
    clear_after_failure(current_input, move || error().is_some());
    clear_after_failure(new_input, move || error().is_some());

    view! {
        <section class="card">
            <h1>"Change password"</h1>
            <Show when=changed>
                <Notice kind="success">"Password changed. Every other device has been signed out."</Notice>
            </Show>
            {move || other_error().map(|error| view! { <ErrorNotice error/> })}
            <p>"Changing your password signs you out on every other device."</p>
            <ActionForm action=change attr:novalidate=true attr:class="stacked">
                <Field
                    label="Current password"
                    name=field::CURRENT_PASSWORD
                    kind="password"
                    autocomplete="current-password"
                    message=message(field::CURRENT_PASSWORD)
                    node_ref=current_input
                />
                <Field
                    label="New password"
                    name=field::NEW_PASSWORD
                    kind="password"
                    autocomplete="new-password"
                    message=message(field::NEW_PASSWORD)
                    node_ref=new_input
                />
                <button type="submit" disabled=move || change.pending().get()>"Change password"</button>
            </ActionForm>
            <p class="aside"><a href="/account">"Back to your account"</a></p>
        </section>
    }
}
