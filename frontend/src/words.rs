//! Every word the app shows or tells assistive technology, in each language it speaks:
//! one [`Words`] value per language, a field per word, so that a language missing a word
//! does not compile. The page's language is chosen once, before the app is mounted
//! ([`choose`] from the browser's preferences, then [`set`]); every view and the chat's
//! own sentences read it through [`words`].
//!
//! A word with a value in it names the value in braces (`"{nick} joined"`), and [`fill`]
//! puts it in: each language orders a sentence its own way. A count that changes the
//! words around it has a [`Plural`]: English has a form for one and one for the rest,
//! Korean one form for every count. Plain data and plain functions: no DOM here, so the
//! chat's state (which builds its notices with these words) stays testable on the host.

use std::sync::atomic::{AtomicU8, Ordering};

/// The forms of a word that depends on a count, by the language's plural rules.
#[derive(Debug)]
pub struct Plural {
    /// For a count of one, in a language that tells one apart (English); else as `other`.
    pub one: &'static str,
    pub other: &'static str,
}

impl Plural {
    /// The form for `n`. Both languages of the app tell at most one from the rest.
    pub fn of(&self, n: u32) -> &'static str {
        if n == 1 { self.one } else { self.other }
    }
}

/// The words of one language.
#[derive(Debug)]
pub struct Words {
    /// The language's tag, as `<html lang>` and `Intl` take it.
    pub lang: &'static str,
    pub chat: &'static str,
    /// The page's title with unread messages: `{n}` of them.
    pub title_unread: &'static str,
    pub rooms: &'static str,
    pub open_on_phone: &'static str,
    pub members: &'static str,
    pub leave: &'static str,
    pub nickname: &'static str,
    pub set_nick: &'static str,
    pub dismiss: &'static str,
    pub connecting: &'static str,
    pub connected: &'static str,
    /// Connected over plain HTTP (a network that refuses WebSockets).
    pub connected_http: &'static str,
    pub reconnecting: &'static str,
    pub offline: &'static str,
    /// The status once the operator closed the connection (4001).
    pub removed: &'static str,
    /// The status once the connection closed for a ban (4001, reason "banned…"), while
    /// connected or at the door.
    pub banned: &'static str,
    pub show_more: &'static str,
    /// After our own nick in the member list.
    pub me_tag: &'static str,
    pub message: &'static str,
    pub message_to: &'static str,
    pub send: &'static str,
    pub char_count: &'static str,
    pub attach: &'static str,
    pub you: &'static str,
    pub uploading: &'static str,
    pub upload: &'static str,
    pub sending: &'static str,
    pub not_sent: &'static str,
    pub retry: &'static str,
    pub discard: &'static str,
    pub picture_from: &'static str,
    pub your_picture: &'static str,
    pub history_start: &'static str,
    pub loading_older: &'static str,
    pub load_older: &'static str,
    pub messages: &'static str,
    pub newest: &'static str,
    pub close: &'static str,
    pub asking_address: &'static str,
    pub address_failed: &'static str,
    pub local_only: &'static str,
    pub scan: &'static str,
    pub qr_for: &'static str,
    pub room: &'static str,
    pub room_placeholder: &'static str,
    /// The room list's search field.
    pub find_room: &'static str,
    /// The button that loads the next page of the room list.
    pub more_rooms: &'static str,
    pub join: &'static str,
    pub room_options: &'static str,
    pub password_label: &'static str,
    pub limit_label: &'static str,
    pub room_members: Plural,
    pub private: &'static str,
    pub unread: &'static str,
    pub private_prompt: &'static str,
    pub joined: &'static str,
    pub left: &'static str,
    pub renamed: &'static str,
    pub renamed_unknown: &'static str,
    /// One part of a counted notice ("12 people joined"): `{n}`, `{who}`, `{what}`.
    pub counted: &'static str,
    /// `{who}` in the first part, which names people.
    pub counted_who_first: Plural,
    /// `{who}` in the parts after it.
    pub counted_who_then: Plural,
    pub counted_joined: &'static str,
    pub counted_left: &'static str,
    pub counted_renamed: &'static str,
    pub typing_one: &'static str,
    pub typing_two: &'static str,
    pub typing_many: &'static str,
    pub empty: &'static str,
    pub too_long: &'static str,
    pub cannot_send: &'static str,
    pub outbox_full: &'static str,
    pub upload_not_connected: &'static str,
    pub upload_too_big: &'static str,
    pub upload_not_picture: &'static str,
    pub upload_busy: &'static str,
    pub upload_failed: &'static str,
    /// A message's actions (buttons).
    pub reply: &'static str,
    pub react: &'static str,
    pub edit: &'static str,
    pub delete: &'static str,
    /// The field that edits a message in place (its accessible name).
    pub edit_message: &'static str,
    /// Beside the time of an edited message.
    pub edited: &'static str,
    /// Where a deleted message was, and in a reply's quote of one.
    pub deleted: &'static str,
    /// Above the message field: `{nick}` is answered.
    pub replying_to: &'static str,
    pub cancel_reply: &'static str,
    /// The mark of a room whose unread messages mention us.
    pub mentions_you: &'static str,
    /// A member's actions in the members list, for the room's owner and moderators: the
    /// owner's toggle (pressed for a moderator), a kick and a ban.
    pub moderator: &'static str,
    pub remove: &'static str,
    pub ban_day: &'static str,
    /// The alert of a person taken out of `{room}` by `{nick}`, and by the operator.
    pub kicked_by: &'static str,
    pub kicked: &'static str,
    /// As `kicked_by` and `kicked`, for a ban from the room (`kicked` with `until`).
    pub banned_by: &'static str,
    pub banned_room: &'static str,
}

