//! The members of the room shown, live (from `joined` and `presence`): a column at the
//! right on a wide screen, a drawer behind the "Members" button on a phone. It shows the
//! room's size; in a big room (version 2) the list holds the pages loaded so far, and
//! "Show more" at its end loads the next (a button rather than loading on scroll: it
//! works the same with a keyboard, a screen reader and a finger). Display only: it reads
//! the [`RoomView`](super::RoomView) and asks through the client; nicks are text, never
//! markup.

use leptos::prelude::*;

use super::{Ctx, ctx, handler};
use crate::words::words;

#[component]
pub fn MemberList() -> impl IntoView {
    let Ctx { room, me, panels, client, .. } = ctx();
    let w = words();
    view! {
        <aside class=move || if panels.members.get() { "members panel open" } else { "members panel" } aria-label=w.members>
            <h2 class="panel-title">
                {w.members} " " <span class="count" data-testid="member-count">{room.count}</span>
            </h2>
            <ul class="member-list">
                <For each=move || room.members.get() key=|nick| nick.clone() let:nick>
                    {
                        let mine = {
                            let nick = nick.clone();
                            // The word CSS shows after our nick ("(you)").
                            move || me.nick.with(|me| *me == nick).then_some(w.me_tag)
                        };
                        view! {
                            <li class="member" data-testid="member" data-me=mine>
                                {nick}
                            </li>
                        }
                    }
                </For>
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
