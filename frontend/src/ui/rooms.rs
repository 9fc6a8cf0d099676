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
use web_sys::{Element, HtmlInputElement};

use super::dom::{Drawing, Drawn, add_element, add_text, element, set};
use super::messages::{add_button, clicked};
use super::{Ctx, Panels, RoomsView, ctx, effect, handler, text_of};
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
    view! {
        <nav
            class=move || if panels.rooms.get() { "sidebar panel open" } else { "sidebar panel" }
            aria-label=w.rooms
            on:scroll=handler(move |ev| more_at_the_end(client, ev))
        >
            <h2 class="panel-title">{w.rooms}</h2>
            {Drawn::new(move || draw_finder(client))}
            // Drawn with the DOM's calls (see `dom`) and kept in step by one effect.
            {Drawn::new(move || draw_list(rooms, client, panels))}
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

/// The room list, and after it the "More rooms" button while the server has more rooms to
/// page through; each room a button that shows it (joining it first if need be). Drawn
/// once and kept in step with the list by an effect that rewrites each line's button in
/// place rather than drawing it anew: a keyed list of views costs the wasm far more, and a
/// button that stays the same element keeps the focus, and a press on it is not lost when
/// a count changes between the press and the release.
fn draw_list(rooms: RoomsView, client: Client, panels: Panels) -> Drawing {
    let all = element("div", "rooms");
    let ul = add_element(&all, "ul", "room-list");
    // The list's empty name: its click asks for the next page.
    let more = add_button(&all, "quiet more-members", "", words().more_rooms);
    set(&more, "data-testid", "more-rooms");
    set(&more, "data-room", "");
    effect(Box::new(move || {
        let on = rooms.more.get();
        rooms.list.with(|list| redraw(&ul, list));
        turn(&more, "hidden", !on);
    }));
    let on_all = all.clone();
    Drawing::new(all).on_click(
        &on_all,
        Box::new(move |ev| {
            match clicked(ev).and_then(|b| b.get_attribute("data-room")).as_deref() {
                Some("") => client.more_rooms(),
                Some(name) => {
                    // The name came from the server or from a room we hold: always valid.
                    let _ = client.open_room(name);
                    panels.rooms.set(false);
                }
                None => {}
            }
        }),
    )
}

/// The next page of rooms as the list is scrolled to its end (the "More rooms" button
/// does the same for a keyboard, or a list too short to scroll). The chat asks for one
/// page at a time and only while the server has more, however many scroll events come.
fn more_at_the_end(client: Client, ev: leptos::ev::Event) {
    let nav = event_target::<Element>(&ev);
    // Within a line or two of the end: the next page is there before the end is reached.
    if nav.scroll_top() + nav.client_height() + 96 >= nav.scroll_height() {
        client.more_rooms();
    }
}

/// Sets the attribute `name` (to "true") when `on`, else removes it.
fn turn(el: &Element, name: &str, on: bool) {
    if on {
        set(el, name, "true");
    } else {
        let _ = el.remove_attribute(name);
    }
}

/// Rewrites the lines of `ul` to show `list`: the first lines' buttons are reused, in
/// order, lines are added or removed at the end.
fn redraw(ul: &Element, list: &[RoomEntry]) {
    let w = words();
    let mut line = ul.first_element_child();
    for e in list {
        let button = match line {
            Some(li) => {
                line = li.next_element_sibling();
                let button = li.first_element_child().unwrap_or(li);
                button.set_text_content(None);
                button
            }
            None => {
                let li = add_element(ul, "li", "");
                let button = add_element(&li, "button", "room-entry");
                set(&button, "type", "button");
                set(&button, "data-testid", "room");
                button
            }
        };
        set(&button, "data-room", &e.name);
        turn(&button, "data-joined", e.joined);
        turn(&button, "aria-current", e.current);
        let name = add_element(&button, "span", "room-name");
        add_text(&name, "#");
        add_text(&name, &e.name);
        if e.private {
            add_lock(&button);
        }
        // Only joined rooms count messages, and the room shown has none unread.
        if e.unread > 0 && !e.current {
            add_unread(&button, e.unread, e.mentioned);
        }
        let count = add_element(&button, "span", "count");
        let n = e.members.to_string();
        set(&count, "data-testid", "room-count");
        set(&count, "aria-label", &fill(w.room_members.of(e.members), &[("n", &n)]));
        add_text(&count, &n);
    }
    while let Some(li) = line {
        line = li.next_element_sibling();
        li.remove();
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

/// The lock of a private room, drawn by CSS (an emoji needs a font some systems lack).
fn add_lock(button: &Element) {
    let lock = add_element(button, "span", "lock");
    set(&lock, "role", "img");
    set(&lock, "aria-label", words().private);
    set(&lock, "data-testid", "lock");
}

/// The badge of a room with `n` unread messages, after an `@` when one of them mentions
/// us.
fn add_unread(button: &Element, n: u32, mentioned: bool) {
    let badge = add_element(button, "span", "unread");
    set(&badge, "data-testid", "unread");
    let count = n.to_string();
    set(&badge, "aria-label", &fill(words().unread, &[("n", &count)]));
    add_text(&badge, &count);
    if mentioned {
        let mention = add_element(button, "span", "mention-mark");
        set(&mention, "data-testid", "mentioned");
        set(&mention, "role", "img");
        set(&mention, "aria-label", words().mentions_you);
        add_text(&mention, "@");
    }
}
