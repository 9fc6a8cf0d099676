//! The web app's entry point: mounts the [`frontend::App`] on the page's `<body>`, talking
//! to the server that served the page, in the language the browser asks for. Nothing else
//! belongs here.

use leptos::prelude::*;

fn main() {
    // Panic messages with a stack trace in the console are for development: the hook and
    // its formatting cost the release build's download more than they give its users.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    frontend::words::set(frontend::language_from_page());
    mount_to_body(|| view! { <frontend::App ws_url=frontend::ws_url_from_location() /> });
}
