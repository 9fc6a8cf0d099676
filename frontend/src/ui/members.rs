//! The members of the room shown, live (from `joined` and `presence`): a column at the
//! right on a wide screen, a drawer behind the "Members" button on a phone. It shows the
//! room's size; in a big room (version 2) the list holds the pages loaded so far, and
//! "Show more" at its end loads the next (a button rather than loading on scroll: it
//! works the same with a keyboard, a screen reader and a finger). To the room's owner and
//! moderators a member's line offers what they may do to that member (remove, ban for a
//! day, and for the owner name or unname a moderator), shown as a message's actions are:
//! on hover or focus. Display only: it reads the [`RoomView`](super::RoomView) and asks
//! through the client; nicks are text, never markup.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Element;

use super::dom::{Drawing, Drawn, add_element, add_text, element, set};
use super::messages::{add_button, after_layout, clicked};
use super::{Ctx, ctx, handler};
use crate::client::Client;
use crate::state::{Acts, Member};
use crate::words::words;

#[component]
pub fn MemberList() -> impl IntoView {
    let Ctx { room, panels, client, .. } = ctx();
    let w = words();
    view! {
        <aside class=move || if panels.members.get() { "members panel open" } else { "members panel" } aria-label=w.members>
            <h2 class="panel-title">
                {w.members} " " <span class="count" data-testid="member-count">{room.count}</span>
            </h2>
            // Drawn whole, anew when it changes (see `dom`): a keyed list of views costs
            // the wasm far more, and a list in which people come and go one at a time is
            // small (a big room counts its arrivals rather than naming them).
            {move || {
                let list = room.members.get();
                Drawn::new(move || draw_list(list, client))
            }}
            <button
                type="button"
                class="quiet more-members"
                data-testid="more-members"
                hidden=move || (!room.more.get()).then_some("")
                on:click=handler(move |_| client.load_members())
            >
                {w.show_more}
            </button>
        </aside>
    }
}

/// The nick of the member line with actions that `el` is in (its `data-nick`).
fn nick_of(el: &Element) -> Option<String> {
    el.closest("[data-nick]").ok()??.get_attribute("data-nick")
}

fn draw_list(list: Vec<Member>, client: Client) -> Drawing {
    let w = words();
    let ul = element("ul", "member-list");
    // A member line that has the focus (its actions shown) keeps it through a redraw.
    let focused = document().active_element().and_then(|e| nick_of(&e));
    for member in list {
        let li = add_element(&ul, "li", "member");
        set(&li, "data-testid", "member");
        // The word CSS shows after our nick ("(you)").
        if member.me {
            set(&li, "data-me", w.me_tag);
        }
        add_text(&add_element(&li, "bdi", ""), &member.nick);
        if member.acts == Acts::Nothing {
            continue;
        }
        // As a message's line: focusable (Tab, a click, a tap), which shows the actions.
        set(&li, "tabindex", "0");
        set(&li, "data-nick", &member.nick);
        let bar = add_element(&li, "div", "actions");
        if let Acts::Own(moderator) = member.acts {
            let toggle = add_button(&bar, "", "mod", w.moderator);
            set(&toggle, "aria-pressed", if moderator { "true" } else { "false" });
        }
        add_button(&bar, "", "kick", w.remove);
        add_button(&bar, "", "ban", w.ban_day);
        if focused.as_ref() == Some(&member.nick) {
            // Once this drawing is in the page, in the place of the one that had the focus.
            after_layout(Box::new(move || {
                let _ = li.unchecked_ref::<web_sys::HtmlElement>().focus();
            }));
        }
    }
    // One listener for every line's buttons: the line's nick says whom they are about.
    let on_ul = ul.clone();
    Drawing::new(ul).on_click(
        &on_ul,
        Box::new(move |ev| {
            let Some(button) = clicked(ev) else {
                return;
            };
            let nick = nick_of(&button).unwrap_or_default();
            match button.get_attribute("data-a").as_deref() {
                // The toggle names a moderator when it is not pressed, and unnames one.
                Some("mod") => {
                    let on = button.get_attribute("aria-pressed").as_deref() == Some("false");
                    client.change(|c| c.moderate(&nick, on));
                }
                Some(act) => client.change(|c| c.remove(&nick, act == "ban")),
                None => {}
            }
        }),
    )
}
