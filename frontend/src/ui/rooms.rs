//! The room list: every room of the live directory (in version 2, the part the server
//! sent: a short first list, more pages on "More rooms", and a "Find a room" search by the
//! start of a name) and every joined room, with member
//! counts, unread badges and a lock on private rooms; the form that joins (or creates) a
//! room by name, optionally with a password and a member limit, which also asks for a
//! private room's password when one is opened without it. On a wide screen it is a sidebar; on a phone a drawer
//! that choosing a room closes. It
//! displays the [`RoomsView`](super::RoomsView) and acts through the
//! [`Client`](crate::client::Client); room names from the network are text, never markup.

use leptos::html;
use leptos::prelude::*;

use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use super::dom::{Drawing, Drawn, add_text, element, set};
use super::{Ctx, ctx, effect, handler, text_of};
use crate::client::Client;
use crate::state::RoomEntry;
use crate::words::{fill, words};

#[component]
pub fn RoomList() -> impl IntoView {
    let Ctx { rooms, panels, client, .. } = ctx();
    let w = words();
    let input = NodeRef::<html::Input>::new();
    let password = NodeRef::<html::Input>::new();
    let max = NodeRef::<html::Input>::new();
    let options = NodeRef::<html::Details>::new();
    // A private room opened without its password (from the list, a link, or a refusal):
    // the form asks for it, the room's name filled in and the reason below.
    effect(Box::new(move || {
        let Some(room) = rooms.prompt.get() else { return };
        if let (Some(el), Some(password), Some(options)) =
            (input.get_untracked(), password.get_untracked(), options.get_untracked())
        {
            el.set_value(&room);
            let _ = options.set_attribute("open", "");
            panels.rooms.set(true);
            let _ = password.focus();
        }
        client.prompted();
    }));

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
        <nav class=move || if panels.rooms.get() { "sidebar panel open" } else { "sidebar panel" } aria-label=w.rooms>
            <h2 class="panel-title">{w.rooms}</h2>
            {Drawn::new(move || draw_finder(client))}
            <ul class="room-list">
                // Keyed by name, each line reading its own counts: a line that changes is
                // updated in place, so a focused button keeps the focus.
                <For each=names key=|name| name.clone() let:name>
                    <RoomLine name />
                </For>
            </ul>
            {move || rooms.more.get().then(|| Drawn::new(move || draw_more(client)))}
            // `novalidate`: a limit out of range is explained by the chat, like every other refusal.
            <form class="room-form" novalidate="" on:submit=handler(join)>
                <label class="room-field">
                    <span class="field-label">{w.room}</span>
                    <input
                        type="text"
                        node_ref=input
                        placeholder=w.room_placeholder
                        autocomplete="off"
                        autocapitalize="off"
                        spellcheck="false"
                        enterkeyhint="go"
                        maxlength="200"
                    />
                </label>
                <button type="submit">{w.join}</button>
                // Only for a room the form creates: a password makes it private.
                <details class="room-options" node_ref=options>
                    <summary>{w.room_options}</summary>
                    <label>
                        {w.password_label}
                        <input type="password" node_ref=password autocomplete="off" maxlength="128" />
                    </label>
                    <label>
                        {w.limit_label}
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
    // Twice the count, plus one when one of them mentions us: one value, one badge.
    let unread = {
        let field = field.clone();
        move || field(|e| e.unread << 1 | u32::from(e.mentioned))
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
        move || {
            let n = members();
            fill(words().room_members.of(n), &[("n", &n.to_string())])
        }
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
                {move || (!public()).then(|| Drawn::new(draw_lock))}
                // Drawn rather than a `view!` (see `dom`): a badge never changes, another
                // one replaces it.
                {move || {
                    let n = unread();
                    (n > 1 && !current()).then(|| Drawn::new(move || draw_unread(n)))
                }}
                <span class="count" data-testid="room-count" aria-label=count_label>
                    {members}
                </span>
            </button>
        </li>
    }
}

/// The "Find a room" field, drawn once (a redraw would lose what is typed): each change
/// searches the list.
fn draw_finder(client: Client) -> Drawing {
    let input = element("input", "room-find");
    let find = words().find_room;
    for (name, value) in [
        ("type", "search"),
        ("aria-label", find),
        ("placeholder", find),
        ("autocomplete", "off"),
        ("autocapitalize", "off"),
        ("spellcheck", "false"),
        ("maxlength", "64"),
        ("data-testid", "find-room"),
    ] {
        set(&input, name, value);
    }
    let field = input.clone().unchecked_into::<HtmlInputElement>();
    Drawing::new(input.clone()).on(&input, "input", Box::new(move |_| client.find_rooms(&field.value())))
}

/// The "More rooms" button, while the server has more rooms to page through.
fn draw_more(client: Client) -> Drawing {
    let button = element("button", "more-rooms");
    set(&button, "type", "button");
    set(&button, "data-testid", "more-rooms");
    add_text(&button, words().more_rooms);
    Drawing::new(button.clone()).on_click(&button, Box::new(move |_| client.more_rooms()))
}

/// The lock of a private room, drawn by CSS (an emoji needs a font some systems lack).
fn draw_lock() -> Drawing {
    let lock = element("span", "lock");
    set(&lock, "role", "img");
    set(&lock, "aria-label", words().private);
    set(&lock, "data-testid", "lock");
    Drawing::new(lock)
}

/// The badge of a room with `n / 2` unread messages, after an `@` when one of them
/// mentions us (`n` odd).
fn draw_unread(n: u32) -> Drawing {
    let badge = element("span", "unread");
    set(&badge, "data-testid", "unread");
    let count = (n >> 1).to_string();
    set(&badge, "aria-label", &fill(words().unread, &[("n", &count)]));
    add_text(&badge, &count);
    let mut drawing = Drawing::new(badge);
    if n & 1 == 1 {
        let mention = element("span", "mention-mark");
        set(&mention, "data-testid", "mentioned");
        set(&mention, "role", "img");
        set(&mention, "aria-label", words().mentions_you);
        add_text(&mention, "@");
        drawing = drawing.then(mention);
    }
    drawing
}
