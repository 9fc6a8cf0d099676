//! The room in the page's address: `#/room/<name, percent-encoded>`, so that a link to a
//! room (sent to a phone, bookmarked) opens it. Plain functions from strings to strings,
//! which know nothing of the page: the views listen for `hashchange` and write the address
//! through them.

const PREFIX: &str = "#/room/";

/// The room named by a `location.hash` such as `#/room/rust`, if it names one.
pub fn room_from_hash(hash: &str) -> Option<String> {
    let encoded = hash.strip_prefix(PREFIX)?;
    // A malformed escape (`%zz`) is no room rather than an error for the user.
    let name = String::from(js_sys::decode_uri_component(encoded).ok()?);
    (!name.trim().is_empty()).then_some(name)
}

/// The `location.hash` that names `room`.
pub fn hash_for_room(room: &str) -> String {
    format!("{PREFIX}{}", js_sys::encode_uri_component(room))
}

/// The address of `room` on the server at `base` (a URL such as
/// `http://192.168.1.20:3000/`, as `/api/info` lists them).
pub fn room_url(base: &str, room: &str) -> String {
    let slash = if base.ends_with('/') { "" } else { "/" };
    format!("{base}{slash}{}", hash_for_room(room))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    // These use the browser's `encodeURIComponent`: they run in Chromium (`cargo xtask
    // test`), the lib's only tests that do.
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[test]
    fn a_room_survives_the_round_trip_through_the_hash() {
        for room in ["rust", "lobby", "café & co", "a/b#c?d", "100%"] {
            assert_eq!(room_from_hash(&hash_for_room(room)).as_deref(), Some(room));
        }
        assert_eq!(hash_for_room("café & co"), "#/room/caf%C3%A9%20%26%20co");
    }

    #[test]
    fn other_hashes_name_no_room() {
        for hash in ["", "#", "#/room/", "#/room/%20", "#/rooms/rust", "#rust", "#/room/%zz"] {
            assert_eq!(room_from_hash(hash), None, "{hash}");
        }
    }

    #[test]
    fn room_urls_join_the_base_and_the_hash() {
        assert_eq!(room_url("http://10.0.0.5:3000/", "rust"), "http://10.0.0.5:3000/#/room/rust");
        assert_eq!(room_url("http://10.0.0.5:3000", "a b"), "http://10.0.0.5:3000/#/room/a%20b");
    }
}
