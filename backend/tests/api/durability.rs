//! Nothing acknowledged is lost, nothing is shown twice: across reconnects (resume
//! tokens, `join.after`, retried `cid`s) and across a SIGKILL of the real binary.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

/// The real `chat-server` binary on a SQLite file.
pub struct Process {
    child: Child,
    pub port: u16,
    /// Where its log (stderr) goes.
    pub log: std::path::PathBuf,
}

impl Process {
    /// Starts the binary on `port` (0: any) and waits until it prints its URL.
    pub async fn start(db: &Path, port: u16) -> Process {
        Self::start_with(db, port, &[], None).await
    }

    /// Starts it with more arguments, and under `ulimit <limit>` when given (the shell's
    /// options: `-Sn 256` lowers the open-files soft limit).
    pub async fn start_with(db: &Path, port: u16, args: &[&str], ulimit: Option<&str>) -> Process {
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        let bin = env!("CARGO_BIN_EXE_chat-server");
        let mut command = match ulimit {
            Some(limit) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit {limit} && exec \"$0\" \"$@\""), bin]);
                c
            }
            None => Command::new(bin),
        };
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let log = db.with_extension(format!("{port}-{}.log", STARTED.fetch_add(1, Ordering::Relaxed)));
        let mut child = command
            .args([
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--rate-limit",
                "100000",
                "--web-dir",
                "/nonexistent",
            ])
            .arg("--db")
            .arg(db)
            // Nodes started on one database share one media folder, as a cluster must.
            .arg("--media-dir")
            .arg(db.with_file_name("media"))
            .args(args)
            .env_remove("CHAT_STORE")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            // The server's log, beside its database, for when a test fails.
            .stderr(std::fs::File::create(&log).map_or_else(|_| Stdio::null(), Stdio::from))
            .kill_on_drop(true)
            .spawn()
            .expect("start chat-server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.trim().strip_prefix("http://127.0.0.1:") {
                    return rest.trim_end_matches('/').parse::<u16>().unwrap();
                }
            }
            panic!("chat-server exited before printing its URL");
        })
        .await
        .expect("chat-server prints its URL");
        Process { child, port, log }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Sends it a signal by name (`STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill").arg(format!("-{signal}")).arg(&pid).status().unwrap();
        assert!(sent.success(), "kill -{signal} {pid}");
    }

    pub async fn sigkill(mut self) {
        self.child.start_kill().unwrap(); // SIGKILL: no shutdown code runs
        self.child.wait().await.unwrap();
    }

    /// Stops it as a service manager would (SIGTERM: it shuts down cleanly).
    pub async fn sigterm(mut self) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().await.unwrap();
    }
}

fn ids(list: &Value) -> Vec<u64> {
    list.as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_message_and_ids_continue() {
    sigkill_loses_nothing(&[]).await;
}

#[tokio::test]
async fn with_sync_normal_too_a_sigkill_loses_no_acknowledged_message() {
    // NORMAL gives up only the power-cut promise: a crash of the process loses nothing.
    sigkill_loses_nothing(&["--sync", "normal"]).await;
}

async fn sigkill_loses_nothing(args: &[&str]) {
    let db = fresh_db();
    let server = Process::start_with(&db, 0, args, None).await;
    let mut alice = Client::connect(&server.url()).await;
    alice.set_nick("alice").await;
    alice.join("r").await;
    for i in 1..=120 {
        let echo = alice.say("r", &format!("m{i}"), &format!("c{i}")).await;
        assert_eq!(echo["id"], i, "acknowledged");
    }
    server.sigkill().await;

    let server = Process::start_with(&db, 0, args, None).await;
    let mut bob = Client::connect(&server.url()).await;
    bob.send(json!({"type": "join", "room": "r", "after": 0})).await;
    let joined = bob.next().await;
    assert_eq!(ids(&joined["history"]), (1..=120).collect::<Vec<_>>());
    assert_eq!(joined["history"][119]["text"], "m120");
    assert_eq!(joined["complete"], true);
    assert_eq!(bob.say("r", "after the crash", "b1").await["id"], 121, "ids continue");
}

#[tokio::test]
async fn a_retry_after_a_restart_is_not_stored_twice() {
    let db = fresh_db();
    let server = Process::start(&db, 0).await;
    let mut alice = Client::connect(&server.url()).await;
    alice.join("r").await;
    let first = alice.say("r", "only once", "once-1").await;
    let token = alice.resume.clone();
    server.sigkill().await;

    let server = Process::start(&db, 0).await;
    let mut watcher = Client::connect(&server.url()).await;
    watcher.join("r").await;
    let mut again = Client::connect(&format!("{}?resume={token}", server.url())).await;
    assert_eq!(again.resume, token, "the server keeps the client's token");
    again.join("r").await;
    watcher.next().await; // presence
    let echo = again.say("r", "only once", "once-1").await;
    assert_eq!(echo["id"], first["id"], "the stored message, not a new one");
    watcher.expect_quiet(Duration::from_millis(300)).await;
    let history = watcher.join("r").await["history"].clone();
    assert_eq!(ids(&history), [1]);
}

#[tokio::test]
async fn resuming_takes_the_nick_back_from_a_socket_not_yet_timed_out() {
    let app = spawn_app().await;
    let mut old = app.member("alice", "r").await;
    let mut bob = app.member("bob", "r").await;
    old.next().await;
    let echo = old.say("r", "hi", "k1").await;
    bob.next().await;
    // The phone switched networks: a new socket, while the old one still looks open.
    let mut new = Client::connect(&format!("{}?resume={}", app.ws_url(), old.resume)).await;
    assert_eq!(new.nick, "alice", "the nick comes back, not a guest nick");
    assert_eq!(old.ended().await, Ended::Close(4000), "the old socket is told it was replaced");
    let left = bob.next().await;
    assert_eq!((left["event"].as_str(), left["nick"].as_str()), (Some("leave"), Some("alice")));
    new.send(json!({"type": "join", "room": "r", "after": 1})).await;
    assert_eq!(new.next().await["history"], json!([]));
    // The same person on a new socket: a retried cid is still recognised.
    assert_eq!(new.say("r", "hi", "k1").await, echo);
    // A token nobody has seen is kept too; a malformed one is replaced by a fresh token.
    let bad = Client::connect(&format!("{}?resume=short", app.ws_url())).await;
    assert_ne!(bad.resume, "short");
    assert_eq!(bad.resume.len(), 32);
}

/// A client that does what the app does: resumes with its token, rejoins with `after`,
/// re-sends every unacknowledged message with the same `cid`, and keeps messages by id.
/// Given several servers (a cluster's nodes), each (re)connection goes to the next one.
pub struct Resilient {
    pub name: String,
    token: Option<String>,
    last_id: u64,
    pub outbox: BTreeMap<usize, String>,
    pub got: BTreeMap<u64, (String, String)>,
    pub duplicates_shown: usize,
    /// New messages that came after a newer one (a gap filled late).
    pub out_of_order: usize,
    pub ws: Option<Client>,
    /// Connections made so far: the next goes to `urls[connects % urls.len()]`.
    connects: usize,
}

impl Resilient {
    /// About one call in 30 drops the socket on the floor (an xorshift of `rng`).
    pub fn sometimes_drop(&mut self, rng: &mut u64) {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        if rng.is_multiple_of(30) {
            self.ws = None;
        }
    }

    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            token: None,
            last_id: 0,
            outbox: BTreeMap::new(),
            got: BTreeMap::new(),
            duplicates_shown: 0,
            out_of_order: 0,
            ws: None,
            connects: 0,
        }
    }

    /// (Re)connects until it works, rejoins, takes the history and re-sends the outbox.
    async fn ensure(&mut self, url: &str) {
        self.ensure_any(std::slice::from_ref(&url.to_owned())).await;
    }

    /// [`Resilient::ensure`] with a choice of servers, tried in turn.
    pub async fn ensure_any(&mut self, urls: &[String]) {
        while self.ws.is_none() {
            let url = &urls[self.connects % urls.len()];
            self.connects += 1;
            let target = match &self.token {
                Some(t) => format!("{url}?resume={t}"),
                None => url.to_owned(),
            };
            let Ok(Ok((ws, _))) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(&target)).await
            else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let mut c = Client { ws, nick: String::new(), resume: String::new() };
            let Some(welcome) = self.read(&mut c).await else { continue };
            self.token = welcome["resume"].as_str().map(str::to_owned);
            let join = json!({"type": "join", "room": "chaos", "after": self.last_id});
            if c.ws.send(Message::text(join.to_string())).await.is_err() {
                continue;
            }
            let joined = loop {
                match self.read(&mut c).await {
                    Some(v) if v["type"] == "joined" => break Some(v),
                    Some(_) => {}
                    None => break None,
                }
            };
            let Some(joined) = joined else { continue };
            assert_eq!(joined["complete"], true, "{}: a resume gap", self.name);
            for m in joined["history"].as_array().unwrap() {
                self.take(m);
            }
            self.ws = Some(c);
            let pending: Vec<usize> = self.outbox.keys().copied().collect();
            for i in pending {
                if !self.say(i).await {
                    break;
                }
            }
        }
    }

    pub async fn say(&mut self, i: usize) -> bool {
        let text = &self.outbox[&i];
        let say = json!({"type": "say", "room": "chaos", "text": text, "cid": format!("{}-{i}", self.name)});
        let ok = self.ws.as_mut().unwrap().ws.send(Message::text(say.to_string())).await.is_ok();
        if !ok {
            self.ws = None;
        }
        ok
    }

    /// The next JSON frame, or `None` when the connection is gone.
    async fn read(&mut self, c: &mut Client) -> Option<Value> {
        loop {
            match tokio::time::timeout(WAIT, c.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                _ => return None,
            }
        }
    }

    fn take(&mut self, m: &Value) {
        let id = m["id"].as_u64().unwrap();
        let entry = (m["nick"].as_str().unwrap().to_owned(), m["text"].as_str().unwrap().to_owned());
        if let Some(cid) = m["cid"].as_str()
            && let Some(i) = cid.strip_prefix(&format!("{}-", self.name))
        {
            self.outbox.remove(&i.parse().unwrap());
        }
        match self.got.insert(id, entry.clone()) {
            Some(old) => {
                assert_eq!(old, entry, "id {id} changed meaning");
                self.duplicates_shown += 1;
            }
            None if id < self.last_id => self.out_of_order += 1,
            None => self.last_id = id,
        }
    }

    /// Reads what is there for a moment; a dropped connection is noted for `ensure`.
    pub async fn pump(&mut self, for_at_most: Duration) {
        let Some(mut c) = self.ws.take() else { return };
        let deadline = tokio::time::Instant::now() + for_at_most;
        loop {
            match tokio::time::timeout_at(deadline, c.ws.next()).await {
                Err(_) => break,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == "message" {
                        self.take(&v);
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(_) => return, // gone: ensure() reconnects
            }
        }
        self.ws = Some(c);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_three_clients_900_messages_random_drops_and_a_server_kill() {
    const EACH: usize = 300;
    let db = fresh_db();
    let server = Process::start(&db, 0).await;
    let port = server.port;
    let url = server.url();
    let acked = Arc::new(AtomicUsize::new(0));
    let seed = Instant::now().elapsed().subsec_nanos() as u64 ^ std::process::id() as u64;
    eprintln!("chaos seed {seed}");

    let mut tasks = Vec::new();
    for (n, name) in ["ann", "ben", "cat"].into_iter().enumerate() {
        let url = url.clone();
        let acked = acked.clone();
        let mut rng = seed.wrapping_add((n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
        tasks.push(tokio::spawn(async move {
            let mut c = Resilient::new(name);
            for i in 0..EACH {
                c.outbox.insert(i, format!("{name} says {i}"));
                c.ensure(&url).await;
                if c.outbox.contains_key(&i) {
                    c.say(i).await;
                }
                c.pump(Duration::from_millis(2)).await;
                acked.store(acked.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                c.sometimes_drop(&mut rng);
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            while c.got.len() < 3 * EACH || !c.outbox.is_empty() {
                assert!(Instant::now() < deadline, "{name}: {} of {} messages", c.got.len(), 3 * EACH);
                c.ensure(&url).await;
                c.pump(Duration::from_millis(100)).await;
            }
            c
        }));
    }
    // Kill the server once, mid-way, and bring it back on the same port and file.
    while acked.load(Ordering::Relaxed) < EACH {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.sigkill().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = Process::start(&db, port).await;

    let mut all_texts = HashSet::new();
    for t in tasks {
        let c = t.await.unwrap();
        let ids: Vec<u64> = c.got.keys().copied().collect();
        assert_eq!(ids, (1..=(3 * EACH) as u64).collect::<Vec<_>>(), "{}: every id once, in order", c.name);
        let texts: HashMap<&str, usize> = c.got.values().fold(HashMap::new(), |mut m, (_, t)| {
            *m.entry(t.as_str()).or_default() += 1;
            m
        });
        assert_eq!(texts.len(), 3 * EACH, "{}: no message stored twice", c.name);
        all_texts.extend(c.got.values().map(|(_, t)| t.clone()));
        eprintln!("{}: 900 messages, {} duplicates dropped by id", c.name, c.duplicates_shown);
    }
    assert_eq!(all_texts.len(), 3 * EACH);
}
