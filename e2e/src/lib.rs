//! The end-to-end harness: the real server (the library's `server::run`) on the release
//! build of the web app, a local chromedriver, and headless Chromium pages driven through
//! WebDriver the way a person uses the app: by labels, roles and button names.
//!
//! It needs a built app (`CHAT_DIST`, `cargo xtask test` builds it) and Debian's chromium
//! and chromedriver; it refuses to run, loudly, without them. It must never depend on the
//! app's internals (component names, CSS classes): only what a user can see.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

mod node;
pub use node::Node;

/// How long to wait for something a user would see.
pub const WAIT: Duration = Duration::from_secs(10);

/// The server on the built app, listening on every address so that 127.0.0.2 (standing in
/// for the host's LAN IP, as a phone would use it) reaches it too.
#[derive(Debug)]
pub struct Server {
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    /// Its database's folder, removed when the server is dropped.
    _db: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Result<Self> {
        Self::start_node(None).await
    }

    /// A node of the cluster sharing the Redis at `redis` (`--redis`), or a lone server.
    pub async fn start_node(redis: Option<String>) -> Result<Self> {
        Self::start_with(|c| c.redis = redis).await
    }

    /// A server whose configuration `change` sets (`--admin-token`, `--trusted-proxy`...).
    pub async fn start_with(change: impl FnOnce(&mut backend::Config)) -> Result<Self> {
        let dist = dist()?;
        // One database per server: tests in one binary must not share (or delete) a file
        // another server still has open.
        let dir = tempfile::Builder::new().prefix("chat-e2e-").tempdir()?;
        let mut config = backend::Config {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            web_dir: Some(dist),
            db: dir.path().join("chat.db"),
            media_dir: dir.path().join("media"),
            ..backend::Config::default()
        };
        change(&mut config);
        let listener = TcpListener::bind(config.addr).await?;
        let port = listener.local_addr()?.port();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let run = backend::server::run(listener, config, async {
                let _ = stopped.await;
            });
            // A server that fails to start shows up as "connection refused" in the browser:
            // say why here.
            if let Err(e) = run.await {
                eprintln!("the chat server stopped: {e:#}");
            }
        });
        Ok(Self { port, stop: Some(stop), _db: dir })
    }

    pub fn url(&self, host: &str) -> String {
        format!("http://{host}:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The built app (`CHAT_DIST`).
pub fn dist() -> Result<PathBuf> {
    let dist = PathBuf::from(std::env::var("CHAT_DIST").context(
        "CHAT_DIST is not set: run the end-to-end tests through `cargo xtask test`, which builds the app",
    )?);
    if !dist.join("index.html").exists() {
        bail!("{} has no index.html: build the app with `cargo xtask build`", dist.display());
    }
    Ok(dist)
}

/// A chromedriver process on a free port, killed when dropped.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    url: String,
    /// The temp folder of chromedriver and its Chromiums (their profiles and
    /// `org.chromium.Chromium.*` folders), removed after they end (fields drop after
    /// `Drop::drop` has shut them down).
    _tmp: tempfile::TempDir,
}

impl Driver {
    pub async fn start() -> Result<Self> {
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let tmp = tempfile::Builder::new().prefix("chat-e2e-chromium-").tempdir()?;
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {bin} (install Debian's chromium-driver)"))?;
        let driver = Self { child, url: format!("http://127.0.0.1:{port}"), _tmp: tmp };
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if Instant::now() > deadline {
                bail!("chromedriver did not start listening on {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(driver)
    }

    /// A desktop-sized headless Chromium page.
    pub async fn desktop(&self) -> Result<Page> {
        self.page(json!({}), Some((1280, 800)), false).await
    }

    /// A phone: 360x640 CSS pixels, touch, a mobile user agent.
    pub async fn phone(&self) -> Result<Page> {
        self.page(phone_emulation(), None, false).await
    }

    /// A desktop-sized page whose system asks for dark colours (`prefers-color-scheme:
    /// dark`, emulated through the DevTools protocol).
    pub async fn desktop_dark(&self) -> Result<Page> {
        let page = self.desktop().await?;
        let dark = json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]});
        page.cdp("Emulation.setEmulatedMedia", dark).await?;
        Ok(page)
    }

    /// A desktop-sized page of a browser whose user prefers the languages `accept` (as
    /// Chromium's settings list them, e.g. "ko-KR,ko"): `navigator.languages`.
    pub async fn desktop_in(&self, accept: &str) -> Result<Page> {
        self.page(json!({"prefs": {"intl": {"accept_languages": accept}}}), Some((1280, 800)), false).await
    }

    /// A desktop page opened at `127.0.0.1` and a phone page at `127.0.0.2`, both
    /// connected to `server`. The phone uses another address than the desktop, as a phone
    /// on the LAN does: the app must derive its WebSocket URL from the page's own location.
    pub async fn desktop_and_phone(&self, server: &Server) -> Result<(Page, Page)> {
        let desktop = self.desktop().await?;
        let phone = self.phone().await?;
        desktop.open(&server.url("127.0.0.1")).await?;
        phone.open(&server.url("127.0.0.2")).await?;
        for page in [&desktop, &phone] {
            page.wait_text("status", "Connected").await?;
        }
        Ok((desktop, phone))
    }

    /// A phone page that also records the browser's network events (its performance
    /// log): each response's headers and bytes, as Chromium saw them.
    pub async fn phone_recording_network(&self) -> Result<Page> {
        self.page(phone_emulation(), None, true).await
    }

    async fn page(&self, extra: Value, window: Option<(u32, u32)>, network_log: bool) -> Result<Page> {
        let mut options = json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-quic", "--no-first-run",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            ],
        });
        if let (Some(o), Some(e)) = (options.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        // The console is kept for every page: a Content-Security-Policy violation shows up
        // there, and `Page::close` fails on one.
        let logs = if network_log {
            json!({"browser": "ALL", "performance": "ALL"})
        } else {
            json!({"browser": "ALL"})
        };
        caps.insert("goog:loggingPrefs".into(), logs);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .context("starting headless Chromium through chromedriver")?;
        if let Some((w, h)) = window {
            client.set_window_size(w, h).await?;
        }
        Ok(Page { client })
    }
}

