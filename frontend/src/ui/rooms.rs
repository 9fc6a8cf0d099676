//! The room list: every room of the live directory and every joined room, with member
//! counts, unread badges and a lock on private rooms; the form that joins (or creates) a
//! room by name, optionally with a password and a member limit; and the dialog that asks
//! for a private room's password. On a wide screen it is a sidebar; on a phone a drawer
//! that choosing a room closes. It
//! displays the [`RoomsView`](super::RoomsView) and acts through the
//! [`Client`](crate::client::Client); room names from the network are text, never markup.

use leptos::html;
use leptos::prelude::*;

use super::dom::{Drawing, Drawn, add_text, element, set};
use super::{Ctx, ctx, effect, handler, text_of};
use crate::state::RoomEntry;

#[component]
pub fn RoomList() -> impl IntoView {
    let Ctx { rooms, panels, client, .. } = ctx();
    let input = NodeRef::<html::Input>::new();
    let password = NodeRef::<html::Input>::new();
    let max = NodeRef::<html::Input>::new();

    let join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (Some(el), Some(password), Some(max)) =
            (input.get_untracked(), password.get_untracked(), max.get_untracked())
        else {
            return;
        };
        // A refusal shows in `rooms.error`, below the form.
        if client.open_room_with(&el.value(), &password.value(), &max.value()).is_ok() {
            for field in [el, password, max] {
                field.set_value("");
            }
            panels.rooms.set(false);
        }
    };
    let names = move || rooms.list.with(|list| list.iter().map(|e| e.name.clone()).collect::<Vec<_>>());

    view! {
        <nav class=move || if panels.rooms.get() { "sidebar panel open" } else { "sidebar panel" } aria-label="Rooms">
            <h2 class="panel-title">"Rooms"</h2>
            <ul class="room-list">
                // Keyed by name, each line reading its own counts: a line that changes is
                // updated in place, so a focused button keeps the focus.
                <For each=names key=|name| name.clone() let:name>
                    <RoomLine name />
                </For>
            </ul>
            <form class="room-form" on:submit=handler(join)>
                <label class="room-field">
                    <span class="field-label">"Room"</span>
                    <input
                        type="text"
                        node_ref=input
                        placeholder="name"
                        autocomplete="off"
                        autocapitalize="off"
                        spellcheck="false"
                        enterkeyhint="go"
                        maxlength="200"
                    />
                </label>
                <button type="submit">"Join"</button>
                // Only for a room the form creates: a password makes it private.
                <details class="room-options">
                    <summary>"Password, limit"</summary>
                    <label>
                        "Password (makes a new room private)"
                        <input type="password" node_ref=password autocomplete="new-password" maxlength="128" />
                    </label>
                    <label>
                        "Member limit (2 to 1000)"
                        <input type="number" node_ref=max min="2" max="1000" inputmode="numeric" />
                    </label>
                </details>
                <p class="field-error" role="alert" data-testid="room-error">
                    {text_of(rooms.error)}
                </p>
            </form>
        </nav>
    }
}

/// One room of the list: a button that shows it (joining it first if need be).
#[component]
fn RoomLine(name: String) -> impl IntoView {
    let Ctx { rooms, panels, client, .. } = ctx();
    // Each value below reads the line's entry of the list; the view only touches the page
    // where a value changed.
    let field = {
        let name = name.clone();
        move |f: fn(&RoomEntry) -> u32| {
            rooms.list.with(|list| list.iter().find(|e| e.name == name).map_or(0, f))
        }
    };
    let current = {
        let field = field.clone();
        move || field(|e| u32::from(e.current)) != 0
    };
    let joined = {
        let field = field.clone();
        move || field(|e| u32::from(e.joined)) != 0
    };
    // Only joined rooms count messages, and the room shown has none unread by definition.
    let unread = {
        let field = field.clone();
        move || field(|e| e.unread)
    };
    let public = {
        let field = field.clone();
        move || field(|e| u32::from(e.private)) == 0
    };
    let members = move || field(|e| e.members);
    let aria_current = {
        let current = current.clone();
        move || current().then_some("true")
    };
    let count_label = {
        let members = members.clone();
        move || format!("{} members", members())
    };
    let open = {
        let name = name.clone();
        move |_| {
            // The name came from the server or from a room we hold: always valid.
            let _ = client.open_room(&name);
            panels.rooms.set(false);
        }
    };
    let label = format!("#{name}");
    view! {
        <li>
            <button
                type="button"
                class="room-entry"
                data-joined=move || joined().then_some("true")
                data-testid="room"
                data-room=name
                aria-current=aria_current
                on:click=handler(open)
            >
                <span class="room-name">{label}</span>
                <span class="lock" role="img" aria-label="private" data-testid="lock" hidden=move || public().then_some("")>
                    "🔒"
                </span>
                // Drawn rather than a `view!` (see `dom`): a badge never changes, another
                // one replaces it.
                {move || {
                    let n = unread();
                    (n != 0 && !current()).then(|| Drawn::new(move || draw_unread(n)))
                }}
                <span class="count" data-testid="room-count" aria-label=count_label>
                    {members}
                </span>
            </button>
        </li>
    }
}

/// The dialog that asks for the password of a private room the user opened (from the
/// list, the form or a link); a refusal asks again, saying why.
#[component]
pub fn PasswordDialog() -> impl IntoView {
    let Ctx { rooms, .. } = ctx();
    move || rooms.prompt.get().map(|room| view! { <PasswordBody room /> })
}

#[component]
fn PasswordBody(room: String) -> impl IntoView {
    let Ctx { rooms, panels, client, .. } = ctx();
    let input = NodeRef::<html::Input>::new();
    // The keyboard lands in the field.
    effect(Box::new(move || {
        if let Some(el) = input.get() {
            let _ = el.focus();
        }
    }));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(el) = input.get_untracked()
            && client.enter_password(&el.value()).is_ok()
        {
            panels.rooms.set(false);
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            client.cancel_prompt();
        }
    };
    view! {
        <div class="dialog-backdrop" on:click=handler(move |_| client.cancel_prompt())></div>
        <form class="dialog" role="dialog" aria-modal="true" aria-label="Room password" on:submit=handler(submit) on:keydown=handler(on_keydown)>
            <h2>{format!("#{room} is private")}</h2>
            <label class="password-field">
                "Password"
                <input type="password" node_ref=input autocomplete="current-password" maxlength="128" />
            </label>
            <p class="field-error" role="alert" data-testid="password-error">
                {text_of(rooms.prompt_error)}
            </p>
            <button type="submit">"Enter"</button>
            <button type="button" on:click=handler(move |_| client.cancel_prompt())>"Cancel"</button>
        </form>
    }
}

/// The badge of a room with `n` unread messages.
fn draw_unread(n: u32) -> Drawing {
    let badge = element("span", "unread");
    set(&badge, "data-testid", "unread");
    let n = n.to_string();
    set(&badge, "aria-label", &[&n, " unread"].concat());
    add_text(&badge, &n);
    Drawing::new(badge)
}
