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

use super::dom::{Drawing, Drawn, add_element, add_text, element, set};
use super::messages::{add_button, clicked};
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
            <ul class="member-list">
                // Keyed by the whole line: a change of role or of our own nick draws it anew.
                <For each=move || room.members.get() key=Member::clone children=member_view />
            </ul>
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

/// One member's line. It never changes once drawn (see [`Member`]), so it is drawn rather
/// than a `view!` (see [`dom`](super::dom)).
fn member_view(member: Member) -> Drawn {
    let Ctx { client, .. } = ctx();
    Drawn::new(move || draw_member(member, client))
}

fn draw_member(member: Member, client: Client) -> Drawing {
    let w = words();
    let li = element("li", "member");
    set(&li, "data-testid", "member");
    // The word CSS shows after our nick ("(you)").
    if member.me {
        set(&li, "data-me", w.me_tag);
    }
    add_text(&add_element(&li, "bdi", ""), &member.nick);
    let line = Drawing::new(li.clone());
    if member.acts == Acts::Nothing {
        return line;
    }
    // As a message's line: focusable (Tab, a click, a tap), which shows the actions.
    set(&li, "tabindex", "0");
    let bar = add_element(&li, "div", "actions");
    if let Acts::Own(moderator) = member.acts {
        let toggle = add_button(&bar, "", "mod", w.moderator);
        set(&toggle, "aria-pressed", if moderator { "true" } else { "false" });
    }
    add_button(&bar, "", "kick", w.remove);
    add_button(&bar, "", "ban", w.ban_day);
    let Member { nick, acts, .. } = member;
    line.on_click(
        &bar,
        Box::new(move |ev| match clicked(ev).and_then(|b| b.get_attribute("data-a")).as_deref() {
            Some("mod") => client.change(|c| c.moderate(&nick, acts == Acts::Own(false))),
            Some(act) => client.change(|c| c.remove(&nick, act == "ban")),
            None => {}
        }),
    )
}