/// A phone: 360x640 CSS pixels, touch, a mobile user agent.
fn phone_emulation() -> Value {
    json!({
        "mobileEmulation": {
            "deviceMetrics": {"width": 360, "height": 640, "pixelRatio": 2.0, "touch": true, "mobile": true},
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"
        }
    })
}

impl Drop for Driver {
    /// Asks chromedriver to shut down, which also ends the Chromium of every session still
    /// open (a test that failed before closing its pages leaves some), and kills it if it has
    /// not exited within a few seconds. Killed outright, it would leave those running.
    fn drop(&mut self) {
        use std::io::Write;
        let addr = self.url.trim_start_matches("http://");
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.write_all(b"GET /shutdown HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser page, driven by what a user sees.
#[derive(Debug)]
pub struct Page {
    pub client: Client,
}

/// XPath string literal for `s` (no quotes of both kinds are needed by these tests).
fn lit(s: &str) -> String {
    if s.contains('\'') { format!("\"{s}\"") } else { format!("'{s}'") }
}

impl Page {
    pub async fn open(&self, url: &str) -> Result<()> {
        self.client.goto(url).await?;
        Ok(())
    }

    /// The form control labelled `label` (by `<label for>`, a wrapping label, or aria-label).
    pub async fn field(&self, label: &str) -> Result<Element> {
        let l = lit(label);
        let xpath = format!(
            "//input[@id=//label[normalize-space(.)={l}]/@for] | //label[normalize-space(.)={l}]//input \
             | //input[@aria-label={l}] | //textarea[@aria-label={l}]"
        );
        Ok(self.client.wait().at_most(WAIT).for_element(Locator::XPath(&xpath)).await?)
    }

    /// The button whose accessible name is `name`.
    pub async fn button(&self, name: &str) -> Result<Element> {
        let n = lit(name);
        let xpath = format!("//button[normalize-space(.)={n} or @aria-label={n}]");
        Ok(self.client.wait().at_most(WAIT).for_element(Locator::XPath(&xpath)).await?)
    }

    /// The button whose accessible name is `name` and the count it shows ("Members 12").
    pub async fn button_counting(&self, name: &str) -> Result<Element> {
        let n = lit(&format!("{name} "));
        let xpath = format!(
            "//button[starts-with(normalize-space(.), {n}) \
             and translate(substring-after(normalize-space(.), {n}), '0123456789,', '') = '']"
        );
        Ok(self.client.wait().at_most(WAIT).for_element(Locator::XPath(&xpath)).await?)
    }

    pub async fn role(&self, role: &str) -> Result<Element> {
        let css = format!("[role=\"{role}\"]");
        Ok(self.client.wait().at_most(WAIT).for_element(Locator::Css(&css)).await?)
    }

    /// Waits until the element with `role` shows text containing `want`.
    pub async fn wait_text(&self, role: &str, want: &str) -> Result<String> {
        self.wait_text_within(role, want, WAIT).await
    }

    /// [`Page::wait_text`] with a longer patience (a reconnect after backoff).
    pub async fn wait_text_within(&self, role: &str, want: &str, patience: Duration) -> Result<String> {
        let deadline = Instant::now() + patience;
        loop {
            let text = self.role(role).await?.text().await.unwrap_or_default();
            if text.contains(want) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                bail!("[role={role}] never showed {want:?}; it shows {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types into the field labelled `label` and presses Enter.
    pub async fn type_and_enter(&self, label: &str, text: &str) -> Result<()> {
        let field = self.field(label).await?;
        field.clear().await?;
        field.send_keys(&format!("{text}\u{E007}")).await?;
        Ok(())
    }

    pub async fn value(&self, label: &str) -> Result<String> {
        Ok(self.field(label).await?.prop("value").await?.unwrap_or_default())
    }

    pub async fn eval(&self, script: &str) -> Result<Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let dir = artifacts()?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await?)?;
        Ok(path)
    }

    /// Closes the page; fails if the app broke its Content-Security-Policy since the
    /// console was last read (see [`Page::csp_violations`]).
    pub async fn close(self) -> Result<()> {
        let violations = self.csp_violations().await?;
        self.client.close().await?;
        if !violations.is_empty() {
            bail!("the page broke its Content-Security-Policy:\n{}", violations.join("\n"));
        }
        Ok(())
    }

    /// The Content-Security-Policy violations Chromium reported in the console since it
    /// was last read (reading empties it): the app must run under its policy.
    pub async fn csp_violations(&self) -> Result<Vec<String>> {
        Ok(self
            .log("browser")
            .await?
            .iter()
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains("Content Security Policy") || m.contains("Content-Security-Policy"))
            .map(str::to_owned)
            .collect())
    }

    /// The entries of one of chromedriver's logs (`browser`, `performance`) since it was
    /// last read.
    pub async fn log(&self, kind: &str) -> Result<Vec<Value>> {
        let entries = self.client.issue_cmd(Chromedriver::new("se/log", json!({"type": kind}))).await?;
        Ok(entries.as_array().cloned().unwrap_or_default())
    }

    /// What axe-core (the accessibility checker, pinned in `tools/package.json`) finds
    /// wrong with the page as it is now, one line per rule and element: empty when
    /// nothing is. All of axe's rules run, including "label in name" (an accessible name
    /// must contain the visible label), which axe counts as experimental.
    pub async fn axe_violations(&self) -> Result<Vec<String>> {
        let axe =
            std::fs::read_to_string(axe_script()).context("reading axe-core (run `cargo xtask setup`)")?;
        self.client.execute(&format!("{axe}\nreturn axe.version"), vec![]).await?;
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations'],
                                    rules: {'label-content-name-mismatch': {enabled: true}}})
                   .then(r => done(r.violations.flatMap(v => v.nodes.map(n =>
                       `${v.id} (${v.impact}): ${v.help}: ${n.target.join(' ')}: ${n.failureSummary}`))))
                   .catch(e => done([`axe failed: ${e}`]));",
                vec![],
            )
            .await?;
        Ok(found.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect())
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Result<Value> {
        let body = json!({"cmd": cmd, "params": params});
        Ok(self.client.issue_cmd(Chromedriver::new("goog/cdp/execute", body)).await?)
    }
}

/// axe-core's script, as `cargo xtask setup` installs it from npm under `tools/`.
fn axe_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/node_modules/axe-core/axe.min.js")
}