pub const EN: Words = Words {
    lang: "en",
    chat: "Chat",
    title_unread: "({n}) Chat",
    rooms: "Rooms",
    open_on_phone: "Open on phone",
    members: "Members",
    leave: "Leave",
    nickname: "Nickname",
    set_nick: "Set",
    dismiss: "Dismiss",
    connecting: "Connecting…",
    connected: "Connected",
    connected_http: "Connected · HTTP",
    reconnecting: "Reconnecting in {n} s",
    offline: "Offline",
    removed: "Removed by the operator",
    banned: "Banned by the operator for now",
    show_more: "Show more",
    me_tag: "(you)",
    message: "Message",
    message_to: "Message #{room}",
    send: "Send",
    char_count: "{n} / {max} characters",
    attach: "Attach a picture",
    you: "You",
    uploading: "uploading…",
    upload: "Upload",
    sending: "sending…",
    not_sent: "Not sent: {why}",
    retry: "Retry",
    discard: "Discard",
    picture_from: "Picture from {nick}",
    your_picture: "Picture from you",
    history_start: "Beginning of #{room}",
    loading_older: "Loading older messages…",
    load_older: "Load older messages",
    messages: "Messages",
    newest: "↓ Newest",
    close: "Close",
    asking_address: "Asking the server for its address…",
    address_failed: "Could not ask the server for its address; try again.",
    local_only: "This server listens on this machine only; start it with --addr 0.0.0.0:3000 to let phones in.",
    scan: "On a phone on the same network, scan this code or open:",
    qr_for: "QR code for {url}",
    room: "Room",
    room_placeholder: "name",
    find_room: "Find a room",
    more_rooms: "More rooms",
    join: "Join",
    room_options: "Password, limit",
    password_label: "Password (private rooms)",
    limit_label: "Member limit (new rooms, 2 to 1000)",
    room_members: Plural { one: "{n} member", other: "{n} members" },
    private: "private",
    unread: "{n} unread",
    private_prompt: "#{room} is private: enter its password.",
    joined: "{nick} joined",
    left: "{nick} left",
    renamed: "{old} is now {nick}",
    renamed_unknown: "{nick} changed their nickname",
    counted: "{n}{who} {what}",
    counted_who_first: Plural { one: " person", other: " people" },
    counted_who_then: Plural { one: "", other: "" },
    counted_joined: "joined",
    counted_left: "left",
    counted_renamed: "changed their nickname",
    typing_one: "{nick} is typing…",
    typing_two: "{a} and {b} are typing…",
    typing_many: "{n} people are typing…",
    empty: "The message is empty.",
    too_long: "Too long to send: {n} characters, at most {max}.",
    cannot_send: "Cannot send this: {why}.",
    outbox_full: "Too many messages are waiting for the connection; try again in a moment.",
    upload_not_connected: "not connected",
    upload_too_big: "too big",
    upload_not_picture: "not a GIF, PNG, JPEG or WebP picture",
    upload_busy: "too many at once",
    upload_failed: "the upload failed",
    reply: "Reply",
    react: "React",
    edit: "Edit",
    delete: "Delete",
    edit_message: "Edit the message",
    edited: "edited",
    deleted: "message deleted",
    replying_to: "Replying to {nick}",
    cancel_reply: "Cancel the reply",
    mentions_you: "Mentions you",
    moderator: "Moderator",
    remove: "Remove",
    ban_day: "Ban for a day",
    kicked_by: "{nick} removed you from #{room}",
    kicked: "The operator removed you from #{room}",
    banned_by: "{nick} banned you from #{room} for now",
    banned_room: "The operator banned you from #{room} for now",
};

