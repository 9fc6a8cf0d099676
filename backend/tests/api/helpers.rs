//! The test harness: the real server on `127.0.0.1:0` and real WebSocket clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use backend::{Config, server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long a test waits for an expected frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestApp {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<anyhow::Result<()>>,
    /// The folder of [`test_config`]'s database, removed with the app.
    _db: Option<TempDb>,
}

/// A config for tests: loopback, the durable store in a fresh file (uploads in a folder
/// beside it), and a rate limit no test hits unless it means to. The file's folder is made
/// when an app is spawned with this config ([`spawn_with`]), and removed when that app is
/// dropped.
pub fn test_config() -> Config {
    let db = config_db();
    Config {
        addr: ([127, 0, 0, 1], 0).into(),
        rate_limit: 10_000,
        media_dir: db.with_file_name("media"),
        db,
        ..Config::default()
    }
}

/// A database file in a folder of its own under the system's temp dir: the folder is
/// removed when this is dropped, also when the test panics. Derefs to the file's path.
#[derive(Debug)]
pub struct TempDb {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl TempDb {
    /// The folder the file is in (a test may keep other files there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl std::ops::Deref for TempDb {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDb {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDb {
    /// A failing test loses its folder too, so the servers' logs in it (see
    /// `durability::Process`) are printed first: the test's output shows them.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else { return };
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_some_and(|x| x == "log")
                && let Ok(log) = std::fs::read_to_string(&path)
            {
                eprintln!("--- {} ---\n{log}", path.display());
            }
        }
    }
}

/// A new database file in a new folder, removed when dropped.
pub fn fresh_db() -> TempDb {
    let dir = tempfile::Builder::new().prefix("chat-test-").tempdir().expect("a temp folder");
    let path = dir.path().join("chat.db");
    TempDb { dir, path }
}

/// The folders [`test_config`] named and no app has claimed yet.
static UNCLAIMED: Mutex<Vec<(PathBuf, TempDb)>> = Mutex::new(Vec::new());

/// A fresh database for a config: its folder waits in [`UNCLAIMED`] until an app spawned
/// with the config takes it.
fn config_db() -> PathBuf {
    let db = fresh_db();
    let path = db.to_path_buf();
    UNCLAIMED.lock().unwrap_or_else(PoisonError::into_inner).push((path.clone(), db));
    path
}

/// The folder of `config`'s database if [`test_config`] made it.
fn claim(config: &Config) -> Option<TempDb> {
    let mut unclaimed = UNCLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
    let at = unclaimed.iter().position(|(path, _)| *path == config.db)?;
    Some(unclaimed.swap_remove(at).1)
}

/// Takes the folder of `config`'s database (made by [`test_config`]) for the caller, so
/// that it outlives the apps spawned with the config: a restart finds what the last app
/// stored.
pub fn hold(config: &Config) -> TempDb {
    claim(config).expect("a config made by test_config, not yet spawned")
}

pub async fn spawn_app() -> TestApp {
    spawn_with(test_config()).await
}

pub async fn spawn_with(config: Config) -> TestApp {
    let db = claim(&config);
    let listener = server::bind(config.addr, config.backlog).expect("bind");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::run(listener, config, async {
        let _ = stopped.await;
    }));
    TestApp { addr, stop: Some(stop), handle, _db: db }
}

impl TestApp {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A connected client that has read its `welcome`.
    pub async fn client(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    /// A client with `nick` that has joined `room` (its own frames drained).
    pub async fn member(&self, nick: &str, room: &str) -> Client {
        let mut c = self.client().await;
        c.set_nick(nick).await;
        c.join(room).await;
        c
    }

    /// Asks the server to stop and returns how long it took to finish.
    pub async fn stop(mut self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("server stops")
            .unwrap()
            .unwrap();
        started.elapsed()
    }

    /// A minimal HTTP/1.1 GET: (status, headers, body).
    pub async fn get(&self, path: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr);
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }
}

