//! The operator's API, `/api/admin/*`, served only with `--admin-token` (without one,
//! every path under it answers `404`, as if there were none).
//!
//! Every call carries `Authorization: Bearer <admin token>` (`auth`: compared in constant
//! time, wrong guesses slowed down per address); a missing or wrong one is `401`, checked
//! before the body is looked at. The calls: `GET overview` (the cluster's nodes with their
//! connections, and its rooms), `POST kick` and `POST ban` (a person, out of a room or off
//! the server, on whichever node it is: the hub acts here or tells the cluster), and
//! `GET audit` (what was done, newest first), `GET person?nick=` (where someone is). The
//! operator's page, `/admin` (`page`), is served here too, with the API. Every action is written to the audit log
//! (`audit`) and logged.
//!
//! This module holds no rule of the chat: the hub kicks and bans; this turns HTTP into
//! those calls and their outcomes into status codes.

mod audit;
mod auth;
mod page;
pub mod scrape;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use common::{Nick, RoomName};
use serde::Deserialize;
use serde_json::json;

pub use audit::Audit;
pub use auth::{Auth, Denied};

use crate::admission;
use crate::cluster::moderation::Nodes;
use crate::hub::{Deleting, Hub, Kicked};

/// The longest ban, in minutes (a year).
pub const BAN_MINUTES_MAX: u64 = 365 * 24 * 60;

/// What the admin routes share.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub auth: Option<Auth>,
    pub hub: Hub,
    /// With `--redis`: the cluster's nodes, read from Redis.
    pub nodes: Option<Nodes>,
    pub audit: Audit,
    pub trusted_proxies: Arc<Vec<IpAddr>>,
    /// This node, as the overview names it without `--redis`.
    pub node: SocketAddr,
}

/// `/api/admin/*`.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/api/admin/overview", get(overview))
        .route("/api/admin/kick", post(kick))
        .route("/api/admin/ban", post(ban))
        .route("/api/admin/delete", post(delete))
        .route("/api/admin/audit", get(audit_log))
        .route("/api/admin/person", get(person))
        .route("/admin", get(page::index))
        .route("/admin/admin.js", get(page::script))
        .route("/admin/admin.css", get(page::style))
        // Any other path under it is no call (never the web app's page).
        .route("/api/admin/{*rest}", any(|| async { not_found() }))
        .with_state(state)
}

/// Why an admin call is refused: one answer each, in one place.
#[derive(Debug)]
enum Refusal {
    /// No admin API (no token configured), no such path, or nobody of that nick.
    NotFound,
    Unauthorized,
    /// Too many wrong tokens from this address lately.
    Slowed,
    BadRequest(String),
    /// The cluster's state could not be read.
    Unavailable,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))).into_response(),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Bearer")],
                Json(json!({"error": "unauthorized"})),
            )
                .into_response(),
            Self::Slowed => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", auth::WINDOW.as_secs().to_string())],
                Json(json!({"error": "rate_limited"})),
            )
                .into_response(),
            Self::BadRequest(why) => {
                (StatusCode::BAD_REQUEST, Json(json!({"error": "bad_request", "message": why})))
                    .into_response()
            }
            Self::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "unavailable"}))).into_response()
            }
        }
    }
}

fn not_found() -> Response {
    Refusal::NotFound.into_response()
}

fn bad_request(why: impl std::fmt::Display) -> Refusal {
    Refusal::BadRequest(why.to_string())
}

fn ok() -> Response {
    Json(json!({"ok": true})).into_response()
}

/// Who is calling: the operator (`Ok`, with the client's address for the audit log), or
/// why not.
fn operator(state: &AdminState, headers: &HeaderMap, peer: SocketAddr) -> Result<IpAddr, Refusal> {
    let Some(auth) = &state.auth else { return Err(Refusal::NotFound) };
    let ip = admission::client_ip(headers, peer, &state.trusted_proxies);
    match auth.check(headers, ip) {
        Ok(()) => Ok(ip),
        Err(Denied::Wrong) => {
            tracing::warn!(client = %ip, "an admin call with a missing or wrong token");
            Err(Refusal::Unauthorized)
        }
        Err(Denied::Slowed) => Err(Refusal::Slowed),
    }
}

