//! `GET /metrics`: the node's figures (see `metrics`) for Prometheus, open to loopback
//! clients (a Prometheus beside the node) and to the admin token; `403` for anyone else.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Auth;

/// What `/metrics` needs: the figures, and who may read them.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub admin: Option<Auth>,
    pub trusted_proxies: std::sync::Arc<Vec<std::net::IpAddr>>,
}

/// `GET /metrics`: open to loopback clients (a Prometheus beside the node) and to the
/// admin token; `403` for anyone else.
pub async fn serve(
    State(scrape): State<Scrape>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Response {
    let ip = crate::admission::client_ip(&headers, peer, &scrape.trusted_proxies);
    let admitted = ip.is_loopback() || scrape.admin.as_ref().is_some_and(|a| a.check(&headers, ip).is_ok());
    if !admitted {
        return (StatusCode::FORBIDDEN, "metrics are for loopback clients and the admin token\n")
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        scrape.metrics.encode(),
    )
        .into_response()
}
