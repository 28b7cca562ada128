use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::Redirect, hooks::use_query_map};

use crate::{
    auth::{list_sessions, RevokeOtherSessions, RevokeSession, SessionView},
    error::AppError,
    form::{ErrorNotice, Notice},
};

/// Renders the user's logins, browser sessions and API logins alike, each
/// with a button that ends it, and one that ends all but this one.
#[component]
pub fn AccountSessionsPage() -> impl IntoView {
    let revoke = ServerAction::<RevokeSession>::new();
    let revoke_others = ServerAction::<RevokeOtherSessions>::new();
    let sessions = Resource::new(
        move || (revoke.version().get(), revoke_others.version().get()),
        |_| list_sessions(),
    );
    let query = use_query_map();
    let revoked = move || {
        matches!(revoke.value().get(), Some(Ok(())))
            || matches!(revoke_others.value().get(), Some(Ok(_)))
            || query.read().get("revoked").as_deref() == Some("1")
    };
    let error = move || {
        revoke
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| revoke_others.value().get().and_then(Result::err))
    };

    view! {
        <Title text="Sessions · Latchkey"/>
        <section class="card">
            <h1>"Where you are logged in"</h1>
            <Show when=revoked>
                <Notice kind="success">"Signed out. That device must log in again."</Notice>
            </Show>
            {move || error().map(|error| view! { <ErrorNotice error/> })}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => view! { <SessionTable list revoke/> }.into_any(),
                        Err(AppError::NotLoggedIn) => {
                            view! { <Redirect path="/login?next=/account/sessions"/> }.into_any()
                        }
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
            <ActionForm action=revoke_others attr:class="inline">
                <button type="submit" class="secondary">"Sign out everywhere else"</button>
            </ActionForm>
            <p class="aside"><a href="/account">"Back to your account"</a></p>
        </section>
    }
}

#[component]
fn SessionTable(list: Vec<SessionView>, revoke: ServerAction<RevokeSession>) -> impl IntoView {
    view! {
        <table class="activity" data-testid="sessions">
            <thead>
                <tr>
                    <th scope="col">"Device"</th>
                    <th scope="col">"Via"</th>
                    <th scope="col">"Address"</th>
                    <th scope="col">"Signed in"</th>
                    <th scope="col">"Last active"</th>
                    <th scope="col"></th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|login| {
                        let label = if login.current { "Sign out" } else { "Revoke" };
                        view! {
                            <tr data-current=login.current.to_string()>
                                <td>
                                    {login.device}
                                    {login.current.then(|| view! { <strong>" (this device)"</strong> })}
                                </td>
                                <td>{login.kind}</td>
                                <td>{login.ip}</td>
                                <td>{login.signed_in}</td>
                                <td>{login.last_active}</td>
                                <td>
                                    <ActionForm action=revoke attr:class="inline">
                                        <input type="hidden" name="id" value=login.id/>
                                        <button type="submit" class="secondary">{label}</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
