//! The message form pinned at the bottom: a labelled input and a Send button. Enter or
//! Send hands the text to the [`Client`]; an empty text is not sent, a text over the
//! limit is kept with the reason shown. Typing tells the [`Client`], which lets the room
//! know (at most every two seconds). It keeps no chat state of its own.

use common::Text;
use leptos::html;
use leptos::prelude::*;

use super::RoomView;
use crate::client::Client;
use crate::state::SayError;

/// From this many characters on, the form shows how many are left.
const COUNT_FROM: usize = Text::MAX - 400;

#[component]
pub fn Composer() -> impl IntoView {
    let client: Client = expect_context();
    let room: RoomView = expect_context();
    let input = NodeRef::<html::Input>::new();
    let problem = RwSignal::new(None::<String>);
    let length = RwSignal::new(0usize);

    let send = move || {
        let Some(el) = input.get_untracked() else {
            return;
        };
        match client.say(&el.value()) {
            Ok(()) => {
                el.set_value("");
                length.set(0);
                problem.set(None);
            }
            Err(SayError::Empty) => {}
            Err(why) => problem.set(Some(why.to_string())),
        }
        // Clicking Send moved the focus to the button: the user goes on typing.
        let _ = el.focus();
    };
    let on_input = move |_| {
        if let Some(el) = input.get_untracked() {
            let value = el.value();
            if !value.trim().is_empty() {
                client.typing();
            }
            let chars = value.chars().count();
            length.set(chars);
            if chars <= Text::MAX {
                problem.set(None);
            }
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        // Not while an input method is composing: its Enter confirms the composition.
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    let note = move || {
        problem.get().or_else(|| {
            let n = length.get();
            (n >= COUNT_FROM).then(|| format!("{n} / {} characters", Text::MAX))
        })
    };
    let has_problem = move || problem.with(Option::is_some);
    let placeholder = move || format!("Message #{}", room.name.get());

    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send();
            }
        >
            <p class="composer-note" class:problem=has_problem role="alert" data-testid="composer-error">
                {note}
            </p>
            <div class="composer-row">
                <label class="message-field">
                    <span class="visually-hidden">"Message"</span>
                    <input
                        type="text"
                        data-testid="message-input"
                        node_ref=input
                        placeholder=placeholder
                        autocomplete="off"
                        enterkeyhint="send"
                        on:input=on_input
                        on:keydown=on_keydown
                    />
                </label>
                <button type="submit" class="send" data-testid="send">
                    "Send"
                </button>
            </div>
        </form>
    }
}
