//! The operator's page at `/admin`: plain HTML, CSS and JavaScript built into the binary
//! (no Leptos, nothing of the chat's app, so the chat's first load is unchanged). It asks
//! for the token once and keeps it for the tab; everything it shows comes from the admin
//! API. Served only with `--admin-token` (`404` otherwise, as the API), under a strict
//! Content-Security-Policy of its own.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{AdminState, not_found};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn serve(state: &AdminState, kind: &'static str, body: &'static str) -> Response {
    if state.auth.is_none() {
        return not_found();
    }
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub async fn index(State(state): State<AdminState>) -> Response {
    serve(&state, "text/html; charset=utf-8", include_str!("page/index.html"))
}

pub async fn script(State(state): State<AdminState>) -> Response {
    serve(&state, "text/javascript; charset=utf-8", include_str!("page/admin.js"))
}

pub async fn style(State(state): State<AdminState>) -> Response {
    serve(&state, "text/css; charset=utf-8", include_str!("page/admin.css"))
}
