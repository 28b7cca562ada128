use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn CheckEmailPage() -> impl IntoView {
    view! {
        <Title text="Check your email · Latchkey"/>
        <section class="card">
            <h1>"Check your email"</h1>
            <p>
                "We sent a verification link to the address you entered. Open it to activate your account, then log in."
            </p>
            <p class="aside">"No message after a few minutes? Check your spam folder, or ask for a new link from the " <a href="/login">"login page"</a> "."</p>
        </section>
    }
}
