use latchkey_core::validate::field;
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::{
    auth::{current_user, DeleteAccount},
    error::AppError,
    form::{clear_after_failure, ErrorNotice, Field},
};

/// Renders the form that deletes the logged-in user's account after they
/// confirm with their password.
#[component]
pub fn AccountDeletePage() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());

    view! {
        <Title text="Delete account · Latchkey"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(account)) => view! { <DeleteForm email=account.email/> }.into_any(),
                    Ok(None) | Err(AppError::NotLoggedIn) => {
                        view! { <Redirect path="/login?next=/account/delete"/> }.into_any()
                    }
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn DeleteForm(email: String) -> impl IntoView {
    let delete = ServerAction::<DeleteAccount>::new();
    let error = move || delete.value().get().and_then(Result::err);
    let other_error = move || error().filter(|error| !matches!(error, AppError::Invalid { .. }));
    let password_input = NodeRef::<leptos::html::Input>::new();
    clear_after_failure(password_input, move || error().is_some());

    view! {
        <section class="card">
            <h1>"Delete your account"</h1>
            <p>
                "This deletes the account " <strong>{email}</strong>
                " and everything stored with it, and signs you out on every device. It cannot be undone."
            </p>
            {move || other_error().map(|error| view! { <ErrorNotice error/> })}
            <ActionForm action=delete attr:novalidate=true attr:class="stacked">
                <Field
                    label="Password"
                    name=field::PASSWORD
                    kind="password"
                    autocomplete="current-password"
                    message=Signal::derive(move || error().and_then(|error| error.field(field::PASSWORD)))
                    node_ref=password_input
                />
                <button type="submit" class="danger" disabled=move || delete.pending().get()>"Delete my account"</button>
            </ActionForm>
            <p class="aside"><a href="/account">"Keep my account"</a></p>
        </section>
    }
}
