use latchkey_core::validate::field;
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    auth::{check_reset_link, ResetPassword},
    error::AppError,
    form::{clear_after_failure, ErrorNotice, Field},
};

/// Renders the page behind the mailed reset link: a form for the new
/// password. Opening the link spends nothing; only submitting the form
/// does, so a mail scanner that fetches the link cannot use it up.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let reset = ServerAction::<ResetPassword>::new();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let link = Resource::new(token, |token| async move {
        if token.is_empty() {
            Err(AppError::ResetLinkInvalid)
        } else {
            check_reset_link(token).await
        }
    });

    let error = move || reset.value().get().and_then(Result::err);
    let password_message = Signal::derive(move || error().and_then(|error| error.field(field::PASSWORD)));
    let other_error = move || error().filter(|error| !matches!(error, AppError::Invalid { .. }));
    let password_input = NodeRef::<leptos::html::Input>::new();
    clear_after_failure(password_input, move || error().is_some());

    view! {
        <Title text="Choose a new password · Latchkey"/>
        <section class="card">
            <h1>"Choose a new password"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match link.await {
                        Err(error) => view! {
                            <ErrorNotice error/>
                            <p><a href="/forgot-password">"Ask for a new link"</a></p>
                        }
                        .into_any(),
                        Ok(()) => view! {
                            {move || other_error().map(|error| view! {
                                <ErrorNotice error/>
                                <p><a href="/forgot-password">"Ask for a new link"</a></p>
                            })}
                            <p>"Setting a new password signs you out on every device."</p>
                            <ActionForm action=reset attr:novalidate=true attr:class="stacked">
                                <input type="hidden" name="token" value=token/>
                                <Field
                                    label="New password"
                                    name=field::PASSWORD
                                    kind="password"
                                    autocomplete="new-password"
                                    message=password_message
                                    node_ref=password_input
                                />
                                <button type="submit" disabled=move || reset.pending().get()>"Set new password"</button>
                            </ActionForm>
                        }
                        .into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
