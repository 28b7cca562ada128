use latchkey_core::{
    password_rules::{check_new_password, password_strength, PasswordContext, PasswordRules, Strength},
    validate::{self, field},
};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

use crate::{
    auth::{password_rules, Register},
    error::AppError,
    form::{clear_after_failure, ErrorNotice, Field},
};

#[component]
pub fn RegisterPage() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    let rules = Resource::new(|| (), |_| password_rules());
    let current_rules = move || rules.get_untracked().and_then(Result::ok).unwrap_or_default();

    let error = move || register.value().get().and_then(Result::err);
    let message = move |name: &'static str| Signal::derive(move || error().and_then(|error| error.field(name)));
    let echoed = move |pick: fn(&AppError) -> Option<String>| {
        Signal::derive(move || error().as_ref().and_then(pick).unwrap_or_default())
    };
    let email = echoed(|error| match error {
        AppError::Invalid { email, .. } => Some(email.clone()),
        _ => None,
    });
    let display_name = echoed(|error| match error {
        AppError::Invalid { display_name, .. } => Some(display_name.clone()),
        _ => None,
    });
    let other_error = move || error().filter(|error| !matches!(error, AppError::Invalid { .. }));

    // What is typed so far, for the password checks and the meter, which
    // reject a password that contains the email or name.
    let (typed_email, set_typed_email) = signal(String::new());
    let (typed_name, set_typed_name) = signal(String::new());
    let (typed_password, set_typed_password) = signal(String::new());
    let strength = move || {
        let (email, display_name) = (typed_email.get(), typed_name.get());
        let context = PasswordContext {
            email: &email,
            display_name: &display_name,
        };
        password_strength(&typed_password.get(), current_rules(), context)
    };
    let check_password = Callback::new(move |text: String| {
        let (email, display_name) = (typed_email.get_untracked(), typed_name.get_untracked());
        let context = PasswordContext {
            email: &email,
            display_name: &display_name,
        };
        check_new_password(&text, current_rules(), context).err()
    });

    // After a failed submission the password is typed again, never kept.
    let password_input = NodeRef::<leptos::html::Input>::new();
    clear_after_failure(password_input, move || error().is_some());

    view! {
        <Title text="Create account · Latchkey"/>
        <section class="card">
            <h1>"Create account"</h1>
            {move || other_error().map(|error| view! { <ErrorNotice error/> })}
            <ActionForm action=register attr:novalidate=true attr:class="stacked">
                <Field
                    label="Email"
                    name=field::EMAIL
                    kind="email"
                    autocomplete="email"
                    value=email
                    message=message(field::EMAIL)
                    on_check=Callback::new(|text: String| validate::normalize_email(&text).err())
                    on_input=Callback::new(move |text| set_typed_email.set(text))
                />
                <Field
                    label="Display name"
                    name=field::DISPLAY_NAME
                    autocomplete="nickname"
                    value=display_name
                    message=message(field::DISPLAY_NAME)
                    on_check=Callback::new(|text: String| validate::normalize_display_name(&text).err())
                    on_input=Callback::new(move |text| set_typed_name.set(text))
                />
                <Field
                    label="Password"
                    name=field::PASSWORD
                    kind="password"
                    autocomplete="new-password"
                    message=message(field::PASSWORD)
                    on_check=check_password
                    on_input=Callback::new(move |text| set_typed_password.set(text))
                    node_ref=password_input
                />
                <StrengthMeter strength=Signal::derive(strength) shown=Signal::derive(move || !typed_password.get().is_empty())/>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let min_chars = rules.await.map_or(PasswordRules::default().min_chars, |rules| rules.min_chars);
                        view! {
                            <p class="hint" data-testid="password-hint">
                                {format!(
                                    "At least {min_chars} characters. Any characters, spaces included. \
                                     A few unrelated words make a strong password."
                                )}
                            </p>
                        }
                    })}
                </Suspense>
                <button type="submit" disabled=move || register.pending().get()>"Create account"</button>
            </ActionForm>
            <p class="aside">"Already have an account? " <a href="/login">"Log in"</a></p>
        </section>
    }
}

/// Shows how hard the typed password looks to guess, as the user types.
/// Only the hydrated page updates it; the server's checks are the ones
/// that count.
#[component]
fn StrengthMeter(strength: Signal<Strength>, shown: Signal<bool>) -> impl IntoView {
    view! {
        <div class="strength" aria-live="polite" class:hidden=move || !shown.get()>
            <meter
                min="0"
                max="4"
                low="2"
                high="3"
                optimum="4"
                value=move || strength.get().level()
                data-testid="strength-meter"
            ></meter>
            <span data-testid="strength-label">{move || format!("Password strength: {}", strength.get().label())}</span>
        </div>
    }
}
