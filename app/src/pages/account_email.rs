use latchkey_core::validate::{self, field};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::Redirect, hooks::use_query_map};

use super::login::cooldown_text;
use crate::{
    auth::{current_user, pending_email_change, RequestEmailChange, ResendEmailChange},
    error::AppError,
    form::{clear_after_failure, ErrorNotice, Field, Notice},
};

/// Renders the form that changes the logged-in user's email address.
#[component]
pub fn AccountEmailPage() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());

    view! {
        <Title text="Email address · Latchkey"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(account)) => view! { <ChangeEmailForm current=account.email/> }.into_any(),
                    Ok(None) | Err(AppError::NotLoggedIn) => {
                        view! { <Redirect path="/login?next=/account/email"/> }.into_any()
                    }
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Shows a change that waits for its link, with a button that mails the
/// link again, and the cooldown after a resend.
#[component]
fn PendingChange() -> impl IntoView {
    let resend = ServerAction::<ResendEmailChange>::new();
    let pending = Resource::new(move || resend.version().get(), |_| pending_email_change());
    let query = use_query_map();
    let resent = move || {
        matches!(resend.value().get(), Some(Ok(())))
            || (resend.value().get().is_none() && query.read().get("resent").as_deref() == Some("1"))
    };
    let error = move || resend.value().get().and_then(Result::err);

    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                pending.await.ok().flatten().map(|new_email| view! {
                    <div class="notice notice-info" data-testid="pending-email">
                        <p>"Waiting for confirmation of " <strong>{new_email}</strong> "."</p>
                        <Show when=resent>
                            <p>
                                "We mailed the link again."
                                {move || cooldown_text(query.read().get("wait"))}
                            </p>
                        </Show>
                        {move || error().map(|error| view! { <ErrorNotice error/> })}
                        <ActionForm action=resend attr:class="inline">
                            <button type="submit" class="secondary">"Send the link again"</button>
                        </ActionForm>
                    </div>
                })
            })}
        </Suspense>
    }
}

#[component]
fn ChangeEmailForm(current: String) -> impl IntoView {
    let change = ServerAction::<RequestEmailChange>::new();
    let query = use_query_map();
    let sent = move || {
        matches!(change.value().get(), Some(Ok(())))
            || (change.value().get().is_none() && query.read().get("sent").as_deref() == Some("1"))
    };
    let error = move || change.value().get().and_then(Result::err);
    let message = move |name: &'static str| Signal::derive(move || error().and_then(|error| error.field(name)));
    let typed = Signal::derive(move || match error() {
        Some(AppError::Invalid { email, .. }) => email,
        _ => String::new(),
    });
    let other_error = move || error().filter(|error| !matches!(error, AppError::Invalid { .. }));
    let password_input = NodeRef::<leptos::html::Input>::new();
    clear_after_failure(password_input, move || error().is_some());

    view! {
        <section class="card">
            <h1>"Change email address"</h1>
            <p>"Your account uses " <strong data-testid="current-email">{current}</strong> "."</p>
            <Show when=sent>
                <Notice kind="success">
                    "Open the link we mailed to the new address to confirm it. Until then your current address stays in use."
                </Notice>
            </Show>
            {move || other_error().map(|error| view! { <ErrorNotice error/> })}
            <PendingChange/>
            <ActionForm action=change attr:novalidate=true attr:class="stacked">
                <Field
                    label="New email"
                    name=field::EMAIL
                    kind="email"
                    autocomplete="email"
                    value=typed
                    message=message(field::EMAIL)
                    on_check=Callback::new(|text: String| validate::normalize_email(&text).err())
                />
                <Field
                    label="Password"
                    name=field::PASSWORD
                    kind="password"
                    autocomplete="current-password"
                    message=message(field::PASSWORD)
                    node_ref=password_input
                />
                <button type="submit" disabled=move || change.pending().get()>"Change email"</button>
            </ActionForm>
            <p class="aside"><a href="/account">"Back to your account"</a></p>
        </section>
    }
}