/// `artifacts/` at the workspace root (ignored by git), or `CHAT_ARTIFACTS`: screenshots
/// and measurements.
pub fn artifacts() -> Result<PathBuf> {
    let dir = PathBuf::from(
        std::env::var("CHAT_ARTIFACTS")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../artifacts").into()),
    );
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// One of chromedriver's own commands (`POST /session/<id>/<path>`), which fantoccini has
/// no method for.
#[derive(Debug)]
struct Chromedriver {
    path: &'static str,
    body: Value,
}

impl Chromedriver {
    fn new(path: &'static str, body: Value) -> Self {
        Self { path, body }
    }
}

impl fantoccini::wd::WebDriverCompatibleCommand for Chromedriver {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/{}", session_id.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// A TCP proxy in front of the server, standing in for one device's network: `cut` drops
/// every connection through it and refuses new ones (the phone went into a tunnel),
/// `restore` lets them through again. Pages opened through it reach the server only
/// through it. [`Proxy::refusing_upgrades`] stands in for a network that passes plain
/// HTTP but no WebSocket (some corporate proxies, carriers, hotels).
#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    /// WebSocket upgrades refused so far (only counted when they are refused).
    pub refused: std::sync::Arc<std::sync::atomic::AtomicU64>,
    online: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// While set, bytes are swallowed in both directions and connections stay open: a
    /// network that went dead without anyone closing anything.
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Bumped by `cut`: connections opened before it end.
    epoch: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target_port: u16) -> Result<Self> {
        Self::start_with(target_port, false).await
    }

    /// A proxy that passes plain HTTP as it comes, byte for byte and unbuffered (an event
    /// stream included), but answers any request asking for an upgrade `403` and closes
    /// the connection, as such proxies do.
    pub async fn refusing_upgrades(target_port: u16) -> Result<Self> {
        Self::start_with(target_port, true).await
    }

    async fn start_with(target_port: u16, refuse_upgrades: bool) -> Result<Self> {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let online = std::sync::Arc::new(AtomicBool::new(true));
        let frozen = std::sync::Arc::new(AtomicBool::new(false));
        let (epoch, _) = tokio::sync::watch::channel(0u64);
        let refused = std::sync::Arc::new(AtomicU64::new(0));
        let (flag, epochs, ice, refusals) = (online.clone(), epoch.clone(), frozen.clone(), refused.clone());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped at once: no network
                }
                let mut cut = epochs.subscribe();
                let ice = ice.clone();
                let refusals = refusals.clone();
                tokio::spawn(async move {
                    let mut inbound = inbound;
                    if refuse_upgrades && asks_for_upgrade(&mut inbound).await {
                        use tokio::io::AsyncWriteExt;
                        refusals.fetch_add(1, Ordering::SeqCst);
                        let _ = inbound
                            .write_all(
                                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            )
                            .await;
                        return;
                    }
                    let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                    else {
                        return;
                    };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::select! {
                        () = pump(in_read, out_write, ice.clone()) => {}
                        () = pump(out_read, in_write, ice) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Ok(Self { port, refused, online, frozen, epoch, task })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn cut(&self) {
        self.online.store(false, std::sync::atomic::Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }

    pub fn restore(&self) {
        self.online.store(true, std::sync::atomic::Ordering::SeqCst);
        self.frozen.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// The network goes dead silently: nothing is closed, nothing gets through.
    pub fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Whether the request that opens `inbound` asks for an upgrade, read without taking it
/// (`peek`): the head is passed on as it is otherwise. Browsers open a connection of its
/// own for each WebSocket, so its first request is the one to look at.
async fn asks_for_upgrade(inbound: &mut tokio::net::TcpStream) -> bool {
    let mut head = vec![0u8; 8 * 1024];
    let deadline = Instant::now() + WAIT;
    loop {
        let Ok(n) = inbound.peek(&mut head).await else { return false };
        let seen = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
        if let Some(end) = seen.find("\r\n\r\n") {
            return seen[..end].lines().any(|l| l.starts_with("upgrade:"));
        }
        // The head is not complete yet (or not HTTP): look again shortly.
        if n == 0 || n == head.len() || Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Copies bytes one way, swallowing them while `frozen` is set.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(std::sync::atomic::Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Page {
    /// The number of elements matching a CSS selector.
    pub async fn count(&self, css: &str) -> Result<u64> {
        let n = self.eval(&format!("return document.querySelectorAll({}).length", json!(css))).await?;
        Ok(n.as_u64().unwrap_or(0))
    }

    /// The text of the first element matching `css`, or "" when there is none.
    pub async fn text_of(&self, css: &str) -> Result<String> {
        let t = self
            .eval(&format!("const e = document.querySelector({}); return e ? e.innerText : ''", json!(css)))
            .await?;
        Ok(t.as_str().unwrap_or_default().to_owned())
    }

    /// Polls `check` until it is true, failing with `what` after [`WAIT`].
    pub async fn until<F, Fut>(&self, what: &str, mut check: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            if check().await? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The directory's member count for `room`, as shown in the sidebar.
    pub async fn room_count(&self, room: &str) -> Result<Option<u64>> {
        let css = format!("[data-testid=room][data-room={}] [data-testid=room-count]", json!(room));
        let t = self.text_of(&css).await?;
        Ok(t.trim().parse().ok())
    }

    /// Shows the room list: on a phone, opens its drawer if it is closed. A closed
    /// drawer's list is not kept current (the app tells the server it does not watch the
    /// directory), so a phone's list is read with the drawer open.
    pub async fn show_rooms(&self) -> Result<()> {
        if !self.client.find(Locator::Css("nav.sidebar")).await?.is_displayed().await? {
            self.button("Rooms").await?.click().await?;
        }
        Ok(())
    }

    /// Clicks the sidebar entry of `room` (opening the drawer first on a phone).
    pub async fn open_room(&self, room: &str) -> Result<()> {
        self.show_rooms().await?;
        let css = format!("[data-testid=room][data-room={}]", json!(room));
        let entry = self.client.wait().at_most(WAIT).for_element(Locator::Css(&css)).await?;
        entry.click().await?;
        Ok(())
    }

    /// The texts of the log's messages, in the order shown.
    pub async fn messages(&self) -> Result<Vec<String>> {
        let texts = self
            .eval("return [...document.querySelectorAll('[data-testid=message]')].map(e => e.innerText)")
            .await?;
        Ok(texts.as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect())
    }

    /// Fails unless each of `want` is shown exactly once in the log, in this order (`who`
    /// names the page in the failure).
    pub async fn shown_once_in_order(&self, who: &str, want: &[&str]) -> Result<()> {
        let shown = self.messages().await?;
        let mut at = Vec::new();
        for text in want {
            let hits: Vec<usize> = (0..shown.len()).filter(|&i| shown[i].contains(text)).collect();
            anyhow::ensure!(hits.len() == 1, "{who} shows {text:?} {} times: {shown:?}", hits.len());
            at.push(hits[0]);
        }
        anyhow::ensure!(at.windows(2).all(|w| w[0] < w[1]), "{who} shows them out of order: {shown:?}");
        Ok(())
    }

    pub async fn title(&self) -> Result<String> {
        Ok(self.client.title().await?)
    }
}
