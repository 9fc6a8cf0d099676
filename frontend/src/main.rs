//! The web app's entry point: mounts the [`frontend::App`] on the page's `<body>`, talking
//! to the server that served the page. Nothing else belongs here.

use leptos::prelude::*;

fn main() {
    console_error_panic_hook::set_once();
    mount_to_body(|| view! { <frontend::App ws_url=frontend::ws_url_from_location() /> });
}