/// Korean as a Korean chat app says it: short labels, polite sentences (합니다/해요 forms
/// where a sentence speaks to the user), `님` after other people's nicknames, counts with
/// the counter `명` and no plural.
pub const KO: Words = Words {
    lang: "ko",
    chat: "채팅",
    title_unread: "({n}) 채팅",
    rooms: "대화방",
    open_on_phone: "휴대폰에서 열기",
    members: "참여자",
    leave: "나가기",
    nickname: "닉네임",
    set_nick: "변경",
    dismiss: "닫기",
    connecting: "연결 중…",
    connected: "연결됨",
    connected_http: "연결됨 · HTTP",
    reconnecting: "{n}초 후 다시 연결",
    offline: "오프라인",
    removed: "운영자가 내보냈습니다",
    banned: "운영자가 당분간 차단했습니다",
    show_more: "더 보기",
    me_tag: "(나)",
    message: "메시지",
    message_to: "#{room}에 메시지 보내기",
    send: "보내기",
    char_count: "{n} / {max}자",
    attach: "사진 첨부",
    you: "나",
    uploading: "업로드 중…",
    upload: "업로드",
    sending: "보내는 중…",
    not_sent: "전송 실패: {why}",
    retry: "다시 시도",
    discard: "삭제",
    picture_from: "{nick}님이 보낸 사진",
    your_picture: "내가 보낸 사진",
    history_start: "#{room} 대화의 시작",
    loading_older: "이전 메시지를 불러오는 중…",
    load_older: "이전 메시지 불러오기",
    messages: "메시지",
    newest: "↓ 최신 메시지",
    close: "닫기",
    asking_address: "서버 주소를 확인하는 중…",
    address_failed: "서버 주소를 확인하지 못했습니다. 다시 시도해 주세요.",
    local_only: "이 서버는 이 컴퓨터에서만 접속할 수 있습니다. 휴대폰에서 접속하려면 --addr 0.0.0.0:3000 옵션으로 서버를 시작하세요.",
    scan: "같은 네트워크의 휴대폰에서 이 코드를 스캔하거나 다음 주소를 여세요:",
    qr_for: "{url} QR 코드",
    room: "대화방",
    room_placeholder: "이름",
    find_room: "방 찾기",
    more_rooms: "방 더 보기",
    join: "입장",
    room_options: "비밀번호, 인원 제한",
    password_label: "비밀번호 (비공개 대화방)",
    limit_label: "인원 제한 (새 대화방, 2~1000명)",
    room_members: Plural { one: "참여자 {n}명", other: "참여자 {n}명" },
    private: "비공개",
    unread: "읽지 않은 메시지 {n}개",
    private_prompt: "#{room}: 비공개 대화방입니다. 비밀번호를 입력하세요.",
    joined: "{nick}님이 들어왔습니다",
    left: "{nick}님이 나갔습니다",
    renamed: "{old}님이 {nick}님으로 닉네임을 바꿨습니다",
    renamed_unknown: "{nick}님이 닉네임을 바꿨습니다",
    counted: "{n}{who} {what}",
    counted_who_first: Plural { one: "명", other: "명" },
    counted_who_then: Plural { one: "명", other: "명" },
    counted_joined: "입장",
    counted_left: "퇴장",
    counted_renamed: "닉네임 변경",
    typing_one: "{nick}님이 입력 중…",
    typing_two: "{a}님과 {b}님이 입력 중…",
    typing_many: "{n}명이 입력 중…",
    empty: "메시지가 비어 있습니다.",
    too_long: "너무 길어서 보낼 수 없습니다: {n}자 (최대 {max}자)",
    cannot_send: "보낼 수 없습니다: {why}",
    outbox_full: "연결을 기다리는 메시지가 너무 많습니다. 잠시 후 다시 시도해 주세요.",
    upload_not_connected: "연결되지 않음",
    upload_too_big: "파일이 너무 큼",
    upload_not_picture: "GIF, PNG, JPEG, WebP 사진만 보낼 수 있음",
    upload_busy: "한 번에 너무 많이 보냄",
    upload_failed: "업로드 실패",
    reply: "답장",
    react: "반응",
    edit: "수정",
    delete: "삭제",
    edit_message: "메시지 수정",
    edited: "수정됨",
    deleted: "삭제된 메시지",
    replying_to: "{nick}님에게 답장",
    cancel_reply: "답장 취소",
    mentions_you: "나를 언급함",
    moderator: "부방장",
    remove: "내보내기",
    ban_day: "하루 차단",
    kicked_by: "{nick}님이 #{room}에서 나를 내보냈습니다",
    kicked: "운영자가 #{room}에서 나를 내보냈습니다",
    banned_by: "{nick}님이 #{room}에서 나를 당분간 차단했습니다",
    banned_room: "운영자가 #{room}에서 나를 당분간 차단했습니다",
};