async fn overview(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = operator(&state, &headers, peer) {
        return refusal.into_response();
    }
    let nodes = match &state.nodes {
        Some(nodes) => match nodes.list().await {
            Ok(nodes) => nodes,
            Err(e) => {
                tracing::warn!(error = %e, "the overview could not read the cluster's nodes");
                return Refusal::Unavailable.into_response();
            }
        },
        None => vec![(state.node.to_string(), state.hub.connections() as u64)],
    };
    let connections: u64 = nodes.iter().map(|(_, n)| n).sum();
    let nodes: Vec<_> = nodes.into_iter().map(|(id, n)| json!({"id": id, "connections": n})).collect();
    let rooms: Vec<_> = state
        .hub
        .rooms()
        .into_iter()
        .map(|r| json!({"name": r.name, "members": r.members, "private": r.private}))
        .collect();
    Json(json!({"nodes": nodes, "connections": connections, "rooms": rooms})).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    room: String,
    id: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KickBody {
    nick: String,
    #[serde(default)]
    room: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BanBody {
    nick: String,
    minutes: u64,
    #[serde(default)]
    room: Option<String>,
}

/// A call with a body: the operator's address and the body, or the answer that refuses
/// it (`401`/`429` for the token, `400` for a body that is not what the call takes).
fn operator_with<T>(
    state: &AdminState,
    headers: &HeaderMap,
    peer: SocketAddr,
    body: Result<Json<T>, JsonRejection>,
) -> Result<(IpAddr, T), Box<Response>> {
    let client = operator(state, headers, peer).map_err(|r| Box::new(r.into_response()))?;
    let Json(body) = body.map_err(|e| Box::new(bad_request(e.body_text()).into_response()))?;
    Ok((client, body))
}

/// The nick and room of a call, or its `400`.
fn target(nick: &str, room: Option<&str>) -> Result<(Nick, Option<RoomName>), Refusal> {
    let nick = Nick::parse(nick).map_err(bad_request)?;
    let room = room.map(RoomName::parse).transpose().map_err(bad_request)?;
    Ok((nick, room))
}

async fn kick(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<KickBody>, JsonRejection>,
) -> Response {
    let (client, body) = match operator_with(&state, &headers, peer, body) {
        Ok(called) => called,
        Err(refused) => return *refused,
    };
    let (nick, room) = match target(&body.nick, body.room.as_deref()) {
        Ok(t) => t,
        Err(refusal) => return refusal.into_response(),
    };
    act(&state, client, "kick", &nick, room.as_ref(), None).await
}

async fn ban(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<BanBody>, JsonRejection>,
) -> Response {
    let (client, body) = match operator_with(&state, &headers, peer, body) {
        Ok(called) => called,
        Err(refused) => return *refused,
    };
    if !(1..=BAN_MINUTES_MAX).contains(&body.minutes) {
        return bad_request(format!("minutes must be from 1 to {BAN_MINUTES_MAX}")).into_response();
    }
    let (nick, room) = match target(&body.nick, body.room.as_deref()) {
        Ok(t) => t,
        Err(refusal) => return refusal.into_response(),
    };
    act(&state, client, "ban", &nick, room.as_ref(), Some(body.minutes)).await
}

/// `POST /api/admin/delete` `{"room","id"}`: as the owner's `delete`, on whatever node the
/// room's members are (the store numbers the change and the cluster's fan-out tells them).
/// `404` for a message that is not there (never was, or deleted already).
async fn delete(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<DeleteBody>, JsonRejection>,
) -> Response {
    let (client, body) = match operator_with(&state, &headers, peer, body) {
        Ok(called) => called,
        Err(refused) => return *refused,
    };
    let room = match RoomName::parse(&body.room) {
        Ok(room) => room,
        Err(e) => return bad_request(e).into_response(),
    };
    // A store that judges a deletion later (SQLite's writer, Redis's script) would tell a
    // refusal to nobody: whether the message is there is read first, off the hub's lock.
    let history = state.audit.history().clone();
    let (lookup_room, id) = (room.clone(), body.id);
    let author = match tokio::task::spawn_blocking(move || history.message(&lookup_room, id)).await {
        Ok(Ok(Some(message))) if !message.deleted => message.nick,
        Ok(Ok(_)) => return not_found(),
        _ => return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "unavailable"}))).into_response(),
    };
    let (deleting, out) = state.hub.delete_as_operator(room.clone(), id);
    out.flush();
    match deleting {
        Deleting::Done => {}
        Deleting::NotFound => return not_found(),
        Deleting::Busy => {
            return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "busy"}))).into_response();
        }
    }
    state.hub.metrics().action("delete");
    let mut entry = audit::Entry::new("operator", client, "delete", &author, Some(room.as_str()), None);
    entry.id = Some(id);
    tracing::info!(node = %state.node, who = "operator", client = %client, action = "delete", room = %room, id, "admin action");
    state.audit.record(entry).await;
    ok()
}

/// Kicks or bans, then records it: `200`, or `404` when nobody has that nick (in that
/// room).
async fn act(
    state: &AdminState,
    client: IpAddr,
    action: &'static str,
    nick: &Nick,
    room: Option<&RoomName>,
    minutes: Option<u64>,
) -> Response {
    let until = minutes.map(|m| crate::hub::now_ms().saturating_add(m * 60_000));
    let (kicked, out) = state.hub.kick(nick, room, until, None);
    out.flush();
    if kicked == Kicked::NotFound {
        return not_found();
    }
    state.hub.metrics().action(action);
    let entry =
        audit::Entry::new("operator", client, action, nick.as_str(), room.map(RoomName::as_str), minutes);
    tracing::info!(
        node = %state.node,
        who = "operator",
        client = %client,
        action,
        nick = %nick,
        room = room.map(RoomName::as_str),
        minutes,
        on_this_node = kicked == Kicked::Here,
        "admin action"
    );
    state.audit.record(entry).await;
    ok()
}

#[derive(Debug, Deserialize)]
struct PersonQuery {
    nick: String,
}

/// `GET /api/admin/person?nick=`: `{"nick","here","rooms"}`, or `404`.
async fn person(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<PersonQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = operator(&state, &headers, peer) {
        return refusal.into_response();
    }
    let Ok(axum::extract::Query(query)) = query else { return bad_request("give ?nick=").into_response() };
    let nick = match Nick::parse(&query.nick) {
        Ok(nick) => nick,
        Err(e) => return bad_request(e).into_response(),
    };
    match state.hub.person(&nick) {
        Some((nick, here, rooms)) => {
            Json(json!({"nick": nick, "here": here, "rooms": rooms})).into_response()
        }
        None => not_found(),
    }
}

async fn audit_log(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(refusal) = operator(&state, &headers, peer) {
        return refusal.into_response();
    }
    Json(json!({"entries": state.audit.entries().await})).into_response()
}
