//! The message form pinned at the bottom: a labelled input and a Send button, and above
//! them the message it answers, if any, with a button that cancels the reply. Enter or
//! Send hands the text to the [`Client`](crate::client::Client); an empty text is not
//! sent, a text over the limit is kept with the reason shown. Typing tells the
//! [`Client`](crate::client::Client), which lets the room know (at most every two
//! seconds). It keeps no chat state of its own.

use common::Text;
use leptos::html;
use leptos::prelude::*;

use super::dom::{Drawing, Drawn, add_element, add_text, element, set};
use super::{Ctx, ctx, handler};
use crate::client::Client;
use crate::state::SayError;
use crate::words::{fill, words};

/// From this many characters on, the form shows how many are left.
const COUNT_FROM: usize = Text::MAX - 400;

/// What the line above the field says: why the last message was not sent, or else, near the
/// limit, how many characters the field holds.
#[derive(Debug, Default)]
struct Note {
    chars: usize,
    problem: Option<String>,
}

#[component]
pub fn Composer() -> impl IntoView {
    let Ctx { client, room, .. } = ctx();
    let input = NodeRef::<html::Input>::new();
    let note = RwSignal::new(Note::default());

    let send = move || {
        let Some(el) = input.get_untracked() else {
            return;
        };
        match client.say(&el.value()) {
            Ok(()) => {
                el.set_value("");
                note.set(Note::default());
            }
            Err(SayError::Empty) => {}
            Err(why) => note.update(|n| n.problem = Some(why.to_string())),
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
            note.update(|n| {
                n.chars = chars;
                if chars <= Text::MAX {
                    n.problem = None;
                }
            });
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        // Not while an input method is composing: its Enter confirms the composition.
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    let text = move || {
        note.with(|n| {
            n.problem.clone().unwrap_or_else(|| {
                if n.chars >= COUNT_FROM {
                    fill(words().char_count, &[("n", &n.chars.to_string()), ("max", &Text::MAX.to_string())])
                } else {
                    String::new()
                }
            })
        })
    };
    let note_class =
        move || if note.with(|n| n.problem.is_some()) { "composer-note problem" } else { "composer-note" };
    let w = words();
    let placeholder = move || fill(w.message_to, &[("room", &room.name.get())]);

    view! {
        <form
            class="composer"
            on:submit=handler(move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                send();
            })
        >
            <p class=note_class role="alert" data-testid="composer-error">
                {text}
            </p>
            {move || {
                let text = room.reply.get();
                (!text.is_empty()).then(|| Drawn::new(move || draw_reply(&text, client)))
            }}
            <div class="composer-row">
                {super::attach::button(client)}
                <label class="message-field">
                    <span class="visually-hidden">{w.message}</span>
                    <input
                        type="text"
                        data-testid="message-input"
                        node_ref=input
                        placeholder=placeholder
                        autocomplete="off"
                        enterkeyhint="send"
                        on:input=handler(on_input)
                        on:keydown=handler(on_keydown)
                    />
                </label>
                <button type="submit" class="send" data-testid="send">
                    {w.send}
                </button>
            </div>
        </form>
    }
}

/// What the next message answers ("Replying to bob: …"), with a button that cancels the
/// reply. Drawn (see [`dom`](super::dom)): another reply draws it anew.
fn draw_reply(text: &str, client: Client) -> Drawing {
    let p = element("p", "replying");
    set(&p, "data-testid", "replying");
    let said = add_element(&p, "span", "");
    set(&said, "dir", "auto");
    add_text(&said, text);
    let cancel = add_element(&p, "button", "discard");
    set(&cancel, "type", "button");
    set(&cancel, "aria-label", words().cancel_reply);
    add_text(&cancel, "×");
    Drawing::new(p).on_click(&cancel, Box::new(move |_| client.reply(None)))
}