/// The languages the app speaks; the first is the one for everybody else.
pub const LANGUAGES: [&Words; 2] = [&EN, &KO];

/// The index in [`LANGUAGES`] of the page's language.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// The words of the page's language (English until [`set`] says otherwise). Not inlined:
/// the views call it in many places, and each call is then a few bytes of the wasm.
#[inline(never)]
pub fn words() -> &'static Words {
    match CHOSEN.load(Ordering::Relaxed) {
        1 => &KO,
        _ => &EN,
    }
}

/// Makes `words` the page's language, for everything drawn from now on.
pub fn set(words: &Words) {
    let i = LANGUAGES.iter().position(|w| w.lang == words.lang).unwrap_or(0);
    CHOSEN.store(i as u8, Ordering::Relaxed);
}

/// The first language of `preferred` (BCP 47 tags, most wanted first, as
/// `navigator.languages` lists them) that the app speaks, by its primary subtag
/// ("ko-KR" is Korean); English when none is.
pub fn choose<S: AsRef<str>>(preferred: impl IntoIterator<Item = S>) -> &'static Words {
    preferred
        .into_iter()
        .find_map(|tag| {
            // Bytes rather than `split`: no pattern searcher in the wasm.
            let primary = tag.as_ref().as_bytes().split(|b| *b == b'-').next().unwrap_or_default();
            LANGUAGES.iter().copied().find(|w| w.lang.as_bytes().eq_ignore_ascii_case(primary))
        })
        .unwrap_or(&EN)
}

/// `template` with each `{name}` replaced by the value `values` gives that name (by
/// nothing when it gives none).
///
/// Walked byte by byte and cut with `str::get`: `str::find` and slicing by ranges would
/// bring the pattern searchers and the formatting of a slicing panic (with Unicode's
/// escaping tables) into the wasm. The braces are ASCII, so every cut is on a character's
/// boundary.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let bytes = template.as_bytes();
    let mut out = String::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'{' {
            let end = bytes[i..].iter().position(|b| *b == b'}').map_or(bytes.len(), |n| i + n);
            out.push_str(template.get(start..i).unwrap_or_default());
            let name = template.get(i + 1..end).unwrap_or_default();
            out.push_str(values.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v));
            i = end + 1;
            start = i;
        } else {
            i += 1;
        }
    }
    out.push_str(template.get(start..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests;
