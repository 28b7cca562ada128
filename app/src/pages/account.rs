use latchkey_core::validate::{self, field};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::Redirect, hooks::use_query_map};

use crate::{
    auth::{current_user, recent_activity, AccountView, ActivityView, LogOut, UpdateDisplayName},
    error::AppError,
    form::{ErrorNotice, Field, Notice},
};

#[component]
pub fn AccountPage() -> impl IntoView {
    let update = ServerAction::<UpdateDisplayName>::new();
    let log_out = ServerAction::<LogOut>::new();
    let user = Resource::new(move || update.version().get(), |_| current_user());

    view! {
        <Title text="Your account · Latchkey"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(account)) => view! { <AccountDetails account update log_out/> }.into_any(),
                    Ok(None) | Err(AppError::NotLoggedIn) => view! { <Redirect path="/login?next=/account"/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AccountDetails(
    account: AccountView,
    update: ServerAction<UpdateDisplayName>,
    log_out: ServerAction<LogOut>,
) -> impl IntoView {
    let update_error = move || update.value().get().and_then(Result::err);
    let query = use_query_map();
    let saved = move || {
        matches!(update.value().get(), Some(Ok(_)))
            || (update.value().get().is_none() && query.read().get("saved").as_deref() == Some("1"))
    };
    let name_message = Signal::derive(move || update_error().and_then(|error| error.field(field::DISPLAY_NAME)));
    let other_error = move || update_error().filter(|error| !matches!(error, AppError::Invalid { .. }));
    let current_name = account.display_name.clone();
    let shown_name = Signal::derive(move || match update_error() {
        Some(AppError::Invalid { display_name, .. }) => display_name,
        _ => current_name.clone(),
    });

    view! {
        <section class="card">
            <h1>"Your account"</h1>
            <dl class="facts">
                <dt>"Display name"</dt>
                <dd data-testid="display-name">{account.display_name.clone()}</dd>
                <dt>"Email"</dt>
                <dd data-testid="email">{account.email.clone()}</dd>
                <dt>"Email verified"</dt>
                <dd data-testid="verified">{if account.email_verified { "Yes" } else { "No" }}</dd>
                <dt>"Member since"</dt>
                <dd data-testid="member-since">{account.member_since.clone()}</dd>
            </dl>
        </section>
        <section class="card">
            <h2>"Change display name"</h2>
            <Show when=saved>
                <Notice kind="success">"Display name saved."</Notice>
            </Show>
            {move || other_error().map(|error| view! { <ErrorNotice error/> })}
            <ActionForm action=update attr:novalidate=true attr:class="stacked">
                <Field
                    label="Display name"
                    name=field::DISPLAY_NAME
                    autocomplete="nickname"
                    value=shown_name
                    message=name_message
                    on_check=Callback::new(|text: String| validate::normalize_display_name(&text).err())
                />
                <button type="submit" disabled=move || update.pending().get()>"Save"</button>
            </ActionForm>
        </section>
        <section class="card">
            <h2>"Security"</h2>
            <p><a href="/account/security">"Change your password"</a></p>
            <p><a href="/account/email">"Change your email address"</a></p>
            <p><a href="/account/sessions">"See where you are logged in"</a></p>
            <p><a href="/account/delete">"Delete your account"</a></p>
        </section>
        <RecentActivity/>
        <section class="card">
            <ActionForm action=log_out>
                <button type="submit" class="secondary">"Log out"</button>
            </ActionForm>
        </section>
    }
}

/// Lists the user's recent security events, so that they can spot a login
/// that was not theirs.
#[component]
fn RecentActivity() -> impl IntoView {
    let activity = Resource::new(|| (), |_| recent_activity());

    view! {
        <section class="card">
            <h2>"Recent activity"</h2>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match activity.await {
                        Ok(events) if events.is_empty() => view! { <p>"No activity yet."</p> }.into_any(),
                        Ok(events) => view! { <ActivityTable events/> }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ActivityTable(events: Vec<ActivityView>) -> impl IntoView {
    view! {
        <table class="activity" data-testid="activity">
            <thead>
                <tr>
                    <th scope="col">"When"</th>
                    <th scope="col">"What"</th>
                    <th scope="col">"Address"</th>
                    <th scope="col">"Browser or app"</th>
                </tr>
            </thead>
            <tbody>
                {events
                    .into_iter()
                    .map(|event| {
                        view! {
                            <tr>
                                <td>{event.when}</td>
                                <td>{event.what}</td>
                                <td>{event.ip}</td>
                                <td class="user-agent">{event.user_agent}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