/// An HTTP response as the client received it.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    /// Header names in lower case; a repeated header's values joined with ", ".
    pub headers: std::collections::HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Fetched {
    /// The header's value, or "" when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

impl TestApp {
    /// An HTTP/1.1 GET with extra request headers, the body kept as bytes.
    pub async fn fetch(&self, path: &str, headers: &[(&str, &str)]) -> Fetched {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (name, value) in headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
        let head = String::from_utf8(raw[..split].to_vec()).expect("an ASCII head");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut map = std::collections::HashMap::<String, String>::new();
        for line in lines {
            let (name, value) = line.split_once(':').unwrap();
            let value = value.trim().to_owned();
            map.entry(name.trim().to_lowercase())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        Fetched { status, headers: map, body: raw[split + 4..].to_vec() }
    }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub nick: String,
    /// The resume token from `welcome`.
    pub resume: String,
}

/// What ended a connection, as the client saw it.
#[derive(Debug, PartialEq)]
pub enum Ended {
    Close(u16),
    Dropped,
}

impl Client {
    /// Connects to `url` (a `/ws` URL, maybe with `?resume=`) and reads the `welcome`.
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = connect_async(url).await.expect("connect");
        let mut client = Client { ws, nick: String::new(), resume: String::new() };
        let welcome = client.next().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        client.nick = welcome["nick"].as_str().unwrap().to_owned();
        client.resume = welcome["resume"].as_str().expect("a resume token").to_owned();
        client
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// Connects to `url` offering the subprotocols `offer` (as one `Sec-WebSocket-Protocol`
    /// header), reads the `welcome`, and returns the subprotocol the server answered with.
    pub async fn connect_offering(url: &str, offer: &str) -> (Client, Option<String>) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", offer.parse().unwrap());
        let (ws, response) = connect_async(request).await.expect("connect");
        let answered =
            response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_owned());
        let mut client = Client { ws, nick: String::new(), resume: String::new() };
        let welcome = client.next().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        client.nick = welcome["nick"].as_str().unwrap().to_owned();
        client.resume = welcome["resume"].as_str().expect("a resume token").to_owned();
        (client, answered)
    }

    /// The next frame that is not a directory push (`rooms`, and version 2's
    /// `rooms_delta`, arrive on their own clock).
    pub async fn next(&mut self) -> Value {
        loop {
            let v = self.next_any().await;
            if v["type"] != "rooms" && v["type"] != "rooms_delta" {
                return v;
            }
        }
    }

    /// The next JSON frame, whatever its type.
    pub async fn next_any(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection ended")
                .expect("read error");
            match m {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("valid JSON"),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Waits for a `rooms` push that satisfies `pred`, skipping other frames.
    pub async fn rooms_until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no matching rooms push");
            let v = self.next_any().await;
            if v["type"] == "rooms" && pred(&v["rooms"]) {
                return v;
            }
        }
    }

    /// Asserts that nothing but directory pushes arrives for `d`.
    pub async fn expect_quiet(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    assert!(v["type"] == "rooms" || v["type"] == "rooms_delta", "unexpected frame {v}");
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Reads until the connection ends; returns how.
    pub async fn ended(&mut self) -> Ended {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.expect("connection stays open") {
                Some(Ok(Message::Close(Some(f)))) => return Ended::Close(u16::from(f.code)),
                Some(Ok(Message::Close(None))) => return Ended::Close(u16::from(CloseCode::Status)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ended::Dropped,
            }
        }
    }

    pub async fn set_nick(&mut self, nick: &str) {
        self.send(json!({"type": "nick", "nick": nick})).await;
        let you = self.next().await;
        assert_eq!(you, json!({"type": "you", "nick": nick}));
        self.nick = nick.to_owned();
    }

    /// Joins and returns the `joined` answer.
    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room})).await;
        let joined = self.next().await;
        assert_eq!(joined["type"], "joined", "{joined}");
        joined
    }

    /// Says `text` and returns the echo.
    pub async fn say(&mut self, room: &str, text: &str, cid: &str) -> Value {
        self.send(json!({"type": "say", "room": room, "text": text, "cid": cid})).await;
        let echo = self.next().await;
        assert_eq!(echo["type"], "message", "{echo}");
        echo
    }

    /// Expects an `error` with `code` (and returns it).
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let e = self.next().await;
        assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some(code)), "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "a message for people: {e}");
        e
    }
}

/// `config` serving a fake built app, for the static-file tests: written in the folder of
/// its database, so it goes when the app is dropped.
pub fn with_web_dir(config: Config) -> Config {
    let dir = config.db.with_file_name("web");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>Chat</title>").unwrap();
    std::fs::write(dir.join("app-1234.js"), "console.log(1)").unwrap();
    Config { web_dir: Some(dir), ..config }
}
