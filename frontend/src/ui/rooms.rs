//! The room list: every room of the live directory and every joined room, with member
//! counts and unread badges, and the form that joins (or creates) a room by name. On a
//! wide screen it is a sidebar; on a phone a drawer that choosing a room closes. It
//! displays the [`RoomsView`] and acts through the [`Client`]; room names from the
//! network are text, never markup.

use leptos::html;
use leptos::prelude::*;

use super::{Panels, RoomsView};
use crate::client::Client;
use crate::state::RoomEntry;

#[component]
pub fn RoomList() -> impl IntoView {
    let rooms: RoomsView = expect_context();
    let panels: Panels = expect_context();
    let client: Client = expect_context();
    let input = NodeRef::<html::Input>::new();

    let join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(el) = input.get_untracked() else {
            return;
        };
        // A refusal shows in `rooms.error`, below the form.
        if client.open_room(&el.value()).is_ok() {
            el.set_value("");
            panels.rooms.set(false);
        }
    };
    let names = move || rooms.list.with(|list| list.iter().map(|e| e.name.clone()).collect::<Vec<_>>());

    view! {
        <nav class="sidebar panel" class:open=move || panels.rooms.get() aria-label="Rooms">
            <h2 class="panel-title">"Rooms"</h2>
            <ul class="room-list">
                // Keyed by name, each line reading its own counts: a line that changes is
                // updated in place, so a focused button keeps the focus.
                <For each=names key=|name| name.clone() let:name>
                    <RoomLine name />
                </For>
            </ul>
            <form class="room-form" on:submit=join>
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
                <p class="field-error" role="alert" data-testid="room-error">
                    {rooms.error}
                </p>
            </form>
        </nav>
    }
}

/// One room of the list: a button that shows it (joining it first if need be).
#[component]
fn RoomLine(name: String) -> impl IntoView {
    let rooms: RoomsView = expect_context();
    let panels: Panels = expect_context();
    let client: Client = expect_context();
    let entry = {
        let name = name.clone();
        Memo::new(move |_| rooms.list.with(|list| list.iter().find(|e| e.name == name).cloned()))
    };
    let get = move |f: fn(&RoomEntry) -> u32| entry.with(|e| e.as_ref().map_or(0, f));
    let current = move || entry.with(|e| e.as_ref().is_some_and(|e| e.current));
    let joined = move || entry.with(|e| e.as_ref().is_some_and(|e| e.joined));
    // Only joined rooms count messages, and the room shown has none unread by definition.
    let unread = move || get(|e| e.unread);
    let members = move || get(|e| e.members);
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
                aria-current=move || current().then_some("true")
                on:click=open
            >
                <span class="room-name">{label}</span>
                {move || {
                    let n = unread();
                    (n != 0 && !current()).then(|| {
                        view! {
                            <span class="unread" data-testid="unread" aria-label=format!("{n} unread")>
                                {n}
                            </span>
                        }
                    })
                }}
                <span class="count" data-testid="room-count" aria-label=move || format!("{} members", members())>
                    {members}
                </span>
            </button>
        </li>
    }
}
