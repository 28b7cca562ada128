//! Pieces shared by the forms.

use leptos::prelude::*;

use crate::error::AppError;

/// Renders a labelled input with its error message beside it.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] autocomplete: &'static str,
    #[prop(into, optional)] value: Signal<String>,
    #[prop(into)] message: Signal<Option<String>>,
    #[prop(optional)] on_check: Option<Callback<String, Option<String>>>,
    /// Called with the text on every keystroke.
    #[prop(optional)]
    on_input: Option<Callback<String>>,
    #[prop(optional)] node_ref: NodeRef<leptos::html::Input>,
) -> impl IntoView {
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    let (checked, set_checked) = signal(None::<String>);
    let shown = move || checked.get().or_else(|| message.get());
    let on_change = move |ev: leptos::ev::Event| {
        if let Some(check) = on_check {
            set_checked.set(check.run(event_target_value(&ev)));
        }
    };
    let on_typing = move |ev: leptos::ev::Event| {
        if let Some(on_input) = on_input {
            on_input.run(event_target_value(&ev));
        }
    };

    view! {
        <div class="field" class:invalid=move || shown().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                value=move || value.get()
                aria-invalid=move || if shown().is_some() { "true" } else { "false" }
                aria-describedby=error_id.clone()
                on:change=on_change
                on:input=on_typing
                node_ref=node_ref
            />
            <p class="field-error" id=error_id role="alert">{shown}</p>
        </div>
    }
}

/// Renders a notice above a form: an error the user can act on, or a confirmation.
#[component]
pub fn Notice(#[prop(into)] kind: &'static str, children: Children) -> impl IntoView {
    view! { <div class=format!("notice notice-{kind}") role="status">{children()}</div> }
}

/// Renders an error message above a form, read out by screen readers when it appears.
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    view! { <p class="notice notice-error" role="alert">{error.to_string()}</p> }
}

/// Empties a password input after a failed submission, so that the password
/// is typed again rather than left in the page.
pub fn clear_after_failure(input: NodeRef<leptos::html::Input>, failed: impl Fn() -> bool + Send + Sync + 'static) {
    Effect::new(move || {
        if failed() {
            if let Some(input) = input.get() {
                input.set_value("");
            }
        }
    });
}
