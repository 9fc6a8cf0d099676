//! The members of the room shown, live (from `joined` and `presence`): a column at the
//! right on a wide screen, a drawer behind the "Members" button on a phone. Display only:
//! it reads the [`RoomView`](super::RoomView); nicks are text, never markup.

use leptos::prelude::*;

use super::{Ctx, ctx};

#[component]
pub fn MemberList() -> impl IntoView {
    let Ctx { room, me, panels, .. } = ctx();
    view! {
        <aside class=move || if panels.members.get() { "members panel open" } else { "members panel" } aria-label="Members">
            <h2 class="panel-title">
                "Members " <span class="count" data-testid="member-count">{room.member_count()}</span>
            </h2>
            <ul class="member-list">
                <For each=move || room.members.get() key=|nick| nick.clone() let:nick>
                    {
                        let mine = {
                            let nick = nick.clone();
                            move || me.nick.with(|me| *me == nick).then_some("true")
                        };
                        view! {
                            <li class="member" data-testid="member" data-me=mine>
                                {nick}
                            </li>
                        }
                    }
                </For>
            </ul>
        </aside>
    }
}
