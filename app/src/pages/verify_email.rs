use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::login::cooldown_text;
use crate::{
    auth::{ResendVerificationLink, VerifyEmail},
    error::AppError,
    form::{ErrorNotice, Notice},
};

/// Renders the page behind the mailed link.
///
/// Opening the link only shows a button: the token is spent by the POST that
/// the button sends. Mail scanners that fetch every link therefore cannot
/// use up the link before its owner does.
#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let verify = ServerAction::<VerifyEmail>::new();
    let resend = ServerAction::<ResendVerificationLink>::new();
    let query = use_query_map();
    let param = move |name: &'static str| query.read().get(name);
    let token = move || param("token").unwrap_or_default();

    let error = move || verify.value().get().and_then(Result::err);
    let resend_error = move || resend.value().get().and_then(Result::err);

    let body = move || {
        if param("verified").as_deref() == Some("1") {
            return view! {
                <Notice kind="success">"Your email address is verified."</Notice>
                <p><a class="button" href="/login">"Log in"</a></p>
            }
            .into_any();
        }
        if param("resent").as_deref() == Some("1") {
            return view! {
                <Notice kind="success">
                    "We mailed you a new verification link. It replaces the old one."
                    {cooldown_text(param("wait"))}
                </Notice>
            }
            .into_any();
        }
        if token().is_empty() {
            return view! {
                <ErrorNotice error=AppError::TokenInvalid/>
            }
            .into_any();
        }

        view! {
            {move || error().map(|error| {
                let follow_up = match error {
                    AppError::TokenExpired => view! {
                        <ActionForm action=resend attr:class="inline">
                            <input type="hidden" name="token" value=token/>
                            <button type="submit">"Send a new link"</button>
                        </ActionForm>
                    }
                    .into_any(),
                    AppError::TokenUsed => view! { <p><a href="/login">"Log in"</a></p> }.into_any(),
                    _ => ().into_any(),
                };
                view! {
                    <ErrorNotice error/>
                    {follow_up}
                }
            })}
            {move || resend_error().map(|error| view! { <ErrorNotice error/> })}
            <Show when=move || error().is_none()>
                <p>"Confirm that this address is yours to activate your account."</p>
                <ActionForm action=verify attr:class="stacked">
                    <input type="hidden" name="token" value=token/>
                    <button type="submit" disabled=move || verify.pending().get()>"Verify email"</button>
                </ActionForm>
            </Show>
        }
        .into_any()
    };

    view! {
        <Title text="Verify email · Latchkey"/>
        <section class="card">
            <h1>"Verify your email"</h1>
            {body}
        </section>
    }
}
