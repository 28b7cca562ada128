use latchkey_core::validate::{self, field};
use leptos::{form::ActionForm, prelude::*};
use leptos_meta::Title;

use crate::{
    auth::Register,
    error::AppError,
    form::{clear_after_failure, ErrorNotice, Field},
};

#[component]
pub fn RegisterPage() -> impl IntoView {
    let register = ServerAction::<Register>::new();
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
                />
                <Field
                    label="Display name"
                    name=field::DISPLAY_NAME
                    autocomplete="nickname"
                    value=display_name
                    message=message(field::DISPLAY_NAME)
                    on_check=Callback::new(|text: String| validate::normalize_display_name(&text).err())
                />
                <Field
                    label="Password"
                    name=field::PASSWORD
                    kind="password"
                    autocomplete="new-password"
                    message=message(field::PASSWORD)
                    on_check=Callback::new(|text: String| validate::check_new_password(&text).err())
                    node_ref=password_input
                />
                <p class="hint">
                    {format!("At least {} characters. Any characters, spaces included.", validate::PASSWORD_MIN_CHARS)}
                </p>
                <button type="submit" disabled=move || register.pending().get()>"Create account"</button>
            </ActionForm>
            <p class="aside">"Already have an account? " <a href="/login">"Log in"</a></p>
        </section>
    }
}
